"""Bot health's plain parts: histogram percentiles, the 24-h window, Discord's clock offset and
the interaction tracker, without a bot."""

from __future__ import annotations

import random
import tracemalloc
from datetime import datetime, timedelta
from email.utils import format_datetime

import numpy
import pytest
from discord.utils import time_snowflake

from aurora.bot.command_health import histogram
from aurora.bot.command_health.discord_time import DiscordTime
from aurora.bot.command_health.monitor import CommandHealthMonitor
from aurora.bot.command_health.slots import SLOTS_KEPT, Run, SlotData, slot_of
from aurora.bot.command_health.tracker import InteractionTracker
from aurora.bot.command_health.window import HealthWindow
from tests.support import NOW, FrozenClock, run_in_own_loop

pytestmark = pytest.mark.clock


def widest_around(value: float) -> float:
    """The width of the bucket `value` falls in and of its neighbours (an estimate between two
    ranks may lean on either side's bucket)."""
    bucket = histogram.bucket_of(value)
    widths = [upper - lower for lower, upper in map(histogram.edges, range(max(0, bucket - 1), bucket + 2))
              if bucket + 2 <= histogram.BUCKETS]
    return max(widths or [histogram.BOUNDS_MS[-1]])


@pytest.mark.parametrize("seed", range(6))
def test_percentiles_equal_numpys_within_a_buckets_width(seed):
    draw = random.Random(seed)
    samples = [draw.lognormvariate(5.5, 1.1) for _ in range(draw.choice([1, 2, 7, 50, 500, 5000]))]
    counts = [0] * histogram.BUCKETS
    for sample in samples:
        counts[histogram.bucket_of(sample)] += 1
    for q in (50, 95, 99):
        expected = float(numpy.percentile(samples, q))
        assert abs(histogram.percentile(counts, q) - expected) <= widest_around(expected), (q, expected)


def test_no_samples_no_percentile_and_the_overflow_answers_the_last_bound():
    assert histogram.percentile([0] * histogram.BUCKETS, 95) is None
    counts = [0] * histogram.BUCKETS
    counts[histogram.bucket_of(10**9)] = 3
    assert histogram.percentile(counts, 99) == histogram.BOUNDS_MS[-1]


def run(name="ping", end_ms=120.0, ack_ms=80.0, failed=False, late=False) -> Run:
    return Run(name=name, kind="slash", end_ms=end_ms, ack_ms=ack_ms, failed=failed, late=late)


def test_the_window_keeps_24_hours_in_5_minute_slots():
    clock = FrozenClock()
    window = HealthWindow(clock())
    window.add_run(clock(), run(late=True))
    clock.advance(hours=23, minutes=50)
    window.add_run(clock(), run(end_ms=900, failed=True))
    health = window.summary(clock())
    (row,) = health.commands
    assert (row.runs, row.failures, row.late) == (2, 1, 1)
    assert health.late_last_hour == 0 and health.late_total == 1
    # The line's 24 clock hours end with the current one: the first run's hour, 24 h ago, is not among them.
    assert [hour.hour for hour in health.hours] == [
        clock().replace(minute=0, second=0, microsecond=0) - timedelta(hours=back) for back in range(23, -1, -1)
    ]
    assert sum(hour.runs for hour in health.hours) == 1
    clock.advance(minutes=15)  # the first run's slot has left the window
    (row,) = window.summary(clock()).commands
    assert (row.runs, row.failures, row.late) == (1, 1, 0)
    assert row.recent_runs == 0  # 15 minutes after it
    assert window.summary(clock()).lifetime[0].bucket_counts[histogram.bucket_of(120)] == 1  # since start


def test_the_last_15_minutes_and_the_hour_are_exact_slots():
    clock = FrozenClock()
    window = HealthWindow(clock())
    for _ in range(20):
        window.add_run(clock(), run(end_ms=2600, late=True))
    health = window.summary(clock())
    assert health.commands[0].recent_runs == 20 and health.commands[0].recent_p95_ms > 2500
    assert health.late_last_hour == 20


def test_connected_share_counts_the_time_between_connect_and_disconnect():
    clock = FrozenClock()
    window = HealthWindow(clock())
    window.connected(clock())
    clock.advance(minutes=45)
    window.disconnected(clock())
    clock.advance(minutes=15)
    window.count(clock(), "reconnects")
    gateway = window.summary(clock()).gateway
    assert gateway.connected_share == pytest.approx(0.75)
    assert gateway.reconnects == 1


