"""The incremental stats equal the plain-SQL definitions, on random data, as the clock moves.

New rows (at any time, back-dated included) must show at the very next refresh; deletes and
updates once every hour has been counted again (within the reconcile period). The same holds when
the first counts take many calls and statements are cut into the smallest pieces. Seeds are
fixed, so a failure replays exactly.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text, update

from aurora.queries import aggregates, bounded_counts, hourly_counts, user_counts
from aurora.queries.aggregates import IncrementalStats
from aurora.queries.reference import compute_database_stats
from aurora.stats.model import FiguresPreparing
from aurora.storage.tables import moderation_cases, transactions, users
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


def unhurried(**options) -> IncrementalStats:
    """Incremental stats with time for all that is due in each call, so that every call can be
    compared with the plain definitions; calls bounded in time are tested on their own below."""
    return IncrementalStats(step_seconds=math.inf, **options)


def assert_equal_to_plain(engine, incremental, now) -> None:
    expected = compute_database_stats(engine, now)
    assert incremental(engine, now) == expected


def prepared(engine, incremental, now, *, between_calls=lambda: None):
    """Call until the figures exist (each call may only make progress); the number of calls."""
    progress = []
    for calls in range(1, 10_000):
        try:
            result = incremental(engine, now)
        except FiguresPreparing as preparing:
            progress.append(preparing.progress)
            between_calls()
            continue
        assert progress == sorted(progress) and all(0 <= share < 1 for share in progress)
        return result, calls
    raise AssertionError("the figures never became ready")


def run_the_clock(engine, rng, incremental, clock, steps=30):
    for step in range(steps):
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
            # Only counting the hours again sees these: step past the reconcile period first.
            clock.advance(minutes=10, seconds=rng.randrange(60))
            before = incremental.hours_counted
            assert_equal_to_plain(engine, incremental, clock())
            assert incremental.hours_counted - before >= 31 * 24  # every kept hour, counted again
            continue
        assert_equal_to_plain(engine, incremental, now)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_the_plain_definitions_as_time_moves(engine, seed):
    rng = random.Random(seed)
    clock = FrozenClock(NOW + timedelta(microseconds=rng.randrange(3_600_000_000)))
    insert_random(engine, rng, clock(), transactions_count=400, users_count=120, cases_count=20)
    incremental = unhurried(reconcile_every=RECONCILE)
    assert_equal_to_plain(engine, incremental, clock())
    run_the_clock(engine, rng, incremental, clock)
    assert incremental.rebuild_count < 10  # kept between calls, not rebuilt each time


@pytest.mark.parametrize("seed", [4, 5])
def test_built_piece_by_piece_with_writes_between_the_calls(engine, monkeypatch, seed):
    """Tiny pieces (a capped count halves its range down to three rows; a names statement reads
    two rows), one statement's hours per call, and rows written between the calls,
    back-dated included."""
    for module in (bounded_counts, hourly_counts):
        monkeypatch.setattr(module, "INDEX_ENTRIES_PER_STATEMENT", 3)
    for module in (bounded_counts, hourly_counts, user_counts):
        monkeypatch.setattr(module, "ROWS_PER_STATEMENT", 2)
    rng = random.Random(seed)
    clock = FrozenClock(NOW + timedelta(microseconds=rng.randrange(3_600_000_000)))
    insert_random(engine, rng, clock(), transactions_count=150, users_count=40, cases_count=5)
    # Several rows in one microsecond: a range that cannot be halved is counted as it is.
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(hours=3)) for _ in range(4)])
    incremental = IncrementalStats(reconcile_every=RECONCILE, step_seconds=0)

    def write_some():
        insert_random(engine, rng, clock(), transactions_count=rng.randrange(0, 3), users_count=0, cases_count=0)

    result, calls = prepared(engine, incremental, clock(), between_calls=write_some)
    assert calls > 31  # at most a day's hours per call
    assert result == compute_database_stats(engine, clock())
    # From here on each call has time for all that is due, to be compared call by call.
    incremental.step_seconds = math.inf
    run_the_clock(engine, rng, incremental, clock, steps=7)


def test_the_reconcile_is_spread_over_the_period(engine):
    """Each refresh counts again a share of the hours, oldest count first; within the period all of
    them, and a delete in an old hour shows by then."""
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=hours, minutes=5)) for hours in range(745)])
    clock = FrozenClock()
    incremental = unhurried(reconcile_every=RECONCILE)
    incremental(engine, clock())
    built = incremental.hours_counted
    with engine.begin() as conn:
        conn.execute(delete(transactions).where(transactions.c.created_at < NOW - timedelta(days=20),
                                                transactions.c.created_at > NOW - timedelta(days=21)))
    per_refresh = []
    for _ in range(20):  # 10 minutes of refreshes, 30 s apart
        clock.advance(seconds=30)
        before = incremental.hours_counted
        incremental(engine, clock())
        per_refresh.append(incremental.hours_counted - before)
    assert max(per_refresh) <= 745 // 20 + 2  # a share each time, never everything at once
    assert sum(per_refresh) >= 745
    assert incremental.hours_counted - built >= 745
    assert_equal_to_plain(engine, incremental, clock())


def test_rows_deleted_at_the_top_force_a_rebuild(engine):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=minute)) for minute in range(1, 6)])
    incremental = unhurried()
    assert_equal_to_plain(engine, incremental, NOW)
    with engine.begin() as conn:
        newest = conn.execute(select(func.max(transactions.c.id))).scalar_one()
        conn.execute(delete(transactions).where(transactions.c.id == newest))
    # SQLite hands the freed id to the next row: an id watermark alone would miss it.
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=2), name="balance")])
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=30))
    assert incremental.rebuild_count == 2


def test_a_refresh_failing_halfway_leaves_the_ledger_as_it_was(engine, monkeypatch):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=hours)) for hours in range(30)])
    incremental = unhurried()
    assert_equal_to_plain(engine, incremental, NOW)
    # A back-dated row lands in a kept hour; the refresh then fails after counting it.
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=5))])
    fingerprint = aggregates._row_fingerprint
    newest = aggregates._max_transaction_id

    def fail_on_the_new_watermark(conn, row_id):
        if row_id == newest(conn):
            raise ConnectionError("database went away")
        return fingerprint(conn, row_id)

    monkeypatch.setattr(aggregates, "_row_fingerprint", fail_on_the_new_watermark)
    with pytest.raises(ConnectionError):
        incremental(engine, NOW + timedelta(seconds=30))
    monkeypatch.undo()
    # Counting that row a second time would be off by one; the ledger kept nothing of that refresh.
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=60))
    assert incremental.rebuild_count == 1


def test_a_call_given_up_on_does_not_hold_up_the_next(engine, monkeypatch):
    """A call stuck in the database (the service gave up on it) neither blocks the next call nor,
    when it finally returns, replaces the ledger the next call built."""
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=hours)) for hours in range(10)])
    incremental = unhurried()
    assert_equal_to_plain(engine, incremental, NOW)
    stuck, release = threading.Event(), threading.Event()
    events = aggregates.recent_events

    def hang_once(conn, now):
        if not stuck.is_set():
            stuck.set()
            release.wait(10)
        return events(conn, now)

    monkeypatch.setattr(aggregates, "recent_events", hang_once)
    late = threading.Thread(target=incremental, args=(engine, NOW + timedelta(seconds=30)))
    late.start()
    assert stuck.wait(5)
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=2))])
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=60))  # at once, on a new ledger
    assert incremental.rebuild_count == 2
    release.set()
    late.join(5)
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(hours=3))])
    assert_equal_to_plain(engine, incremental, NOW + timedelta(seconds=90))
    assert incremental.rebuild_count == 2


def far_future(engine) -> str:
    """A moment past year 9999 as each database stores it."""
    return "10000-01-01 00:00:00+00" if engine.dialect.name == "postgresql" else "10000-01-01 00:00:00"


def test_rows_dated_past_year_9999_are_left_out_of_events_and_break_nothing(engine):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=5))], case_rows=[case(NOW - timedelta(hours=1))],
                user_rows=[user(NOW - timedelta(days=40))])
    moment = far_future(engine)
    with engine.begin() as conn:
        # Written as text: no Python datetime holds year 10000. The newest id, too.
        conn.execute(text("INSERT INTO users (id, username, is_active, balance, created_at) "
                          "VALUES (1, 'far', true, 0, :moment)"), {"moment": moment})
        conn.execute(text("INSERT INTO moderation_cases (case_id, type, user_id, username, moderator_id, "
                          "moderator_name, reason, active, created_at) "
                          "VALUES ('FAR', 'warn', 1, 'u', 2, 'm', 'r', true, :moment)"), {"moment": moment})
        conn.execute(text("INSERT INTO transactions (amount, type, description, created_at) "
                          "VALUES (0, 'COMMAND_RUN', 'far', :moment)"), {"moment": moment})
    expected = compute_database_stats(engine, NOW)
    assert [event.message for event in expected.recent_events] == [
        "Command /ping run", "Moderation case CASE-" + expected.recent_events[1].message.split("CASE-")[1]]
    assert expected.active_users == 2  # an active user is one, whatever its date
    incremental = unhurried()
    assert incremental(engine, NOW) == expected
    insert_rows(engine, transaction_rows=[command(NOW)])
    assert incremental(engine, NOW + timedelta(seconds=30)) == compute_database_stats(engine, NOW + timedelta(seconds=30))
