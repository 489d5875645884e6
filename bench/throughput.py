"""Target 3: /api/stats from the cache under gunicorn against a bare Flask app serving the same bytes.

    python -m bench.throughput --size 100k --seconds 10

Both run under gunicorn with the project's gunicorn.conf.py and the same workers × app threads; the
load comes from `wrk` (Debian package `wrk`) with 16 connections, or, without it, from a bounded
Python load generator in two processes. Our app runs three ways for the target, each against the same bare app in
the same run: with the rate limit off (AURORA_RATE_LIMIT=off, as behind a limiting proxy), and in
force (100000000/minute: every request counted, none refused) counted in process memory and in
Redis (REDIS_URL, `--redis-url`; its keys go under a prefix of this run and are deleted after),
each request counted by Flask-Limiter. For information, a fourth way: in Redis with a second window
beside it, each request counted in both.
Every server is measured `--rounds` times (2), alternating, and the rates averaged. For
information, each server's CPU time per request (its master and workers, and Redis's for the Redis
row) is shown beside the bare app's: unlike the rates, it hardly moves when other work takes the
machine's cores.
Also for information: the bare app making one Redis INCR per request (`bench.bare_app`), the least
a limit shared through Redis costs, beside our Redis row; and the bare app under gunicorn's gthread
workers, the serving model before the asyncio one (threads per request; README "Running in
production").
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import urllib.request
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.common import (
    Result,
    Server,
    drop_redis_keys,
    gunicorn,
    print_results,
    process_tree_cpu_seconds,
    python_load,
    wait_for_http,
    wrk,
)
from bench.generate import ensure_dataset

WORKERS, THREADS, CONNECTIONS = 2, 4, 16
# The limit lifted by configuration, as a deployment behind a rate-limiting proxy would run it.
UNLIMITED_RATE = "off"
# The limit in force, far above the load: every request is counted and served; with a second
# window, every request is counted in both.
COUNTED_RATE = "100000000/minute"
COUNTED_EACH_RATE = "100000000/minute;1000000000/hour"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Our app's ways of running: name -> settings on top of app_environment's.
LIMIT_MODES = {
    "limit off": {},
    "limit on, memory": {"AURORA_RATE_LIMIT": COUNTED_RATE},
    "limit on, Redis": {"AURORA_RATE_LIMIT": COUNTED_RATE},  # + REDIS_URL, AURORA_REDIS_PREFIX
    "limit on, Redis, each request": {"AURORA_RATE_LIMIT": COUNTED_EACH_RATE},  # + REDIS_URL, ...
}
# The modes the target is about; the others are shown for information.
TARGET_MODES = ("limit off", "limit on, memory", "limit on, Redis")
# The servers whose Redis's CPU is counted with theirs.
REDIS_MODES = ("limit on, Redis", "limit on, Redis, each request", "bare + Redis INCR")


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


@dataclass
class Measured:
    """One server's rounds: requests per second, and the CPU it (and Redis, if it uses it) spent."""

    rates: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    requests: float = 0.0

    @property
    def rate(self) -> float:
        return sum(self.rates) / len(self.rates)

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6


def measure(servers: dict[str, Server], redis_pid: int | None, seconds: float, rounds: int) -> dict[str, Measured]:
    measured = {name: Measured() for name in servers}
    for _ in range(rounds):
        for name, url in servers.items():
            pids = [url.pid] + ([redis_pid] if name in REDIS_MODES and redis_pid else [])
            cpu_before = sum(process_tree_cpu_seconds(pid) for pid in pids)
            rate = load(f"{url}/api/stats", seconds)
            measured[name].cpu_seconds += sum(process_tree_cpu_seconds(pid) for pid in pids) - cpu_before
            measured[name].rates.append(rate)
            measured[name].requests += rate * seconds
    return measured


