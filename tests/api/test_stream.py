"""/api/stats/realtime over a real socket: events, ids, heartbeats, limits, lifetime, cleanup."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from aurora.api.stream import STREAM_RETRY_SECONDS, event_id
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.web.context import context_of
from tests.support import NOW, Stream, command, insert_rows

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for


@pytest.fixture
def streaming_app(make_app):
    def build(**overrides):
        options = {"rate_limit": "10000/minute", "stream_heartbeat_seconds": 0.3, **overrides}
        return make_app(**options)

    return build


def test_stream_sends_the_stats_at_once_with_retry_and_id(streaming_app, live_server, engine):
    insert_rows(engine, transaction_rows=[command(NOW)])
    server = live_server(streaming_app())
    stream = Stream(server.url)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type").startswith("text/event-stream")
        assert stream.response.getheader("Cache-Control") == "no-cache"
        assert stream.next_block() == ["retry: 5000"]
        event = stream.next_event()
        api = server.app.server.test_client().get("/api/stats")
        assert event["event"] == "stats"
        assert event["data"] == api.get_json()
        assert event["id"] == event_id(api.get_data())
        assert event["data"]["commands"]["total"] == 1
        assert stream.next_block() == [": heartbeat"]
    finally:
        stream.close()


def test_a_reconnect_with_the_current_id_gets_no_repeat(streaming_app, live_server):
    server = live_server(streaming_app())
    first = Stream(server.url)
    current_id = first.next_event()["id"]
    first.close()
    again = Stream(server.url, headers={"Last-Event-ID": current_id})
    try:
        assert again.next_block() == ["retry: 5000"]
        assert again.next_block() == [": heartbeat"]  # nothing new to send
    finally:
        again.close()


def test_a_change_is_pushed_after_the_next_refresh(streaming_app, live_server, engine, clock):
    server = live_server(streaming_app(refresh_seconds=1))
    stream = Stream(server.url)
    try:
        assert stream.next_event()["data"]["commands"]["total"] == 0
        insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
        clock.advance(seconds=2)
        server.app.server.test_client().get("/api/stats")  # due: refresh behind this request
        while (event := stream.next_event())["data"]["commands"]["total"] != 1:
            pass
        assert event["data"]["commands"]["total"] == 1
    finally:
        stream.close()


def test_streams_are_limited_per_client_and_freed_on_disconnect(streaming_app, live_server):
    app = streaming_app(stream_max_per_client=2)
    server = live_server(app)
    slots = context_of(app).streams
    streams = [Stream(server.url), Stream(server.url)]
    for stream in streams:
        stream.next_event()
    refused = Stream(server.url)
    assert refused.response.status == 429
    error = json.loads(refused.response.read())["error"]
    assert error["status"] == 429
    # The message and the header give the same retry time, whatever the rate limit's window.
    assert refused.response.getheader("Retry-After") == str(STREAM_RETRY_SECONDS)
    assert error["message"] == f"at most 2 live streams per client; retry after {STREAM_RETRY_SECONDS} s"
    refused.close()
    streams[0].close()
    wait_for(lambda: slots.open_streams == 1, timeout=5)  # noticed at the next heartbeat write
    replacement = Stream(server.url)
    assert replacement.response.status == 200
    replacement.close()
    streams[1].close()
    wait_for(lambda: slots.open_streams == 0, timeout=5)


def test_streams_are_limited_in_total(streaming_app, live_server):
    server = live_server(streaming_app(stream_max_total=1))
    first = Stream(server.url)
    first.next_event()
    second = Stream(server.url)
    assert second.response.status == 429
    assert "maximum of 1 live streams" in json.loads(second.response.read())["error"]["message"]
    second.close()
    first.close()


def test_a_stream_ends_after_its_lifetime(streaming_app, live_server):
    app = streaming_app(stream_max_seconds=1)
    server = live_server(app)
    # The figures first, so the stream's one second is not spent waiting for them on a busy machine.
    assert app.server.test_client().get("/api/stats").status_code == 200
    stream = Stream(server.url)
    stream.next_event()
    with pytest.raises(EOFError):
        while True:
            stream.next_block()
    stream.close()
    wait_for(lambda: context_of(app).streams.open_streams == 0, timeout=5)


@pytest.mark.parametrize("path", ["/api/stats/realtime?x=1", "/api/stats/realtime?retry=1"])
def test_stream_rejects_query_parameters(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == 400


def test_stream_rejects_other_methods(client):
    response = client.post("/api/stats/realtime")
    assert response.status_code == 405
    assert response.get_json()["error"]["status"] == 405


def test_stream_counts_against_the_rate_limit(make_app):
    client = make_app(rate_limit="2/minute").server.test_client()
    assert client.get("/api/stats").status_code == 200
    assert client.get("/api/stats").status_code == 200
    assert client.get("/api/stats/realtime").status_code == 429
