"""Stats = database figures (refreshed at most once per interval) + the newest bot snapshot.

Requests never run the database queries themselves: a stale result triggers one background
refresh (single flight) and the request answers from what is there. Only before the very first
result does a request wait, and never longer than `first_result_wait`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Engine

from aurora.cache import SnapshotCache
from aurora.contract import stats_to_json
from aurora.models import BotSnapshot, DatabaseStats, Stats
from aurora.queries.activity import activity_overview
from aurora.queries.counts import (
    baseline_window,
    count_active_users,
    count_active_users_created_by,
    count_commands_between,
    last_day_window,
    top_commands,
)
from aurora.queries.events import recent_events

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
BASELINE_DAYS = 30
RETRY_AFTER_FAILURE = timedelta(seconds=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


class StatsUnavailable(RuntimeError):
    """No good stats exist yet (for example, the database was down since startup)."""


def compute_database_stats(engine: Engine, now: datetime) -> DatabaseStats:
    """Run every query of the contract once, in one read transaction, as of `now`."""
    with engine.connect() as conn:
        return DatabaseStats(
            computed_at=now,
            active_users=count_active_users(conn),
            active_users_month_ago=count_active_users_created_by(conn, now - timedelta(days=30)),
            commands_24h=count_commands_between(conn, *last_day_window(now)),
            commands_previous_30_days=count_commands_between(conn, *baseline_window(now)),
            recent_events=tuple(recent_events(conn)),
            activity=tuple(activity_overview(conn, now)),
            top_commands=tuple(top_commands(conn, now)),
        )


def percent_change(base: Decimal | int, current: int) -> float | None:
    """(current - base) / base in percent, one decimal rounded half-up; None for a zero base."""
    base = Decimal(base)
    if base == 0:
        return None
    change = (Decimal(current) - base) * 100 / base
    return float(change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def combine(
    database: DatabaseStats,
    bot: BotSnapshot,
    *,
    demo: bool,
    stale: bool,
    stale_since: datetime | None,
) -> Stats:
    bot_running = bot.status not in ("disabled", "disconnected")
    ping_avg = round(bot.ping_avg_ms) if bot.ping_avg_ms is not None else None
    ping_change = None
    if ping_avg is not None and bot.ping_previous_hour_avg_ms is not None:
        ping_change = round(bot.ping_avg_ms - bot.ping_previous_hour_avg_ms)
    guild_change = None
    if bot.guild_count is not None and bot.guild_count_month_ago is not None:
        guild_change = bot.guild_count - bot.guild_count_month_ago
    return Stats(
        generated_at=max(database.computed_at, bot.taken_at),
        demo=demo,
        stale=stale,
        stale_since=stale_since,
        bot=bot,
        guild_count=bot.guild_count if bot_running else None,
        guild_change_from_last_month=guild_change if bot_running else None,
        active_users=database.active_users,
        active_users_change_percent=percent_change(
            database.active_users_month_ago, database.active_users
        ),
        commands_total=database.commands_24h,
        commands_change_percent=percent_change(
            Decimal(database.commands_previous_30_days) / BASELINE_DAYS, database.commands_24h
        ),
        ping_avg_ms=ping_avg if bot_running else None,
        ping_change_from_last_hour=ping_change if bot_running else None,
        recent_events=database.recent_events,
        activity=database.activity,
        top_commands=database.top_commands,
    )


@dataclass
class _RefreshState:
    result: DatabaseStats | None = None
    last_error: str | None = None
    last_attempt_failed: bool = False
    refreshing: bool = False
    refresh_count: int = 0
    generation: int = 0
    last_attempt_at: datetime | None = None


class StatsService:
    def __init__(
        self,
        engine: Engine,
        snapshots: SnapshotCache,
        *,
        refresh_seconds: int,
        demo: bool,
        clock: Clock = utc_now,
        first_result_wait: float = 4.5,
        refresh_deadline: timedelta = timedelta(seconds=10),
        compute: Callable[[Engine, datetime], DatabaseStats] = compute_database_stats,
    ) -> None:
        self._engine = engine
        self._snapshots = snapshots
        self._interval = timedelta(seconds=refresh_seconds)
        self._demo = demo
        self._clock = clock
        self._first_result_wait = first_result_wait
        self._refresh_deadline = refresh_deadline
        self._compute = compute
        self._state = _RefreshState()
        self._changed = threading.Condition()
        self._memo: tuple[tuple, Stats, bytes] | None = None

    @property
    def refresh_count(self) -> int:
        """How many times the database queries ran (successfully or not)."""
        return self._state.refresh_count

    @property
    def stale_after(self) -> timedelta:
        return 2 * self._interval + timedelta(seconds=5)

    def _run_refresh(self, generation: int) -> None:
        now = self._clock()
        try:
            result, error = self._compute(self._engine, now), None
        except Exception as exc:  # any database failure must leave the last good stats serving
            log.warning("stats refresh failed: %s", exc.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            result, error = None, f"{exc.__class__.__name__}"
        with self._changed:
            state = self._state
            state.refresh_count += 1
            newer = result is not None and (state.result is None or result.computed_at > state.result.computed_at)
            if newer:
                state.result = result
            if generation == state.generation:
                state.refreshing = False
                state.last_attempt_failed = result is None
                state.last_error = error
            elif newer:
                state.last_attempt_failed = False  # an abandoned refresh came back after all
            self._changed.notify_all()

    def _refresh_due(self, now: datetime) -> bool:
        state = self._state
        if state.last_attempt_at is None:
            return True
        # After a failure, retry sooner than a full interval, but never in a tight loop.
        wait = min(self._interval, RETRY_AFTER_FAILURE) if state.last_attempt_failed else self._interval
        return now - state.last_attempt_at >= wait

    def _start_refresh_if_due(self, now: datetime) -> None:
        """Called with the condition held."""
        state = self._state
        if state.refreshing and now - state.last_attempt_at > self._refresh_deadline:
            # A database that accepted the connection and then went silent can hold a query
            # forever; give up on it (its thread may still finish) and let a new attempt start.
            log.warning("stats refresh hung for over %ss; abandoning it", self._refresh_deadline.seconds)
            state.refreshing = False
            state.last_attempt_failed = True
            state.last_error = "the refresh timed out"
        if state.refreshing or not self._refresh_due(now):
            return
        state.refreshing = True
        state.generation += 1
        state.last_attempt_at = now
        threading.Thread(
            target=self._run_refresh, args=(state.generation,), name="aurora-stats-refresh", daemon=True
        ).start()

    def database_stats(self, *, wait_for_first: bool = True) -> DatabaseStats:
        """The newest result; before the first one, wait for it (bounded) unless told not to."""
        now = self._clock()
        with self._changed:
            self._start_refresh_if_due(now)
            if self._state.result is None and wait_for_first:
                self._changed.wait_for(
                    lambda: not self._state.refreshing, timeout=self._first_result_wait
                )
            if self._state.result is None:
                raise StatsUnavailable(self._state.last_error or "the first refresh is still running")
            return self._state.result

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Let a refresh under way finish (at most `timeout`), e.g. before closing the engine."""
        with self._changed:
            self._changed.wait_for(lambda: not self._state.refreshing, timeout=timeout)

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
        now = self._clock()
        with self._changed:
            failed = self._state.last_attempt_failed
        stale = failed or now - database.computed_at > self.stale_after
        # The memo holds `database` itself, so identity comparison cannot be fooled by id reuse.
        key = (database, version, stale)
        memo = self._memo
        if memo is not None and memo[0][0] is database and memo[0][1:] == key[1:]:
            return memo[1], memo[2]
        stats = combine(
            database,
            snapshot,
            demo=self._demo,
            stale=stale,
            stale_since=database.computed_at if stale else None,
        )
        body = stats_to_json(stats)
        # One tuple assignment: readers in other threads see the old or the new memo, never a mix.
        self._memo = (key, stats, body)
        return stats, body
