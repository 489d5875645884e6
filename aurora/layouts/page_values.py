"""The page's refresh values in the order of OUTPUTS: from one Stats (times in the viewer's zone),
while the first figures are awaited, and while the database fails. Plain functions, tested without
a browser; the refresh callback (aurora.layouts.callbacks) sends them."""

from __future__ import annotations

from dash import Output, html, no_update

from aurora.bot.snapshot import BotSnapshot
from aurora.layouts import ids
from aurora.layouts.alerts_strip import alert_strip
from aurora.layouts.components import event_items, shard_items, top_command_items
from aurora.layouts.figures import activity_figure, message_figure
from aurora.layouts.formatting import NO_VALUE, KpiView, bot_snapshot_text, bot_status_text, clock_time
from aurora.layouts.interactive_day_callbacks import DAY_OUTPUTS, day_values
from aurora.layouts.page import KPI_CARDS
from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.stats.json_form import alerts_to_list
from aurora.stats.model import Stats
from aurora.stats.service import StatsUnavailable

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
