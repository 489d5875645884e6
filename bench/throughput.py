"""Target 3: /api/stats from the cache under gunicorn against a bare Flask app serving the same bytes.

    python -m bench.throughput --size 100k --seconds 10

Both run under gunicorn with the project's gunicorn.conf.py and the same workers × app threads; the
load comes from `wrk` (Debian package `wrk`) with 16 connections, or, without it, from a bounded
Python load generator in two processes. The rate limit is lifted only through the
AURORA_RATE_LIMIT setting (`off`). Each side is measured twice, alternating, and the rates averaged.
For information, the same bare app is also measured under gunicorn's gthread workers, the serving
model before the asyncio one (threads per request; see README "Running in production").
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import urllib.request

from bench.common import Result, gunicorn, print_results, python_load, wait_for_http, wrk
from bench.generate import ensure_dataset

WORKERS, THREADS, CONNECTIONS = 2, 4, 16
# The limit lifted by configuration, as a deployment behind a rate-limiting proxy would run it.
UNLIMITED_RATE = "off"


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "AURORA_DEMO": "false",
        "AURORA_RATE_LIMIT": UNLIMITED_RATE,
        "DISCORD_TOKEN": "",
        **extra,
    }


def load(url: str, seconds: float) -> float:
    if shutil.which("wrk"):
        return wrk(url, connections=CONNECTIONS, seconds=seconds, threads=2)[0]
    return python_load([url, url], CONNECTIONS // 2, seconds)  # two processes, 8 connections each


def run(size: str, seconds: float = 10) -> list[Result]:
    dataset = ensure_dataset(size)
    rates: dict[str, list[float]] = {"ours": [], "bare": [], "gthread": []}
    with tempfile.TemporaryDirectory(prefix="aurora-bench-") as folder:
        body_file = os.path.join(folder, "stats.json")
        with gunicorn("app:server", app_environment(dataset.url), workers=WORKERS, threads=THREADS) as ours:
            wait_for_http(f"{ours}/api/stats", timeout=60)
            with urllib.request.urlopen(f"{ours}/api/stats") as response:
                body = response.read()
            with open(body_file, "wb") as file:
                file.write(body)
            bare_env = app_environment(dataset.url, BENCH_BODY_FILE=body_file)
            with (
                gunicorn("bench.bare_app:app", bare_env, workers=WORKERS, threads=THREADS) as bare,
                gunicorn("bench.bare_app:flask_app", bare_env, workers=WORKERS, threads=THREADS, gthread=True) as old,
            ):
                servers = {"ours": ours, "bare": bare, "gthread": old}
                for url in servers.values():
                    wait_for_http(f"{url}/api/stats")
                    load(f"{url}/api/stats", 1)  # warm each alike
                for _ in range(2):
                    for name, url in servers.items():
                        rates[name].append(load(f"{url}/api/stats", seconds))
    ours_rate, bare_rate, gthread_rate = (sum(rates[name]) / len(rates[name]) for name in ("ours", "bare", "gthread"))
    tool = "wrk" if shutil.which("wrk") else "python load"
    return [
        Result(f"3. /api/stats req/s vs bare Flask ({len(body):,} B body, {tool} -c{CONNECTIONS}, "
               f"{WORKERS}w x {THREADS}t)", ours_rate, bare_rate, "req/s", ">= 0.8", limit=0.8,
               higher_is_better=True),
        Result("   bare Flask: asyncio workers (ours) vs gunicorn gthread (before)", bare_rate, gthread_rate,
               "req/s", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description="target 3")
    parser.add_argument("--size", default="100k", help="data set behind the app (the stats are cached)")
    parser.add_argument("--seconds", type=float, default=10)
    return print_results(parser, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
