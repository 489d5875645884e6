"""Which alert conditions hold now, from the figures the dashboard already has: the bot's
snapshot and whether the database figures are stale. Pure functions of their inputs and the
clock; `RecentFigures` keeps the two windows no snapshot carries (the ping's 10-minute mean and
the command failures of the last hour), fed at each check."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from aurora.bot.command_health.figures import CommandHealth
from aurora.bot.snapshot import BotSnapshot
from aurora.settings import Settings
from aurora.stats.model import AlertCondition, Stats, iso_utc

PING_WINDOW = timedelta(minutes=10)
# A mean of fewer samples is one unlucky heartbeat (the first after a reconnect is often slow).
PING_SAMPLES_NEEDED = 3
FAILURE_WINDOW = timedelta(hours=1)
# A 95th percentile of fewer runs is a handful of unlucky ones.
SLOW_RUNS_NEEDED = 20
NOT_CONNECTED = ("connecting", "reconnecting", "disconnected")


@dataclass(frozen=True)
class Thresholds:
    offline: timedelta
    stale: timedelta
    ping_ms: int
    failures_per_hour: int
    command_p95_ms: int = 2000
    late_per_hour: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            offline=timedelta(minutes=settings.alert_offline_minutes),
            stale=timedelta(minutes=settings.alert_stale_minutes),
            ping_ms=settings.alert_ping_ms,
            failures_per_hour=settings.alert_failures_per_hour,
            command_p95_ms=settings.alert_command_p95_ms,
            late_per_hour=settings.alert_late_per_hour,
        )

    def hold(self, condition: AlertCondition) -> timedelta:
        """How long a condition must hold before it alerts: the figures that are already
        averaged or counted over a window alert at once."""
        if condition in ("bot_offline", "shard_down"):
            return self.offline
        if condition == "data_stale":
            return self.stale
        return timedelta(0)


@dataclass(frozen=True)
class DatabaseState:
    """What the alerts need of the database figures: stale (or none at all), and since when."""

    stale: bool
    since: datetime | None = None

    @classmethod
    def of(cls, stats: Stats | None, preparing: float | None) -> DatabaseState:
        if stats is None:
            # No figures at all: unreachable since startup (the first counts under way are not).
            return cls(stale=preparing is None)
        return cls(stale=stats.stale, since=stats.stale_since)


class RecentFigures:
    """The gateway latency seen at each check over 10 minutes, and the failed commands added over
    the last hour (the bot counts failures since it started; a smaller total means it restarted)."""

    def __init__(self) -> None:
        self._pings: deque[tuple[datetime, float]] = deque()
        self._failures: deque[tuple[datetime, int]] = deque()
        self._last_total: int | None = None

    def observe(self, now: datetime, bot: BotSnapshot) -> tuple[float | None, int]:
        """(mean latency over 10 minutes in ms, None below PING_SAMPLES_NEEDED; failed commands in
        the last hour)."""
        if bot.status == "connected" and bot.latency_ms is not None:
            self._pings.append((now, bot.latency_ms))
        while self._pings and self._pings[0][0] <= now - PING_WINDOW:
            self._pings.popleft()
        if bot.running:
            total = sum(item.count for item in bot.command_failures)
            if self._last_total is not None:
                added = total - self._last_total if total >= self._last_total else total
                if added:
                    self._failures.append((now, added))
            self._last_total = total
        while self._failures and self._failures[0][0] <= now - FAILURE_WINDOW:
            self._failures.popleft()
        pings = [ms for _, ms in self._pings]
        mean = sum(pings) / len(pings) if len(pings) >= PING_SAMPLES_NEEDED else None
        return mean, sum(added for _, added in self._failures)


def _clock_time(moment: datetime) -> str:
    return iso_utc(moment)[11:16] + " UTC"


def _down_shards(bot: BotSnapshot) -> list[int]:
    return [shard.shard_id for shard in bot.shards if shard.status != "connected"]


def active_conditions(
    bot: BotSnapshot,
    database: DatabaseState,
    *,
    ping_mean_ms: float | None,
    failures_last_hour: int,
    thresholds: Thresholds,
) -> dict[AlertCondition, str]:
    """The conditions that hold now, each with its figure as one line of text (aggregates only)."""
    found: dict[AlertCondition, str] = {}
    down = _down_shards(bot)
    sharded = bool(bot.shards)
    # A sharded bot is offline when no shard is connected; some shards down is `shard_down`.
    if bot.status != "disabled" and (
        bot.status == "disconnected"
        if sharded and len(down) < len(bot.shards)
        else bot.status in NOT_CONNECTED
    ):
        found["bot_offline"] = f"The bot is {bot.status}."
    elif sharded and down and bot.running:
        found["shard_down"] = (
            f"{len(down)} of {len(bot.shards)} shards not connected (shard {', '.join(map(str, down))})."
        )
    if database.stale:
        found["data_stale"] = (
            f"Database figures delayed since {_clock_time(database.since)}."
            if database.since is not None
            else "No database figures: the database is unreachable."
        )
    if ping_mean_ms is not None and ping_mean_ms > thresholds.ping_ms:
        found["ping_high"] = (
            f"Gateway latency {round(ping_mean_ms)} ms (10-minute mean; threshold {thresholds.ping_ms} ms)."
        )
    if failures_last_hour > thresholds.failures_per_hour:
        found["command_failures"] = (
            f"{failures_last_hour} failed commands in the last hour (threshold {thresholds.failures_per_hour})."
        )
    if bot.running:
        found.update(command_health_conditions(bot.command_health, thresholds))
    return found


def command_health_conditions(health: CommandHealth | None, thresholds: Thresholds) -> dict[AlertCondition, str]:
    """`command_slow`: a command's p95 over the last 15 minutes (at least SLOW_RUNS_NEEDED runs) above
    the threshold; `late_answers`: more late answers in the last hour than allowed."""
    if health is None:
        return {}
    found: dict[AlertCondition, str] = {}
    slow = [
        row for row in health.commands
        if row.recent_runs >= SLOW_RUNS_NEEDED and row.recent_p95_ms is not None
        and row.recent_p95_ms > thresholds.command_p95_ms
    ]
    if slow:
        worst = max(slow, key=lambda row: row.recent_p95_ms or 0)
        others = f" and {len(slow) - 1} more" if len(slow) > 1 else ""
        found["command_slow"] = (
            f"/{worst.name}{others}: p95 {round(worst.recent_p95_ms or 0)} ms over the last 15 min "
            f"({worst.recent_runs} runs; threshold {thresholds.command_p95_ms} ms)."
        )
    if health.late_last_hour > thresholds.late_per_hour:
        found["late_answers"] = (
            f"{health.late_last_hour} answers too late for Discord in the last hour "
            f"(threshold {thresholds.late_per_hour})."
        )
    return found
