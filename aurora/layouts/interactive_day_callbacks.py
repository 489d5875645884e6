"""The interactive day's callbacks: thin wrappers over the plain functions here.

- A click on a bar, Enter on a focused bar or a click on a table row's hour (assets/chart_keys.js hands
  those two to the chart's click) writes the selected hour into the address (`#hour=2026-11-28T14:00Z`);
  the same hour again, Close or Escape (assets/day.js clicks Close) clears it. The panel follows the
  address, so a reload or a shared link shows it.
- The panel's numbers come from the hour breakdowns of the app's context (`aurora.stats.hours`).
- Times follow the viewer's zone (`aurora.layouts.zones`): the browser's zone (assets/day.js, through
  `Intl`) unless UTC was chosen; the choice is kept in the browser's local storage.
"""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, html, no_update

from aurora.layouts import ids
from aurora.layouts.interactive_day_components import activity_table, glance_items, hour_panel, hour_title
from aurora.layouts.interactive_day_layout import HIDE_TABLE, SHOW_TABLE
from aurora.layouts.zones import LOCAL_CHOICE, UTC_CHOICE, ViewZone, view_zone
from aurora.stats.hour_address import (
    BreakdownUnavailable,
    HourOutOfRange,
    MalformedHour,
    hour_hash,
    hour_of_hash,
    parse_hour,
)
from aurora.stats.model import Stats
from aurora.web.context import context_of

# Filled by the page's refresh callback (aurora.layouts.callbacks), after the chart; so is the chart's
# table, sent only while it is shown (its switch is a clientside callback there).
DAY_OUTPUTS = [
    Output(ids.GLANCE, "children"),
    Output(ids.ACTIVITY_ZONE, "children"),
    Output(ids.ZONE_NOTE, "children"),
    Output(ids.ZONE_NOTE, "hidden"),
]
ZONE_INPUTS = [Input(ids.ZONE_CHOICE, "data"), Input(ids.BROWSER_ZONE, "data")]
OUT_OF_RANGE = "That hour is no longer among the last 24 hours."
NOT_ANSWERED = "The database did not answer for this hour; select it again to retry."


def zone_heading(zone: ViewZone, stats: Stats) -> str:
    return "(UTC)" if zone.name == "UTC" else f"({zone.name}, {zone.offset_text(stats.generated_at)})"


def day_values(stats: Stats, zone: ViewZone) -> list:
    """DAY_OUTPUTS' values from one Stats."""
    note = zone.offset_note(stats.generated_at)
    return [
        glance_items(stats.glance),
        zone_heading(zone, stats),
        note,
        not note,
    ]


def clicked_hour(click: dict | None) -> str | None:
    """The UTC hour a chart click names (each point carries it as customdata)."""
    points = (click or {}).get("points") or []
    hour = points[0].get("customdata") if points and isinstance(points[0], dict) else None
    return hour if isinstance(hour, str) else None


def next_hash(trigger: str | None, value, current: str | None):
    """The address fragment after a click on `trigger` (an id) whose new value is `value`."""
    if trigger == ids.HOUR_PANEL_CLOSE:
        return "" if value else no_update
    text = clicked_hour(value) if trigger == ids.ACTIVITY_CHART else None
    try:
        hour = parse_hour(text) if isinstance(text, str) else None
    except (MalformedHour, HourOutOfRange):
        hour = None
    if hour is None:
        return no_update
    fragment = hour_hash(hour)
    return "" if fragment == current else fragment


def hour_panel_values(fragment: str | None, zone: ViewZone, breakdowns) -> list:
    """[hidden, title, body] of the hour panel for the address fragment."""
    hour = hour_of_hash(fragment)
    if hour is None:
        return [True, "", []]
    title = f"Hour {hour_title(hour, zone)}"
    try:
        breakdown = breakdowns.breakdown(hour)
    except HourOutOfRange:
        return [False, title, [html.P(OUT_OF_RANGE, className="muted")]]
    except BreakdownUnavailable:
        return [False, title, [html.P(NOT_ANSWERED, className="muted")]]
    return [False, title, hour_panel(breakdown)]


def already_shown(trigger: str | None, live_event_id: str | None, rendered: str | None) -> bool:
    """Whether the refresh was set off by a stream event for the stats the page shows already (a
    page's first event, after the page rendered them itself)."""
    return trigger == ids.LIVE_STATS and live_event_id is not None and live_event_id == rendered


def table_shown(n_clicks: int | None) -> bool:
    return bool(n_clicks) and n_clicks % 2 == 1


def table_values(n_clicks: int | None) -> list:
    """[table hidden, toggle label, toggle aria-pressed]."""
    shown = table_shown(n_clicks)
    return [not shown, HIDE_TABLE if shown else SHOW_TABLE, "true" if shown else "false"]


def table_content(n_clicks: int | None, stats: Stats | None, zone: ViewZone):
    """The chart's numbers as a table while it is shown; nothing sent while it is hidden."""
    if not table_shown(n_clicks) or stats is None:
        return no_update
    same_hour = stats.glance.same_hour if stats.glance else ()
    return activity_table(stats.activity, same_hour, zone)


def toggled_choice(choice: str | None) -> str:
    return LOCAL_CHOICE if choice == UTC_CHOICE else UTC_CHOICE


def zone_toggle_values(zone: ViewZone, choice: str | None) -> list:
    """[label, title] of the switch."""
    if choice == UTC_CHOICE:
        return ["Times: UTC", "Show times in your time zone"]
    return [f"Times: {zone.name}", "Show times in UTC"]


def register_day_callbacks(app: Dash) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="aurora", function_name="browserZone"),
        Output(ids.BROWSER_ZONE, "data"),
        Input(ids.URL, "pathname"),
    )

    @app.callback(
        Output(ids.URL, "hash"),
        Input(ids.ACTIVITY_CHART, "clickData"),
        Input(ids.HOUR_PANEL_CLOSE, "n_clicks"),
        State(ids.URL, "hash"),
        prevent_initial_call=True,
    )
    def select_hour(_click, _close, current):
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        return next_hash(ctx.triggered_id, value, current)

    @app.callback(
        Output(ids.HOUR_PANEL, "hidden"),
        Output(ids.HOUR_PANEL_TITLE, "children"),
        Output(ids.HOUR_PANEL_BODY, "children"),
        Input(ids.URL, "hash"),
        *ZONE_INPUTS,
    )
    def show_hour(fragment, choice, browser):
        return hour_panel_values(fragment, view_zone(choice, browser), context_of().hours)

    @app.callback(
        Output(ids.ZONE_CHOICE, "data"),
        Input(ids.ZONE_TOGGLE, "n_clicks"),
        State(ids.ZONE_CHOICE, "data"),
        prevent_initial_call=True,
    )
    def switch_zone(_n_clicks, choice):
        return toggled_choice(choice)

    @app.callback(Output(ids.ZONE_TOGGLE, "children"), Output(ids.ZONE_TOGGLE, "title"), *ZONE_INPUTS)
    def label_zone(choice, browser):
        return zone_toggle_values(view_zone(choice, browser), choice)
