"""Stats = database figures (refreshed once per interval, in the background) + the newest bot snapshot.

Requests never run the database queries themselves. A schedule thread (started by `start`, or by
the first request) starts one refresh thread per interval whether or not anyone asks, so the
figures a request finds after a quiet hour are fresh; a request that finds a refresh due starts
it too (single flight) and answers from what is there. Only before the very first result does a
request wait, and never longer than `first_result_wait`.

- A compute that raises `FiguresPreparing` made progress without figures yet (a large database's
  first counts): the next step starts at once, and callers get `StatsUnavailable` with the share
  done.
- After a failed refresh the next attempt waits 5 s (at most the interval), doubling with each
  further failure up to 2 minutes: an unhealthy database gets a few attempts, not a stream.
- A refresh that hangs (a database that accepted the connection, then went silent) is given up on
  after `refresh_deadline` and a new attempt starts; while a given-up one is still running none is
  given up again, so at most one running and one given-up refresh thread exist.
- Stale means the figures are late because refreshing them failed: the last attempt failed or
  hung, or new figures have been awaited for longer than `refresh_grace` since the refresh
  that should bring them started. Not the figures' age alone: after a spell in which no refresh
  ran (nobody asked before the schedule started, a suspended process, a clock moved by hand) the
  first request starts one and its answer is not stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from aurora.bot.snapshot import BotSnapshot
from aurora.protocols import AlertSource, Clock, SnapshotSource, StatsCompute
from aurora.queries.reference import compute_database_stats
from aurora.stats.assemble import combine
from aurora.stats.json_form import stats_to_json
from aurora.stats.model import DatabaseStats, FiguresPreparing, Stats
from aurora.storage.problems import database_problem

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = timedelta(seconds=5)
RETRY_AFTER_FAILURE_CAP = timedelta(minutes=2)


def utc_now() -> datetime:
    return datetime.now(UTC)


class StatsUnavailable(RuntimeError):
    """No good stats exist yet: the database was down since startup (`progress` None), or the
    first figures are being prepared (`progress`: the share done, 0..1)."""

    def __init__(self, message: str, progress: float | None = None, failing_since: datetime | None = None) -> None:
        super().__init__(message)
        self.progress = progress
        # When the refreshes began to fail (the message then says why and what to do); None while
        # nothing failed yet.
        self.failing_since = failing_since


@dataclass
class _RefreshState:
    result: DatabaseStats | None = None
    last_error: str | None = None  # the last attempt's failure: what went wrong and the fix
    failures: int = 0  # consecutive failed attempts (a hung one included)
    failing_since: datetime | None = None  # when the first of those attempts started
    preparing: float | None = None  # the last attempt's progress when it made no figures yet
    refreshing: bool = False
    refresh_count: int = 0
    generation: int = 0
    last_attempt_at: datetime | None = None
    # When the first attempt since the last new result started: how long new figures are awaited.
    awaited_since: datetime | None = None


class StatsService:
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
        compute: StatsCompute = compute_database_stats,
        alerts: AlertSource | None = None,
    ) -> None:
        self._engine = engine
        self._snapshots = snapshots
        self._interval = timedelta(seconds=refresh_seconds)
        self._demo = demo
        self._simulated = simulated
        self._clock = clock
        self._first_result_wait = first_result_wait
        self._refresh_deadline = refresh_deadline
        self._compute = compute
        self._state = _RefreshState()
        self._changed = threading.Condition()
        self._memo: tuple[tuple, Stats, bytes] | None = None
        self._running: threading.Thread | None = None
        self._given_up: threading.Thread | None = None
        self._schedule: threading.Thread | None = None
        self._closed = False
        self._first_attempt_started: float | None = None
        self._alerts = alerts
        self._observers: list[Callable[[], None]] = []

    @property
    def refresh_count(self) -> int:
        """How many times the database queries ran (successfully or not)."""
        return self._state.refresh_count

    @property
    def preparing(self) -> float | None:
        """While the first figures are being prepared, the share done (0..1); else None."""
        state = self._state
        return state.preparing if state.result is None else None

    @property
    def failure(self) -> tuple[str, datetime] | None:
        """While refreshes fail: what went wrong (with the fix) and since when; else None."""
        state = self._state
        if state.last_error is None or state.failing_since is None:
            return None
        return state.last_error, state.failing_since

    @property
    def refresh_grace(self) -> timedelta:
        """How long new figures may be awaited before the old ones count as stale; on schedule
        that is when they are 2 intervals + 5 s old."""
        return self._interval + timedelta(seconds=5)

    def observe_refreshes(self, observer: Callable[[], None]) -> None:
        """Call `observer` after every refresh attempt (a given-up one too). It runs with the
        service's lock held, so it must only signal, never block (the alert monitor's wake-up)."""
        self._observers.append(observer)

    @staticmethod
    def _log_change(before: str | None, after: str | None) -> None:
        # One line per change of state, not per attempt: a database down for hours is one line.
        if after is not None and after != before:
            log.warning("stats refresh failed: %s (retrying with backoff)", after)
        elif after is None and before is not None:
            log.info("stats refresh succeeded again")

    def _refreshed(self) -> None:
        for observer in self._observers:
            observer()

    def start(self) -> None:
        """Refresh on schedule from now on (the first refresh at once); idempotent."""
        with self._changed:
            self._start_schedule()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the schedule and let a refresh under way finish (at most `timeout`)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            schedule = self._schedule
        if schedule is not None and schedule is not threading.current_thread():
            schedule.join(timeout)
        self.wait_idle(timeout)

    def _start_schedule(self) -> None:
        """Called with the condition held."""
        if self._schedule is None and not self._closed:
            self._schedule = threading.Thread(target=self._run_schedule, name="aurora-stats-schedule", daemon=True)
            self._schedule.start()

    def _run_schedule(self) -> None:
        with self._changed:
            while not self._closed:
                now = self._clock()
                self._start_refresh_if_due(now)
                self._changed.wait(self._seconds_to_next_check(now))

    def _seconds_to_next_check(self, now: datetime) -> float:
        """Real seconds until the schedule should look again (woken earlier by any change)."""
        state = self._state
        if state.refreshing:
            moment = state.last_attempt_at + self._refresh_deadline + timedelta(milliseconds=10)
        else:
            moment = self._next_attempt_at()
        seconds = (moment - now).total_seconds()
        if seconds <= 0:
            # Due, yet nothing could start (a hung refresh runs beside a given-up one): the end of
            # either notifies. A clock that does not follow real time (tests move it by hand) is
            # looked at again at least once per interval.
            return self._interval.total_seconds()
        return min(seconds, self._interval.total_seconds())

    def _next_attempt_at(self) -> datetime:
        state = self._state
        if state.last_attempt_at is None:
            return datetime.min.replace(tzinfo=UTC)
        if state.failures:
            first = min(self._interval, RETRY_AFTER_FAILURE)
            return state.last_attempt_at + min(RETRY_AFTER_FAILURE_CAP, first * 2 ** min(state.failures - 1, 16))
        if state.preparing is not None:
            return state.last_attempt_at
        return state.last_attempt_at + self._interval

    def _run_refresh(self, generation: int) -> None:
        now = self._clock()
        progress = None
        try:
            result, error = self._compute(self._engine, now), None
        except FiguresPreparing as preparing:
            result, error, progress = None, None, preparing.progress
        except Exception as exc:  # any database failure must leave the last good stats serving
            result, error = None, str(database_problem(exc, getattr(self._engine, "url", None)))
            log.debug("stats refresh failed", exc_info=True)
        with self._changed:
            state = self._state
            state.refresh_count += 1
            self._log_change(state.last_error, error if generation == state.generation else state.last_error)
            newer = result is not None and (state.result is None or result.computed_at > state.result.computed_at)
            if state.result is None and (newer or (progress is not None and state.preparing is None)):
                log.info("first database figures %s", "ready" if newer else "being prepared (counted in pieces)")
            if newer:
                state.result = result
            if newer or (generation == state.generation and result is not None):
                state.awaited_since = None  # the figures are as new as the database can make them
            if generation == state.generation:
                state.refreshing = False
                state.failures = state.failures + 1 if error else 0
                state.last_error = error
                if error is None:
                    state.failing_since = None
                elif state.failing_since is None:
                    state.failing_since = now
                state.preparing = progress
            elif newer:
                state.failures = 0  # a given-up refresh came back after all
                state.failing_since = None
            self._changed.notify_all()
            self._refreshed()

    def _hung(self, now: datetime) -> bool:
        state = self._state
        return state.refreshing and now - state.last_attempt_at > self._refresh_deadline

    def _start_refresh_if_due(self, now: datetime) -> None:
        """Called with the condition held."""
        state = self._state
        if self._hung(now) and (self._given_up is None or not self._given_up.is_alive()):
            # A database that accepted the connection and then went silent can hold a query
            # forever; give up on it (its thread may still finish) and let a new attempt start.
            # Not while an earlier given-up refresh still runs: attempts would only pile up.
            log.warning("stats refresh hung for over %ss; giving up on it", self._refresh_deadline.seconds)
            self._given_up, self._running = self._running, None
            state.refreshing = False
            state.failures += 1
            state.last_error = "the refresh timed out"
            state.failing_since = state.failing_since or state.last_attempt_at
            self._refreshed()
        if self._closed or state.refreshing or now < self._next_attempt_at():
            return
        state.refreshing = True
        state.generation += 1
        state.last_attempt_at = now
        if state.awaited_since is None:
            state.awaited_since = now
        if self._first_attempt_started is None:
            self._first_attempt_started = time.monotonic()
        self._running = threading.Thread(
            target=self._run_refresh, args=(state.generation,), name="aurora-stats-refresh", daemon=True
        )
        self._running.start()

    def database_stats(self, *, wait_for_first: bool = True) -> DatabaseStats:
        """The newest result; before the first one, wait for it (bounded) unless told not to."""
        now = self._clock()
        with self._changed:
            self._start_schedule()
            self._start_refresh_if_due(now)
            state = self._state
            if state.result is None and wait_for_first and self._first_attempt_started is not None:
                # Only the first requests wait (at most `first_result_wait` after the first attempt
                # began, over as many steps as fit): later ones answer at once with the progress.
                remaining = self._first_attempt_started + self._first_result_wait - time.monotonic()
                self._changed.wait_for(
                    lambda: state.result is not None or (not state.refreshing and state.preparing is None),
                    timeout=max(0.0, remaining),
                )
            if state.result is None:
                if state.preparing is not None:
                    raise StatsUnavailable("the first figures are being prepared", progress=state.preparing)
                raise StatsUnavailable(state.last_error or "the first refresh is still running",
                                       failing_since=state.failing_since if state.last_error else None)
            return state.result

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Let a refresh under way finish (at most `timeout`), e.g. before closing the engine."""
        with self._changed:
            self._changed.wait_for(lambda: not self._state.refreshing, timeout=timeout)

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
        now = self._clock()
        with self._changed:
            state = self._state
            overdue = state.awaited_since is not None and now - state.awaited_since > self.refresh_grace
            stale = state.failures > 0 or self._hung(now) or overdue
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
