"""Hour breakdowns for the API and the page, with a small cache.

An hour that ended more than SETTLED_AFTER before it was counted no longer changes (the bot writes
rows as they happen), so it is kept until it leaves the last 24 hours; the open hour, and one that
just closed, are kept for OPEN_HOUR_SECONDS only, so that repeated clicks cost one count.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aurora.hour_names import BreakdownUnavailable
from aurora.models import HourBreakdown
from aurora.queries.hours import check_in_window, hour_breakdown, window_hours
from aurora.queries.scope import HOUR, SETTLED_AFTER
from aurora.seams import Clock

log = logging.getLogger(__name__)

OPEN_HOUR_SECONDS = timedelta(seconds=10)


class HourBreakdowns:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[datetime, tuple[HourBreakdown, datetime]] = {}

    def breakdown(self, hour: datetime) -> HourBreakdown:
        """The breakdown of `hour` (a UTC hour); HourOutOfRange unless it is one of the last 24,
        BreakdownUnavailable when the database fails."""
        now = self._clock()
        check_in_window(hour, now)
        with self._lock:
            kept = self._kept.get(hour)
        if kept is not None:
            breakdown, counted_at = kept
            if counted_at >= hour + HOUR + SETTLED_AFTER or now - counted_at < OPEN_HOUR_SECONDS:
                return breakdown
        try:
            with self._engine.connect() as conn:
                breakdown = hour_breakdown(conn, hour)
        except SQLAlchemyError as error:
            log.warning("hour breakdown failed: %s", error.__class__.__name__)
            raise BreakdownUnavailable("the database did not answer") from None
        with self._lock:
            window = set(window_hours(now))
            self._kept = {kept_hour: value for kept_hour, value in self._kept.items() if kept_hour in window}
            self._kept[hour] = (breakdown, now)
        return breakdown
