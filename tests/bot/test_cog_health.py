"""Bot health through the real discord.py client and the fake Discord: answers on time, late
(Discord's 10062), failed; gateway figures; and nothing but aggregates in what leaves the bot."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pytest

from aurora.bot.command_health.redis_window import RedisWindowStore
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.scaleout import codec
from aurora.scaleout.redis_link import RedisHealth
from tests.fakes.snapshot_sink import RecordingSink, wait_for
from tests.support import FrozenClock

pytestmark = pytest.mark.clock


class TickingClock(FrozenClock):
    """The injected clock, started at the tests' NOW and running like a real one: the bot measures
    durations and Discord's offset with it (a frozen clock would make every answer take no time)."""

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return super().__call__() + timedelta(seconds=time.monotonic() - self._started)


@pytest.fixture
def clock():
    return TickingClock()


@pytest.fixture
def fake():
    with SimulatedDiscord(token="aurora-cog-health-token", guilds=[3]) as fake:
        yield fake


def health_rows(sink) -> dict:
    health = sink.latest()[1].command_health
    return {row.name: row for row in health.commands} if health else {}


def connected(sink) -> None:
    wait_for(lambda: sink.latest()[1].status == "connected")


def row_after_one(make_runner, fake, clock, command: str, row_name: str | None = None):
    """(the sink, the command's health row) once a bot on `fake` has run `command` once."""
    sink = RecordingSink(clock)
    make_runner(fake, sink)
    connected(sink)
    fake.send_interaction(command, guild_id=fake.guild_ids[0])
    return sink, wait_for(lambda: health_rows(sink).get(row_name or command))


def test_a_prompt_answer_counts_once_and_on_time(make_runner, fake, clock):
    _, row = row_after_one(make_runner, fake, clock, "ping")
    assert (row.runs, row.failures, row.late, row.kind) == (1, 0, 0, "slash")
    assert row.p95_ms is not None and row.ack_p95_ms is not None


def test_an_answer_after_3_5_seconds_is_late_and_discords_10062_leaves_no_traceback(make_runner, fake, clock, caplog):
    caplog.set_level(logging.DEBUG)
    sink = RecordingSink(clock)
    make_runner(fake, sink)
    connected(sink)
    # Created 3.5 s before the bot sees it (Discord's id says so): its answer leaves too late.
    fake.send_interaction("ping", guild_id=fake.guild_ids[0], age_seconds=3.5)
    row = wait_for(lambda: health_rows(sink).get("ping"))
    assert (row.runs, row.failures, row.late) == (1, 1, 1)
    # Measured in Discord's time, whose Date header has whole seconds: 3.5 s give at least 3 s.
    assert row.ack_p95_ms >= 2500
    assert len(fake.interaction_responses) == 1  # no "Sorry" Discord would refuse as well
    assert "answered too late" in caplog.text and "10062" in caplog.text
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text


def test_a_failing_command_counts_as_a_failure_with_no_message_or_user_anywhere(make_runner, fake, clock, caplog):
    secret = "db password hunter2 for user 123"

    def failing_balance(_user_id: int):
        raise RuntimeError(secret)

    caplog.set_level(logging.DEBUG, logger="aurora")
    sink = RecordingSink(clock)
    make_runner(fake, sink, balance_of=failing_balance)
    connected(sink)
    guild = fake.guild_ids[0]
    user = fake.member_ids(guild)[-1]
    iid = fake.send_interaction("balance", guild_id=guild, user_id=user)
    row = wait_for(lambda: health_rows(sink).get("balance"))
    assert (row.runs, row.failures, row.late) == (1, 1, 0)
    published = codec.dumps(sink.latest()[1]).decode()
    # Aurora's own log lines (discord.py's debug log of raw gateway frames is not Aurora's output).
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("aurora"))
    assert "command /balance failed" in logged
    for private in (secret, str(user), str(guild), str(iid), str(guild + 1)):
        assert private not in published
        assert private not in logged


def test_an_unregistered_command_never_becomes_a_name(make_runner, fake, clock):
    sink, row = row_after_one(make_runner, fake, clock, "drop-table-users", "(unregistered)")
    assert row.runs == 1
    assert "drop-table-users" not in codec.dumps(sink.latest()[1]).decode()


def test_gateway_joins_leaves_reconnects_and_resumes_are_counted(make_runner, fake, clock):
    sink = RecordingSink(clock)
    make_runner(fake, sink)
    connected(sink)
    guild = fake.add_guild()
    fake.remove_guild(guild)
    fake.drop_connections()

    def gateway():
        health = sink.latest()[1].command_health
        g = health.gateway if health else None
        return g if g and (g.guilds_joined, g.guilds_left, g.resumes) == (1, 1, 1) else None

    figures = wait_for(gateway)
    assert figures.reconnects == 1
    health = sink.latest()[1].command_health
    assert health.rss_bytes is not None and health.rss_bytes > 0


def test_with_redis_a_restart_keeps_the_window(make_runner, fake, clock, redis_client, redis_prefix):
    store = RedisWindowStore(redis_client, prefix=redis_prefix, health=RedisHealth())
    first_sink = RecordingSink(clock)
    first = make_runner(fake, first_sink, health_store=store)
    connected(first_sink)
    for _ in range(3):
        fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    wait_for(lambda: getattr(health_rows(first_sink).get("ping"), "runs", 0) == 3)
    first.stop()  # the cog saves what is left on its way out
    second_sink = RecordingSink(clock)
    make_runner(fake, second_sink, health_store=store)
    connected(second_sink)
    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    row = wait_for(lambda: (r := health_rows(second_sink).get("ping")) and r.runs == 4 and r)
    assert row.failures == 0
    assert second_sink.latest()[1].command_health.since <= clock()


def test_without_redis_a_restart_starts_the_window_afresh(make_runner, fake, clock):
    first_sink = RecordingSink(clock)
    first = make_runner(fake, first_sink)
    connected(first_sink)
    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    wait_for(lambda: health_rows(first_sink).get("ping"))
    first.stop()
    clock.advance(minutes=10)
    restarted = clock()
    second_sink = RecordingSink(clock)
    make_runner(fake, second_sink)
    connected(second_sink)
    health = second_sink.latest()[1].command_health
    assert health.commands == () and health.since >= restarted


def test_right_after_start_the_connected_share_counts_the_time_since_start(make_runner, fake, clock):
    sink = RecordingSink(clock)
    make_runner(fake, sink)
    connected(sink)

    def share():
        health = sink.latest()[1].command_health
        value = health.gateway.connected_share if health else None
        return value if value else None

    # Connected within moments of starting: nearly all of the time the window has existed, not a
    # share of 24 h nobody watched.
    assert wait_for(share) > 0.9
