"""The serving model over real sockets: the body limit, the request deadlines, slow clients that hold
no thread, the stream hand-off and its slot, connection caps and shutdown (aurora.serving.asgi,
aurora.serving.http_protocol, aurora.serving.worker, aurora.serving.capacity)."""

from __future__ import annotations

import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import flask
import pytest
import requests
from a2wsgi.wsgi import Body, build_environ

from aurora.context import context_of
from aurora.serving import asgi, capacity, http_protocol
from aurora.serving import worker as serving
from aurora.simulation.server import SimulatedDiscord
from tests.conftest import LiveServer
from tests.support import Stream

wait_for = SimulatedDiscord.wait_for
DASH_CALLBACK = "/_dash-update-component"


@pytest.fixture
def database_url(sqlite_url):
    """Serving does not depend on the database behind the app."""
    return sqlite_url


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one answer (read until the server closes)."""
    data = b""
    try:
        while chunk := connection.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def post_head(length: int | None, *, chunked: bool = False) -> bytes:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % length
    return b"POST " + DASH_CALLBACK.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing + b"\r\n"


def api_stats_within(server: LiveServer, seconds: float) -> None:
    started = time.monotonic()
    answer = requests.get(f"{server.url}/api/stats", timeout=seconds)
    assert answer.status_code == 200
    assert time.monotonic() - started < seconds


def test_a_body_declared_too_big_is_refused_before_it_is_sent(make_app, live_server):
    server = live_server(make_app(max_body_bytes=1024))
    with connect(server) as connection:
        connection.sendall(post_head(100 * 1024 * 1024))  # 100 MB announced, not one byte sent
        status, headers, body = read_answer(connection)
    assert status == 413
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert json.loads(body)["error"] == {
        "status": 413, "message": "the request body (104857600 bytes) is over the limit of 1024 bytes",
    }


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(make_app, live_server):
    server = live_server(make_app(max_body_bytes=1024))
    with connect(server) as connection:
        connection.sendall(post_head(None, chunked=True))
        connection.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")  # exactly the limit: still fine
        connection.sendall(b"1\r\nx\r\n")  # one byte more; the body never ends
        status, _, body = read_answer(connection)
    assert status == 413
    assert json.loads(body)["error"]["message"] == "the request body is over the limit of 1024 bytes"


def test_a_body_within_the_limit_reaches_dash(make_app, live_server):
    server = live_server(make_app(max_body_bytes=1024))
    answer = requests.post(f"{server.url}{DASH_CALLBACK}", data=b"{" + b" " * 900 + b"}", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code != 413  # Dash's own answer to a callback it does not know


def test_a_body_that_stalls_gets_a_408(make_app, live_server, monkeypatch):
    monkeypatch.setattr(asgi, "BODY_SECONDS", 0.5)
    server = live_server(make_app())
    with connect(server) as connection:
        connection.sendall(post_head(100) + b"{")
        status, _, body = read_answer(connection)
    assert status == 408
    assert json.loads(body)["error"]["status"] == 408


def test_slow_bodies_and_slow_heads_hold_no_app_thread(make_app, live_server):
    # One thread for the app: any slow client holding it would stall the request below.
    server = live_server(make_app(app_threads=1, rate_limit="10000/minute"))
    slow = [connect(server) for _ in range(10)]
    try:
        for index, connection in enumerate(slow):
            connection.sendall(post_head(1000) + b"{" if index % 2 else b"GET /api/stats HTTP/1.1\r\nHost:")
        time.sleep(0.3)
        for _ in range(5):
            api_stats_within(server, 2)
    finally:
        for connection in slow:
            connection.close()


def test_a_client_that_does_not_read_holds_no_app_thread_and_is_cut_off(make_app, live_server, monkeypatch):
    monkeypatch.setattr(http_protocol, "WRITE_STALL_SECONDS", 0.5)
    server = live_server(make_app(app_threads=1, rate_limit="10000/minute"))
    connections = server.uvicorn.server_state.connections
    with socket.socket() as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", server.port))
        # Plotly's bundle, a few MB, asked for and never read.
        reader.sendall(b"GET /_dash-component-suites/plotly/package_data/plotly.min.js HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        api_stats_within(server, 2)
        wait_for(lambda: len(connections) == 0, timeout=10)  # the stalled download was dropped


def test_a_request_head_must_arrive_in_time(make_app, live_server, monkeypatch):
    monkeypatch.setattr(http_protocol, "REQUEST_HEAD_SECONDS", 0.5)
    server = live_server(make_app())
    with connect(server) as trickle, connect(server) as idle:
        trickle.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n")
        for _ in range(4):  # a byte every 0.2 s would keep uvicorn's own keep-alive timer from ever firing
            time.sleep(0.2)
            trickle.sendall(b"X")
        status, _, body = read_answer(trickle)
        assert status == 408
        assert json.loads(body)["error"]["message"] == "the request head did not arrive within 0.5 s"
        assert idle.recv(100) == b""  # said nothing: closed without an answer


def test_an_idle_keep_alive_connection_is_closed(make_app, live_server, monkeypatch):
    monkeypatch.setattr(serving, "KEEP_ALIVE_SECONDS", 1)
    server = live_server(make_app(rate_limit="10000/minute"))
    with connect(server) as connection:
        connection.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        while connection.recv(65536):
            pass
        assert time.monotonic() - started < 5


def test_a_long_stream_is_not_cut_by_the_head_deadline(make_app, live_server, monkeypatch):
    monkeypatch.setattr(http_protocol, "REQUEST_HEAD_SECONDS", 0.3)
    server = live_server(make_app(stream_heartbeat_seconds=0.2, rate_limit="10000/minute"))
    stream = Stream(server.url)
    try:
        stream.next_event()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            stream.next_block()
    finally:
        stream.close()


def test_a_closed_stream_frees_its_slot_at_once(make_app, live_server):
    # Heartbeats an hour apart: only the disconnect itself can free the slot in time.
    app = make_app(stream_heartbeat_seconds=3600, rate_limit="10000/minute")
    server = live_server(app)
    slots = context_of(app).streams
    stream = Stream(server.url)
    stream.next_event()
    assert slots.open_streams == 1
    stream.close()
    wait_for(lambda: slots.open_streams == 0, timeout=1)


def test_a_head_request_for_the_stream_gets_its_headers_and_its_slot_back(make_app, live_server):
    app = make_app(rate_limit="10000/minute")
    server = live_server(app)
    answer = requests.head(f"{server.url}/api/stats/realtime", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    assert "Content-Length" not in answer.headers and answer.content == b""
    assert answer.headers["Content-Security-Policy"]  # the view's headers, security headers included
    wait_for(lambda: context_of(app).streams.open_streams == 0, timeout=2)


def test_the_stream_hand_off_rides_in_the_environ_a2wsgi_builds():
    # aurora.api.stream.hand_off relies on it: pin the adapter's behaviour.
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": [], "http_version": "1.1"}
    assert build_environ(scope, Body(None, None))["asgi.scope"] is scope


def test_the_server_ignores_x_forwarded_for(make_app, live_server):
    # Without AURORA_TRUSTED_PROXY_HOPS every client is its socket address, whatever it claims.
    server = live_server(make_app(stream_max_per_client=1, rate_limit="10000/minute"))
    first = Stream(server.url, headers={"X-Forwarded-For": "10.0.0.1"})
    try:
        second = Stream(server.url, headers={"X-Forwarded-For": "10.0.0.2"})
        assert second.response.status == 429
        second.close()
    finally:
        first.close()


def test_streams_at_shutdown_are_closed_at_once(make_app):
    server = LiveServer(make_app(rate_limit="10000/minute")).__enter__()
    streams = [Stream(server.url) for _ in range(3)]
    for stream in streams:
        stream.next_event()
    started = time.monotonic()
    server.__exit__(None, None, None)
    assert time.monotonic() - started < 3
    for stream in streams:
        with pytest.raises((EOFError, OSError)):
            while True:
                stream.next_block()
        stream.close()


def test_connections_past_the_cap_get_a_503(make_app, monkeypatch):
    small = capacity.capacity_for(capacity.RESERVED_FILES + capacity.MIN_CONNECTIONS)
    monkeypatch.setattr(serving, "raise_open_files_limit", lambda: small)
    server = LiveServer(make_app(rate_limit="10000/minute")).__enter__()
    held = [connect(server) for _ in range(small.connections)]
    try:
        wait_for(lambda: len(server.uvicorn.server_state.connections) == small.connections, timeout=5)
        with connect(server) as extra:
            extra.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = read_answer(extra)
        assert status == 503
    finally:
        for connection in held:
            connection.close()
        server.__exit__(None, None, None)


def test_capacity_follows_the_open_files_limit():
    assert capacity.capacity_for(1024) == capacity.Capacity(open_files=1024, connections=960, streams=480)
    assert capacity.capacity_for(10).connections == capacity.MIN_CONNECTIONS


def test_the_stream_cap_never_exceeds_what_the_process_can_hold(make_app, monkeypatch, caplog):
    monkeypatch.setattr("aurora.serving.capacity.current_capacity", lambda: capacity.capacity_for(164))  # 100 connections, 50 streams
    caplog.set_level(logging.WARNING)
    app = make_app(stream_max_total=100)
    assert context_of(app).streams.total == 50
    assert "AURORA_STREAMS_TOTAL=100 is more than this process can hold" in caplog.text
    assert context_of(make_app(stream_max_total=20)).streams.total == 20


def test_many_requests_at_once_are_all_answered(make_app, live_server):
    server = live_server(make_app(app_threads=2, rate_limit="10000/minute"))
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{server.url}/api/stats", timeout=10).status_code, range(200)))
    assert statuses == [200] * 200


def test_a_stream_whose_answer_turned_into_an_error_sends_the_error_and_frees_its_slot(make_app, live_server):
    app = make_app(rate_limit="10000/minute")

    @app.server.after_request
    def break_the_stream(response):  # a later step failing after the view handed the stream over
        if flask.request.path == "/api/stats/realtime":
            raise RuntimeError("broken after the view")
        return response

    server = live_server(app)
    answer = requests.get(f"{server.url}/api/stats/realtime", timeout=5)
    assert answer.status_code == 500
    assert answer.json()["error"]["status"] == 500
    wait_for(lambda: context_of(app).streams.open_streams == 0, timeout=2)
