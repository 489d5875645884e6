"""Rows at the ends of what the columns hold: amounts at either end of BIGINT, sums past 64 bits, rows
dated in the future or outside Python's datetimes. Figures stay computed and exact, never stale, on
SQLite and PostgreSQL, through the incremental stats the app runs and the reference alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from aurora.queries.day_glance import DayGlance, glance_of_refresh
from aurora.queries.hours import hour_breakdown
from aurora.queries.reference import compute_database_stats
from aurora.stats.model import iso_utc
from tests.openapi_check import assert_conforms, document
from tests.support import NOW, case, command, insert_rows, iso_z, transaction

pytestmark = pytest.mark.clock

LOWEST, HIGHEST = -(2**63), 2**63 - 1
HOUR = NOW.replace(minute=0, second=0, microsecond=0)
TARGET = HOUR - timedelta(hours=2)
AT = TARGET + timedelta(minutes=10)


def seed_extreme_amounts(engine) -> None:
    insert_rows(
        engine,
        transaction_rows=[
            transaction(AT, "TRANSFER_OUT", LOWEST),  # abs() of it is past BIGINT
            transaction(AT, "TRANSFER_OUT", -5),
            *(transaction(AT, "TRANSFER_IN", HIGHEST) for _ in range(3)),  # a sum past 64 bits
            transaction(AT, "SHOP_BUY", 900),
            # The 30-day baseline of the glance holds extremes too.
            *(transaction(HOUR - timedelta(days=days, hours=25), "TRANSFER_IN", HIGHEST) for days in range(1, 4)),
        ],
    )


def test_amounts_at_either_end_of_bigint_give_exact_coins_and_never_a_stale_answer(client, engine):
    seed_extreme_amounts(engine)
    response = client.get("/api/stats")
    assert response.status_code == 200
    body = json.loads(response.get_data())  # Python's parser keeps every digit, as a big-integer one does
    assert body["stale"] is False
    coins = {item["kind"]: item["coins"] for item in body["economy"]["byKind"]}
    assert coins == {"TRANSFER_IN": 3 * HIGHEST, "TRANSFER_OUT": 2**63 + 5, "SHOP_BUY": 900}
    assert coins["TRANSFER_IN"] > 2**64  # past 64 bits and still exact
    assert_conforms(document(), "/api/stats", "GET", status=200, headers=response.headers, body=response.get_data())

    hour = client.get(f"/api/activity/hours/{iso_z(TARGET)}")
    assert hour.status_code == 200
    transactions = json.loads(hour.get_data())["transactions"]
    assert transactions["coins"] == 3 * HIGHEST + 2**63 + 5 + 900
    assert {item["kind"]: item["coins"] for item in transactions["byKind"]} == coins
    assert client.get("/api/activity.csv").status_code == 200
    # Refreshes keep succeeding: the next one is not stale either.
    insert_rows(engine, transaction_rows=[transaction(NOW - timedelta(minutes=1), "TRANSFER_OUT", LOWEST)])
    assert client.get("/api/stats").get_json()["stale"] is False


def test_a_piece_of_extreme_amounts_sums_exactly_in_sql(engine):
    """The parts of |amount| summed by the database: far more rows than one 64-bit sum could take."""
    insert_rows(engine, transaction_rows=[transaction(AT, "TRANSFER_OUT", LOWEST) for _ in range(40)]
                + [transaction(AT, "TRANSFER_IN", HIGHEST) for _ in range(40)])
    with engine.connect() as conn:
        breakdown = hour_breakdown(conn, TARGET, NOW)
    assert {item.kind: item.coins for item in breakdown.transactions} == {
        "TRANSFER_OUT": 40 * 2**63, "TRANSFER_IN": 40 * HIGHEST}


def stored_as_text(engine, moment: str) -> None:
    """A transaction and a case at `moment` as the database stores it, written as text (no Python
    datetime holds some of them)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO transactions (amount, type, description, created_at) "
                          "VALUES (7, 'SHOP_BUY', NULL, :moment)"), {"moment": moment})
        conn.execute(text("INSERT INTO moderation_cases (case_id, type, user_id, username, moderator_id, "
                          "moderator_name, reason, active, created_at) "
                          "VALUES (:number, 'ban', 1, 'u', 2, 'm', 'r', true, :moment)"),
                     {"number": f"AT-{moment}", "moment": moment})


