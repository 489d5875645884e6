"""What the bot hands to the web side: plain, frozen values taken on the bot's own loop (the newest
`BotSnapshot` travels through `aurora.bot.snapshot_cache`, or Redis in `aurora.scaleout.snapshots`).

Nothing here knows about Discord; the stats (`aurora.stats`) read these, this module reads nothing
of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from aurora.bot.command_health.figures import CommandHealth

BotStatus = Literal["connected", "connecting", "reconnecting", "disconnected", "disabled"]
# Why the bot is not on Discord: a rejected token is final (a new token needs a restart); the others
# are retried with backoff for as long as the process runs.
OfflineCause = Literal["rejected_token", "intent_refused", "discord_unreachable", "discord_error"]
# The same values as tuples, for what lists them (the /metrics status gauge, the OpenAPI enums).
BOT_STATUSES: tuple[BotStatus, ...] = get_args(BotStatus)
OFFLINE_CAUSES: tuple[OfflineCause, ...] = get_args(OfflineCause)

# "A month ago" in every month-over-month figure (the bot's guilds, the database's active users).
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class CommandCount:
    name: str
    count: int


@dataclass(frozen=True)
class ShardSnapshot:
    shard_id: int
    status: BotStatus
    latency_ms: float | None


@dataclass(frozen=True)
class BotOffline:
    """Why the bot could not log in or stay connected, since its first failed attempt."""

    cause: OfflineCause
    since: datetime


@dataclass(frozen=True)
class BotSnapshot:
    """What the bot thread publishes: plain data, taken on the bot's own loop."""

    status: BotStatus
    taken_at: datetime
    guild_count: int | None = None
    user_count: int | None = None
    latency_ms: float | None = None
    commands_registered: int | None = None
    last_command_at: datetime | None = None
    started_at: datetime | None = None
    shards: tuple[ShardSnapshot, ...] = ()
    # Averages over the samples the bot keeps (`aurora.bot.state`); None until there are samples.
    ping_avg_ms: float | None = None
    ping_previous_hour_avg_ms: float | None = None
    guild_count_month_ago: int | None = None
    command_failures: tuple[CommandCount, ...] = ()
    offline: BotOffline | None = None  # None while connected, connecting for the first time, or disabled
    # Answer times, failures and late answers per command, and the gateway, over 24 h.
    command_health: CommandHealth | None = None

    @property
    def running(self) -> bool:
        """Connected or on its way there: guilds, ping and uptime mean something. Not while failed
        logins are retried (`offline`): no connection is on its way then, only the next attempt."""
        return self.status not in ("disabled", "disconnected") and self.offline is None


def disabled_snapshot(now: datetime) -> BotSnapshot:
    return BotSnapshot(status="disabled", taken_at=now)
