"""Stats -> Plotly figures. Pure functions: no I/O, no Dash."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import plotly.graph_objects as go

from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.stats.model import ActivityPoint, SameHourTotals, iso_utc

# Okabe-Ito: told apart with any colour vision (blue and orange; the means sky blue and yellow, dotted).
# These are the dark theme's; assets/theme.css gives the means darker colours on a light page, and
# draws the current hour's bars (still filling) lighter: the theme lives in CSS, not in every update.
COMMAND_COLOUR = "#0072B2"
TRANSACTION_COLOUR = "#E69F00"
COMMAND_MEAN_COLOUR = "#56B4E9"
TRANSACTION_MEAN_COLOUR = "#F0E442"
GRID_COLOUR = "rgba(148, 163, 184, 0.15)"
TEXT_COLOUR = "#94a3b8"
# Short enough for the legend to fit one line above a wide chart.
SERIES_NAMES = ("Commands", "Other transactions", "Commands, 7-day mean", "Transactions, 7-day mean")
SO_FAR = " · so far"


TICK_EVERY_HOURS = 3
# Plotly's annotations never wrap: a message breaks into lines this long, which fit a phone's chart.
MESSAGE_LINE_CHARACTERS = 36


def chart_hours(points) -> list[datetime]:
    """Where the points stand on the x axis: their UTC hours (naive: Plotly has no zones). Never local
    times: on a day the clocks go back two hours have the same local time, and their bars would merge."""
    return [point.hour.astimezone(UTC).replace(tzinfo=None) for point in points]


def hover_labels(points, zone: ViewZone) -> list[str]:
    """Each point's time as its hover says it, with the abbreviation of its own offset; the last one,
    the current hour, is counted so far."""
    labels = [zone.clock_label(point.hour) for point in points]
    return [*labels[:-1], labels[-1] + SO_FAR] if labels else labels


def activity_figure(
    points: tuple[ActivityPoint, ...] | list[ActivityPoint],
    same_hour: tuple[SameHourTotals, ...] = (),
    zone: ViewZone = UTC_VIEW,
) -> go.Figure:
    """Bars per hour (the last, the current hour, still filling) and, when known, the 7-day same-hour
    means as dotted lines. The bars stand on their
    UTC hours, the axis and hovers read the viewer's time (each point its own, with its own
    abbreviation). Each point carries its UTC hour as customdata: a click on the chart selects that hour."""
    hours = chart_hours(points)
    utc_hours = [iso_utc(point.hour) for point in points]
    when = "%{hovertext}"
    data = [
        go.Bar(
            name=name,
            x=hours,
            y=values,
            customdata=utc_hours,
            hovertext=hover_labels(points, zone),
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
                    x=chart_hours(same_hour),
                    y=values,
                    customdata=[iso_utc(totals.hour) for totals in same_hour],
                    hovertext=[zone.clock_label(totals.hour) for totals in same_hour],
                    mode="lines",
                    line={"color": colour, "width": 2.5, "dash": "dot", "shape": "hvh"},
                    hovertemplate=f"{when}<br>7-day mean %{{y:,.1f}}<extra></extra>",
                )
            )
    # Ticks at every third bar, labelled with that bar's local time (":30" in a zone with a half-hour
    # offset; after a change of the clocks, the new offset).
    ticks = list(range(0, len(points), TICK_EVERY_HOURS))
    labels = zone.hour_labels([point.hour for point in points])
    # The whole layout handed in at once: checked once, where updates after the fact would each
    # copy and check the figure again (the render of every stats version and zone makes one).
    return go.Figure(data=data, layout={
        # No template: plotly's default one (7 KB) would ride along in every refresh, and this layout
        # sets every colour it uses itself.
        "template": go.layout.Template(),
        "barmode": "group",
        "bargap": 0.25,
        "margin": {"l": 40, "r": 16, "t": 8, "b": 32},
        "height": 320,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": TEXT_COLOUR, "family": "Inter, system-ui, sans-serif"},
        # Above the plot, outside it: Plotly makes room for it, so it never covers a bar; on a narrow
        # page it wraps onto more lines, still above.
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        # Each point's hover names its own time: a unified hover's title would show the axis value,
        # the UTC hour the bar stands on.
        "hovermode": "closest",
        "clickmode": "event",
        # The legend's hidden series stay hidden across refreshes.
        "uirevision": "activity",
        "xaxis": {"showgrid": False, "tickmode": "array", "tickvals": [hours[index] for index in ticks],
                  "ticktext": [labels[index] for index in ticks]},
        "yaxis": {"gridcolor": GRID_COLOUR, "rangemode": "tozero", "tickformat": ",d"},
    })


def message_figure(text: str, height: int = 320) -> go.Figure:
    """No chart, only `text` where it would stand: an empty chart's bare axes would read as "no activity"."""
    return go.Figure(layout={
        "template": go.layout.Template(),
        "height": height,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "annotations": [{"text": "<br>".join(textwrap.wrap(text, MESSAGE_LINE_CHARACTERS)), "showarrow": False,
                         "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                         "font": {"color": TEXT_COLOUR, "size": 14}}],
    })
