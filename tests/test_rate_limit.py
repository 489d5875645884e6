"""Rate limits (aurora.api.rate_limit, aurora.api.rate_counters): one count per request, one budget for the
API and another for the page, their headers, and Redis storage with its in-memory fallback."""

from __future__ import annotations

import logging
import re
import socket

import pytest
import redis
from limits.storage import RedisStorage

from aurora.api import rate_limit
from aurora.api.rate_counters import SharedCounter
from aurora.api.stream import STREAM_RETRY_SECONDS, StreamSlots, TooManyStreams
from aurora.config import SettingsError, settings_from_mapping
from bench.common import refresh_body_from
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW

API_PATHS = ("/api/stats", "/api/activity.csv", "/api/openapi.json", "/api/stats/realtime")
BUDGET_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture
def database_url(sqlite_url):
    """Limits do not depend on the database behind the app."""
    return sqlite_url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refresh_callback_body(client) -> bytes:
    """What the page posts at each refresh: the interval-driven callback with every figure as output."""
    return refresh_body_from(client.get("/_dash-dependencies").get_json())


def refresh(client, body: bytes):
    return client.post("/_dash-update-component", data=body, content_type="application/json")


def assert_refused(response, limit: int) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == 429 and "rate limit exceeded" in error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    # The window is dated by the app's injected clock (frozen at NOW in these tests).
    assert int(response.headers["X-RateLimit-Reset"]) >= NOW.timestamp() + retry_after - 1


def test_each_request_is_counted_once(make_app, monkeypatch):
    hits = []

    class Spy:
        def __init__(self, counter):
            self.counter = counter

        def hit(self, key, period):
            hits.append(key)
            return self.counter.hit(key, period)

        def window_end(self, key):
            return self.counter.window_end(key)

    real = rate_limit.make_counter
    monkeypatch.setattr(rate_limit, "make_counter", lambda settings, now: Spy(real(settings, now)))
    client = make_app(rate_limit="10/minute").server.test_client()
    remaining = []
    for path in ("/api/stats", "/api/stats", "/api/activity.csv", "/api/openapi.json"):
        before = len(hits)
        response = client.get(path)
        assert response.status_code == 200 and len(hits) == before + 1
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [9, 8, 7, 6]
    assert hits[0] == "LIMITER/api/127.0.0.1/10/1/minute"  # limits' own key for (scope, client)


def test_the_api_routes_share_one_budget_per_client(make_app):
    client = make_app(rate_limit="4/minute").server.test_client()
    statuses = [client.get(path).status_code for path in API_PATHS]
    # The stream's answer is the view's hand-off (the ASGI layer writes the events): counted all the same.
    assert statuses == [200, 200, 200, 200]
    for path in API_PATHS:
        assert_refused(client.get(path), 4)
    assert client.get("/api/stats", environ_base={"REMOTE_ADDR": "127.0.0.2"}).status_code == 200


def test_the_page_has_its_own_budget(make_app):
    client = make_app(rate_limit="2/minute", page_rate_limit="5/minute").server.test_client()
    body = refresh_callback_body(client)  # /_dash-dependencies: 1 of the page's 5
    assert [client.get("/api/stats").status_code for _ in range(3)] == [200, 200, 429]
    page = [client.get("/"), client.get("/_dash-layout"), refresh(client, body), client.get("/any/page/path")]
    assert [response.status_code for response in page] == [200] * 4
    assert [response.headers["X-RateLimit-Remaining"] for response in page] == ["3", "2", "1", "0"]
    for refused in (refresh(client, body), client.get("/"), client.get("/_dash-layout")):
        assert_refused(refused, 5)
    # Static assets are never limited.
    index = client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.3"}).get_data(as_text=True)
    suite = re.search(r'src="(/_dash-component-suites/[^"]+)"', index).group(1)
    for asset in ("/assets/live.js", suite):
        response = client.get(asset)
        assert response.status_code == 200
        assert not any(name in response.headers for name in (*BUDGET_HEADERS, "Retry-After"))


def test_a_page_refreshing_under_the_default_budget_is_never_refused(make_app):
    client = make_app().server.test_client()
    body = refresh_callback_body(client)
    for _ in range(5):  # five page loads, each with thirty refreshes
        loads = [client.get("/"), client.get("/_dash-layout"), client.get("/_dash-dependencies")]
        refreshes = [refresh(client, body) for _ in range(30)]
        assert {response.status_code for response in loads + refreshes} == {200}
    assert refreshes[-1].headers["X-RateLimit-Limit"] == "600"
    assert int(refreshes[-1].headers["X-RateLimit-Remaining"]) == 600 - 1 - 5 * 33


