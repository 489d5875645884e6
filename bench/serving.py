"""/api/stats req/s of the README's app server against the same app under stock
gunicorn gthread workers, the rate limit on, measured directly (not through nginx), side by side.

    python -m bench.serving [--size 100k] [--seconds 10] [--rounds 3] [--redis-url redis://...]

Both servers run the same Aurora app over the same data set with the same settings: 2 workers; the
app server is gunicorn with gunicorn.conf.py (uvicorn workers, AURORA_THREADS=8 app threads each),
the other `gunicorn -c /dev/null --worker-class gthread --threads 8` serving the Flask app itself
(bench.wsgi_app). The limit is in force and counts every request without refusing any
(100000000/minute), in process memory and, with `--redis-url`, in Redis (keys under a prefix of this
run, deleted after). The load comes from `wrk` (Debian package) with 16 connections, or without it
from bench.common's Python load. Rounds alternate between the servers; rates are averaged.
"""

from __future__ import annotations

import argparse
import shutil
import uuid
from contextlib import ExitStack

import redis

from bench.common import Result, drop_redis_keys, gunicorn, print_results, python_load, wait_for_http, wrk
from bench.generate import ensure_dataset

WORKERS, THREADS, CONNECTIONS = 2, 8, 16
COUNTED_RATE = "100000000/minute"
TARGET = 0.8


def load(url: str, seconds: float) -> float:
    if shutil.which("wrk"):
        return wrk(url, connections=CONNECTIONS, seconds=seconds, threads=2)[0]
    return python_load([url, url], CONNECTIONS // 2, seconds)


def environment(database_url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "AURORA_DEMO": "false", "DISCORD_TOKEN": "", "REDIS_URL": "",
            "AURORA_RATE_LIMIT": COUNTED_RATE, "AURORA_ACCESS_TOKEN": "", "AURORA_TRUSTED_PROXY_HOPS": "", **extra}


def compare(env: dict[str, str], seconds: float, rounds: int) -> tuple[float, float]:
    """(app server, gthread) requests per second, averaged over alternating rounds."""
    with ExitStack() as stack:
        ours = stack.enter_context(gunicorn("app:server", env, workers=WORKERS, threads=THREADS))
        stock = stack.enter_context(
            gunicorn("bench.wsgi_app:application", env, workers=WORKERS, threads=THREADS, gthread=True))
        rates: dict[str, list[float]] = {"ours": [], "stock": []}
        for url in (ours, stock):
            wait_for_http(f"{url}/api/stats", timeout=120)
            load(f"{url}/api/stats", 2)  # warm each alike (every worker's first request builds its app)
        for _ in range(rounds):
            for name, url in (("ours", ours), ("stock", stock)):
                rates[name].append(load(f"{url}/api/stats", seconds))
    return sum(rates["ours"]) / rounds, sum(rates["stock"]) / rounds


def run(size: str = "100k", seconds: float = 10, rounds: int = 3, redis_url: str | None = None) -> list[Result]:
    dataset = ensure_dataset(size)
    tool = "wrk" if shutil.which("wrk") else "python load"
    label = f"/api/stats req/s, app server vs gthread ({tool} -c{CONNECTIONS}, {WORKERS}w x {THREADS}t), limit on"
    ours, stock = compare(environment(dataset.url), seconds, rounds)
    rows = [Result(f"{label}, memory", ours, stock, "req/s", f">= {TARGET}", limit=TARGET, higher_is_better=True)]
    if redis_url:
        prefix = f"aurora-bench-{uuid.uuid4().hex[:8]}"
        try:
            ours, stock = compare(environment(dataset.url, REDIS_URL=redis_url, AURORA_REDIS_PREFIX=prefix), seconds,
                                  rounds)
        finally:
            client = redis.Redis.from_url(redis_url)
            drop_redis_keys(client, prefix)
            client.close()
        rows.append(Result(f"{label}, Redis", ours, stock, "req/s", f">= {TARGET}", limit=TARGET,
                           higher_is_better=True))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description="the app server against stock gthread workers")
    parser.add_argument("--size", default="100k", help="data set behind the app (the stats are cached)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="loads per server, alternating; rates averaged")
    parser.add_argument("--redis-url", default=None, help="also compare with the limit counted in this Redis")
    return print_results(parser, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
