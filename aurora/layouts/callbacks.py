"""The page's one refresh callback: stream event or interval tick -> stats service -> components.

One update is one request: the figures, the chart's table (while shown), bot health and whether the
server has room for a live stream all come in the refresh callback's one answer, from one render
per stats version and zone; presentation that needs no server data (the table switch, the stream
itself) runs in the browser (assets/live.js). While the page's stream brings stats its interval is
off (the stream brings every change); it ticks, and polls, only while there is none.

Callbacks are registered on the app passed in (not with the module-level `dash.callback`
registry): that registry is drained into the first app that serves a request, and the factory
builds many apps per process (tests, several instances).
"""

from __future__ import annotations

from collections.abc import Callable

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from aurora.layouts import bot_health, ids
from aurora.layouts.bot_health import section_values, values_by_sort
from aurora.layouts.interactive_day_callbacks import (
    ZONE_INPUTS,
    already_shown,
    register_day_callbacks,
    table_shown,
)
from aurora.layouts.interactive_day_components import activity_table
from aurora.layouts.page import build_layout
from aurora.layouts.page_values import OUTPUTS, failure_values, page_values, unavailable_values
from aurora.layouts.renders import (
    PageRender,
    RenderMemo,
    as_sent,
    current_render,
    prepare_current,
    rendered_once_per_view,
)
from aurora.layouts.zones import UTC_VIEW, ViewZone, view_zone
from aurora.stats.model import Stats
from aurora.stats.service import StatsUnavailable
from aurora.web.context import context_of
from aurora.web.metrics import PAGE_RENDERS
from aurora.web.security import client_address

# The refresh callback's outputs: the page's figures, the chart's table, bot health, room for a stream.
UPDATE_OUTPUTS = [*OUTPUTS, Output(ids.ACTIVITY_TABLE, "children"), *bot_health.OUTPUTS,
                  Output(ids.LIVE_STATS_READY, "data")]
UPDATE_INPUTS = [
    Input(ids.REFRESH_INTERVAL, "n_intervals"),
    Input(ids.LIVE_STATS, "data"),
    *ZONE_INPUTS,
    Input(ids.TABLE_TOGGLE, "n_clicks"),
    Input(ids.BOT_HEALTH_SORT, "value"),
]


def render_page(stats: Stats, version: str, zone: ViewZone) -> PageRender:
    """Everything a refresh sends a page showing `version` in `zone` (counted: renders per version)."""
    PAGE_RENDERS.inc()
    failure = context_of().service.failure
    same_hour = stats.glance.same_hour if stats.glance else ()
    return PageRender(
        page=as_sent(page_values(stats, zone, version, failure[0] if failure else None)),
        table=as_sent(activity_table(stats.activity, same_hour, zone)),
        bot_health={sort: as_sent(values) for sort, values in values_by_sort(stats.bot, zone).items()},
    )


def view_parts(memo: RenderMemo, zone: ViewZone, sort: str | None, wanted: str | None = None) -> tuple[list, object, list]:
    """(OUTPUTS' values, the chart's table, bot health's values) for a page in `zone` sorting bot health
    by `sort`: from the render of stats version `wanted` (or the current one) shared by every page
    asking for it; or what the page says without figures (bot health then from the bot's own snapshot)."""
    service = context_of().service
    try:
        render = current_render(memo, zone, wanted=wanted)
    except StatsUnavailable as unavailable:
        if unavailable.failing_since is not None:
            page = failure_values(unavailable, service.bot_snapshot(), zone)
        else:
            page = unavailable_values(unavailable.progress)
        return page, no_update, section_values(service.bot_snapshot(), sort, zone)
    return render.page, render.table, render.bot_health.get(sort) or render.bot_health[bot_health.DEFAULT_SORT]


def refresh_values(memo: RenderMemo, zone: ViewZone = UTC_VIEW) -> list:
    """OUTPUTS' values for a page in `zone` now."""
    return view_parts(memo, zone, None)[0]


def live_stream_room() -> bool:
    """Whether this client could open a live stream now (the page polls instead while it cannot)."""
    slots, client = context_of().streams, client_address()
    return slots.has_room(client)


def update_values(memo: RenderMemo, triggers: set[str], zone: ViewZone, *, live_event_id: str | None,
                  rendered: str | None, table_is_shown: bool, sort: str | None) -> list:
    """UPDATE_OUTPUTS' values after a change of the inputs of `triggers` (ids; none: the page's first
    call). A stream event for the stats shown already sends nothing; a click on the table switch or a
    sort order only what it changes; anything else the whole page."""
    if triggers == {ids.LIVE_STATS} and already_shown(ids.LIVE_STATS, live_event_id, rendered):
        raise PreventUpdate
    wanted = live_event_id if ids.LIVE_STATS in triggers else None
    page, table, health = view_parts(memo, zone, sort, wanted)
    table = table if table_is_shown else no_update
    if triggers and triggers <= {ids.TABLE_TOGGLE, ids.BOT_HEALTH_SORT}:
        return [
            *[no_update] * len(OUTPUTS),
            table if ids.TABLE_TOGGLE in triggers else no_update,
            *(health if ids.BOT_HEALTH_SORT in triggers else [no_update] * len(health)),
            no_update,
        ]
    return [*page, table, *health, live_stream_room()]


def install_page(app: Dash, refresh_seconds: int) -> Callable[[], int]:
    """The layout (built per page load, with the current figures) and its refresh callback. Returns what
    renders the current stats version in the views pages asked for lately (the live stream's fan-out
    calls it before announcing a new version)."""

    def serve_layout():
        # Figures only for a browser's layout request, and never waiting for the database (before
        # the first result the page says "Loading…" and the refresh callback fills it in). Dash
        # also calls this to validate the layout at setup, which must not start database work.
        serving_page = has_request_context() and request.path.endswith("/_dash-layout")
        return build_layout(refresh_seconds, context_of().service.current_if_ready() if serving_page else None)

    app.layout = serve_layout
    memo = register_callbacks(app)

    def prepare_views() -> int:
        with app.server.app_context():
            return prepare_current(memo, context_of().service)

    return prepare_views


def register_callbacks(app: Dash) -> RenderMemo:
    # One memo per app: every page this app serves shares its renders.
    memo = rendered_once_per_view(render_page)

    @app.callback(*UPDATE_OUTPUTS, *UPDATE_INPUTS, State(ids.RENDERED_STATS, "data"))
    def refresh_page(_n_intervals, live_event_id, choice, browser, table_clicks, sort, rendered) -> list:
        return update_values(memo, set(ctx.triggered_prop_ids.values()), view_zone(choice, browser),
                             live_event_id=live_event_id, rendered=rendered, table_is_shown=table_shown(table_clicks),
                             sort=sort)

    # In the browser (assets/live.js): the table switch's state, and the live stream, opened while
    # the server has room for it.
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="tableSwitch"),
        Output(ids.ACTIVITY_TABLE, "hidden"),
        Output(ids.TABLE_TOGGLE, "children"),
        Output(ids.TABLE_TOGGLE, "aria-pressed"),
        Input(ids.TABLE_TOGGLE, "n_clicks"),
        State(ids.PAGE_SETTINGS, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="followStream"),
        Output(ids.REFRESH_INTERVAL, "disabled"),
        Input(ids.LIVE_STATS_READY, "data"),
        State(ids.PAGE_SETTINGS, "data"),
    )
    register_day_callbacks(app)
    return memo
