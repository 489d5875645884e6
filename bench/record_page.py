"""Record what a real page asks the server: every `/_dash-update-component` body Chromium posts.

    python -m bench.record_page [--output bench/page_requests.json] [--seconds 12]

The README's production command over a fresh demo database, refreshing every few seconds, and one
headless Chromium page (in a zone with a half-hour offset, so every zone-dependent output is
asked). Written: one body per server callback the page called (the last one seen), keyed by its
`output`, and how many requests each refresh brought. bench.viewers replays these bodies as the
page would: a callback is sent when one of its inputs changed (the stream's event, the interval's
tick, or an output of an earlier answer), with the page's current values. tests/e2e/test_page_recording.py
runs this script and compares its output with the committed file, so the recording follows the page.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, gunicorn, wait_for_http

RECORDING = ROOT / "bench" / "page_requests.json"
RECORD_ZONE = "Asia/Kolkata"
RECORD_REFRESH_SECONDS = 3
UPDATE_PATH = "/_dash-update-component"


def record(seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    from bench.page import KPIS_SHOWN
    from bench.viewers import CLEARED, prepare_database

    bodies: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="aurora-record-") as folder:
        env = {**dict.fromkeys(CLEARED, ""), "DATABASE_URL": prepare_database(folder), "AURORA_DEMO": "true",
               "AURORA_SIMULATED_DISCORD": "false", "AURORA_REFRESH_SECONDS": str(RECORD_REFRESH_SECONDS)}
        with gunicorn("app:server", env, workers=1, threads=4) as url, sync_playwright() as playwright:
            wait_for_http(f"{url}/", timeout=60)
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
            try:
                context = browser.new_context(timezone_id=RECORD_ZONE)
                page = context.new_page()
                page.on("request", lambda request: bodies.append({"at": time.monotonic(), **request.post_data_json})
                        if request.method == "POST" and UPDATE_PATH in request.url else None)
                page.goto(f"{url}/")
                page.wait_for_function(KPIS_SHOWN, polling="raf", timeout=60_000)
                page.wait_for_timeout(seconds * 1000)
                context.close()
            finally:
                browser.close()
    return recording_of(bodies)


def recording_of(bodies: list[dict]) -> dict:
    callbacks = {body["output"]: {key: value for key, value in body.items() if key != "at"} for body in bodies}
    events = {value["value"] for body in bodies if "live-stats.data" in body.get("changedPropIds", [])
              for value in body["inputs"] if value["id"] == "live-stats"}
    return {
        "zone": RECORD_ZONE,
        "requests_seen": len(bodies),
        "stream_events_seen": len(events),
        "callbacks": [callbacks[output] for output in sorted(callbacks)],
    }


def shape(recording: dict) -> list[tuple]:
    """What must match between two recordings: each callback's outputs, inputs and states (not values)."""
    return [
        (callback["output"], [(i["id"], i["property"]) for i in callback["inputs"]],
         [(s["id"], s["property"]) for s in callback.get("state", [])])
        for callback in recording["callbacks"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=RECORDING)
    parser.add_argument("--seconds", type=float, default=4 * RECORD_REFRESH_SECONDS)
    args = parser.parse_args(argv)
    recording = record(args.seconds)
    args.output.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
    print(f"{len(recording['callbacks'])} callbacks, {recording['requests_seen']} requests, "
          f"{recording['stream_events_seen']} stream events: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
