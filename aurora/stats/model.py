"""Plain, frozen values that cross module and thread boundaries, and the constants they share.

Nothing in here knows about Discord, SQL or Dash: the bot thread builds `BotSnapshot`s
(`aurora.bot.snapshot`), the stats computations (`aurora.queries.aggregates`, or the reference definitions in `aurora.queries`) build
`DatabaseStats`, the service combines them into `Stats`, and the API and the page only ever read
these. The interfaces that plug the parts together are in `aurora.protocols`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from aurora.bot.snapshot import BotSnapshot, CommandCount

EventKind = Literal["success", "error", "info"]
AlertCondition = Literal[
    "bot_offline", "data_stale", "ping_high", "command_failures", "shard_down", "command_slow", "late_answers"
]
# The same values as tuples, for what lists them (the /metrics alert gauge, the OpenAPI enums).
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
ALERT_CONDITIONS: tuple[AlertCondition, ...] = get_args(AlertCondition)
# How many resolved alerts stay listed after the active ones.
RESOLVED_SHOWN = 5


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, second precision: the one format the API speaks."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z"
    )


@dataclass(frozen=True)
class RecentEvent:
    kind: EventKind
    message: str
    timestamp: datetime


@dataclass(frozen=True)
class ActivityPoint:
    hour: datetime
    commands: int
    transactions: int


# The activity series' points: one per hour of the last 24.
ACTIVITY_HOURS = 24
# How many earlier days each figure of "the day at a glance" is compared with.
SAME_HOUR_DAYS = 7
BASELINE_DAYS = 30
# The economy's headline flows and the transaction type behind each. A transfer is written twice
# (sent and received): it is counted once, as received.
COIN_FLOWS = (("earned", "DAILY_REWARD"), ("spent", "SHOP_BUY"), ("transferred", "TRANSFER_IN"))


@dataclass(frozen=True)
class SameHourTotals:
    """One hour of the activity chart and what the same hour held on the SAME_HOUR_DAYS days before,
    summed (the mean is the sum over SAME_HOUR_DAYS)."""

    hour: datetime
    commands: int
    transactions: int

    @property
    def commands_mean(self) -> float:
        return self.commands / SAME_HOUR_DAYS

    @property
    def transactions_mean(self) -> float:
        return self.transactions / SAME_HOUR_DAYS


@dataclass(frozen=True)
class KindTotals:
    """Rows of one kind (a transaction type or a moderation case type) in the chart's 24 hours, and
    in the BASELINE_DAYS days before them; coins are absolute amounts (0 for cases)."""

    kind: str
    count: int
    coins: int
    baseline_count: int
    baseline_coins: int


@dataclass(frozen=True)
class DayAtAGlance:
    same_hour: tuple[SameHourTotals, ...]
    transactions: tuple[KindTotals, ...]  # every kind but command runs
    cases: tuple[KindTotals, ...]


@dataclass(frozen=True)
class DatabaseStats:
    """The database half of the stats, computed once per refresh."""

    computed_at: datetime
    active_users: int
    active_users_month_ago: int
    commands_24h: int
    commands_previous_30_days: int
    recent_events: tuple[RecentEvent, ...]
    activity: tuple[ActivityPoint, ...]
    top_commands: tuple[CommandCount, ...] = field(default=())
    # None until every hour it reaches is counted (aurora.queries.day_glance).
    glance: DayAtAGlance | None = None


@dataclass(frozen=True)
class AlertRecord:
    """An alert that was sent: active while `resolved_at` is None (`aurora.alerts`)."""

    condition: AlertCondition
    since: datetime
    resolved_at: datetime | None = None


class FiguresPreparing(Exception):
    """A stats computation made progress but has no figures yet (its first counts are under way)."""

    def __init__(self, progress: float) -> None:
        super().__init__(f"figures are being prepared ({progress:.0%} done)")
        self.progress = progress


@dataclass(frozen=True)
class Stats:
    """Everything the API and the page show, for one moment."""

    generated_at: datetime
    demo: bool
    stale: bool
    stale_since: datetime | None
    bot: BotSnapshot
    guild_count: int | None
    guild_change_from_last_month: int | None
    active_users: int
    active_users_change_percent: float | None
    commands_total: int
    commands_change_percent: float | None
    ping_avg_ms: int | None
    ping_change_from_last_hour: int | None
    recent_events: tuple[RecentEvent, ...]
    activity: tuple[ActivityPoint, ...]
    top_commands: tuple[CommandCount, ...]
    glance: DayAtAGlance | None = None
    # Active alerts, then the last few resolved ones; empty while alerts are off.
    alerts: tuple[AlertRecord, ...] = ()
    # The bot is logged in to the simulated Discord of the demo (aurora.demo.simulation), not Discord.
    simulated: bool = False

    @property
    def uptime_seconds(self) -> int | None:
        if self.bot.started_at is None or not self.bot.running:
            return None
        return max(0, int((self.bot.taken_at - self.bot.started_at).total_seconds()))


@dataclass(frozen=True)
class KindCount:
    kind: str
    count: int
    coins: int = 0  # absolute amounts; 0 for moderation cases


@dataclass(frozen=True)
class Spread:
    """Counts of several hours in summary: only the summary leaves the query (answers show the last
    24 hours' activity, never the series of earlier days it was made from)."""

    mean: float
    min: int
    max: int

    @classmethod
    def of(cls, values: list[int]) -> Spread:
        return cls(sum(values) / len(values), min(values), max(values))


@dataclass(frozen=True)
class SameHourSpread:
    """The same hour on the SAME_HOUR_DAYS days before one hour: commands and other transactions."""

    commands: Spread
    transactions: Spread


@dataclass(frozen=True)
class HourBreakdown:
    """One UTC hour of the last 24: what it held, and the same hour on the days before in summary."""

    hour: datetime
    commands_total: int  # command runs, those without a name included
    commands: tuple[CommandCount, ...]  # runs per name, most first
    transactions: tuple[KindCount, ...]  # every kind but command runs
    cases: tuple[KindCount, ...]
    same_hour: SameHourSpread
