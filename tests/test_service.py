"""The stats service: percent maths, the bot half, single-flight refresh and stale handling."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from aurora.cache import SnapshotCache
from aurora.db import create_db_engine
from aurora.models import BotSnapshot, DatabaseStats, ShardSnapshot
from aurora.service import StatsService, StatsUnavailable, combine, compute_database_stats, percent_change
from tests.support import NOW, command, insert_rows, user

pytestmark = pytest.mark.clock


@pytest.mark.parametrize(
    ("base", "current", "expected"),
    [(4, 7, 75.0), (3, 4, 33.3), (6, 7, 16.7), (8, 9, 12.5), (16, 17, 6.3), (40, 39, -2.5), (5, 5, 0.0), (0, 10, None)],
)
def test_percent_change_is_one_decimal_rounded_half_up(base, current, expected):
    assert percent_change(base, current) == expected


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def make_service(engine, clock, snapshots=None, **kwargs):
    return StatsService(engine, snapshots or SnapshotCache(clock), refresh_seconds=30, demo=False, clock=clock, **kwargs)


def test_disabled_bot_gives_null_discord_figures(engine):
    insert_rows(engine, user_rows=[user(NOW - timedelta(days=40)), user(NOW)])
    stats = make_service(engine, lambda: NOW).current()
    assert stats.bot.status == "disabled"
    assert stats.guild_count is None and stats.guild_change_from_last_month is None
    assert stats.ping_avg_ms is None and stats.ping_change_from_last_hour is None
    assert stats.active_users == 2
    assert stats.active_users_change_percent == 100.0


def test_commands_change_is_against_the_30_day_daily_mean(engine):
    rows = [command(NOW - timedelta(hours=1)) for _ in range(4)]
    rows += [command(NOW - timedelta(days=day)) for day in range(2, 17)]  # 15 runs: mean 0.5 a day
    insert_rows(engine, transaction_rows=rows)
    stats = make_service(engine, lambda: NOW).current()
    assert stats.commands_total == 4
    assert stats.commands_change_percent == 700.0


def test_bot_snapshot_figures_are_combined():
    snapshot = BotSnapshot(
        status="connected",
        taken_at=NOW,
        guild_count=12,
        guild_count_month_ago=9,
        ping_avg_ms=41.6,
        ping_previous_hour_avg_ms=50.2,
        started_at=NOW - timedelta(minutes=90),
        shards=(ShardSnapshot(0, "connected", 40.4), ShardSnapshot(1, "connected", 42.9)),
    )
    database = DatabaseStats(NOW, 5, 5, 0, 0, (), (), ())
    stats = combine(database, snapshot, demo=False, stale=False, stale_since=None)
    assert stats.guild_count == 12
    assert stats.guild_change_from_last_month == 3
    assert stats.ping_avg_ms == 42
    assert stats.ping_change_from_last_hour == -9
    assert stats.uptime_seconds == 5400


def test_concurrent_requests_share_one_refresh_per_interval(engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=5))])
    service = make_service(engine, clock)
    results = []
    barrier = threading.Barrier(16)

    def ask():
        barrier.wait()
        results.append(service.current().commands_total)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 16
    assert service.refresh_count == 1

    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
    clock.advance(seconds=29)
    assert service.current().commands_total == 1  # still inside the interval: cached
    assert service.refresh_count == 1

    clock.advance(seconds=1)
    first = service.current()  # due: answers at once with the cached stats, refreshes behind
    assert first.commands_total == 1
    assert wait_until(lambda: service.refresh_count == 2)
    assert service.current().commands_total == 2
    assert service.refresh_count == 2


def test_a_failed_refresh_serves_the_last_good_stats_marked_stale(engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=5))])
    service = make_service(engine, clock)
    good = service.current()
    assert not good.stale and good.stale_since is None

    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE transactions RENAME TO transactions_away"))
    clock.advance(seconds=31)
    service.current()
    assert wait_until(lambda: service.refresh_count == 2)
    stale = service.current()
    assert stale.stale
    assert stale.stale_since == good.generated_at
    assert stale.commands_total == 1

    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE transactions_away RENAME TO transactions"))
    clock.advance(seconds=5)
    service.current()
    assert wait_until(lambda: service.refresh_count == 3)
    fresh = service.current()
    assert not fresh.stale and fresh.stale_since is None


class HangingCompute:
    """compute_database_stats that hangs on chosen calls, like a database that stopped answering."""

    def __init__(self, hang_on_calls):
        self.calls = 0
        self.hang_on_calls = set(hang_on_calls)
        self.release = threading.Event()

    def __call__(self, engine, now):
        self.calls += 1
        if self.calls in self.hang_on_calls:
            self.release.wait(10)
        return compute_database_stats(engine, now)


def test_stats_turn_stale_when_refreshes_hang(engine, clock):
    compute = HangingCompute(hang_on_calls={2})
    service = make_service(engine, clock, compute=compute, refresh_deadline=timedelta(seconds=600))
    service.current()
    clock.advance(seconds=2 * 30 + 5)
    assert not service.current().stale  # exactly at the bound: not yet (the refresh now hangs)
    clock.advance(seconds=1)
    stale = service.current()
    assert stale.stale and stale.stale_since == NOW
    compute.release.set()


def test_a_hung_refresh_is_abandoned_and_retried(engine, clock):
    compute = HangingCompute(hang_on_calls={2})
    service = make_service(engine, clock, compute=compute, refresh_deadline=timedelta(seconds=10))
    service.current()
    clock.advance(seconds=30)
    service.current()  # starts refresh 2, which hangs
    assert wait_until(lambda: compute.calls == 2)
    clock.advance(seconds=10)
    service.current()  # within the deadline: still waiting for it
    assert compute.calls == 2
    clock.advance(seconds=1)
    assert service.current().stale  # abandoned: stale at once, and a new attempt starts
    assert wait_until(lambda: service.refresh_count == 2)
    fresh = service.current()
    assert not fresh.stale
    assert fresh.generated_at == clock()
    compute.release.set()
    assert wait_until(lambda: service.refresh_count == 3)
    assert service.current().generated_at == clock()  # the late, older result does not win


def test_no_stats_before_the_first_good_refresh(tmp_path, clock):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'aurora.db'}")
    service = make_service(engine, clock, first_result_wait=1.0)
    with pytest.raises(StatsUnavailable):
        service.current()


def test_database_stats_match_a_direct_computation(engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(hours=h)) for h in range(30)])
    service = make_service(engine, clock)
    assert service.database_stats() == compute_database_stats(engine, clock())
