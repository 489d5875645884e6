"""The "Bot health" section: per-command answers over 24 h (sortable, the worst rows marked with
text and an icon as well as colour), a 24-h line of p95 and late answers per hour, and the
gateway's connected share and reconnects. Filled by the page's refresh callback, from the same
render as the rest of the page (the bot's snapshot is part of every stats version)."""

from __future__ import annotations

import plotly.graph_objects as go
from dash import Output, dcc, html

from aurora.bot.command_health.figures import CommandHealth, CommandTiming
from aurora.bot.command_health.slots import SLOT, SLOTS_KEPT
from aurora.bot.snapshot import BotSnapshot
from aurora.layouts import ids
from aurora.layouts.figures import (
    COMMAND_COLOUR,
    GRID_COLOUR,
    TEXT_COLOUR,
    chart_hours,
    hover_labels,
    message_figure,
)
from aurora.layouts.formatting import clock_time, shown_text
from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.stats.command_health_form import failure_percent

LATE_COLOUR = "#D55E00"  # Okabe-Ito vermillion, apart from the p95 line's blue for any colour vision
FAILING_PERCENT = 5.0
SORTS = {
    "p95": ("Slowest", lambda row: -(row.p95_ms or 0)),
    "failures": ("Most failures", lambda row: -failure_percent(row)),
    "late": ("Most late", lambda row: -row.late),
    "runs": ("Most runs", lambda row: -row.runs),
    "name": ("Name", lambda row: row.name),
}
DEFAULT_SORT = "p95"
COLUMNS = ("Command", "Runs", "p50", "p95", "p99", "Failures", "Late", "Marks")
LOADING = "Loading…"
NO_BOT = "No figures from the bot: it is not running, or has not reported yet."
NO_ANSWERS = "No answers to chart in the last 24 hours"
CHART_HEIGHT = 220
OUTPUTS = [
    Output(ids.BOT_HEALTH_TABLE, "children"),
    Output(ids.BOT_HEALTH_CHART, "figure"),
    Output(ids.BOT_HEALTH_SUMMARY, "children"),
    Output(ids.BOT_HEALTH_SINCE, "children"),
]


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{round(value)} ms"


def marks(row: CommandTiming, slowest: str | None) -> list[str]:
    """What makes a row one of the worst, in words (each with an icon; the row is coloured too)."""
    found = []
    if row.name == slowest:
        found.append("▲ slowest")
    if failure_percent(row) >= FAILING_PERCENT:
        found.append("✖ failing")
    if row.late:
        found.append("⏱ late answers")
    return found


def table(health: CommandHealth, sort: str | None) -> html.Table | html.P:
    if not health.commands:
        return html.P("No commands answered in this window.", className="muted")
    _, key = SORTS.get(sort or "", SORTS[DEFAULT_SORT])
    timed = [row for row in health.commands if row.p95_ms is not None]
    slowest = max(timed, key=lambda row: row.p95_ms or 0).name if len(timed) > 1 else None
    body = []
    for row in sorted(health.commands, key=lambda row: (key(row), row.name)):
        row_marks = marks(row, slowest)
        name = shown_text(row.name)
        body.append(
            html.Tr(
                className="worst" if row_marks else None,
                children=[
                    html.Th(html.Bdi(name.text), scope="row", title=name.title),
                    html.Td(f"{row.runs:,}"),
                    html.Td(_ms(row.p50_ms)),
                    html.Td(_ms(row.p95_ms)),
                    html.Td(_ms(row.p99_ms)),
                    html.Td(f"{failure_percent(row):.1f} %"),
                    html.Td(f"{row.late:,}"),
                    html.Td(", ".join(row_marks)),
                ],
            )
        )
    return html.Table(
        className="data-table bot-health-table",
        children=[
            html.Caption(f"Sorted: {SORTS.get(sort or '', SORTS[DEFAULT_SORT])[0].lower()} first; times from creation to end"),
            html.Thead(html.Tr([html.Th(column, scope="col") for column in COLUMNS])),
            html.Tbody(body),
        ],
    )


