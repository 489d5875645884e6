"""Rate limits (aurora.api.rate_limit, Flask-Limiter): one budget for the API and another for the
page, counted per client address once per request, their headers, a JSON 429, and Redis storage
shared by apps with its in-memory fallback.

Flask-Limiter dates its windows by the wall clock (the `limits` library takes no injected clock), so
these tests use budgets no test outlasts and check the headers against `time.time()`."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest
import redis

from aurora.api.stream import STREAM_RETRY_SECONDS, StreamSlots, TooManyStreams
from aurora.settings import SettingsError, settings_from_mapping
from aurora.web.dash_routes import refresh_body_from
from tests.fakes.tcp_proxy import TcpProxy

API_PATHS = ("/api/stats", "/api/activity.csv", "/api/openapi.json", "/api/stats/realtime")
BUDGET_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
ACCESS_TOKEN = "a-token-of-sixteen-or-more"


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


def assert_refused(response, limit: int, period: int = 60) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == 429 and "rate limit exceeded" in error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= period + 1
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    # The window's end, in Unix seconds: what Retry-After counts down to.
    assert abs(int(response.headers["X-RateLimit-Reset"]) - (time.time() + retry_after)) <= 2


def test_each_request_is_counted_once_in_redis(make_app, redis_url, redis_prefix):
    client = make_app(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit="10/minute").server.test_client()
    remaining = []
    for path in ("/api/stats", "/api/stats", "/api/activity.csv", "/api/openapi.json"):
        response = client.get(path)
        assert response.status_code == 200 and "Retry-After" not in response.headers
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [9, 8, 7, 6]
    store = redis.Redis.from_url(redis_url)
    # Flask-Limiter's key for (client, scope), under the deployment's prefix.
    key = f"{redis_prefix}:LIMITER/127.0.0.1/api/10/1/minute"
    assert int(store.get(key)) == 4 and 0 < store.ttl(key) <= 60
    assert [name.decode() for name in store.scan_iter(match=f"{redis_prefix}:LIMITER*")] == [key]
    store.close()


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


def test_both_limits_off_install_no_limiter(make_app):
    app = make_app(rate_limit=None, page_rate_limit=None)
    client = app.server.test_client()
    for path in ("/api/stats", "/_dash-layout"):
        responses = [client.get(path) for _ in range(70)]
        assert {response.status_code for response in responses} == {200}
        assert not any(name in responses[-1].headers for name in (*BUDGET_HEADERS, "Retry-After"))
    assert "limiter" not in app.server.extensions


def test_a_request_refused_for_want_of_the_token_is_not_counted(make_app):
    client = make_app(access_token=ACCESS_TOKEN, rate_limit="2/minute").server.test_client()
    for authorization in (None, "Bearer wrong-token-of-enough-length", "Basic !!!"):
        refused = client.get("/api/stats", headers={"Authorization": authorization} if authorization else {})
        assert refused.status_code == 401
        assert not any(name in refused.headers for name in (*BUDGET_HEADERS, "Retry-After"))
    token = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    answers = [client.get("/api/stats", headers=token) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Remaining"] == "1"


def test_behind_two_trusted_proxies_the_client_two_hops_back_is_the_key(make_app):
    client = make_app(rate_limit="2/minute", trusted_proxy_hops=2).server.test_client()

    def ask(forwarded_for: str) -> int:
        return client.get("/api/stats", headers={"X-Forwarded-For": forwarded_for}).status_code

    assert [ask("198.51.100.7, 10.0.0.2") for _ in range(3)] == [200, 200, 429]
    assert ask("198.51.100.8, 10.0.0.2") == 200  # another client behind the same proxies
    # What the client wrote before the trusted entries buys it nothing.
    assert ask("203.0.113.1, 198.51.100.7, 10.0.0.3") == 429


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
    assert statuses == [200, 200, 200, 429]  # the 4th is refused whichever app gets it
    assert_refused(clients[1].get("/api/activity.csv"), 3)
    assert_refused(clients[0].get("/api/stats"), 3)


def limiter_messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "flask-limiter"]


def test_an_unreachable_redis_is_counted_around_in_memory(make_app, caplog):
    caplog.set_level(logging.WARNING, logger="flask-limiter")
    app = make_app(redis_url=f"redis://127.0.0.1:{closed_port()}/0", rate_limit="3/minute")
    client = app.server.test_client()
    answers = [client.get("/api/stats") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert_refused(answers[3], 3)
    assert limiter_messages(caplog) == ["Rate limit storage unreachable - falling back to in-memory storage"]
    assert "Traceback" not in caplog.text


def test_a_redis_that_goes_away_leaves_the_limit_holding_in_memory(make_app, redis_url, redis_prefix, caplog):
    caplog.set_level(logging.WARNING, logger="flask-limiter")
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    try:
        proxied = f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}"
        client = make_app(redis_url=proxied, redis_prefix=redis_prefix, rate_limit="3/minute").server.test_client()
        assert client.get("/api/stats").status_code == 200  # counted in Redis
        proxy.cut()
        # Counted afresh in memory (Redis's count is out of reach), and limited there.
        assert [client.get("/api/stats").status_code for _ in range(4)] == [200, 200, 200, 429]
    finally:
        proxy.close()
    store = redis.Redis.from_url(redis_url)
    assert int(store.get(f"{redis_prefix}:LIMITER/127.0.0.1/api/3/1/minute")) == 1
    store.close()
    assert limiter_messages(caplog) == ["Rate limit storage unreachable - falling back to in-memory storage"]
    assert "Traceback" not in caplog.text
