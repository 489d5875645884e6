"""The day at a glance's figures from kept hours (`aurora.queries.day_glance` keeps them): the
chart's 24 hours against the same hours of the SAME_HOUR_DAYS days before, and transactions and
moderation cases by kind against the BASELINE_DAYS days before."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from aurora.queries.figure_definitions import DAY, HOUR, HOURS
from aurora.queries.hour_kinds import HourKinds
from aurora.queries.hours import window_hours
from aurora.stats.model import BASELINE_DAYS, SAME_HOUR_DAYS, DayAtAGlance, KindTotals, SameHourTotals
from aurora.storage.tables import COMMAND_RUN


def needed_hours(now: datetime) -> list[datetime]:
    """Every hour the glance reaches, oldest first: the 30 days before the chart's 24 hours, then those."""
    first = window_hours(now)[0] - BASELINE_DAYS * DAY
    return [first + index * HOUR for index in range(BASELINE_DAYS * HOURS + HOURS)]


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