def health_figure(health: CommandHealth | None, zone: ViewZone = UTC_VIEW) -> go.Figure:
    """The 24-h line; a message instead while no hour has an answer (bare axes would read as data)."""
    hours = list(health.hours) if health else []
    if not any(hour.runs or hour.late for hour in hours):
        return message_figure(NO_ANSWERS if health else NO_BOT, height=CHART_HEIGHT)
    x = chart_hours(hours)
    labels = zone.hour_labels([hour.hour for hour in hours])
    ticks = list(range(0, len(hours), 3))
    # The layout handed in at once: checked once, not copied and checked again per update.
    return go.Figure(
        data=[
            go.Bar(name="Late answers", x=x, y=[hour.late for hour in hours], yaxis="y2", marker_color=LATE_COLOUR,
                   hovertext=hover_labels(hours, zone), hovertemplate="%{hovertext}<br>%{y:,d} late<extra></extra>"),
            go.Scatter(name="p95 (ms)", x=x, y=[hour.p95_ms for hour in hours], mode="lines+markers",
                       line={"color": COMMAND_COLOUR, "width": 2}, connectgaps=False,
                       hovertext=hover_labels(hours, zone),
                       hovertemplate="%{hovertext}<br>p95 %{y:,.0f} ms<extra></extra>"),
        ],
        layout={
            "template": go.layout.Template(), "height": CHART_HEIGHT, "margin": {"l": 48, "r": 40, "t": 8, "b": 32},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": TEXT_COLOUR, "family": "Inter, system-ui, sans-serif"},
            "legend": {"orientation": "h", "y": 1.18, "x": 0}, "hovermode": "closest", "uirevision": "bot-health",
            "xaxis": {"showgrid": False, "tickmode": "array", "tickvals": [x[i] for i in ticks],
                      "ticktext": [labels[i] for i in ticks]},
            "yaxis": {"title": "p95, ms", "gridcolor": GRID_COLOUR, "rangemode": "tozero"},
            # Whole numbers only: with few late answers Plotly would tick 0.5 steps and print "1, 1, 0".
            "yaxis2": {"title": "late", "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False,
                       "tickformat": ",d", "dtick": late_tick_step(max(hour.late for hour in hours))},
        },
    )


def late_tick_step(most_late: int) -> int:
    """A whole step giving at most about five ticks."""
    return max(1, -(-most_late // 5))


def summary_text(health: CommandHealth) -> str:
    gateway = health.gateway
    parts = [
        f"Connected {gateway.connected_share * 100:.1f} % of the window" if gateway.connected_share is not None
        else "Connected share not known yet",
        f"{gateway.reconnects:,} reconnects, {gateway.resumes:,} resumes",
        f"servers +{gateway.guilds_joined:,} / −{gateway.guilds_left:,}",
        f"{health.late_last_hour:,} late answers in the last hour",
    ]
    if health.rss_bytes is not None:
        parts.append(f"memory {health.rss_bytes / 2**20:,.0f} MB")
    if health.cpu_percent is not None:
        parts.append(f"CPU {health.cpu_percent:.1f} %")
    return " · ".join(parts)


def since_text(health: CommandHealth, now, zone: ViewZone) -> str:
    """Said only when the window holds less than 24 h (a restart without Redis started it afresh)."""
    if health.since > now - SLOTS_KEPT * SLOT + SLOT:
        return f"Since {clock_time(health.since, zone)}: the bot restarted and its window fills up to 24 h."
    return ""


def section_values(bot: BotSnapshot, sort: str | None, zone: ViewZone = UTC_VIEW) -> list:
    """[table, figure, summary, since] for the section's outputs, from the bot's own snapshot: its
    health never waits for the database, and shows while the database fails."""
    health = bot.command_health
    if health is None:
        return [html.P(NO_BOT, className="muted"), health_figure(None, zone), "", ""]
    return [table(health, sort), health_figure(health, zone), summary_text(health),
            since_text(health, bot.taken_at, zone)]


def values_by_sort(bot: BotSnapshot, zone: ViewZone = UTC_VIEW) -> dict[str, list]:
    """`section_values` for every sort order (what a render holds: the sort is each viewer's own),
    the chart and the texts made once."""
    shared = section_values(bot, DEFAULT_SORT, zone)
    health = bot.command_health
    return {sort: [table(health, sort) if health else shared[0], *shared[1:]] for sort in SORTS}


def bot_health_section() -> html.Section:
    """The section's frame; the page's refresh callback fills it at load (once: the figures ride in
    one answer, not also in the layout) and at each refresh."""
    return html.Section(
        id=ids.BOT_HEALTH,
        className="card bot-health",
        **{"aria-labelledby": f"{ids.BOT_HEALTH}-title"},
        children=[
            html.Div(
                className="card-head",
                children=[
                    html.H2("Bot health, last 24 hours", id=f"{ids.BOT_HEALTH}-title"),
                    dcc.RadioItems(
                        id=ids.BOT_HEALTH_SORT, value=DEFAULT_SORT, inline=True, className="sort-choice",
                        options=[{"label": label, "value": value} for value, (label, _) in SORTS.items()],
                    ),
                ],
            ),
            html.P(id=ids.BOT_HEALTH_SINCE, className="muted"),
            html.Div(html.P(LOADING, className="muted"), id=ids.BOT_HEALTH_TABLE, className="table-wrap"),
            dcc.Graph(id=ids.BOT_HEALTH_CHART, config={"displayModeBar": False, "responsive": True},
                      style={"height": f"{CHART_HEIGHT}px"}),
            html.P(id=ids.BOT_HEALTH_SUMMARY, className="muted"),
        ],
    )
