"""The database figures, refreshed once per interval in the background (`aurora.stats.service`
serves them with the bot's snapshot).

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
from datetime import datetime, timedelta

from sqlalchemy import Engine

from aurora.background import RepeatingThread
from aurora.protocols import Clock, StatsCompute
from aurora.stats.model import DatabaseStats, FiguresPreparing
from aurora.stats.refresh_record import RefreshRecord
from aurora.storage.problems import database_problem

log = logging.getLogger(__name__)


class StatsUnavailable(RuntimeError):
    """No good stats exist yet: the database was down since startup (`progress` None), or the
    first figures are being prepared (`progress`: the share done, 0..1)."""

    def __init__(self, message: str, progress: float | None = None, failing_since: datetime | None = None) -> None:
        super().__init__(message)
        self.progress = progress
        # When the refreshes began to fail (the message then says why and what to do); None while
        # nothing failed yet.
        self.failing_since = failing_since


class RefreshSchedule:
    def __init__(
        self,
        engine: Engine,
        compute: StatsCompute,
        *,
        interval: timedelta,
        clock: Clock,
        first_result_wait: float,
        refresh_deadline: timedelta,
    ) -> None:
        self._engine = engine
        self._compute = compute
        self._interval = interval
        self._clock = clock
        self._first_result_wait = first_result_wait
        self._refresh_deadline = refresh_deadline
        self._state = RefreshRecord()
        self._changed = threading.Condition()
        self._running: threading.Thread | None = None
        self._given_up: threading.Thread | None = None
        self._schedule = RepeatingThread("aurora-stats-schedule", self._scheduled_check)
        self._closed = False
        self._first_attempt_started: float | None = None
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

    def stale(self, now: datetime) -> bool:
        with self._changed:
            return self._state.stale(now, self._refresh_deadline, self.refresh_grace)

    def observe_refreshes(self, observer: Callable[[], None]) -> None:
        """Call `observer` after every refresh attempt (a given-up one too). It runs with the
        schedule's lock held, so it must only signal, never block (the alert monitor's wake-up)."""
        self._observers.append(observer)

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
        self._schedule.stop(timeout)
        self.wait_idle(timeout)

    def _start_schedule(self) -> None:
        """Called with the condition held."""
        if not self._schedule.started and not self._closed:
            self._schedule.start()

    def _scheduled_check(self) -> float:
        with self._changed:
            now = self._clock()
            self._start_refresh_if_due(now)
            return self._seconds_to_next_check(now)

    def _seconds_to_next_check(self, now: datetime) -> float:
        """Real seconds until the schedule should look again (woken earlier when a refresh ends)."""
        state = self._state
        if state.refreshing:
            moment = state.last_attempt_at + self._refresh_deadline + timedelta(milliseconds=10)
        else:
            moment = state.next_attempt_at(self._interval)
        seconds = (moment - now).total_seconds()
        if seconds <= 0:
            # Due, yet nothing could start (a hung refresh runs beside a given-up one): the end of
            # either wakes it. A clock that does not follow real time (tests move it by hand) is
            # looked at again at least once per interval.
            return self._interval.total_seconds()
        return min(seconds, self._interval.total_seconds())

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
            self._state.finish(generation, result, error, progress, now)
            self._changed.notify_all()
            self._schedule.wake()
            self._refreshed()

    def _start_refresh_if_due(self, now: datetime) -> None:
        """Called with the condition held."""
        state = self._state
        if state.hung(now, self._refresh_deadline) and (self._given_up is None or not self._given_up.is_alive()):
            # A database that accepted the connection and then went silent can hold a query
            # forever; give up on it (its thread may still finish) and let a new attempt start.
            # Not while an earlier given-up refresh still runs: attempts would only pile up.
            log.warning("stats refresh hung for over %ss; giving up on it", self._refresh_deadline.seconds)
            self._given_up, self._running = self._running, None
            state.give_up()
            self._refreshed()
        if self._closed or state.refreshing or now < state.next_attempt_at(self._interval):
            return
        generation = state.begin(now)
        if self._first_attempt_started is None:
            self._first_attempt_started = time.monotonic()
        self._running = threading.Thread(
            target=self._run_refresh, args=(generation,), name="aurora-stats-refresh", daemon=True
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
