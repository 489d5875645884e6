"""bench.viewers --pages replays what a real page asks: the recording it reads
(bench/page_requests.json) is what Chromium posts today. `python -m bench.record_page` records it
again; this test runs it and fails when the page's callbacks no longer match the committed file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "bench" / "page_requests.json"
pytestmark = pytest.mark.browser


def shape(recording: dict) -> list[tuple]:
    """Each callback's outputs, inputs and states (their values differ from run to run)."""
    return [
        (callback["output"], [(item["id"], item["property"]) for item in callback["inputs"]],
         [(item["id"], item["property"]) for item in callback.get("state", [])])
        for callback in recording["callbacks"]
    ]


def test_the_committed_recording_is_what_chromium_posts_today(tmp_path):
    if shutil.which("chromium") is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    fresh = tmp_path / "page_requests.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.record_page", "--output", str(fresh)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    recorded = json.loads(fresh.read_text())
    # The page answered stream events while it was recorded, so the replay knows what an event sets off.
    assert recorded["stream_events_seen"] >= 1
    assert any(("live-stats", "data") in inputs for _, inputs, _ in shape(recorded))
    # One request per update: one callback answers a stream event, and beyond the page's first call of
    # each callback every request was a stream event's (the interval is off while the stream is open).
    assert sum(("live-stats", "data") in inputs for _, inputs, _ in shape(recorded)) == 1
    assert recorded["requests_seen"] <= len(recorded["callbacks"]) + recorded["stream_events_seen"]
    assert shape(recorded) == shape(json.loads(COMMITTED.read_text())), (
        "the page's callbacks changed: record them again with `python -m bench.record_page`")
