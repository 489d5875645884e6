"""BotRunner: the thread and loop the bot runs on, and its claim on the token within a process."""

from __future__ import annotations

import threading

import pytest

from aurora.bot_runner import BotAlreadyRunning, bot_thread_name
from aurora.simulation.server import SimulatedDiscord
from tests.fakes.snapshot_sink import RecordingSink, wait_for

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
