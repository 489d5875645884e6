"""The dashboard page. Served with the current KPI figures already in it (so they show at the
first render, without waiting for a callback round trip); the refresh callback keeps it current."""

from __future__ import annotations

from dash import dcc, html

from aurora.api.stream import RETRY_MILLISECONDS, STREAM_PATH
from aurora.layouts import ids
from aurora.layouts.alerts_strip import alert_strip
from aurora.layouts.bot_health import bot_health_section
from aurora.layouts.figures import message_figure
from aurora.layouts.formatting import (
    KpiView,
    bot_status_text,
    clock_time,
    commands_view,
    ping_view,
    servers_view,
    users_view,
)
from aurora.layouts.interactive_day_layout import (
    HIDE_TABLE,
    SHOW_TABLE,
    below_chart,
    chart_title,
    day_stores,
    glance_section,
    hour_panel_section,
    table_toggle,
    zone_toggle,
)
from aurora.stats.json_form import alerts_to_list
from aurora.stats.model import Stats

LOADING = "Loading…"
# Every open page gets a stream event at the same moment: each waits a random moment of up to this
# before asking for the new figures, so the server sees them asked over a few seconds, not in a burst
# (1,000 pages over 2 s was at one worker's capacity; over 3 s their requests' p99 fell from 0.8–1.5 s
# to 0.21 s, every page still updated within 3.1 s: bench/RESULTS.md).
SPREAD_MILLISECONDS = 3000

# card id, title, icon, how its figure reads
KPI_CARDS = (
    (ids.KPI_SERVERS, "Total Servers", "▣", servers_view),
    (ids.KPI_USERS, "Active Users", "●", users_view),
    (ids.KPI_COMMANDS, "Commands (24 h)", "⌘", commands_view),
    (ids.KPI_PING, "Avg Ping", "↯", ping_view),
)


def kpi_card(card_id: str, title: str, icon: str, view: KpiView | None) -> html.Div:
    if view is None:
        value = html.Div(LOADING, id=ids.kpi_value(card_id), className="kpi-value loading")
        change = html.Div("", id=ids.kpi_change(card_id), className="kpi-change muted")
    else:
        value = html.Div(view.value, id=ids.kpi_value(card_id), className="kpi-value")
        change = html.Div(view.change, id=ids.kpi_change(card_id), className=f"kpi-change {view.tone}")
    return html.Div(
        className="card kpi",
        id=card_id,
        children=[
            # The title as bare text (a flex item all the same): every Dash component costs the first render.
            html.Div(className="kpi-head", children=[html.Span(icon, className="kpi-icon"), title]),
            value,
            change,
        ],
    )


def flag_badge(text: str, component_id: str, kind: str, title: str, *, shown: bool) -> html.Span:
    """A badge that says what the figures are not (live data, a real Discord), hidden otherwise. Its
    explanation is a hover on a wide screen and visible text under it on a phone (no hover there)."""
    return html.Span(
        [text, html.Span(title, className="badge-note")],
        id=component_id, className=f"badge {kind}", title=title, hidden=not shown,
    )


def header(stats: Stats | None) -> html.Header:
    return html.Header(
        className="topbar",
        children=[
            html.Div(
                className="brand",
                children=[html.Span("◆", className="brand-mark"), html.H1("Aurora Dashboard")],
            ),
            html.Div(
                className="topbar-meta",
                children=[
                    flag_badge("Demo data", ids.DEMO_BADGE, "demo", "Generated data, not a live bot's records",
                               shown=bool(stats and stats.demo)),
                    flag_badge("Simulated Discord", ids.SIMULATED_BADGE, "simulated",
                               "The bot is logged in to a Discord simulated on this machine",
                               shown=bool(stats and stats.simulated)),
                    html.Span(
                        bot_status_text(stats) if stats else LOADING,
                        id=ids.BOT_STATUS,
                        className=f"badge bot {stats.bot.status}" if stats else "badge bot muted",
                    ),
                    zone_toggle(),
                    html.Span(
                        "Updated " + clock_time(stats.generated_at) if stats else "", id=ids.UPDATED_AT, className="updated"
                    ),
                ],
            ),
        ],
    )


