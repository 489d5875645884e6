"""Hour breakdowns for the API and the page, with a small cache.

An hour that ended more than SETTLED_AFTER before it was counted no longer changes (the bot writes
rows as they happen), so it is kept until it leaves the last 24 hours; the open hour, and one that
just closed, are kept for OPEN_HOUR_SECONDS only, so that repeated clicks cost one count.

One count per hour at a time: callers asking for an hour that is being counted wait for that count
instead of starting their own. The count runs in a thread of its own and a caller waits for it
ANSWER_BUDGET at most (each statement is bounded by the statement timeout, their sum is not), so
every answer comes within 5 s: a count that takes longer is said to be unavailable (a 503 with
Retry-After), goes on, and is kept for the next caller.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aurora.protocols import Clock
from aurora.queries.figure_definitions import HOUR, SETTLED_AFTER
from aurora.queries.hours import check_in_window, hour_breakdown, window_hours
from aurora.stats.hour_address import BreakdownUnavailable
from aurora.stats.model import HourBreakdown

log = logging.getLogger(__name__)

OPEN_HOUR_SECONDS = timedelta(seconds=10)
# What a caller waits for a count: below the 5 s every answer is due within, leaving room for the rest.
ANSWER_BUDGET = timedelta(seconds=4.5)


class HourBreakdowns:
    def __init__(self, engine: Engine, clock: Clock, budget: timedelta = ANSWER_BUDGET) -> None:
        self._engine = engine
        self._clock = clock
        self._budget = budget
        self._lock = threading.Lock()
        self._kept: dict[datetime, tuple[HourBreakdown, datetime]] = {}
        self._counting: dict[datetime, Future] = {}

    def breakdown(self, hour: datetime) -> HourBreakdown:
        """The breakdown of `hour` (a UTC hour); HourOutOfRange unless it is one of the last 24,
        BreakdownUnavailable when the database fails or does not answer within the budget."""
        now = self._clock()
        check_in_window(hour, now)
        with self._lock:
            kept = self._kept.get(hour)
            if kept is not None:
                breakdown, counted_at = kept
                if counted_at >= hour + HOUR + SETTLED_AFTER or now - counted_at < OPEN_HOUR_SECONDS:
                    return breakdown
            count = self._counting.get(hour)
            if count is None:
                count = self._counting[hour] = Future()
                threading.Thread(
                    target=self._count, args=(hour, now, count), name="aurora-hour-breakdown", daemon=True
                ).start()
        try:
            return count.result(timeout=self._budget.total_seconds())
        except TimeoutError:
            log.warning("hour breakdown not counted within %.1f s", self._budget.total_seconds())
            raise BreakdownUnavailable("the database did not answer in time") from None

    def _count(self, hour: datetime, now: datetime, count: Future) -> None:
        """Count `hour` for everyone waiting on `count`, and keep the result."""
        try:
            with self._engine.connect() as conn:
                breakdown = hour_breakdown(conn, hour, now)
        except Exception as error:  # handed to the waiting callers, raised there
            if isinstance(error, SQLAlchemyError):
                log.warning("hour breakdown failed: %s", error.__class__.__name__)
                error = BreakdownUnavailable("the database did not answer")
            with self._lock:
                self._counting.pop(hour, None)
            count.set_exception(error)
            return
        with self._lock:
            window = set(window_hours(now))
            self._kept = {kept_hour: value for kept_hour, value in self._kept.items() if kept_hour in window}
            self._kept[hour] = (breakdown, now)
            self._counting.pop(hour, None)
        count.set_result(breakdown)
