"""Scale-out parts in one process, against the real Redis: the shared bot snapshot, the shared
stats refresh, the bot lease, the Redis rate limit and /metrics. Every test has its own key prefix
(and its own lease token); the multi-process behaviour is in test_scaleout_processes.py."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from aurora.context import context_of
from aurora.models import BotSnapshot, CommandCount, DatabaseStats, ShardSnapshot
from aurora.queries.reference import compute_database_stats
from aurora.scaleout.codec import CodecError, dumps, loads
from aurora.scaleout.lease import BotLease, LeaseHeld, lease_key
from aurora.scaleout.redis_link import RedisHealth, connect
from aurora.scaleout.shared_stats import SharedStatsCompute
from aurora.scaleout.snapshots import OffLoopPublisher, RedisSnapshotStore, snapshot_key
from aurora.service import StatsService
from aurora.startup import StartupError, start_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW, with_fake_discord

pytestmark = pytest.mark.clock

wait_for = FakeDiscord.wait_for


def connected_snapshot(**changes) -> BotSnapshot:
    snapshot = BotSnapshot(
        status="connected", taken_at=NOW, guild_count=7, user_count=41, latency_ms=38.4,
        commands_registered=3, started_at=NOW - timedelta(hours=2),
        shards=(ShardSnapshot(0, "connected", 37.6), ShardSnapshot(1, "reconnecting", None)),
        ping_avg_ms=42.4, ping_previous_hour_avg_ms=50.0, guild_count_month_ago=5,
        command_failures=(CommandCount("balance", 2),),
    )
    return replace(snapshot, **changes)


@pytest.fixture
def client(redis_url):
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def proxied(redis_url):
    """A Redis client whose connections go through a proxy the test can cut."""
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    client = connect(f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}")
    yield proxy, client
    client.close()
    proxy.close()


# --- the JSON form of the models ------------------------------------------------------------
def test_snapshots_and_stats_survive_the_trip_through_json(engine, clock):
    snapshot = connected_snapshot(last_command_at=NOW)
    assert loads(BotSnapshot, dumps(snapshot)) == snapshot
    stats = compute_database_stats(engine, clock())
    assert loads(DatabaseStats, dumps(stats)) == stats


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"format": 99, "data": {}}', b'{"format": 1, "data": {"status": "sleeping", "taken_at": "x"}}',
     b'{"format": 1, "data": {"status": "connected", "taken_at": "2026-01-01T00:00:00"}}'],
)
def test_unreadable_payloads_are_refused_not_guessed(raw):
    with pytest.raises(CodecError):
        loads(BotSnapshot, raw)


# --- the bot snapshot in Redis --------------------------------------------------------------
def test_a_published_snapshot_is_read_back_and_expires_to_offline(client, redis_prefix, clock):
    store = RedisSnapshotStore(client, prefix=redis_prefix, ttl_seconds=0.3, clock=clock)
    version, before = store.latest()
    assert before.status == "disconnected"  # nothing published yet: no bot, not "disabled" or zeros
    assert store.latest() == (version, before)  # one offline snapshot, not a new one per request

    store.publish(connected_snapshot())
    version_1, read = store.latest()
    assert read == connected_snapshot() and version_1 != version
    store.publish(connected_snapshot(guild_count=8))
    version_2, read = store.latest()
    assert read.guild_count == 8 and version_2 != version_1
    assert 0 < client.pttl(snapshot_key(redis_prefix)) <= 300

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


def test_the_bot_loop_never_waits_for_redis(client, redis_prefix, clock):
    store = BlockingStore(client, prefix=redis_prefix, ttl_seconds=5, clock=clock)
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
    proxy, client = proxied
    store = RedisSnapshotStore(client, prefix=redis_prefix, ttl_seconds=30, clock=clock,
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


def test_many_workers_share_one_computation_per_interval(engine, clock, client, redis_prefix, redis_url):
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
    wait_for(lambda: not client.exists(f"{redis_prefix}:stats:fresh"), timeout=3)  # the interval passed
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


def test_a_failed_computation_frees_the_lock_for_the_next_worker(engine, clock, client, redis_prefix):
    def failing(_engine, _now):
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        SharedStatsCompute(client, failing, prefix=redis_prefix, interval_seconds=30)(engine, clock())
    assert not client.exists(f"{redis_prefix}:stats:lock")
    inner = CountingCompute(engine, clock)
    SharedStatsCompute(client, inner, prefix=redis_prefix, interval_seconds=30)(engine, clock())
    assert inner.calls == 1


def test_a_holder_that_overran_its_lock_leaves_the_next_holders_lock_alone(engine, clock, client, redis_prefix):
    lock_key = f"{redis_prefix}:stats:lock"
    overran = threading.Event()

    def slow(engine, now):
        wait_for(lambda: not client.exists(lock_key), timeout=3)  # our lock expired meanwhile ...
        client.set(lock_key, "another process", px=5000)  # ... and another process took it
        overran.set()
        return compute_database_stats(engine, now)

    result = SharedStatsCompute(client, slow, prefix=redis_prefix, interval_seconds=30, lock_seconds=0.2)(engine, clock())
    assert overran.is_set() and result.active_users == 0
    assert client.get(lock_key) == b"another process"  # never deletes someone else's lock
    assert client.exists(f"{redis_prefix}:stats:fresh")  # the result is still shared

def test_without_redis_each_worker_computes_for_itself(engine, clock, proxied, redis_prefix):
    proxy, client = proxied
    inner = CountingCompute(engine, clock)
    shared = SharedStatsCompute(client, inner, prefix=redis_prefix, interval_seconds=30,
                                health=RedisHealth(open_seconds=0.1))
    proxy.cut()
    assert shared(engine, clock()).active_users == 0
    assert inner.calls == 1  # the dashboard keeps working, at the old cost
    proxy.restore()
    wait_for(lambda: (shared(engine, clock()), client.exists(f"{redis_prefix}:stats:fresh"))[1], timeout=5)
    calls = inner.calls
    shared(engine, clock())
    assert inner.calls == calls  # shared again


# --- one bot per token ----------------------------------------------------------------------
def test_the_bot_lease_admits_one_holder_per_token(client):
    token = f"lease-{uuid.uuid4().hex}"
    first = BotLease(client, token, ttl_seconds=5)
    second = BotLease(client, token, ttl_seconds=5)
    first.acquire(wait_seconds=0)
    try:
        with pytest.raises(LeaseHeld) as raised:
            second.acquire(wait_seconds=0.3, poll_seconds=0.05)
        message = str(raised.value)
        assert message.startswith("DISCORD_TOKEN: the bot for this token is already running")
        assert first.owner in message and token not in message
        assert not second.renew() and first.renew()
        BotLease(client, f"other-{token}", ttl_seconds=5).acquire(wait_seconds=0)  # another bot is fine
    finally:
        first.release()
    second.acquire(wait_seconds=0)  # released on a clean stop: the next bot starts at once
    second.release()


def test_a_dead_holders_lease_expires_and_a_waiting_bot_takes_it(client):
    token = f"lease-{uuid.uuid4().hex}"
    BotLease(client, token, ttl_seconds=0.3).acquire(wait_seconds=0)  # never renewed: "killed"
    successor = BotLease(client, token, ttl_seconds=5)
    successor.acquire(wait_seconds=5, poll_seconds=0.05)
    assert successor.holder() == successor.owner
    successor.release()


def test_a_bot_that_lost_its_lease_is_told_to_stop(client):
    token = f"lease-{uuid.uuid4().hex}"
    lease = BotLease(client, token, ttl_seconds=0.3)
    lease.acquire(wait_seconds=0)
    lost = threading.Event()
    client.set(lease.key, "another process", px=5000)  # e.g. taken over during a Redis outage
    lease.keep_renewed(on_lost=lost.set)
    assert lost.wait(3)
    lease.release()
    assert client.get(lease.key) == b"another process"  # never deletes someone else's lease
    client.delete(lease.key)


def test_a_lease_that_expired_during_an_outage_is_taken_back_by_renewing(client):
    token = f"lease-{uuid.uuid4().hex}"
    lease = BotLease(client, token, ttl_seconds=0.2)
    lease.acquire(wait_seconds=0)
    wait_for(lambda: lease.holder() is None, timeout=3)  # no renewal reached Redis within the TTL
    assert lease.renew()
    assert lease.holder() == lease.owner and 0 < client.pttl(lease.key) <= 200
    lease.release()
    assert lease.holder() is None

def test_the_web_role_never_starts_a_bot(settings, engine, clock):
    web = settings.with_overrides(role="web", redis_url="redis://127.0.0.1:6379/0", discord_token="a.b.c")
    with pytest.raises(StartupError, match="AURORA_ROLE=web never starts the bot"):
        start_bot(web, engine, None, None, clock)


# --- the web role in process: snapshot from Redis, shared limit, /metrics -----------------
@pytest.fixture
def web(redis_url, redis_prefix) -> dict:
    """Setting overrides for a web-role app on this test's Redis prefix."""
    return {"role": "web", "redis_url": redis_url, "redis_prefix": redis_prefix, "bot_ttl_seconds": 30}


