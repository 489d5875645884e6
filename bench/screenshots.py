"""The README's screenshots of the demo: light and dark at 1440 × 900, and a phone at 390 × 844;
then the page in each failure state it explains (light at 1440 × 900, the missing database on the
phone too).

    .venv/bin/python -m bench.screenshots [OUTPUT_FOLDER]     (default: docs/screenshots)

For each view of the demo: the whole page, then the window after a click on the bar of the hour
before the current one (its panel). The failure states are the window only (small PNGs for git).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import ROOT, free_port
from bench.demo_page import demo_url, launch_chromium, open_demo

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWS = (
    ("light", "light", WIDE),
    ("dark", "dark", WIDE),
    ("phone", "light", PHONE),
)
MISSING_DATABASE = "postgresql://postgres@127.0.0.1:5432/aurora_missing_db"


def shoot(url: str, folder: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name, scheme, viewport in VIEWS:
            page = open_demo(browser, url, viewport=viewport, color_scheme=scheme, timezone_id="UTC")
            page.wait_for_timeout(1500)  # the simulated bot's first servers and ping
            page.screenshot(path=str(folder / f"demo-{name}.png"), full_page=True)
            page.locator("#activity-chart").scroll_into_view_if_needed()
            bar = page.locator("#activity-chart .trace.bars").first.locator(".point").nth(22).bounding_box()
            page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] - 2)
            page.wait_for_selector("#hour-panel-body .panel-grid", timeout=15_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(folder / f"demo-{name}-hour.png"))
            page.close()
        browser.close()


def shoot_failure(url: str, folder: Path, name: str, shown: str, views=(("", WIDE),), before=None) -> None:
    """The window of a page on `url` once `shown` (a selector) appears; `before(page)` runs once the
    first figures are drawn, to make the failure happen."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for suffix, viewport in views:
            page = browser.new_page(viewport=viewport, color_scheme="light", timezone_id="UTC")
            page.goto(url)
            if before is not None:
                before(page)
            page.wait_for_selector(shown, timeout=60_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(folder / f"failure-{name}{suffix}.png"))
            page.close()
        browser.close()


def shoot_failures(folder: Path) -> None:
    with demo_url({"DATABASE_URL": MISSING_DATABASE}, init_db=False) as url:
        shoot_failure(url, folder, "missing-database", "#status-banner.error:not([hidden])",
                      views=(("", WIDE), ("-phone", PHONE)))
    closed = free_port()  # nothing listens there: every connection to "Discord" is refused
    discord = {"DISCORD_TOKEN": "screenshot.token.value", "DISCORD_API_BASE": f"http://127.0.0.1:{closed}/api/v10",
               "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{closed}/"}
    with demo_url(discord) as url:
        shoot_failure(url, folder, "discord-unreachable", "#bot-status:has-text('Discord unreachable since')")
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "demo.db"

        def break_database(page) -> None:
            # The first figures from a good file, then the file stops being a database.
            page.wait_for_selector("#activity-chart .trace.bars .point", timeout=30_000)
            database.write_bytes(b"not a database any more" * 1024)

        with demo_url({"DATABASE_URL": f"sqlite:///{database}", "AURORA_REFRESH_SECONDS": "2"}) as url:
            shoot_failure(url, folder, "data-delayed", "#status-banner:has-text('Data delayed since')",
                          before=break_database)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    with demo_url() as url:
        shoot(url, folder)
    shoot_failures(folder)
    print(f"screenshots in {folder}")


if __name__ == "__main__":
    main()
