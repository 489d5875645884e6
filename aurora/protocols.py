"""The seams where Aurora's parts are plugged together, as `typing.Protocol`s.

Each part is handed what it needs instead of building it, so production, tests and the bench plug
in different things with no subclassing: a frozen test clock for `utc_now`, a Redis store for the
in-process snapshot cache, a timed or Redis-shared wrapper around the stats computation.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from aurora.bot.snapshot import BotSnapshot
from aurora.stats.model import AlertRecord, DatabaseStats

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Clock(Protocol):
    """Every "now" of the app: a timezone-aware moment (UTC in production, `aurora.stats.service.utc_now`)."""

    def __call__(self) -> datetime: ...


class SnapshotSink(Protocol):
    """Where the bot hands each new snapshot, from its own loop (so it must not block)."""

    def publish(self, snapshot: BotSnapshot) -> None: ...


class SnapshotSource(Protocol):
    """Where the web side reads the bot's newest snapshot."""

    def latest(self) -> tuple[int, BotSnapshot]:
        """The newest snapshot and a version that changes whenever the snapshot does."""
        ...


class SnapshotHandOver(SnapshotSink, SnapshotSource, Protocol):
    """Both ends in one object: `aurora.bot.snapshot_cache.SnapshotCache` in one process; across processes
    `aurora.scaleout.snapshots.RedisSnapshotStore` (read by the web side) and `OffLoopPublisher` (the bot
    side, which keeps the newest snapshot for the bot's own /stats)."""


class StatsCompute(Protocol):
    """The database half of the stats as of `now`: `aurora.queries.aggregates.IncrementalStats` in
    production, the reference definitions (`aurora.queries.reference.compute_database_stats`) in tests and the
    bench; `aurora.web.metrics.timed_compute` and `aurora.scaleout.shared_stats.SharedStatsCompute` wrap either."""

    def __call__(self, engine: Engine, now: datetime) -> DatabaseStats: ...


class AlertSource(Protocol):
    """The alerts the page and the API show (`aurora.alerts.board.AlertBoard`)."""

    def latest(self) -> tuple[int, tuple[AlertRecord, ...]]:
        """The current alerts and a version that changes whenever they do."""
        ...
