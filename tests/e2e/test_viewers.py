"""A hundred open dashboards and thirty slow clients against the production command (bench.viewers,
run short, in a process of its own: the tests never import the bench): every answer is right and
the worker comes back to where it was. The latencies are printed (`pytest -s`), never asserted on:
speed depends on the machine and its neighbours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

STREAMS = 100  # AURORA_STREAMS_TOTAL for the run (bench.viewers --streams)
SLOW = 30
SECONDS = 20
REFRESH_THREADS = 2
# Threads the worker may start under any load, however many streams are open: asyncio's default
# executor (the stream fan-out reads the stats off the loop) grows to min(32, cpus + 4) on demand.
LOOP_EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)
RSS_SLACK_KIB = 48 * 1024  # Python keeps freed memory for reuse; a leak per request or stream would show far past it
ROOT = Path(__file__).resolve().parents[2]
# The run's figures as JSON on stdout, its table on stderr.
RUN_VIEWERS = """
import dataclasses, json, sys
from bench.common import format_table
from bench.viewers import results, run_viewers
seconds, streams, slow = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = run_viewers(seconds=seconds, streams=streams, slow=slow, browser=False)
print(format_table(results(run, streams, slow)), file=sys.stderr)
json.dump({
    "errors": run.errors,
    "streams": [{"status": client.status, "events": client.events} for client in run.streams],
    "extra_stream_status": run.extra_stream_status,
    "answers": run.answers,
    "cut_off": dict(run.cut_off),
    **{moment: dataclasses.asdict(getattr(run, moment)) for moment in ("before", "during", "after")},
}, sys.stdout)
"""


def run_viewers() -> SimpleNamespace:
    command = [sys.executable, "-c", RUN_VIEWERS, str(SECONDS), str(STREAMS), str(SLOW)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 240)
    print("\n" + result.stderr)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout, object_hook=lambda fields: SimpleNamespace(**fields))


def test_a_hundred_streams_and_thirty_slow_clients_change_nothing_for_the_others():
    run = run_viewers()
    assert run.errors == []
    assert [client.status for client in run.streams] == [200] * STREAMS
    assert all(client.events >= 1 for client in run.streams)
    assert run.extra_stream_status == 429  # the 101st
    statuses = {path: {status for status, _ in answers} for path, answers in vars(run.answers).items()}
    assert statuses["/api/stats"] <= {200, 429} and 200 in statuses["/api/stats"]
    assert statuses["/"] == {200}
    assert statuses["/_dash-update-component"] <= {200, 429}
    assert run.cut_off.head > 0  # the request-head deadline did its work (idle ones are held 65 s by nginx)
    # Streams hold connections, not threads: a hundred of them add a connection each and no thread
    # (a stats refresh may be running, and the loop's executor may have grown; neither depends on
    # how many streams are open). Everything they held is given back.
    assert run.during.threads <= run.before.threads + REFRESH_THREADS + LOOP_EXECUTOR_THREADS < STREAMS
    # Each stream is one connection from nginx to the worker (nginx keeps a few idle ones from
    # earlier requests, which streams may reuse: counted from zero, not from before).
    assert run.during.open_files >= STREAMS
    assert run.after.threads <= run.before.threads + LOOP_EXECUTOR_THREADS
    assert run.after.open_files <= run.before.open_files
    assert run.after.rss_kib <= run.before.rss_kib + RSS_SLACK_KIB
