"""The day at a glance: the activity chart's 24 hours against the same hours of the 7 days before,
and transactions and moderation cases by kind against the 30 days before.

`with_day_glance(compute)` wraps the service's stats compute and adds `DatabaseStats.glance`. Its
figures come from kept hours (`aurora.queries.hour_kinds.HourKinds`, every hour from the first of
the 30-day baseline to the open hour), so a refresh counts only:

- the hours not kept yet (at first all 744 of them, a day per statement while the days are quiet,
  spread over refreshes, at most ROWS_PER_CALL rows read per refresh; `glance` stays None until
  they are in);
- the open hour, and any hour last counted before it had been closed for SETTLED_AFTER (a row the
  bot commits late still lands in it);
- a share of the others, oldest count first, so that each is counted again within
  `reconcile_every` (deleted, updated or back-dated rows).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine

from aurora.db import COMMAND_RUN
from aurora.models import (
    BASELINE_DAYS,
    SAME_HOUR_DAYS,
    DatabaseStats,
    DayAtAGlance,
    KindTotals,
    SameHourTotals,
)
from aurora.queries.hour_kinds import HourKinds, kinds_per_hour
from aurora.queries.hours import window_hours
from aurora.queries.pieces import ROWS_PER_STATEMENT
from aurora.queries.scope import DAY, HOUR, HOURS, SETTLED_AFTER
from aurora.seams import StatsCompute

RECONCILE_EVERY = timedelta(hours=1)
# What one refresh may read for the glance (at least one range of hours): a count of rows rather than
# a time, so that what a refresh does never depends on how loaded the machine is.
ROWS_PER_CALL = 10 * ROWS_PER_STATEMENT


def needed_hours(now: datetime) -> list[datetime]:
    """Every hour the glance reaches, oldest first: the 30 days before the chart's 24 hours, then those."""
    first = window_hours(now)[0] - BASELINE_DAYS * DAY
    return [first + index * HOUR for index in range(BASELINE_DAYS * HOURS + HOURS)]


def runs_of(hours: list[datetime], longest: int = HOURS) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [low, high) ranges of at most `longest` hours, in the order given."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour and ranges[-1][1] - ranges[-1][0] < longest * HOUR:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def _totals(hours: list[HourKinds], baseline: list[HourKinds], *, cases: bool) -> tuple[KindTotals, ...]:
    def summed(tallies: list[HourKinds], attribute: str) -> Counter:
        total: Counter = Counter()
        for tally in tallies:
            total.update(getattr(tally, attribute))
        return total

    rows, baseline_rows = (
        (summed(hours, "cases"), summed(baseline, "cases"))
        if cases
        else (summed(hours, "rows"), summed(baseline, "rows"))
    )
    coins = Counter() if cases else summed(hours, "coins")
    baseline_coins = Counter() if cases else summed(baseline, "coins")
    kinds = sorted((set(rows) | set(baseline_rows)) - {COMMAND_RUN}, key=lambda kind: (-rows[kind], kind))
    return tuple(
        KindTotals(kind, rows[kind], coins[kind], baseline_rows[kind], baseline_coins[kind]) for kind in kinds
    )


def glance_of(kept: dict[datetime, HourKinds], now: datetime) -> DayAtAGlance:
    window = window_hours(now)
    same_hour = []
    for hour in window:
        earlier = [kept[hour - days * DAY] for days in range(1, SAME_HOUR_DAYS + 1)]
        same_hour.append(
            SameHourTotals(hour, sum(t.commands for t in earlier), sum(t.others for t in earlier))
        )
    baseline = [kept[hour] for hour in needed_hours(now)[: BASELINE_DAYS * HOURS]]
    current = [kept[hour] for hour in window]
    return DayAtAGlance(
        same_hour=tuple(same_hour),
        transactions=_totals(current, baseline, cases=False),
        cases=_totals(current, baseline, cases=True),
    )


class DayGlance:
    """Kept hours and the glance made from them; one per service (its refreshes run one at a time)."""

    def __init__(
        self, rows_per_call: int = ROWS_PER_CALL, reconcile_every: timedelta = RECONCILE_EVERY
    ) -> None:
        self.rows_per_call = rows_per_call
        self.reconcile_every = reconcile_every
        self._kept: dict[datetime, tuple[HourKinds, datetime]] = {}
        self._last_now: datetime | None = None
        self._last: DayAtAGlance | None = None
        self._lock = threading.Lock()

    def _due(self, needed: list[datetime], now: datetime) -> list[tuple[datetime, datetime]]:
        """The ranges of hours to count now, most needed first: those still settling (the open hour),
        the missing ones (newest first), then the reconcile's share."""
        missing = [hour for hour in needed if hour not in self._kept]
        settling = [
            hour
            for hour in needed
            if hour in self._kept and self._kept[hour][1] < hour + HOUR + SETTLED_AFTER
        ]
        settled = sorted(
            (hour for hour in needed if hour in self._kept and hour not in settling),
            key=lambda hour: self._kept[hour][1],
        )
        elapsed = max(now - (self._last_now or now), timedelta(0))
        share = math.ceil(len(settled) * (elapsed / self.reconcile_every))
        overdue = sum(1 for hour in settled if self._kept[hour][1] <= now - self.reconcile_every)
        again = sorted(settled[: max(share, overdue)])
        return runs_of(settling) + list(reversed(runs_of(missing))) + runs_of(again)

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
        needed = needed_hours(now)
        counted: dict[datetime, HourKinds] = {}
        read = 0
        with engine.connect() as conn:
            for low, high in self._due(needed, now):
                if counted and read >= self.rows_per_call:
                    break
                hours = kinds_per_hour(conn, low, high)
                read += sum(tally.read for tally in hours.values())
                counted.update(hours)
        # Changed in one go, after every statement succeeded.
        wanted = set(needed)
        kept = {hour: value for hour, value in self._kept.items() if hour in wanted}
        kept.update({hour: (tally, now) for hour, tally in counted.items()})
        self._kept, self._last_now = kept, now
        if len(kept) < len(needed):
            return None
        return glance_of({hour: tally for hour, (tally, _) in kept.items()}, now)


def with_day_glance(inner: StatsCompute, glance: DayGlance | None = None) -> StatsCompute:
    """`inner`'s stats with the day at a glance added (None while its first hours are counted)."""
    glance = glance or DayGlance()

    def compute(engine: Engine, now: datetime) -> DatabaseStats:
        stats = inner(engine, now)
        return replace(stats, glance=glance(engine, now))

    return compute
