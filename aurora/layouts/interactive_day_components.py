"""The interactive day's components: the chart as a table (each hour a button), one hour's panel, and
the economy and moderation at a glance. Pure functions of plain values, tested without a browser."""

from __future__ import annotations

from datetime import datetime, timedelta

from dash import html

from aurora.layouts.formatting import change_vs_daily_mean, shown_text
from aurora.layouts.labels import kind_label
from aurora.layouts.zones import UTC_VIEW, ViewZone, calendar_date
from aurora.stats.kpi_changes import daily_mean_change, kind_change
from aurora.stats.model import (
    COIN_FLOWS,
    SAME_HOUR_DAYS,
    ActivityPoint,
    DayAtAGlance,
    HourBreakdown,
    SameHourTotals,
    Spread,
    iso_utc,
)

COUNTING = "Counting the last 30 days…"
NONE_IN_DAY = "none in 24 h"


def hour_title(hour: datetime, zone: ViewZone) -> str:
    """An hour as a heading says it: its span in the viewer's zone, and the UTC hour when that differs."""
    start, begins = zone.shown(hour)
    try:
        end, ends = zone.shown(hour + timedelta(hours=1))
    except OverflowError:  # the calendar's last hour: its end is no Python moment, its start says it
        span = f"{start:%H:%M} {begins}"
    else:  # the clocks changing at its end: each time with its own abbreviation
        span = f"{start:%H:%M}–{end:%H:%M} {ends}" if begins == ends else f"{start:%H:%M} {begins}–{end:%H:%M} {ends}"
    text = f"{calendar_date(start)} {span}"
    return text if begins == "UTC" else f"{text} ({hour:%H:00} UTC)"


def hour_button_labels(points: tuple[ActivityPoint, ...], zone: ViewZone = UTC_VIEW) -> list[tuple[str, str]]:
    """(label, title) of each hour's button in the table: the hour in the viewer's zone (with its
    abbreviation where the clocks going back make a time repeat)."""
    labels = zone.hour_labels([point.hour for point in points])
    return [(label, f"Details of {hour_title(point.hour, zone)}") for label, point in zip(labels, points, strict=True)]


def hour_cell(label: str, title: str, hour: datetime) -> html.Th:
    """A table row's hour as a button that opens its panel, like a click on its bar (assets/chart_keys.js
    hands the hour to the chart's click)."""
    button = html.Button(label, className="hour-button", title=title, **{"data-hour": iso_utc(hour)})
    return html.Th(button, scope="row")


def _mean(totals: SameHourTotals | None, attribute: str) -> str:
    return "—" if totals is None else f"{getattr(totals, attribute):,.1f}"


def activity_table(
    points: tuple[ActivityPoint, ...], same_hour: tuple[SameHourTotals, ...] = (), zone: ViewZone = UTC_VIEW
) -> html.Table:
    """The chart's numbers as text: one row per hour."""
    means = {totals.hour: totals for totals in same_hour}
    labels = hour_button_labels(points, zone)
    head = ["Hour", "Commands", "Other transactions", "Commands, 7-day mean", "Transactions, 7-day mean"]
    rows = [
        html.Tr(
            [
                hour_cell(label, title, point.hour),
                html.Td(f"{point.commands:,}"),
                html.Td(f"{point.transactions:,}"),
                html.Td(_mean(means.get(point.hour), "commands_mean")),
                html.Td(_mean(means.get(point.hour), "transactions_mean")),
            ]
        )
        for (label, title), point in zip(labels, points, strict=True)
    ]
    caption = f"Activity per hour, last 24 hours ({zone.abbreviations([point.hour for point in points])})"
    return html.Table(
        [
            html.Caption(caption),
            html.Thead(html.Tr([html.Th(cell, scope="col") for cell in head])),
            html.Tbody(rows),
        ],
        className="data-table",
    )


def _name(raw: str) -> html.Bdi:
    """A name from the database (a command, a kind): cleaned, cut to its column, whole in its title."""
    name = shown_text(raw)
    return html.Bdi(name.text, className="count-name", title=name.title)


