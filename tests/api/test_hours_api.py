"""`/api/activity/hours/<hour>` and the day at a glance in `/api/stats`, on SQLite and PostgreSQL,
against known rows: the numbers, the errors, the shared rate-limit budget, and the document."""

from __future__ import annotations

import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import event

from aurora.queries.day_glance import (
    FIRST_FILL_BUDGETS_PER_REFRESH,
    DayGlance,
    glance_of_refresh,
    with_day_glance,
)
from aurora.queries.reference import compute_database_stats
from aurora.stats.hour_address import BreakdownUnavailable, MalformedHour, parse_hour
from aurora.stats.hours import HourBreakdowns
from aurora.storage.tables import moderation_cases, transactions
from tests.openapi_check import assert_conforms, document
from tests.support import NOW, case, command, insert_rows, iso_z, transaction

pytestmark = pytest.mark.clock

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
TARGET = HOUR - timedelta(hours=3)  # an hour of the last 24, closed
DAY = timedelta(days=1)
PATH = "/api/activity/hours/{hour}"
SECRET_USER_ID = 400_000_000_000_777_001


def seed(engine) -> None:
    at = TARGET + timedelta(minutes=10)
    insert_rows(
        engine,
        transaction_rows=[
            *(command(at, "ping", user_id=SECRET_USER_ID) for _ in range(3)),
            command(at, "balance"),
            command(at, None),
            transaction(at, "DAILY_REWARD", 250),
            transaction(at, "DAILY_REWARD", 250),
            transaction(at, "SHOP_BUY", 900),
            transaction(at, "TRANSFER_OUT", -100, description="to SecretUsername"),
            # The hour's edges: the first microsecond is in, the next hour's first is not.
            command(TARGET, "ping"),
            command(TARGET + timedelta(hours=1), "ping"),
            # The same hour on the days before: 1 day (2 commands, 1 other row), 3 days (4), 7 days (3 others).
            command(at - DAY),
            command(at - DAY),
            transaction(at - DAY),
            *(command(at - 3 * DAY) for _ in range(4)),
            *(transaction(at - 7 * DAY) for _ in range(3)),
            command(at - 8 * DAY),  # too far back
            # The baseline of the glance: 30 SHOP_BUY of 300 coins, one a day, and 15 bans.
            *(transaction(HOUR - timedelta(days=days, hours=25), "SHOP_BUY", 300) for days in range(30)),
        ],
        case_rows=[
            case(at, "ban", reason="SecretReason"),
            case(at, "warn"),
            case(at, "warn"),
            *(case(HOUR - timedelta(days=days, hours=25), "ban") for days in range(15)),
        ],
    )


