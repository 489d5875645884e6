"""A hundred open dashboards and thirty slow clients against the production command (bench.viewers,
run short): every answer is right and the worker comes back to where it was. The latencies are
printed (`pytest -s`), never asserted on: speed depends on the machine and its neighbours."""

from __future__ import annotations

import os

from bench.common import format_table
from bench.viewers import results, run_viewers

STREAMS = 100  # AURORA_STREAMS_TOTAL for the run (bench.viewers --streams)
SLOW = 30
SECONDS = 20
REFRESH_THREADS = 2
# Threads the worker may start under any load, however many streams are open: asyncio's default
# executor (the stream fan-out reads the stats off the loop) grows to min(32, cpus + 4) on demand.
LOOP_EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)
RSS_SLACK_KIB = 48 * 1024  # Python keeps freed memory for reuse; a leak per request or stream would show far past it


def test_a_hundred_streams_and_thirty_slow_clients_change_nothing_for_the_others():
    run = run_viewers(seconds=SECONDS, streams=STREAMS, slow=SLOW, browser=False)
    print("\n" + format_table(results(run, STREAMS, SLOW)))
    assert run.errors == []
    assert [client.status for client in run.streams] == [200] * STREAMS
    assert all(client.events >= 1 for client in run.streams)
    assert run.extra_stream_status == 429  # the 101st
    statuses = {path: {status for status, _ in answers} for path, answers in run.answers.items()}
    assert statuses["/api/stats"] <= {200, 429} and 200 in statuses["/api/stats"]
    assert statuses["/"] == {200}
    assert statuses["/_dash-update-component"] <= {200, 429}
    assert run.cut_off["head"] > 0  # the request-head deadline did its work; the idle ones were closed too
    assert run.cut_off["idle"] > 0
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
