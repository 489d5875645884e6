"""What one open page downloads from Dash's callbacks: the bytes of every `/_dash-update-component`
answer during the page load, then during the next refreshes, recorded in Debian's Chromium on the demo.

    .venv/bin/python -m bench.page_payload [SECONDS]     (default: 70, two refreshes of 30 s)
"""

from __future__ import annotations

import json
import sys
import time
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

from bench.demo_page import demo_url, launch_chromium, open_demo


def record(url: str, seconds: float) -> None:
    sizes: list[tuple[float, int, str]] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)

        def answered(response) -> None:
            if urlsplit(response.url).path.endswith("/_dash-update-component") and response.status == 200:
                body = response.body()
                outputs = ",".join(sorted(json.loads(body).get("response", {})))
                sizes.append((time.monotonic(), len(body), outputs))

        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("response", answered)
        open_demo(browser, url).close()  # warms the server's first figures
        page.goto(url)
        page.wait_for_selector("#activity-chart .trace.bars .point", timeout=30_000)
        page.wait_for_timeout(3000)
        loaded = len(sizes)
        page.wait_for_timeout(seconds * 1000)
        browser.close()
    load = sizes[:loaded]
    later = sizes[loaded:]
    refresh = max((size for _, size, outputs in later if "activity-chart" in outputs), default=0)
    print(f"page load: {len(load)} answers, {sum(size for _, size, _ in load):,} bytes")
    print(f"after it, {seconds:.0f} s: {len(later)} answers, {sum(size for _, size, _ in later):,} bytes")
    print(f"largest refresh answer (the one with the chart): {refresh:,} bytes")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 70
    with demo_url() as url:
        record(url, seconds)


if __name__ == "__main__":
    main()
