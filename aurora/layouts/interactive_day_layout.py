"""The interactive day's place in the page layout: the chart's controls, the hour panel, the day at a
glance, the time-zone switch and the stores behind them (filled by
`aurora.layouts.interactive_day_callbacks`)."""

from __future__ import annotations

from dash import dcc, html

from aurora.layouts import ids

SHOW_TABLE = "Show as table"
HIDE_TABLE = "Hide table"


def zone_toggle() -> html.Button:
    # Labelled by the zone-label callback once the browser's zone and the kept choice are known.
    return html.Button(
        "Times: UTC", id=ids.ZONE_TOGGLE, className="button", title="Switch between UTC and your time"
    )


def chart_title() -> html.H2:
    return html.H2(["Activity, last 24 hours ", html.Span("(UTC)", id=ids.ACTIVITY_ZONE)])


def table_toggle() -> html.Button:
    return html.Button(
        SHOW_TABLE,
        id=ids.TABLE_TOGGLE,
        className="button",
        n_clicks=0,
        **{"aria-pressed": "false", "aria-controls": ids.ACTIVITY_TABLE},
    )


def below_chart() -> list:
    """Under the chart: the zone note and the chart as a table (hidden until asked; each row's hour
    opens its panel, like a click or Enter on its bar)."""
    return [
        html.P(id=ids.ZONE_NOTE, className="zone-note muted", hidden=True),
        html.Div(id=ids.ACTIVITY_TABLE, className="table-wrap", hidden=True),
    ]


def hour_panel_section() -> html.Section:
    """The selected hour's panel: its heading and Close button always there (hidden with it), the body
    filled per hour."""
    return html.Section(
        id=ids.HOUR_PANEL,
        className="card hour-panel",
        hidden=True,
        role="region",
        **{"aria-labelledby": ids.HOUR_PANEL_TITLE},
        children=[
            html.Div(
                className="card-head",
                children=[
                    html.H2(id=ids.HOUR_PANEL_TITLE),
                    html.Button("Close", id=ids.HOUR_PANEL_CLOSE, className="button", title="Close (Escape)"),
                ],
            ),
            html.Div(id=ids.HOUR_PANEL_BODY, **{"aria-live": "polite"}),
        ],
    )


def glance_section() -> html.Section:
    """Empty in the layout: the refresh callback's first answer fills it, with the recent events and
    the top commands. Its sixty-odd components pre-filled cost more than they show: Dash's renderer
    works per component mounted, against every component already mounted, before the page's first
    paint, and the KPI figures above waited for them (the glance is below the chart, and the refresh
    sent it again at once)."""
    return html.Section(id=ids.GLANCE, className="grid-2 glance", children=[])


def day_stores() -> list:
    return [
        # refresh=False: writing the hash (the selected hour) changes the address without a reload.
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.ZONE_CHOICE, storage_type="local"),
        dcc.Store(id=ids.BROWSER_ZONE),
    ]
