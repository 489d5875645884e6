"""What one 5-minute slot of bot health holds (`SlotData`: each name's `Counts`, the gateway's
figures), one finished interaction (`Run`), and which slot a moment falls in. The window
(`aurora.bot.command_health.window`) keeps SLOTS_KEPT of them; the Redis store saves them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aurora.bot.command_health import histogram
from aurora.bot.command_health.figures import InteractionKind

SLOT = timedelta(minutes=5)
SLOT_SECONDS = int(SLOT.total_seconds())
HOUR_SLOTS = timedelta(hours=1) // SLOT
SLOTS_KEPT = 24 * HOUR_SLOTS
RECENT_SLOTS = timedelta(minutes=15) // SLOT
GATEWAY_FIELDS = ("guilds_joined", "guilds_left", "reconnects", "resumes", "connected_ms")


@dataclass(frozen=True)
class Run:
    """One interaction, finished: durations from its creation, in Discord's time."""

    name: str
    kind: InteractionKind
    end_ms: float
    ack_ms: float | None
    failed: bool
    late: bool


@dataclass
class Counts:
    runs: int = 0
    failures: int = 0
    late: int = 0
    durations: list[int] = field(default_factory=lambda: [0] * histogram.BUCKETS)
    acks: list[int] = field(default_factory=lambda: [0] * histogram.BUCKETS)

    def add_run(self, run: Run) -> None:
        self.runs += 1
        self.failures += run.failed
        self.late += run.late
        self.durations[histogram.bucket_of(run.end_ms)] += 1
        if run.ack_ms is not None:
            self.acks[histogram.bucket_of(run.ack_ms)] += 1

    def add(self, other: Counts) -> None:
        self.runs += other.runs
        self.failures += other.failures
        self.late += other.late
        histogram.add_into(self.durations, other.durations)
        histogram.add_into(self.acks, other.acks)

    def added(self, other: Counts) -> Counts:
        self.add(other)
        return self


def slot_of(moment: datetime) -> int:
    return int(moment.timestamp()) // SLOT_SECONDS


def slot_start(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * SLOT_SECONDS, UTC)


@dataclass
class SlotData:
    commands: dict[str, Counts] = field(default_factory=dict)
    gateway: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GATEWAY_FIELDS, 0))

    def counts(self, name: str) -> Counts:
        return self.commands.setdefault(name, Counts())

    def add(self, other: SlotData) -> None:
        for name, counts in other.commands.items():
            self.counts(name).add(counts)
        for name, value in other.gateway.items():
            self.gateway[name] = self.gateway.get(name, 0) + value
