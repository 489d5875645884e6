"""The public shape of the day's figures by kind, written once (answer and schema): `economy` and
`moderation` in `/api/stats` (the activity chart's 24 hours against the 30-day daily mean), and one
hour's breakdown (`/api/activity/hours/<hour>`)."""

from __future__ import annotations

from functools import partial

from aurora.stats.json_shape import COINS, COUNT, HOUR_TIMESTAMP, NAMED_COUNT, STRING, Prop, array, leaf, obj
from aurora.stats.kpi_changes import kind_change
from aurora.stats.model import COIN_FLOWS, DayAtAGlance, KindTotals

PERCENT_FROM_DAILY_MEAN = leaf({"type": "number"}).nullable().described(
    "percent change against the daily mean of the 30 days before, one decimal; null for a zero mean"
)


def flow_totals(glance: DayAtAGlance, kind: str) -> KindTotals:
    """The chart's 24 hours of one transaction type (zeros where it did not occur)."""
    by_kind = {totals.kind: totals for totals in glance.transactions}
    return by_kind.get(kind) or KindTotals(kind, 0, 0, 0, 0)


def case_totals(glance: DayAtAGlance) -> KindTotals:
    """Every moderation case of the chart's 24 hours, whatever its type."""
    cases = glance.cases
    return KindTotals("total", sum(totals.count for totals in cases), 0, sum(totals.baseline_count for totals in cases), 0)


def _coins_change(totals: KindTotals) -> float | None:
    return kind_change(totals, coins=True)


def _count_change(totals: KindTotals) -> float | None:
    return kind_change(totals, coins=False)


FLOW = obj(Prop("coins", COINS, "coins"), Prop("changePercentFromDailyMean", PERCENT_FROM_DAILY_MEAN, _coins_change))
ECONOMY = obj(
    *(Prop(flow, FLOW, partial(flow_totals, kind=kind)) for flow, kind in COIN_FLOWS),
    Prop("byKind", array(obj(Prop("kind", STRING, "kind"), Prop("count", COUNT, "count"), Prop("coins", COINS, "coins"),
                             Prop("changePercentFromDailyMean", PERCENT_FROM_DAILY_MEAN, _coins_change))),
         "transactions"),
).nullable()
MODERATION = obj(
    Prop("total", obj(Prop("count", COUNT, "count"), Prop("changePercentFromDailyMean", PERCENT_FROM_DAILY_MEAN,
                                                           _count_change)), case_totals),
    Prop("byKind", array(obj(Prop("kind", STRING, "kind"), Prop("count", COUNT, "count"),
                             Prop("changePercentFromDailyMean", PERCENT_FROM_DAILY_MEAN, _count_change))), "cases"),
).nullable()

# The earlier days in summary only: a list per day would let a client rebuild their hourly series.
SPREAD = obj(Prop("mean", leaf({"type": "number", "minimum": 0}, lambda mean: round(mean, 2)), "mean"),
             Prop("min", COUNT, "min"), Prop("max", COUNT, "max"))
HOUR_BREAKDOWN = obj(
    Prop("hour", HOUR_TIMESTAMP, "hour"),
    Prop("commands", obj(Prop("total", COUNT, "commands_total"), Prop("byName", array(NAMED_COUNT), "commands"))),
    Prop("transactions", obj(
        Prop("total", COUNT, lambda items: sum(item.count for item in items)),
        Prop("coins", COINS, lambda items: sum(item.coins for item in items)),
        Prop("byKind", array(obj(Prop("kind", STRING, "kind"), Prop("count", COUNT, "count"),
                                 Prop("coins", COINS, "coins")))),
    ), "transactions"),
    Prop("moderation", obj(
        Prop("total", COUNT, lambda items: sum(item.count for item in items)),
        Prop("byKind", array(obj(Prop("kind", STRING, "kind"), Prop("count", COUNT, "count")))),
    ), "cases"),
    Prop("sameHourPreviousDays", obj(Prop("commands", SPREAD, "commands"), Prop("transactions", SPREAD, "transactions")),
         "same_hour"),
)

