"""The simulated Discord answers like Discord: interaction ids carry their creation time, answers
carry `Date`, an answer after 3 s is 10062 and a second one 40060; and the demo's answer times
are realistic (most quick, the deferred command slower, rare failures, an occasional late one)."""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

import pytest
from discord.utils import snowflake_time

from aurora import create_app
from aurora.demo.simulation.answer_times import AnswerTimes
from aurora.demo.simulation.director import Rhythm
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.settings import Settings
from aurora.web.context import context_of
from tests.support import FAST_BOT_OPTIONS

pytestmark = pytest.mark.clock


def post(url: str, body: dict) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), response.headers.get("Date")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Date")


def callback_url(fake: SimulatedDiscord, iid: int) -> str:
    token = fake.interaction_token(iid)
    assert token is not None
    return f"{fake.api_base}/interactions/{iid}/{token}/callback"


def bot_status(client) -> str | None:
    response = client.get("/api/stats")
    return response.get_json()["bot"]["status"] if response.status_code == 200 else None


def test_ids_date_and_discords_refusals():
    with SimulatedDiscord(guilds=1) as fake:
        before = time.time()
        fresh = fake.send_interaction("ping", fake.guild_ids[0])
        stale = fake.send_interaction("ping", fake.guild_ids[0], age_seconds=3.5)
        assert before - 0.01 <= snowflake_time(fresh).timestamp() <= time.time()
        assert snowflake_time(stale).timestamp() == pytest.approx(snowflake_time(fresh).timestamp() - 3.5, abs=0.05)
        status, _, date = post(callback_url(fake, fresh), {"type": 4, "data": {"content": "hi"}})
        assert status == 200 and abs(parsedate_to_datetime(date).timestamp() - time.time()) < 2
        status, body, _ = post(callback_url(fake, fresh), {"type": 4, "data": {"content": "again"}})
        assert (status, body["code"]) == (400, 40060)
        status, body, _ = post(callback_url(fake, stale), {"type": 4, "data": {"content": "late"}})
        assert (status, body["code"]) == (404, 10062)


def test_the_demos_answer_times_are_mostly_quick_with_a_slow_command_rare_failures_and_late_ones():
    times = AnswerTimes(seed=3)
    draws = 20_000
    callbacks = [times.callback_delay() for _ in range(draws)]
    followups = [times.followup_delay() for _ in range(draws)]
    assert statistics.median(callbacks) < 0.1 and statistics.quantiles(callbacks, n=20)[-1] < 0.3
    assert statistics.median(followups) > 0.5 > statistics.quantiles(callbacks, n=100)[-1]
    assert max(followups) <= 4.0
    late = sum(times.delivery_age() > 3 for _ in range(draws)) / draws
    failed = sum(times.callback_fails() for _ in range(draws)) / draws
    assert 0.005 < late < 0.02 and 0.005 < failed < 0.02
    first, second = AnswerTimes(seed=5), AnswerTimes(seed=5)
    assert [first.followup_delay() for _ in range(5)] == [second.followup_delay() for _ in range(5)]  # replays


def test_the_demo_shows_bot_health_from_its_simulated_discord(sqlite_url, clock):
    settings = Settings(database_url=sqlite_url, database_is_default=True, demo=True, refresh_seconds=1, rate_limit=None)
    app = create_app(settings, clock=clock, bot_options=FAST_BOT_OPTIONS,
                     simulation_options={"seed": 7, "rhythm": Rhythm(guilds=3, members=(3, 5)), "poll_seconds": 3600})
    try:
        context, client = context_of(app), app.server.test_client()
        # Connected, not just synced: the bot registers its commands before it opens the gateway, and
        # Discord delivers no interaction to a bot without a gateway session.
        SimulatedDiscord.wait_for(lambda: bot_status(client) == "connected", timeout=15)
        assert context.simulation.discord.synced_commands
        for _ in range(12):
            context.simulation.director.send_command()

        def answered():
            clock.advance(seconds=1)
            response = client.get("/api/stats")
            health = response.get_json()["commandHealth"] if response.status_code == 200 else None
            runs = sum(row["runs"] for row in health["commands"]) if health else 0
            return health if runs == 12 else None

        # The test clock moves so the stats refresh (every second of the app's clock); the answers'
        # times do not follow it: the bot times them on its stopwatch against Discord's clock.
        health = SimulatedDiscord.wait_for(answered, timeout=60, interval=1.0)
        assert {row["name"] for row in health["commands"]} <= {"ping", "stats", "balance"}
        assert all(row["p50Ms"] is not None for row in health["commands"])
    finally:
        context_of(app).shutdown()
