"""Scale-out: /api/stats served by two web processes (AURORA_ROLE=web) against one.

    python bench/bench_scaleout.py [--seconds 10] [--threads 8] [--database-url URL] [--redis-url URL]

Each web process is `gunicorn app:server` with the project's gunicorn.conf.py, one worker and
`--threads` threads, reading the bot snapshot and the shared stats from Redis and counting the rate
limit there (lifted to a figure no client reaches, so the limiter still does its work). The bot
snapshot is published into Redis by this script every second, as a bot process would (no Discord
connection is involved). The database holds the generated demo data (60 days).

Load: `wrk` (Debian package `wrk`) with the same total number of connections in both runs, split
evenly over the processes; without wrk, a keep-alive Python client in as many processes. Prints
requests per second, latency percentiles (wrk) and how many times the stats were computed in
total during each run (at most one per AURORA_REFRESH_SECONDS, however many processes serve).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aurora.bot.snapshot import BotSnapshot, ShardSnapshot  # noqa: E402
from aurora.demo.seed import seed_demo  # noqa: E402
from aurora.scaleout.redis_link import connect  # noqa: E402
from aurora.scaleout.snapshots import RedisSnapshotStore  # noqa: E402
from aurora.storage.engine import create_db_engine  # noqa: E402
from aurora.storage.tables import init_db  # noqa: E402
from bench.common import Server, drop_redis_keys, gunicorn, python_load, wait_for_http, wrk  # noqa: E402

CONNECTIONS = 16
REFRESH_SECONDS = 2


def web_process(stack: ExitStack, env: dict[str, str], threads: int) -> Server:
    """One `gunicorn app:server` (1 worker), stopped with `stack`, once it serves /api/stats."""
    server = stack.enter_context(gunicorn("app:server", env, workers=1, threads=threads))
    wait_for_http(f"{server}/api/stats", timeout=60)
    return server


def snapshot(now: datetime) -> BotSnapshot:
    return BotSnapshot(
        status="connected", taken_at=now, guild_count=1200, user_count=250_000, latency_ms=41.0,
        commands_registered=3, started_at=now - timedelta(hours=6), ping_avg_ms=42.0,
        ping_previous_hour_avg_ms=45.0, shards=tuple(ShardSnapshot(i, "connected", 40.0 + i) for i in range(4)),
    )


def load(urls: list[str], seconds: float) -> tuple[float, dict[str, float]]:
    """Total req/s over all `urls` at once (connections split evenly), and the worst p50/p99."""
    share = CONNECTIONS // len(urls)
    if shutil.which("wrk"):
        outcomes: list[tuple[float, dict[str, float]]] = []

        def run_wrk(url: str) -> None:
            outcomes.append(wrk(f"{url}/api/stats", connections=share, seconds=seconds, threads=1))

        threads = [threading.Thread(target=run_wrk, args=(url,)) for url in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        worst = {key: max(outcome[1].get(key, 0.0) for outcome in outcomes) for key in ("p50", "p99")}
        return sum(outcome[0] for outcome in outcomes), worst
    return python_load([f"{url}/api/stats" for url in urls], share, seconds), {}


def computations(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("aurora_stats_computations_total "):
                    total += float(line.split()[1])
    return total


def measure(label: str, urls: list[str], seconds: float) -> dict:
    load(urls, 1)  # warm up: imports, connection pools, first refresh
    before, started = computations(urls), time.monotonic()
    rate, percentiles = load(urls, seconds)
    elapsed = time.monotonic() - started
    computed = computations(urls) - before
    return {"label": label, "rate": rate, **percentiles, "computed": computed, "elapsed": elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", help="default: demo data in a temporary SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="aurora-scaleout-"))
        database_url = args.database_url or f"sqlite:///{folder}/bench.db"
        engine = create_db_engine(database_url)
        init_db(engine)
        seed_demo(engine, datetime.now(UTC))
        engine.dispose()
        prefix = f"aurora-bench-{uuid.uuid4().hex[:8]}"
        client = connect(args.redis_url)
        store = RedisSnapshotStore(client, prefix=prefix, ttl_seconds=30, clock=lambda: datetime.now(UTC))
        stop = threading.Event()

        def publish() -> None:  # what a bot process does, once a second
            while not stop.is_set():
                store.publish(snapshot(datetime.now(UTC)))
                stop.wait(1)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        env = {
            "AURORA_ROLE": "web", "REDIS_URL": args.redis_url, "AURORA_REDIS_PREFIX": prefix,
            "DATABASE_URL": database_url, "AURORA_DEMO": "false", "DISCORD_TOKEN": "",
            "AURORA_RATE_LIMIT": "100000000/second", "AURORA_REFRESH_SECONDS": str(REFRESH_SECONDS),
        }
        try:
            first = web_process(stack, env, args.threads)
            second = web_process(stack, env, args.threads)
            runs = [measure("1 web process", [first], args.seconds),
                    measure("2 web processes", [first, second], args.seconds),
                    measure("1 web process (again)", [first], args.seconds)]
        finally:
            stop.set()
            publisher.join(2)
            drop_redis_keys(client, prefix)
            client.close()

    tool = "wrk" if shutil.which("wrk") else "python client"
    print(f"/api/stats, {tool}, {CONNECTIONS} connections in total, {args.seconds:.0f} s per run, "
          f"gunicorn 1 worker x {args.threads} threads per process, {os.cpu_count()} CPU cores (load generator included)")
    print(f"| run | req/s | p50 ms | p99 ms | stats computed (interval {REFRESH_SECONDS} s) |")
    print("|---|---|---|---|---|")
    for run in runs:
        p50 = f"{run['p50']:.1f}" if "p50" in run else "-"
        p99 = f"{run['p99']:.1f}" if "p99" in run else "-"
        print(f"| {run['label']} | {run['rate']:,.0f} | {p50} | {p99} | {run['computed']:.0f} in {run['elapsed']:.0f} s |")
    single = (runs[0]["rate"] + runs[2]["rate"]) / 2
    print(f"two processes / one: {runs[1]['rate'] / single:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
