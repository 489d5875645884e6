"""The page's values from Stats, tested without a browser."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from dash import Output, no_update

from aurora.bot.snapshot import BotOffline, BotSnapshot
from aurora.layouts import ids
from aurora.layouts.figures import MESSAGE_LINE_CHARACTERS, activity_figure
from aurora.layouts.formatting import bot_status_text, commands_view, ping_view, servers_view, users_view
from aurora.layouts.page import KPI_CARDS, build_layout
from aurora.layouts.page_values import OUTPUTS, failure_values, page_values, unavailable_values
from aurora.stats.combined import combine
from aurora.stats.model import ActivityPoint, DatabaseStats, RecentEvent
from aurora.stats.service import StatsUnavailable
from aurora.web.context import context_of
from tests.support import NOW, insert_rows, user

pytestmark = pytest.mark.clock

ACTIVITY = tuple(ActivityPoint(NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23 - i), i, 2 * i) for i in range(24))


def stats_with(bot: BotSnapshot, **database_overrides):
    database = DatabaseStats(
        computed_at=NOW,
        active_users=1234,
        active_users_month_ago=1000,
        commands_24h=5000,
        commands_previous_30_days=180_000,
        recent_events=(RecentEvent("info", "Command /ping run", NOW),),
        activity=ACTIVITY,
    )
    return combine(replace(database, **database_overrides), bot, demo=False, stale=False, stale_since=None)


DISABLED = BotSnapshot(status="disabled", taken_at=NOW)
CONNECTED = BotSnapshot(
    status="connected", taken_at=NOW, guild_count=42, guild_count_month_ago=40, ping_avg_ms=87.4,
    ping_previous_hour_avg_ms=80.0, started_at=NOW - timedelta(hours=3),
)


def test_kpis_with_the_bot_disabled_say_so_instead_of_zero():
    stats = stats_with(DISABLED)
    assert servers_view(stats).value == "—" and servers_view(stats).change == "Bot disabled"
    assert ping_view(stats).value == "—" and ping_view(stats).tone == "muted"
    assert users_view(stats).value == "1,234"
    assert users_view(stats).change == "+23.4% vs last month" and users_view(stats).tone == "up"
    assert commands_view(stats).value == "5,000"
    assert commands_view(stats).change == "-16.7% vs 30-day daily mean" and commands_view(stats).tone == "down"


def test_kpis_with_a_connected_bot():
    stats = stats_with(CONNECTED)
    assert (servers_view(stats).value, servers_view(stats).change) == ("42", "+2 vs last month")
    # Latency going up is bad news: shown as "down".
    assert (ping_view(stats).value, ping_view(stats).change, ping_view(stats).tone) == ("87 ms", "+7 ms vs previous hour", "down")


def test_offline_bot_is_shown_plainly():
    stats = stats_with(replace(CONNECTED, status="disconnected"))
    assert servers_view(stats).change == "Bot offline"
    assert stats.guild_count is None


def test_null_bases_are_explained():
    stats = stats_with(DISABLED, active_users_month_ago=0, commands_previous_30_days=0)
    assert users_view(stats).change == "no users a month ago"
    assert commands_view(stats).change == "no commands in the previous 30 days"


def test_page_values_fill_every_output():
    values = page_values(stats_with(CONNECTED))
    assert len(values) == len(OUTPUTS)
    by_id = {(output.component_id, output.component_property): value for output, value in zip(OUTPUTS, values, strict=True)}
    assert by_id[(ids.kpi_value(ids.KPI_SERVERS), "children")] == "42"
    assert by_id[(ids.DEMO_BADGE, "hidden")] is True
    assert by_id[(ids.SIMULATED_BADGE, "hidden")] is True
    assert by_id[(ids.STATUS_BANNER, "hidden")] is True
    assert by_id[(ids.BOT_STATUS, "children")] == "Bot connected · up 3h 0m"


def test_stale_stats_raise_the_delay_banner():
    stats = replace(stats_with(DISABLED), stale=True, stale_since=NOW - timedelta(minutes=5))
    values = dict(zip([(o.component_id, o.component_property) for o in OUTPUTS], page_values(stats), strict=True))
    assert values[(ids.STATUS_BANNER, "hidden")] is False
    assert values[(ids.STATUS_BANNER, "children")].startswith(f"Data delayed since {NOW - timedelta(minutes=5):%Y-%m-%d %H:%M} UTC")
    problem = "table transactions is missing; run `python app.py init-db`"
    with_cause = page_values(stats, problem=problem)[OUTPUTS.index(Output(ids.STATUS_BANNER, "children"))]
    assert with_cause.endswith(f"showing the last good numbers. Refreshes fail: {problem}.")


def test_before_the_first_answer_the_banner_says_it_is_awaited():
    values = unavailable_values()
    assert len(values) == len(OUTPUTS)
    assert values[: len(OUTPUTS) - 3] == [no_update] * (len(OUTPUTS) - 3)
    assert values[-3:] == ["Waiting for the database's first answer…", "banner", False]


def test_a_failing_database_is_said_everywhere_instead_of_loading_with_no_empty_chart():
    problem = 'database "aurora" does not exist on 127.0.0.1:5432; create it (`createdb aurora`) or correct it'
    since = NOW - timedelta(minutes=3)
    bot = BotSnapshot(status="reconnecting", taken_at=NOW, offline=BotOffline("discord_unreachable", since))
    values = failure_values(StatsUnavailable(problem, failing_since=since), bot)
    by_id = dict(zip([(o.component_id, o.component_property) for o in OUTPUTS], values, strict=True))
    shown = [value for value in values if value is not no_update]
    assert not any("Loading" in str(value) for value in shown)
    assert {by_id[(ids.kpi_value(card), "children")] for card, *_ in KPI_CARDS} == {"—"}
    figure = by_id[(ids.ACTIVITY_CHART, "figure")]
    assert figure.data == () and not figure.layout.xaxis.visible and not figure.layout.yaxis.visible
    message = figure.layout.annotations[0].text
    assert message.replace("<br>", " ") == f"No figures: the database is unavailable since {since:%Y-%m-%d %H:%M} UTC"
    assert max(len(line) for line in message.split("<br>")) <= MESSAGE_LINE_CHARACTERS  # fits a phone
    assert by_id[(ids.GLANCE, "children")] == []
    assert [item.children for item in by_id[(ids.TOP_COMMANDS, "children")]] == ["No commands: database unavailable"]
    assert by_id[(ids.STATUS_BANNER, "children")] == (
        f"Database unavailable since {since:%Y-%m-%d %H:%M} UTC: {problem}. Retrying automatically."
    )
    assert by_id[(ids.STATUS_BANNER, "className")] == "banner error" and by_id[(ids.STATUS_BANNER, "hidden")] is False
    assert by_id[(ids.BOT_STATUS, "children")] == (
        f"Bot reconnecting… · Discord unreachable since {since:%Y-%m-%d %H:%M} UTC"
    )


def test_the_bot_badge_and_cards_say_why_the_bot_is_offline():
    rejected = BotSnapshot(status="disconnected", taken_at=NOW, offline=BotOffline("rejected_token", NOW))
    stats = stats_with(rejected)
    assert bot_status_text(stats) == "Bot offline · rejected token"
    assert servers_view(stats).change == ping_view(stats).change == "Bot offline: rejected token"


def test_while_preparing_the_banner_says_so_with_the_share_done():
    values = unavailable_values(0.42)
    assert values[: len(OUTPUTS) - 3] == [no_update] * (len(OUTPUTS) - 3)
    assert values[-3:] == ["Preparing figures… 42 %", "banner", False]


def test_activity_figure_has_both_series_over_24_hours():
    figure = activity_figure(ACTIVITY)
    assert [trace.name for trace in figure.data] == ["Commands", "Other transactions"]
    assert list(figure.data[0].y) == list(range(24))
    assert list(figure.data[1].y) == [2 * i for i in range(24)]
    assert len(figure.data[0].x) == 24


def find_component(component, component_id):
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = find_component(child, component_id)
            if found is not None:
                return found
    return None


def test_the_layout_carries_the_current_figures_for_the_first_render():
    layout = build_layout(30, replace(stats_with(CONNECTED), demo=True))
    assert find_component(layout, ids.kpi_value(ids.KPI_SERVERS)).children == "42"
    assert find_component(layout, ids.kpi_value(ids.KPI_USERS)).children == "1,234"
    assert find_component(layout, ids.kpi_change(ids.KPI_PING)).className == "kpi-change down"
    assert find_component(layout, ids.DEMO_BADGE).hidden is False
    assert find_component(layout, ids.SIMULATED_BADGE).hidden is True
    assert find_component(layout, ids.BOT_STATUS).children.startswith("Bot connected")


def test_a_bot_in_the_simulated_discord_is_said_so_beside_the_demo_badge():
    stats = replace(stats_with(CONNECTED), demo=True, simulated=True)
    badge = find_component(build_layout(30, stats), ids.SIMULATED_BADGE)
    name, note = badge.children
    assert (badge.hidden, name) == (False, "Simulated Discord")
    assert note.children == badge.title  # the explanation, shown as text where there is no hover
    by_id = {(output.component_id, output.component_property): value for output, value in zip(OUTPUTS, page_values(stats), strict=True)}
    assert by_id[(ids.SIMULATED_BADGE, "hidden")] is False
    assert by_id[(ids.DEMO_BADGE, "hidden")] is False


def test_before_the_first_result_the_layout_says_loading():
    layout = build_layout(30, None)
    assert find_component(layout, ids.kpi_value(ids.KPI_USERS)).children == "Loading…"
    assert find_component(layout, ids.DEMO_BADGE).hidden is True
    assert find_component(layout, ids.SIMULATED_BADGE).hidden is True


def find_in_json(node, component_id):
    """A component of Dash's serialised layout, by id."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        children = node.get("props", {}).get("children")
        return find_in_json(children, component_id) if children is not None else None
    if isinstance(node, list):
        for child in node:
            if (found := find_in_json(child, component_id)) is not None:
                return found
    return None


