"""The stats service: what it computes by default, and what it serves."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

import aurora
from aurora.bot.snapshot_cache import SnapshotCache
from aurora.queries.aggregates import IncrementalStats
from aurora.queries.reference import compute_database_stats
from aurora.stats import service as service_module
from aurora.stats.service import StatsService
from tests.support import NOW, command, insert_rows, user

pytestmark = pytest.mark.clock


def test_database_stats_match_a_direct_computation(make_service, engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(hours=h)) for h in range(30)])
    service = make_service(engine, clock)
    assert service.database_stats() == compute_database_stats(engine, clock())


def test_a_service_given_no_computation_runs_the_incremental_stats(engine, clock, monkeypatch):
    made = []

    class RecordedIncrementalStats(IncrementalStats):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(service_module, "IncrementalStats", RecordedIncrementalStats)
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=2))], user_rows=[user(NOW - timedelta(days=3))])
    service = StatsService(engine, SnapshotCache(clock), refresh_seconds=30, demo=False, clock=clock)
    try:
        assert service.database_stats() == compute_database_stats(engine, clock())
    finally:
        service.close(timeout=1)
    assert len(made) == 1 and made[0].rebuild_count == 1


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_no_module_of_the_app_imports_the_reference_definitions():
    """They are what the tests and the bench hold the app's figures to, not something it runs."""
    package = Path(aurora.__file__).parent
    importers = [
        path.relative_to(package) for path in package.rglob("*.py")
        if "aurora.queries.reference" in imported_modules(path.read_text())
    ]
    assert importers == []
    assert "aurora.queries.reference" in imported_modules("from aurora.queries import reference")