FUTURE = [datetime(2100, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]


def seed_past_and_future(engine) -> None:
    ahead_in_the_open_hour = NOW + (HOUR + timedelta(hours=1) - NOW) / 2
    insert_rows(
        engine,
        transaction_rows=[
            command(NOW - timedelta(minutes=5), "ping"),
            transaction(NOW - timedelta(minutes=6), "SHOP_BUY", 40),
            command(ahead_in_the_open_hour, "future"),
            transaction(ahead_in_the_open_hour, "SHOP_BUY", 1000),
            *(command(moment, "future") for moment in FUTURE),
            *(transaction(moment, "SHOP_BUY", 1000) for moment in FUTURE),
        ],
        case_rows=[case(NOW - timedelta(hours=1), "warn"), *(case(moment, "ban") for moment in FUTURE),
                   case(ahead_in_the_open_hour, "ban")],
    )
    if engine.dialect.name == "postgresql":
        # Years PostgreSQL holds and Python does not: past 9999, and before year 1 (0001 at +05:00).
        for moment in ("10000-01-01 00:00:00+00", "0001-01-01 00:00:00+05", "0001-01-01 00:00:00-05"):
            stored_as_text(engine, moment)
    else:
        for moment in ("10000-01-01 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"):
            stored_as_text(engine, moment)


def test_rows_dated_in_the_future_or_out_of_range_are_neither_events_nor_counted(client, engine):
    seed_past_and_future(engine)
    expected = compute_database_stats(engine, NOW)
    messages = [event.message for event in expected.recent_events]
    assert messages[:2] == ["Command /ping run", "Shop purchase: 40 coins"] and len(messages) == 3
    assert messages[2].startswith("Moderation case CASE-") and messages[2].endswith(": warn")
    assert all(FUTURE[0] > event.timestamp >= NOW - timedelta(hours=1) for event in expected.recent_events)
    assert expected.commands_24h == 1 and [(top.name, top.count) for top in expected.top_commands] == [("ping", 1)]
    assert (expected.activity[-1].commands, expected.activity[-1].transactions) == (1, 1)

    response = client.get("/api/stats")
    assert response.status_code == 200
    body = response.get_json()
    assert body["stale"] is False
    assert [event["timestamp"] for event in body["recentEvents"]] == [
        iso_utc(event.timestamp) for event in expected.recent_events]
    assert body["commands"]["total"] == 1
    assert body["activityOverview"][-1] == {"hour": iso_z(HOUR), "commands": 1, "transactions": 1}
    assert {item["kind"]: item["coins"] for item in body["economy"]["byKind"]} == {"SHOP_BUY": 40}
    assert body["moderation"]["byKind"] == [{"kind": "warn", "count": 1, "changePercentFromDailyMean": None}]
    csv = client.get("/api/activity.csv")
    assert csv.status_code == 200
    assert csv.get_data(as_text=True).splitlines()[-1] == f"{iso_z(HOUR)},1,1"

    open_hour = client.get(f"/api/activity/hours/{iso_z(HOUR)}").get_json()
    assert open_hour["commands"] == {"total": 1, "byName": [{"name": "ping", "count": 1}]}
    assert open_hour["transactions"]["byKind"] == [{"kind": "SHOP_BUY", "count": 1, "coins": 40}]
    assert open_hour["moderation"]["total"] == 0


def test_once_the_clock_reaches_a_row_dated_ahead_it_counts(engine):
    """Left out only until it happens: the glance's open hour is counted again as time moves."""
    ahead = NOW + timedelta(minutes=1)
    assert ahead < HOUR + timedelta(hours=1)  # NOW is at :37, whatever the date
    insert_rows(engine, transaction_rows=[transaction(ahead, "SHOP_BUY", 70)])
    glance = DayGlance()
    before = glance_of_refresh(glance, engine, NOW)
    assert before.transactions == ()
    after = glance_of_refresh(glance, engine, ahead)
    assert [(totals.kind, totals.count, totals.coins) for totals in after.transactions] == [("SHOP_BUY", 1, 70)]
    assert compute_database_stats(engine, ahead).activity[-1].transactions == 1
