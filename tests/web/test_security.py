"""Security headers, optional access token, client addresses behind proxies, and a scan of
everything the app emits for private data."""

from __future__ import annotations

import base64
import logging
import re
from datetime import timedelta

import pytest

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.web.context import context_of
from tests.api.test_stream import Stream
from tests.support import NOW, case, command, insert_rows, transaction, user, with_fake_discord

pytestmark = pytest.mark.clock

ACCESS_TOKEN = "s3cret-access-token-0123456789"
SNOWFLAKE = re.compile(r"(?<!\d)\d{17,20}(?!\d)")


@pytest.mark.parametrize("path", ["/", "/api/stats", "/api/activity.csv", "/api/nope", "/_dash-layout", "/assets/aurora.css"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'sha256-" in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def basic(user_name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user_name}:{password}".encode()).decode()


@pytest.mark.parametrize("path", ["/", "/api/stats", "/api/activity.csv", "/api/stats/realtime", "/_dash-layout", "/assets/live.js"])
def test_access_token_guards_every_route(make_app, path):
    client = make_app(access_token=ACCESS_TOKEN).server.test_client()
    refused = client.get(path)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["status"] == 401
    assert refused.headers["WWW-Authenticate"].startswith('Basic realm="Aurora Dashboard"')
    for header in (basic("admin", "wrong-token-wrong-token"), "Bearer nope", "Bearer", "Basic !!!", "Digest abc"):
        assert client.get(path, headers={"Authorization": header}).status_code == 401
    # Past the token, the stream's view answers with its hand-off to the ASGI layer, which a WSGI test
    # client lacks (over real HTTP it streams: tests/api/test_stream.py, tests/api/test_fuzz.py).
    for header in (f"Bearer {ACCESS_TOKEN}", basic("anyone", ACCESS_TOKEN)):
        response = client.get(path, headers={"Authorization": header}, buffered=False)
        assert response.status_code == 200
        response.close()


def test_startup_says_whether_the_dashboard_is_public(make_app, caplog):
    caplog.set_level(logging.INFO)
    make_app()
    assert "AURORA_ACCESS_TOKEN is not set: the dashboard and its API are public" in caplog.text
    caplog.clear()
    make_app(access_token=ACCESS_TOKEN)
    assert "access control on" in caplog.text
    assert ACCESS_TOKEN not in caplog.text


def test_a_spoofed_forwarded_for_buys_no_new_bucket(make_app):
    client = make_app(rate_limit="2/minute").server.test_client()
    statuses = [
        client.get("/api/stats", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_with_one_trusted_proxy_the_forwarded_client_is_used(make_app):
    client = make_app(rate_limit="2/minute", trusted_proxy_hops=1).server.test_client()
    alice = {"X-Forwarded-For": "198.51.100.7"}
    bob = {"X-Forwarded-For": "198.51.100.8"}
    assert [client.get("/api/stats", headers=alice).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/stats", headers=bob).status_code == 200
    # Only the last hop counts: a client cannot prepend its way into another bucket.
    assert client.get("/api/stats", headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}).status_code == 429


SECRET_USER = 400_000_000_000_777_001
SECRET_TRANSACTION_ID = 987_654_321
SECRET_CASE_ID = 876_543_219
SECRET_NAME = "SecretUsername"
DISCORD_TOKEN = "discord-token-that-must-not-leak"


def assert_nothing_private(text: str, fake: SimulatedDiscord) -> None:
    for secret in (SECRET_NAME, "SecretReason", "SecretModerator", DISCORD_TOKEN,
                   str(SECRET_TRANSACTION_ID), str(SECRET_TRANSACTION_ID + 1), str(SECRET_CASE_ID)):
        assert secret not in text
    assert not SNOWFLAKE.search(text), SNOWFLAKE.search(text)
    for guild_id in fake.guild_ids:
        assert str(guild_id) not in text


@pytest.mark.browser
def test_no_payload_or_log_line_carries_private_data(make_app, live_server, engine, page, caplog):
    caplog.set_level(logging.DEBUG, logger="aurora")
    insert_rows(
        engine,
        user_rows=[{**user(NOW - timedelta(days=40), username=SECRET_NAME), "id": SECRET_USER}],
        transaction_rows=[
            {**command(NOW - timedelta(minutes=3), user_id=SECRET_USER), "id": SECRET_TRANSACTION_ID},
            {
                **transaction(NOW - timedelta(minutes=2), kind="TRANSFER_IN", description=f"from {SECRET_NAME}", user_id=SECRET_USER),
                "id": SECRET_TRANSACTION_ID + 1,
            },
        ],
        case_rows=[
            {
                **case(NOW - timedelta(minutes=1), username=SECRET_NAME, moderator_name="SecretModerator", reason="SecretReason"),
                "id": SECRET_CASE_ID,
                "user_id": SECRET_USER,
            }
        ],
    )
    with SimulatedDiscord(token=DISCORD_TOKEN, guilds=[3, 4]) as fake:
        app = make_app(**with_fake_discord(fake))
        client = app.server.test_client()
        SimulatedDiscord.wait_for(lambda: client.get("/api/stats").get_json()["guilds"]["count"] == 2)
        fake.send_interaction("ping", guild_id=fake.guild_ids[0], user_id=SECRET_USER)
        SimulatedDiscord.wait_for(lambda: context_of(app).bot.recorder.written == 1)
        server = live_server(app)

        payloads = [client.get("/api/stats").get_data(as_text=True), client.get("/api/activity.csv").get_data(as_text=True)]
        stream = Stream(server.url)
        payloads.append(str(stream.next_event()))
        stream.close()

        callback_bodies = []
        page.on(
            "response",
            lambda response: "_dash-update-component" in response.url and callback_bodies.append(response.text()),
        )
        with page.expect_response(lambda response: "_dash-update-component" in response.url):
            page.goto(server.url + "/")
        page.wait_for_selector("#kpi-servers-value:not(.loading)")
        layout = page.request.get(server.url + "/_dash-layout")
        payloads.append(layout.text())
        assert callback_bodies
        payloads.extend(callback_bodies)
        payloads.append(caplog.text)
        context_of(app).shutdown()

        for payload in payloads:
            assert_nothing_private(payload, fake)
