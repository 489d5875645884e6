"""A benchmark data set is generated (PostgreSQL COPY) even when an app engine was made earlier in the
same process, as `python -m bench` does: that engine's wait callback is set for the whole process,
and psycopg2 refuses COPY under one. The bench runs in a process of its own (the tests never import it)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from aurora.storage.tables import transactions

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
# An app engine first (its wait callback is process-wide), then the generator's own command line.
GENERATE_AFTER_AN_APP_ENGINE = """
import sys
from aurora.storage.engine import create_db_engine
from bench.generate import main
create_db_engine(sys.argv[1]).dispose()
raise SystemExit(main(sys.argv[2:]))
"""


@pytest.fixture
def bench_base_url(postgres_admin_engine):
    """A database of its own for the data set, dropped afterwards."""
    database = f"aurora_test_bench_{uuid.uuid4().hex[:12]}"
    yield make_url(postgres_admin_engine.url).set(database=database).render_as_string(hide_password=False)
    with postgres_admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_a_data_set_is_generated_after_an_app_engine_was_made(postgres_url, bench_base_url):
    command = [sys.executable, "-c", GENERATE_AFTER_AN_APP_ENGINE, postgres_url,
               "--size", "10k", "--postgres-url", bench_base_url]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # Its last line: "10k: 10,000 transactions over ... (<url>)".
    summary = re.fullmatch(r"10k: ([\d,]+) transactions over .* \((\S+)\)", result.stdout.strip().splitlines()[-1])
    assert summary is not None, result.stdout
    engine = create_engine(summary.group(2))
    try:
        with engine.connect() as conn:
            counted = conn.execute(select(func.count()).select_from(transactions)).scalar_one()
        assert counted == int(summary.group(1).replace(",", "")) == 10_000
    finally:
        engine.dispose()