def test_only_a_browsers_layout_request_carries_the_figures(make_app, engine):
    """Pins `install_page`'s check of the `/_dash-layout` path: Dash builds the layout at setup too,
    where it must not touch the database, and the browser's request gets the current figures."""
    insert_rows(engine, user_rows=[user(NOW - timedelta(days=1)) for _ in range(3)])
    app = make_app()
    assert context_of(app).service.refresh_count == 0  # setup built the layout without figures
    client = app.server.test_client()
    assert client.get("/api/stats").get_json()["users"]["active"] == 3
    layout = client.get("/_dash-layout").get_json()
    assert find_in_json(layout, ids.kpi_value(ids.KPI_USERS))["props"]["children"] == "3"


def refresh_answer(client, changed: dict, rendered: str | None = None):
    """The page's refresh request as the renderer sends it, `changed` ("id.property" -> value) set."""
    dependencies = client.get("/_dash-dependencies").get_json()
    refresh = next(d for d in dependencies if f"{ids.UPDATED_AT}.children" in d["output"].split("..."))
    names = refresh["output"][2:-2].split("...")
    values = {f"{ids.TABLE_TOGGLE}.n_clicks": 0, f"{ids.REFRESH_INTERVAL}.n_intervals": 0,
              f"{ids.BOT_HEALTH_SORT}.value": "p95", **changed}
    body = {
        "output": refresh["output"],
        "outputs": [dict(zip(("id", "property"), name.rsplit(".", 1), strict=True)) for name in names],
        "inputs": [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in refresh["inputs"]],
        "state": [{**item, "value": rendered} for item in refresh["state"]],
        "changedPropIds": sorted(changed), "parsedChangedPropsIds": sorted(changed),
    }
    answer = client.post("/_dash-update-component", json=body)
    if answer.status_code == 204:
        return None
    assert answer.status_code == 200, answer.get_data()[:300]
    return {f"{component}.{prop}" for component, props in answer.get_json()["response"].items() for prop in props}, \
        answer.get_json()["response"]


