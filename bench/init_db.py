"""`app.py init-db` on a live database while the bot writes: what it builds and how long that
takes, what the writer's inserts cost before and during the build, the same writer during a plain
`CREATE INDEX` (what init-db used to run), and how long a second run takes.

    python -m bench.init_db                 # live_10m: 10M transactions, 1M users, 100k cases
    python -m bench.init_db --size 100k     # a quick run

The database is `bench.live_db`'s copy with someone else's index names. Each run first drops the
indexes init-db then has to build — `transactions(type, created_at)` (10M rows, the table the bot
writes to) and `users(created_at, is_active)` — and the rows earlier runs appended. A writer
thread inserts one `transactions` row per transaction at a steady rate through the app's own
engine (5 s statement timeout) for the whole run: first alone (the baseline), then while
`python app.py init-db` runs as a subprocess exactly as the README says, then during a second
(no-op) run, then during a plain `CREATE INDEX` of the same columns. As the first run and the
plain build start, another session holds a writer transaction open for a few seconds (a slow bot
transaction): the concurrent build waits for it without making the writer wait; a plain build
queues behind it and the writer behind the plain build. Latencies of each window are measured
side by side in this one run. Before the first run and after the last, the dashboard's steady
refresh is timed (PostgreSQL CPU of its backend, from /proc): what the missing indexes cost.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import create_engine, insert, text

from aurora.queries.aggregates import IncrementalStats
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import COMMAND_RUN, metadata, transactions
from bench.common import ROOT, Result, print_results
from bench.generate import Dataset, remove_appended_rows
from bench.live_db import FOREIGN_INDEXES, ensure_live_dataset
from bench.pg_cost import BackendCpu, PhaseMeter, steady_and_reconcile
from bench.refresh import first_figures

# What init-db has to build here: the foreign index on the bot's table is dropped, and
# users(created_at, is_active) is missing from such databases to begin with.
DROPPED_FOREIGN = ("transactions_type_created_at_idx",)
PLAIN_INDEX = "bench_plain_type_created_at"
CREATED_LINE = re.compile(r"^created: (\S+\(.*?\)) as (\S+) in ([\d.]+) s$", re.MULTILINE)
DONE_LINE = re.compile(r"^init-db done in ([\d.]+) s", re.MULTILINE)
REFRESHES = 15  # 30 s apart


@dataclass
class Writer:
    """Inserts one row per transaction at `rate` per second; keeps (start, latency, ok) of each."""

    engine: object
    dataset: Dataset
    rate: float
    samples: list[tuple[float, float, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        interval = 1 / self.rate
        next_at = time.monotonic()
        number = 0
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                number += 1
                row = {"amount": 0, "type": COMMAND_RUN, "description": "bench",
                       "created_at": self.dataset.data_end + timedelta(milliseconds=number)}
                started = time.monotonic()
                try:
                    conn.execute(insert(transactions), row)
                    conn.commit()
                    ok = True
                except Exception:  # a statement timeout or a lost connection: counted as a failed insert
                    conn.rollback()
                    ok = False
                self.samples.append((started, time.monotonic() - started, ok))
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def window(self, low: float, high: float) -> list[tuple[float, bool]]:
        return [(latency, ok) for started, latency, ok in self.samples if low <= started < high]


def _slow_transaction(engine, dataset: Dataset, seconds: float) -> threading.Thread:
    """A writer transaction that stays open `seconds` (a slow bot transaction); started before return."""
    opened = threading.Event()

    def hold() -> None:
        with engine.connect() as conn:
            conn.execute(insert(transactions), {"amount": 0, "type": COMMAND_RUN, "description": "slow",
                                                "created_at": dataset.data_end + timedelta(days=1)})
            opened.set()
            time.sleep(seconds)
            conn.commit()

    thread = threading.Thread(target=hold, name="bench slow transaction", daemon=True)
    thread.start()
    opened.wait()
    return thread


def _refresh_cost(dataset: Dataset, refreshes: int = REFRESHES) -> tuple[float, float]:
    """(PostgreSQL CPU ms, wall ms) per steady refresh of the dashboard's incremental stats: the
    steady work of each refresh, without its share of the spread reconcile (see bench.refresh)."""
    engine = create_db_engine(dataset.url)
    meter = PhaseMeter(BackendCpu(engine))
    try:
        stats = IncrementalStats(observe=meter)
        now = dataset.data_end + timedelta(seconds=1)
        first_figures(stats, engine, now)  # the first counts; the steady refreshes follow
        meter.take()
        cpu = wall = 0.0
        for _ in range(refreshes):
            now += timedelta(seconds=30)
            stats(engine, now)
            (steady_wall, steady_cpu), _ = steady_and_reconcile(meter.take())
            cpu, wall = cpu + steady_cpu, wall + steady_wall
        return cpu * 1000 / refreshes, wall * 1000 / refreshes
    finally:
        engine.dispose()


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) >= 2 else max(latencies, default=0.0)


def _remove_writer_rows(engine, dataset: Dataset) -> None:
    """Delete the rows the writer appended and vacuum them away: dead rows at the newest end of the
    indexes would otherwise cost every refresh that reads from that end."""
    remove_appended_rows(engine, dataset)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM transactions"))


def _reset(engine, dataset: Dataset) -> None:
    """The state before init-db: someone else's indexes minus those init-db must build, no appended rows."""
    _remove_writer_rows(engine, dataset)
    ours = [index.name for table in metadata.tables.values() for index in table.indexes]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        preparer = conn.dialect.identifier_preparer
        for name in [*ours, *DROPPED_FOREIGN, PLAIN_INDEX]:
            conn.execute(text(f"DROP INDEX IF EXISTS {preparer.quote(name)}"))
        for name, (table, columns) in FOREIGN_INDEXES.items():
            if name not in DROPPED_FOREIGN:
                keys = ", ".join(preparer.quote(column) for column in columns)
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS {preparer.quote(name)} ON {preparer.quote(table)} ({keys})"))
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("SELECT count(*) FROM transactions"))  # the table in the OS cache, as on a live server


