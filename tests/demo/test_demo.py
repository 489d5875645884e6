"""Demo data: realistic, idempotent, labelled, and never mixed into real data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from aurora.demo.seed import is_demo_database, seed_demo
from aurora.storage.tables import moderation_cases, transactions, users
from tests.support import NOW, insert_rows, user

pytestmark = pytest.mark.clock


def row_counts(engine):
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (users, transactions, moderation_cases)
        )


def test_seeding_is_idempotent_and_fills_only_new_time(engine):
    assert seed_demo(engine, NOW)
    first = row_counts(engine)
    assert first[0] > 100 and first[1] > 10_000 and first[2] > 50
    assert seed_demo(engine, NOW)
    assert row_counts(engine) == first
    assert seed_demo(engine, NOW + timedelta(hours=3))
    later = row_counts(engine)
    assert later[0] == first[0]
    assert later[1] > first[1]
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(transactions.c.created_at))).scalar_one()
        case_ids = conn.execute(select(moderation_cases.c.case_id)).scalars().all()
    assert newest <= NOW + timedelta(hours=3)
    assert len(case_ids) == len(set(case_ids))
    assert is_demo_database(engine)


def test_a_database_with_real_rows_is_never_seeded(engine):
    insert_rows(engine, user_rows=[user(NOW)])
    assert not seed_demo(engine, NOW)
    assert row_counts(engine) == (1, 0, 0)
    assert not is_demo_database(engine)


def test_demo_data_is_labelled_in_the_api(make_app):
    client = make_app(demo=True).server.test_client()
    body = client.get("/api/stats").get_json()
    assert body["demo"] is True
    assert body["commands"]["total"] > 0
    assert sum(point["commands"] for point in body["activityOverview"]) > 0
    assert len(body["recentEvents"]) == 10
