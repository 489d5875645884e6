"""Alerts end to end: the real discord.py client against the fake Discord drops and comes back, a
PostgreSQL behind a cut proxy goes stale and recovers, two web processes share Redis. The
thresholds pass on the injected clock (checks are asked for at once: no sleeping through them);
what reaches the fake webhook, /api/stats, /metrics and the log is what is asserted."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.engine import make_url

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.scaleout.snapshots import RedisSnapshotStore
from aurora.web.context import context_of
from tests.fakes.discord_webhook import WEBHOOK_TOKEN, FakeWebhook
from tests.fakes.tcp_proxy import TcpProxy
from tests.openapi_check import stats_validator
from tests.support import connected_snapshot, iso_z, with_fake_discord
from tests.web.test_metrics import scrape

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for


@pytest.fixture
def webhook(clock):
    with FakeWebhook(clock=clock) as fake:
        yield fake


def settle_and_check(app) -> None:
    """Let a refresh under way finish, then evaluate the alerts as of the clock, and deliver."""
    context = context_of(app)
    context.service.wait_idle()
    context.service.current_if_ready()  # starts a refresh if one is due, as a request would
    context.service.wait_idle()
    context.alerts.check()
    assert context.alerts.sender.drain(timeout=10)


def alerts_of(app) -> list[dict]:
    return app.server.test_client().get("/api/stats").get_json()["alerts"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_dropped_bot_alerts_once_after_the_threshold_and_once_on_recovery(make_app, clock, webhook, caplog):
    caplog.set_level(logging.DEBUG)
    with SimulatedDiscord(token="alert-bot-token-xyz", guilds=[3]) as fake:
        app = make_app(
            **with_fake_discord(fake), alert_webhook_url=webhook.url, public_url="https://aurora.example"
        )
        client = app.server.test_client()
        wait_for(lambda: client.get("/api/stats").get_json()["bot"]["status"] == "connected")
        settle_and_check(app)
        assert alerts_of(app) == [] and webhook.posts == []

        fake.refuse_gateway = True
        fake.drop_connections(4000)
        wait_for(lambda: client.get("/api/stats").get_json()["bot"]["status"] == "reconnecting")
        dropped_at = clock()
        settle_and_check(app)
        clock.advance(minutes=4, seconds=59)
        settle_and_check(app)
        assert webhook.posts == []  # not before the threshold
        clock.advance(seconds=1)
        settle_and_check(app)
        settle_and_check(app)
        assert webhook.titles() == ["Bot offline"]
        started = webhook.posts[0].body["embeds"][0]
        assert (
            started["description"] == "The bot is reconnecting."
            and started["url"] == "https://aurora.example"
        )
        assert alerts_of(app) == [
            {"condition": "bot_offline", "since": iso_z(dropped_at), "resolvedAt": None}
        ]
        metrics = scrape(client)
        assert metrics[("aurora_alert_active", (("condition", "bot_offline"),))] == 1
        assert metrics[("aurora_alert_active", (("condition", "data_stale"),))] == 0
        stats_validator().validate(client.get("/api/stats").get_json())  # the document knows `alerts`
        assert context_of(app).service.current().alerts[0].condition == "bot_offline"

        fake.refuse_gateway = False
        wait_for(lambda: client.get("/api/stats").get_json()["bot"]["status"] == "connected", timeout=15)
        clock.advance(minutes=9)
        settle_and_check(app)
        settle_and_check(app)
        assert webhook.titles() == ["Bot offline", "Resolved: Bot offline"]
        assert webhook.posts[1].body["embeds"][0]["description"] == "Resolved after 14 min."
        assert alerts_of(app)[0]["resolvedAt"] == iso_z(clock())
        assert scrape(client)[("aurora_alert_active", (("condition", "bot_offline"),))] == 0

        # Nothing secret or personal in what was sent or logged.
        sent = b"".join(post.raw for post in webhook.posts).decode()
        # Aurora's own log lines (discord.py's DEBUG lines print gateway payloads by design).
        logged = "\n".join(
            record.getMessage() for record in caplog.records if record.name.startswith("aurora")
        )
        assert "alert started: bot_offline" in logged
        secrets = [fake.token, WEBHOOK_TOKEN, webhook.url, *map(str, fake.guild_ids)]
        secrets += [str(member) for guild in fake.guild_ids for member in fake.member_ids(guild)]
        for secret in secrets:
            assert secret not in sent and secret not in logged
        context_of(app).shutdown()  # while the fake Discord is up: the bot closes cleanly


@pytest.mark.postgres
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_stale_database_alerts_after_its_threshold_and_recovers(make_app, settings, clock, webhook):
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        app = make_app(
            database_url=url.set(port=proxy.port).render_as_string(hide_password=False),
            alert_webhook_url=webhook.url,
        )
        assert app.server.test_client().get("/api/stats").get_json()["stale"] is False
        settle_and_check(app)
        proxy.cut()
        clock.advance(seconds=31)  # the next refresh is due, and fails
        settle_and_check(app)
        assert alerts_of(app) == [] and webhook.posts == []
        clock.advance(minutes=10)
        settle_and_check(app)
        settle_and_check(app)
        assert webhook.titles() == ["Database figures stale"]
        assert webhook.posts[0].body["embeds"][0]["description"].startswith("Database figures delayed since ")
        proxy.restore()
        clock.advance(minutes=3)  # past the longest back-off: the next refresh succeeds
        settle_and_check(app)
        settle_and_check(app)
        assert webhook.titles() == ["Database figures stale", "Resolved: Database figures stale"]
        assert alerts_of(app)[0]["resolvedAt"] is not None
    finally:
        proxy.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_web_processes_send_one_message_and_a_survivor_sends_the_recovery(
    make_app, web_role, redis_client, clock, webhook
):
    first = make_app(**web_role, alert_webhook_url=webhook.url)
    second = make_app(**web_role, alert_webhook_url=webhook.url)
    for app in (first, second):  # no bot process: its snapshot is absent, the bot shows offline
        settle_and_check(app)
    sender, other = sorted((first, second), key=lambda app: not context_of(app).alerts.sending)
    assert context_of(sender).alerts.sending and not context_of(other).alerts.sending
    clock.advance(minutes=6)
    assert context_of(other).alerts.check() == []  # past the threshold, but not the sender
    for _ in range(2):
        for app in (other, sender):
            settle_and_check(app)
    assert webhook.titles() == ["Bot offline"]
    assert alerts_of(first) == alerts_of(second) != []

    RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock).publish(
        connected_snapshot(shards=())
    )
    context_of(sender).shutdown()  # the sender goes away; the other takes over from the state in Redis
    clock.advance(minutes=1)
    settle_and_check(other)
    settle_and_check(other)
    assert context_of(other).alerts.sending
    assert webhook.titles() == ["Bot offline", "Resolved: Bot offline"]
    assert alerts_of(other)[0]["resolvedAt"] is not None
