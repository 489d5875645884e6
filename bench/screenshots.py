"""The README's screenshots of the demo: light and dark at 1440 × 900, and a phone at 390 × 844.

    .venv/bin/python -m bench.screenshots [OUTPUT_FOLDER]     (default: docs/screenshots)

For each view: the whole page, then the window after a click on the bar of the hour before the
current one (its panel).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import ROOT
from bench.demo_page import demo_url, launch_chromium, open_demo

VIEWS = (
    ("light", "light", {"width": 1440, "height": 900}),
    ("dark", "dark", {"width": 1440, "height": 900}),
    ("phone", "light", {"width": 390, "height": 844}),
)


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


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    with demo_url() as url:
        shoot(url, folder)
    print(f"screenshots in {folder}")


if __name__ == "__main__":
    main()