def test_retry_after_only_on_a_refusal(make_app):
    client = make_app(rate_limit="3/minute", page_rate_limit="3/minute").server.test_client()
    for path in ("/api/stats", "/api/activity.csv", "/api/stats", "/_dash-layout", "/"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Retry-After" not in answer.headers
        assert all(name in answer.headers for name in BUDGET_HEADERS)
    assert_refused(client.get("/api/stats"), 3)


def test_both_limits_off_install_no_hook(make_app):
    app = make_app(rate_limit=None, page_rate_limit=None)
    client = app.server.test_client()
    for path in ("/api/stats", "/_dash-layout"):
        responses = [client.get(path) for _ in range(70)]
        assert {response.status_code for response in responses} == {200}
        assert not any(name in responses[-1].headers for name in (*BUDGET_HEADERS, "Retry-After"))
    hooks = app.server.before_request_funcs.get(None, [])
    assert not any(isinstance(getattr(hook, "__self__", None), rate_limit.RateLimits) for hook in hooks)


def test_a_bad_page_limit_is_one_line_naming_the_setting():
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({"AURORA_PAGE_RATE_LIMIT": "plenty"})
    assert str(raised.value).startswith("AURORA_PAGE_RATE_LIMIT='plenty' is not a rate limit")
    assert "\n" not in str(raised.value)


def test_the_stream_cap_says_the_retry_time_its_header_gives():
    slots = StreamSlots(per_client=1, total=10)
    slots.acquire("198.51.100.1")
    with pytest.raises(TooManyStreams) as raised:
        slots.acquire("198.51.100.1")
    assert raised.value.retry_after == STREAM_RETRY_SECONDS
    assert raised.value.message == f"at most 1 live streams per client; retry after {STREAM_RETRY_SECONDS} s"


# --- Redis ---------------------------------------------------------------------------------------
def test_counted_in_redis_shared_by_apps(make_app, redis_url, redis_prefix):
    apps = [make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="3/minute") for _ in range(2)]
    clients = [app.server.test_client() for app in apps]
    statuses = [clients[i % 2].get("/api/stats").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert_refused(clients[1].get("/api/activity.csv"), 3)
    store = redis.Redis.from_url(redis_url)
    key = f"{redis_prefix}:LIMITER/api/127.0.0.1/3/1/minute"
    assert int(store.get(key)) == 5 and 0 < store.ttl(key) <= 60
    store.close()


def test_an_unreachable_redis_is_counted_around_in_memory(make_app, caplog):
    caplog.set_level(logging.INFO, logger="aurora.api.rate_counters")
    app = make_app(redis_url=f"redis://127.0.0.1:{closed_port()}/0", rate_limit="3/minute")
    client = app.server.test_client()
    statuses = [client.get("/api/stats").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    messages = [record.getMessage() for record in caplog.records if record.name == "aurora.api.rate_counters"]
    assert len(messages) == 1 and messages[0].startswith("Rate limit storage unreachable (ConnectionError)")
    assert "Traceback" not in caplog.text


def test_counting_goes_back_to_redis_when_it_answers_again(redis_url, redis_prefix, caplog):
    caplog.set_level(logging.INFO, logger="aurora.api.rate_counters")
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    now = [100.0]
    counter = SharedCounter(
        RedisStorage(f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}", key_prefix=redis_prefix,
                     socket_connect_timeout=1, socket_timeout=1),
        retry_pause=5, monotonic=lambda: now[0], now=NOW.timestamp,
    )
    try:
        assert counter.hit("k", 60)[0] == 1
        proxy.cut()
        assert [counter.hit("k", 60)[0] for _ in range(3)] == [1, 2, 3]  # in memory meanwhile
        assert counter.down
        proxy.restore()
        assert counter.hit("k", 60)[0] == 4  # within the pause: Redis is not tried yet
        now[0] += 5
        count, end = counter.hit("k", 60)
        assert count == 2 and not counter.down  # Redis's count, which the outage did not reach
        # The second hit of a window Redis opened: its end read back from the key's TTL.
        assert NOW.timestamp() < end <= NOW.timestamp() + 60
    finally:
        proxy.close()
    messages = [record.getMessage() for record in caplog.records if record.name == "aurora.api.rate_counters"]
    assert len(messages) == 2
    assert messages[0].startswith("Rate limit storage unreachable")
    assert messages[1] == "Rate limit storage recovered: counting in Redis again"
