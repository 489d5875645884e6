"""The demo's simulated Discord (aurora.demo.simulation): the real bot logs in to it, its director's
commands reach the page through the real recorder, it starts only beside demo data without a token,
and it stops with the app."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from aurora import create_app
from aurora.demo.rhythm import commands_per_hour
from aurora.demo.simulation.demo_bot import SERVER_THREAD, runs_simulated_discord
from aurora.demo.simulation.director import Director, Rhythm
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.queries.reference import compute_database_stats
from aurora.settings import Settings, SettingsError, settings_from_mapping
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import COMMAND_RUN, init_db, transactions
from aurora.web.context import context_of
from tests.fakes.discord_webhook import FakeWebhook
from tests.support import FAST_BOT_OPTIONS, NOW, FrozenClock, insert_rows, user

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for
SMALL = Rhythm(guilds=6, members=(3, 8))
# The test ticks the director itself: its own thread would only look again in an hour.
SIMULATION_OPTIONS = {"seed": 7, "rhythm": SMALL, "poll_seconds": 3600}
BOT_COMMANDS = {"ping", "stats", "balance"}  # aurora/bot/cogs/slash_commands.py


@pytest.fixture
def demo_settings(sqlite_url) -> Settings:
    """The embedded default with demo data, as `dev.py run` has it (figures refreshed every second
    of the test clock, no rate limit for polling)."""
    return Settings(database_url=sqlite_url, database_is_default=True, demo=True, refresh_seconds=1, rate_limit=None)


@pytest.fixture
def build_app(clock):
    apps = []

    def build(settings: Settings):
        app = create_app(settings, clock=clock, bot_options=FAST_BOT_OPTIONS, simulation_options=SIMULATION_OPTIONS)
        apps.append(app)
        return app

    yield build
    for app in apps:
        context_of(app).shutdown()


def stats_of(client) -> dict:
    response = client.get("/api/stats")
    return response.get_json() if response.status_code == 200 else {}


def simulation_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(SERVER_THREAD)]


def test_the_demo_bot_lives_in_the_simulated_discord_and_its_commands_reach_the_figures(
    build_app, demo_settings, clock
):
    app = build_app(demo_settings)
    context, client = context_of(app), app.server.test_client()
    simulation = context.simulation
    body = wait_for(lambda: (b := stats_of(client)) and b["bot"]["status"] == "connected" and b["ping"]["avg"] and b,
                    timeout=15)
    assert body["guilds"]["count"] == SMALL.guilds
    assert body["ping"]["avg"] >= SMALL.latency_ms[0]  # the ACK comes no sooner than its delay
    assert (body["demo"], body["bot"]["simulated"]) == (True, True)
    assert "aurora_bot_simulated 1.0" in client.get("/metrics").get_data(as_text=True).splitlines()
    # The bot registered its own commands with the simulated Discord, and only those are sent.
    assert set(simulation.discord.synced_commands) == BOT_COMMANDS

    clock.advance(minutes=2)
    sent = simulation.director.tick()
    assert sent > 0 and sum(simulation.director.commands_sent.values()) == sent
    assert set(simulation.director.commands_sent) <= BOT_COMMANDS
    wait_for(lambda: context.bot.recorder.written == sent)
    with context.engine.connect() as conn:
        recorded = dict(conn.execute(
            select(transactions.c.description, func.count())
            .where(transactions.c.type == COMMAND_RUN, transactions.c.created_at == clock())
            .group_by(transactions.c.description)
        ).all())
    assert recorded == dict(simulation.director.commands_sent)

    clock.advance(seconds=1)
    # The bot's snapshots move generatedAt too: wait for the database figures as of now.
    wait_for(lambda: context.service.database_stats().computed_at == clock())
    after = stats_of(client)
    reference = compute_database_stats(context.engine, clock())
    # The demo's rhythm sends about as many a minute as leave the 24-hour window: no growth to check.
    assert after["commands"]["total"] == reference.commands_24h
    assert after["commands"]["top"] == [{"name": c.name, "count": c.count} for c in reference.top_commands]
    current_hour = after["activityOverview"][-1]
    assert current_hour["commands"] == reference.activity[-1].commands >= sent

    port = simulation.discord.port
    context.shutdown()
    assert simulation_threads() == [] and not context.bot.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_create_app_that_fails_late_stops_the_simulation_bot_and_alerts(demo_settings, clock, monkeypatch):
    import aurora.demo.simulation.demo_bot
    import aurora.web.install

    started = []
    start_simulation = aurora.demo.simulation.demo_bot.start_simulation
    monkeypatch.setattr(aurora.demo.simulation.demo_bot, "start_simulation",
                        lambda *args, **kwargs: started.append(start_simulation(*args, **kwargs)) or started[-1])

    def failing(_server, _service):
        raise RuntimeError("metrics could not be installed")

    monkeypatch.setattr(aurora.web.install, "install_metrics", failing)  # a step after everything started
    with FakeWebhook() as webhook:
        before = set(threading.enumerate())
        with pytest.raises(RuntimeError, match="metrics could not be installed"):
            create_app(demo_settings.with_overrides(alert_webhook_url=webhook.url), clock=clock,
                       bot_options=FAST_BOT_OPTIONS, simulation_options=SIMULATION_OPTIONS)
        left = sorted(thread.name for thread in set(threading.enumerate()) - before if thread.is_alive())
    (simulation,) = started
    assert left == [] and not simulation.discord.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", simulation.discord.port)) != 0


def test_a_simulated_discord_that_cannot_serve_leaves_no_thread(monkeypatch):
    from aiohttp import web

    async def no_port(_site):
        raise OSError("no free port")

    monkeypatch.setattr(web.TCPSite, "start", no_port)
    discord = SimulatedDiscord(thread_name=f"{SERVER_THREAD}-test")
    with pytest.raises(OSError, match="no free port"):
        discord.start()
    assert simulation_threads() == [] and not discord.running


def test_no_simulation_beside_real_rows_or_when_turned_off(build_app, demo_settings, tmp_path):
    off = build_app(demo_settings.with_overrides(simulated_discord=False))
    assert context_of(off).simulation is None and context_of(off).bot is None
    body = stats_of(off.server.test_client())
    assert (body["demo"], body["bot"]["simulated"], body["bot"]["status"]) == (True, False, "disabled")

    real_url = f"sqlite:///{tmp_path / 'real.db'}"
    engine = create_db_engine(real_url)
    init_db(engine)
    insert_rows(engine, user_rows=[user(NOW - timedelta(days=1))])
    engine.dispose()
    real = build_app(demo_settings.with_overrides(database_url=real_url))
    assert context_of(real).simulation is None
    body = stats_of(real.server.test_client())
    assert (body["demo"], body["bot"]["simulated"]) == (False, False)
    assert simulation_threads() == []


def test_the_simulation_runs_only_for_demo_data_without_a_token():
    allowed = Settings(demo=True)
    assert runs_simulated_discord(allowed, demo=True)
    assert not runs_simulated_discord(allowed, demo=False)  # real rows: no demo data shown
    assert not runs_simulated_discord(allowed.with_overrides(discord_token="a-real-token"), demo=True)
    assert not runs_simulated_discord(allowed.with_overrides(simulated_discord=False), demo=True)
    assert not runs_simulated_discord(allowed.with_overrides(role="web"), demo=True)


def test_the_setting_is_read_from_aurora_simulated_discord():
    assert settings_from_mapping({}).simulated_discord is True
    assert settings_from_mapping({"AURORA_SIMULATED_DISCORD": "false"}).simulated_discord is False
    with pytest.raises(SettingsError, match="^AURORA_SIMULATED_DISCORD='maybe' is not a boolean"):
        settings_from_mapping({"AURORA_SIMULATED_DISCORD": "maybe"})


def register_commands(discord: SimulatedDiscord, names) -> None:
    """What the bot's command sync does: PUT the global commands."""
    request = urllib.request.Request(
        f"{discord.api_base}/applications/{discord.application_id}/commands", method="PUT",
        data=json.dumps([{"name": name, "description": name, "type": 1} for name in names]).encode(),
        headers={"Authorization": f"Bot {discord.token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def run_director(start_hour: int, seed: int, minutes: int = 60) -> tuple[Director, list[int]]:
    """An hour of a director's ticks from `start_hour` (UTC) over a fresh simulated Discord without
    a bot; the director and the guild ids it left."""
    clock = FrozenClock(NOW.replace(hour=start_hour, minute=0))
    with SimulatedDiscord(guilds=[4] * SMALL.guilds, thread_name=f"{SERVER_THREAD}-test") as discord:
        register_commands(discord, sorted(BOT_COMMANDS))
        director = Director(discord, clock, rhythm=SMALL, seed=seed)
        for _ in range(minutes):
            director.tick()
            clock.advance(minutes=1)
        return director, discord.guild_ids


def test_the_director_follows_the_daily_rhythm_and_replays_with_a_seed():
    (morning, morning_guilds), (evening, _) = run_director(7, seed=3), run_director(19, seed=3)
    again, again_guilds = run_director(7, seed=3)
    delays = [again.heartbeat_ack_delay() for _ in range(50)]
    assert sum(evening.commands_sent.values()) > 2 * sum(morning.commands_sent.values()) > 0
    assert again.commands_sent == morning.commands_sent and again.reconnects == morning.reconnects >= 2
    assert again_guilds == morning_guilds and again.guild_changes == morning.guild_changes >= 1
    assert all(0.040 <= delay <= 0.120 for delay in delays) and len(set(delays)) > 40
    evening_hour = NOW.replace(hour=19, minute=0)
    assert SMALL.commands_per_minute(evening_hour) * 60 == commands_per_hour(evening_hour, evening_hour)


def test_after_ten_minutes_the_demos_current_hour_sits_among_its_seven_earlier_days(demo_settings):
    # The demo starts on the hour, so the current hour holds only what the simulation sent.
    clock = FrozenClock(NOW.replace(hour=19, minute=0, second=0, microsecond=0))
    app = create_app(demo_settings, clock=clock, bot_options=FAST_BOT_OPTIONS, simulation_options=SIMULATION_OPTIONS)
    context = context_of(app)
    try:
        # Commands reach only a bot that is connected (its commands are synced before that).
        wait_for(lambda: context.snapshots.latest()[1].status == "connected", timeout=15)
        assert set(context.simulation.discord.synced_commands) == BOT_COMMANDS
        sent = 0
        for _ in range(10):
            clock.advance(minutes=1)
            sent += context.simulation.director.tick()
        wait_for(lambda: context.bot.recorder.written == sent, timeout=10)
        hour = context.hours.breakdown(clock().replace(minute=0))
    finally:
        context.shutdown()
    scaled = hour.commands_total * 6
    earlier = hour.same_hour.commands
    assert sent > 0 and hour.commands_total == sent
    assert earlier.min <= scaled <= earlier.max, (scaled, earlier)
