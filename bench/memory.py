"""Target 5: the whole app (web + bot against the simulated Discord with 1,000 guilds) under steady
requests; resident memory must grow less than 10 % over the run (10 minutes; `--seconds`).

    python -m bench.memory --size 100k --seconds 600

gunicorn runs one worker (the bot lives in it) with the database refresh every 5 s, so refreshes,
bot snapshots and requests all repeat many times. The load: /api/stats, /api/activity.csv and the
page's refresh callback, ~20 requests a second. RSS is the gunicorn process tree's, sampled after a
warm-up (bot connected, first requests served) and at the end.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request

from aurora.demo.simulation.server import SimulatedDiscord
from bench.common import (
    Result,
    format_table,
    gunicorn,
    process_tree_rss_bytes,
    refresh_callback_body,
    wait_for_http,
)
from bench.generate import ensure_dataset
from bench.throughput import app_environment

GUILDS = 1000
REQUESTS_PER_SECOND = 20


def _steady_requests(base: str, stop: threading.Event, counts: dict[str, int]) -> None:
    callback_body = refresh_callback_body(base)
    requests = [
        lambda: urllib.request.urlopen(f"{base}/api/stats", timeout=10),
        lambda: urllib.request.urlopen(f"{base}/api/activity.csv", timeout=10),
        lambda: urllib.request.urlopen(urllib.request.Request(
            f"{base}/_dash-update-component", data=callback_body,
            headers={"Content-Type": "application/json"}), timeout=10),
    ]
    pause = 1 / REQUESTS_PER_SECOND
    index = 0
    while not stop.is_set():
        try:
            with requests[index % len(requests)]() as response:
                response.read()
            counts["ok"] += 1
        except OSError:
            counts["failed"] += 1
        index += 1
        stop.wait(pause)


def _bot_status(base: str) -> str:
    with urllib.request.urlopen(f"{base}/api/stats") as response:
        return json.load(response)["bot"]["status"]


def run(size: str, seconds: float = 600, warmup: float = 30) -> list[Result]:
    dataset = ensure_dataset(size)
    with SimulatedDiscord(guilds=GUILDS, members=3, heartbeat_interval_ms=5000) as fake:
        env = app_environment(
            dataset.url,
            DISCORD_TOKEN=fake.token,
            DISCORD_API_BASE=fake.api_base,
            DISCORD_GATEWAY_URL=fake.gateway_url,
            AURORA_REFRESH_SECONDS="5",
        )
        with gunicorn("app:server", env, workers=1, threads=8) as base:
            wait_for_http(f"{base}/api/stats", timeout=60)
            deadline = time.monotonic() + 60
            while _bot_status(base) != "connected":
                if time.monotonic() > deadline:
                    raise RuntimeError("the bot did not connect to the simulated Discord within 60 s")
                time.sleep(0.5)
            stop, counts = threading.Event(), {"ok": 0, "failed": 0}
            load = threading.Thread(target=_steady_requests, args=(base, stop, counts), daemon=True)
            load.start()
            try:
                time.sleep(warmup)
                master_pid = base.pid
                start_rss = process_tree_rss_bytes(master_pid)
                time.sleep(seconds)
                end_rss = process_tree_rss_bytes(master_pid)
                status = _bot_status(base)
            finally:
                stop.set()
                load.join(timeout=15)
    if counts["failed"] or status != "connected":
        raise RuntimeError(f"the run was not steady: {counts}, bot {status}")
    minutes = seconds / 60
    return [
        Result(f"5. RSS growth over {minutes:.3g} min, web + bot, {GUILDS} guilds ({counts['ok']:,} requests)",
               (end_rss - start_rss) / start_rss * 100, None, "%", "< 10 %", limit=10),
        Result(f"   RSS at start -> end ({minutes:.3g} min)", end_rss / 2**20, start_rss / 2**20, "MB", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description="target 5")
    parser.add_argument("--size", default="100k")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=30)
    args = parser.parse_args(argv)
    print(format_table(run(args.size, args.seconds, args.warmup)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
