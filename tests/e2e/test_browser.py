"""The real page in headless Chromium: numbers equal the API, chart and events render, no
console errors, and database text stays text."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from aurora import create_app
from aurora.api.stream import event_id
from aurora.demo.simulation.director import Rhythm
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.layouts import ids
from aurora.settings import Settings
from aurora.web.context import context_of
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support import (
    FAST_BOT_OPTIONS,
    NOW,
    Stream,
    case,
    command,
    insert_rows,
    serve_preparing,
    transaction,
    user,
    with_fake_discord,
)

pytestmark = [pytest.mark.browser, pytest.mark.clock]


@pytest.fixture
def database_url(sqlite_url):
    """The page does not care which database is behind the service (both are covered below it)."""
    return sqlite_url


def kpi_text(page, card_id):
    return page.locator(f"#{ids.kpi_value(card_id)}").inner_text()


def open_dashboard(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_USERS)}:not(.loading)", timeout=15_000)


def test_page_shows_the_same_numbers_as_the_api(page, make_app, live_server, engine, clock):
    insert_rows(
        engine,
        user_rows=[user(NOW - timedelta(days=40)) for _ in range(3)] + [user(NOW) for _ in range(1234)],
        transaction_rows=[command(NOW - timedelta(minutes=m), name="balance") for m in range(1, 40)]
        + [transaction(NOW - timedelta(hours=2), kind="SHOP_BUY", amount=900)],
        case_rows=[case(NOW - timedelta(seconds=30), kind="ban")],
    )
    server = live_server(make_app())
    open_dashboard(page, server)
    api = page.request.get(server.url + "/api/stats").json()

    assert kpi_text(page, ids.KPI_USERS) == f"{api['users']['active']:,}" == "1,237"
    assert kpi_text(page, ids.KPI_COMMANDS) == str(api["commands"]["total"]) == "39"
    assert kpi_text(page, ids.KPI_SERVERS) == "—"
    assert page.locator(f"#{ids.kpi_change(ids.KPI_SERVERS)}").inner_text() == "Bot disabled"
    assert page.locator(f"#{ids.BOT_STATUS}").inner_text() == "Bot disabled"
    assert page.locator(f"#{ids.DEMO_BADGE}").is_hidden()

    events = page.locator(f"#{ids.RECENT_EVENTS} li")
    assert events.count() == len(api["recentEvents"]) == 10
    assert events.first.locator(".event-message").inner_text() == api["recentEvents"][0]["message"]

    page.wait_for_selector(f"#{ids.ACTIVITY_CHART} .main-svg", timeout=10_000)
    assert page.locator(f"#{ids.ACTIVITY_CHART} .trace.bars").count() == 2
    assert page.locator(f"#{ids.TOP_COMMANDS} li").first.inner_text().startswith("/balance")
    assert page.locator(f"#{ids.DOWNLOAD_CSV}").get_attribute("href") == "/api/activity.csv"
    assert page.console_errors == []


def test_the_demo_shows_its_bot_in_the_simulated_discord(page, make_app, live_server):
    app = make_app(demo=True, simulated_discord=True, bot_options=FAST_BOT_OPTIONS,
                   simulation_options={"seed": 7, "rhythm": Rhythm(guilds=6, members=(3, 8))})
    SimulatedDiscord.wait_for(lambda: (s := context_of(app).service.current()).guild_count and s.ping_avg_ms)
    server = live_server(app)
    open_dashboard(page, server)
    assert page.locator(f"#{ids.DEMO_BADGE}").inner_text() == "Demo data"
    assert page.locator(f"#{ids.SIMULATED_BADGE}").is_visible()
    assert page.locator(f"#{ids.SIMULATED_BADGE}").inner_text() == "Simulated Discord"
    assert kpi_text(page, ids.KPI_SERVERS) == "6"
    assert kpi_text(page, ids.KPI_PING).endswith(" ms")
    # On a phone (no hover) each badge says what it means in visible text, and nothing scrolls sideways.
    assert page.locator(f"#{ids.DEMO_BADGE} .badge-note").is_hidden()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator(f"#{ids.DEMO_BADGE} .badge-note").inner_text() == "Generated data, not a live bot's records"
    assert page.locator(f"#{ids.SIMULATED_BADGE} .badge-note").is_visible()
    # (the chart follows the narrower window after Plotly's own resize pause)
    wait_in_page(page, lambda: page.evaluate("document.documentElement.scrollWidth") <= 390, timeout=5)
    assert page.console_errors == []


def test_csv_button_downloads_the_activity(page, make_app, live_server, engine):
    insert_rows(engine, transaction_rows=[command(NOW)])
    server = live_server(make_app())
    open_dashboard(page, server)
    with page.expect_download() as download_info:
        page.locator(f"#{ids.DOWNLOAD_CSV}").click()
    download = download_info.value
    content = open(download.path(), encoding="utf-8").read().splitlines()
    assert content[0] == "hour,commands,transactions"
    assert len(content) == 25
    assert page.console_errors == []


def test_database_text_is_rendered_as_text_not_html(page, make_app, live_server, engine):
    payloads = ['<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=1">']
    insert_rows(
        engine,
        transaction_rows=[command(NOW - timedelta(minutes=i), name=payload) for i, payload in enumerate(payloads)]
        + [transaction(NOW - timedelta(minutes=5), kind=payloads[1])],
        case_rows=[
            case(NOW - timedelta(minutes=3), kind=payloads[0], case_id=payloads[1]),
        ],
    )
    server = live_server(make_app())
    open_dashboard(page, server)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator(f"#{ids.RECENT_EVENTS} img").count() == 0
    assert page.locator(f"#{ids.RECENT_EVENTS} script").count() == 0
    assert payloads[1] in page.locator(f"#{ids.RECENT_EVENTS}").inner_text()
    assert page.console_errors == []


@pytest.mark.postgres
def test_a_missing_database_is_said_on_the_page_with_no_loading_and_no_empty_chart(page, live_server):
    name = "aurora_browser_missing_db"
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, database_is_default=False, demo=False, simulated_discord=False)
    server = live_server(create_app(settings))
    page.goto(server.url + "/")
    banner = page.locator(f"#{ids.STATUS_BANNER}")
    banner.wait_for(state="visible", timeout=15_000)
    page.wait_for_function("() => !document.body.innerText.includes('Loading')", timeout=15_000)
    assert f'database "{name}" does not exist on 127.0.0.1:5432; create it (`createdb {name}`)' in banner.inner_text()
    assert banner.inner_text().startswith("Database unavailable since ")
    assert "error" in banner.get_attribute("class")
    assert kpi_text(page, ids.KPI_USERS) == "—"
    assert page.locator(f"#{ids.kpi_change(ids.KPI_USERS)}").inner_text() == "database unavailable"
    chart = page.locator(f"#{ids.ACTIVITY_CHART}")
    chart.locator(".annotation-text").wait_for(timeout=10_000)
    assert chart.locator(".annotation-text").text_content().startswith("No figures: the database is")
    assert chart.locator(".trace").count() == 0 and chart.locator(".xtick, .ytick").count() == 0
    # The lone "No events" row reads on one line, not one word per line in the icon's column.
    events_message = page.locator(f"#{ids.RECENT_EVENTS} li.muted")
    assert events_message.evaluate("li => { const r = document.createRange(); r.selectNodeContents(li); "
                                   "return r.getClientRects().length; }") == 1
    assert page.locator(f"#{ids.TOP_COMMANDS}").inner_text() == "No commands: database unavailable"
    health_chart = page.locator(f"#{ids.BOT_HEALTH_CHART}")
    health_chart.locator(".annotation-text").wait_for(timeout=10_000)
    assert health_chart.locator(".xtick, .ytick").count() == 0  # a message, no empty axes
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)  # the responsive chart lays itself out again
    box, message = chart.bounding_box(), chart.locator(".annotation").bounding_box()
    assert box["x"] <= message["x"] and message["x"] + message["width"] <= box["x"] + box["width"]
    assert page.console_errors == []


def test_while_the_first_figures_are_prepared_the_page_says_so(page, make_app, live_server, engine, clock):
    app = serve_preparing(make_app(), engine, clock, 0.37)
    server = live_server(app)
    page.goto(server.url + "/")
    banner = page.locator(f"#{ids.STATUS_BANNER}")
    banner.wait_for(state="visible", timeout=15_000)
    assert banner.inner_text() == "Preparing figures… 37 %"
    assert "error" not in (banner.get_attribute("class") or "")
    assert kpi_text(page, ids.KPI_USERS) == "Loading…"
    assert page.console_errors == []


def test_page_shows_the_connected_bot(page, make_app, live_server):
    with SimulatedDiscord(token="browser-token", guilds=[4, 6]) as fake:
        app = make_app(**with_fake_discord(fake))
        client = app.server.test_client()
        SimulatedDiscord.wait_for(lambda: client.get("/api/stats").get_json()["ping"]["avg"] is not None)
        server = live_server(app)
        open_dashboard(page, server)
        # Selectors, not wait_for_function: the page's CSP (rightly) forbids string evaluation.
        page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_SERVERS)}:text-is('2')")
        ping = page.locator(f"#{ids.kpi_value(ids.KPI_PING)}").inner_text()
        assert ping.endswith(" ms") and ping[:-3].isdigit()
        assert page.locator(f"#{ids.BOT_STATUS}").inner_text().startswith("Bot connected")
        assert page.console_errors == []
        context_of(app).shutdown()


def pushed_event_ids(request) -> list[str]:
    """The stream event id a Dash refresh request carries, if a stream event triggered it."""
    if "/_dash-update-component" not in request.url:
        return []
    payload = json.loads(request.post_data)
    if "live-stats.data" not in payload["changedPropIds"]:
        return []
    return [value["value"] for value in payload["inputs"] if value["id"] == ids.LIVE_STATS]


def wait_in_page(page, predicate, timeout: float = 15.0) -> None:
    """Poll `predicate` while letting Playwright deliver the page's events (it does so only inside its calls)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(100)


