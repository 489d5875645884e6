"""Plain, frozen values that cross module and thread boundaries, and the constants they share.

Nothing in here knows about Discord, SQL or Dash: the bot thread builds `BotSnapshot`s, the
stats computations (`aurora.queries.aggregates`, or the reference definitions in `aurora.queries`) build
`DatabaseStats`, the service combines them into `Stats`, and the API and the page only ever read
these. The interfaces that plug the parts together are in `aurora.protocols`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from aurora.bot.command_health.figures import CommandHealth

BotStatus = Literal["connected", "connecting", "reconnecting", "disconnected", "disabled"]
# Why the bot is not on Discord: a rejected token is final (a new token needs a restart); the others
# are retried with backoff for as long as the process runs.
OfflineCause = Literal["rejected_token", "intent_refused", "discord_unreachable", "discord_error"]
EventKind = Literal["success", "error", "info"]
AlertCondition = Literal[
    "bot_offline", "data_stale", "ping_high", "command_failures", "shard_down", "command_slow", "late_answers"
]
# The same values as tuples, for what lists them (the /metrics status gauge, the OpenAPI enums).
BOT_STATUSES: tuple[BotStatus, ...] = get_args(BotStatus)
OFFLINE_CAUSES: tuple[OfflineCause, ...] = get_args(OfflineCause)
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
ALERT_CONDITIONS: tuple[AlertCondition, ...] = get_args(AlertCondition)

# "A month ago" in every month-over-month figure (active users, guilds).
MONTH = timedelta(days=30)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, second precision: the one format the API speaks."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z"
    )


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
    # Averages over the samples the bot keeps (see bot_state); None until there are samples.
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
    # None until every hour it reaches is counted (aurora.queries.glance).
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
