"""The asyncio front's Redis counts (aurora.api.rate_front): served as in production, every limited
request is counted in Redis exactly once, before the app decides, and many requests share a round trip."""

from __future__ import annotations

import asyncio
import base64
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from aurora.api.rate_front import COUNT_WINDOWS, WindowCounts, share_out
from aurora.api.rate_leases import lease_size
from aurora.context import context_of
from tests.support import NOW

TOKEN = "a-token-of-sixteen-or-more"


@pytest.fixture
def database_url(sqlite_url):
    """Limits do not depend on the database behind the app."""
    return sqlite_url


@pytest.fixture
def store(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def window_key(prefix: str, limit: str, client: str = "127.0.0.1", scope: str = "api") -> str:
    amount, per = limit.split("/")
    return f"{prefix}:LIMITER/{scope}/{client}/{amount}/1/{per}"


def test_each_request_is_counted_once_and_the_budget_is_shared_by_processes(
    make_app, live_server, redis_url, redis_prefix, store
):
    servers = [
        live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="5/minute")) for _ in range(2)
    ]
    answers = [requests.get(f"{servers[i % 2].url}/api/stats", timeout=10) for i in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["4", "3", "2", "1", "0", "0"]
    key = window_key(redis_prefix, "5/minute")
    assert int(store.get(key)) == 6
    refused = answers[-1]
    assert refused.json()["error"]["status"] == 429
    # Retry-After from the key's TTL, on the app's injected clock.
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert int(refused.headers["X-RateLimit-Reset"]) == pytest.approx(NOW.timestamp() + store.ttl(key), abs=1)


def counted_by_the_app(app, monkeypatch) -> list[str]:
    """The keys the app's own check counts (those the front did not count already)."""
    counter = context_of(app).rate_limits.counter
    keys = []
    hit = counter.hit

    def spy(key, period):
        keys.append(key)
        return hit(key, period)

    monkeypatch.setattr(counter, "hit", spy)
    return keys


def test_concurrent_requests_are_counted_exactly(make_app, live_server, redis_url, redis_prefix, store, monkeypatch):
    app = make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="25/minute", app_threads=4)
    counted_in_flask = counted_by_the_app(app, monkeypatch)
    server = live_server(app)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: requests.get(f"{server.url}/api/stats", timeout=10), range(40)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 25 + [429] * 15
    assert int(store.get(window_key(redis_prefix, "25/minute"))) == 40
    remaining = sorted(int(answer.headers["X-RateLimit-Remaining"]) for answer in answers if answer.ok)
    assert remaining == list(range(25))  # each count handed to exactly one request
    assert counted_in_flask == []  # all counted by the front


def test_requests_without_the_token_and_unlimited_routes_are_not_counted(
    make_app, live_server, redis_url, redis_prefix, store
):
    server = live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="5/minute",
                                  access_token=TOKEN))
    assert requests.get(f"{server.url}/api/stats", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert requests.get(f"{server.url}/api/stats", headers=wrong, timeout=10).status_code == 401
    key = window_key(redis_prefix, "5/minute")
    assert store.get(key) is None
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    for authorization in (f"Bearer {TOKEN}", f"Basic {basic}"):
        assert requests.get(f"{server.url}/api/stats", headers={"Authorization": authorization}, timeout=10).ok
    assert requests.get(f"{server.url}/assets/aurora.css", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10).ok
    assert int(store.get(key)) == 2


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(make_app, live_server, redis_url, redis_prefix, store):
    server = live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="5/minute",
                                  trusted_proxy_hops=1))
    for forwarded in ("203.0.113.7", "198.51.100.1, 203.0.113.7"):
        answer = requests.get(f"{server.url}/api/stats", headers={"X-Forwarded-For": forwarded}, timeout=10)
        assert answer.ok
    assert int(store.get(window_key(redis_prefix, "5/minute", client="203.0.113.7"))) == 2
    assert store.get(window_key(redis_prefix, "5/minute")) is None


def test_a_refusal_in_the_short_window_is_not_counted_in_the_long_one(
    make_app, live_server, redis_url, redis_prefix, store
):
    server = live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="2/minute;10/hour"))
    statuses = [requests.get(f"{server.url}/api/stats", timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert int(store.get(window_key(redis_prefix, "2/minute"))) == 4
    assert int(store.get(window_key(redis_prefix, "10/hour"))) == 2


def test_the_page_is_counted_in_its_own_budget(make_app, live_server, redis_url, redis_prefix, store):
    server = live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, page_rate_limit="50/minute"))
    assert requests.get(f"{server.url}/", timeout=10).ok
    assert requests.get(f"{server.url}/_dash-layout", timeout=10).ok
    assert int(store.get(window_key(redis_prefix, "50/minute", scope="page"))) == 2


