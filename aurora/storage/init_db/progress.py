"""What a running `CREATE INDEX CONCURRENTLY` (or `DROP INDEX CONCURRENTLY`) is doing, read from a
second connection while the first one is busy with it.

PostgreSQL reports a build's phase and counters in `pg_stat_progress_create_index`; while a
statement waits, `pg_blocking_pids` (or the view's `current_locker_pid`) names the session it
waits for, and `pg_stat_activity` says what that session is (a client, idle in a transaction, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

_PROGRESS = text(
    """
    SELECT progress.phase, progress.blocks_total, progress.blocks_done,
           progress.tuples_total, progress.tuples_done, progress.lockers_total, progress.lockers_done,
           COALESCE(NULLIF(progress.current_locker_pid, 0), (pg_blocking_pids(:pid))[1]) AS waiting_for
    FROM (SELECT 1) AS always
    LEFT JOIN pg_stat_progress_create_index progress ON progress.pid = :pid
    """
)
_SESSION = text(
    """
    SELECT COALESCE(NULLIF(application_name, ''), backend_type) AS client, state,
           EXTRACT(EPOCH FROM now() - xact_start)::int AS open_seconds
    FROM pg_stat_activity WHERE pid = :pid
    """
)


@dataclass(frozen=True)
class Progress:
    phase: str | None
    done: int | None
    total: int | None
    unit: str
    waiting_for: int | None
    waiting_for_session: str | None = None

    def describe(self) -> str:
        parts = [self.phase or "running"]
        if self.total:
            parts.append(f"{100 * (self.done or 0) / self.total:.0f}% ({self.done or 0:,} of {self.total:,} {self.unit})")
        if self.waiting_for is not None:
            parts.append(f"waiting for {self.blocker()}")
        return ", ".join(parts)

    def blocker(self) -> str:
        return f"pid {self.waiting_for}" + (f" ({self.waiting_for_session})" if self.waiting_for_session else "")


def read_progress(conn: Connection, pid: int) -> Progress:
    """The phase of backend `pid`'s index build, its counter for that phase, and whom it waits for."""
    row = conn.execute(_PROGRESS, {"pid": pid}).one()
    phase = row.phase
    if phase is None or "sorting" in phase:  # sorting has no counter of its own
        done, total, unit = None, None, ""
    elif phase.startswith("waiting"):
        done, total, unit = row.lockers_done, row.lockers_total, "sessions"
    elif "loading tuples" in phase:
        done, total, unit = row.tuples_done, row.tuples_total, "rows"
    else:
        done, total, unit = row.blocks_done, row.blocks_total, "blocks"
    session = describe_session(conn, row.waiting_for) if row.waiting_for else None
    return Progress(phase, done, total, unit, row.waiting_for, session)


def describe_session(conn: Connection, pid: int) -> str | None:
    """`psql, idle in transaction, transaction open 312 s` for a backend, None once it is gone."""
    row = conn.execute(_SESSION, {"pid": pid}).first()
    if row is None:
        return None
    parts = [row.client or "unknown client", row.state or "unknown state"]
    if row.open_seconds is not None:
        parts.append(f"transaction open {row.open_seconds} s")
    return ", ".join(parts)
