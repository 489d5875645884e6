"""The database figures' refreshes behind the service: single flight, schedule, backoff, hung and stale."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from aurora.queries.reference import compute_database_stats
from aurora.stats.model import FiguresPreparing
from aurora.stats.refresh_schedule import StatsUnavailable
from aurora.storage.engine import create_db_engine
from tests.support import NOW, command, insert_rows

pytestmark = pytest.mark.clock


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_concurrent_requests_share_one_refresh_per_interval(make_service, engine, clock):
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


def test_a_failed_refresh_serves_the_last_good_stats_marked_stale(make_service, engine, clock):
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


def test_stats_turn_stale_when_a_refresh_overruns(make_service, engine, clock):
    compute = HangingCompute(hang_on_calls={2})
    service = make_service(engine, clock, compute=compute, refresh_deadline=timedelta(seconds=600))
    service.current()
    clock.advance(seconds=30)
    service.current()  # due: starts refresh 2, which hangs (the deadline is far)
    clock.advance(seconds=30 + 5)
    assert not service.current().stale  # awaited for interval + 5 s (figures 2 intervals + 5 s old): not yet
    clock.advance(seconds=1)
    stale = service.current()
    assert stale.stale and stale.stale_since == NOW
    compute.release.set()


def test_after_a_quiet_spell_the_first_answer_is_not_stale(make_service, engine, clock):
    """No refresh ran for an hour although the database is healthy (the schedule had not started,
    as before `start()`, or the process was suspended): the figures are old, not stale. The
    request starts the refresh that brings new ones."""
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=5))])
    service = make_service(engine, clock)
    assert service.current().commands_total == 1
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=4))])
    clock.advance(hours=1)
    first = service.current()
    assert not first.stale and first.stale_since is None
    assert first.generated_at == NOW  # the last figures, answered at once
    assert wait_until(lambda: service.refresh_count == 2)
    fresh = service.current()
    assert fresh.commands_total == 2 and fresh.generated_at == clock() and not fresh.stale


def test_a_failure_after_a_quiet_spell_is_stale_at_once(make_service, engine, clock):
    service = make_service(engine, clock)
    good = service.current()
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE transactions RENAME TO transactions_away"))
    clock.advance(hours=1)
    service.current()
    assert wait_until(lambda: service.refresh_count == 2)
    stale = service.current()
    assert stale.stale and stale.stale_since == good.generated_at
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE transactions_away RENAME TO transactions"))


def test_a_hung_refresh_is_abandoned_and_retried(make_service, engine, clock):
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


def test_no_stats_before_the_first_good_refresh(make_service, tmp_path, clock):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'aurora.db'}")
    service = make_service(engine, clock, first_result_wait=1.0)
    with pytest.raises(StatsUnavailable):
        service.current()


class FailingCompute:
    """A database that refuses every refresh; remembers when (by the service's clock) it was asked."""

    def __init__(self, clock):
        self.clock = clock
        self.asked_at = []

    def __call__(self, engine, now):
        self.asked_at.append(now)
        raise ConnectionError("database is down")


def seconds_between(moments) -> list[int]:
    return [int((later - earlier).total_seconds()) for earlier, later in itertools.pairwise(moments)]


def test_failing_refreshes_back_off_up_to_two_minutes(make_service, engine, clock):
    compute = FailingCompute(clock)
    service = make_service(engine, clock, compute=compute, first_result_wait=0)
    for _ in range(15 * 60):  # 15 minutes of requests, one a second
        with pytest.raises(StatsUnavailable):
            service.database_stats(wait_for_first=False)
        service.wait_idle()
        clock.advance(seconds=1)
    gaps = seconds_between(compute.asked_at)
    # The first retry after min(interval, 5 s), then doubling, capped at 2 minutes.
    assert gaps[:6] == [5, 10, 20, 40, 80, 120]
    assert set(gaps[5:]) == {120}


def test_the_first_retry_is_never_later_than_the_interval(make_service, engine, clock):
    compute = FailingCompute(clock)
    service = make_service(engine, clock, compute=compute, refresh_seconds=2, first_result_wait=0)
    for _ in range(20):
        with pytest.raises(StatsUnavailable):
            service.database_stats(wait_for_first=False)
        service.wait_idle()
        clock.advance(seconds=1)
    assert seconds_between(compute.asked_at)[:3] == [2, 4, 8]


class PreparingCompute:
    """Like a large database's first counts: a few calls that only make progress, then figures."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.calls = 0
        self.go_on = threading.Event()
        self.go_on.set()

    def __call__(self, engine, now):
        self.go_on.wait(10)
        self.calls += 1
        if self.steps:
            raise FiguresPreparing(self.steps.pop(0))
        return compute_database_stats(engine, now)


def test_while_the_first_figures_are_prepared_callers_get_the_progress(make_service, engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=5))])
    compute = PreparingCompute([0.25, 0.5, 0.75])
    compute.go_on.clear()  # hold the first step
    service = make_service(engine, clock, compute=compute, first_result_wait=0.2)
    with pytest.raises(StatsUnavailable) as first:
        service.current()
    assert first.value.progress is None  # nothing known yet
    compute.go_on.set()
    assert wait_until(lambda: compute.calls >= 1)
    seen = []
    # The steps follow each other at once, with no request and no clock movement.
    assert wait_until(lambda: _record_progress(service, seen))
    assert compute.calls == 4
    assert all(share in (0.25, 0.5, 0.75) for share in seen)
    assert service.current().commands_total == 1
    assert not service.current().stale


def test_the_first_request_waits_for_figures_that_take_a_few_steps(make_service, engine, clock):
    insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=5))])
    compute = PreparingCompute([0.3, 0.6])
    service = make_service(engine, clock, compute=compute, first_result_wait=4.5)
    assert service.current().commands_total == 1  # no 503 for a small database under load
    assert compute.calls == 3


def _record_progress(service, seen) -> bool:
    try:
        service.database_stats()
    except StatsUnavailable as unavailable:
        if unavailable.progress is not None:
            seen.append(unavailable.progress)
        return False
    return True


def test_figures_are_refreshed_on_schedule_without_requests(make_service, engine):
    """After a quiet spell the first answer is fresh: the schedule kept refreshing meanwhile."""
    started = time.monotonic()

    def real_time():  # follows the real clock from the fixed test moment
        return NOW + timedelta(seconds=time.monotonic() - started)

    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=5))])
    service = make_service(engine, real_time, refresh_seconds=1)
    service.start()
    assert wait_until(lambda: service.refresh_count >= 1)
    insert_rows(engine, transaction_rows=[command(NOW - timedelta(minutes=4))])
    assert wait_until(lambda: service.refresh_count >= 4, timeout=10)  # nobody asked meanwhile
    stats = service.current()  # answers from what the schedule computed, without waiting
    assert stats.commands_total == 2
    assert not stats.stale


def refresh_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "aurora-stats-refresh" and thread.is_alive()]


def test_a_silent_database_never_piles_up_refresh_threads(make_service, engine, clock):
    compute = HangingCompute(hang_on_calls=range(2, 1000))
    before = len(refresh_threads())
    service = make_service(engine, clock, compute=compute, refresh_deadline=timedelta(seconds=10))
    service.current()
    for _ in range(30):  # 30 deadlines long, asked every 10 s
        clock.advance(seconds=11)
        service.current_if_ready()
        time.sleep(0.01)
        assert len(refresh_threads()) - before <= 2  # one running, one given up on
    assert wait_until(lambda: compute.calls >= 3)
    assert compute.calls == 3
    stale = service.current()
    assert stale.stale
    compute.hang_on_calls = set()
    compute.release.set()
    assert wait_until(lambda: len(refresh_threads()) == before)
    clock.advance(seconds=121)
    service.current()
    assert wait_until(lambda: not service.current().stale)
