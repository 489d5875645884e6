"""Incremental stats: exactly `compute_database_stats`, at a cost that does not grow with the tables.

The plain definitions re-count 31 days of transactions and every user on each refresh. Here:

- Closed hours are counted once and kept (`Ledger.hours`, in `aurora.hour_ledger`: commands/others
  per hour for the baseline's 31 days, command names per hour for the last day). A window is then
  a run of kept hours plus at most two partial edges (`< 1 h` each) that are read from the database
  as they are.
- The open hour, and every hour the ledger does not hold, are always read live.
- Rows inserted since the last refresh are found by id (`id > last seen`, a primary-key range
  scan) and added to their hour, so back-dated inserts count at once.
- Every `reconcile_every` (10 min) the ledger is rebuilt from scratch: that corrects deletes,
  updates, and rows whose id was committed out of order (PostgreSQL sequences). Between reconciles
  those three are the only changes not yet reflected; new rows always are.
- Users have no insertion order to follow: active users are a base counted at the reconcile (rows
  created before it) plus a live count of the rows created since (index range scan); the
  month-ago base moves by the thin slice of users whose 30th day passed since the reconcile.
- Recent events are the plain query already (an index scan of 10 rows); ties in the top-command
  ranking are ordered by the database, so its collation decides exactly as in the plain query.

Each call runs in the stats service's background refresh thread, reconciles included.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Integer, Text, func, literal, select, union_all

from aurora.db import transactions, users
from aurora.hour_ledger import HOUR, Ledger, Tally, live_segments, rows_per_hour, within
from aurora.models import ActivityPoint, CommandCount, DatabaseStats
from aurora.queries import MICROSECOND
from aurora.queries.activity import HOURS, activity_window, current_hour
from aurora.queries.counts import TOP_COMMANDS_LIMIT, baseline_window, last_day_window
from aurora.queries.events import recent_events

BASELINE_REACH = timedelta(days=31)
NAMES_REACH = timedelta(hours=24)
MONTH = timedelta(days=30)
RECONCILE_EVERY = timedelta(minutes=10)


def _count_active_users(conn: Connection, low: datetime | None, high: datetime | None) -> int:
    query = select(func.count()).select_from(users).where(users.c.is_active.is_(True))
    if low is not None:
        query = query.where(users.c.created_at >= low)
    if high is not None:
        query = query.where(users.c.created_at < high)
    return conn.execute(query).scalar_one()


def _max_transaction_id(conn: Connection) -> int:
    return conn.execute(select(func.max(transactions.c.id))).scalar_one() or 0


def _row_fingerprint(conn: Connection, row_id: int) -> tuple | None:
    """What the row with this id holds, to notice an id handed out again (SQLite reuses the
    highest id once its row is deleted: an id watermark alone would then skip the new row)."""
    columns = (transactions.c.created_at, transactions.c.type, transactions.c.description)
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


class IncrementalStats:
    """A `compute(engine, now) -> DatabaseStats` for `StatsService` that keeps closed hours."""

    def __init__(self, reconcile_every: timedelta = RECONCILE_EVERY) -> None:
        self.reconcile_every = reconcile_every
        self.reconcile_count = 0
        self._ledger: Ledger | None = None
        self._engine: Engine | None = None
        # The service may abandon a hung refresh and start another: they must not interleave.
        self._lock = threading.Lock()

    def __call__(self, engine: Engine, now: datetime) -> DatabaseStats:
        with self._lock, engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the whole refresh, so the id watermark and the counts agree.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            try:
                ledger = self._advance(conn, engine, now)
                return self._stats(conn, ledger, now)
            except Exception:
                self._ledger = None  # a half-applied refresh must not be kept; rebuild next time
                raise

    def _advance(self, conn: Connection, engine: Engine, now: datetime) -> Ledger:
        ledger = self._ledger
        hour = current_hour(now)
        newest_id = _max_transaction_id(conn)
        if (
            ledger is None
            or engine is not self._engine
            or hour < ledger.until  # the clock went back
            or _row_fingerprint(conn, ledger.last_id) != ledger.last_row  # deleted, or its id reused
            or now - ledger.reconciled_at >= self.reconcile_every
        ):
            ledger = self._ledger = self._reconcile(conn, now, newest_id)
            self._engine = engine
            return ledger
        if newest_id > ledger.last_id:
            ledger.add(
                rows_per_hour(conn, ledger.counts_from, ledger.until, names=True, ids=(ledger.last_id, newest_id))
            )
        if hour > ledger.until:
            closed = rows_per_hour(conn, ledger.until, hour, names=True, ids=(-1, newest_id))
            ledger.until = hour
            ledger.add(closed)
        ledger.last_id, ledger.last_row = newest_id, _row_fingerprint(conn, newest_id)
        ledger.forget_before(current_hour(now - BASELINE_REACH), current_hour(now - NAMES_REACH))
        return ledger

    def _reconcile(self, conn: Connection, now: datetime, newest_id: int) -> Ledger:
        self.reconcile_count += 1
        until = current_hour(now)
        counts_from = current_hour(now - BASELINE_REACH)
        names_from = min(current_hour(now - NAMES_REACH), until)
        month_edge = now - MONTH + MICROSECOND
        ledger = Ledger(
            reconciled_at=now,
            until=until,
            counts_from=counts_from,
            names_from=names_from,
            last_id=newest_id,
            last_row=_row_fingerprint(conn, newest_id),
            hours={},
            users_split=now,
            active_before_split=_count_active_users(conn, None, now),
            month_edge=month_edge,
            active_before_month_edge=_count_active_users(conn, None, month_edge),
        )
        ids = (-1, newest_id)
        ledger.add(rows_per_hour(conn, counts_from, names_from, names=False, ids=ids))
        ledger.add(rows_per_hour(conn, names_from, until, names=True, ids=ids))
        return ledger

    def _stats(self, conn: Connection, ledger: Ledger, now: datetime) -> DatabaseStats:
        day_hours, day_live = ledger.split(*last_day_window(now), ledger.names_from)
        base_hours, base_live = ledger.split(*baseline_window(now), ledger.counts_from)
        first_hour, _ = activity_window(now)
        grid = [first_hour + index * HOUR for index in range(HOURS)]
        grid_live = [(hour, hour + HOUR) for hour in grid if not ledger.counts_from <= hour < ledger.until]
        segments = live_segments(conn, day_live + base_live + grid_live)

        day_runs: Counter = Counter()
        for tally in ledger.kept(day_hours) + within(segments, day_live):
            day_runs.update(tally.names)
        baseline = sum(t.commands for t in ledger.kept(base_hours) + within(segments, base_live))
        activity = []
        for hour in grid:
            found = within(segments, [(hour, hour + HOUR)]) if (hour, hour + HOUR) in grid_live else [
                ledger.hours.get(hour, Tally())
            ]
            activity.append(
                ActivityPoint(
                    hour=hour,
                    commands=sum(t.commands for t in found),
                    transactions=sum(t.others for t in found),
                )
            )

        month_edge = now - MONTH + MICROSECOND
        month_ago = ledger.active_before_month_edge
        if month_edge > ledger.month_edge:
            month_ago += _count_active_users(conn, ledger.month_edge, month_edge)
        elif month_edge < ledger.month_edge:
            month_ago -= _count_active_users(conn, month_edge, ledger.month_edge)
        return DatabaseStats(
            computed_at=now,
            active_users=ledger.active_before_split + _count_active_users(conn, ledger.users_split, None),
            active_users_month_ago=month_ago,
            commands_24h=sum(day_runs.values()),
            commands_previous_30_days=baseline,
            recent_events=tuple(recent_events(conn)),
            activity=tuple(activity),
            top_commands=_rank(conn, day_runs),
        )
