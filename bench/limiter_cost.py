"""What Flask-Limiter costs per request on `/api/stats`, in process: the limit off and on, side by side.

    python -m bench.limiter_cost [--requests 1000] [--rounds 20] [--redis-url redis://127.0.0.1:6379/0]

Aurora's own app (`create_app`, demo data in SQLite, the stats cached for the whole run) is built
four times: without Redis with the limit off and on (memory storage), and with REDIS_URL with the
limit off and on (Redis storage; REDIS_URL also shares the stats through Redis, so the Redis rows
are compared with each other). Its WSGI callable is called directly, one request after another in
this thread (no server, no sockets to the client: only the app and the limiter work). The limit is
set far above the load (100000000/minute), so every request is counted and served, never refused.

The rounds alternate the apps and the best round of each counts (the machine is shared: the best is
the least disturbed), as wall time and as this process's CPU time (all its threads: limits' memory
storage expires keys from a timer thread; Redis's own CPU is not in it). Redis must be reachable
(keys go under a prefix of this run and are deleted after).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import redis
from werkzeug.test import EnvironBuilder

from aurora import create_app
from aurora.settings import Settings
from aurora.web.context import context_of
from bench.common import drop_redis_keys

LIMIT = "100000000/minute"


@dataclass(frozen=True)
class Way:
    storage: str  # where the limit counts: "memory" or "redis"
    limited: bool


WAYS = (Way("memory", False), Way("memory", True), Way("redis", False), Way("redis", True))


def settings_for(way: Way, database: Path, redis_url: str, prefix: str) -> Settings:
    shared = {"redis_url": redis_url, "redis_prefix": prefix} if way.storage == "redis" else {}
    return Settings(
        database_url=f"sqlite:///{database}", database_is_default=True, demo=True, simulated_discord=False,
        refresh_seconds=3600, rate_limit=LIMIT if way.limited else None, page_rate_limit=None, **shared,
    )


def requester(server) -> Callable[[], int]:
    """One GET /api/stats through the Flask server's WSGI callable; returns the status."""
    template = EnvironBuilder(path="/api/stats", environ_base={"REMOTE_ADDR": "127.0.0.9"}).get_environ()
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def one() -> int:
        statuses.clear()
        body = server(dict(template), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        return int(statuses[0][:3])

    return one


@dataclass(frozen=True)
class Cost:
    way: Way
    microseconds: float  # wall time per request, best round
    cpu_microseconds: float  # this process's CPU time (all its threads) per request, best round


def measure(redis_url: str, requests: int, rounds: int) -> list[Cost]:
    prefix = f"aurora-bench-limiter-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    client.ping()  # fails at once, saying why, when Redis is not there
    try:
        with tempfile.TemporaryDirectory() as folder, ExitStack() as apps:
            calls = {}
            for index, way in enumerate(WAYS):
                app = create_app(settings_for(way, Path(folder) / f"aurora-{index}.db", redis_url, prefix))
                apps.callback(context_of(app).shutdown)
                calls[way] = requester(app.server)
            for way, call in calls.items():  # warm: the first requests compute the stats and set Flask up
                for _ in range(200):
                    if (status := call()) != 200:
                        raise RuntimeError(f"{way}: answered {status}")
            best = {way: (float("inf"), float("inf")) for way in calls}
            for _ in range(rounds):
                for way, call in calls.items():
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for _ in range(requests):
                        call()
                    wall = (time.perf_counter() - started) / requests * 1e6
                    cpu = (time.process_time() - cpu_started) / requests * 1e6
                    best[way] = (min(best[way][0], wall), min(best[way][1], cpu))
    finally:
        drop_redis_keys(client, prefix)
        client.close()
    return [Cost(way, wall, cpu) for way, (wall, cpu) in best.items()]


def table(costs: list[Cost]) -> str:
    """Each limited row against the unlimited app of the same storage."""
    off = {cost.way.storage: cost for cost in costs if not cost.way.limited}
    rows = [("storage", "limit", "wall us/req", "limiter's", "x off", "CPU us/req", "limiter's")]
    for cost in costs:
        base = off[cost.way.storage]
        rows.append((
            cost.way.storage, "on" if cost.way.limited else "off",
            f"{cost.microseconds:.1f}", f"{cost.microseconds - base.microseconds:+.1f}",
            f"{cost.microseconds / base.microseconds:.2f}",
            f"{cost.cpu_microseconds:.1f}", f"{cost.cpu_microseconds - base.cpu_microseconds:+.1f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.limiter_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per app per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the run is the table; startup notices would clutter it
    print(f"Flask-Limiter on /api/stats: limit {LIMIT}, {args.requests:,} requests x {args.rounds} rounds "
          "per app, best round")
    print(table(measure(args.redis_url, args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
