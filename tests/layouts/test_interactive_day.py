"""The interactive day's plain functions, without a browser: zones, the figure, the hour panel and
its address, the table (its hours as buttons), the readable kinds and the glance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dash import no_update

from aurora.layouts import ids
from aurora.layouts.callbacks import OUTPUTS, page_values
from aurora.layouts.figures import COMMAND_COLOUR, SO_FAR, TRANSACTION_COLOUR, activity_figure
from aurora.layouts.formatting import clock_time
from aurora.layouts.interactive_day_callbacks import (
    DAY_OUTPUTS,
    NOT_ANSWERED,
    OUT_OF_RANGE,
    already_shown,
    day_values,
    hour_panel_values,
    next_hash,
    table_content,
    table_values,
    toggled_choice,
    zone_toggle_values,
)
from aurora.layouts.interactive_day_components import (
    activity_table,
    glance_items,
    hour_button_labels,
    hour_title,
)
from aurora.layouts.labels import kind_label
from aurora.layouts.page import build_layout
from aurora.layouts.zones import LOCAL_CHOICE, UTC_CHOICE, UTC_VIEW, view_zone
from aurora.scaleout import codec
from aurora.stats.hours import HourBreakdowns
from aurora.stats.model import ActivityPoint, DatabaseStats, DayAtAGlance, KindTotals, SameHourTotals
from aurora.storage.engine import create_db_engine
from tests.layouts.test_page import ACTIVITY, CONNECTED, find_component, stats_with
from tests.support import NOW, command, insert_rows

pytestmark = pytest.mark.clock

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
KOLKATA = view_zone(LOCAL_CHOICE, {"zone": "Asia/Kolkata"})
SAME_HOUR = tuple(SameHourTotals(point.hour, 7 * index, 14) for index, point in enumerate(ACTIVITY))
GLANCE = DayAtAGlance(
    same_hour=SAME_HOUR,
    transactions=(KindTotals("SHOP_BUY", 3, 900, 30, 9000), KindTotals("DAILY_REWARD", 2, 500, 0, 0)),
    cases=(KindTotals("ban", 2, 0, 15, 0),),
)


def text_of(component) -> str:
    """Every string a component tree shows, joined by spaces."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(child) for child in component)
    return text_of(getattr(component, "children", None))


@pytest.mark.parametrize(
    "browser",
    [
        None,
        {},
        {"zone": None},
        {"zone": 5},
        {"zone": "Nowhere/Land"},
        {"zone": "../../etc/passwd"},
        {"zone": "x" * 5000},
        {"zone": "Europe"},  # a folder of the zone database, not a zone
        {"zone": "America/"},
        {"zone": "Etc"},
        {"zone": "zone1970.tab"},  # a file of the zone database that is no zone
        {"zone": ""},
    ],
)
def test_a_zone_the_server_cannot_use_means_utc(browser):
    assert view_zone(LOCAL_CHOICE, browser) is UTC_VIEW
    assert view_zone(UTC_CHOICE, {"zone": "Asia/Kolkata"}) is UTC_VIEW


def test_times_in_the_viewers_zone_and_the_note_on_half_hour_offsets():
    assert clock_time(NOW) == f"{NOW:%Y-%m-%d %H:%M} UTC"
    assert clock_time(NOW, KOLKATA) == f"{NOW + timedelta(hours=5, minutes=30):%Y-%m-%d %H:%M} IST"
    assert "each one starts at :30" in KOLKATA.offset_note(NOW)
    assert view_zone(None, {"zone": "Europe/Berlin"}).offset_note(NOW) == ""
    assert KOLKATA.offset_text(NOW) == "UTC+05:30"


