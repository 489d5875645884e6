"""The real discord.py client, run by the app, against the fake Discord on loopback."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.bot_runner import BotAlreadyRunning
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.storage.tables import COMMAND_RUN, transactions
from aurora.web.context import context_of
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW, insert_rows, iso_z, user, with_fake_discord

pytestmark = pytest.mark.clock

TOKEN = "aurora-test-token"
wait_for = SimulatedDiscord.wait_for


class RecordingCache(SnapshotCache):
    """Keeps every published status, to see transitions that last only milliseconds."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.statuses: list[str] = []

    def publish(self, snapshot) -> None:
        self.statuses.append(snapshot.status)
        super().publish(snapshot)


@pytest.fixture
def fake():
    with SimulatedDiscord(token=TOKEN, guilds=[5, 3, 4]) as fake:
        yield fake


@pytest.fixture
def bot_app(make_app, fake):
    """Apps whose bot talks to `fake`; stopped before the fake goes away."""
    apps = []

    def build(snapshots=None, token=TOKEN, bot_options=None, **overrides):
        settings = {**with_fake_discord(fake, **(bot_options or {})), "discord_token": token, **overrides}
        app = make_app(snapshots=snapshots, **settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        context_of(app).shutdown()


def stats_of(app):
    return app.server.test_client().get("/api/stats").get_json()


def wait_connected(app):
    wait_for(lambda: stats_of(app)["bot"]["status"] == "connected" and stats_of(app)["ping"]["avg"] is not None)
    return stats_of(app)


def command_rows(engine):
    with engine.connect() as conn:
        return conn.execute(
            select(transactions.c.description, transactions.c.user_id).where(transactions.c.type == COMMAND_RUN)
        ).all()


def test_guilds_users_and_ping_come_from_the_connected_bot(bot_app, fake, clock):
    app = bot_app()
    body = wait_connected(app)
    assert body["guilds"]["count"] == 3
    assert body["guilds"]["changeFromLastMonth"] is None  # no month-old sample in this process
    distinct_users = {uid for gid in fake.guild_ids for uid in fake.member_ids(gid)}
    assert body["bot"]["cachedUsers"] == len(distinct_users) == 10
    assert body["bot"]["commandsRegistered"] == 3
    assert body["bot"]["shards"][0]["status"] == "connected"
    # On loopback the ACK can beat discord.py's own send timestamp, so a sample reads up to one
    # heartbeat interval, and on a busy machine a late heartbeat adds to it; what matters here is
    # a finite number in range, never NaN/Infinity.
    assert 0 <= body["ping"]["avg"] <= 3 * fake.heartbeat_interval_ms
    assert body["ping"]["changeFromLastHour"] is None
    assert body["bot"]["uptimeSeconds"] == 0  # the test clock does not move
    assert ("PUT", f"/api/v10/applications/{fake.application_id}/commands") in fake.requests


def test_socket_drop_resumes_and_keeps_the_numbers(bot_app, fake, clock):
    cache = RecordingCache(clock)
    app = bot_app(snapshots=cache)
    wait_connected(app)
    cache.statuses.clear()
    fake.drop_connections(4000)
    wait_for(lambda: fake.resume_count >= 1)
    wait_for(lambda: stats_of(app)["bot"]["status"] == "connected" and "reconnecting" in cache.statuses)
    assert cache.statuses.index("reconnecting") < len(cache.statuses) - 1
    assert cache.statuses[-1] == "connected"
    assert stats_of(app)["guilds"]["count"] == 3
    fake.abort_connections()
    wait_for(lambda: fake.resume_count >= 2)
    wait_for(lambda: stats_of(app)["bot"]["status"] == "connected")
    assert stats_of(app)["guilds"]["count"] == 3


def test_guild_join_and_leave_move_the_count(bot_app, fake):
    app = bot_app(bot_options={"tick_seconds": 3600})  # only join/leave events themselves may publish
    wait_for(lambda: stats_of(app)["guilds"]["count"] == 3)
    new_guild = fake.add_guild(members=6)
    wait_for(lambda: stats_of(app)["guilds"]["count"] == 4)
    fake.remove_guild(new_guild)
    fake.remove_guild(fake.guild_ids[0])
    wait_for(lambda: stats_of(app)["guilds"]["count"] == 2)


def test_slash_commands_in_a_guild_and_a_dm_are_recorded(bot_app, fake, engine, clock):
    registered = 500_000_000_000_000_001
    insert_rows(engine, user_rows=[{**user(clock() - timedelta(days=3)), "id": registered}])
    app = bot_app()
    wait_connected(app)
    assert stats_of(app)["commands"]["total"] == 0

    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    fake.send_interaction("ping", guild_id=None, user_id=registered)
    wait_for(lambda: len(command_rows(engine)) == 2)
    assert sorted(command_rows(engine), key=lambda row: row[1] or 0) == [("ping", None), ("ping", registered)]
    assert [r["body"]["type"] for r in fake.interaction_responses] == [4, 4]
    assert fake.interaction_responses[0]["body"]["data"]["content"].startswith("Pong!")

    clock.advance(seconds=31)
    stats_of(app)  # due: refresh behind this request
    wait_for(lambda: stats_of(app)["commands"]["total"] == 2)
    body = stats_of(app)
    assert body["commands"]["top"] == [{"name": "ping", "count": 2}]
    # lastCommandAt travels with the next snapshot tick.
    wait_for(lambda: stats_of(app)["bot"]["lastCommandAt"] == iso_z(NOW))


def test_stats_and_balance_commands_answer_from_aurora(bot_app, fake, engine, clock):
    registered = 500_000_000_000_000_002
    insert_rows(engine, user_rows=[{**user(clock() - timedelta(days=40)), "id": registered, "balance": 4321}])
    app = bot_app()
    wait_connected(app)
    fake.send_interaction("balance", guild_id=fake.guild_ids[1], user_id=registered)
    fake.send_interaction("stats", guild_id=fake.guild_ids[1])
    wait_for(lambda: len(fake.interaction_responses) == 2 and len(fake.followups) >= 1)
    balance = next(r for r in fake.interaction_responses if r["body"]["type"] == 4)
    assert balance["body"]["data"]["content"] == "Your balance: 4,321 coins"
    text = fake.followups[0]["body"]["content"]
    assert "Servers: 3" in text and "Active users: 1" in text


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_records_wait_out_a_database_outage(bot_app, fake, engine, settings):
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host, url.port)
    try:
        app = bot_app(database_url=url.set(port=proxy.port).render_as_string(hide_password=False))
        wait_connected(app)
        recorder = context_of(app).bot.recorder
        proxy.cut()
        for _ in range(5):
            fake.send_interaction("ping", guild_id=fake.guild_ids[0])
        wait_for(lambda: len(fake.interaction_responses) == 5)
        wait_for(lambda: recorder.pending == 5)
        assert command_rows(engine) == []  # read directly, around the proxy
        proxy.restore()
        wait_for(lambda: len(command_rows(engine)) == 5, timeout=15)
        # A batch leaves the queue just after its commit, so the rows can be seen a moment earlier.
        wait_for(lambda: recorder.pending == 0)
        assert recorder.dropped == 0 and len(command_rows(engine)) == 5
    finally:
        proxy.close()


