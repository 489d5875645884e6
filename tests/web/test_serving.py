"""Serving over real sockets: nginx with deploy/nginx.conf in front (slow clients, sizes, the stream
unbuffered, client addresses, JSON errors), and what the app server alone still promises (the
stream hand-off and its slot, the body limit, no Nagle delay, a health route)."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import flask
import pytest
import requests

from aurora.api.stream import STREAM_HEADER, StreamSlots
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.layouts import ids
from aurora.settings import Settings
from aurora.web.context import context_of
from aurora.web.dash_routes import refresh_body_from
from aurora.web.serving import capacity
from aurora.web.serving.local_nginx import SHIPPED_TIMEOUTS, client_tls, free_port, nginx_proxy
from tests.fakes.gunicorn_server import gunicorn_server
from tests.support import Stream, command, insert_rows

wait_for = SimulatedDiscord.wait_for
DASH_CALLBACK = "/_dash-update-component"
SHORT_DEADLINES = {"client_header_timeout": "1s", "client_body_timeout": "1s"}
# Nagle's algorithm with the client's delayed ACK costs ~40 ms on each answer of a reused connection.
NAGLE_DELAY_SECONDS = 0.04


@pytest.fixture
def database_url(sqlite_url):
    """Serving does not depend on the database behind the app."""
    return sqlite_url


@pytest.fixture
def behind_nginx(live_server, tmp_path):
    """nginx (deploy/nginx.conf) in front of the app served as `python app.py` serves it."""
    proxies = []

    def serve(app, **timeouts):
        server = live_server(app)
        context = nginx_proxy(tmp_path / f"nginx-{len(proxies)}", server.port, timeouts=timeouts)
        proxies.append(context)
        return context.__enter__()

    yield serve
    for context in proxies:
        context.__exit__(None, None, None)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one answer (read until the server closes); (0, {}, b"") if none came."""
    data = b""
    try:
        while chunk := connection.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def exchange(connection: socket.socket, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connection:
        try:
            connection.sendall(raw)
        except OSError:
            pass  # refused while still sending: the answer is there to read
        return read_answer(connection)


def get(path: str, headers: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n"


def post_head(length: int) -> bytes:
    return (b"POST " + DASH_CALLBACK.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


def assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int) -> None:
    got, headers, body = answer
    assert got == status, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["status"] == status


def https_client(proxy, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=10, context=client_tls(),
                                       source_address=(source, 0))


def status_of(connection: http.client.HTTPConnection, path: str, headers: dict | None = None) -> int:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response.status


# Through nginx


def test_a_client_too_slow_with_its_head_or_body_is_cut_off_by_nginx(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1), **SHORT_DEADLINES)
    with proxy.connect() as trickle_head, proxy.connect() as stalled_body:
        trickle_head.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n")
        stalled_body.sendall(post_head(100) + b"{")
        started = time.monotonic()
        # nginx closes the connection at its deadline without an answer (and logs the 408).
        assert read_answer(trickle_head) == (0, {}, b"")
        assert read_answer(stalled_body) == (0, {}, b"")
        assert time.monotonic() - started < 5
    wait_for(lambda: proxy.access_log().count('" 408 ') == 2, timeout=5)


def test_an_idle_connection_is_kept_between_two_updates_then_closed_by_nginx(make_app, behind_nginx):
    # Shipped: 65 s, longer than two refreshes at the default 30 s apart (a page's connection is
    # reused for its next update instead of a new TLS handshake); shortened here.
    proxy = behind_nginx(make_app(trusted_proxy_hops=1), keepalive_timeout="2s")
    client = https_client(proxy, "127.0.0.2")
    try:
        assert status_of(client, "/api/openapi.json") == 200
        first = client.sock
        time.sleep(1)
        assert status_of(client, "/api/openapi.json") == 200
        assert client.sock is first  # the same connection, no new handshake
        started = time.monotonic()
        assert first.recv(1) == b""  # then closed by nginx once idle for 2 s
        assert 1.5 < time.monotonic() - started < 5
    finally:
        client.close()
    assert int(SHIPPED_TIMEOUTS["keepalive_timeout"].removesuffix("s")) > 2 * Settings.refresh_seconds


def test_nginx_offers_http2_so_a_page_keeps_one_connection_for_its_stream_and_updates(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))
    tls = client_tls()
    tls.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with tls.wrap_socket(raw, server_hostname="localhost") as connection:
            assert connection.selected_alpn_protocol() == "h2"


