"""BotRunner: the thread and loop the bot runs on, and its claim on the token within a process."""

from __future__ import annotations

import logging
import threading
import time

import aiohttp
import discord
import pytest

from aurora.bot.recorder import CommandRecorder
from aurora.bot.snapshot import BotOffline
from aurora.bot_runner import BotAlreadyRunning, bot_thread_name, offline_cause
from aurora.demo.simulation.payloads import API
from aurora.demo.simulation.server import SimulatedDiscord
from tests.fakes.snapshot_sink import RecordingSink, wait_for
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW

pytestmark = pytest.mark.clock

TOKEN = "aurora-runner-test-token"


@pytest.fixture
def fake():
    with SimulatedDiscord(token=TOKEN, guilds=[3, 2]) as fake:
        yield fake


def claims(token: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == bot_thread_name(token)]


def connected(sink: RecordingSink) -> bool:
    return sink.latest()[1].status == "connected"


def test_a_refused_runner_leaves_the_running_bot_alone(make_runner, fake, clock):
    sink = RecordingSink(clock)
    first = make_runner(fake, sink)
    wait_for(lambda: connected(sink))
    refused_sink = RecordingSink(clock)
    with pytest.raises(BotAlreadyRunning, match="duplicate gateway connection"):
        make_runner(fake, refused_sink)
    assert len(claims(TOKEN)) == 1  # the refused runner's thread is gone
    assert refused_sink.published == []  # it never built a bot
    assert fake.identify_count == 1 and first.running and connected(sink)


def test_the_claim_ends_with_the_thread_so_the_token_can_run_again(make_runner, fake, clock):
    sink = RecordingSink(clock)
    first = make_runner(fake, sink)
    wait_for(lambda: connected(sink))
    first.stop()
    assert claims(TOKEN) == []
    again = RecordingSink(clock)
    make_runner(fake, again)
    wait_for(lambda: connected(again))
    assert fake.identify_count == 2


def test_another_token_in_the_same_process_is_not_refused(make_runner, fake, clock):
    sink, other = RecordingSink(clock), RecordingSink(clock)
    make_runner(fake, sink)
    wait_for(lambda: connected(sink))
    make_runner(fake, other, token="another-bots-token")  # the fake answers 401: offline, but not refused
    wait_for(lambda: other.statuses[-1:] == ["disconnected"])
    assert connected(sink) and fake.identify_count == 1


def test_the_thread_is_named_after_a_fingerprint_of_the_token():
    assert TOKEN not in bot_thread_name(TOKEN)
    assert bot_thread_name(TOKEN) == bot_thread_name(TOKEN) != bot_thread_name("another-bots-token")


def test_stop_is_harmless_before_start_and_when_repeated(make_runner, fake, clock):
    never_started = make_runner(fake, RecordingSink(clock), start=False)
    never_started.stop()
    assert not never_started.running
    sink = RecordingSink(clock)
    runner = make_runner(fake, sink)
    wait_for(lambda: connected(sink))
    runner.stop()
    runner.stop()
    assert not runner.running and sink.statuses[-1] == "disconnected"


RETRY_FAST = {"retry_seconds": 0.02, "retry_cap_seconds": 0.1}


class Endpoints:
    """A fake Discord's token and endpoints, reached through a proxy in front of it."""

    def __init__(self, fake: SimulatedDiscord, proxy: TcpProxy) -> None:
        self.token = fake.token
        self.api_base = fake.api_base.replace(f":{fake.port}/", f":{proxy.port}/")
        self.gateway_url = fake.gateway_url.replace(f":{fake.port}/", f":{proxy.port}/")


def test_a_bot_that_cannot_reach_discord_at_startup_keeps_trying_and_connects_once_it_can(
    make_runner, fake, clock, caplog
):
    proxy = TcpProxy("127.0.0.1", fake.port)
    proxy.cut()  # every connection closed at once, as by a network that is down
    sink = RecordingSink(clock)
    try:
        with caplog.at_level(logging.INFO, logger="aurora"):
            make_runner(Endpoints(fake, proxy), sink, **RETRY_FAST)
            wait_for(lambda: proxy.accepted >= 4)  # attempt after attempt, with backoff
            offline = sink.latest()[1]
            assert offline.status == "reconnecting" and offline.offline == BotOffline("discord_unreachable", clock())
            clock.advance(minutes=3)
            proxy.restore()
            wait_for(lambda: connected(sink))
    finally:
        proxy.close()
    assert sink.latest()[1].offline is None and fake.identify_count == 1
    lines = [record.getMessage() for record in caplog.records]
    assert len([line for line in lines if line.startswith("Discord unreachable")]) == 1  # once, not per attempt
    assert lines.count(f"the bot is connected to Discord again (offline since {NOW.isoformat(timespec='seconds')}: "
                       "discord_unreachable)") == 1
    assert not any("Traceback" in line for line in lines)


