"""The stats combined from the database figures and the bot's snapshot."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.bot.snapshot import BotSnapshot, ShardSnapshot
from aurora.stats.combined import combine
from aurora.stats.model import DatabaseStats
from tests.support import NOW, command, insert_rows, user

pytestmark = pytest.mark.clock


def test_disabled_bot_gives_null_discord_figures(make_service, engine):
    insert_rows(engine, user_rows=[user(NOW - timedelta(days=40)), user(NOW)])
    stats = make_service(engine, lambda: NOW).current()
    assert stats.bot.status == "disabled"
    assert stats.guild_count is None and stats.guild_change_from_last_month is None
    assert stats.ping_avg_ms is None and stats.ping_change_from_last_hour is None
    assert stats.active_users == 2
    assert stats.active_users_change_percent == 100.0


def test_commands_change_is_against_the_30_day_daily_mean(make_service, engine):
    rows = [command(NOW - timedelta(hours=1)) for _ in range(4)]
    rows += [command(NOW - timedelta(days=day)) for day in range(2, 17)]  # 15 runs: mean 0.5 a day
    insert_rows(engine, transaction_rows=rows)
    stats = make_service(engine, lambda: NOW).current()
    assert stats.commands_total == 4
    assert stats.commands_change_percent == 700.0


def test_bot_snapshot_figures_are_combined():
    snapshot = BotSnapshot(
        status="connected",
        taken_at=NOW,
        guild_count=12,
        guild_count_month_ago=9,
        ping_avg_ms=41.6,
        ping_previous_hour_avg_ms=50.2,
        started_at=NOW - timedelta(minutes=90),
        shards=(ShardSnapshot(0, "connected", 40.4), ShardSnapshot(1, "connected", 42.9)),
    )
    database = DatabaseStats(NOW, 5, 5, 0, 0, (), (), ())
    stats = combine(database, snapshot, demo=False, stale=False, stale_since=None)
    assert stats.guild_count == 12
    assert stats.guild_change_from_last_month == 3
    assert stats.ping_avg_ms == 42
    assert stats.ping_change_from_last_hour == -9
    assert stats.uptime_seconds == 5400