def test_the_figure_has_the_means_behind_the_bars_in_colour_blind_safe_colours():
    figure = activity_figure(ACTIVITY, SAME_HOUR, KOLKATA)
    assert [trace.type for trace in figure.data] == ["bar", "bar", "scatter", "scatter"]
    assert (figure.data[0].marker.color, figure.data[1].marker.color) == (COMMAND_COLOUR, TRANSACTION_COLOUR)
    assert list(figure.data[2].y) == [index for index in range(24)]  # the sums over 7 days, as means
    assert list(figure.data[3].y) == [2.0] * 24
    # Hours on the axis in the viewer's zone; each point knows its UTC hour for a click.
    assert figure.layout.xaxis.ticktext[0] == f"{ACTIVITY[0].hour + timedelta(hours=5, minutes=30):%H:%M}"
    assert figure.data[0].customdata[-1] == f"{HOUR:%Y-%m-%dT%H:%M:%S}Z"
    assert "%{y:,d} commands" in figure.data[0].hovertemplate
    assert figure.data[0].hovertext[0] == f"{ACTIVITY[0].hour + timedelta(hours=5, minutes=30):%H:%M} IST"


def test_the_hour_the_clocks_go_back_keeps_its_own_bar_label_and_abbreviation():
    # Europe/Berlin, 2026-10-25: at 01:00 UTC the clocks go from 03:00 CEST back to 02:00 CET, so
    # local 02:00 comes twice (00:00 and 01:00 UTC).
    berlin = view_zone(LOCAL_CHOICE, {"zone": "Europe/Berlin"})
    first = datetime(2026, 10, 24, 14, tzinfo=UTC)
    points = tuple(ActivityPoint(first + index * timedelta(hours=1), index, 1) for index in range(24))
    twice = [10, 11]  # 00:00 and 01:00 UTC
    figure = activity_figure(points, tuple(SameHourTotals(point.hour, 7, 7) for point in points), berlin)
    for trace in figure.data:
        assert len(set(trace.x)) == 24  # no two points share a place on the axis
    assert [figure.data[0].hovertext[index] for index in twice] == ["02:00 CEST", "02:00 CET"]
    assert [figure.data[2].hovertext[index] for index in twice] == ["02:00 CEST", "02:00 CET"]
    assert figure.data[0].hovertext[0] == "16:00 CEST" and figure.data[0].hovertext[-1] == "14:00 CET" + SO_FAR
    assert "%{hovertext}" in figure.data[0].hovertemplate and "%{hovertext}" in figure.data[2].hovertemplate
    assert list(figure.layout.xaxis.ticktext) == ["16:00", "19:00", "22:00", "01:00", "03:00", "06:00", "09:00", "12:00"]
    labels = [label for label, _ in hour_button_labels(points, berlin)]
    assert [labels[index] for index in twice] == ["02:00 CEST", "02:00 CET"] and len(set(labels)) == 24
    assert labels[0] == "16:00" and labels[-1] == "14:00"
    assert hour_title(points[11].hour, berlin) == "2026-10-25 02:00–03:00 CET (01:00 UTC)"
    assert hour_title(points[10].hour, berlin) == "2026-10-25 02:00 CEST–02:00 CET (00:00 UTC)"
    table = activity_table(points, (), berlin)
    assert "(CEST, then CET)" in text_of(table.children[0])
    assert [text_of(row.children[0]) for row in table.children[2].children][10:12] == ["02:00 CEST", "02:00 CET"]
    assert figure.layout.clickmode == "event" and figure.layout.uirevision == "activity"


def test_a_click_a_button_the_same_hour_and_close_move_the_address():
    target = f"{HOUR - timedelta(hours=2):%Y-%m-%dT%H}:00:00Z"
    fragment = f"#hour={HOUR - timedelta(hours=2):%Y-%m-%dT%H}:00Z"
    click = {"points": [{"customdata": target, "y": 3}]}
    assert next_hash(ids.ACTIVITY_CHART, click, None) == fragment
    assert next_hash(ids.ACTIVITY_CHART, click, fragment) == ""  # the same hour again closes
    assert next_hash(ids.HOUR_PANEL_CLOSE, 1, fragment) == ""
    assert next_hash(ids.HOUR_PANEL_CLOSE, None, fragment) is no_update  # the button appearing
    # A table row's hour or Enter on a bar hands the chart only the hour (assets/chart_keys.js).
    assert next_hash(ids.ACTIVITY_CHART, {"points": [{"customdata": target}]}, None) == fragment
    for junk in ({"points": []}, {"points": [{"customdata": "<script>"}]}, None, {"points": ["x"]}):
        assert next_hash(ids.ACTIVITY_CHART, junk, None) is no_update


