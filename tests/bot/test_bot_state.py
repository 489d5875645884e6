"""Ping averages, the month-ago guild count and shard status, without discord.py."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from aurora.bot.state import BotState, ShardReading, finite_ms
from tests.support import NOW

pytestmark = pytest.mark.clock


def snapshot(state, now=NOW, shards=()):
    return state.snapshot(
        now, guild_count=5, user_count=50, latency_seconds=0.04, commands_registered=3, shards=list(shards)
    )


def test_non_finite_latency_is_never_a_sample():
    assert finite_ms(math.nan) is None and finite_ms(math.inf) is None and finite_ms(None) is None
    state = BotState()
    for value in (math.nan, math.inf, None):
        state.add_ping_sample(NOW, finite_ms(value))
    assert state.ping_averages(NOW) == (None, None)
    assert snapshot(state).latency_ms == 40.0


def test_ping_average_of_the_last_hour_and_the_hour_before():
    state = BotState()
    samples = {
        timedelta(minutes=130): 999.0,  # older than two hours: forgotten
        timedelta(minutes=100): 80.0,
        timedelta(minutes=61): 100.0,
        timedelta(minutes=60): 90.0,  # exactly an hour old: belongs to the hour before
        timedelta(minutes=59): 40.0,
        timedelta(minutes=1): 50.0,
    }
    for age, ms in sorted(samples.items(), reverse=True):
        state.add_ping_sample(NOW - age, ms)
    state.add_ping_sample(NOW, 60.0)
    assert state.ping_averages(NOW) == (50.0, 90.0)


def test_guild_change_needs_a_sample_at_least_30_days_old():
    state = BotState()
    start = NOW - timedelta(days=31)
    for hour in range(0, 31 * 24 + 1):
        state.add_guild_count(start + timedelta(hours=hour), 100 + hour // 24)
    assert state.guild_count_month_ago(NOW - timedelta(days=1, hours=1)) is None
    assert state.guild_count_month_ago(NOW) == 101  # the sample taken exactly 30 days ago
    assert len(state._guild_history) <= 33 * 24  # bounded: hourly samples for ~a month


def test_status_follows_connect_drop_and_resume():
    state = BotState()
    assert snapshot(state).status == "connecting"
    state.mark_connected(NOW)
    state.mark_reconnecting()
    assert snapshot(state).status == "reconnecting"
    state.mark_connected(NOW + timedelta(minutes=5))
    connected = snapshot(state)
    assert connected.status == "connected"
    assert connected.started_at == NOW  # uptime counts from the first connection
    state.mark_disconnected()
    assert snapshot(state).status == "disconnected"


def test_each_shard_has_its_own_status_and_latency():
    state = BotState()
    state.mark_connected(NOW, 0)
    state.mark_connected(NOW, 1)
    state.mark_reconnecting(1)
    snap = snapshot(state, shards=[ShardReading(0, 0.031, False), ShardReading(1, math.inf, True)])
    assert [(s.shard_id, s.status, s.latency_ms) for s in snap.shards] == [(0, "connected", 31.0), (1, "reconnecting", None)]
    assert snap.status == "reconnecting"
    state.mark_connected(NOW, 1)
    assert snapshot(state).status == "connected"


def test_failures_are_counted_per_command():
    state = BotState()
    for name in ("stats", "balance", "stats"):
        state.command_failed(name)
    assert [(item.name, item.count) for item in snapshot(state).command_failures] == [("stats", 2), ("balance", 1)]
