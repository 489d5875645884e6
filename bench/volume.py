"""Any volume: the dashboard of a busy bot (1M transactions a day), measured side by side in one run.

    python -m bench.volume                    # 1M rows a day, 35 days (generated on first use, ~4 min)
    python -m bench.volume --per-day 100k     # a smaller bot

1. First figures: the stats service as the app runs it (its background schedule, `IncrementalStats`,
   the 5 s statement timeout), started on the busy history while a writer adds the bot's rows in
   real time: seconds until the first figures exist (target <= 120 s), refreshes that failed,
   statements PostgreSQL cancelled (its log, our backends only) and the longest statement.
2. Steady state: 30 minutes simulated with the injected clock, refreshes 30 s apart, the rows of
   each 30 s (at the same daily volume) written before each refresh. Per refresh: PostgreSQL CPU
   (the backends' utime+stime) and wall time, split into the steady work (new rows, the hour that
   opens, the figures) and the spread reconcile (a share of the hours counted again, the users'
   walk). The plain definitions run at three moments of the same run on their own engine without
   the statement timeout (they would be cancelled with it), and their figures must equal ours.
3. The day at a glance (economy and moderation by kind, `aurora.queries.day_glance`), which the app
   computes beside those figures at each refresh: how many refreshes its first fill takes and the
   longest of them, then its cost per refresh over the same 30 minutes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import event

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.queries.aggregates import STEP_SECONDS, IncrementalStats
from aurora.queries.day_glance import DayGlance, glance_of_refresh
from aurora.queries.reference import compute_database_stats
from aurora.stats.model import FiguresPreparing
from aurora.stats.service import StatsService
from aurora.storage.engine import create_db_engine
from bench.common import Result, format_table
from bench.daily_volume import VOLUMES, ensure_busy_dataset
from bench.generate import POSTGRES_URL, remove_appended_rows
from bench.pg_cost import (
    BackendCpu,
    PhaseMeter,
    StatementLog,
    cancelled_statements,
    log_offset,
    steady_and_reconcile,
)
from bench.refresh import STEP, append_rows

SIMULATED = timedelta(minutes=30)
PLAIN_AT_STEPS = (20, 40, 60)
FIRST_FIGURES_LIMIT_SECONDS = 120
WRITER_TICK_SECONDS = 0.5


@dataclass(frozen=True)
class GlanceCost:
    fill_calls: int
    fill_longest: float  # seconds, the longest refresh's glance during the first fill
    per_refresh: list[tuple[float, float]]  # (PostgreSQL CPU, wall) seconds per steady refresh


def _timed(cpu: BackendCpu, call, *args) -> tuple[object, float, float]:
    cpu_before, wall_before = cpu.seconds(), time.perf_counter()
    result = call(*args)
    return result, cpu.seconds() - cpu_before, time.perf_counter() - wall_before


@dataclass(frozen=True)
class FirstFigures:
    seconds: float
    steps: int
    failures: int


class _CountingCompute:
    def __init__(self, inner) -> None:
        self.inner, self.steps, self.failures = inner, 0, 0

    def __call__(self, engine, now):
        self.steps += 1
        try:
            return self.inner(engine, now)
        except FiguresPreparing:
            raise
        except Exception:
            self.failures += 1
            raise


def _first_figures(engine, writer_engine, dataset, incremental, rng) -> FirstFigures:
    """The service from start to first figures, with the bot's rows arriving in real time."""
    started = time.monotonic()

    def clock():  # the history's end, moving with real time
        return dataset.data_end + timedelta(seconds=time.monotonic() - started)

    stop = threading.Event()

    def write_live_rows():
        written_until, tick = clock(), 1_000_000
        while not stop.wait(WRITER_TICK_SECONDS):
            now = clock()
            append_rows(writer_engine, rng, written_until, tick, per_day=dataset.per_day, span=now - written_until)
            written_until, tick = now, tick + 1

    compute = _CountingCompute(incremental)
    service = StatsService(engine, SnapshotCache(clock), refresh_seconds=30, demo=False, clock=clock, compute=compute)
    writer = threading.Thread(target=write_live_rows, name="bench-writer", daemon=True)
    writer.start()
    service.start()
    try:
        while service.current_if_ready() is None:
            if time.monotonic() - started > 10 * FIRST_FIGURES_LIMIT_SECONDS:
                raise RuntimeError("no figures after 20 minutes")
            time.sleep(0.05)
        return FirstFigures(time.monotonic() - started, compute.steps, compute.failures)
    finally:
        stop.set()
        writer.join()
        service.close()