def test_the_hour_panel_follows_the_address(engine, clock):
    target = HOUR - timedelta(hours=2)
    insert_rows(engine, transaction_rows=[command(target + timedelta(minutes=5), "ping") for _ in range(3)])
    breakdowns = HourBreakdowns(engine, clock)
    hidden, title, body = hour_panel_values(f"#hour={target:%Y-%m-%dT%H}:00Z", KOLKATA, breakdowns)
    assert hidden is False
    assert (
        title == f"Hour {target + timedelta(hours=5, minutes=30):%Y-%m-%d %H:%M}–"
        f"{target + timedelta(hours=6, minutes=30):%H:%M} IST ({target:%H}:00 UTC)"
    )
    assert "Commands: 3" in text_of(body) and "/ping 3" in text_of(body)
    # The days before in summary, not one by one (answers show the last 24 hours only).
    assert "Commands: mean 0.0 · min 0 · max 0" in text_of(body)
    assert f"{target - timedelta(days=1):%a %d %b}" not in text_of(body) and "0 commands" not in text_of(body)
    assert hour_panel_values("#hour=2020-01-01T00:00Z", UTC_VIEW, breakdowns)[2][0].children == OUT_OF_RANGE
    for fragment in (None, "", "#other", "#hour=tomorrow"):
        assert hour_panel_values(fragment, UTC_VIEW, breakdowns) == [True, "", []]


def test_a_database_that_does_not_answer_is_said_in_the_panel(tmp_path, clock):
    gone = create_db_engine(f"sqlite:///{tmp_path / 'gone' / 'aurora.db'}")
    fragment = f"#hour={HOUR:%Y-%m-%dT%H}:00Z"
    assert hour_panel_values(fragment, UTC_VIEW, HourBreakdowns(gone, clock))[2][0].children == NOT_ANSWERED
    gone.dispose()


def test_each_table_row_s_hour_is_a_button_for_its_utc_hour():
    rows = activity_table(ACTIVITY, SAME_HOUR, KOLKATA).children[2].children
    button = rows[0].children[0].children
    assert button.children == f"{ACTIVITY[0].hour + timedelta(hours=5, minutes=30):%H:%M}"
    assert button.title.startswith("Details of ")
    assert getattr(button, "data-hour") == f"{ACTIVITY[0].hour:%Y-%m-%dT%H}:00:00Z"
    assert getattr(rows[-1].children[0].children, "data-hour") == f"{HOUR:%Y-%m-%dT%H}:00:00Z"


def test_kinds_read_as_words_everywhere_they_are_shown():
    assert kind_label("DAILY_REWARD") == "Daily reward" and kind_label("TRANSFER_IN") == "Transfer in"
    assert kind_label("ban") == "Ban" and kind_label("") == ""
    assert kind_label("SHOP__BUY\u202e") == "Shop buy"  # no empty words, no reordering controls
    text = text_of(glance_items(GLANCE))
    assert "Shop buy 3 · 900 coins" in text and "Daily reward" in text and "SHOP_BUY" not in text
    assert "Ban 2" in text


def test_nothing_in_24_hours_says_so_instead_of_minus_100_percent():
    quiet = replace(GLANCE, cases=(KindTotals("ban", 0, 0, 15, 0),))
    figures = {text_of(figure.children[0]): figure for card in glance_items(quiet) for figure in card.children[1].children}
    assert text_of(figures["Ban"].children[1:]) == "0 none in 24 h"
    assert figures["Ban"].children[2].className == "kpi-change muted"
    assert "-100.0%" not in text_of(glance_items(quiet))