def start_servers(stack: ExitStack, dataset_url: str, folder: str, redis_url: str, prefix: str) -> dict[str, Server]:
    """Our app in each limit mode, then the bare app (serving the bytes ours served) both ways."""
    servers = {}
    for name, extra in LIMIT_MODES.items():
        if name in REDIS_MODES:
            extra = {**extra, "REDIS_URL": redis_url, "AURORA_REDIS_PREFIX": prefix}
        env = app_environment(dataset_url, **extra)
        servers[name] = stack.enter_context(gunicorn("app:server", env, workers=WORKERS, threads=THREADS))
    wait_for_http(f"{servers['limit off']}/api/stats", timeout=60)
    with urllib.request.urlopen(f"{servers['limit off']}/api/stats") as response:
        body_file = os.path.join(folder, "stats.json")
        with open(body_file, "wb") as file:
            file.write(response.read())
    bare_env = app_environment(dataset_url, BENCH_BODY_FILE=body_file)
    servers["bare"] = stack.enter_context(gunicorn("bench.bare_app:app", bare_env, workers=WORKERS, threads=THREADS))
    counting_env = {**bare_env, "BENCH_REDIS_URL": redis_url, "BENCH_REDIS_KEY": f"{prefix}:bare"}
    servers["bare + Redis INCR"] = stack.enter_context(
        gunicorn("bench.bare_app:app", counting_env, workers=WORKERS, threads=THREADS))
    servers["gthread"] = stack.enter_context(
        gunicorn("bench.bare_app:flask_app", bare_env, workers=WORKERS, threads=THREADS, gthread=True))
    for url in servers.values():
        wait_for_http(f"{url}/api/stats", timeout=60)
        load(f"{url}/api/stats", 1)  # warm each alike
    return servers


def run(size: str, seconds: float = 10, redis_url: str = DEFAULT_REDIS_URL, rounds: int = 2) -> list[Result]:
    dataset = ensure_dataset(size)
    prefix = f"aurora-bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    # Fails at once, saying why, when Redis is not there. Its CPU is counted where it runs here.
    redis_pid = client.info("server")["process_id"]
    redis_pid = redis_pid if Path(f"/proc/{redis_pid}/stat").exists() else None
    try:
        with tempfile.TemporaryDirectory(prefix="aurora-bench-") as folder, ExitStack() as stack:
            servers = start_servers(stack, dataset.url, folder, redis_url, prefix)
            body_bytes = Path(folder, "stats.json").stat().st_size
            measured = measure(servers, redis_pid, seconds, rounds)
    finally:
        drop_redis_keys(client, prefix)
        client.close()
    tool = "wrk" if shutil.which("wrk") else "python load"
    bare = measured["bare"]
    rows = [
        Result(f"3. /api/stats req/s vs bare Flask, {name} ({body_bytes:,} B body, {tool} -c{CONNECTIONS}, "
               f"{WORKERS}w x {THREADS}t)", measured[name].rate, bare.rate, "req/s", ">= 0.8", limit=0.8,
               higher_is_better=True)
        for name in TARGET_MODES
    ]
    rows.append(Result("   /api/stats req/s vs bare Flask, limit on, Redis, each request counted (two windows)",
                       measured["limit on, Redis, each request"].rate, bare.rate, "req/s", ""))
    redis_note = " + Redis's" if redis_pid else ""
    rows += [
        Result(f"   CPU per request, {name} vs bare (server processes{redis_note if name in REDIS_MODES else ''}, us)",
               measured[name].cpu_microseconds_per_request, bare.cpu_microseconds_per_request, "us", "")
        for name in LIMIT_MODES
    ]
    counting = measured["bare + Redis INCR"]
    rows += [
        Result("   limit on, Redis, each request vs bare Flask making one Redis INCR per request (req/s)",
               measured["limit on, Redis, each request"].rate, counting.rate, "req/s", ""),
        Result("   CPU per request, bare Flask + one Redis INCR vs bare (+ Redis's, us)",
               counting.cpu_microseconds_per_request, bare.cpu_microseconds_per_request, "us", ""),
    ]
    rows.append(Result("   bare Flask: asyncio workers (ours) vs gunicorn gthread (before)", bare.rate,
                       measured["gthread"].rate, "req/s", ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description="target 3")
    parser.add_argument("--size", default="100k", help="data set behind the app (the stats are cached)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the Redis for the 'limit on, Redis' row")
    parser.add_argument("--rounds", type=int, default=2, help="loads per server, alternating; rates averaged")
    return print_results(parser, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