def test_a_bad_token_shows_offline_and_the_dashboard_keeps_serving(bot_app, fake, caplog):
    caplog.set_level(logging.ERROR, logger="aurora.bot_runner")
    app = bot_app(token="not-the-right-token")
    wait_for(lambda: stats_of(app)["bot"]["status"] == "disconnected")
    body = stats_of(app)
    assert body["guilds"]["count"] is None and body["ping"]["avg"] is None
    assert "Discord rejected DISCORD_TOKEN" in caplog.text
    assert "not-the-right-token" not in caplog.text
    assert app.server.test_client().get("/").status_code == 200


def test_shutdown_is_clean_and_quick(bot_app, fake):
    app = bot_app()
    wait_connected(app)
    runner = context_of(app).bot
    runner.stop(timeout=5)  # joins for at most 5 s: a hang leaves the thread running
    assert not runner.running
    wait_for(lambda: fake.connection_count == 0, timeout=2)  # the gateway socket was closed


def test_two_shards_report_their_own_latency(make_app):
    with SimulatedDiscord(token=TOKEN, guilds=4, members=3, shards=2) as fake:
        app = make_app(discord_shard_count=2, **with_fake_discord(fake))
        wait_for(
            lambda: [s["status"] for s in stats_of(app)["bot"]["shards"]] == ["connected", "connected"]
            and all(s["latency"] is not None for s in stats_of(app)["bot"]["shards"])
        )
        body = stats_of(app)
        assert [shard["id"] for shard in body["bot"]["shards"]] == [0, 1]
        assert body["guilds"]["count"] == 4
        assert fake.identify_count == 2
        context_of(app).shutdown()


def test_a_second_bot_for_the_same_token_in_one_process_is_refused(bot_app, fake):
    app = bot_app()
    wait_connected(app)
    with pytest.raises(BotAlreadyRunning, match="duplicate gateway connection"):
        bot_app()
    assert fake.identify_count == 1