def _engine(url: str, *settings: str):
    """The app's engine (5 s statement timeout, UTC) with these session settings on top."""
    engine = create_db_engine(url)

    @event.listens_for(engine, "connect")
    def _session(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for setting in settings:
            cursor.execute(setting)
        cursor.close()
        dbapi_connection.commit()

    return engine


# A parallel plan's workers are processes of their own, invisible to a per-backend CPU reading:
# the sessions whose CPU is measured plan serially (the plain definitions' big scans would
# otherwise run in three processes; ours never plan parallel work at this size anyway).
SERIAL = "SET max_parallel_workers_per_gather = 0"
# The plain definitions' statements take seconds at this volume; with the app's 5 s timeout they
# would be cancelled and measure nothing.
NO_TIMEOUT = "SET statement_timeout = 0"


def run(per_day: str = "1m", days: int = 35, base_url: str = POSTGRES_URL) -> list[Result]:
    dataset = ensure_busy_dataset(per_day, days, base_url=base_url)
    # The dashboard's engine is measured; the bot's writes and the plain definitions have their own:
    # the plain definitions' CPU is read from a serial session, their wall time as the app runs them.
    engine, writer = _engine(dataset.url, SERIAL), create_db_engine(dataset.url)
    plain_engine, plain_wall_engine = _engine(dataset.url, SERIAL, NO_TIMEOUT), _engine(dataset.url, NO_TIMEOUT)
    cpu, plain_cpu, statements = BackendCpu(engine), BackendCpu(plain_engine), StatementLog(engine)
    rng = np.random.default_rng(11)
    try:
        remove_appended_rows(writer, dataset)
        offset = log_offset()
        meter = PhaseMeter(cpu)
        incremental = IncrementalStats(observe=meter)
        first = _first_figures(engine, writer, dataset, incremental, rng)
        meter.take()
        # From the moment the service stopped: refreshes 30 s apart by the injected clock.
        now = dataset.data_end + timedelta(seconds=first.seconds + 1)
        glance, fill_calls, fill_longest = DayGlance(), 0, 0.0
        while True:  # the glance's first fill, refresh by refresh as the app makes them
            fill_calls += 1
            filled, _, wall = _timed(cpu, glance_of_refresh, glance, engine, now)
            fill_longest = max(fill_longest, wall)
            if filled is not None:
                break
        meter.take()
        steady, reconcile, whole_wall, plain, exact, glance_costs = [], [], [], [], True, []
        for step_number in range(int(SIMULATED / STEP)):
            append_rows(writer, rng, now, step_number, per_day=dataset.per_day)
            now += STEP
            wall_started = time.perf_counter()
            result = incremental(engine, now)
            whole_wall.append(time.perf_counter() - wall_started)
            steady_part, reconcile_part = steady_and_reconcile(meter.take())
            steady.append(steady_part)
            reconcile.append(reconcile_part)
            _, glance_cpu, glance_wall = _timed(cpu, glance, engine, now)
            glance_costs.append((glance_cpu, glance_wall))
            if step_number + 1 in PLAIN_AT_STEPS:
                wall_started = time.perf_counter()
                expected = compute_database_stats(plain_wall_engine, now)
                wall = time.perf_counter() - wall_started
                cpu_before = plain_cpu.seconds()
                exact = exact and result == expected == compute_database_stats(plain_engine, now)
                plain.append((wall, plain_cpu.seconds() - cpu_before))
        cancelled = cancelled_statements(offset, cpu.pids)
    finally:
        remove_appended_rows(writer, dataset)
        for each in (engine, writer, plain_engine, plain_wall_engine):
            each.dispose()
    print(f"bench.volume: longest statement {1000 * statements.longest:.0f} ms: {statements.longest_sql}",
          file=sys.stderr)
    glance_cost = GlanceCost(fill_calls, fill_longest, glance_costs)
    return _results(dataset.label, first, steady, reconcile, plain, exact, cancelled, statements, glance_cost)


def _ms(values: list[float]) -> float:
    return 1000 * statistics.fmean(values)


def _results(label, first, steady, reconcile, plain, exact, cancelled, statements, glance) -> list[Result]:
    plain_wall = 1000 * statistics.median(wall for wall, _ in plain)
    plain_cpu = 1000 * statistics.median(cpu for _, cpu in plain)
    steady_cpu, steady_wall = _ms([cpu for _, cpu in steady]), _ms([wall for wall, _ in steady])
    reconcile_cpu, reconcile_wall = _ms([cpu for _, cpu in reconcile]), _ms([wall for wall, _ in reconcile])
    return [
        Result(f"V1. first figures after start, {label}/day, writes going on (s)", first.seconds, None, "s",
               f"<= {FIRST_FIGURES_LIMIT_SECONDS}", limit=FIRST_FIGURES_LIMIT_SECONDS),
        Result(f"    calls until then (each <= {STEP_SECONDS:.0f} s of counting)", first.steps,
               None, "", ""),
        Result("    refreshes that failed", first.failures, None, "", "= 0", limit=0),
        Result("    statements cancelled by the timeout (PostgreSQL log)", cancelled, None, "", "= 0", limit=0)
        if cancelled is not None else Result("    PostgreSQL log not readable here: cancellations unknown", 0, None, "", ""),
        Result(f"    longest statement of {statements.count:,} vs the 5 s timeout (ms)", 1000 * statements.longest,
               5000, "ms", "<= 0.2", limit=0.2),
        Result(f"V2. steady refresh vs plain definitions, PostgreSQL CPU, {label}/day (ms)", steady_cpu, plain_cpu,
               "ms", "<= 0.05", limit=0.05),
        Result("    steady refresh vs plain definitions, wall time (ms)", steady_wall, plain_wall, "ms", "<= 0.05",
               limit=0.05),
        Result("    reconcile, averaged over 30 min of refreshes, PostgreSQL CPU (ms)", reconcile_cpu, plain_cpu,
               "ms", ""),
        Result("    reconcile, averaged over 30 min of refreshes, wall time (ms)", reconcile_wall, plain_wall, "ms", ""),
        Result("    refresh equals plain definitions at 3 moments (1 = yes)", float(exact), None, "", "= 1", limit=1,
               higher_is_better=True),
        Result("G. the glance's first fill: refreshes until it is in", glance.fill_calls, None, "", ""),
        Result("   its longest refresh (ms)", 1000 * glance.fill_longest, None, "ms", ""),
        Result("   the glance per refresh vs plain definitions, PostgreSQL CPU (ms)",
               _ms([cpu for cpu, _ in glance.per_refresh]), plain_cpu, "ms", ""),
        Result("   the glance per refresh vs plain definitions, wall time (ms)",
               _ms([wall for _, wall in glance.per_refresh]), plain_wall, "ms", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.volume", description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", default="1m", choices=sorted(VOLUMES, key=VOLUMES.get))
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    print(format_table(run(args.per_day, args.days, args.postgres_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