def test_a_stop_during_the_wait_between_attempts_ends_the_bot(make_runner, fake, clock):
    proxy = TcpProxy("127.0.0.1", fake.port)
    proxy.cut()
    sink = RecordingSink(clock)
    try:
        runner = make_runner(Endpoints(fake, proxy), sink, retry_seconds=60, retry_cap_seconds=60)
        wait_for(lambda: sink.statuses[-1:] == ["reconnecting"])
        runner.stop()
    finally:
        proxy.close()
    assert not runner.running and sink.statuses[-1] == "disconnected" and proxy.accepted >= 1


def test_the_client_of_a_new_login_keeps_the_health_window(make_runner, fake, clock):
    sink = RecordingSink(clock)
    make_runner(fake, sink, **RETRY_FAST)
    wait_for(lambda: connected(sink))
    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    wait_for(lambda: runs(sink) == 1)
    started = sink.latest()[1].command_health.since
    clock.advance(minutes=2)
    fake.drop_connections(4014)  # fatal for the client: the runner logs in again with a new one
    wait_for(lambda: fake.identify_count == 2 and connected(sink))
    assert sink.latest()[1].offline is None
    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    wait_for(lambda: runs(sink) == 2)
    assert sink.latest()[1].command_health.since == started


def runs(sink: RecordingSink) -> int:
    health = sink.latest()[1].command_health
    return sum(row.runs for row in health.commands) if health else 0


def test_a_rejected_token_is_final_and_said_so(make_runner, fake, clock, caplog):
    sink = RecordingSink(clock)
    with caplog.at_level(logging.INFO, logger="aurora"):
        runner = make_runner(fake, sink, token="a-token-discord-rejects", **RETRY_FAST)
        wait_for(lambda: sink.statuses[-1:] == ["disconnected"])
        runner._thread.join(2)  # it ends by itself: nothing left to try
    assert not runner.running and sink.latest()[1].offline == BotOffline("rejected_token", clock())
    assert [path for _, path in fake.requests if path.endswith("/users/@me")] == [f"{API}/users/@me"]
    assert len([r for r in caplog.records if r.getMessage().startswith("Discord rejected DISCORD_TOKEN")]) == 1


def test_what_ends_a_login_is_told_apart():
    assert offline_cause(discord.LoginFailure("bad")) == "rejected_token"
    assert offline_cause(aiohttp.ClientConnectorError(None, ConnectionRefusedError(111, "refused"))) == (
        "discord_unreachable"
    )
    assert offline_cause(aiohttp.ServerDisconnectedError()) == offline_cause(TimeoutError()) == "discord_unreachable"
    assert offline_cause(discord.PrivilegedIntentsRequired(None)) == "intent_refused"
    assert offline_cause(discord.DiscordException("something else")) == "discord_error"



class StopTimingRecorder(CommandRecorder):
    """A real recorder that notes the time its first stop was given."""

    stop_timeout: float | None = None

    def stop(self, timeout: float = 5.0) -> None:
        if self.stop_timeout is None:
            self.stop_timeout = timeout
        super().stop(timeout)


class SlowSink(RecordingSink):
    """Publishing takes 5 s once `slow` is set (a snapshot store that has stopped answering)."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.slow = threading.Event()

    def publish(self, snapshot) -> None:
        if self.slow.is_set():
            time.sleep(5)
        super().publish(snapshot)


def test_a_bot_slow_to_wind_down_leaves_the_recorder_a_second_of_the_stop(make_runner, fake, clock, bot_engine):
    sink = SlowSink(clock)
    recorder = StopTimingRecorder(bot_engine)
    runner = make_runner(fake, sink, recorder=recorder)
    wait_for(lambda: connected(sink))
    sink.slow.set()  # the bot thread's last snapshot holds it past the whole budget
    started = time.monotonic()
    runner.stop(3.0)
    took = time.monotonic() - started
    runner.stop(1.0)  # again while the thread still winds down: the close it cancels is no error
    assert recorder.stop_timeout is not None and recorder.stop_timeout >= 0.9
    assert took < 3.5  # the whole stop still within its budget
