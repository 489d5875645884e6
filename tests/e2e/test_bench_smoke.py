"""The benchmark suite keeps working: `python -m bench --quick` runs end to end against the real
PostgreSQL, gunicorn, wrk (or the Python load generator), Chromium and the fake Discord, and prints
its table. Timings are printed for people; they are never asserted here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.browser]


def test_quick_benchmark_suite_runs_and_prints_the_table(postgres_admin_engine):
    # postgres_admin_engine: skips (or fails under CI) when PostgreSQL is not there.
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = completed.stdout
    assert "| figure" in table and "| pass/fail |" in table
    for figure in ("1. steady refresh", "2. growth", "V1. first figures", "V2. steady refresh", "3. /api/stats",
                   "4. time to KPI", "4. callback payload", "5. RSS growth", "/api/stats p99 with 30 streams",
                   "streams served with their first event"):
        assert figure in table, table
    # The incremental refresh must have matched the plain SQL on the generated data (both shapes).
    for equality in ("refresh equals plain SQL", "refresh equals plain definitions"):
        equality_row = next(line for line in table.splitlines() if equality in line)
        assert "PASS" in equality_row, table
    print(table)


def test_init_db_benchmark_runs_and_prints_the_table(postgres_admin_engine):
    completed = subprocess.run(
        [sys.executable, "-m", "bench.init_db", "--size", "10k", "--baseline-seconds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = completed.stdout
    for figure in ("init-db builds transactions(type, created_at) vs plain CREATE INDEX",
                   "init-db builds users(created_at, is_active)", "writer max insert, during init-db",
                   "writer max insert, during plain CREATE INDEX", "second init-db run, process wall time"):
        assert figure in table, table
    for verdict_row in ("writer inserts failed during init-db ", "second init-db run built nothing"):
        assert "PASS" in next(line for line in table.splitlines() if verdict_row in line), table
    print(table)