@pytest.mark.browser
def test_a_page_through_nginx_gets_its_figures_and_stream_over_http2(make_app, behind_nginx, browser):
    app = make_app(trusted_proxy_hops=1)
    proxy = behind_nginx(app)
    context = browser.new_context(ignore_https_errors=True, timezone_id="UTC")
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(proxy.url + "/")
        page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_COMMANDS)}:text-is('0')", timeout=20_000)
        for _ in range(100):  # Playwright hands over the page's events only inside its own calls
            if context_of(app).streams.open_streams == 1:
                break
            page.wait_for_timeout(100)
        assert context_of(app).streams.open_streams == 1
        assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
        assert errors == []
    finally:
        context.close()


def test_a_body_over_the_limit_gets_413_json_from_nginx(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))
    answer = exchange(proxy.connect(), post_head(100 * 1024 * 1024))  # 100 MB announced, none sent
    assert_json_error(answer, 413)


def test_a_long_uri_gets_414_json_and_a_big_header_431_json(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))
    assert_json_error(exchange(proxy.connect(), get("/api/stats?q=" + "x" * 100_000)), 414)
    assert_json_error(exchange(proxy.connect(), get("/api/stats", b"X-Big: " + b"a" * 100_000 + b"\r\n")), 431)


def test_an_app_server_that_is_down_gets_503_json(tmp_path):
    with nginx_proxy(tmp_path / "nginx", free_port()) as proxy:  # nothing listens there
        status, headers, body = exchange(proxy.connect(), get("/api/stats"))
    assert status == 503 and headers["retry-after"] == "5"
    assert headers["strict-transport-security"] == "max-age=31536000"  # its own add_header drops the server's
    assert json.loads(body)["error"]["status"] == 503


def test_plain_http_is_sent_to_https(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))
    with socket.create_connection(("127.0.0.1", proxy.http_port), timeout=10) as connection:
        status, headers, _ = exchange(connection, get("/api/stats"))
    assert status == 301 and headers["location"].startswith("https://")


def test_the_stream_arrives_unbuffered_through_nginx(make_app, behind_nginx, engine, clock):
    app = make_app(trusted_proxy_hops=1, rate_limit="10000/minute", refresh_seconds=1, stream_heartbeat_seconds=0.3)
    proxy = behind_nginx(app)
    started = time.monotonic()
    stream = Stream(proxy.url, tls=client_tls())
    try:
        assert stream.response.status == 200
        assert stream.response.getheader(STREAM_HEADER) is None  # the hand-off never leaves the server
        assert stream.next_event()["data"]["commands"]["total"] == 0
        assert time.monotonic() - started < 3  # at once, not when a buffer fills
        assert stream.next_block() == [": heartbeat"]  # a few bytes each, passed on as they come
        insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
        clock.advance(seconds=2)
        app.server.test_client().get("/api/stats")  # due: refresh behind this request
        while stream.next_event()["data"]["commands"]["total"] != 1:
            pass
    finally:
        stream.close()
    wait_for(lambda: context_of(app).streams.open_streams == 0, timeout=5)


def test_the_rate_limit_keys_on_the_client_nginx_saw(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))  # the default budget: 60 a minute
    first, other = https_client(proxy, "127.0.0.2"), https_client(proxy, "127.0.0.3")
    try:
        statuses = [status_of(first, "/api/stats") for _ in range(60)]
        assert statuses == [200] * 60
        assert status_of(first, "/api/stats") == 429
        # A client cannot pick another key by writing X-Forwarded-For itself: nginx appends what it saw.
        assert status_of(first, "/api/stats", {"X-Forwarded-For": "127.0.0.9"}) == 429
        assert status_of(other, "/api/stats") == 200
    finally:
        first.close()
        other.close()


def test_the_health_route_is_outside_the_rate_limit_and_the_token(make_app, behind_nginx):
    app = make_app(trusted_proxy_hops=1, rate_limit="2/minute", access_token="a-long-enough-secret-token")
    proxy = behind_nginx(app)
    context_of(app).service.current()  # the first figures exist
    connection = https_client(proxy)
    try:
        for _ in range(5):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"status": "ok", "stale": False}
        assert status_of(connection, "/api/stats") == 401
    finally:
        connection.close()


def fastest_reused_answer(connection: http.client.HTTPConnection, path: str = "/api/openapi.json") -> float:
    status_of(connection, path)  # opens the connection
    times = []
    for _ in range(10):
        started = time.perf_counter()
        assert status_of(connection, path) == 200
        times.append(time.perf_counter() - started)
    return min(times)


