"""Every database figure of the contract, at its edges, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from aurora.queries.activity import activity_overview
from aurora.queries.counts import top_commands
from aurora.queries.events import recent_events
from aurora.queries.figure_definitions import activity_points, to_hourly_grid
from aurora.queries.reference import compute_database_stats
from tests.support import NOW, case, command, insert_rows, transaction, user

pytestmark = pytest.mark.clock

US = timedelta(microseconds=1)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def test_empty_database_gives_zeros_and_no_events(engine):
    stats = compute_database_stats(engine, NOW)
    assert stats.active_users == 0
    assert stats.active_users_month_ago == 0
    assert stats.commands_24h == 0
    assert stats.commands_previous_30_days == 0
    assert stats.recent_events == ()
    assert stats.top_commands == ()
    assert len(stats.activity) == 24
    assert all(point.commands == 0 and point.transactions == 0 for point in stats.activity)


def test_active_users_and_the_month_ago_base(engine):
    month_ago = NOW - timedelta(days=30)
    insert_rows(
        engine,
        user_rows=[
            *(user(NOW - timedelta(days=40)) for _ in range(3)),
            user(month_ago),  # exactly 30 days old: part of the base
            user(month_ago + US),  # a microsecond younger: not part of it
            user(NOW - timedelta(days=60), active=False),
            *(user(NOW - timedelta(days=1)) for _ in range(2)),
        ],
    )
    stats = compute_database_stats(engine, NOW)
    assert stats.active_users == 7
    assert stats.active_users_month_ago == 4


def test_commands_last_24_hours_and_the_30_day_baseline(engine):
    day_ago = NOW - timedelta(hours=24)
    insert_rows(
        engine,
        transaction_rows=[
            command(day_ago),  # exactly 24 h old: outside (now - 24 h, now] and outside the baseline
            command(day_ago + US),
            command(NOW),
            command(NOW + timedelta(seconds=1)),  # in the future: not counted
            command(NOW - timedelta(hours=1)),
            transaction(NOW - timedelta(hours=1)),  # not a command
            command(NOW - timedelta(days=31)),  # first moment of the baseline
            command(day_ago - US),  # last moment of the baseline
            command(NOW - timedelta(days=31) - US),  # just before it
            *(command(NOW - timedelta(days=10)) for _ in range(3)),
            transaction(NOW - timedelta(days=10), kind="SHOP_BUY"),
        ],
    )
    stats = compute_database_stats(engine, NOW)
    assert stats.commands_24h == 3
    assert stats.commands_previous_30_days == 5


def test_activity_has_24_hourly_points_with_exact_hour_edges(engine):
    first_hour = HOUR - timedelta(hours=23)
    insert_rows(
        engine,
        transaction_rows=[
            command(first_hour - US),  # before the window
            command(first_hour),
            transaction(first_hour + timedelta(minutes=30)),
            command(HOUR - US),  # last microsecond of the previous hour
            command(HOUR),
            command(NOW, name="balance"),
            transaction(NOW, kind="TRANSFER_OUT", amount=-40),
            transaction(HOUR + timedelta(hours=1)),  # next hour: outside
        ],
    )
    points = activity_overview_for(engine)
    assert [point.hour for point in points] == [first_hour + timedelta(hours=i) for i in range(24)]
    assert all(point.hour.tzinfo is not None and point.hour.utcoffset() == timedelta(0) for point in points)
    assert (points[0].commands, points[0].transactions) == (1, 1)
    assert (points[22].commands, points[22].transactions) == (1, 0)
    assert (points[23].commands, points[23].transactions) == (2, 1)
    assert sum(point.commands for point in points[1:22]) == 0
    assert sum(point.transactions for point in points[1:22]) == 0


def activity_overview_for(engine):
    with engine.connect() as conn:
        return activity_overview(conn, NOW)


def test_the_hourly_grid_resamples_into_hours_and_zero_fills_the_24_of_the_window():
    """The one gridding both the reference and the incremental stats go through: a pandas resample."""
    first_hour = HOUR - timedelta(hours=23)
    counts = [
        (HOUR, 2, 0),
        (HOUR, 0, 3),  # the same hour again (commands and other rows counted apart): summed
        (HOUR + timedelta(minutes=59, seconds=59), 4, 1),  # within the hour: resampled into it
        (HOUR + timedelta(minutes=30), -4, -1),  # taken off the hour (rows dated after now)
        (f"{first_hour:%Y-%m-%d %H:%M:%S}", 1, 4),  # an hour as SQLite's text of it
        (first_hour + timedelta(hours=5, minutes=1), 6, 0),
        (first_hour - US, 5, 5),  # before the window
        (HOUR + timedelta(hours=1), 7, 7),  # after it
    ]
    points = activity_points(to_hourly_grid(counts, NOW))
    assert [point.hour for point in points] == [first_hour + timedelta(hours=i) for i in range(24)]
    assert [(point.commands, point.transactions) for point in points] == [
        (1, 4), *[(0, 0)] * 4, (6, 0), *[(0, 0)] * 17, (2, 3)]
    assert [(point.commands, point.transactions) for point in activity_points(to_hourly_grid([], NOW))] == [(0, 0)] * 24


def test_recent_events_are_the_ten_newest_across_both_tables(engine):
    rows = [transaction(NOW - timedelta(minutes=minute), user_id=400_000_000_000_000_123) for minute in range(1, 9)]
    rows.append(command(NOW - timedelta(seconds=30), name="balance", user_id=400_000_000_000_000_124))
    rows.append(transaction(NOW - timedelta(minutes=20), kind="SHOP_BUY", amount=1500))
    cases = [
        case(NOW - timedelta(seconds=10), kind="ban", username="VerySecretName", reason="private reason"),
        case(NOW - timedelta(minutes=4, seconds=30), kind="timeout"),
        case(NOW - timedelta(hours=5)),
    ]
    insert_rows(engine, transaction_rows=rows, case_rows=cases)
    with engine.connect() as conn:
        events = recent_events(conn, NOW)
    assert len(events) == 10
    assert [event.timestamp for event in events] == sorted((event.timestamp for event in events), reverse=True)
    assert events[0].kind == "error"
    assert events[0].message == f"Moderation case {cases[0]['case_id']}: ban"
    assert events[1].kind == "info"
    assert events[1].message == "Command /balance run"
    assert events[2].kind == "success"
    assert events[2].message == "Daily reward claimed: 250 coins"
    assert any(event.message == f"Moderation case {cases[1]['case_id']}: timeout" for event in events)
    joined = " ".join(event.message for event in events)
    for secret in ("VerySecretName", "private reason", "moderator", "400000000000000", "offender"):
        assert secret not in joined


@pytest.mark.parametrize(
    ("kind", "amount", "description", "expected"),
    [
        ("COMMAND_RUN", 0, "ping", ("info", "Command /ping run")),
        ("COMMAND_RUN", 0, None, ("info", "Command run")),
        ("DAILY_REWARD", 1, None, ("success", "Daily reward claimed: 1 coin")),
        ("TRANSFER_IN", 12000, "from a friend", ("success", "Transfer received: 12,000 coins")),
        ("TRANSFER_OUT", -300, "to someone", ("success", "Transfer sent: 300 coins")),
        ("SHOP_BUY", 500, "a hat", ("success", "Shop purchase: 500 coins")),
        ("LOTTERY_WIN", 77, "secret note", ("success", "Transaction LOTTERY_WIN: 77 coins")),
    ],
)
def test_transaction_wording_never_includes_free_text(engine, kind, amount, description, expected):
    insert_rows(engine, transaction_rows=[transaction(NOW, kind=kind, amount=amount, description=description)])
    with engine.connect() as conn:
        (event,) = recent_events(conn, NOW)
    assert (event.kind, event.message) == expected
    assert event.timestamp == NOW


def test_top_commands_counts_the_last_24_hours_by_name(engine):
    rows = []
    for index, name in enumerate(["ping", "balance", "stats", "daily", "shop", "help", "a", "b", "c", "d", "e", "f"]):
        rows += [command(NOW - timedelta(minutes=5 + index), name=name) for _ in range(12 - index)]
    rows += [command(NOW - timedelta(hours=25), name="f") for _ in range(50)]  # too old
    rows += [command(NOW - timedelta(minutes=1), name="e")]  # now ties with "d" at 3 runs
    insert_rows(engine, transaction_rows=rows)
    with engine.connect() as conn:
        top = top_commands(conn, NOW)
    # "d" and "e" tie at 3 runs: names break the tie, so "e" is the 11th and left out.
    assert [(item.name, item.count) for item in top] == [
        ("ping", 12), ("balance", 11), ("stats", 10), ("daily", 9), ("shop", 8),
        ("help", 7), ("a", 6), ("b", 5), ("c", 4), ("d", 3),
    ]


def test_timestamps_are_utc_whatever_the_session_time_zone(engine):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=1))])
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TIME ZONE 'America/New_York'"))
        (event,) = recent_events(conn, NOW)
    assert event.timestamp == NOW - timedelta(minutes=1)
    assert event.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_rows_written_by_other_programs_are_read_correctly(engine):
    now = NOW.replace(minute=0, second=0, microsecond=0)  # a whole second: no fraction

    def written(moment: datetime, fraction: str = "") -> str:
        return f"{moment:%Y-%m-%d %H:%M:%S}{fraction}"

    statements = [
        (written(now - timedelta(days=1)), "COMMAND_RUN"),  # exactly 24 h old: not in the last day
        (written(now - timedelta(days=1), ".000001"), "COMMAND_RUN"),
        (written(now), "COMMAND_RUN"),  # exactly now: in the last day, in the last hour point
        (written(now - timedelta(seconds=1), ".999999"), "DAILY_REWARD"),
        (written(now - timedelta(days=31)), "COMMAND_RUN"),  # exactly 31 days old: first moment of the baseline
        (written(now - timedelta(days=31, seconds=1)), "COMMAND_RUN"),  # before it
        (written(now - timedelta(hours=23)), "COMMAND_RUN"),  # first moment of the activity window
    ]
    with engine.begin() as conn:
        for created_at, kind in statements:
            conn.execute(
                text("INSERT INTO transactions (amount, type, description, created_at) VALUES (0, :kind, 'x', :at)"),
                {"kind": kind, "at": created_at},
            )
        conn.execute(
            text("INSERT INTO users (id, username, is_active, balance, created_at) VALUES (1, 'u', 1, 0, :at)"),
            {"at": written(now - timedelta(days=30))},  # exactly 30 days before now: in the month-ago base
        )
    stats = compute_database_stats(engine, now)
    assert stats.commands_24h == 3
    assert stats.commands_previous_30_days == 1
    assert stats.active_users_month_ago == 1
    assert stats.activity[0].hour == now - timedelta(hours=23)
    assert stats.activity[0].commands == 1
    assert (stats.activity[22].commands, stats.activity[22].transactions) == (0, 1)
    assert stats.activity[23].commands == 1
