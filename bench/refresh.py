"""Targets 1 and 2: the steady-state stats refresh against the plain-SQL definitions, and its growth.

    python -m bench.refresh --size 10m --small 1m

The clock starts at the end of the generated history and moves 30 s per refresh; before each
refresh the rows of those 30 s are inserted (same daily volume as the history), as a live bot
would. The first figures (the ledger built in pieces, over as many calls as it takes) are reported
on their own (and those of the day at a glance, `aurora.queries.day_glance`, which the app adds to each
refresh: its per-refresh cost is its own row). Each refresh after them is split (`IncrementalStats(observe=...)`) into the steady
work, whose median is the figure, and its share of the spread reconcile, averaged over the run
(19 refreshes by default: about one reconcile period). The steady work's CPU, this process's and
PostgreSQL's backends' together, averaged over the run, is the figure to compare on a busy machine. The plain definitions (`compute_database_stats`) are
timed on the same database at the same moment, and the last incremental result is checked equal
to them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import insert

from aurora.queries.aggregates import IncrementalStats
from aurora.queries.day_glance import DayGlance
from aurora.queries.reference import compute_database_stats
from aurora.stats.model import FiguresPreparing
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import COMMAND_RUN, moderation_cases, transactions, users
from bench.common import Result, format_table
from bench.generate import (
    COMMAND_NAMES,
    POSTGRES_URL,
    ROWS_PER_DAY,
    Dataset,
    ensure_dataset,
    remove_appended_rows,
)
from bench.pg_cost import BackendCpu, PhaseMeter, steady_and_reconcile

STEP = timedelta(seconds=30)
REFRESHES = 19  # about one reconcile period


@dataclass(frozen=True)
class RefreshTimes:
    dataset: Dataset
    steady_ms: float
    steady_cpu_ms: float  # CPU of the steady work per refresh, this process's and PostgreSQL's, averaged
    reconcile_ms: float  # the reconcile's share of each refresh, averaged
    build_ms: float
    build_calls: int
    plain_ms: float
    exact: bool
    glance_ms: float  # the day at a glance per refresh (aurora.queries.day_glance), median
    glance_build_ms: float  # its first figures, over as many calls as they took
    glance_build_calls: int


def append_rows(engine, rng: np.random.Generator, start, step_number: int, *, per_day: float = ROWS_PER_DAY,
                span: timedelta = STEP) -> None:
    """The rows a live bot writes in `span` after `start` at `per_day` rows a day (and a user every
    4th, a moderation case every 10th step); `step_number` must differ from call to call."""
    count = rng.poisson(per_day * span.total_seconds() / 86_400)
    span_us = max(2, int(span / timedelta(microseconds=1)))
    moments = sorted(start + timedelta(microseconds=int(offset)) for offset in rng.integers(1, span_us, count))
    rows = [
        {"user_id": None, "amount": 0, "type": COMMAND_RUN, "description": COMMAND_NAMES[int(rng.integers(0, 5))],
         "created_at": moment}
        if rng.random() < 0.7 else
        {"user_id": None, "amount": 250, "type": "DAILY_REWARD", "description": None, "created_at": moment}
        for moment in moments
    ]
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(transactions), rows)
        if step_number % 4 == 0:
            conn.execute(insert(users), [{"id": 900_000_000_000_000_000 + step_number, "username": "new",
                                          "is_active": True, "balance": 0, "created_at": start + span / 2}])
        if step_number % 10 == 0:
            conn.execute(insert(moderation_cases), [{
                "case_id": f"BENCH-{step_number}", "type": "warn", "user_id": 1, "username": "u",
                "moderator_id": 2, "moderator_name": "m", "reason": "r", "created_at": start + span / 3}])


def _timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args)
    return (time.perf_counter() - started) * 1000, value


def first_figures(incremental: IncrementalStats, engine, now) -> tuple[float, int]:
    """Milliseconds spent in calls until the first figures, and how many calls that took."""
    spent, calls = 0.0, 0
    while True:
        calls += 1
        started = time.perf_counter()
        try:
            incremental(engine, now)
            return spent + (time.perf_counter() - started) * 1000, calls
        except FiguresPreparing:
            spent += (time.perf_counter() - started) * 1000


def first_glance(glance: DayGlance, engine, now) -> tuple[float, int]:
    """Milliseconds spent in calls until the glance's first figures, and how many calls that took."""
    spent, calls = 0.0, 0
    while True:
        calls += 1
        elapsed, figures = _timed(glance, engine, now)
        spent += elapsed
        if figures is not None:
            return spent, calls