def test_redis_down_is_counted_around_in_memory(make_app, live_server, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="aurora.api.rate_counters")
    app = make_app(redis_url="redis://127.0.0.1:1/0", rate_limit="3/minute")
    counted_in_flask = counted_by_the_app(app, monkeypatch)
    server = live_server(app)
    statuses = [requests.get(f"{server.url}/api/stats", timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(counted_in_flask) == 4  # the front stood back; the app counted in memory
    messages = [record.getMessage() for record in caplog.records if record.name == "aurora.api.rate_counters"]
    assert len(messages) == 1 and messages[0].startswith("Rate limit storage unreachable (ConnectionError)")
    assert "Traceback" not in caplog.text


def recording_client(redis_url: str, sent: list[list[tuple]]):
    """An asyncio Redis client whose pipelines record the commands they send."""
    client = redis.asyncio.Redis.from_url(redis_url)
    pipeline = client.pipeline

    def recording_pipeline(**options):
        made = pipeline(**options)
        execute = made.execute

        async def recorded_execute(**kwargs):
            sent.append([command for command, _ in made.command_stack])
            return await execute(**kwargs)

        made.execute = recorded_execute
        return made

    client.pipeline = recording_pipeline
    return client


def run_in_own_loop(coroutine):
    """asyncio.run from a thread of its own: the session's browser keeps a loop in the test thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=30)


def test_requests_arriving_together_share_a_round_trip_and_a_client_one_call(redis_url, redis_prefix, store):
    sent = []
    counts = WindowCounts(lambda: recording_client(redis_url, sent))
    store.script_flush()  # the script is loaded when Redis does not know it
    one, other = (f"{redis_prefix}:one",), (f"{redis_prefix}:other",)

    async def many() -> list[list[tuple[int, int]]]:
        try:
            return await asyncio.gather(*(counts(one if i % 3 else other, (60, 100)) for i in range(30)))
        finally:
            await counts.close()

    results = run_in_own_loop(many())
    assert sorted(result[0][0] for i, result in enumerate(results) if i % 3) == list(range(1, 21))
    assert sorted(result[0][0] for i, result in enumerate(results) if not i % 3) == list(range(1, 11))
    assert all(0 < result[0][1] <= 60 for result in results)
    calls = [len(commands) for commands in sent]
    assert sum(calls) < 30 and max(calls) <= 2  # one call per client and budget in each round trip
    assert int(store.get(one[0])) == 20 and int(store.get(other[0])) == 10


@pytest.mark.parametrize("arriving", [1, 3, 7])
def test_shared_out_counts_equal_counting_one_at_a_time(store, redis_prefix, arriving):
    """A group's counts, from one script call, are those of its requests counted one by one."""
    windows = ((f"{redis_prefix}:a", f"{redis_prefix}:b"), (60, 4, 3600, 6))
    store.set(windows[0][0], 2)
    store.set(windows[0][1], 3)
    result = [int(value) for value in store.evalsha(
        store.script_load(COUNT_WINDOWS), 2, *windows[0], arriving, *windows[1])]
    shares = share_out([1] * arriving, windows, result)
    short, long = 2, 3
    for share in shares:
        short += 1
        expected = [short]
        if short <= 4:
            long += 1
            expected.append(long)
        assert [count for count, _ in share] == expected
    assert int(store.get(windows[0][0])) == short and int(store.get(windows[0][1])) == long


# --- leases: large budgets ----------------------------------------------------------------------
def test_a_large_budget_is_counted_in_leases(make_app, live_server, redis_url, redis_prefix, store, monkeypatch):
    app = make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="100000/minute")
    counted_in_flask = counted_by_the_app(app, monkeypatch)
    server = live_server(app)
    answers = [requests.get(f"{server.url}/api/stats", timeout=10) for _ in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers += list(pool.map(lambda _: requests.get(f"{server.url}/api/stats", timeout=10), range(30)))
    assert all(answer.ok for answer in answers)
    # One lease of 100 counts (1/1000 of the budget) served all 40: one round trip, not 40.
    assert int(store.get(window_key(redis_prefix, "100000/minute"))) == lease_size(100_000, 0) == 100
    remaining = sorted(int(answer.headers["X-RateLimit-Remaining"]) for answer in answers)
    assert remaining == list(range(100_000 - 40, 100_000))  # every count handed out once
    assert counted_in_flask == []


def test_leases_never_let_more_than_the_limit_through(make_app, live_server, redis_url, redis_prefix, store):
    servers = [
        live_server(make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="2000/minute"))
        for _ in range(2)
    ]
    key = window_key(redis_prefix, "2000/minute")
    store.set(key, 1990, ex=60)  # the window nearly spent: leases shrink to single counts
    statuses = [requests.get(f"{servers[i % 2].url}/api/stats", timeout=10).status_code for i in range(16)]
    assert statuses.count(200) == 10 and statuses[-4:] == [429] * 4


@pytest.mark.parametrize(
    ("limit", "counted", "size"),
    [(60, 0, 1), (999, 0, 1), (1000, 0, 1), (10_000, 0, 10), (10_000_000, 0, 100), (10_000, 9_000, 10),
     (10_000, 9_500, 7), (10_000, 9_990, 1), (10_000, 10_000, 1)],
)
def test_lease_sizes(limit, counted, size):
    assert lease_size(limit, counted) == size


def test_a_round_trip_that_fails_any_way_fails_its_requests_at_once(redis_url):
    """Not only Redis's own errors: whatever breaks a round trip reaches every request waiting on it."""

    class Broken(Exception):
        pass

    def connect():
        client = redis.asyncio.Redis.from_url(redis_url)

        def pipeline(**_options):
            raise Broken("the client broke")

        client.pipeline = pipeline
        return client

    counts = WindowCounts(connect)

    async def two() -> list:
        try:
            return await asyncio.gather(counts(("k",), (60, 10)), counts(("k",), (60, 10)), return_exceptions=True)
        finally:
            await counts.close()

    assert [type(result) for result in run_in_own_loop(two())] == [Broken, Broken]


def test_a_front_that_cannot_count_leaves_the_request_to_the_app(
    make_app, live_server, redis_url, redis_prefix, monkeypatch
):
    app = make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="3/minute")
    counted_in_flask = counted_by_the_app(app, monkeypatch)

    async def broken(*_args, **_kwargs):
        raise RuntimeError("the front broke")

    monkeypatch.setattr(WindowCounts, "__call__", broken)
    server = live_server(app)
    statuses = [requests.get(f"{server.url}/api/stats", timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(counted_in_flask) == 4
