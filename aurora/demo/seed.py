"""Generated demo data for the embedded default, so a first run shows a living dashboard.

Rows are a deterministic function of the hour they fall in, and a marker table records how far the
data reaches, so seeding again only fills the time since the last run: it is idempotent. A
database that already holds rows without the marker is real data and is never touched.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    insert,
    inspect,
    select,
    update,
)

from aurora.demo.rhythm import commands_per_hour
from aurora.storage.tables import COMMAND_RUN, UTCDateTime, moderation_cases, transactions, users

log = logging.getLogger(__name__)

HISTORY = timedelta(days=60)
USER_COUNT = 640
FIRST_USER_ID = 310_000_000_000_000_000
COMMANDS = (("ping", 5), ("balance", 9), ("daily", 7), ("stats", 3), ("shop", 4),
            ("transfer", 3), ("leaderboard", 2), ("profile", 4), ("help", 2))
OTHER_KINDS = (("DAILY_REWARD", 6), ("TRANSFER_IN", 2), ("TRANSFER_OUT", 2), ("SHOP_BUY", 3))
CASE_KINDS = (("warn", 6), ("timeout", 3), ("note", 2), ("kick", 1), ("ban", 1), ("unban", 1))

demo_metadata = MetaData()
demo_marker = Table(
    "aurora_demo",
    demo_metadata,
    Column("id", Integer, primary_key=True),
    Column("seeded_through", UTCDateTime, nullable=False),
)


def is_demo_database(engine: Engine) -> bool:
    return inspect(engine).has_table(demo_marker.name)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights=weights)[0]


def _rows_for_hour(hour: datetime, now: datetime, next_case: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(int(hour.timestamp()))
    rate = commands_per_hour(hour, now)
    rows = []
    for _ in range(rng.randint(int(rate * 0.8), int(rate * 1.2) + 1)):
        rows.append({"kind": COMMAND_RUN, "description": _weighted(rng, COMMANDS), "amount": 0})
    for _ in range(rng.randint(int(rate * 0.2), int(rate * 0.35) + 1)):
        kind = _weighted(rng, OTHER_KINDS)
        rows.append({"kind": kind, "description": None, "amount": rng.choice((50, 100, 250, 500, 1200))})
    transaction_rows = [
        {
            "user_id": FIRST_USER_ID + rng.randrange(USER_COUNT),
            "amount": row["amount"],
            "type": row["kind"],
            "description": row["description"],
            "created_at": hour + timedelta(seconds=rng.uniform(0, 3600)),
        }
        for row in rows
    ]
    case_rows = []
    if rng.random() < 0.25:
        user = rng.randrange(USER_COUNT)
        case_rows.append(
            {
                "case_id": f"CASE-{next_case:04d}",
                "type": _weighted(rng, CASE_KINDS),
                "user_id": FIRST_USER_ID + user,
                "username": f"demo_user_{user}",
                "moderator_id": FIRST_USER_ID + 1,
                "moderator_name": "demo_moderator",
                "reason": "demo case",
                "created_at": hour + timedelta(seconds=rng.uniform(0, 3600)),
            }
        )
    return transaction_rows, case_rows


def _seed_users(conn: Connection, now: datetime) -> None:
    rng = random.Random(7)
    conn.execute(
        insert(users),
        [
            {
                "id": FIRST_USER_ID + index,
                "username": f"demo_user_{index}",
                "is_active": rng.random() < 0.86,
                "balance": rng.randrange(0, 25_000),
                # Sign-ups accelerate towards today, so the month-over-month change is visible.
                "created_at": now - timedelta(days=120 * (1 - index / USER_COUNT) ** 1.5, seconds=rng.randrange(86400)),
            }
            for index in range(USER_COUNT)
        ],
    )


def _holds_rows(conn: Connection) -> bool:
    return any(
        conn.execute(select(func.count()).select_from(table)).scalar_one() > 0
        for table in (users, transactions, moderation_cases)
    )


def seed_demo(engine: Engine, now: datetime) -> bool:
    """Fill demo data up to `now`. Returns False (and writes nothing) for a real database."""
    with engine.begin() as conn:
        if not inspect(conn).has_table(demo_marker.name):
            if _holds_rows(conn):
                log.warning("demo data not seeded: the database already holds non-demo rows")
                return False
            demo_metadata.create_all(conn)
            conn.execute(insert(demo_marker).values(id=1, seeded_through=now - HISTORY))
            _seed_users(conn, now)
        seeded_through = conn.execute(select(demo_marker.c.seeded_through)).scalar_one()
        next_case = conn.execute(select(func.count()).select_from(moderation_cases)).scalar_one() + 1
        hour = seeded_through.replace(minute=0, second=0, microsecond=0)
        new_transactions, new_cases = [], []
        while hour <= now:
            hour_transactions, hour_cases = _rows_for_hour(hour, now, next_case)
            keep = [row for row in hour_transactions if seeded_through < row["created_at"] <= now]
            new_transactions.extend(keep)
            for case_row in hour_cases:
                if seeded_through < case_row["created_at"] <= now:
                    new_cases.append(case_row)
                    next_case += 1
            hour += timedelta(hours=1)
        new_transactions.sort(key=lambda row: row["created_at"])
        if new_transactions:
            conn.execute(insert(transactions), new_transactions)
        if new_cases:
            conn.execute(insert(moderation_cases), new_cases)
        conn.execute(update(demo_marker).values(seeded_through=now))
    log.info("demo data: %d transactions and %d moderation cases added", len(new_transactions), len(new_cases))
    return True