def measure(dataset: Dataset, *, refreshes: int, plain_runs: int) -> RefreshTimes:
    engine = create_db_engine(dataset.url)
    rng = np.random.default_rng(7)
    meter = PhaseMeter(BackendCpu(engine), with_app_cpu=True)
    try:
        remove_appended_rows(engine, dataset)
        incremental = IncrementalStats(observe=meter)
        now = dataset.data_end + timedelta(seconds=1)
        compute_database_stats(engine, now)  # warm the caches for both sides alike
        build_ms, build_calls = first_figures(incremental, engine, now)
        meter.take()
        glance = DayGlance()
        glance_build_ms, glance_build_calls = first_glance(glance, engine, now)
        steady, steady_cpu, reconcile, glance_steady = [], [], [], []
        for step_number in range(refreshes):
            append_rows(engine, rng, now, step_number)
            now += STEP
            result = incremental(engine, now)
            (steady_wall, steady_seconds), (reconcile_wall, _) = steady_and_reconcile(meter.take())
            steady.append(steady_wall * 1000)
            steady_cpu.append(steady_seconds * 1000)
            reconcile.append(reconcile_wall * 1000)
            glance_steady.append(_timed(glance, engine, now)[0])
        plain = []
        for _ in range(plain_runs):
            elapsed, expected = _timed(compute_database_stats, engine, now)
            plain.append(elapsed)
        # CPU is averaged, not a median: PostgreSQL's share comes in clock ticks (10 ms), summed over the run.
        return RefreshTimes(dataset, statistics.median(steady), statistics.fmean(steady_cpu),
                            statistics.fmean(reconcile), build_ms, build_calls,
                            statistics.median(plain), exact=result == expected,
                            glance_ms=statistics.median(glance_steady), glance_build_ms=glance_build_ms,
                            glance_build_calls=glance_build_calls)
    finally:
        remove_appended_rows(engine, dataset)
        engine.dispose()


def results(large: RefreshTimes, small: RefreshTimes | None) -> list[Result]:
    label = large.dataset.label
    rows = [
        Result(f"1. steady refresh vs plain SQL, {label} (ms)", large.steady_ms, large.plain_ms, "ms",
               "<= 0.05", limit=0.05),
        Result(f"   steady refresh CPU, app + PostgreSQL, averaged, {label} (ms)", large.steady_cpu_ms,
               large.plain_ms, "ms", ""),
        Result(f"   reconcile share per refresh, averaged, {label} (ms)", large.reconcile_ms, large.plain_ms, "ms",
               ""),
        Result(f"   first figures, {large.build_calls} calls, {label} (ms)", large.build_ms, large.plain_ms, "ms",
               ""),
        Result(f"   refresh equals plain SQL, {label} (1 = yes)", float(large.exact), None, "", "= 1",
               limit=1, higher_is_better=True),
        Result(f"   day at a glance per refresh, median, {label} (ms)", large.glance_ms, large.plain_ms, "ms", ""),
        Result(f"   day at a glance, first figures, {large.glance_build_calls} calls, {label} (ms)",
               large.glance_build_ms, large.plain_ms, "ms", ""),
    ]
    if small is not None:
        rows.append(Result(f"2. growth: steady refresh {label} vs {small.dataset.label} (ms)", large.steady_ms,
                           small.steady_ms, "ms", "<= 1.3", limit=1.3))
    return rows


def run(size: str, small_size: str | None, *, refreshes: int = REFRESHES, plain_runs: int = 5,
        base_url: str = POSTGRES_URL) -> list[Result]:
    large = measure(ensure_dataset(size, base_url=base_url), refreshes=refreshes, plain_runs=plain_runs)
    small = (measure(ensure_dataset(small_size, base_url=base_url), refreshes=refreshes, plain_runs=plain_runs)
             if small_size else None)
    return results(large, small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh", description="targets 1 and 2")
    parser.add_argument("--size", default="10m")
    parser.add_argument("--small", default="1m", help="the size the growth is measured against ('' for none)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server and database for the data sets")
    parser.add_argument("--refreshes", type=int, default=REFRESHES, help="steady refreshes measured")
    args = parser.parse_args(argv)
    print(format_table(run(args.size, args.small or None, refreshes=args.refreshes, base_url=args.postgres_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