def test_connected_share_counts_from_the_first_connection_not_over_24_hours():
    clock = FrozenClock()
    window = HealthWindow(clock())
    clock.advance(minutes=2)  # logging in
    assert window.summary(clock()).gateway.connected_share is None  # nothing known yet, not 0 %
    window.connected(clock())
    clock.advance(minutes=1)
    assert window.summary(clock()).gateway.connected_share == pytest.approx(1.0)
    clock.advance(hours=30)
    assert window.summary(clock()).gateway.connected_share == pytest.approx(1.0)


def test_connected_share_after_a_restart_with_history_counts_the_gap_as_disconnected():
    clock = FrozenClock()
    before = HealthWindow(clock())
    before.connected(clock())
    clock.advance(hours=1)
    before.disconnected(clock())
    clock.advance(hours=1)  # the restart's gap
    window = HealthWindow(clock())
    for slot, data in before.take_unsaved().items():
        window.merge(slot, data, {})
    window.since = before.since
    window.connected(clock())
    assert window.summary(clock()).gateway.connected_share == pytest.approx(0.5)


def stopwatch_of(clock: FrozenClock):
    """A stopwatch that runs with the test clock: here the app's clock and Discord's agree."""
    return lambda: clock().timestamp()


def test_10000_runs_keep_memory_flat():
    clock = FrozenClock()
    window = HealthWindow(clock())
    tracker = InteractionTracker(window, clock, stopwatch=stopwatch_of(clock))
    names = ["ping", "stats", "balance"]

    def feed(count: int) -> None:
        for i in range(count):
            moment = clock() - timedelta(milliseconds=300)
            iid = time_snowflake(moment) + i % 4096
            tracker.received(iid, names[i % 3], "slash")
            tracker.ack_leaving(iid)
            tracker.ack_answered(iid, 200)
            tracker.finished(iid, failed=i % 50 == 0)
            clock.advance(seconds=17)  # 10,000 runs span two days: slots come and go
            window.take_unsaved()

    tracemalloc.start()  # before the window fills: slots freed later must be ones it traced
    feed(6000)  # a full window first: 24 h of slots
    window.summary(clock())
    before = tracemalloc.take_snapshot()
    feed(10_000)
    window.summary(clock())
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 64 * 1024, f"{grown} bytes more after 10,000 runs"
    assert len(window._slots) <= SLOTS_KEPT
    assert sum(row.runs for row in window.summary(clock()).commands) <= SLOTS_KEPT * 5 * 60 // 17 + 3


def http_date(moment) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def test_discords_clock_is_read_through_the_stopwatch_from_date_headers():
    reading = 5000.0  # seconds on the stopwatch, which says nothing of the date
    discords = NOW + timedelta(seconds=42.3)  # Discord's time at that reading
    estimate = DiscordTime()
    assert estimate.at(reading) is None and not estimate.known
    for _ in range(40):
        sent = reading
        reading += 0.07
        discords += timedelta(milliseconds=70)
        estimate.observe(sent, reading, http_date(discords - timedelta(milliseconds=35)))
        reading += 0.23
        discords += timedelta(milliseconds=230)
    assert abs((estimate.at(reading) - discords).total_seconds()) < 0.2
    estimate.observe(reading, reading, "not a date")  # ignored
    assert abs((estimate.at(reading) - discords).total_seconds()) < 0.2


def test_an_ack_that_left_after_3_seconds_of_discords_time_is_late():
    clock = FrozenClock()
    window = HealthWindow(clock())
    stopwatch = stopwatch_of(clock)
    tracker = InteractionTracker(window, clock, stopwatch=stopwatch)
    # Our clock is 10 s behind Discord's: without the offset, 3.5 s would look like -6.5 s.
    tracker.discord_time.observe(stopwatch(), stopwatch(), http_date(clock() + timedelta(seconds=10, milliseconds=500)))
    created = clock() + timedelta(seconds=10)
    prompt, slow = time_snowflake(created), time_snowflake(created) + 1
    for iid in (prompt, slow):
        tracker.received(iid, "stats", "slash")
    tracker.ack_leaving(prompt)
    tracker.ack_answered(prompt, 200)
    clock.advance(seconds=3, milliseconds=500)
    tracker.ack_leaving(slow)
    tracker.ack_answered(slow, 200)
    tracker.finished(prompt, failed=False)
    tracker.finished(slow, failed=False)
    tracker.finished(slow, failed=True)  # counted once
    (row,) = window.summary(clock()).commands
    assert (row.runs, row.late, row.failures) == (2, 1, 0)
    assert row.ack_p95_ms > 3000


