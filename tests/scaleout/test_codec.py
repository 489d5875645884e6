"""The frozen models <-> JSON for Redis: exact round trips, and unreadable payloads refused."""

from __future__ import annotations

import pytest

from aurora.bot.snapshot import BotOffline, BotSnapshot
from aurora.queries.reference import compute_database_stats
from aurora.scaleout.codec import CodecError, dumps, loads
from aurora.stats.model import DatabaseStats
from tests.support import NOW, connected_snapshot

pytestmark = pytest.mark.clock


def test_snapshots_and_stats_survive_the_trip_through_json(engine, clock):
    snapshot = connected_snapshot(last_command_at=NOW)
    assert loads(BotSnapshot, dumps(snapshot)) == snapshot
    offline = BotSnapshot(status="reconnecting", taken_at=NOW, offline=BotOffline("discord_unreachable", NOW))
    assert loads(BotSnapshot, dumps(offline)) == offline
    stats = compute_database_stats(engine, clock())
    assert loads(DatabaseStats, dumps(stats)) == stats


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"format": 99, "data": {}}', b'{"format": 1, "data": {"status": "sleeping", "taken_at": "x"}}',
     b'{"format": 1, "data": {"status": "connected", "taken_at": "2026-01-01T00:00:00"}}'],
)
def test_unreadable_payloads_are_refused_not_guessed(raw):
    with pytest.raises(CodecError):
        loads(BotSnapshot, raw)
