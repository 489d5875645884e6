"""The "Bot health" section: its table, marks, sorting, line and since-note as plain values, and
rendered in Chromium from a snapshot shared through Redis, without console errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.bot.command_health.slots import Run
from aurora.bot.command_health.window import HealthWindow
from aurora.layouts import ids
from aurora.layouts.bot_health import section_values
from aurora.scaleout.snapshots import RedisSnapshotStore
from tests.api.test_command_health_api import health_snapshot
from tests.layouts.test_page import CONNECTED
from tests.support import NOW, connected_snapshot

pytestmark = pytest.mark.clock


def rows_of(table) -> list[list[str]]:
    return [[cell.children if isinstance(cell.children, str) else cell.children.children for cell in row.children]
            for row in table.children[2].children]


def test_the_table_marks_the_worst_rows_in_words_and_sorts_by_the_chosen_column():
    bot = health_snapshot()
    table, figure, summary, since = section_values(bot, "p95")
    rows = rows_of(table)
    assert [row[0] for row in rows] == ["stats", "(buttons)", "ping"]
    assert rows[0][-1] == "▲ slowest, ✖ failing, ⏱ late answers" and rows[0][5] == "100.0 %"
    assert rows[2][-1] == ""  # ping: nothing wrong
    assert [row[0] for row in rows_of(section_values(bot, "name")[0])] == ["(buttons)", "ping", "stats"]
    assert [row[0] for row in rows_of(section_values(bot, "<script>")[0])] == ["stats", "(buttons)", "ping"]
    assert [trace.name for trace in figure.data] == ["Late answers", "p95 (ms)"] and len(figure.data[0].x) == 24
    assert "1 reconnects" in summary and "Connected 100.0 %" in summary
    assert since == ""  # a full 24 h


def test_without_a_bot_or_figures_the_section_says_so():
    table, figure, _, _ = section_values(CONNECTED, None)
    assert "not running" in table.children
    assert figure.data == () and "No figures from the bot" in figure.layout.annotations[0].text


def test_with_no_answer_yet_the_chart_is_a_message_not_empty_axes():
    window = HealthWindow(NOW - timedelta(minutes=3))  # a young demo: nothing answered yet
    table, figure, _, _ = section_values(connected_snapshot(command_health=window.summary(NOW)), None)
    assert table.children == "No commands answered in this window."
    assert figure.data == () and not figure.layout.yaxis.visible
    assert figure.layout.annotations[0].text.replace("<br>", " ") == "No answers to chart in the last 24 hours"


@pytest.mark.parametrize(("late", "step"), [(1, 1), (3, 1), (5, 1), (12, 3), (1000, 200)])
def test_the_late_answers_axis_ticks_whole_numbers_only(late, step):
    window = HealthWindow(NOW - timedelta(hours=2))
    for _ in range(late):
        window.add_run(NOW, Run("ping", "slash", end_ms=3500, ack_ms=3400, failed=False, late=True))
    figure = section_values(connected_snapshot(command_health=window.summary(NOW)), None)[1]
    assert figure.layout.yaxis2.tickformat == ",d" and figure.layout.yaxis2.dtick == step


def test_after_a_restart_without_redis_the_section_says_since_when():
    window = HealthWindow(NOW - timedelta(hours=2))
    window.add_run(NOW, Run("ping", "slash", end_ms=80, ack_ms=50, failed=False, late=False))
    since = section_values(connected_snapshot(command_health=window.summary(NOW)), None)[3]
    assert since.startswith("Since ") and "12:37 UTC" in since


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.mark.browser
def test_the_section_renders_and_sorts_in_chromium(page, make_app, live_server, web_role, redis_client, clock):
    app = make_app(**web_role)
    RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock).publish(
        health_snapshot()
    )
    server = live_server(app)
    page.goto(server.url + "/")
    first_row = page.locator(f"#{ids.BOT_HEALTH_TABLE} tbody tr").first
    first_row.locator("th", has_text="stats").wait_for(timeout=15_000)
    assert "worst" in first_row.get_attribute("class")
    assert "✖ failing" in first_row.inner_text()
    # The refresh its stream's first event set off has answered (it carries the default order).
    page.wait_for_load_state("networkidle")
    page.get_by_label("Name").check()
    first_row.locator("th", has_text="(buttons)").wait_for(timeout=10_000)
    page.wait_for_selector(f"#{ids.BOT_HEALTH_CHART} .main-svg")
    assert "reconnects" in page.locator(f"#{ids.BOT_HEALTH_SUMMARY}").inner_text()
    assert page.console_errors == []
