"""Scale-out parts in one process, against the real Redis: the shared bot snapshot, the shared
stats refresh, the roles and the bot process. Every test has its own key prefix; the lease is in
test_lease.py, /metrics in test_metrics.py, the multi-process behaviour in test_scaleout_processes.py."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

import pytest
import redis

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.queries.day_glance import DayGlance, with_day_glance
from aurora.queries.reference import compute_database_stats
from aurora.scaleout.lease import BotLease
from aurora.scaleout.redis_link import RedisHealth, connect
from aurora.scaleout.shared_stats import SharedStatsCompute
from aurora.scaleout.snapshots import OffLoopPublisher, RedisSnapshotStore, snapshot_key
from aurora.startup import StartupError, start_bot
from aurora.stats.service import StatsService
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW, connected_snapshot, insert_rows, transaction

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for


@pytest.fixture
def proxied(redis_url):
    """A Redis redis_client whose connections go through a proxy the test can cut."""
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    redis_client = connect(f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}")
    yield proxy, redis_client
    redis_client.close()
    proxy.close()


# --- the JSON form of the models ------------------------------------------------------------


# --- the bot snapshot in Redis --------------------------------------------------------------
def test_a_published_snapshot_is_read_back_and_expires_to_offline(redis_client, redis_prefix, clock):
    store = RedisSnapshotStore(redis_client, prefix=redis_prefix, ttl_seconds=0.3, clock=clock)
    version, before = store.latest()
    assert before.status == "disconnected"  # nothing published yet: no bot, not "disabled" or zeros
    assert store.latest() == (version, before)  # one offline snapshot, not a new one per request

    store.publish(connected_snapshot())
    version_1, read = store.latest()
    assert read == connected_snapshot() and version_1 != version
    store.publish(connected_snapshot(guild_count=8))
    version_2, read = store.latest()
    assert read.guild_count == 8 and version_2 != version_1
    assert 0 < redis_client.pttl(snapshot_key(redis_prefix)) <= 300

    # The bot stops publishing (process killed): within the TTL the readers see it offline.
    wait_for(lambda: store.latest()[1].status == "disconnected", timeout=3)


class BlockingStore(RedisSnapshotStore):
    """A store whose Redis write hangs until released (a Redis that stopped answering)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.writing = threading.Event()
        self.release = threading.Event()

    def publish(self, snapshot) -> None:
        self.writing.set()
        self.release.wait(5)
        super().publish(snapshot)


def test_the_bot_loop_never_waits_for_redis(redis_client, redis_prefix, clock):
    store = BlockingStore(redis_client, prefix=redis_prefix, ttl_seconds=5, clock=clock)
    publisher = OffLoopPublisher(store, clock)
    publisher.publish(connected_snapshot(guild_count=100))
    assert store.writing.wait(5)
    # The write to Redis hangs, yet the bot's publishes return (this thread would block otherwise).
    for count in range(50):
        publisher.publish(connected_snapshot(guild_count=count))
    assert publisher.latest()[1].guild_count == 49  # the bot's own reads never go to Redis
    store.release.set()
    publisher.close()
    assert store.latest()[1].guild_count == 49  # the newest one always arrives, older ones may be skipped
    assert publisher.sent == 2  # the one in flight, then only the newest of the 50 queued behind it


def test_redis_outage_shows_the_bot_offline_and_recovers(proxied, redis_prefix, clock, caplog):
    caplog.set_level(logging.INFO, logger="aurora")
    proxy, redis_client = proxied
    store = RedisSnapshotStore(redis_client, prefix=redis_prefix, ttl_seconds=30, clock=clock,
                               health=RedisHealth(open_seconds=0.1))
    store.publish(connected_snapshot())
    assert store.latest()[1].status == "connected"

    proxy.cut()
    for _ in range(5):
        assert store.latest()[1].status == "disconnected"  # honest: the bot cannot be seen
    with pytest.raises(redis.RedisError):
        store.publish(connected_snapshot())
    assert sum("Redis unreachable" in record.message for record in caplog.records) == 1  # once, not per call

    proxy.restore()
    wait_for(lambda: store.latest()[1].status == "connected", timeout=5)
    assert sum("Redis reachable again" in record.message for record in caplog.records) == 1