def _init_db(dataset: Dataset) -> tuple[float, float, str]:
    """`python app.py init-db` as the README runs it: (start, end, its output)."""
    env = {**os.environ, "DATABASE_URL": dataset.url}
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "app.py", "init-db"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=7200)
    ended = time.monotonic()
    if completed.returncode != 0:
        raise RuntimeError(f"init-db failed ({completed.returncode}): {completed.stderr.strip()}")
    return started, ended, completed.stdout


def run(size: str = "10m", rate: float = 50.0, baseline_seconds: float = 15.0, slow_seconds: float = 3.0) -> list[Result]:
    dataset = ensure_live_dataset(size)
    admin = create_engine(dataset.url)
    app_engine = create_db_engine(dataset.url)
    try:
        _reset(admin, dataset)
        refresh_before = _refresh_cost(dataset)
        writer = Writer(app_engine, dataset, rate)
        thread = threading.Thread(target=writer.run, name="bench writer", daemon=True)
        thread.start()
        begun = time.monotonic()
        time.sleep(baseline_seconds)
        slow = _slow_transaction(admin, dataset, slow_seconds)
        first_start, first_end, first_output = _init_db(dataset)
        slow.join()
        print(first_output, end="", file=sys.stderr, flush=True)
        second_start, second_end, second_output = _init_db(dataset)
        print(second_output, end="", file=sys.stderr, flush=True)
        with admin.connect() as conn:
            conn.execute(text("SET statement_timeout = 0"))
            conn.commit()
            slow = _slow_transaction(admin, dataset, slow_seconds)
            plain_start = time.monotonic()
            conn.execute(text(f"CREATE INDEX {PLAIN_INDEX} ON transactions (type, created_at)"))
            conn.commit()
            plain_end = time.monotonic()
            slow.join()
            time.sleep(1)
        writer.stop.set()
        thread.join()
        with admin.connect() as conn:
            conn.execute(text(f"DROP INDEX {PLAIN_INDEX}"))
            conn.commit()
        _remove_writer_rows(admin, dataset)
        refresh_after = _refresh_cost(dataset)
    finally:
        admin.dispose()
        app_engine.dispose()

    before = [latency * 1000 for latency, _ok in writer.window(begun, first_start)]
    during = writer.window(first_start, first_end)
    during_ms = [latency * 1000 for latency, _ok in during]
    plain = writer.window(plain_start, plain_end)
    plain_ms = [latency * 1000 for latency, _ok in plain]
    builds = {description: float(seconds) for description, _name, seconds in CREATED_LINE.findall(first_output)}
    label = f"{size}, writer {rate:.0f}/s, {slow_seconds:g} s slow transaction"
    results = [
        Result(f"init-db builds {description} vs plain CREATE INDEX ({label}) (s)", seconds,
               plain_end - plain_start, "s", "")
        if description == "transactions(type, created_at)" else
        Result(f"init-db builds {description} ({label}) (s)", seconds, None, "s", "")
        for description, seconds in builds.items()
    ]
    results += [
        Result(f"steady refresh, PostgreSQL CPU, after init-db vs before ({REFRESHES} refreshes) (ms)",
               refresh_after[0], refresh_before[0], "ms", ""),
        Result("steady refresh, wall time, after init-db vs before (ms)", refresh_after[1], refresh_before[1], "ms", ""),
        Result(f"writer max insert, during init-db vs before ({len(during_ms)} vs {len(before)} inserts) (ms)",
               max(during_ms, default=0.0), max(before, default=0.0), "ms", ""),
        Result("writer p99 insert, during init-db vs before (ms)", _p99(during_ms), _p99(before), "ms", ""),
        Result("writer inserts failed during init-db", sum(1 for _latency, ok in during if not ok), None, "",
               "= 0", limit=0),
        Result(f"writer max insert, during plain CREATE INDEX vs before ({len(plain_ms)} inserts) (ms)",
               max(plain_ms, default=0.0), max(before, default=0.0), "ms", ""),
        Result("writer p99 insert, during plain CREATE INDEX vs before (ms)", _p99(plain_ms), _p99(before), "ms", ""),
        Result("writer inserts failed during plain CREATE INDEX (5 s statement timeout)",
               sum(1 for _latency, ok in plain if not ok), None, "", ""),
        Result("first init-db run, process wall time (s)", first_end - first_start, None, "s", ""),
        Result("second init-db run, process wall time (s)", second_end - second_start, None, "s", ""),
        Result("second init-db run, its own report (s)", float(DONE_LINE.search(second_output).group(1)), None,
               "s", ""),
        Result("second init-db run built nothing (1 = yes)",
               float(not CREATED_LINE.search(second_output)), None, "", "= 1", limit=1, higher_is_better=True),
    ]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.init_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10m")
    parser.add_argument("--rate", type=float, default=50.0, help="writer inserts per second")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--slow-seconds", type=float, default=3.0,
                        help="a writer transaction held open this long as each build starts")
    return print_results(parser, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
