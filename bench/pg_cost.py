"""What a stats refresh costs PostgreSQL, measured without trusting wall-clock noise alone.

- `BackendCpu`: the CPU time of every PostgreSQL backend an engine opened, from `/proc/<pid>/stat`
  (`bench.common.cpu_seconds`), read before and after (PostgreSQL runs on the same machine). The
  pid of each connection comes from `pg_backend_pid()` when it opens.
- `StatementLog`: how many statements an engine ran and the longest one, timed around the driver.
- `PhaseMeter`: handed to `IncrementalStats(observe=...)`, it splits each call's wall and CPU time
  into the steady work (new rows, missing hours, the figures) and the spread reconcile.
- `cancelled_statements`: the PostgreSQL log's "canceling statement due to statement timeout"
  lines written by given backends since a given offset.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, event

from bench.common import cpu_seconds

POSTGRES_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
CANCELLED = "canceling statement due to statement timeout"


class BackendCpu:
    def __init__(self, engine: Engine) -> None:
        self.pids: set[int] = set()

        @event.listens_for(engine, "connect")
        def _remember_backend(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            self.pids.add(cursor.fetchone()[0])
            cursor.close()
            dbapi_connection.commit()

    def seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                total += cpu_seconds(pid)
            except FileNotFoundError:
                continue  # a backend that closed: its time is no longer counted anywhere
        return total


class StatementLog:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.longest = 0.0
        self.longest_sql = ""

        @event.listens_for(engine, "before_cursor_execute")
        def _started(conn, _cursor, _statement, _parameters, _context, _executemany):
            conn.info["aurora_bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _finished(conn, _cursor, statement, _parameters, _context, _executemany):
            elapsed = time.perf_counter() - conn.info.pop("aurora_bench_started", time.perf_counter())
            self.count += 1
            if elapsed > self.longest:
                self.longest, self.longest_sql = elapsed, " ".join(statement.split())[:160]


@dataclass
class PhaseMeter:
    """Wall and CPU seconds per phase of `IncrementalStats` calls, summed since the last `take`."""

    cpu: BackendCpu | None = None  # None: wall time only
    # Also this process's own CPU (the app's side: SQLAlchemy, pandas), added to the backends'.
    with_app_cpu: bool = False
    _marks: list[tuple[str, float, float]] = field(default_factory=list)

    def __call__(self, phase: str) -> None:
        cpu = (self.cpu.seconds() if self.cpu else 0.0) + (time.process_time() if self.with_app_cpu else 0.0)
        self._marks.append((phase, time.perf_counter(), cpu))

    def take(self) -> dict[str, tuple[float, float]]:
        spent: dict[str, tuple[float, float]] = {}
        for (phase, wall, cpu), (_, next_wall, next_cpu) in zip(self._marks, self._marks[1:], strict=False):
            if phase == "done":
                continue
            before = spent.get(phase, (0.0, 0.0))
            spent[phase] = (before[0] + next_wall - wall, before[1] + next_cpu - cpu)
        self._marks.clear()
        return spent


def steady_and_reconcile(spent: dict[str, tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, cpu) of the steady work and of the reconcile, from one `PhaseMeter.take()`."""
    steady = [spent.get(phase, (0.0, 0.0)) for phase in ("new rows", "figures")]
    reconcile = spent.get("reconcile", (0.0, 0.0))
    return (sum(part[0] for part in steady), sum(part[1] for part in steady)), reconcile


def log_offset() -> int | None:
    try:
        return POSTGRES_LOG.stat().st_size
    except OSError:
        return None


def cancelled_statements(offset: int | None, pids: set[int]) -> int | None:
    """Statements of these backends cancelled by the statement timeout since `offset` (None: the
    log is not readable here)."""
    if offset is None:
        return None
    try:
        with POSTGRES_LOG.open(errors="replace") as log:
            log.seek(offset)
            lines = log.read().splitlines()
    except OSError:
        return None
    backend = re.compile(r"\[(\d+)\]")
    return sum(
        1 for line in lines
        if CANCELLED in line and (found := backend.search(line)) is not None and int(found.group(1)) in pids
    )
