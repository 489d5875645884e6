"""What the bot knows about itself between snapshots: status, latency samples, guild history.

Plain Python, no discord.py: the bot runner feeds it on the bot's loop and asks it for frozen
`BotSnapshot`s, and the maths (ping averages, month-ago guild count) is tested on its own.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from aurora.bot.snapshot import (
    MONTH,
    BotOffline,
    BotSnapshot,
    BotStatus,
    CommandCount,
    OfflineCause,
    ShardSnapshot,
)

log = logging.getLogger(__name__)

PING_WINDOW = timedelta(hours=1)
PING_HISTORY = timedelta(hours=2)
GUILD_HISTORY_STEP = timedelta(hours=1)
GUILD_HISTORY_KEEP = MONTH + timedelta(days=2)


def finite_ms(latency_seconds: float | None) -> float | None:
    """discord.py reports nan before a socket and inf until the first ACK: neither is a sample."""
    if latency_seconds is None or not math.isfinite(latency_seconds):
        return None
    return latency_seconds * 1000


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class ShardReading:
    shard_id: int
    latency_seconds: float | None
    closed: bool


class BotState:
    def __init__(self) -> None:
        self.status: BotStatus = "connecting"
        self.started_at: datetime | None = None
        self.last_command_at: datetime | None = None
        self._shard_status: dict[int, BotStatus] = {}
        self._ping_samples: deque[tuple[datetime, float]] = deque()
        self._guild_history: deque[tuple[datetime, int]] = deque()
        self._failures: Counter[str] = Counter()
        self.offline: BotOffline | None = None

    # --- events -------------------------------------------------------------------------------
    def mark_connected(self, now: datetime, shard_id: int | None = None) -> None:
        if self.started_at is None:
            self.started_at = now
        if self.offline is not None:
            log.info("the bot is connected to Discord again (offline since %s: %s)",
                     self.offline.since.isoformat(timespec="seconds"), self.offline.cause)
            self.offline = None
        if shard_id is not None:
            self._shard_status[shard_id] = "connected"
        if shard_id is None or all(status == "connected" for status in self._shard_status.values()):
            self.status = "connected"

    def mark_reconnecting(self, shard_id: int | None = None) -> None:
        if shard_id is not None:
            self._shard_status[shard_id] = "reconnecting"
        if self.status != "disconnected":
            self.status = "reconnecting"

    def mark_disconnected(self) -> None:
        self.status = "disconnected"
        for shard_id in self._shard_status:
            self._shard_status[shard_id] = "disconnected"

    def mark_offline(self, cause: OfflineCause, now: datetime, *, retrying: bool) -> bool:
        """A failed login or a lost connection; True when the cause is new (worth one log line).
        `since` stays the first failure of the spell while the cause stays the same."""
        self.status = "reconnecting" if retrying else "disconnected"
        if self.offline is not None and self.offline.cause == cause:
            return False
        self.offline = BotOffline(cause, now)
        return True

    def command_completed(self, now: datetime) -> None:
        self.last_command_at = now

    def command_failed(self, name: str) -> None:
        self._failures[name] += 1

    # --- samples ------------------------------------------------------------------------------
    def add_ping_sample(self, now: datetime, latency_ms: float | None) -> None:
        if latency_ms is not None:
            self._ping_samples.append((now, latency_ms))
        while self._ping_samples and self._ping_samples[0][0] <= now - PING_HISTORY:
            self._ping_samples.popleft()

    def ping_averages(self, now: datetime) -> tuple[float | None, float | None]:
        """(mean of the last hour, mean of the hour before), in ms."""
        last_hour = [ms for at, ms in self._ping_samples if at > now - PING_WINDOW]
        hour_before = [ms for at, ms in self._ping_samples if now - PING_HISTORY < at <= now - PING_WINDOW]
        return mean(last_hour), mean(hour_before)

    def add_guild_count(self, now: datetime, count: int) -> None:
        # One sample an hour is plenty for a month-over-month figure and keeps memory flat.
        if not self._guild_history or now - self._guild_history[-1][0] >= GUILD_HISTORY_STEP:
            self._guild_history.append((now, count))
        while len(self._guild_history) > 1 and self._guild_history[1][0] <= now - GUILD_HISTORY_KEEP:
            self._guild_history.popleft()

    def guild_count_month_ago(self, now: datetime) -> int | None:
        """The newest sample at least 30 days old; None until the process has one."""
        candidates = [count for at, count in self._guild_history if at <= now - MONTH]
        return candidates[-1] if candidates else None

    # --- snapshot -----------------------------------------------------------------------------
    def snapshot(
        self,
        now: datetime,
        *,
        guild_count: int | None,
        user_count: int | None,
        latency_seconds: float | None,
        commands_registered: int | None,
        shards: list[ShardReading],
    ) -> BotSnapshot:
        shard_snapshots = []
        for reading in shards:
            status = self._shard_status.get(reading.shard_id, self.status)
            if reading.closed and status == "connected":
                status = "reconnecting"
            shard_snapshots.append(ShardSnapshot(reading.shard_id, status, finite_ms(reading.latency_seconds)))
        ping_avg, ping_before = self.ping_averages(now)
        return BotSnapshot(
            status=self.status,
            taken_at=now,
            guild_count=guild_count,
            user_count=user_count,
            latency_ms=finite_ms(latency_seconds),
            commands_registered=commands_registered,
            last_command_at=self.last_command_at,
            started_at=self.started_at,
            shards=tuple(shard_snapshots),
            ping_avg_ms=ping_avg,
            ping_previous_hour_avg_ms=ping_before,
            guild_count_month_ago=self.guild_count_month_ago(now),
            command_failures=tuple(CommandCount(name, count) for name, count in self._failures.most_common()),
            offline=self.offline,
        )