def test_one_request_brings_each_update_and_a_click_only_what_it_changes(make_app, engine):
    from aurora.web.metrics import PROCESS_REGISTRY

    renders = lambda: PROCESS_REGISTRY.get_sample_value("aurora_page_renders_total") or 0.0  # noqa: E731
    client = make_app().server.test_client()
    before = renders()
    outputs, first = refresh_answer(client, {})
    assert {f"{ids.kpi_value(ids.KPI_USERS)}.children", f"{ids.BOT_HEALTH_TABLE}.children",
            f"{ids.LIVE_STATS_READY}.data", f"{ids.RENDERED_STATS}.data"} <= outputs
    assert f"{ids.ACTIVITY_TABLE}.children" not in outputs  # hidden: not sent
    assert first[ids.LIVE_STATS_READY]["data"] is True
    shown = first[ids.RENDERED_STATS]["data"]
    assert refresh_answer(client, {f"{ids.LIVE_STATS}.data": shown}, rendered=shown) is None
    assert refresh_answer(client, {f"{ids.BOT_HEALTH_SORT}.value": "name"}, rendered=shown)[0] == {
        f"{ids.BOT_HEALTH_TABLE}.children", f"{ids.BOT_HEALTH_CHART}.figure", f"{ids.BOT_HEALTH_SUMMARY}.children",
        f"{ids.BOT_HEALTH_SINCE}.children"}
    assert refresh_answer(client, {f"{ids.TABLE_TOGGLE}.n_clicks": 1}, rendered=shown)[0] == {
        f"{ids.ACTIVITY_TABLE}.children"}
    ticked, _ = refresh_answer(client, {f"{ids.REFRESH_INTERVAL}.n_intervals": 1, f"{ids.TABLE_TOGGLE}.n_clicks": 1},
                               rendered=shown)
    assert outputs | {f"{ids.ACTIVITY_TABLE}.children"} == ticked
    assert renders() - before == 1  # every answer above came from one render of this version and zone
