"""The day at a glance: the activity chart's 24 hours against the same hours of the 7 days before,
and transactions and moderation cases by kind against the 30 days before.

`with_day_glance(compute)` wraps the service's stats compute and adds `DatabaseStats.glance`. Its
figures (`aurora.queries.day_glance_figures`) come from kept hours (`aurora.queries.hour_kinds.HourKinds`,
every hour from the first of the 30-day baseline to the open hour), so a refresh counts only:

- the open hour, and any hour last counted before it had been closed for SETTLED_AFTER (a row the
  bot commits late still lands in it);
- a share of the others, oldest check first, so that each is checked within `reconcile_every`:
  its rows and cases counted from the created_at indexes alone, its kinds counted again only when
  those counts changed (deleted or back-dated rows; an update that keeps an hour's counts is not seen);
- the hours not kept yet, or whose counts changed (at first all 744 of them; `glance` stays None
  until they are in), newest first, in ranges of up to a day.

All of it within one budget per refresh, ROWS_PER_CALL rows (an index entry counts as
1/INDEX_ENTRIES_PER_ROW of a row), whatever the volume: ranges are read in pieces of at most
ROWS_PER_STATEMENT rows (`aurora.queries.hour_kinds.KindsCounting`), the refresh stops between two
pieces once the budget is spent, and the range goes on from there at the next refresh. A refresh
reads at most its budget and one piece more.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from aurora.protocols import StatsCompute
from aurora.queries import MICROSECOND
from aurora.queries.bounded_counts import INDEX_ENTRIES_PER_ROW, ROWS_PER_STATEMENT
from aurora.queries.day_glance_figures import glance_of, needed_hours
from aurora.queries.figure_definitions import HOUR, SETTLED_AFTER, TRANSACTION_ROWS
from aurora.queries.hour_kinds import CASE_ROWS, HourKinds, KindsCounting
from aurora.queries.hourly_counts import count_per_hour
from aurora.stats.model import DatabaseStats, DayAtAGlance

RECONCILE_EVERY = timedelta(hours=1)
# What one refresh may read for the glance (at least one range of hours): a count of rows rather than
# a time, so that what a refresh does never depends on how loaded the machine is.
ROWS_PER_CALL = 10 * ROWS_PER_STATEMENT


def runs_of(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [low, high) ranges, in the order given, none across a UTC midnight: ranges
    stay the same from refresh to refresh, so that a range counted over several refreshes goes on."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour and hour.hour != 0:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


class DayGlance:
    """Kept hours and the glance made from them; one per service (its refreshes run one at a time)."""

    def __init__(
        self,
        rows_per_call: int = ROWS_PER_CALL,
        reconcile_every: timedelta = RECONCILE_EVERY,
        rows_per_statement: int = ROWS_PER_STATEMENT,
    ) -> None:
        self.rows_per_call = rows_per_call
        self.reconcile_every = reconcile_every
        self.rows_per_statement = rows_per_statement
        self.read = 0  # rows the last refresh read (index entries as INDEX_ENTRIES_PER_ROW to a row)
        self._kept: dict[datetime, tuple[HourKinds, datetime]] = {}
        self._stale: set[datetime] = set()  # kept hours whose rows changed: counted again
        self._partial: dict[tuple[datetime, datetime], KindsCounting] = {}  # ranges counted in part
        self._last_now: datetime | None = None
        self._last: DayAtAGlance | None = None
        self._lock = threading.Lock()

    def _due(self, needed: list[datetime], now: datetime) -> tuple[list, list, list[datetime]]:
        """What to count now, most needed first: the ranges still settling (the open hour), the hours
        missing or stale, and the kept hours whose counts the reconcile checks."""
        kept = self._kept
        settling = [hour for hour in needed if hour in kept and kept[hour][1] < hour + HOUR + SETTLED_AFTER]
        recount = [hour for hour in needed if hour not in kept or hour in self._stale]
        settled = sorted(
            (hour for hour in needed if hour in kept and hour not in self._stale and hour not in settling),
            key=lambda hour: kept[hour][1],
        )
        elapsed = max(now - (self._last_now or now), timedelta(0))
        share = math.ceil(len(settled) * (elapsed / self.reconcile_every))
        overdue = sum(1 for hour in settled if kept[hour][1] <= now - self.reconcile_every)
        return runs_of(settling), recount, settled[: max(share, overdue)]

    def _changed(self, conn: Connection, hours: list[datetime]) -> list[datetime]:
        """Those of the kept `hours` whose rows or cases are no longer as many as kept (index-only counts)."""
        kept_rows = {hour: sum(self._kept[hour][0].rows.values()) for hour in hours}
        kept_cases = {hour: sum(self._kept[hour][0].cases.values()) for hour in hours}
        # The kept counts size the statements (how many hours go together), as the ledger's do.
        rows = count_per_hour(conn, TRANSACTION_ROWS, hours, max(kept_rows.values()))
        cases = count_per_hour(conn, CASE_ROWS, hours, max(kept_cases.values()))
        return [hour for hour in hours if rows[hour] != kept_rows[hour] or cases[hour] != kept_cases[hour]]

    def __call__(self, engine: Engine, now: datetime) -> DayAtAGlance | None:
        # A call the service gave up on (a database gone silent) may still hold the lock: the next
        # refresh then serves the last glance instead of waiting behind it.
        if not self._lock.acquire(blocking=False):
            return self._last
        try:
            self._last = self._advance(engine, now)
            return self._last
        finally:
            self._lock.release()

    def _advance(self, engine: Engine, now: datetime) -> DayAtAGlance | None:
        """Count what is due within the refresh's budget (ROWS_PER_CALL rows; an index entry counts
        as 1/INDEX_ENTRIES_PER_ROW of a row): a range not done by then goes on at the next refresh."""
        needed = needed_hours(now)
        settling, recount, check = self._due(needed, now)
        counted: dict[datetime, HourKinds] = {}
        partial = dict(self._partial)
        unchanged: list[datetime] = []
        stale: set[datetime] = set()
        read = 0
        with engine.connect() as conn:
            read += self._count(conn, settling, partial, counted, read, now)
            # The reconcile: index-only counts of its share, the kinds counted again only where they changed.
            while check and read < self.rows_per_call:
                batch, expected = [], 0
                while check and (not batch or expected + self._kept[check[0]][0].read <= self._entries_left(read)):
                    expected += self._kept[check[0]][0].read
                    batch.append(check.pop(0))
                changed = self._changed(conn, batch)
                read += math.ceil(expected / INDEX_ENTRIES_PER_ROW)
                stale.update(changed)
                unchanged.extend(hour for hour in batch if hour not in changed)
            # Missing and stale hours, newest first.
            recount = list(reversed(runs_of(sorted(set(recount) | stale))))
            read += self._count(conn, recount, partial, counted, read, now)
        # Changed in one go, after every statement succeeded.
        wanted = set(needed)
        kept = {hour: value for hour, value in self._kept.items() if hour in wanted}
        kept.update({hour: (kept[hour][0], now) for hour in unchanged})
        kept.update({hour: (tally, now) for hour, tally in counted.items()})
        # A range counted in part goes on at a later refresh while none of its hours was counted otherwise.
        self._partial = {
            key: counting for key, counting in partial.items()
            if key[0] in wanted and not any(hour in counted for hour in counting.hours)
        }
        self._stale = {hour for hour in (self._stale | stale) - set(counted) if hour in wanted}
        self._kept, self._last_now, self.read = kept, now, read
        if len(kept) < len(needed):
            return None
        return glance_of({hour: tally for hour, (tally, _) in kept.items()}, now)

    def _entries_left(self, read: int) -> int:
        return max(0, self.rows_per_call - read) * INDEX_ENTRIES_PER_ROW

    def _count(self, conn: Connection, ranges: list, partial: dict, counted: dict, read: int, now: datetime) -> int:
        """Count `ranges` in order (going on with those counted in part) until the budget is spent;
        the rows read. The first range always moves on by a piece at least. Rows dated after `now`
        are left out (the open hour is counted again until it has settled)."""
        spent = 0
        for low, high in ranges:
            left = self.rows_per_call - read - spent
            if left <= 0 and (read or spent):
                break
            counting = partial.pop((low, high), None) or KindsCounting(
                low, high, self.rows_per_statement, until=now + MICROSECOND
            )
            whole, rows = counting.advance(conn, max(left, 1))
            spent += rows
            counted.update(whole)
            if counting.remaining is not None:
                partial[counting.remaining] = counting
        return spent


# While its hours are first counted, a refresh gives the glance this many budgets (about 2 s at
# 1M rows a day): a busy bot's glance is ready within minutes rather than after 60-odd refreshes.
FIRST_FILL_BUDGETS_PER_REFRESH = 6


def glance_of_refresh(glance: DayGlance, engine: Engine, now: datetime) -> DayAtAGlance | None:
    """The glance of one refresh: one budget once its hours are in, several while they are first counted."""
    for _ in range(FIRST_FILL_BUDGETS_PER_REFRESH):
        if (day := glance(engine, now)) is not None:
            return day
    return None


def with_day_glance(inner: StatsCompute, glance: DayGlance | None = None) -> StatsCompute:
    """`inner`'s stats with the day at a glance added (None while its first hours are counted)."""
    glance = glance or DayGlance()

    def compute(engine: Engine, now: datetime) -> DatabaseStats:
        stats = inner(engine, now)
        return replace(stats, glance=glance_of_refresh(glance, engine, now))

    return compute