def assert_no_nagle_delay(app_server_port: int, proxy) -> None:
    """The fastest of ten answers on a reused connection, to the app server and through nginx: a busy
    machine slows some answers, but Nagle's delay would hold every one."""
    direct = http.client.HTTPConnection("127.0.0.1", app_server_port, timeout=10)
    through = https_client(proxy)
    try:
        assert fastest_reused_answer(direct) < NAGLE_DELAY_SECONDS * 0.75
        assert fastest_reused_answer(through) < NAGLE_DELAY_SECONDS * 0.75
    finally:
        direct.close()
        through.close()


def test_reused_connections_have_no_nagle_delay_under_python_app_py_and_nginx(make_app, live_server, tmp_path):
    server = live_server(make_app(trusted_proxy_hops=1, rate_limit="10000/minute"))
    with nginx_proxy(tmp_path / "nginx", server.port) as proxy:
        assert_no_nagle_delay(server.port, proxy)


def test_reused_connections_have_no_nagle_delay_under_gunicorn_and_nginx(tmp_path):
    with gunicorn_server(tmp_path, AURORA_TRUSTED_PROXY_HOPS="1", AURORA_RATE_LIMIT="10000/minute") as server:
        with nginx_proxy(tmp_path / "nginx", server.port) as proxy:
            assert_no_nagle_delay(server.port, proxy)


def test_the_accepted_socket_has_tcp_nodelay(make_app, live_server):
    server = live_server(make_app())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10):
        wait_for(lambda: len(server.uvicorn.server_state.connections) == 1, timeout=5)
        (protocol,) = server.uvicorn.server_state.connections
        accepted = protocol.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# The app server alone


