"""The CommandLog cog, through the fake Discord: what becomes of completed and failed commands."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

import pytest
from sqlalchemy import select

from aurora.bot.client import AuroraBot, BotParts
from aurora.bot.cogs.command_log import CommandLog
from aurora.bot.cogs.slash_commands import CommandServices
from aurora.bot.recorder import CommandRecorder
from aurora.bot.snapshot import CommandCount
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.storage.tables import COMMAND_RUN, transactions
from tests.fakes.snapshot_sink import RecordingSink, no_balance, no_stats, wait_for
from tests.support import NOW

pytestmark = pytest.mark.clock

EPHEMERAL = 64


@pytest.fixture
def fake():
    with SimulatedDiscord(token="aurora-cog-commands-token", guilds=[3]) as fake:
        yield fake


def failing_balance(_user_id: int) -> int | None:
    raise RuntimeError("database down")


def command_rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(transactions.c.description).where(transactions.c.type == COMMAND_RUN)).all()


def test_a_completed_command_is_recorded_and_moves_the_last_command_time(make_runner, fake, bot_engine, clock):
    sink = RecordingSink(clock)
    runner = make_runner(fake, sink)
    wait_for(lambda: sink.latest()[1].status == "connected")
    assert sink.latest()[1].last_command_at is None
    fake.send_interaction("ping", guild_id=fake.guild_ids[0])
    wait_for(lambda: runner.recorder.written == 1)
    assert command_rows(bot_engine) == [("ping",)]
    wait_for(lambda: sink.latest()[1].last_command_at == NOW)
    assert sink.latest()[1].command_failures == ()


def test_a_failed_command_is_counted_answered_and_not_recorded(make_runner, fake, bot_engine, clock, caplog):
    caplog.set_level(logging.WARNING, logger="aurora.bot.cogs.command_log")
    sink = RecordingSink(clock)
    runner = make_runner(fake, sink, balance_of=failing_balance)
    wait_for(lambda: sink.latest()[1].status == "connected")
    fake.send_interaction("balance", guild_id=fake.guild_ids[0])
    wait_for(lambda: len(fake.interaction_responses) == 1)
    answer = fake.interaction_responses[0]["body"]
    assert answer["type"] == 4 and answer["data"]["content"] == "Sorry, that command failed."
    assert answer["data"]["flags"] & EPHEMERAL
    wait_for(lambda: sink.latest()[1].command_failures == (CommandCount("balance", 1),))
    assert "command /balance failed: CommandInvokeError" in caplog.text
    assert runner.recorder.written == 0 and runner.recorder.pending == 0
    assert sink.latest()[1].last_command_at is None


def test_a_command_that_failed_after_deferring_gets_no_second_answer(make_runner, fake, clock):
    def failing_stats():
        raise RuntimeError("database down")

    sink = RecordingSink(clock)
    make_runner(fake, sink, stats=failing_stats)
    wait_for(lambda: sink.latest()[1].status == "connected")
    fake.send_interaction("stats", guild_id=fake.guild_ids[0])
    wait_for(lambda: sink.latest()[1].command_failures == (CommandCount("stats", 1),))
    assert [response["body"]["type"] for response in fake.interaction_responses] == [5]  # the deferral only


def test_the_tree_error_handler_is_the_cogs_only_while_it_is_loaded(bot_engine, clock):
    async def scenario() -> None:
        bot = AuroraBot(BotParts(snapshots=RecordingSink(clock), recorder=CommandRecorder(bot_engine),
                                 services=CommandServices(stats=no_stats, balance_of=no_balance), clock=clock))
        default_handler = bot.tree.on_error
        cog = CommandLog(bot, bot.parts.recorder)
        await bot.add_cog(cog)
        assert bot.tree.on_error == cog.on_tree_error
        await bot.remove_cog(cog.qualified_name)
        assert bot.tree.on_error == default_handler
        await bot.close()

    run_on_own_loop(scenario())


def run_on_own_loop(coroutine) -> None:
    """Run on a fresh loop in a thread of its own: the session's browser keeps a loop running in
    the main thread once the browser tests have run."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result(timeout=30)
