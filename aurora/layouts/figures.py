"""Stats -> Plotly figures. Pure functions: no I/O, no Dash."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go

from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.models import ActivityPoint, SameHourTotals, iso_utc

# Okabe-Ito: told apart with any colour vision (blue and orange; the means sky blue and yellow, dotted).
COMMAND_COLOUR = "#0072B2"
TRANSACTION_COLOUR = "#E69F00"
COMMAND_MEAN_COLOUR = "#56B4E9"
TRANSACTION_MEAN_COLOUR = "#F0E442"
GRID_COLOUR = "rgba(148, 163, 184, 0.15)"
TEXT_COLOUR = "#94a3b8"
SERIES_NAMES = ("Commands", "Other transactions", "Commands, 7-day same-hour mean", "Transactions, 7-day same-hour mean")


def chart_hours(points, zone: ViewZone) -> list[datetime]:
    """The points' hours as the viewer's wall-clock times (naive: Plotly shows them as they are)."""
    return [zone.local(point.hour).replace(tzinfo=None) for point in points]


def activity_figure(
    points: tuple[ActivityPoint, ...] | list[ActivityPoint],
    same_hour: tuple[SameHourTotals, ...] = (),
    zone: ViewZone = UTC_VIEW,
) -> go.Figure:
    """Bars per hour and, when known, the 7-day same-hour means as dotted lines. Each point carries
    its UTC hour as customdata: a click on the chart selects that hour."""
    hours = chart_hours(points, zone)
    utc_hours = [iso_utc(point.hour) for point in points]
    when = f"%{{x|%H:%M}} {zone.abbreviation(points[-1].hour) if points else 'UTC'}"
    data = [
        go.Bar(
            name=name,
            x=hours,
            y=values,
            customdata=utc_hours,
            marker_color=colour,
            hovertemplate=f"{when}<br>%{{y:,d}} {noun}<extra></extra>",
        )
        for name, colour, values, noun in (
            (SERIES_NAMES[0], COMMAND_COLOUR, [point.commands for point in points], "commands"),
            (SERIES_NAMES[1], TRANSACTION_COLOUR, [point.transactions for point in points], "transactions"),
        )
    ]
    if same_hour:
        for name, colour, values in (
            (SERIES_NAMES[2], COMMAND_MEAN_COLOUR, [totals.commands_mean for totals in same_hour]),
            (SERIES_NAMES[3], TRANSACTION_MEAN_COLOUR, [totals.transactions_mean for totals in same_hour]),
        ):
            data.append(
                go.Scatter(
                    name=name,
                    x=chart_hours(same_hour, zone),
                    y=values,
                    customdata=[iso_utc(totals.hour) for totals in same_hour],
                    mode="lines",
                    opacity=0.8,
                    line={"color": colour, "width": 2, "dash": "dot", "shape": "hvh"},
                    hovertemplate=f"{when}<br>7-day mean %{{y:,.1f}}<extra></extra>",
                )
            )
    figure = go.Figure(data=data)
    figure.update_layout(
        barmode="group",
        bargap=0.25,
        margin={"l": 40, "r": 16, "t": 8, "b": 32},
        height=320,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": TEXT_COLOUR, "family": "Inter, system-ui, sans-serif"},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        hovermode="x unified",
        clickmode="event",
        # The legend's hidden series stay hidden across refreshes.
        uirevision="activity",
    )
    # Ticks from the first bar: in a zone with a half-hour offset they read :30, like the bars.
    figure.update_xaxes(showgrid=False, tickformat="%H:%M", dtick=3 * 3600 * 1000, tick0=hours[0] if hours else None)
    figure.update_yaxes(gridcolor=GRID_COLOUR, rangemode="tozero", tickformat=",d")
    return figure
