"""A benchmark data set is generated (PostgreSQL COPY) even when an app engine was made earlier in the
same process, as `python -m bench` does: that engine's wait callback is set for the whole process,
and psycopg2 refuses COPY under one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from aurora.storage.engine import create_db_engine
from aurora.storage.tables import transactions
from bench.generate import SIZES, ensure_dataset

pytestmark = pytest.mark.postgres


@pytest.fixture
def bench_base_url(postgres_admin_engine):
    """A database of its own for the data set, dropped afterwards."""
    database = f"aurora_test_bench_{uuid.uuid4().hex[:12]}"
    yield make_url(postgres_admin_engine.url).set(database=database).render_as_string(hide_password=False)
    with postgres_admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_a_data_set_is_generated_after_an_app_engine_was_made(postgres_url, bench_base_url):
    create_db_engine(postgres_url).dispose()
    dataset = ensure_dataset("10k", base_url=bench_base_url)
    engine = create_engine(dataset.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == SIZES["10k"]
    finally:
        engine.dispose()
