"""The demo as a newcomer runs it (`python app.py` on demo data, in a fresh SQLite file on a free
port), for the scripts that look at the page in Debian's Chromium: screenshots and page payload."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import ROOT, free_port, wait_for_http

APP = str(ROOT / "app.py")


@contextmanager
def demo_url(settings: dict[str, str] | None = None, *, init_db: bool = True) -> Iterator[str]:
    """The address of a running demo on a fresh SQLite file,
    with `settings` over the demo's own; stopped on leaving. `init_db=False` for a database that
    cannot be created (a failure state)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        environment = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{scratch}/demo.db",
            "AURORA_DEMO": "true",
            "AURORA_PORT": str(port),
            "AURORA_PAGE_RATE_LIMIT": "off",
            **(settings or {}),
        }
        if init_db:
            # A named database needs its tables first (only the embedded default creates its own).
            subprocess.run([sys.executable, APP, "init-db"], cwd=scratch, env=environment, check=True,
                           stdout=subprocess.DEVNULL)
        app = subprocess.Popen([sys.executable, APP], cwd=scratch, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_http(url, timeout=60)
            yield url
        finally:
            app.terminate()
            app.wait(timeout=30)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=shutil.which("chromium"))


def open_demo(browser, url: str, **context):
    """A page on the demo once its figures, chart and bot's servers are drawn."""
    page = browser.new_page(**context)
    page.goto(url)
    page.wait_for_selector("#kpi-servers-value:not(.loading)", timeout=30_000)
    page.wait_for_selector("#activity-chart .trace.bars .point", timeout=30_000)
    return page