# --- one stats computation for every process ------------------------------------------------
class CountingCompute:
    def __init__(self, engine, clock) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()
        self._engine, self._clock = engine, clock

    def __call__(self, engine, now):
        with self._lock:
            self.calls += 1
        self.release.wait(5)
        return compute_database_stats(engine, now)


def test_many_workers_share_one_computation_per_interval(engine, clock, redis_client, redis_prefix, redis_url):
    inner = CountingCompute(engine, clock)
    # Two "processes": separate clients and wrappers around the same inner compute.
    workers = [
        SharedStatsCompute(connect(redis_url), inner, prefix=redis_prefix, interval_seconds=0.5, poll_seconds=0.01)
        for _ in range(2)
    ]
    results = []
    inner.release.clear()  # hold the first computation so that everyone else has to wait for it
    threads = [threading.Thread(target=lambda w=w: results.append(w(engine, clock()))) for w in workers * 3]
    for thread in threads:
        thread.start()
    wait_for(lambda: inner.calls == 1)
    inner.release.set()
    for thread in threads:
        thread.join(5)
    assert inner.calls == 1
    assert len(results) == 6 and all(result == results[0] for result in results)

    assert workers[1](engine, clock()) == results[0] and inner.calls == 1  # still fresh: no query
    wait_for(lambda: not redis_client.exists(f"{redis_prefix}:stats:fresh"), timeout=3)  # the interval passed
    workers[1](engine, clock())
    assert inner.calls == 2


def test_stats_services_in_two_workers_compute_once(engine, clock, redis_url, redis_prefix):
    inner = CountingCompute(engine, clock)
    services = [
        StatsService(engine, None, refresh_seconds=30, demo=False, clock=clock,
                     compute=SharedStatsCompute(connect(redis_url), inner, prefix=redis_prefix, interval_seconds=30))
        for _ in range(2)
    ]
    first, second = (service.database_stats() for service in services)
    assert first == second and inner.calls == 1


def test_a_worker_still_counting_its_glance_keeps_the_published_one(engine, redis_url, redis_client, redis_prefix):
    # A week of rows: a glance counting one day of hours per call needs several refreshes.
    insert_rows(engine, transaction_rows=[transaction(NOW - timedelta(days=day, hours=1)) for day in range(8)])
    counting, own = with_day_glance(compute_database_stats, DayGlance(rows_per_call=1)), []

    def still_counting(engine, now):
        stats = counting(engine, now)
        own.append(stats.glance)
        return stats

    counted, second_worker = (
        SharedStatsCompute(connect(redis_url), inner, prefix=redis_prefix, interval_seconds=30)
        for inner in (with_day_glance(compute_database_stats), still_counting)
    )
    published = counted(engine, NOW)
    assert published.glance is not None
    redis_client.delete(f"{redis_prefix}:stats:fresh")  # the interval passed: the other worker computes
    assert second_worker(engine, NOW).glance == published.glance and own == [None]
    assert counted(engine, NOW).glance == published.glance  # what it stored for everyone


def test_a_failed_computation_frees_the_lock_for_the_next_worker(engine, clock, redis_client, redis_prefix):
    def failing(_engine, _now):
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        SharedStatsCompute(redis_client, failing, prefix=redis_prefix, interval_seconds=30)(engine, clock())
    assert not redis_client.exists(f"{redis_prefix}:stats:lock")
    inner = CountingCompute(engine, clock)
    SharedStatsCompute(redis_client, inner, prefix=redis_prefix, interval_seconds=30)(engine, clock())
    assert inner.calls == 1