def test_the_page_opens_one_live_stream_and_updates_from_it(page, make_app, live_server, engine, clock):
    app = make_app(refresh_seconds=2)
    server = live_server(app)
    slots = context_of(app).streams
    pushed = []  # the live-stats values (event ids) of refreshes a stream event triggered (assets/live.js)
    page.on("request", lambda request: pushed.extend(pushed_event_ids(request)))
    open_dashboard(page, server)
    wait_in_page(page, lambda: slots.open_streams == 1 and pushed)
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
    clock.advance(seconds=3)
    client = app.server.test_client()
    SimulatedDiscord.wait_for(lambda: client.get("/api/stats").get_json()["commands"]["total"] == 1, timeout=10)
    new_id = event_id(client.get("/api/stats").get_data())
    wait_in_page(page, lambda: new_id in pushed)
    page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_COMMANDS)}:text-is('1')", timeout=15_000)
    assert slots.open_streams == 1
    assert page.console_errors == []


def test_with_every_stream_taken_the_page_polls_without_an_error(page, make_app, live_server, engine, clock):
    app = make_app(stream_max_total=1, refresh_seconds=1)
    server = live_server(app)
    slots = context_of(app).streams
    elsewhere = Stream(server.url)  # another viewer holds the one stream
    stream_requests = []
    page.on("request", lambda request: "/api/stats/realtime" in request.url and stream_requests.append(request.url))
    try:
        open_dashboard(page, server)
        assert kpi_text(page, ids.KPI_COMMANDS) == "0"
        insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
        clock.advance(seconds=2)
        page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_COMMANDS)}:text-is('1')", timeout=15_000)
        page.wait_for_timeout(1500)  # live.js looks every second: give it the chance to misbehave
        assert stream_requests == []
        assert slots.open_streams == 1
        assert page.console_errors == []
        # Once the stream is free again, the page takes it after its next refresh.
        with page.expect_request(lambda request: "/api/stats/realtime" in request.url, timeout=15_000):
            elsewhere.close()
    finally:
        elsewhere.close()
    SimulatedDiscord.wait_for(lambda: slots.open_streams == 1, timeout=5)
    assert page.console_errors == []