def test_the_table_toggle_and_the_zone_switch():
    assert table_values(0) == [True, "Show as table", "false"]
    assert table_values(1) == [False, "Hide table", "true"]
    assert table_values(2)[0] is True
    assert toggled_choice(None) == UTC_CHOICE and toggled_choice(UTC_CHOICE) == LOCAL_CHOICE
    assert zone_toggle_values(KOLKATA, None)[0] == "Times: Asia/Kolkata"
    assert zone_toggle_values(UTC_VIEW, UTC_CHOICE)[0] == "Times: UTC"


def test_the_table_has_every_number_of_the_chart():
    table = activity_table(ACTIVITY, SAME_HOUR)
    rows = table.children[2].children
    assert len(rows) == 24
    assert text_of(rows[3]) == f"{ACTIVITY[3].hour:%H:%M} 3 6 3.0 2.0"
    assert text_of(activity_table(ACTIVITY)).count("—") == 48  # no means yet


def test_the_glance_shows_each_figure_against_its_daily_mean():
    assert "Counting" in text_of(glance_items(None))
    text = text_of(glance_items(GLANCE))
    assert "Coins spent 900 +200.0% vs 30-day daily mean" in text
    assert "Coins earned 500 no daily mean from the 30 days before" in text
    assert "Moderation cases 2 +300.0% vs 30-day daily mean" in text


def components_in(component) -> int:
    """How many Dash components a layout holds (strings are none: Dash's renderer mounts them as text)."""
    if isinstance(component, list | tuple):
        return sum(components_in(child) for child in component)
    if component is None or isinstance(component, str | int | float):
        return 0
    return 1 + components_in(getattr(component, "children", None))


def test_the_layout_leaves_the_glance_to_the_refresh_and_stays_small():
    # Dash's renderer, mounting a component, spends time on every component mounted before it, all
    # before the page's first paint: the KPI figures in the layout show only once all of it is mounted.
    layout = build_layout(30, replace(stats_with(CONNECTED), glance=GLANCE))
    assert find_component(layout, ids.GLANCE).children == []
    assert components_in(layout) <= 85  # 125 with the glance in it
    assert components_in(glance_items(GLANCE)) > 20  # what the refresh's first answer brings instead


def test_the_refresh_fills_the_day_outputs_and_the_glance_crosses_redis():
    stats = replace(stats_with(CONNECTED), glance=GLANCE)
    values = page_values(stats, KOLKATA)
    assert len(values) == len(OUTPUTS)
    assert len(day_values(stats, KOLKATA)) == len(DAY_OUTPUTS)
    by_id = {
        (output.component_id, output.component_property): value
        for output, value in zip(OUTPUTS, values, strict=True)
    }
    assert by_id[(ids.ZONE_NOTE, "hidden")] is False
    assert by_id[(ids.ACTIVITY_ZONE, "children")] == "(Asia/Kolkata, UTC+05:30)"
    assert by_id[(ids.UPDATED_AT, "children")].endswith("IST")
    database = DatabaseStats(NOW, 1, 1, 1, 1, (), ACTIVITY, glance=GLANCE)
    assert codec.loads(DatabaseStats, codec.dumps(database)) == database


def test_the_table_is_built_only_while_it_is_shown():
    stats = replace(stats_with(CONNECTED), glance=GLANCE)
    assert table_content(None, stats, UTC_VIEW) is no_update
    assert table_content(2, stats, UTC_VIEW) is no_update
    assert table_content(1, None, UTC_VIEW) is no_update
    assert text_of(table_content(1, stats, UTC_VIEW)) == text_of(activity_table(stats.activity, stats.glance.same_hour))


def test_a_stream_event_for_the_stats_on_the_page_renders_nothing_again():
    assert already_shown(ids.LIVE_STATS, "abc", "abc")
    assert not already_shown(ids.LIVE_STATS, "abd", "abc")
    assert not already_shown(ids.LIVE_STATS, None, None)
    assert not already_shown(ids.ZONE_CHOICE, "abc", "abc")  # a new zone is rendered whatever the stats
    assert not already_shown(ids.REFRESH_INTERVAL, "abc", "abc")
