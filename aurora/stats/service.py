"""Stats = database figures (refreshed in the background by `aurora.stats.refresh_schedule`) + the
newest bot snapshot + the alerts, combined (`aurora.stats.combined`) and serialized once per change.

What a request gets: the stats and their JSON body as of the newest figures, marked stale while the
refreshes fail or hang; `StatsUnavailable` before the first figures exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from aurora.bot.snapshot import BotSnapshot
from aurora.protocols import AlertSource, Clock, SnapshotSource, StatsCompute
from aurora.queries.aggregates import IncrementalStats
from aurora.stats.combined import combine
from aurora.stats.json_form import stats_to_json
from aurora.stats.model import DatabaseStats, Stats
from aurora.stats.refresh_schedule import RefreshSchedule, StatsUnavailable


def utc_now() -> datetime:
    return datetime.now(UTC)


class StatsService:
    """The stats requests get; the database figures' refresh members (`refresh_count` to
    `database_stats`) pass through to `RefreshSchedule`, which documents them."""

    def __init__(
        self,
        engine: Engine,
        snapshots: SnapshotSource,
        *,
        refresh_seconds: int,
        demo: bool,
        simulated: bool = False,
        clock: Clock = utc_now,
        first_result_wait: float = 4.5,
        refresh_deadline: timedelta = timedelta(seconds=10),
        compute: StatsCompute | None = None,
        alerts: AlertSource | None = None,
    ) -> None:
        # The incremental stats are what production runs; the reference definitions
        # (`aurora.queries.reference`) are what the tests and the bench hold them to.
        self._refresh = RefreshSchedule(
            engine,
            compute if compute is not None else IncrementalStats(),
            interval=timedelta(seconds=refresh_seconds),
            clock=clock,
            first_result_wait=first_result_wait,
            refresh_deadline=refresh_deadline,
        )
        self._snapshots = snapshots
        self._demo = demo
        self._simulated = simulated
        self._clock = clock
        self._memo: tuple[tuple, Stats, bytes] | None = None
        self._alerts = alerts

    @property
    def refresh_count(self) -> int:
        return self._refresh.refresh_count

    @property
    def preparing(self) -> float | None:
        return self._refresh.preparing

    @property
    def failure(self) -> tuple[str, datetime] | None:
        return self._refresh.failure

    def observe_refreshes(self, observer: Callable[[], None]) -> None:
        self._refresh.observe_refreshes(observer)

    def start(self) -> None:
        self._refresh.start()

    def close(self, timeout: float = 5.0) -> None:
        self._refresh.close(timeout)

    def wait_idle(self, timeout: float = 5.0) -> None:
        self._refresh.wait_idle(timeout)

    def database_stats(self, *, wait_for_first: bool = True) -> DatabaseStats:
        return self._refresh.database_stats(wait_for_first=wait_for_first)

    def bot_snapshot(self) -> BotSnapshot:
        """The bot's newest snapshot, for a page that has no database figures to show beside it."""
        return self._snapshots.latest()[1]

    def current(self) -> Stats:
        return self.current_with_json()[0]

    def current_if_ready(self) -> Stats | None:
        """The stats if a result exists, else None at once (a refresh is started if due)."""
        try:
            return self.current_with_json(wait_for_first=False)[0]
        except StatsUnavailable:
            return None

    def current_with_json(self, *, wait_for_first: bool = True) -> tuple[Stats, bytes]:
        """The stats and their JSON body, serialized once per change rather than per request."""
        database = self.database_stats(wait_for_first=wait_for_first)
        version, snapshot = self._snapshots.latest()
        stale = self._refresh.stale(self._clock())
        alerts_version, alerts = self._alerts.latest() if self._alerts is not None else (0, ())
        # The memo holds `database` itself, so identity comparison cannot be fooled by id reuse.
        key = (database, version, stale, alerts_version)
        memo = self._memo
        if memo is not None and memo[0][0] is database and memo[0][1:] == key[1:]:
            return memo[1], memo[2]
        stats = combine(
            database,
            snapshot,
            demo=self._demo,
            stale=stale,
            stale_since=database.computed_at if stale else None,
            alerts=alerts,
            simulated=self._simulated,
        )
        body = stats_to_json(stats)
        # One tuple assignment: readers in other threads see the old or the new memo, never a mix.
        self._memo = (key, stats, body)
        return stats, body
