"""The real page in headless Chromium: numbers equal the API, chart and events render, no
console errors, and database text stays text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora import create_app, ids
from aurora.config import Settings
from tests.fake_discord import FakeDiscord
from tests.support import NOW, case, command, insert_rows, transaction, user, with_fake_discord

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


def test_demo_badge_is_visible_on_demo_data(page, make_app, live_server):
    server = live_server(make_app(demo=True))
    open_dashboard(page, server)
    assert page.locator(f"#{ids.DEMO_BADGE}").is_visible()
    assert page.locator(f"#{ids.DEMO_BADGE}").inner_text() == "Demo data"
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


def test_unreachable_database_shows_an_error_state(page, tmp_path, live_server):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'gone' / 'x.db'}", database_is_default=False, demo=False)
    server = live_server(create_app(settings))
    page.goto(server.url + "/")
    banner = page.locator(f"#{ids.STATUS_BANNER}")
    banner.wait_for(state="visible", timeout=15_000)
    assert "database is unreachable" in banner.inner_text()
    assert kpi_text(page, ids.KPI_USERS) == "Loading…"
    assert page.console_errors == []


def test_page_shows_the_connected_bot(page, make_app, live_server):
    with FakeDiscord(token="browser-token", guilds=[4, 6]) as fake:
        app = make_app(**with_fake_discord(fake))
        client = app.server.test_client()
        FakeDiscord.wait_for(lambda: client.get("/api/stats").get_json()["ping"]["avg"] is not None)
        server = live_server(app)
        open_dashboard(page, server)
        # Selectors, not wait_for_function: the page's CSP (rightly) forbids string evaluation.
        page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_SERVERS)}:text-is('2')")
        ping = page.locator(f"#{ids.kpi_value(ids.KPI_PING)}").inner_text()
        assert ping.endswith(" ms") and ping[:-3].isdigit()
        assert page.locator(f"#{ids.BOT_STATUS}").inner_text().startswith("Bot connected")
        assert page.console_errors == []
        app.server.extensions["aurora"].shutdown()
