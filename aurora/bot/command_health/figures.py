"""The frozen values of bot health that cross threads and processes (in `BotSnapshot`).

Aggregates only: command names come from the bot's registered set (or a kind of component),
never an id, a user, an option value or an error's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

InteractionKind = Literal["slash", "user_menu", "message_menu", "button", "select", "modal"]
INTERACTION_KINDS: tuple[InteractionKind, ...] = get_args(InteractionKind)


@dataclass(frozen=True)
class CommandTiming:
    """One registered command (or one kind of component) over the window, durations in ms from
    the interaction's creation: to its first answer (ack) and to its end."""

    name: str
    kind: InteractionKind
    runs: int
    failures: int
    late: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    ack_p95_ms: float | None
    # The last 15 minutes (three whole slots), for the alert on slow commands.
    recent_runs: int = 0
    recent_p95_ms: float | None = None


@dataclass(frozen=True)
class HealthHour:
    hour: datetime
    runs: int
    p95_ms: float | None
    late: int


@dataclass(frozen=True)
class LifetimeHistogram:
    """Durations to the end since the bot process started (Prometheus' histogram), per bucket of
    `histogram.BOUNDS_MS` plus the overflow bucket."""

    name: str
    bucket_counts: tuple[int, ...]
    sum_seconds: float


@dataclass(frozen=True)
class GatewayHealth:
    guilds_joined: int = 0
    guilds_left: int = 0
    reconnects: int = 0
    resumes: int = 0
    connected_share: float | None = None  # of the window's time, 0..1


@dataclass(frozen=True)
class CommandHealth:
    since: datetime  # where the window starts (24 h ago, or later after a restart without Redis)
    commands: tuple[CommandTiming, ...] = ()
    hours: tuple[HealthHour, ...] = ()
    late_last_hour: int = 0
    late_total: int = 0  # since the process started (the /metrics counter)
    lifetime: tuple[LifetimeHistogram, ...] = ()
    gateway: GatewayHealth = GatewayHealth()
    rss_bytes: int | None = None
    cpu_percent: float | None = None
