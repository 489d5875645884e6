"""A silent Redis (accepts connections, never answers): one call pays one short timeout, the breaker
trips at once, and while it is open no request tries Redis; after the open period exactly one
caller tries again. Attempts are counted at the socket (connections the silent server accepted),
never timed: the durations are printed for the record."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
import redis

from aurora.bot.snapshot import BotSnapshot
from aurora.scaleout.redis_link import BREAKER_OPEN_SECONDS, RedisHealth, connect
from aurora.scaleout.snapshots import RedisSnapshotStore
from aurora.web.context import context_of
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import command, insert_rows

pytestmark = pytest.mark.clock

REQUESTS = 20


class HandClock:
    """A monotonic clock the test moves by hand (the breaker's durations)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def silent_redis(redis_url):
    """A proxy to the real Redis that starts silent (`stall`): connections are accepted, never answered."""
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    proxy.stall()
    yield proxy, f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}"
    proxy.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_silent_redis_is_tried_once_and_requests_keep_answering(make_app, engine, clock, silent_redis, caplog):
    caplog.set_level(logging.INFO, logger="aurora")
    proxy, url = silent_redis
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=m)) for m in range(1, 4)])
    app = make_app(role="web", redis_url=url, rate_limit=None)
    client = app.server.test_client()
    health = context_of(app).snapshots.health

    durations = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        answer = client.get("/api/stats")
        durations.append(time.perf_counter() - started)
        assert answer.status_code == 200
        stats = answer.get_json()
        assert stats["commands"]["total"] == 3  # computed locally, from the database
        assert stats["bot"]["status"] == "disconnected"  # honest: the bot cannot be seen
        assert not stats["stale"]
    print(f"\nsilent Redis: first request {durations[0]:.3f} s, the other {REQUESTS - 1}: "
          f"max {max(durations[1:]):.3f} s (socket timeout 0.5 s)")

    assert proxy.accepted == 1  # the first Redis call tripped the breaker; no request tried again
    assert health.down and health.trips == 1 and health.probes == 0
    assert sum("Redis unreachable (TimeoutError" in r.getMessage() for r in caplog.records) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_after_the_open_period_one_caller_tries_again(redis_url, silent_redis, redis_prefix, clock, caplog):
    caplog.set_level(logging.INFO, logger="aurora")
    proxy, url = silent_redis
    monotonic = HandClock()
    health = RedisHealth(monotonic=monotonic)
    silent = connect(url)
    store = RedisSnapshotStore(silent, prefix=redis_prefix, ttl_seconds=60, clock=clock, health=health)

    for _ in range(REQUESTS):
        assert store.latest()[1].status == "disconnected"
    assert proxy.accepted == 1 and health.trips == 1

    monotonic.now += BREAKER_OPEN_SECONDS - 0.1
    for _ in range(REQUESTS):
        store.latest()
    assert proxy.accepted == 1  # still open

    # The period is over: of many callers at once, one tries Redis, the others keep the fallback.
    monotonic.now += 0.1
    barrier = threading.Barrier(8)
    statuses = []

    def read() -> None:
        barrier.wait()
        statuses.append(store.latest()[1].status)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == ["disconnected"] * 8
    assert proxy.accepted == 2 and health.probes == 1 and health.trips == 2 and health.down

    # Redis answers again: the next probe (after another period) closes the breaker.
    proxy.restore()
    direct = connect(redis_url)
    RedisSnapshotStore(direct, prefix=redis_prefix, ttl_seconds=60, clock=clock).publish(
        BotSnapshot(status="connected", taken_at=clock())
    )
    direct.close()
    assert store.latest()[1].status == "disconnected"  # still inside the period
    monotonic.now += BREAKER_OPEN_SECONDS
    assert store.latest()[1].status == "connected"
    assert not health.down and health.probes == 2
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1
    assert sum("Redis reachable again" in r.getMessage() for r in caplog.records) == 1
    silent.close()
