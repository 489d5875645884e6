"""Incremental stats, what the app runs: exactly the reference definitions (`compute_database_stats`
over `aurora.queries`), in statements that stay small at any volume.

The plain definitions re-count 31 days of transactions and every user on each refresh; at a busy
bot's volume one such statement outlasts the statement timeout. Here (`aurora.queries.ledger`):

- Every hour the figures reach is counted once and kept: command runs for 31 days of hours, and
  for the last day's hours every row and the runs per name. Counting happens in bounded pieces
  (`aurora.queries.bounded_counts`, `aurora.queries.hourly_counts`), as many per refresh as
  `step_seconds` allows. Until every hour is in, a call raises `FiguresPreparing` with the share
  done, and the service calls again at once.
- Rows inserted since the last refresh are found by id (`id > last seen`, a primary-key range
  scan) and added to their hour, so new rows, back-dated ones included, count at once.
- A window's edges (parts of an hour) are counted live; the open hour is kept like the others, so
  its part up to now is the kept hour minus the rows dated after now.
- Reconciling is spread: each refresh counts again the hours counted longest ago, a share sized so
  that every hour is counted again within `reconcile_every` (10 min), and at once when it is
  overdue. That corrects deletes, updates and rows whose id was committed out of order (PostgreSQL
  sequences) within the period; new rows never wait for it.
- Active users: a base counted by walking the users table in pieces, renewed on the same period
  (`aurora.queries.user_counts`), plus live counts of the users registered since (index range scans).
- Recent events are the plain query already (an index scan of 10 rows); ties in the top-command
  ranking are ordered by the database, so its collation decides exactly as in the plain query.

Each call runs in the stats service's background refresh thread. A call that the service gave up
on (a hung database) may still be running when the next starts: the next one then starts a new
ledger instead of waiting for the old one, and whichever started last keeps its ledger.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Integer, Text, cast, func, literal, select, union_all

from aurora.bot.snapshot import CommandCount
from aurora.queries import MICROSECOND
from aurora.queries.bounded_counts import commands_and_rows_between
from aurora.queries.events import recent_events
from aurora.queries.figure_definitions import (
    HOUR,
    TOP_COMMANDS_LIMIT,
    activity_points,
    baseline_window,
    current_hour,
    last_day_window,
    to_hourly_grid,
)
from aurora.queries.hour_tallies import count_hours
from aurora.queries.hourly_counts import new_rows_per_hour
from aurora.queries.ledger import Ledger, commands_between, names_between, needed_hours
from aurora.queries.user_counts import active_users, active_users_month_ago, advance
from aurora.stats.model import DatabaseStats, FiguresPreparing
from aurora.storage.tables import transactions

RECONCILE_EVERY = timedelta(minutes=10)
# How long one call keeps counting before it answers (FiguresPreparing while hours are missing).
STEP_SECONDS = 2.0


def _max_transaction_id(conn: Connection) -> int:
    return conn.execute(select(func.max(transactions.c.id))).scalar_one() or 0


def _row_fingerprint(conn: Connection, row_id: int) -> tuple | None:
    """What the row with this id holds, to notice an id handed out again (SQLite reuses the
    highest id once its row is deleted: an id watermark alone would then skip the new row).
    The moment is read as text: a row dated past year 9999 must not stop the refresh."""
    columns = (cast(transactions.c.created_at, Text), transactions.c.type, transactions.c.description)
    row = conn.execute(select(*columns).where(transactions.c.id == row_id)).first()
    return tuple(row) if row is not None else None


def _rank(conn: Connection, runs: Counter) -> tuple[CommandCount, ...]:
    """The top commands as the plain query orders them: runs descending, then name."""
    named = [(name, count) for name, count in runs.items() if name is not None and count > 0]
    named.sort(key=lambda item: -item[1])
    if len(named) > TOP_COMMANDS_LIMIT:
        cut = named[TOP_COMMANDS_LIMIT - 1][1]
        named = [item for item in named if item[1] >= cut]
    counts = [count for _, count in named]
    if len(set(counts)) < len(counts):
        # Equal counts are ordered by name in the database's collation, which Python cannot know.
        candidates = union_all(
            *(select(literal(name, Text).label("name"), literal(count, Integer).label("runs")) for name, count in named)
        ).subquery()
        named = conn.execute(
            select(candidates.c.name, candidates.c.runs)
            .order_by(candidates.c.runs.desc(), candidates.c.name)
            .limit(TOP_COMMANDS_LIMIT)
        ).all()
    return tuple(CommandCount(name=name, count=count) for name, count in named[:TOP_COMMANDS_LIMIT])


def _not_yet_happened(conn: Connection, now: datetime) -> tuple[datetime, int, int]:
    """What the kept open hour holds after `now`, to take off it: (hour, -commands, -other rows).
    One statement of two index range counts, of rows that in a sane table do not exist."""
    commands, rows = commands_and_rows_between(conn, now + MICROSECOND, current_hour(now) + HOUR)
    return current_hour(now), -commands, -(rows - commands)


class _Budget:
    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def spent(self) -> bool:
        return time.monotonic() >= self._deadline


class IncrementalStats:
    """A `compute(engine, now) -> DatabaseStats` for `StatsService` that keeps counted hours."""

    def __init__(
        self,
        reconcile_every: timedelta = RECONCILE_EVERY,
        step_seconds: float = STEP_SECONDS,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self.reconcile_every = reconcile_every
        self.step_seconds = step_seconds
        # Told where each call is: "new rows" (then the missing hours), "reconcile" (hours counted
        # again, the users' walk), "figures", "done"; the benchmark splits the cost with it.
        self._observe = observe or (lambda _phase: None)
        self.rebuild_count = 0  # ledgers started from nothing (the first, after id reuse, ...)
        self.hours_counted = 0  # hours counted from the database, first time or again
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()
        self._calls = 0

    def __call__(self, engine: Engine, now: datetime) -> DatabaseStats:
        with self._lock:
            self._calls += 1
            call, ledger, self._ledger = self._calls, self._ledger, None
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    # One snapshot for the whole call, so the id watermark and the counts agree.
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                self._observe("new rows")
                ledger = self._advance(conn, engine, ledger, now)
                if not ledger.complete(needed_hours(now)):
                    raise FiguresPreparing(ledger.progress(needed_hours(now)))
                self._observe("figures")
                stats = self._stats(conn, ledger, now)
                self._observe("done")
                return stats
        finally:
            with self._lock:
                if call == self._calls:  # a call started since (ours was given up on) keeps its own
                    self._ledger = ledger

    def _advance(self, conn: Connection, engine: Engine, ledger: Ledger | None, now: datetime) -> Ledger:
        """Bring the ledger to `now`: read everything first, then change the ledger in one go, so a
        failing statement leaves it as it was."""
        budget = _Budget(self.step_seconds)
        newest = _max_transaction_id(conn)
        if (
            ledger is None
            or ledger.engine is not engine
            or now < ledger.last_now  # the clock went back
            or _row_fingerprint(conn, ledger.last_id) != ledger.last_row  # deleted, or its id reused
        ):
            self.rebuild_count += 1
            ledger = Ledger(engine, last_id=newest, last_row=_row_fingerprint(conn, newest), last_now=now)
        needed = needed_hours(now)
        first, last = next(iter(needed)), next(reversed(needed))
        new_rows = []
        if ledger.hours and newest > ledger.last_id:
            new_rows = new_rows_per_hour(conn, first, last + HOUR, ledger.last_id, newest)
        missing = ledger.missing(needed)
        busiest = ledger.busiest()
        counted = count_hours(conn, [(hour, needed[hour]) for hour in missing], now, budget.spent, busiest)
        self._observe("reconcile")
        if len(counted) == len(missing) and not budget.spent():
            due = [(hour, needed[hour]) for hour in ledger.due_for_check(now, self.reconcile_every) if hour in needed]
            counted.update(count_hours(conn, due, now, budget.spent, busiest))
        users = advance(conn, ledger.users, now, now - ledger.last_now, self.reconcile_every, budget.spent)
        last_row = _row_fingerprint(conn, newest)

        ledger.apply(new_rows, counted, needed)
        ledger.users = users
        ledger.last_id, ledger.last_row, ledger.last_now = newest, last_row, now
        self.hours_counted += len(counted)
        return ledger

    def _stats(self, conn: Connection, ledger: Ledger, now: datetime) -> DatabaseStats:
        day_runs = names_between(conn, ledger, *last_day_window(now))
        # The detailed hours are the last day's and the activity window's: the grid picks the window.
        per_hour = [
            (hour, tally.commands, tally.total - tally.commands) for hour, tally in ledger.hours.items() if tally.detailed
        ]
        per_hour.append(_not_yet_happened(conn, now))
        base = ledger.users.base
        return DatabaseStats(
            computed_at=now,
            active_users=active_users(conn, base),
            active_users_month_ago=active_users_month_ago(conn, base, now),
            commands_24h=sum(day_runs.values()),
            commands_previous_30_days=commands_between(conn, ledger, *baseline_window(now)),
            recent_events=tuple(recent_events(conn, now)),
            activity=tuple(activity_points(to_hourly_grid(per_hour, now))),
            top_commands=_rank(conn, day_runs),
        )

