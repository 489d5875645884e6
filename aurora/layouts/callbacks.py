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

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from aurora.api.routes import stats_service, stream_slots_and_client
from aurora.layouts import bot_health, ids
from aurora.layouts.alerts_strip import alert_strip
from aurora.layouts.bot_health import section_values, values_by_sort
from aurora.layouts.components import event_items, shard_items, top_command_items
from aurora.layouts.day import activity_table
from aurora.layouts.day_callbacks import (
    DAY_OUTPUTS,
    ZONE_INPUTS,
    already_shown,
    day_values,
    register_day_callbacks,
    table_shown,
)
from aurora.layouts.figures import activity_figure, message_figure
from aurora.layouts.formatting import NO_VALUE, KpiView, bot_snapshot_text, bot_status_text, clock_time
from aurora.layouts.page import KPI_CARDS, build_layout
from aurora.layouts.renders import PageRender, RenderMemo, as_sent, current_render, rendered_once_per_view
from aurora.layouts.zones import UTC_VIEW, ViewZone, view_zone
from aurora.stats.json_form import alerts_to_list
from aurora.stats.model import BotSnapshot, Stats
from aurora.stats.service import StatsUnavailable
from aurora.web.metrics import PAGE_RENDERS

OUTPUTS = [
    *(
        output
        for card_id, *_ in KPI_CARDS
        for output in (
            Output(ids.kpi_value(card_id), "children"),
            Output(ids.kpi_value(card_id), "className"),
            Output(ids.kpi_change(card_id), "children"),
            Output(ids.kpi_change(card_id), "className"),
        )
    ),
    Output(ids.ACTIVITY_CHART, "figure"),
    *DAY_OUTPUTS,
    Output(ids.RECENT_EVENTS, "children"),
    Output(ids.TOP_COMMANDS, "children"),
    Output(ids.SHARDS, "children"),
    Output(ids.BOT_STATUS, "children"),
    Output(ids.BOT_STATUS, "className"),
    Output(ids.DEMO_BADGE, "hidden"),
    Output(ids.SIMULATED_BADGE, "hidden"),
    Output(ids.UPDATED_AT, "children"),
    Output(ids.ALERTS, "children"),
    Output(ids.ALERTS, "hidden"),
    Output(ids.RENDERED_STATS, "data"),
    Output(ids.STATUS_BANNER, "children"),
    Output(ids.STATUS_BANNER, "className"),
    Output(ids.STATUS_BANNER, "hidden"),
]

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
WAITING_MESSAGE = "Waiting for the database's first answer…"
NO_DATABASE = "database unavailable"


def preparing_message(progress: float) -> str:
    return f"Preparing figures… {round(progress * 100)} %"


def kpi_outputs(view: KpiView) -> list:
    return [view.value, "kpi-value", view.change, f"kpi-change {view.tone}"]


def page_values(stats: Stats, zone: ViewZone = UTC_VIEW, rendered: str | None = None, problem: str | None = None) -> list:
    """Every output of the refresh callback, in OUTPUTS order, from one Stats, times in `zone`;
    `rendered`: the stream event id of these stats; `problem`: why refreshes fail, if they do."""
    values: list = []
    for *_, view_of in KPI_CARDS:
        values.extend(kpi_outputs(view_of(stats)))
    banner = ""
    if stats.stale and stats.stale_since is not None:
        banner = f"Data delayed since {clock_time(stats.stale_since, zone)}: showing the last good numbers."
        if problem:
            banner += f" Refreshes fail: {problem}."
    same_hour = stats.glance.same_hour if stats.glance else ()
    values.extend(
        [
            activity_figure(stats.activity, same_hour, zone),
            *day_values(stats, zone),
            event_items(stats.recent_events, zone),
            top_command_items(stats.top_commands, stats.bot.command_failures),
            shard_items(stats.bot.shards),
            bot_status_text(stats, zone),
            f"badge bot {stats.bot.status}",
            not stats.demo,
            not stats.simulated,
            "Updated " + clock_time(stats.generated_at, zone),
            *alert_strip(alerts_to_list(stats.alerts)),
            rendered,
            banner,
            "banner",
            not banner,
        ]
    )
    return values


def unavailable_values(progress: float | None = None) -> list:
    """Keep whatever the page shows and raise the banner: the first figures are being prepared
    (with the share done), or the database has not answered yet."""
    if progress is not None:
        banner = [preparing_message(progress), "banner", False]
    else:
        banner = [WAITING_MESSAGE, "banner", False]
    return [no_update] * (len(OUTPUTS) - 3) + banner


def failure_values(unavailable: StatsUnavailable, bot: BotSnapshot, zone: ViewZone = UTC_VIEW) -> list:
    """No figures because the database fails: each part of the page says so (nothing left on
    "Loading…", no empty chart), the banner says what failed, since when and the fix."""
    since = clock_time(unavailable.failing_since, zone)
    values: list = []
    for _ in KPI_CARDS:
        values.extend(kpi_outputs(KpiView(NO_VALUE, NO_DATABASE, "muted")))
    values.extend(
        [
            message_figure(f"No figures: the database is unavailable since {since}"),
            [],  # the day at a glance
            *[no_update] * (len(DAY_OUTPUTS) - 1),
            [html.Li(f"No events: {NO_DATABASE}", className="event muted")],
            [html.Li(f"No commands: {NO_DATABASE}", className="muted")],
            no_update,
            bot_snapshot_text(bot, zone),
            f"badge bot {bot.status}",
            *[no_update] * 5,  # the badges, the update time, the alerts
            None,
            f"Database unavailable since {since}: {unavailable}. Retrying automatically.",
            "banner error",
            False,
        ]
    )
    return values


def render_page(stats: Stats, version: str, zone: ViewZone) -> PageRender:
    """Everything a refresh sends a page showing `version` in `zone` (counted: renders per version)."""
    PAGE_RENDERS.inc()
    failure = stats_service().failure
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
    service = stats_service()
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
    slots, client = stream_slots_and_client()
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


def install_page(app: Dash, refresh_seconds: int) -> None:
    """The layout (built per page load, with the current figures) and its refresh callback."""

    def serve_layout():
        # Figures only for a browser's layout request, and never waiting for the database (before
        # the first result the page says "Loading…" and the refresh callback fills it in). Dash
        # also calls this to validate the layout at setup, which must not start database work.
        serving_page = has_request_context() and request.path.endswith("/_dash-layout")
        return build_layout(refresh_seconds, stats_service().current_if_ready() if serving_page else None)

    app.layout = serve_layout
    register_callbacks(app)


def register_callbacks(app: Dash) -> None:
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
