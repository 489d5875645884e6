"""Rows no one meant to write, and the page: moments at either end of Python's calendar, kinds with
bidirectional overrides and zero-width characters, a 10 KB kind, coin totals of 19 and 20 digits.
Every callback answers in every zone, each text shows cleaned and cut (whole in its title), and in
Chromium the page renders without a horizontal scroll."""

from __future__ import annotations

import json
import logging
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aurora.layouts import ids
from aurora.layouts.components import event_items
from aurora.layouts.figures import activity_figure
from aurora.layouts.formatting import LONGEST_SHOWN, clock_time, shown_text
from aurora.layouts.interactive_day_components import hour_title
from aurora.layouts.labels import kind_label
from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.stats.model import ActivityPoint, RecentEvent
from tests.layouts.test_page_guard import body_like_the_renderer, no_error_logged, post
from tests.support import case, command, insert_rows, transaction

pytestmark = pytest.mark.clock

ZONES = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC")
CALENDAR_END = datetime.max.replace(tzinfo=UTC)
CALENDAR_START = datetime.min.replace(tzinfo=UTC)
EXTREMES = (CALENDAR_START, datetime(1, 1, 1, 3, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC), CALENDAR_END)
HIDDEN = "\u202e\u202d\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\x00\x1b\x7f"
STORED_HIDDEN = HIDDEN.replace("\x00", "")  # PostgreSQL's text holds no NUL
LONG_KIND = "K" * 10_000
RTL_KIND = "\u202e<img src=x onerror=alert(4)>ban"
# Coins of one kind that sum to 19 digits on both databases (SQLite's SUM stops at 2**63 - 1).
BIG_AMOUNT = 4_611_686_018_427_387_903


def view(name: str) -> ViewZone:
    return UTC_VIEW if name == "UTC" else ViewZone(ZoneInfo(name), name)


@pytest.mark.parametrize("zone_name", ZONES)
def test_every_moment_python_holds_is_shown_in_every_zone(zone_name):
    zone = view(zone_name)
    for moment in EXTREMES:
        shown = clock_time(moment, zone)
        assert shown[:4] in ("0001", "9999"), shown  # four-digit years, where strftime says "1"
        hour = moment.replace(minute=0, second=0, microsecond=0)
        assert hour_title(hour, zone).startswith(shown[:10])
        events = event_items((RecentEvent("info", "Command /x run", moment),), zone)
        assert events[0].children[2].children == shown
        points = (ActivityPoint(hour, 1, 2),)
        # a lone point is the current hour, labelled as partial ("· so far")
        assert activity_figure(points, (), zone).data[0].hovertext[0].startswith(zone.clock_label(hour))


def test_a_moment_the_viewers_zone_cannot_hold_is_shown_in_utc_and_says_so():
    paris, new_york = view("Europe/Paris"), view("America/New_York")
    assert clock_time(datetime(9999, 12, 31, 23, tzinfo=UTC), paris) == "9999-12-31 23:00 UTC"
    assert clock_time(datetime(9999, 12, 31, 22, tzinfo=UTC), paris) == "9999-12-31 23:00 CET"
    assert clock_time(datetime(1, 1, 1, tzinfo=UTC), new_york) == "0001-01-01 00:00 UTC"
    assert clock_time(datetime(9999, 12, 31, 23, tzinfo=UTC), new_york) == "9999-12-31 18:00 EST"
    assert hour_title(datetime(9999, 12, 31, 23, tzinfo=UTC), UTC_VIEW) == "9999-12-31 23:00 UTC"
    assert hour_title(datetime(9999, 12, 31, 23, tzinfo=UTC), new_york) == "9999-12-31 18:00 EST (23:00 UTC)"


def test_one_cleaning_for_every_text():
    rtl = shown_text(RTL_KIND)
    assert rtl.text == rtl.title == "<img src=x onerror=alert(4)>ban"
    assert shown_text(f"w{HIDDEN}arn").text == "warn"
    assert shown_text("two\nlines\tand\r\na tab").text == "two lines and  a tab"
    # Letters of any script and emoji stay, in their own order.
    assert shown_text("حظر 🚫 ban").text == "حظر 🚫 ban"
    long = shown_text(f"\u202e{LONG_KIND}")
    assert long.title == LONG_KIND and long.text == "K" * (LONGEST_SHOWN - 1) + "…"
    assert shown_text(None).text == "None"


def hostile_rows(engine, now: datetime) -> datetime:
    """Insert the rows; the hour (UTC) that holds the ones inside the last 24 hours."""
    hour = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    at = hour + timedelta(minutes=5)
    insert_rows(
        engine,
        transaction_rows=[
            transaction(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), kind=RTL_KIND),
            transaction(datetime(1, 1, 1, tzinfo=UTC), kind="SHOP_BUY"),
            transaction(at, kind=RTL_KIND),
            transaction(at, kind=f"zero{STORED_HIDDEN}width"),
            transaction(at, kind=LONG_KIND),
            transaction(at, kind="DAILY_REWARD", amount=BIG_AMOUNT),
            transaction(at, kind="DAILY_REWARD", amount=BIG_AMOUNT),
            command(at, name=f"\u202eevil{STORED_HIDDEN}"),
        ],
        case_rows=[
            case(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), kind=RTL_KIND),
            case(datetime(1, 1, 1, tzinfo=UTC), kind="warn"),
            case(at, kind=f"\u202ewarn{STORED_HIDDEN}"),
            case(at, kind=LONG_KIND),
        ],
    )
    return hour