def test_unknown_interaction_and_no_answer_are_late_and_a_component_ends_with_its_answer():
    clock = FrozenClock()
    window = HealthWindow(clock())
    stopwatch = stopwatch_of(clock)
    tracker = InteractionTracker(window, clock, stopwatch=stopwatch)
    refused, silent, button = (time_snowflake(clock()) + n for n in range(3))
    tracker.discord_time.observe(stopwatch(), stopwatch(), http_date(clock()))
    tracker.received(refused, "ping", "slash")
    tracker.ack_leaving(refused)
    tracker.ack_answered(refused, 404)
    tracker.finished(refused, failed=True)
    tracker.received(silent, "ping", "slash")
    tracker.finished(silent, failed=False)
    tracker.ack_leaving(button)  # the answer may leave before the listener has run
    tracker.received(button, "(buttons)", "button")
    tracker.ack_answered(button, 200)
    rows = {row.name: row for row in window.summary(clock()).commands}
    assert (rows["ping"].runs, rows["ping"].late, rows["ping"].failures) == (2, 2, 1)
    assert (rows["(buttons)"].runs, rows["(buttons)"].late, rows["(buttons)"].kind) == (1, 0, "button")


def test_an_interaction_never_ended_is_counted_when_its_token_expires():
    clock = FrozenClock()
    window = HealthWindow(clock())
    stopwatch = stopwatch_of(clock)
    tracker = InteractionTracker(window, clock, stopwatch=stopwatch)
    tracker.discord_time.observe(stopwatch(), stopwatch(), http_date(clock()))
    iid = time_snowflake(clock())
    tracker.received(iid, "stats", "slash")
    tracker.sweep()
    assert window.summary(clock()).commands == ()
    clock.advance(minutes=16)
    tracker.sweep()
    (row,) = window.summary(clock()).commands
    assert (row.runs, row.failures, row.late) == (1, 1, 1)


class Stopwatch:
    def __init__(self) -> None:
        self.reading = 1000.0

    def __call__(self) -> float:
        return self.reading


def test_answer_times_are_on_discords_clock_whatever_the_apps_clock_says():
    app_clock = FrozenClock(NOW + timedelta(days=365))  # a year off Discord's, and standing still
    stopwatch = Stopwatch()
    window = HealthWindow(app_clock())
    tracker = InteractionTracker(window, app_clock, stopwatch=stopwatch)

    def discords_time() -> datetime:
        return NOW + timedelta(seconds=stopwatch.reading - 1000)

    prompt = time_snowflake(discords_time())
    slow = prompt + 1
    for iid in (prompt, slow):
        tracker.received(iid, "stats", "slash")
    tracker.sweep()  # before Discord's first Date nothing is taken for expired, however far off the app's clock
    assert window.summary(app_clock()).commands == ()

    def answer(iid: int) -> None:
        tracker.ack_leaving(iid)
        sent = stopwatch.reading
        stopwatch.reading += 0.05
        tracker.discord_time.observe(sent, stopwatch.reading, http_date(discords_time() - timedelta(milliseconds=20)))
        tracker.ack_answered(iid, 200)

    stopwatch.reading += 0.3
    answer(prompt)
    stopwatch.reading += 3.2  # the app's clock has not moved, Discord's has
    answer(slow)
    tracker.finished(prompt, failed=False)
    tracker.finished(slow, failed=False)
    (row,) = window.summary(app_clock()).commands
    assert (row.runs, row.late, row.failures) == (2, 1, 0)
    assert 3000 < row.ack_p95_ms


class KeptWindow:
    """A store holding one earlier run of /ping."""

    def __init__(self) -> None:
        self.loads = 0

    def load(self, now):
        self.loads += 1
        kept = SlotData()
        kept.counts("ping").add_run(Run("ping", "slash", end_ms=120, ack_ms=40, failed=False, late=False))
        return now - timedelta(hours=1), {slot_of(now) - 1: (kept, {"ping": "slash"})}

    def save(self, unsaved, kinds, since) -> bool:
        return True


def test_the_store_is_read_once_however_many_clients_load_the_monitor():
    clock = FrozenClock()
    store = KeptWindow()
    monitor = CommandHealthMonitor(clock, store)
    for _ in range(3):  # each new login's client loads its cogs again
        run_in_own_loop(monitor.load())
    (row,) = monitor.window.summary(clock()).commands
    assert (row.name, row.runs, store.loads) == ("ping", 1, 1)