def test_an_hour_breakdown_counts_the_seeded_rows(client, engine):
    seed(engine)
    response = client.get(f"/api/activity/hours/{iso_z(TARGET)}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["hour"] == iso_z(TARGET)
    assert body["commands"] == {
        "total": 6,
        "byName": [{"name": "ping", "count": 4}, {"name": "balance", "count": 1}],
    }
    assert body["transactions"] == {
        "total": 4,
        "coins": 1500,
        "byKind": [
            {"kind": "DAILY_REWARD", "count": 2, "coins": 500},
            {"kind": "SHOP_BUY", "count": 1, "coins": 900},
            {"kind": "TRANSFER_OUT", "count": 1, "coins": 100},
        ],
    }
    assert body["moderation"] == {
        "total": 3,
        "byKind": [{"kind": "warn", "count": 2}, {"kind": "ban", "count": 1}],
    }
    # The earlier days in summary only (per day 0, 0, 0, 0, 4, 0, 2 commands and 3, 0, 0, 0, 0, 0, 1
    # transactions): no series of the days before the last 24 hours.
    assert body["sameHourPreviousDays"] == {
        "commands": {"mean": 0.86, "min": 0, "max": 4},
        "transactions": {"mean": 0.57, "min": 0, "max": 3},
    }
    assert_conforms(document(), PATH, "GET", status=200, headers=response.headers, body=response.get_data())
    text = response.get_data(as_text=True)
    for secret in ("SecretUsername", "SecretReason", str(SECRET_USER_ID), "offender", "moderator"):
        assert secret not in text
    assert not re.search(r"\d{17,20}", text)
    # Written without seconds (as the page's address does), it is the same hour.
    assert client.get(f"/api/activity/hours/{TARGET:%Y-%m-%dT%H:00Z}").get_json() == body


@pytest.mark.parametrize(
    ("hour", "status"),
    [
        ("yesterday", 400),
        (f"{TARGET:%Y-%m-%dT%H}:30:00Z", 400),  # not on the hour
        (f"{TARGET:%Y-%m-%dT%H}:00:00+00:00", 400),
        (f"{TARGET:%Y-%m-%d %H}:00:00Z", 400),
        (iso_z(HOUR - timedelta(hours=24)), 404),  # the hour before the 24
        (iso_z(HOUR + timedelta(hours=1)), 404),  # not begun yet
        ("2026-02-30T10:00:00Z", 404),  # well-formed, but no such moment
        (quote(iso_z(TARGET) + "\n"), 400),  # a trailing newline is not part of an hour
    ],
)
def test_a_malformed_or_out_of_range_hour_is_a_json_error(client, hour, status):
    response = client.get(f"/api/activity/hours/{hour}")
    assert response.status_code == status
    assert response.get_json()["error"]["status"] == status
    assert_conforms(
        document(), PATH, "GET", status=status, headers=response.headers, body=response.get_data()
    )


@pytest.mark.parametrize("digits", ["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"])
def test_an_hour_in_other_digits_than_ascii_ones_is_malformed(digits):
    text = iso_z(TARGET)  # the date and hour in other digits (the minutes are written out in the pattern)
    with pytest.raises(MalformedHour):
        parse_hour(text[:13].translate(str.maketrans("0123456789", digits)) + text[13:])


def test_the_open_hour_and_the_oldest_have_breakdowns_and_a_query_parameter_is_refused(client, engine):
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=1))])
    assert client.get(f"/api/activity/hours/{iso_z(HOUR)}").get_json()["commands"]["total"] == 1
    assert client.get(f"/api/activity/hours/{iso_z(HOUR - timedelta(hours=23))}").status_code == 200
    refused = client.get(f"/api/activity/hours/{iso_z(HOUR)}?hour=1")
    assert refused.status_code == 400 and "hour" in refused.get_json()["error"]["message"]


def test_the_hour_route_shares_the_apis_rate_limit_budget(make_app):
    client = make_app(rate_limit="3/minute").server.test_client()
    statuses = [
        client.get("/api/stats").status_code,
        client.get(f"/api/activity/hours/{iso_z(HOUR)}").status_code,
        client.get("/api/openapi.json").status_code,
    ]
    refused = client.get(f"/api/activity/hours/{iso_z(HOUR)}")
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert refused.get_json()["error"]["status"] == 429 and "Retry-After" in refused.headers


def test_stats_carry_the_economy_and_moderation_against_the_30_day_mean(client, engine):
    seed(engine)
    body = client.get("/api/stats").get_json()
    economy = body["economy"]
    # 4 daily rewards of 250 in the 30 days before (the same-hour rows): a mean of 33.3 coins a day.
    assert economy["earned"] == {"coins": 500, "changePercentFromDailyMean": 1400.0}
    assert economy["spent"] == {"coins": 900, "changePercentFromDailyMean": 200.0}  # mean 300 a day
    assert economy["transferred"] == {"coins": 0, "changePercentFromDailyMean": None}
    assert [(kind["kind"], kind["count"], kind["coins"]) for kind in economy["byKind"]] == [
        ("DAILY_REWARD", 2, 500),
        ("SHOP_BUY", 1, 900),
        ("TRANSFER_OUT", 1, 100),
    ]
    assert body["moderation"]["total"] == {"count": 3, "changePercentFromDailyMean": 500.0}  # mean 0.5 a day
    assert body["moderation"]["byKind"] == [
        {"kind": "warn", "count": 2, "changePercentFromDailyMean": None},
        {"kind": "ban", "count": 1, "changePercentFromDailyMean": 100.0},
    ]


