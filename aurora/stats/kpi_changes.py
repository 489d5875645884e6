"""A KPI's change against its earlier figure, in percent: one rounding for the page, the API and
the CSV."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from aurora.stats.model import BASELINE_DAYS, KindTotals


def percent_change(base: Decimal | int, current: int) -> float | None:
    """(current - base) / base in percent, one decimal rounded half-up; None for a zero base."""
    base = Decimal(base)
    if base == 0:
        return None
    change = (Decimal(current) - base) * 100 / base
    return float(change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def daily_mean_change(current: int, baseline: int) -> float | None:
    """The last 24 hours against the daily mean of the BASELINE_DAYS days before, in percent."""
    return percent_change(Decimal(baseline) / BASELINE_DAYS, current)


def kind_change(totals: KindTotals, *, coins: bool) -> float | None:
    if coins:
        return daily_mean_change(totals.coins, totals.baseline_coins)
    return daily_mean_change(totals.count, totals.baseline_count)