def alerts_section(stats: Stats | None) -> html.Section:
    children, hidden = alert_strip(alerts_to_list(stats.alerts) if stats else [])
    return html.Section(children, id=ids.ALERTS, className="card alerts", hidden=hidden)


def page_settings() -> dict:
    """What the page's scripts (assets/live.js) are handed: the ids they set, the stream's address and
    timings, the table switch's labels."""
    return {
        "liveStats": ids.LIVE_STATS,
        "interval": ids.REFRESH_INTERVAL,
        "streamPath": STREAM_PATH,
        "retryMilliseconds": RETRY_MILLISECONDS,
        "spreadMilliseconds": SPREAD_MILLISECONDS,
        "showTable": SHOW_TABLE,
        "hideTable": HIDE_TABLE,
    }


def build_layout(refresh_seconds: int, stats: Stats | None = None) -> html.Div:
    """The page; `stats` (None before the first result) pre-fills the KPI cards and the header."""
    return html.Div(
        className="shell",
        children=[
            header(stats),
            html.Div(id=ids.STATUS_BANNER, className="banner", role="status", hidden=True),
            alerts_section(stats),
            html.Main(
                className="content",
                children=[
                    html.Section(
                        id=ids.KPI_GRID,
                        className="kpi-grid",
                        children=[
                            kpi_card(card_id, title, icon, view_of(stats) if stats else None)
                            for card_id, title, icon, view_of in KPI_CARDS
                        ],
                    ),
                    html.Section(
                        className="grid-2",
                        children=[
                            # The selected hour's panel right under its chart, where the eye is; then
                            # the day at a glance, beside the events rather than below everything.
                            html.Div(className="stack", children=[html.Div(
                                className="card chart-card",
                                children=[
                                    html.Div(
                                        className="card-head",
                                        children=[
                                            chart_title(),
                                            html.Div(
                                                className="card-actions",
                                                children=[
                                                    table_toggle(),
                                                    html.A(
                                                        "Download CSV",
                                                        id=ids.DOWNLOAD_CSV,
                                                        href="/api/activity.csv",
                                                        download="aurora-activity.csv",
                                                        className="button",
                                                    ),
                                                ],
                                            ),
                                        ],
                                    ),
                                    dcc.Graph(
                                        id=ids.ACTIVITY_CHART,
                                        # Never an empty chart's bare axes while the first figures are awaited.
                                        figure=message_figure(LOADING),
                                        config={"displayModeBar": False, "responsive": True},
                                        style={"height": "320px"},
                                    ),
                                    *below_chart(),
                                ],
                            ), hour_panel_section(), glance_section()]),
                            html.Div(
                                className="side",
                                children=[
                                    html.Div(
                                        className="card",
                                        children=[
                                            html.H2("Recent events"),
                                            html.Ul(
                                                [html.Li(LOADING, className="event muted")],
                                                id=ids.RECENT_EVENTS,
                                                className="events",
                                            ),
                                        ],
                                    ),
                                    html.Div(
                                        className="card",
                                        children=[
                                            html.H2("Top commands (24 h)"),
                                            html.Ol(id=ids.TOP_COMMANDS, className="top-commands"),
                                            html.Div(id=ids.SHARDS, className="shards"),
                                        ],
                                    ),
                                ],
                            ),
                        ],
                    ),
                    bot_health_section(),
                ],
            ),
            *day_stores(),
            dcc.Interval(id=ids.REFRESH_INTERVAL, interval=refresh_seconds * 1000, n_intervals=0),
            dcc.Store(id=ids.LIVE_STATS),
            dcc.Store(id=ids.RENDERED_STATS),
            dcc.Store(id=ids.LIVE_STATS_READY, data=False),
            dcc.Store(id=ids.PAGE_SETTINGS, data=page_settings()),
        ],
    )
