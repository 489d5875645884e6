"""The dashboard page: a static shell whose values the refresh callback fills in."""

from __future__ import annotations

from dash import dcc, html

from aurora import ids

LOADING = "Loading…"


def kpi_card(card_id: str, title: str, icon: str) -> html.Div:
    return html.Div(
        className="card kpi",
        id=card_id,
        children=[
            html.Div(className="kpi-head", children=[html.Span(icon, className="kpi-icon"), html.Span(title)]),
            html.Div(LOADING, id=ids.kpi_value(card_id), className="kpi-value loading"),
            html.Div("", id=ids.kpi_change(card_id), className="kpi-change muted"),
        ],
    )


def header() -> html.Header:
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
                    html.Span(
                        "Demo data",
                        id=ids.DEMO_BADGE,
                        className="badge demo",
                        title="Generated demo data, not a live bot's records",
                        hidden=True,
                    ),
                    html.Span(LOADING, id=ids.BOT_STATUS, className="badge bot muted"),
                    html.Span("", id=ids.UPDATED_AT, className="updated"),
                ],
            ),
        ],
    )


def build_layout(refresh_seconds: int) -> html.Div:
    return html.Div(
        className="shell",
        children=[
            header(),
            html.Div(id=ids.STATUS_BANNER, className="banner", role="status", hidden=True),
            html.Main(
                className="content",
                children=[
                    html.Section(
                        id=ids.KPI_GRID,
                        className="kpi-grid",
                        children=[
                            kpi_card(ids.KPI_SERVERS, "Total Servers", "▣"),
                            kpi_card(ids.KPI_USERS, "Active Users", "●"),
                            kpi_card(ids.KPI_COMMANDS, "Commands (24 h)", "⌘"),
                            kpi_card(ids.KPI_PING, "Avg Ping", "↯"),
                        ],
                    ),
                    html.Section(
                        className="grid-2",
                        children=[
                            html.Div(
                                className="card chart-card",
                                children=[
                                    html.Div(
                                        className="card-head",
                                        children=[
                                            html.H2("Activity, last 24 hours (UTC)"),
                                            html.A(
                                                "Download CSV",
                                                id=ids.DOWNLOAD_CSV,
                                                href="/api/activity.csv",
                                                download="aurora-activity.csv",
                                                className="button",
                                            ),
                                        ],
                                    ),
                                    dcc.Graph(
                                        id=ids.ACTIVITY_CHART,
                                        config={"displayModeBar": False, "responsive": True},
                                        style={"height": "340px"},
                                    ),
                                ],
                            ),
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
                ],
            ),
            dcc.Interval(id=ids.REFRESH_INTERVAL, interval=refresh_seconds * 1000, n_intervals=0),
            dcc.Store(id=ids.LIVE_STATS),
            html.Span(id=ids.LIVE_STATS_READY, hidden=True),
        ],
    )
