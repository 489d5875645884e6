"""Incremental stats: exactly `compute_database_stats`, at a cost that does not grow with the tables.

The plain definitions re-count 31 days of transactions and every user on each refresh. Here:

- Closed hours are counted once and kept (`_Ledger.hours`: commands/others per hour for the
  baseline's 31 days, command names per hour for the last day). A window is then a run of kept
  hours plus at most two partial edges (`< 1 h` each) that are read from the database as they are.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Integer, Text, case, func, literal, select, union_all

from aurora.db import COMMAND_RUN, transactions, users
from aurora.models import ActivityPoint, CommandCount, DatabaseStats
from aurora.queries import MICROSECOND
from aurora.queries.activity import HOURS, _hour_bucket, activity_window, current_hour
from aurora.queries.counts import TOP_COMMANDS_LIMIT, baseline_window, last_day_window
from aurora.queries.events import recent_events

HOUR = timedelta(hours=1)
BASELINE_REACH = timedelta(days=31)
NAMES_REACH = timedelta(hours=24)
MONTH = timedelta(days=30)
RECONCILE_EVERY = timedelta(minutes=10)

Range = tuple[datetime, datetime]


def ceil_hour(moment: datetime) -> datetime:
    start = current_hour(moment)
    return start if start == moment else start + HOUR


@dataclass
class _Tally:
    """Rows of one hour or one live segment: non-command rows and command runs per name."""

    others: int = 0
    names: Counter = field(default_factory=Counter)  # name (None for no description) -> runs

    @property
    def commands(self) -> int:
        return sum(self.names.values())

    def add(self, is_command: int, name: str | None, rows: int) -> None:
        if is_command:
            self.names[name] += rows
        else:
            self.others += rows


@dataclass
class _Ledger:
    """Kept hours `[counts_from, until)` (names only from `names_from`), plus the users' bases."""

    reconciled_at: datetime
    until: datetime
    counts_from: datetime
    names_from: datetime
    last_id: int
    last_row: tuple | None
    hours: dict[datetime, _Tally]
    users_split: datetime
    active_before_split: int
    month_edge: datetime
    active_before_month_edge: int

    def add(self, grouped: Iterable[tuple[datetime, int, str | None, int]]) -> None:
        for hour, is_command, name, rows in grouped:
            if not self.counts_from <= hour < self.until:
                continue
            tally = self.hours.setdefault(hour, _Tally())
            if is_command and hour < self.names_from:
                # Only the last day's hours keep names; older ones only need the command count.
                name = None
            tally.add(is_command, name, rows)

    def forget_before(self, counts_from: datetime, names_from: datetime) -> None:
        if counts_from > self.counts_from:
            self.hours = {hour: tally for hour, tally in self.hours.items() if hour >= counts_from}
            self.counts_from = counts_from
        if names_from > self.names_from:
            for hour, tally in self.hours.items():
                if self.names_from <= hour < names_from:
                    tally.names = Counter({None: tally.commands})
            self.names_from = names_from

    def split(self, low: datetime, high: datetime, kept_from: datetime) -> tuple[Range | None, list[Range]]:
        """[low, high) as kept whole hours (from `kept_from`) plus the live ranges around them."""
        if high <= low:
            return None, []
        first = max(ceil_hour(low), kept_from)
        last = min(current_hour(high), self.until)
        if first >= last:
            return None, [(low, high)]
        return (first, last), [part for part in ((low, first), (last, high)) if part[0] < part[1]]

    def kept(self, hours: Range | None) -> list[_Tally]:
        if hours is None:
            return []
        return [tally for hour, tally in self.hours.items() if hours[0] <= hour < hours[1]]


def _as_hour(value) -> datetime:
    # PostgreSQL's date_trunc gives a datetime, SQLite's strftime the text of one.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_IS_COMMAND = case((transactions.c.type == COMMAND_RUN, 1), else_=0)
_COMMAND_NAME = case((transactions.c.type == COMMAND_RUN, transactions.c.description), else_=None)


def _grouped(inner) -> list:
    """Group an inner select of (key, is_command, name) rows; grouping by the subquery's columns
    keeps constants and bound values out of GROUP BY, where a bare integer means a position."""
    rows = inner.subquery()
    query = select(rows.c.key, rows.c.is_command, rows.c.name, func.count()).group_by(
        rows.c.key, rows.c.is_command, rows.c.name
    )
    return query


