"""Targets 1 and 2: the steady-state stats refresh against the plain-SQL definitions, and its growth.

    python -m bench.refresh --size 10m --small 1m

The clock starts at the end of the generated history and moves 30 s per refresh; before each
refresh the rows of those 30 s are inserted (same daily volume as the history), as a live bot
would. The first call (the full reconcile) is reported on its own; the figure is the median of
the refreshes after it. The plain definitions (`compute_database_stats`) are timed on the same
database at the same moment, and the last incremental result is checked equal to them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import insert

from aurora.aggregates import IncrementalStats
from aurora.db import COMMAND_RUN, create_db_engine, moderation_cases, transactions, users
from aurora.service import compute_database_stats
from bench.common import Result, format_table
from bench.generate import COMMAND_NAMES, ROWS_PER_DAY, Dataset, ensure_dataset, remove_appended_rows

STEP = timedelta(seconds=30)


@dataclass(frozen=True)
class RefreshTimes:
    dataset: Dataset
    steady_ms: float
    reconcile_ms: float
    plain_ms: float
    exact: bool


def _append_rows(engine, rng: np.random.Generator, start, step_number: int) -> None:
    """The rows a live bot writes in one STEP after `start`, at the history's daily volume."""
    count = rng.poisson(ROWS_PER_DAY * STEP.total_seconds() / 86_400)
    moments = sorted(start + timedelta(microseconds=int(offset)) for offset in rng.integers(1, 30_000_000, count))
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
                                          "is_active": True, "balance": 0, "created_at": start + STEP / 2}])
        if step_number % 10 == 0:
            conn.execute(insert(moderation_cases), [{
                "case_id": f"BENCH-{step_number}", "type": "warn", "user_id": 1, "username": "u",
                "moderator_id": 2, "moderator_name": "m", "reason": "r", "created_at": start + STEP / 3}])


def _timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args)
    return (time.perf_counter() - started) * 1000, value


def measure(dataset: Dataset, *, refreshes: int, plain_runs: int) -> RefreshTimes:
    engine = create_db_engine(dataset.url)
    rng = np.random.default_rng(7)
    try:
        remove_appended_rows(engine, dataset)
        incremental = IncrementalStats()
        now = dataset.data_end + timedelta(seconds=1)
        compute_database_stats(engine, now)  # warm the caches for both sides alike
        reconcile_ms, _ = _timed(incremental, engine, now)
        steady = []
        for step_number in range(refreshes):
            _append_rows(engine, rng, now, step_number)
            now += STEP
            elapsed, result = _timed(incremental, engine, now)
            steady.append(elapsed)
        if incremental.reconcile_count != 1:
            raise RuntimeError("a reconcile ran inside the steady-state run; shorten it")
        plain = []
        for _ in range(plain_runs):
            elapsed, expected = _timed(compute_database_stats, engine, now)
            plain.append(elapsed)
        return RefreshTimes(dataset, statistics.median(steady), reconcile_ms, statistics.median(plain),
                            exact=result == expected)
    finally:
        remove_appended_rows(engine, dataset)
        engine.dispose()


def results(large: RefreshTimes, small: RefreshTimes | None) -> list[Result]:
    label = large.dataset.label
    rows = [
        Result(f"1. steady refresh vs plain SQL, {label} (ms)", large.steady_ms, large.plain_ms, "ms",
               "<= 0.05", limit=0.05),
        Result(f"   full reconcile, every 10 min, {label} (ms)", large.reconcile_ms, large.plain_ms, "ms", ""),
        Result(f"   refresh equals plain SQL, {label} (1 = yes)", float(large.exact), None, "", "= 1",
               limit=1, higher_is_better=True),
    ]
    if small is not None:
        rows.append(Result(f"2. growth: steady refresh {label} vs {small.dataset.label} (ms)", large.steady_ms,
                           small.steady_ms, "ms", "<= 1.3", limit=1.3))
    return rows


def run(size: str, small_size: str | None, *, refreshes: int = 19, plain_runs: int = 5) -> list[Result]:
    large = measure(ensure_dataset(size), refreshes=refreshes, plain_runs=plain_runs)
    small = measure(ensure_dataset(small_size), refreshes=refreshes, plain_runs=plain_runs) if small_size else None
    return results(large, small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh", description="targets 1 and 2")
    parser.add_argument("--size", default="10m")
    parser.add_argument("--small", default="1m", help="the size the growth is measured against ('' for none)")
    args = parser.parse_args(argv)
    print(format_table(run(args.size, args.small or None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
