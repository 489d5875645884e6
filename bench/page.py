"""Target 4: time until the KPI numbers show in headless Chromium, against an empty Dash app's first
render, and the callback payload of one refresh.

    python -m bench.page --size 100k --runs 10

Both apps run under gunicorn with the same settings; each visit is a fresh browser context (no
cache). Times are the page's own `performance.now()` (from navigation start) at the moment the
KPI values hold digits, or the empty app's Div is in the DOM; the medians are compared. The
payload is every `/_dash-update-component` request and response body of one page load (the
initial refresh).
"""

from __future__ import annotations

import argparse
import shutil
import statistics

from bench.common import Result, gunicorn, print_results, wait_for_http
from bench.generate import ensure_dataset
from bench.throughput import THREADS, WORKERS, app_environment

KPIS_SHOWN = """() => {
  const ids = ["kpi-users-value", "kpi-commands-value"];
  const ready = ids.every((id) => {
    const node = document.getElementById(id);
    return node && /\\d/.test(node.textContent) && !node.classList.contains("loading");
  });
  if (ready && window.__shownAt === undefined) window.__shownAt = performance.now();
  return ready;
}"""
EMPTY_SHOWN = """() => {
  const ready = document.getElementById("ready") !== null;
  if (ready && window.__shownAt === undefined) window.__shownAt = performance.now();
  return ready;
}"""
PAYLOAD_LIMIT = 50 * 1024


def visit(browser, url: str, shown: str, payloads: list[int] | None = None) -> float:
    # Through aurora.web.serving.local_nginx the certificate is a self-signed one.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    sizes: list[int] = []

    def on_response(response) -> None:
        if "/_dash-update-component" in response.url:
            sizes.append(len(response.body()) + len(response.request.post_data_buffer or b""))

    if payloads is not None:  # reading bodies of a page about to close would fail
        page.on("response", on_response)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function(shown, polling="raf", timeout=60_000)
        elapsed = page.evaluate("window.__shownAt")
        if payloads is not None:
            page.wait_for_load_state("networkidle")
            payloads.append(sum(sizes))
        return elapsed
    finally:
        context.close()


def run(size: str, runs: int = 10) -> list[Result]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
    dataset = ensure_dataset(size)
    payloads: list[int] = []
    with (
        gunicorn("app:server", app_environment(dataset.url), workers=WORKERS, threads=THREADS) as ours,
        gunicorn("bench.empty_dash:server", app_environment(dataset.url), workers=WORKERS, threads=THREADS) as empty,
        sync_playwright() as playwright,
    ):
        wait_for_http(f"{ours}/api/stats", timeout=60)
        wait_for_http(f"{empty}/")
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            visit(browser, f"{ours}/", KPIS_SHOWN)  # first visits warm both servers alike
            visit(browser, f"{empty}/", EMPTY_SHOWN)
            ours_ms, empty_ms = [], []
            for _ in range(runs):
                ours_ms.append(visit(browser, f"{ours}/", KPIS_SHOWN, payloads))
                empty_ms.append(visit(browser, f"{empty}/", EMPTY_SHOWN))
        finally:
            browser.close()
    return [
        Result("4. time to KPI vs empty Dash first render (ms)", statistics.median(ours_ms),
               statistics.median(empty_ms), "ms", "<= 1.5", limit=1.5),
        Result("4. callback payload of one refresh (KB)", max(payloads) / 1024, PAYLOAD_LIMIT / 1024, "KB",
               "< 50 KB", limit=1.0),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page", description="target 4")
    parser.add_argument("--size", default="100k")
    parser.add_argument("--runs", type=int, default=10)
    return print_results(parser, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
