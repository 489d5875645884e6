"""Stats -> Plotly figures. Pure functions: no I/O, no Dash."""

from __future__ import annotations

import plotly.graph_objects as go

from aurora.models import ActivityPoint

COMMAND_COLOUR = "#7c83ff"
TRANSACTION_COLOUR = "#2dd4bf"
GRID_COLOUR = "rgba(148, 163, 184, 0.15)"
TEXT_COLOUR = "#94a3b8"


def activity_figure(points: tuple[ActivityPoint, ...] | list[ActivityPoint]) -> go.Figure:
    hours = [point.hour for point in points]
    figure = go.Figure(
        data=[
            go.Bar(
                name="Commands",
                x=hours,
                y=[point.commands for point in points],
                marker_color=COMMAND_COLOUR,
                hovertemplate="%{x|%H:00} UTC<br>%{y} commands<extra></extra>",
            ),
            go.Bar(
                name="Other transactions",
                x=hours,
                y=[point.transactions for point in points],
                marker_color=TRANSACTION_COLOUR,
                hovertemplate="%{x|%H:00} UTC<br>%{y} transactions<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        bargap=0.25,
        margin={"l": 40, "r": 16, "t": 8, "b": 32},
        height=320,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": TEXT_COLOUR, "family": "Inter, system-ui, sans-serif"},
        legend={"orientation": "h", "y": 1.08, "x": 0},
        hovermode="x unified",
        uirevision="activity",
    )
    figure.update_xaxes(showgrid=False, tickformat="%H:00", dtick=3 * 3600 * 1000)
    figure.update_yaxes(gridcolor=GRID_COLOUR, rangemode="tozero", tickformat=",d")
    return figure