def request_in_zone(dependency: dict, zone: str, fragment: str) -> dict:
    """The renderer's request for `dependency` from a browser in `zone`, at an address with `fragment`,
    its table shown."""
    body = body_like_the_renderer(dependency)
    for item in body["inputs"] + body.get("state", []):
        if item["id"] == ids.BROWSER_ZONE:
            item["value"] = {"zone": zone}
        elif item["id"] == ids.URL:
            item["value"] = fragment
        elif item["id"] == ids.TABLE_TOGGLE:
            item["value"] = 1
    return body


def texts_in(value):
    """Every (key, string) in a callback's answer."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield key, item
            else:
                yield from texts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item)


@pytest.mark.postgres
def test_every_callback_answers_with_hostile_rows_in_every_zone(make_app, engine, clock, caplog):
    caplog.set_level(logging.DEBUG)
    hour = hostile_rows(engine, clock())
    client = make_app(page_rate_limit=None).server.test_client()
    dependencies = [d for d in client.get("/_dash-dependencies").get_json() if not d.get("clientside_function")]
    fragments = ("", f"#hour={hour:%Y-%m-%dT%H}:00Z", "#hour=9999-12-31T23:00Z", "#hour=0001-01-01T00:00Z")
    answers = {}
    for zone in ZONES:
        for fragment in fragments:
            for dependency in dependencies:
                answer = post(client, request_in_zone(dependency, zone, fragment))
                assert answer.status_code == 200, (zone, fragment, dependency["output"][:60], answer.get_data()[:300])
                answers[zone, fragment, dependency["output"]] = answer.get_json()["response"]
    no_error_logged(caplog)

    shown = [(key, text) for response in answers.values() for key, text in texts_in(response)]
    assert not [text for _, text in shown if any(unicodedata.category(c) in ("Cc", "Cf") for c in text)]
    assert not [text[:80] for key, text in shown if key == "children" and len(text) > LONGEST_SHOWN]
    titles = {text for key, text in shown if key == "title"}
    assert kind_label(LONG_KIND) in titles and "<img src=x onerror=alert(4)>ban" in titles

    refresh = next(output for output in answers if output[0] == "Europe/Paris" and "updated-at" in output[2])
    page = json.dumps(answers[refresh])
    assert "Loading" not in page and "zerowidth" in page and "warn" in page
    assert f"{2 * BIG_AMOUNT:,}" in page  # the coins earned, all 19 digits
    panel = answers["Asia/Kolkata", fragments[1], f"..{ids.HOUR_PANEL}.hidden...{ids.HOUR_PANEL_TITLE}.children..."
                    f"{ids.HOUR_PANEL_BODY}.children.."]
    assert panel[ids.HOUR_PANEL]["hidden"] is False
    assert "/evil" in json.dumps(panel) and panel[ids.HOUR_PANEL_TITLE]["children"].endswith(f"IST ({hour:%H}:00 UTC)")


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # its SUM takes 20 digits
@pytest.mark.parametrize("width", [1440, 390])
def test_the_page_renders_hostile_rows_in_a_browser_east_of_utc(browser, make_app, live_server, engine, clock, width):
    hour = hostile_rows(engine, clock())
    insert_rows(engine, transaction_rows=[transaction(hour, kind="DAILY_REWARD", amount=BIG_AMOUNT)])
    server = live_server(make_app())
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="Europe/Paris")
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/#hour={hour:%Y-%m-%dT%H}:00Z")
        page.wait_for_selector(f"#{ids.ACTIVITY_ZONE}:text-is('(Europe/Paris, UTC+01:00)')", timeout=15_000)
        page.wait_for_selector(f"#{ids.RECENT_EVENTS} .event-time", timeout=15_000)
        page.wait_for_selector(f"#{ids.HOUR_PANEL_BODY} .count-name", timeout=15_000)
        page.wait_for_selector(f"#{ids.GLANCE} .glance-value:text-is('{3 * BIG_AMOUNT:,}')", timeout=15_000)
        page.wait_for_selector(f"#{ids.ACTIVITY_CHART} .main-svg", timeout=15_000)
        # Measured in one go (a refresh may replace elements between two calls).
        layout = page.evaluate(
            """([events, glance]) => {
                const boxes = [...document.querySelectorAll(`#${glance} .glance-figure`)]
                    .map((figure) => figure.getBoundingClientRect());
                const overlapping = boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) =>
                    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1));
                const numbers = [...document.querySelectorAll(".glance-value, .kpi-value, .count-value")];
                return {
                    pageWidth: document.documentElement.scrollWidth,
                    events: document.getElementById(events).innerText,
                    overlapping: overlapping.length,
                    overflowing: numbers.filter((n) => n.scrollWidth > n.clientWidth + 1).map((n) => n.innerText),
                    text: document.body.innerText,
                };
            }""",
            [ids.RECENT_EVENTS, ids.GLANCE],
        )
        assert layout["pageWidth"] == width  # exactly the viewport: no horizontal scrolling
        assert "Loading" not in layout["events"] and "<img src=x onerror=alert(4)>ban" in layout["events"]
        assert layout["overlapping"] == 0 and layout["overflowing"] == []
        assert not [c for c in layout["text"] if unicodedata.category(c) == "Cf"]
        assert page.locator(f"#{ids.HOUR_PANEL_BODY} .count-name[title='{kind_label(LONG_KIND)}']").count() == 2
        assert errors == []
    finally:
        context.close()
