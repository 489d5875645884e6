"""A stats service per test, closed after it."""

from __future__ import annotations

import pytest

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.queries.reference import compute_database_stats
from aurora.stats.service import StatsService


@pytest.fixture
def make_service():
    made = []

    def build(engine, clock, snapshots=None, refresh_seconds=30, **kwargs):
        kwargs.setdefault("compute", compute_database_stats)  # the figures' plain definitions
        service = StatsService(engine, snapshots or SnapshotCache(clock), refresh_seconds=refresh_seconds, demo=False,
                               clock=clock, **kwargs)
        made.append(service)
        return service

    yield build
    for service in made:
        service.close(timeout=1)
