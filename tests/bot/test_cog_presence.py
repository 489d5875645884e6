"""The Presence cog, through the fake Discord: status events and the snapshot ticker."""

from __future__ import annotations

import logging

import pytest

from aurora.demo.simulation.server import SimulatedDiscord
from tests.fakes.snapshot_sink import RecordingSink, wait_for

pytestmark = pytest.mark.clock


@pytest.fixture
def fake():
    with SimulatedDiscord(token="aurora-cog-presence-token", guilds=[3, 2]) as fake:
        yield fake


def test_the_ticker_survives_a_snapshot_that_could_not_be_published(make_runner, fake, clock, caplog):
    caplog.set_level(logging.ERROR, logger="aurora.bot.cogs.presence")
    sink = RecordingSink(clock)
    make_runner(fake, sink)  # a tick every 0.05 s, no events once connected
    wait_for(lambda: sink.latest()[1].status == "connected")
    sink.failing.set()
    wait_for(lambda: "could not publish a bot snapshot" in caplog.text)
    sink.failing.clear()
    published = len(sink.published)
    wait_for(lambda: len(sink.published) >= published + 2)  # the ticker is still running
    assert sink.latest()[1].guild_count == 2


def test_a_deliberate_stop_reads_disconnected_never_reconnecting(make_runner, fake, clock):
    sink = RecordingSink(clock)
    runner = make_runner(fake, sink)
    wait_for(lambda: sink.latest()[1].status == "connected")
    before_stop = len(sink.published)
    runner.stop()
    after_stop = sink.statuses[before_stop:]
    assert "reconnecting" not in after_stop and after_stop[-1] == "disconnected"


def test_a_dropped_connection_reads_reconnecting_until_resumed(make_runner, fake, clock):
    sink = RecordingSink(clock)
    make_runner(fake, sink, tick_seconds=3600)  # only the events themselves may publish
    wait_for(lambda: sink.latest()[1].status == "connected")
    before_drop = len(sink.published)
    fake.drop_connections(4000)
    wait_for(lambda: fake.resume_count == 1 and sink.latest()[1].status == "connected")
    assert sink.statuses[before_drop:] == ["reconnecting", "connected"]

