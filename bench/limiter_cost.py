"""What a rate limit costs per request, in process: each way of limiting against none, side by side.

    python -m bench.limiter_cost [--requests 1000] [--rounds 20] [--redis-url redis://127.0.0.1:6379/0]

The same small Flask app (one route answering fixed bytes, like bench.bare_app) is built once per
way of limiting, and its WSGI callable is called directly, one request after another in this thread
(no server, no sockets to the client: only the framework and the limiter work). The limit is set far
above the load (100000000/minute), so every request is counted and served, never refused:

- no limiter;
- flask-limiter as Aurora configured it before `aurora.api.rate_limit`: shared limit on the route,
  headers on, with Redis the in-memory fallback and key prefix;
- flask-limiter lean: the same limit, headers off, no fallback;
- the `limits` core once per request: one fixed-window hit from a before-request hook, nothing else;
- `aurora.api.rate_limit` (what Aurora runs without its asyncio front, which counts in Redis for it
  under a server: `python -m bench.throughput`): one count, the budget headers on every answer, Redis
  with its in-memory fallback.

Each is measured with memory storage and with Redis storage. The rounds alternate the apps and the
best round of each counts (the machine is shared: the best is the least disturbed), as wall time
and as this process's CPU time (all its threads: limits' memory storage expires keys from a timer
thread; Redis's own CPU is not in it). Redis must be reachable (keys go under a prefix of this run
and are deleted after).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.test import EnvironBuilder

from aurora.api.rate_counters import MemoryCounter, SharedCounter
from aurora.api.rate_limit import Budget, BudgetHeaders, RateLimits
from aurora.scaleout.redis_link import client_options

LIMIT = "100000000/minute"
BODY = b'{"bench": true}' * 200
ENDPOINT = "stats"


def bare_app() -> Flask:
    app = Flask(__name__)

    @app.get("/api/stats", endpoint=ENDPOINT)
    def stats() -> Response:
        return Response(BODY, mimetype="application/json", headers={"Cache-Control": "no-store"})

    return app


def flask_limiter_app(storage: dict, *, lean: bool) -> Flask:
    app = bare_app()
    limiter = Limiter(get_remote_address, app=app, default_limits=[], headers_enabled=not lean, **storage)
    app.view_functions[ENDPOINT] = limiter.shared_limit(LIMIT, scope="api")(app.view_functions[ENDPOINT])
    return app


def limits_core_app(storage) -> Flask:
    app = bare_app()
    limiter, item = FixedWindowRateLimiter(storage), parse(LIMIT)

    @app.before_request
    def count() -> None:
        limiter.hit(item, "api", request.remote_addr or "127.0.0.1")

    return app


def aurora_app(counter) -> Flask:
    app = bare_app()
    limits = RateLimits(counter, {ENDPOINT: Budget.parse("api", LIMIT)}, time.time)
    app.before_request(limits.check)
    app.wsgi_app = BudgetHeaders(app.wsgi_app)
    return app


def apps(redis_url: str, prefix: str) -> dict[tuple[str, str], Flask]:
    """(storage, way of limiting) -> app."""
    def redis_storage() -> RedisStorage:
        return RedisStorage(redis_url, key_prefix=prefix, **client_options())

    today_redis = {"storage_uri": redis_url, "storage_options": client_options(),
                   "in_memory_fallback_enabled": True, "key_prefix": prefix}
    return {
        ("-", "no limiter"): bare_app(),
        ("memory", "flask-limiter as before"): flask_limiter_app({"storage_uri": "memory://"}, lean=False),
        ("memory", "flask-limiter lean"): flask_limiter_app({"storage_uri": "memory://"}, lean=True),
        ("memory", "limits core, once"): limits_core_app(MemoryStorage()),
        ("memory", "aurora.api.rate_limit"): aurora_app(MemoryCounter(time.time)),
        ("redis", "flask-limiter as before"): flask_limiter_app(today_redis, lean=False),
        ("redis", "flask-limiter lean"): flask_limiter_app(
            {"storage_uri": redis_url, "storage_options": client_options(), "key_prefix": prefix}, lean=True),
        ("redis", "limits core, once"): limits_core_app(redis_storage()),
        ("redis", "aurora.api.rate_limit"): aurora_app(SharedCounter(redis_storage(), now=time.time)),
    }


def requester(app: Flask) -> Callable[[], int]:
    """One GET /api/stats through the app's WSGI callable; returns the status."""
    template = EnvironBuilder(path="/api/stats", environ_base={"REMOTE_ADDR": "127.0.0.9"}).get_environ()
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def one() -> int:
        statuses.clear()
        body = app.wsgi_app(dict(template), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        return int(statuses[0][:3])

    return one


@dataclass(frozen=True)
class Cost:
    storage: str
    way: str
    microseconds: float  # wall time per request, best round
    cpu_microseconds: float  # this process's CPU time (all its threads) per request, best round


def measure(redis_url: str, requests: int, rounds: int) -> list[Cost]:
    prefix = f"aurora-bench-limiter-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    client.ping()  # fails at once, saying why, when Redis is not there
    try:
        built = apps(redis_url, prefix)
        calls = {name: requester(app) for name, app in built.items()}
        for name, call in calls.items():  # warm: first requests set Flask and the limiters up
            for _ in range(200):
                if (status := call()) != 200:
                    raise RuntimeError(f"{name}: answered {status}")
        best = {name: (float("inf"), float("inf")) for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                for _ in range(requests):
                    call()
                wall = (time.perf_counter() - started) / requests * 1e6
                cpu = (time.process_time() - cpu_started) / requests * 1e6
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    finally:
        stale = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if stale:
            client.delete(*stale)
        client.close()
    return [Cost(storage, way, wall, cpu) for (storage, way), (wall, cpu) in best.items()]


def table(costs: list[Cost]) -> str:
    base = next(cost for cost in costs if cost.way == "no limiter")
    rows = [("storage", "way of limiting", "wall us/req", "limiter's", "x none", "CPU us/req", "limiter's")]
    for cost in costs:
        none = cost is base
        rows.append((
            cost.storage, cost.way,
            f"{cost.microseconds:.1f}", "-" if none else f"{cost.microseconds - base.microseconds:+.1f}",
            f"{cost.microseconds / base.microseconds:.2f}",
            f"{cost.cpu_microseconds:.1f}", "-" if none else f"{cost.cpu_microseconds - base.cpu_microseconds:+.1f}",
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
    print(f"limit {LIMIT}, {args.requests:,} requests x {args.rounds} rounds per app, best round")
    print(table(measure(args.redis_url, args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
