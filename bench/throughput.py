"""Target 3: /api/stats from the cache under gunicorn against a bare Flask app serving the same bytes.

    python -m bench.throughput --size 100k --seconds 10

Both run under gunicorn with the project's gunicorn.conf.py and the same workers × threads; the
load comes from `wrk` (Debian package `wrk`) with 16 connections, or, without it, from a bounded
Python load generator in two processes. The rate limit is lifted only through the
AURORA_RATE_LIMIT setting. Each side is measured twice, alternating, and the rates averaged.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from http.client import HTTPConnection
from urllib.parse import urlsplit

from bench.common import Result, format_table, gunicorn, wait_for_http
from bench.generate import ensure_dataset

WORKERS, THREADS, CONNECTIONS = 2, 4, 16
# Far above anything the machine can serve: the limiter still runs, it just never says no.
UNLIMITED_RATE = "100000000/second"


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "AURORA_DEMO": "false",
        "AURORA_RATE_LIMIT": UNLIMITED_RATE,
        "DISCORD_TOKEN": "",
        **extra,
    }


def _wrk(url: str, seconds: float) -> float:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} responses were errors")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def _python_client(url: str, deadline: float, connections: int, results) -> None:
    parts = urlsplit(url)
    pool = [HTTPConnection(parts.hostname, parts.port, timeout=10) for _ in range(connections)]
    done = 0
    while time.monotonic() < deadline:
        for conn in pool:
            conn.request("GET", parts.path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            done += 1
    results.put(done)


def _python_load(url: str, seconds: float) -> float:
    """Two processes, each cycling over 8 keep-alive connections (no pipelining), for `seconds`."""
    results = multiprocessing.Queue()
    deadline = time.monotonic() + seconds
    workers = [multiprocessing.Process(target=_python_client, args=(url, deadline, CONNECTIONS // 2, results))
               for _ in range(2)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=seconds + 30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    return total / (time.monotonic() - started)


def load(url: str, seconds: float) -> float:
    return _wrk(url, seconds) if shutil.which("wrk") else _python_load(url, seconds)


def run(size: str, seconds: float = 10) -> list[Result]:
    dataset = ensure_dataset(size)
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="aurora-bench-") as folder:
        body_file = os.path.join(folder, "stats.json")
        with gunicorn("app:server", app_environment(dataset.url), workers=WORKERS, threads=THREADS) as ours:
            wait_for_http(f"{ours}/api/stats", timeout=60)
            with urllib.request.urlopen(f"{ours}/api/stats") as response:
                body = response.read()
            with open(body_file, "wb") as file:
                file.write(body)
            with gunicorn("bench.bare_app:app", app_environment(dataset.url, BENCH_BODY_FILE=body_file),
                          workers=WORKERS, threads=THREADS) as bare:
                wait_for_http(f"{bare}/api/stats")
                load(f"{ours}/api/stats", 1)  # warm both
                load(f"{bare}/api/stats", 1)
                for _ in range(2):
                    rates["ours"].append(load(f"{ours}/api/stats", seconds))
                    rates["bare"].append(load(f"{bare}/api/stats", seconds))
    ours_rate = sum(rates["ours"]) / len(rates["ours"])
    bare_rate = sum(rates["bare"]) / len(rates["bare"])
    tool = "wrk" if shutil.which("wrk") else "python load"
    return [
        Result(f"3. /api/stats req/s vs bare Flask ({len(body):,} B body, {tool} -c{CONNECTIONS}, "
               f"{WORKERS}w x {THREADS}t)", ours_rate, bare_rate, "req/s", ">= 0.8", limit=0.8,
               higher_is_better=True),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description="target 3")
    parser.add_argument("--size", default="100k", help="data set behind the app (the stats are cached)")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    print(format_table(run(args.size, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