def _counts(items: list[tuple[str, str]], empty: str) -> html.Ul:
    if not items:
        return html.Ul([html.Li(empty, className="muted")], className="counts")
    return html.Ul(
        [html.Li([_name(name), html.Span(value, className="count-value")]) for name, value in items],
        className="counts",
    )


def _spread(spread: Spread) -> str:
    return f"mean {spread.mean:,.1f} · min {spread.min:,} · max {spread.max:,}"


def hour_panel(breakdown: HourBreakdown) -> list:
    """One hour's breakdown and how the same hour went on the days before, in summary (the panel's body)."""
    commands = [("/" + item.name, f"{item.count:,}") for item in breakdown.commands]
    unnamed = breakdown.commands_total - sum(item.count for item in breakdown.commands)
    if unnamed:
        commands.append(("(no name)", f"{unnamed:,}"))
    kinds = [(kind_label(item.kind), f"{item.count:,} · {item.coins:,} coins") for item in breakdown.transactions]
    cases = [(kind_label(item.kind), f"{item.count:,}") for item in breakdown.cases]
    return [
        html.Div(
            className="panel-grid",
            children=[
                html.Section([html.H3(f"Commands: {breakdown.commands_total:,}"), _counts(commands, "none")]),
                html.Section(
                    [
                        html.H3(
                            f"Other transactions: {sum(item.count for item in breakdown.transactions):,}"
                        ),
                        _counts(kinds, "none"),
                    ]
                ),
                html.Section(
                    [
                        html.H3(f"Moderation cases: {sum(item.count for item in breakdown.cases):,}"),
                        _counts(cases, "none"),
                    ]
                ),
                html.Section(
                    [
                        html.H3(f"Same hour, {SAME_HOUR_DAYS} days before"),
                        html.P(f"Commands: {_spread(breakdown.same_hour.commands)}", className="spread"),
                        html.P(f"Transactions: {_spread(breakdown.same_hour.transactions)}", className="spread"),
                    ]
                ),
            ],
        ),
    ]


def _figure(title: str, amount: int, percent: float | None, *, lower_is_better: bool = False) -> html.Div:
    # Nothing in 24 h is said as such: "-100 %" (in a reassuring green, when lower is better) reads as news.
    change, tone = (NONE_IN_DAY, "muted") if amount == 0 else change_vs_daily_mean(percent, lower_is_better=lower_is_better)
    return html.Div(
        className="glance-figure",
        children=[
            html.Div(_name(title), className="kpi-head"),
            html.Div(f"{amount:,}", className="glance-value"),
            html.Div(change, className=f"kpi-change {tone}"),
        ],
    )


def glance_items(glance: DayAtAGlance | None) -> list:
    """Coins earned, spent and transferred and moderation cases in the chart's 24 hours, each against
    its daily mean over the 30 days before."""
    if glance is None:
        return [html.P(COUNTING, className="muted")]
    by_kind = {totals.kind: totals for totals in glance.transactions}
    economy = []
    for flow, kind in COIN_FLOWS:
        totals = by_kind.get(kind)
        coins, baseline = (totals.coins, totals.baseline_coins) if totals else (0, 0)
        economy.append(_figure(f"Coins {flow}", coins, daily_mean_change(coins, baseline)))
    cases = glance.cases
    total = sum(totals.count for totals in cases)
    moderation = [
        _figure(
            "Moderation cases",
            total,
            daily_mean_change(total, sum(totals.baseline_count for totals in cases)),
            lower_is_better=True,
        ),
        *(
            _figure(
                kind_label(totals.kind), totals.count, kind_change(totals, coins=False), lower_is_better=True
            )
            for totals in cases
        ),
    ]
    kinds = [(kind_label(totals.kind), f"{totals.count:,} · {totals.coins:,} coins") for totals in glance.transactions]
    return [
        html.Div(
            className="card glance-card",
            children=[
                html.H2("Economy, last 24 hours"),
                html.Div(economy, className="glance-row"),
                _counts(kinds, "No transactions"),
            ],
        ),
        html.Div(
            className="card glance-card",
            children=[html.H2("Moderation, last 24 hours"), html.Div(moderation, className="glance-row")],
        ),
    ]