def test_the_glance_means_and_the_hour_breakdown_agree(engine):
    seed(engine)
    glance = with_day_glance(compute_database_stats, DayGlance())(engine, NOW).glance
    same_hour = {totals.hour: totals for totals in glance.same_hour}
    assert len(same_hour) == 24
    assert (same_hour[TARGET].commands, same_hour[TARGET].transactions) == (6, 4)  # sums over the 7 days
    assert round(same_hour[TARGET].commands_mean, 2) == 0.86


def test_the_glance_waits_for_every_hour_and_counts_a_busy_history_over_several_calls(engine):
    seed(engine)
    glance = DayGlance(rows_per_call=1)  # one day of hours per call at most
    calls = 1
    while glance(engine, NOW) is None:
        calls += 1
    assert calls > 10
    # Then each refresh counts the open hour again: a new row shows at once.
    insert_rows(engine, transaction_rows=[transaction(NOW, "SHOP_BUY", 50)])
    later = glance(engine, NOW + timedelta(seconds=30))
    assert {totals.kind: totals.coins for totals in later.transactions}["SHOP_BUY"] == 950


def test_while_first_counted_a_refresh_gives_the_glance_several_budgets(engine):
    seed(engine)
    alone, calls = DayGlance(rows_per_call=1), 1
    while alone(engine, NOW) is None:
        calls += 1
    glance, refreshes = DayGlance(rows_per_call=1), 1
    while (day := glance_of_refresh(glance, engine, NOW)) is None:
        refreshes += 1
    assert refreshes == math.ceil(calls / FIRST_FILL_BUDGETS_PER_REFRESH)
    assert day == alone(engine, NOW)


def test_a_deleted_row_leaves_the_glance_within_the_reconcile_period(engine):
    seed(engine)
    glance = DayGlance(reconcile_every=timedelta(minutes=10))
    def baseline(figures):
        return {totals.kind: totals.baseline_count for totals in figures.cases}

    assert baseline(glance(engine, NOW)) == {"warn": 0, "ban": 15}
    with engine.begin() as conn:
        conn.execute(moderation_cases.delete().where(moderation_cases.c.created_at < HOUR - timedelta(hours=24)))
    assert baseline(glance(engine, NOW + timedelta(seconds=30))) == {"warn": 0, "ban": 15}  # not counted again yet
    assert baseline(glance(engine, NOW + timedelta(minutes=10, seconds=30))) == {"warn": 0, "ban": 0}


BUSY_HOURS = (HOUR - timedelta(days=12, hours=5), HOUR - timedelta(days=3), TARGET)


def seed_busy_hours(engine) -> None:
    """Rows spread over two busy hours of the baseline and one of the 24."""
    insert_rows(
        engine,
        transaction_rows=[
            transaction(hour + timedelta(seconds=index * 17), ("SHOP_BUY", "DAILY_REWARD")[index % 2], index)
            for hour in BUSY_HOURS
            for index in range(60)
        ],
        case_rows=[case(hour + timedelta(minutes=index), ("warn", "ban")[index % 2]) for hour in BUSY_HOURS for index in range(20)],
    )