def _rows_per_hour(conn: Connection, low: datetime, high: datetime, *, names: bool, ids: Range | None = None):
    """(hour, is_command, name, rows) for low <= created_at < high (and first < id <= last)."""
    inner = select(
        _hour_bucket(conn.dialect.name).label("key"),
        _IS_COMMAND.label("is_command"),
        (_COMMAND_NAME if names else literal(None, Text)).label("name"),
    ).where(transactions.c.created_at >= low, transactions.c.created_at < high)
    if ids is not None:
        inner = inner.where(transactions.c.id > ids[0], transactions.c.id <= ids[1])
    return [(_as_hour(row[0]), row[1], row[2], row[3]) for row in conn.execute(_grouped(inner)) if row[0] is not None]


def _live_segments(conn: Connection, ranges: list[Range]) -> dict[Range, _Tally]:
    """Counts for every elementary segment of the given ranges; one range scan per merged run."""
    points = sorted({moment for part in ranges for moment in part})
    segments: dict[Range, _Tally] = {}
    runs: list[list[datetime]] = []
    for low, high in zip(points, points[1:], strict=False):
        if not any(part[0] <= low and high <= part[1] for part in ranges):
            continue
        if runs and runs[-1][-1] == low:
            runs[-1].append(high)
        else:
            runs.append([low, high])
    created = transactions.c.created_at
    for run in runs:
        inner = run[1:-1]
        segment = (
            case(*((created < point, index) for index, point in enumerate(inner)), else_=len(inner))
            if inner
            else literal(0, Integer)
        )
        query = _grouped(
            select(segment.label("key"), _IS_COMMAND.label("is_command"), _COMMAND_NAME.label("name")).where(
                created >= run[0], created < run[-1]
            )
        )
        for low, high in zip(run, run[1:], strict=False):
            segments[(low, high)] = _Tally()
        for index, flag, command_name, rows in conn.execute(query):
            segments[(run[index], run[index + 1])].add(flag, command_name, rows)
    return segments


def _within(segments: dict[Range, _Tally], parts: list[Range]) -> list[_Tally]:
    return [
        tally for (low, high), tally in segments.items() if any(p[0] <= low and high <= p[1] for p in parts)
    ]


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
        self._ledger: _Ledger | None = None
        self._engine: Engine | None = None
        # The service may abandon a hung refresh and start another: they must not interleave.
        self._lock = threading.Lock()

    def reconcile_next_time(self) -> None:
        with self._lock:
            self._ledger = None

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

    def _advance(self, conn: Connection, engine: Engine, now: datetime) -> _Ledger:
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
                _rows_per_hour(conn, ledger.counts_from, ledger.until, names=True, ids=(ledger.last_id, newest_id))
            )
        if hour > ledger.until:
            closed = _rows_per_hour(conn, ledger.until, hour, names=True, ids=(-1, newest_id))
            ledger.until = hour
            ledger.add(closed)
        ledger.last_id, ledger.last_row = newest_id, _row_fingerprint(conn, newest_id)
        ledger.forget_before(current_hour(now - BASELINE_REACH), current_hour(now - NAMES_REACH))
        return ledger

    def _reconcile(self, conn: Connection, now: datetime, newest_id: int) -> _Ledger:
        self.reconcile_count += 1
        until = current_hour(now)
        counts_from = current_hour(now - BASELINE_REACH)
        names_from = min(current_hour(now - NAMES_REACH), until)
        month_edge = now - MONTH + MICROSECOND
        ledger = _Ledger(
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
        ledger.add(_rows_per_hour(conn, counts_from, names_from, names=False, ids=ids))
        ledger.add(_rows_per_hour(conn, names_from, until, names=True, ids=ids))
        return ledger

    def _stats(self, conn: Connection, ledger: _Ledger, now: datetime) -> DatabaseStats:
        day_hours, day_live = ledger.split(*last_day_window(now), ledger.names_from)
        base_hours, base_live = ledger.split(*baseline_window(now), ledger.counts_from)
        first_hour, _ = activity_window(now)
        grid = [first_hour + index * HOUR for index in range(HOURS)]
        grid_live = [(hour, hour + HOUR) for hour in grid if not ledger.counts_from <= hour < ledger.until]
        segments = _live_segments(conn, day_live + base_live + grid_live)

        day_runs: Counter = Counter()
        for tally in ledger.kept(day_hours) + _within(segments, day_live):
            day_runs.update(tally.names)
        baseline = sum(t.commands for t in ledger.kept(base_hours) + _within(segments, base_live))
        activity = []
        for hour in grid:
            found = _within(segments, [(hour, hour + HOUR)]) if (hour, hour + HOUR) in grid_live else [
                ledger.hours.get(hour, _Tally())
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
