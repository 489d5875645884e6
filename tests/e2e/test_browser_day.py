"""The interactive day in headless Chromium: an hour's panel (by click, by keyboard, from the
address), the chart's legend and table, the glance, the time zone, and no console errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.layouts import ids
from tests.e2e.test_browser import open_dashboard, wait_in_page
from tests.support import NOW, case, command, insert_rows, transaction

pytestmark = [pytest.mark.browser, pytest.mark.clock]

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
TARGET = HOUR - timedelta(hours=2)
HASH = f"#hour={TARGET:%Y-%m-%dT%H:00Z}"
PANEL = f"#{ids.HOUR_PANEL}"
BAR = f"#{ids.ACTIVITY_CHART} .trace.bars path[data-hour]"


@pytest.fixture
def database_url(sqlite_url):
    """The page does not care which database is behind the service (both are covered below it)."""
    return sqlite_url


@pytest.fixture
def seeded_server(make_app, live_server, engine):
    at = TARGET + timedelta(minutes=20)
    insert_rows(
        engine,
        transaction_rows=[
            *(command(at, "ping") for _ in range(7)),
            *(command(at, "balance") for _ in range(2)),
            transaction(at, "SHOP_BUY", 900),
            *(command(at - timedelta(days=days)) for days in range(1, 8)),  # one a day before: mean 1.0
            command(HOUR - timedelta(hours=5)),
        ],
        case_rows=[case(at, "ban")],
    )
    return live_server(make_app())


def click_bar(page, index: int) -> None:
    """A real click where the bar is drawn (Plotly's drag layer above the bars takes the event)."""
    box = page.locator(f"#{ids.ACTIVITY_CHART} .trace.bars").first.locator(".point").nth(index).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_an_hour_opens_by_click_keyboard_and_address_and_the_chart_reads_as_text(page, seeded_server):
    open_dashboard(page, seeded_server)
    page.wait_for_selector(f"#{ids.ACTIVITY_CHART} .main-svg")
    # Four series: the bars and the 7-day same-hour means.
    page.wait_for_selector(f"#{ids.ACTIVITY_CHART} .legend .traces >> nth=3")
    # The economy and moderation at a glance, from the same rows.
    glance = page.locator(f"#{ids.GLANCE}")
    glance.locator(".glance-card").first.wait_for()
    assert "Coins spent\n900" in glance.inner_text() and "Moderation cases\n1" in glance.inner_text()

    # A click on the target hour's commands bar (the bars carry their UTC hour).
    click_bar(page, 21)  # the 24 hours run oldest first: TARGET is the 22nd
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    body = page.locator(f"#{ids.HOUR_PANEL_BODY}")
    body.locator(".panel-grid").wait_for()
    text = body.inner_text()
    assert "Commands: 9" in page.locator(f"#{ids.HOUR_PANEL_BODY} h3").first.inner_text()
    assert "/ping\n7" in text and "/balance\n2" in text
    assert "Shop buy\n1 · 900 coins" in text and "Ban\n1" in text
    assert "mean 1.0 · min 1 · max 1" in text
    assert page.evaluate("location.hash") == HASH
    page.wait_for_selector(f"{BAR}[data-index='21'][aria-pressed='true']")

    # The same hour again closes it; Escape closes it too.
    click_bar(page, 21)
    panel.wait_for(state="hidden")
    assert page.evaluate("location.hash") in ("", "#")
    # The bar is a button for the keyboard too: focused, it says its hour; Enter opens it.
    target_bar = page.locator(f"{BAR}[data-index='21']")
    assert target_bar.get_attribute("aria-label") == f"Details of {TARGET:%H:%M} UTC"
    target_bar.focus()
    page.keyboard.press("Enter")
    panel.wait_for(state="visible")
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")

    # The address holds the hour: a reload shows its panel again.
    page.goto(seeded_server.url + "/" + HASH)
    panel.wait_for(state="visible")
    page.wait_for_selector(f"#{ids.HOUR_PANEL_BODY} .panel-grid")
    assert "Commands: 9" in page.locator(f"#{ids.HOUR_PANEL_BODY}").inner_text()

    # The legend hides a series; "Show as table" gives every number as text.
    legend = page.locator(f"#{ids.ACTIVITY_CHART} .legend .traces").first
    legend.click()
    wait_in_page(page, lambda: legend.evaluate("element => element.style.opacity") == "0.5")
    page.locator(f"#{ids.TABLE_TOGGLE}").click()
    table = page.locator(f"#{ids.ACTIVITY_TABLE} table")
    table.wait_for(state="visible")
    assert page.locator(f"#{ids.TABLE_TOGGLE}").get_attribute("aria-pressed") == "true"
    row = table.locator("tbody tr").nth(21).inner_text().split("\t")
    assert row == [f"{TARGET:%H:%M}", "9", "1", "1.0", "0.0"]
    # Each row's hour is a button: the one before the target opens its own panel.
    table.locator("tbody tr").nth(20).locator("button").click()
    wait_in_page(page, lambda: page.evaluate("location.hash") == f"#hour={TARGET - timedelta(hours=1):%Y-%m-%dT%H:00Z}")
    page.wait_for_selector(f"#{ids.HOUR_PANEL_TITLE}:has-text('{TARGET - timedelta(hours=1):%H:%M}')")
    assert page.console_errors == []


def test_times_follow_the_browsers_zone_and_the_utc_switch(browser, seeded_server):
    context = browser.new_context(timezone_id="Asia/Kolkata", viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_dashboard(page, seeded_server)
        zone = page.locator(f"#{ids.ACTIVITY_ZONE}")
        # Chromium names the zone by its older alias, Asia/Calcutta.
        wait_in_page(
            page, lambda: zone.inner_text() in ("(Asia/Kolkata, UTC+05:30)", "(Asia/Calcutta, UTC+05:30)")
        )
        first_tick = f"#{ids.ACTIVITY_CHART} .xtick text"
        page.wait_for_selector(f"{first_tick}:text-matches(':30$')")
        local_tick = page.locator(first_tick).first.text_content()
        assert local_tick == f"{HOUR - timedelta(hours=23) + timedelta(hours=5, minutes=30):%H:%M}"
        assert page.locator(f"#{ids.ZONE_NOTE}").is_visible()
        assert "each one starts at :30" in page.locator(f"#{ids.ZONE_NOTE}").inner_text()
        assert page.locator(f"#{ids.UPDATED_AT}").inner_text().endswith("IST")

        page.locator(f"#{ids.ZONE_TOGGLE}").click()
        page.wait_for_selector(f"#{ids.ACTIVITY_ZONE}:text-is('(UTC)')")
        page.wait_for_selector(f"{first_tick}:text-is('{HOUR - timedelta(hours=23):%H:%M}')")
        assert page.locator(f"#{ids.ZONE_NOTE}").is_hidden()
        # The choice is kept in the browser: a reload stays in UTC.
        page.reload()
        page.wait_for_selector(f"#{ids.ZONE_TOGGLE}:text-is('Times: UTC')")
        assert zone.inner_text() == "(UTC)"
        assert errors == []
    finally:
        context.close()
