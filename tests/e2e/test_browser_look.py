"""The page as a product, in headless Chromium on a wide screen (1440 × 900) and a phone (390 × 844):
the hour panel scrolled into view after a click on a bar or Enter on a focused bar, a legend that
never covers the bars, no sideways scrolling, kinds in words and no console errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.layouts import ids
from tests.e2e.test_browser import open_dashboard, wait_in_page
from tests.support import NOW, case, command, insert_rows, transaction

pytestmark = [pytest.mark.browser, pytest.mark.clock]

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
BARS = f"#{ids.ACTIVITY_CHART} .trace.bars"


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def server(make_app, live_server, engine):
    rows = [command(HOUR - timedelta(hours=hours, minutes=-10), "ping") for hours in range(24) for _ in range(hours % 7 + 3)]
    rows += [transaction(HOUR - timedelta(hours=3), "DAILY_REWARD", 1200), transaction(HOUR - timedelta(hours=2), "TRANSFER_IN", 50)]
    insert_rows(engine, transaction_rows=rows, case_rows=[case(HOUR - timedelta(hours=2), "warn")])
    return live_server(make_app())


@pytest.fixture(params=[WIDE, PHONE], ids=["1440x900", "390x844"])
def sized_page(request, page):
    page.set_viewport_size(request.param)
    return page


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def in_view(page, selector: str) -> bool:
    """The element's top part (its heading) is inside the window."""
    element = page.locator(selector)
    if not element.is_visible():
        return False
    top = element.evaluate("element => element.getBoundingClientRect().top")
    return 0 <= top and top + 40 <= page.viewport_size["height"]


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def click_bar(page, index: int) -> None:
    """A real click where the bar is drawn, once the chart is in the window (below the figures on a phone)."""
    page.locator(f"#{ids.ACTIVITY_CHART}").scroll_into_view_if_needed()
    bar = page.locator(BARS).first.locator(".point").nth(index).bounding_box()
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] - 2)


def test_the_hour_panel_is_scrolled_into_view_after_a_click_and_after_enter(sized_page, server):
    page = sized_page
    open_dashboard(page, server)
    page.wait_for_selector(f"{BARS} path[data-hour]")
    panel = f"#{ids.HOUR_PANEL}"
    assert page.locator(panel).is_hidden()

    click_bar(page, 21)
    wait_in_page(page, lambda: in_view(page, panel))
    page.wait_for_selector(f"#{ids.HOUR_PANEL_BODY} .panel-grid")
    wait_in_page(page, lambda: in_view(page, panel))  # its body drawn, still in view
    assert page.evaluate("location.hash") == f"#hour={HOUR - timedelta(hours=2):%Y-%m-%dT%H:00Z}"
    page.wait_for_selector(f"{BARS} path[data-index='21'][aria-pressed='true']")

    # By keyboard: Escape closes; Tab reaches the bars, the arrows move between hours, Enter opens.
    page.keyboard.press("Escape")
    page.locator(panel).wait_for(state="hidden")
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f"#{ids.DOWNLOAD_CSV}").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('data-index')")
    assert focused == "0"
    page.locator(f"{BARS} path[data-index='19']").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        f"Details of {HOUR - timedelta(hours=3):%H:%M} UTC"  # index 20
    )
    page.keyboard.press("Enter")
    wait_in_page(page, lambda: in_view(page, panel))
    assert page.evaluate("location.hash") == f"#hour={HOUR - timedelta(hours=3):%Y-%m-%dT%H:00Z}"
    assert page.console_errors == []


def test_the_legend_never_covers_the_bars_and_nothing_scrolls_sideways(sized_page, server):
    page = sized_page
    open_dashboard(page, server)
    page.wait_for_selector(f"#{ids.ACTIVITY_CHART} .legend .traces >> nth=3")
    page.wait_for_timeout(300)  # the responsive chart settles to the card's width
    width = page.viewport_size["width"]
    entries = [entry.bounding_box() for entry in page.locator(f"#{ids.ACTIVITY_CHART} .legend .traces").all()]
    if width >= 1440:
        assert len({round(entry["y"]) for entry in entries}) == 1  # one line
    for index, entry in enumerate(entries):
        assert 0 <= entry["x"] and entry["x"] + entry["width"] <= width  # inside the page
        assert not any(overlaps(entry, other) for other in entries[index + 1:])
    bars = [bar.bounding_box() for bar in page.locator(f"#{ids.ACTIVITY_CHART} .point path").all()]
    texts = [text.bounding_box() for text in page.locator(f"#{ids.ACTIVITY_CHART} .legend text").all()]
    assert bars and texts
    assert not any(overlaps(text, bar) for text in texts for bar in bars if bar["height"] > 0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # On a phone the table toggle stays on one line, and the badges' explanations are text.
    toggle = box(page, f"#{ids.TABLE_TOGGLE}")
    assert toggle["height"] < 40
    assert page.console_errors == []


def test_kinds_read_as_words_and_an_empty_day_says_none(page, server):
    open_dashboard(page, server)
    glance = page.locator(f"#{ids.GLANCE}")
    glance.locator(".glance-card").first.wait_for()
    text = glance.inner_text()
    assert "Daily reward\n1 · 1,200 coins" in text and "Transfer in\n1 · 50 coins" in text
    assert "DAILY_REWARD" not in text and "TRANSFER_IN" not in text
    assert "Warn\n1" in text
    assert "-100.0%" not in text
    page.locator(f"#{ids.TABLE_TOGGLE}").click()
    hour = page.locator(f"#{ids.ACTIVITY_TABLE} button[data-hour]").nth(21)
    hour.click()
    page.wait_for_selector(f"#{ids.HOUR_PANEL_BODY} .panel-grid")
    assert "Transfer in\n1 · 50 coins" in page.locator(f"#{ids.HOUR_PANEL_BODY}").inner_text()
    assert hour.get_attribute("aria-pressed") == "true"
    assert page.console_errors == []
