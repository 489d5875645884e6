"""The incremental stats equal the plain-SQL definitions, on random data, as the clock moves.

New rows (at any time, back-dated included) must show at the very next refresh; deletes and
updates once the periodic reconcile has run. Seeds are fixed, so a failure replays exactly.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from aurora import aggregates
from aurora.aggregates import IncrementalStats
from aurora.db import moderation_cases, transactions, users
from aurora.service import compute_database_stats
from tests.support import NOW, FrozenClock, case, command, insert_rows, transaction, user

pytestmark = pytest.mark.clock

US = timedelta(microseconds=1)
RECONCILE = timedelta(minutes=10)
# Names chosen so that equal run counts are ordered by collation: case, accents, non-Latin.
COMMAND_NAMES = ["ping", "balance", "Balance", "daily", "émoji", "zeta", "ß", "stats", "top", "shop", "give"]
KINDS = ["DAILY_REWARD", "TRANSFER_IN", "TRANSFER_OUT", "SHOP_BUY", "GIFT"]


def edges(now):
    """The moments where the definitions change their mind, for this `now`."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    marks = [
        now, hour, hour + timedelta(hours=1), now - timedelta(hours=24), now - timedelta(days=1),
        now - timedelta(days=31), now - timedelta(days=30), hour - timedelta(hours=23),
        now - timedelta(hours=24) + timedelta(minutes=30),
    ]
    return [mark + offset for mark in marks for offset in (-US, timedelta(0), US)]


def random_moment(rng: random.Random, now, *, back=timedelta(days=33), ahead=timedelta(hours=2)):
    if rng.random() < 0.3:
        return rng.choice(edges(now))
    moment = now - back + timedelta(microseconds=rng.randrange(int((back + ahead) / US)))
    if rng.random() < 0.2:
        moment = moment.replace(microsecond=0)  # SQLite stores these without a fraction
    return moment


def random_transaction(rng: random.Random, moment):
    if rng.random() < 0.6:
        name = rng.choice(COMMAND_NAMES) if rng.random() < 0.95 else None
        return command(moment, name=name)
    return transaction(moment, kind=rng.choice(KINDS), amount=rng.randrange(-500, 500))


def insert_random(engine, rng, now, *, transactions_count, users_count, cases_count, **moment_options):
    insert_rows(
        engine,
        transaction_rows=[
            random_transaction(rng, random_moment(rng, now, **moment_options)) for _ in range(transactions_count)
        ],
        user_rows=[
            user(random_moment(rng, now, **moment_options), active=rng.random() < 0.8) for _ in range(users_count)
        ],
        case_rows=[case(random_moment(rng, now, **moment_options)) for _ in range(cases_count)],
    )


def mutate(engine, rng, now) -> None:
    """Deletes, updates and back-dated users: what only the reconcile has to catch."""
    with engine.begin() as conn:
        ids = conn.execute(select(transactions.c.id)).scalars().all()
        for victim in rng.sample(ids, min(len(ids), 15)):
            conn.execute(delete(transactions).where(transactions.c.id == victim))
        for target in rng.sample(ids, min(len(ids), 15)):
            conn.execute(
                update(transactions)
                .where(transactions.c.id == target)
                .values(type=rng.choice(["COMMAND_RUN", *KINDS]), description=rng.choice(COMMAND_NAMES),
                        created_at=random_moment(rng, now))
            )
        user_ids = conn.execute(select(users.c.id)).scalars().all()
        for target in rng.sample(user_ids, min(len(user_ids), 10)):
            conn.execute(update(users).where(users.c.id == target).values(is_active=rng.random() < 0.5))
        for victim in rng.sample(user_ids, min(len(user_ids), 5)):
            conn.execute(delete(users).where(users.c.id == victim))
        case_ids = conn.execute(select(moderation_cases.c.id)).scalars().all()
        for victim in rng.sample(case_ids, min(len(case_ids), 3)):
            conn.execute(delete(moderation_cases).where(moderation_cases.c.id == victim))
    insert_random(engine, rng, now, transactions_count=0, users_count=5, cases_count=0,
                  back=timedelta(days=40), ahead=timedelta(0))


def assert_equal_to_plain(engine, incremental, now) -> None:
    expected = compute_database_stats(engine, now)
    assert incremental(engine, now) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_the_plain_definitions_as_time_moves(engine, seed):
    rng = random.Random(seed)
    clock = FrozenClock(NOW + timedelta(microseconds=rng.randrange(3_600_000_000)))
    insert_random(engine, rng, clock(), transactions_count=400, users_count=120, cases_count=20)
    incremental = IncrementalStats(reconcile_every=RECONCILE)
    assert_equal_to_plain(engine, incremental, clock())
    for step in range(30):
        step_kind = rng.random()
        if step_kind < 0.15:
            clock.advance(microseconds=int((clock().replace(minute=0, second=0, microsecond=0)
                                            + timedelta(hours=1) - clock()) / US))  # exactly on the hour
        else:
            clock.advance(seconds=rng.choice([1, 30, 90, 600, 3599, 5400]), microseconds=rng.randrange(1_000_000))
        now = clock()
        # New rows anywhere in time (back-dated included); users only from now on, as they register.
        insert_random(engine, rng, now, transactions_count=rng.randrange(0, 25), users_count=0,
                      cases_count=rng.randrange(0, 3))
        registered = [now, now + US, now + timedelta(seconds=rng.randrange(300), microseconds=rng.randrange(10))]
        insert_rows(engine, user_rows=[user(rng.choice(registered), active=rng.random() < 0.8)
                                       for _ in range(rng.randrange(0, 5))])
        if step % 7 == 6:
            mutate(engine, rng, now)
            # Only the reconcile sees these: step past it before comparing again.
            clock.advance(minutes=10, seconds=rng.randrange(60))
            before = incremental.reconcile_count
            assert_equal_to_plain(engine, incremental, clock())
            assert incremental.reconcile_count == before + 1
            continue
        assert_equal_to_plain(engine, incremental, now)
    assert incremental.reconcile_count >= 4  # the periodic reconcile ran, not only the first one


def test_rows_deleted_at_the_top_force_a_reconcile(engine):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=minute)) for minute in range(1, 6)])
    incremental = IncrementalStats()
    assert_equal_to_plain(engine, incremental, NOW)
    with engine.begin() as conn:
        newest = conn.execute(select(func.max(transactions.c.id))).scalar_one()
        conn.execute(delete(transactions).where(transactions.c.id == newest))
    # SQLite hands the freed id to the next row: an id watermark alone would miss it.
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=2), name="balance")])
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=30))
    assert incremental.reconcile_count == 2


def test_a_refresh_failing_halfway_is_not_kept(engine, monkeypatch):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=hours)) for hours in range(30)])
    incremental = IncrementalStats()
    assert_equal_to_plain(engine, incremental, NOW)
    # A back-dated row lands in a kept hour; the refresh then fails after counting it.
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=5))])
    fingerprint = aggregates._row_fingerprint
    newest = fingerprint.__globals__["_max_transaction_id"]

    def fail_on_the_new_watermark(conn, row_id):
        if row_id == newest(conn):
            raise ConnectionError("database went away")
        return fingerprint(conn, row_id)

    monkeypatch.setattr(aggregates, "_row_fingerprint", fail_on_the_new_watermark)
    with pytest.raises(ConnectionError):
        incremental(engine, NOW + timedelta(seconds=30))
    monkeypatch.undo()
    # Counting that row a second time would be off by one: the ledger is rebuilt instead.
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=60))
    assert incremental.reconcile_count == 2