def test_the_glance_reads_at_most_its_budget_per_refresh_even_inside_one_busy_hour(engine):
    seed(engine)
    seed_busy_hours(engine)
    expected = DayGlance()(engine, NOW)
    # Pieces of at most 5 rows, at most 20 rows a refresh: each busy hour takes several refreshes.
    glance = DayGlance(rows_per_call=20, rows_per_statement=5)
    reads = []
    while (figures := glance(engine, NOW)) is None:
        reads.append(glance.read)
        assert len(reads) < 500
    reads.append(glance.read)
    assert max(reads) <= 20 + 5 and sum(reads) >= 60 * 3 + 20 * 3
    assert figures == expected  # ranges counted over several refreshes add up to the same


def test_the_reconcile_counts_kinds_again_only_for_hours_whose_counts_changed(engine):
    seed(engine)
    seed_busy_hours(engine)
    glance = DayGlance(reconcile_every=timedelta(minutes=10))
    assert glance(engine, NOW) is not None
    grouped: list[tuple] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if "kind" in statement:  # the kinds-per-hour statements; the checks count without grouping by kind
            grouped.append(parameters)

    event.listen(engine, "before_cursor_execute", record)
    later = NOW + timedelta(minutes=10, seconds=30)  # every kept hour is due for its check
    assert glance(engine, later) is not None
    unchanged = len(grouped)
    assert unchanged <= 4  # the settling hours' only (the open one and the one before), for each table
    with engine.begin() as conn:
        first = BUSY_HOURS[0]
        conn.execute(transactions.delete().where(transactions.c.created_at.between(first, first + timedelta(minutes=5))))
    grouped.clear()
    figures = glance(engine, later + timedelta(minutes=10, seconds=30))
    assert 0 < len(grouped) - unchanged <= 2  # one hour changed: counted again, for each table
    assert figures == DayGlance()(engine, later + timedelta(minutes=10, seconds=30))


def test_a_refresh_whose_predecessor_still_counts_serves_the_last_glance(engine):
    seed(engine)
    glance = DayGlance()
    first = glance(engine, NOW)
    with glance._lock:  # a call given up on, still holding it
        assert glance(engine, NOW + timedelta(seconds=30)) is first


def held_statements(engine) -> tuple[threading.Event, list[int]]:
    """Every statement on `engine` waits until the returned event is set (a database that does not
    answer); the list gets the id of each thread that ran one."""
    release, runners = threading.Event(), []

    def hold(*_arguments):
        runners.append(threading.get_ident())
        release.wait(10)

    event.listen(engine, "before_cursor_execute", hold)
    return release, runners


def test_callers_asking_for_an_hour_being_counted_share_one_count(engine, clock):
    insert_rows(engine, transaction_rows=[command(TARGET + timedelta(minutes=5), "ping")])
    breakdowns = HourBreakdowns(engine, clock)
    release, runners = held_statements(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = [pool.submit(breakdowns.breakdown, TARGET) for _ in range(4)]
        # Each caller counting on its own would show up here as a thread running statements.
        for _ in range(100):
            if len(set(runners)) == 4:
                break
            threading.Event().wait(0.01)
        release.set()
        results = [answer.result(timeout=10) for answer in answers]
    assert len(set(runners)) == 1
    assert {result.commands_total for result in results} == {1} and all(r is results[0] for r in results)


def test_an_hour_not_counted_within_the_budget_is_unavailable_and_kept_once_counted(engine, clock):
    insert_rows(engine, transaction_rows=[command(TARGET + timedelta(minutes=5), "ping")])
    breakdowns = HourBreakdowns(engine, clock, budget=timedelta(seconds=0.2))
    release, runners = held_statements(engine)
    with pytest.raises(BreakdownUnavailable):
        breakdowns.breakdown(TARGET)
    release.set()
    # The count went on: once done, it is what the next caller gets, without counting again.
    for _ in range(500):
        try:
            assert breakdowns.breakdown(TARGET).commands_total == 1
            break
        except BreakdownUnavailable:
            continue
    else:
        raise AssertionError("the count never finished")
    counted = len(runners)
    assert breakdowns.breakdown(TARGET).commands_total == 1 and len(runners) == counted
