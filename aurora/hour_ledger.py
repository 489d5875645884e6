"""Per-hour bookkeeping for the incremental stats (`aurora.aggregates`).

A `Ledger` keeps closed hours as `Tally`s (commands/others per hour, command names per hour for
the last day); `Ledger.split` cuts a window into kept whole hours and the live ranges at its edges,
which `live_segments` counts from the database in as few range scans as it can. The transaction
rows are grouped by hour in the database (`rows_per_hour`) both to fill the ledger and to add the
rows inserted since the last refresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Integer, Text, case, func, literal, select

from aurora.db import COMMAND_RUN, transactions
from aurora.queries.activity import _hour_bucket, current_hour

HOUR = timedelta(hours=1)

Range = tuple[datetime, datetime]


def ceil_hour(moment: datetime) -> datetime:
    start = current_hour(moment)
    return start if start == moment else start + HOUR


@dataclass
class Tally:
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
class Ledger:
    """Kept hours `[counts_from, until)` (names only from `names_from`), plus the users' bases."""

    reconciled_at: datetime
    until: datetime
    counts_from: datetime
    names_from: datetime
    last_id: int
    last_row: tuple | None
    hours: dict[datetime, Tally]
    users_split: datetime
    active_before_split: int
    month_edge: datetime
    active_before_month_edge: int

    def add(self, grouped: Iterable[tuple[datetime, int, str | None, int]]) -> None:
        for hour, is_command, name, rows in grouped:
            if not self.counts_from <= hour < self.until:
                continue
            tally = self.hours.setdefault(hour, Tally())
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

    def kept(self, hours: Range | None) -> list[Tally]:
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


def rows_per_hour(conn: Connection, low: datetime, high: datetime, *, names: bool, ids: Range | None = None):
    """(hour, is_command, name, rows) for low <= created_at < high (and first < id <= last)."""
    inner = select(
        _hour_bucket(conn.dialect.name).label("key"),
        _IS_COMMAND.label("is_command"),
        (_COMMAND_NAME if names else literal(None, Text)).label("name"),
    ).where(transactions.c.created_at >= low, transactions.c.created_at < high)
    if ids is not None:
        inner = inner.where(transactions.c.id > ids[0], transactions.c.id <= ids[1])
    return [(_as_hour(row[0]), row[1], row[2], row[3]) for row in conn.execute(_grouped(inner)) if row[0] is not None]


def live_segments(conn: Connection, ranges: list[Range]) -> dict[Range, Tally]:
    """Counts for every elementary segment of the given ranges; one range scan per merged run."""
    points = sorted({moment for part in ranges for moment in part})
    segments: dict[Range, Tally] = {}
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
            segments[(low, high)] = Tally()
        for index, flag, command_name, rows in conn.execute(query):
            segments[(run[index], run[index + 1])].add(flag, command_name, rows)
    return segments


def within(segments: dict[Range, Tally], parts: list[Range]) -> list[Tally]:
    return [
        tally for (low, high), tally in segments.items() if any(p[0] <= low and high <= p[1] for p in parts)
    ]