LONG_NAME = "x" * 5000
RTL_OVERRIDE = "\u202e"


def text_lefts(page, selector: str, word: str) -> list[float]:
    """The left edge of each character of the last `word` in the element's text, as laid out."""
    return page.evaluate(
        """([selector, word]) => {
            const node = document.querySelector(selector).firstChild;
            const start = node.textContent.lastIndexOf(word);
            return [...word].map((_, i) => {
                const range = document.createRange();
                range.setStart(node, start + i);
                range.setEnd(node, start + i + 1);
                return range.getBoundingClientRect().left;
            });
        }""",
        [selector, word],
    )


@pytest.mark.parametrize("width", [1366, 390])
def test_a_long_or_right_to_left_command_name_leaves_the_page_as_it_is(page, make_app, live_server, engine, width):
    rtl_name = f"{RTL_OVERRIDE}evil"
    insert_rows(
        engine,
        transaction_rows=[command(NOW - timedelta(minutes=m), name=LONG_NAME) for m in range(1, 4)]
        + [command(NOW - timedelta(seconds=30), name=rtl_name), command(NOW - timedelta(seconds=20), name=rtl_name)],
    )
    page.set_viewport_size({"width": width, "height": 900})
    server = live_server(make_app())
    open_dashboard(page, server)
    page.wait_for_selector(f"#{ids.TOP_COMMANDS} .command-name")

    # Measured in one go (a refresh may replace the list's elements between two calls).
    layout = page.evaluate(
        """([commands, events]) => {
            const name = document.querySelector(`#${commands} li:first-child .command-name`);
            const message = document.querySelectorAll(`#${events} .event-message`)[2];
            return {
                pageWidth: document.documentElement.scrollWidth,
                nameTitle: name.title, nameWidth: name.getBoundingClientRect().width,
                messageTitle: message.title, messageHeight: message.getBoundingClientRect().height,
            };
        }""",
        [ids.TOP_COMMANDS, ids.RECENT_EVENTS],
    )
    assert layout["pageWidth"] == width  # exactly the viewport: no horizontal scrolling
    assert layout["nameTitle"] == f"/{LONG_NAME}" and layout["nameWidth"] < width
    assert layout["messageTitle"] == f"Command /{LONG_NAME} run"
    assert layout["messageHeight"] < 100  # clamped to a few lines

    # The override does not reverse what follows the name: "run" still reads left to right.
    newest = f"#{ids.RECENT_EVENTS} li:first-child .event-message"
    assert page.locator(newest).inner_text() == "Command /evil run"
    lefts = text_lefts(page, newest, "run")
    assert lefts == sorted(lefts) and len(set(lefts)) == 3, lefts
    rtl_item = page.locator(f"#{ids.TOP_COMMANDS} li").nth(1)
    assert rtl_item.locator(".command-name").inner_text() == "/evil"
    assert rtl_item.locator("bdi").count() == 1
    assert page.console_errors == []