def test_a_body_over_the_apps_limit_gets_413_json(make_app, live_server):
    server = live_server(make_app(max_body_bytes=1024))
    answer = requests.post(f"{server.url}{DASH_CALLBACK}", data=b"{" + b" " * 2000 + b"}", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["status"] == 413
    within = requests.post(f"{server.url}{DASH_CALLBACK}", data=b"{" + b" " * 900 + b"}", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert within.status_code != 413  # Dash's own answer to a callback it does not know


def test_a_closed_stream_frees_its_slot_at_once(make_app, live_server):
    # Heartbeats an hour apart: only the disconnect itself can free the slot in time.
    app = make_app(stream_heartbeat_seconds=3600, rate_limit="10000/minute")
    server = live_server(app)
    slots = context_of(app).streams
    stream = Stream(server.url)
    stream.next_event()
    assert stream.response.getheader(STREAM_HEADER) is None
    assert slots.open_streams == 1
    stream.close()
    wait_for(lambda: slots.open_streams == 0, timeout=1)


def test_a_head_request_for_the_stream_gets_its_headers_and_takes_no_slot(make_app, live_server):
    app = make_app(rate_limit="10000/minute")
    server = live_server(app)
    answer = requests.head(f"{server.url}/api/stats/realtime", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    assert "Content-Length" not in answer.headers and STREAM_HEADER not in answer.headers
    assert answer.headers["Content-Security-Policy"]  # the view's headers, security headers included
    assert context_of(app).streams.open_streams == 0


def test_a_stream_that_lost_the_race_for_the_last_slot_gets_429_json(make_app, live_server, monkeypatch):
    app = make_app(rate_limit="10000/minute", stream_max_total=1)
    server = live_server(app)
    first = Stream(server.url)
    first.next_event()
    # The view saw room (another stream took it between its check and the hand-off).
    monkeypatch.setattr(StreamSlots, "refusal", lambda self, client: None)
    second = Stream(server.url)
    try:
        assert second.response.status == 429
        assert second.response.getheader("Content-Type") == "application/json"
        assert second.response.getheader("Retry-After") == "30"
        assert "maximum of 1 live streams" in json.loads(second.response.read())["error"]["message"]
        assert context_of(app).streams.open_streams == 1
    finally:
        second.close()
        first.close()


def test_a_stream_whose_answer_turned_into_an_error_sends_the_error_and_takes_no_slot(make_app, live_server):
    app = make_app(rate_limit="10000/minute")

    @app.server.after_request
    def break_the_stream(response):  # a later step failing after the view answered
        if flask.request.path == "/api/stats/realtime":
            raise RuntimeError("broken after the view")
        return response

    server = live_server(app)
    answer = requests.get(f"{server.url}/api/stats/realtime", timeout=5)
    assert answer.status_code == 500 and answer.json()["error"]["status"] == 500
    assert context_of(app).streams.open_streams == 0


def test_the_api_and_the_health_check_never_queue_behind_the_pages_callbacks(make_app, live_server):
    """Every open page asks for its update at the same moment: that burst runs in a pool of its own."""
    app = make_app(rate_limit="10000/minute", app_threads=1)
    held, release = threading.Event(), threading.Event()

    @app.server.before_request
    def hold_the_callbacks():  # every thread the callbacks have is busy
        if flask.request.path == DASH_CALLBACK:
            held.set()
            release.wait(30)

    server = live_server(app)
    assert requests.get(f"{server.url}/api/stats", timeout=10).status_code == 200  # the first figures are in
    with ThreadPoolExecutor(1) as pool:
        body = refresh_body_from(requests.get(f"{server.url}/_dash-dependencies", timeout=10).json())
        callback = pool.submit(requests.post, f"{server.url}{DASH_CALLBACK}", data=body,
                               headers={"Content-Type": "application/json"}, timeout=30)
        try:
            assert held.wait(10)
            assert requests.get(f"{server.url}/api/stats", timeout=5).status_code == 200
            assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
            assert requests.get(f"{server.url}/", timeout=5).status_code == 200
            assert not callback.done()
        finally:
            release.set()
        assert callback.result().status_code == 200


def test_the_server_ignores_x_forwarded_for_without_trusted_proxies(make_app, live_server):
    server = live_server(make_app(stream_max_per_client=1, rate_limit="10000/minute"))
    first = Stream(server.url, headers={"X-Forwarded-For": "10.0.0.1"})
    try:
        second = Stream(server.url, headers={"X-Forwarded-For": "10.0.0.2"})
        assert second.response.status == 429
        second.close()
    finally:
        first.close()


def test_the_health_route_says_503_until_the_first_figures(make_app, monkeypatch):
    app = make_app()
    client = app.server.test_client()
    service = context_of(app).service
    with monkeypatch.context() as patch:
        patch.setattr(service, "current_if_ready", lambda: None)  # the database has not answered yet
        first = client.get("/healthz")
    assert first.status_code == 503 and first.get_json()["error"]["status"] == 503
    service.current()
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok", "stale": False}
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_stream_cap_never_exceeds_what_the_process_can_hold(make_app, monkeypatch, caplog):
    monkeypatch.setattr("aurora.web.serving.capacity.open_files_limit", lambda: 164)  # room for 50 streams
    caplog.set_level(logging.WARNING)
    assert context_of(make_app(stream_max_total=100)).streams.total == 50
    assert "AURORA_STREAMS_TOTAL=100 is more than this process can hold" in caplog.text
    assert context_of(make_app(stream_max_total=20)).streams.total == 20
    assert capacity.streams_for(1024) == 480


def test_many_requests_at_once_are_all_answered(make_app, live_server):
    server = live_server(make_app(app_threads=2, rate_limit="10000/minute"))
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{server.url}/api/stats", timeout=10).status_code, range(200)))
    assert statuses == [200] * 200


def test_the_systemd_unit_keeps_the_spool_where_its_user_can_write():
    # The README installs the project as root and runs the unit as user aurora: a spool relative to
    # the project folder could not be created, and a stop's unwritten records would be lost.
    lines = [line.strip() for line in open(Path(__file__).parents[2] / "deploy" / "aurora.service", encoding="utf-8")]
    settings = dict(line.split("=", 1) for line in lines if line and not line.startswith(("#", "[")))
    environment = dict(line.removeprefix("Environment=").split("=", 1) for line in lines
                       if line.startswith("Environment="))
    spool = environment.get("AURORA_SPOOL_DIR", "")
    assert settings.get("StateDirectory") and spool.startswith(f"/var/lib/{settings['StateDirectory']}/")


def test_nginx_compresses_the_pages_scripts_and_json_but_not_the_stream(make_app, behind_nginx):
    proxy = behind_nginx(make_app(trusted_proxy_hops=1))
    connection = proxy.http()
    try:
        connection.request("GET", "/")
        page = connection.getresponse().read().decode()
        script = next(part.split('"')[0] for part in page.split('<script src="')[1:] if "dash_renderer" in part)
        for path in (script, "/_dash-layout", "/_dash-dependencies"):
            connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
            response = connection.getresponse()
            compressed = response.read()
            assert response.status == 200 and response.getheader("Content-Encoding") == "gzip", path
            connection.request("GET", path)
            plain = connection.getresponse().read()
            assert gzip.decompress(compressed) == plain and len(compressed) < len(plain) / 2
    finally:
        connection.close()
    stream = proxy.http()
    try:
        stream.request("GET", "/api/stats/realtime", headers={"Accept-Encoding": "gzip"})
        response = stream.getresponse()
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        assert response.getheader("Content-Encoding") is None
    finally:
        stream.close()