def test_a_holder_that_overran_its_lock_leaves_the_next_holders_lock_alone(engine, clock, redis_client, redis_prefix):
    lock_key = f"{redis_prefix}:stats:lock"
    overran = threading.Event()

    def slow(engine, now):
        wait_for(lambda: not redis_client.exists(lock_key), timeout=3)  # our lock expired meanwhile ...
        redis_client.set(lock_key, "another process", px=5000)  # ... and another process took it
        overran.set()
        return compute_database_stats(engine, now)

    result = SharedStatsCompute(redis_client, slow, prefix=redis_prefix, interval_seconds=30, lock_seconds=0.2)(engine, clock())
    assert overran.is_set() and result.active_users == 0
    assert redis_client.get(lock_key) == b"another process"  # never deletes someone else's lock
    assert redis_client.exists(f"{redis_prefix}:stats:fresh")  # the result is still shared

def test_without_redis_each_worker_computes_for_itself(engine, clock, proxied, redis_prefix):
    proxy, redis_client = proxied
    inner = CountingCompute(engine, clock)
    shared = SharedStatsCompute(redis_client, inner, prefix=redis_prefix, interval_seconds=30,
                                health=RedisHealth(open_seconds=0.1))
    proxy.cut()
    assert shared(engine, clock()).active_users == 0
    assert inner.calls == 1  # the dashboard keeps working, at the old cost
    proxy.restore()
    wait_for(lambda: (shared(engine, clock()), redis_client.exists(f"{redis_prefix}:stats:fresh"))[1], timeout=5)
    calls = inner.calls
    shared(engine, clock())
    assert inner.calls == calls  # shared again


# --- one bot per token ----------------------------------------------------------------------


def test_the_web_role_never_starts_a_bot(settings, engine, clock):
    web = settings.with_overrides(role="web", redis_url="redis://127.0.0.1:6379/0", discord_token="a.b.c")
    with pytest.raises(StartupError, match="AURORA_ROLE=web never starts the bot"):
        start_bot(web, engine, None, None, clock)


# --- the web role in process: snapshot from Redis, shared limit, /metrics -----------------


def test_two_web_workers_share_the_rate_limit(make_app, web_role):
    workers = [make_app(**web_role, rate_limit="5/minute").server.test_client() for _ in range(2)]
    statuses = [workers[i % 2].get("/api/stats").status_code for i in range(7)]
    assert statuses == [200] * 5 + [429, 429]  # the 6th is refused whichever worker it reaches


def test_the_web_role_serves_the_bot_snapshot_from_redis(make_app, web_role, redis_client, clock):
    app = make_app(**web_role)
    store = RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock)
    assert app.server.test_client().get("/api/stats").get_json()["bot"]["status"] == "disconnected"
    store.publish(connected_snapshot())
    body = app.server.test_client().get("/api/stats").get_json()
    assert (body["bot"]["status"], body["guilds"]["count"], body["ping"]["avg"]) == ("connected", 7, 42)


def test_the_bot_process_publishes_to_redis_and_says_goodbye_on_stop(settings, redis_url, redis_prefix, redis_client):
    from aurora.scaleout.bot_process import BotProcess

    token = f"bot-process-{uuid.uuid4().hex}"
    with SimulatedDiscord(token=token, guilds=[4, 2]) as fake:
        bot_settings = settings.with_overrides(
            role="bot", redis_url=redis_url, redis_prefix=redis_prefix, discord_token=token, bot_ttl_seconds=3,
            discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url,
        )
        process = BotProcess(bot_settings, bot_options={"identify_delay_seconds": 0,
                                                        "client_options": {"guild_ready_timeout": 0.05}})
        reader = RedisSnapshotStore(redis_client, prefix=redis_prefix, ttl_seconds=3, clock=lambda: NOW)
        process.start()
        try:
            wait_for(lambda: reader.latest()[1].guild_count == 2, timeout=10)
            assert redis_client.get(BotLease(redis_client, token, ttl_seconds=3).key).decode() == process.lease.owner
            assert 0 < redis_client.pttl(snapshot_key(redis_prefix)) <= 3000
        finally:
            process.stop()
        # A clean stop publishes the last word at once (no TTL to wait for) and frees the lease.
        assert reader.latest()[1].status == "disconnected"
        assert redis_client.exists(snapshot_key(redis_prefix))
        assert not redis_client.exists(BotLease(redis_client, token, ttl_seconds=3).key)
        wait_for(lambda: fake.connection_count == 0, timeout=3)