def test_two_web_workers_share_the_rate_limit(make_app, web):
    workers = [make_app(**web, rate_limit="5/minute").server.test_client() for _ in range(2)]
    statuses = [workers[i % 2].get("/api/stats").status_code for i in range(7)]
    assert statuses == [200] * 5 + [429, 429]  # the 6th is refused whichever worker it reaches


def test_the_web_role_serves_the_bot_snapshot_from_redis(make_app, web, client, clock):
    app = make_app(**web)
    store = RedisSnapshotStore(client, prefix=web["redis_prefix"], ttl_seconds=30, clock=clock)
    assert app.server.test_client().get("/api/stats").get_json()["bot"]["status"] == "disconnected"
    store.publish(connected_snapshot())
    body = app.server.test_client().get("/api/stats").get_json()
    assert (body["bot"]["status"], body["guilds"]["count"], body["ping"]["avg"]) == ("connected", 7, 42)


def scrape(client) -> dict:
    """(name, labels) -> value for every sample of /metrics, via prometheus_client's own parser."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_equal_the_api(make_app, web, client, clock):
    app = make_app(**web)
    RedisSnapshotStore(client, prefix=web["redis_prefix"], ttl_seconds=30, clock=clock).publish(
        connected_snapshot()
    )
    http = app.server.test_client()
    stats = http.get("/api/stats").get_json()
    metrics = scrape(http)
    assert metrics[("aurora_guilds", ())] == stats["guilds"]["count"] == 7
    assert metrics[("aurora_guilds_change_from_last_month", ())] == stats["guilds"]["changeFromLastMonth"] == 2
    assert metrics[("aurora_cached_users", ())] == stats["bot"]["cachedUsers"] == 41
    assert metrics[("aurora_active_users", ())] == stats["users"]["active"]
    assert metrics[("aurora_commands_24h", ())] == stats["commands"]["total"]
    assert metrics[("aurora_ping_milliseconds", ())] == stats["ping"]["avg"] == 42
    assert metrics[("aurora_shard_latency_milliseconds", (("shard", "0"),))] == 38
    assert ("aurora_shard_latency_milliseconds", (("shard", "1"),)) not in metrics  # unknown is absent, not 0
    assert metrics[("aurora_shard_status", (("shard", "1"), ("status", "reconnecting")))] == 1
    assert metrics[("aurora_bot_status", (("status", "connected"),))] == 1
    assert metrics[("aurora_bot_status", (("status", "disconnected"),))] == 0
    assert metrics[("aurora_bot_command_failures_total", (("command", "balance"),))] == 2
    assert metrics[("aurora_stats_stale", ())] == int(stats["stale"]) == 0
    assert metrics[("aurora_stats_available", ())] == 1
    # The request just made is counted by route and status (this process's registry).
    assert metrics[("aurora_http_requests_total", (("method", "GET"), ("route", "/api/stats"), ("status", "200")))] >= 1


def test_metrics_say_unavailable_rather_than_invent_numbers(make_app):
    app = make_app(database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")  # nothing listens there
    metrics = scrape(app.server.test_client())
    assert metrics[("aurora_stats_available", ())] == 0
    assert not any(name == "aurora_active_users" for name, _ in metrics)


def test_the_example_grafana_dashboard_asks_only_for_metrics_that_exist(make_app, web, client, clock):
    app = make_app(**web)
    RedisSnapshotStore(client, prefix=web["redis_prefix"], ttl_seconds=30, clock=clock).publish(connected_snapshot())
    http = app.server.test_client()
    http.get("/api/stats")
    text = http.get("/metrics").get_data(as_text=True)
    exposed = set()
    for family in text_string_to_metric_families(text):
        exposed.add(family.name)
        exposed.update(sample.name for sample in family.samples)
    dashboard = (Path(__file__).resolve().parent.parent / "deploy" / "grafana-aurora.json").read_text()
    asked = set(re.findall(r"\baurora_[a-z0-9_]+", dashboard)) - {"aurora_dashboard"}
    assert asked and asked <= exposed, asked - exposed


def test_the_bot_process_publishes_to_redis_and_says_goodbye_on_stop(settings, redis_url, redis_prefix, client):
    from aurora.scaleout.bot_process import BotProcess

    token = f"bot-process-{uuid.uuid4().hex}"
    with FakeDiscord(token=token, guilds=[4, 2]) as fake:
        bot_settings = settings.with_overrides(
            role="bot", redis_url=redis_url, redis_prefix=redis_prefix, discord_token=token, bot_ttl_seconds=3,
            discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url,
        )
        process = BotProcess(bot_settings, bot_options={"identify_delay_seconds": 0,
                                                        "client_options": {"guild_ready_timeout": 0.05}})
        reader = RedisSnapshotStore(client, prefix=redis_prefix, ttl_seconds=3, clock=lambda: NOW)
        process.start()
        try:
            wait_for(lambda: reader.latest()[1].guild_count == 2, timeout=10)
            assert client.get(BotLease(client, token, ttl_seconds=3).key).decode() == process.lease.owner
            assert 0 < client.pttl(snapshot_key(redis_prefix)) <= 3000
        finally:
            process.stop()
        # A clean stop publishes the last word at once (no TTL to wait for) and frees the lease.
        assert reader.latest()[1].status == "disconnected"
        assert client.exists(snapshot_key(redis_prefix))
        assert not client.exists(BotLease(client, token, ttl_seconds=3).key)
        wait_for(lambda: fake.connection_count == 0, timeout=3)


def test_prometheus_gets_openmetrics_when_it_asks_for_it(make_app):
    http = make_app().server.test_client()
    plain = http.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"  # Prometheus's
    open_metrics = http.get("/metrics", headers={"Accept": accept})
    assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert open_metrics.get_data(as_text=True).rstrip().endswith("# EOF")


def test_metrics_need_the_access_token_when_one_is_set(make_app):
    token = "metrics-access-token-0123456789"
    http = make_app(access_token=token).server.test_client()
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_all_in_one_process_with_redis_holds_the_bot_lease_too(make_app, redis_url, redis_prefix):
    token = f"lease-{uuid.uuid4().hex}"
    with FakeDiscord(token=token, guilds=[2]) as fake:
        overrides = {**with_fake_discord(fake), "redis_url": redis_url, "redis_prefix": redis_prefix,
                     "bot_ttl_seconds": 2}
        app = make_app(**overrides)
        lease_store = redis.Redis.from_url(redis_url)
        try:
            holder = lease_store.get(lease_key(token))
            assert holder is not None
            with pytest.raises(StartupError, match="already running"):
                make_app(**overrides)  # waits one TTL for the lease, then refuses
            assert fake.identify_count == 1
            context_of(app).shutdown()
            assert lease_store.get(lease_key(token)) is None  # released on a clean stop
        finally:
            lease_store.close()
