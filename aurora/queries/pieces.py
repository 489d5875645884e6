"""Counting in statements of bounded size, whatever the table size or daily volume.

Each statement here reads at most a fixed number of index entries or rows, so none comes near the
statement timeout however busy the bot is:

- `count_between` counts rows of a time range with capped counts (`SELECT count(*) FROM (SELECT 1
  ... ORDER BY created_at LIMIT cap + 1)`, an index-only range scan that stops at the cap); a range
  holding more than the cap is halved until every piece fits.
- `command_names_between` counts command runs per name (which needs the rows themselves, not only
  the index) in pieces of at most `ROWS_PER_STATEMENT` rows, found the same way.
- `new_rows_per_hour` reads rows by id range (a primary-key range scan) in chunks of ids.
- `users_after` reads the next piece of users in id order (keyset: `id > after ORDER BY id LIMIT`).

The one statement that cannot be made smaller is a single microsecond holding more rows than a
piece: it is counted as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import ColumnElement, Connection, bindparam, case, func, literal, select

from aurora.queries import MICROSECOND
from aurora.queries.events import LAST_MOMENT
from aurora.queries.scope import COMMAND_ROWS, HOUR, TRANSACTION_ROWS, Rows, hour_bucket
from aurora.storage.db import COMMAND_RUN, transactions, users

# Index entries one statement may read: an index-only scan reads one to several million a second,
# so even on a loaded machine a statement stays far below the 5 s statement timeout.
INDEX_ENTRIES_PER_STATEMENT = 250_000
# Table rows one statement may read (it visits each row, several times slower than index entries).
ROWS_PER_STATEMENT = 50_000
# What reading one row costs in index entries read instead (what one statement may read of each).
INDEX_ENTRIES_PER_ROW = INDEX_ENTRIES_PER_STATEMENT // ROWS_PER_STATEMENT
# The most hours one statement counts together (a day, for quiet hours).
HOURS_PER_STATEMENT = 24


def _in_range(rows: Rows, low: datetime, high: datetime) -> tuple[ColumnElement, ...]:
    return rows.condition, rows.moment >= low, rows.moment < high


def _capped(rows: Rows, low: datetime, high: datetime, cap: int):
    """count(*) of the rows in [low, high), or cap + 1 if there are more (reading at most cap + 1)."""
    # ORDER BY the time column keeps the plan on that column's index even when the range is large.
    inner = (
        select(literal(1)).select_from(rows.table).where(*_in_range(rows, low, high))
        .order_by(rows.moment).limit(cap + 1).subquery()
    )
    return select(func.count()).select_from(inner)


def _capped_count(conn: Connection, rows: Rows, low: datetime, high: datetime, cap: int) -> int:
    return conn.execute(_capped(rows, low, high, cap)).scalar_one()


def next_piece(
    conn: Connection, rows: Rows, pending: list[tuple[datetime, datetime]], cap: int
) -> tuple[datetime, datetime, int] | None:
    """The oldest range of at most `cap` rows of what `pending` still holds (a stack of consecutive
    ranges, oldest last), with its exact count; None when nothing is left. The ranges halved to find
    it stay in `pending`, so that cutting a whole range costs a few capped counts per piece, however
    many calls it is spread over."""
    while pending:
        start, end = pending.pop()
        if end <= start:
            continue
        found = _capped_count(conn, rows, start, end, cap)
        if found <= cap:
            return start, end, found
        if end - start <= MICROSECOND:
            exact = select(func.count()).select_from(rows.table).where(*_in_range(rows, start, end))
            return start, end, conn.execute(exact).scalar_one()
        middle = start + (end - start) // 2
        pending.extend([(middle, end), (start, middle)])
    return None


def counted_pieces(
    conn: Connection, rows: Rows, low: datetime, high: datetime, cap: int
) -> list[tuple[datetime, datetime, int]]:
    """[low, high) cut into consecutive ranges of at most `cap` rows each, with their exact counts."""
    pieces = []
    pending = [(low, high)]
    while (piece := next_piece(conn, rows, pending, cap)) is not None:
        pieces.append(piece)
    return pieces


def count_between(conn: Connection, rows: Rows, low: datetime, high: datetime) -> int:
    """The rows with low <= moment < high."""
    return sum(count for _, _, count in counted_pieces(conn, rows, low, high, INDEX_ENTRIES_PER_STATEMENT))


@cache
def _commands_and_rows_statement(cap: int):
    """Built once: the command runs and the rows in [:low, :high), each capped at `cap`."""
    low, high = bindparam("low"), bindparam("high")
    return select(*(_capped(rows, low, high, cap).scalar_subquery() for rows in (COMMAND_ROWS, TRANSACTION_ROWS)))


def commands_and_rows_between(conn: Connection, low: datetime, high: datetime) -> tuple[int, int]:
    """The command runs and the rows with low <= moment < high: one prepared statement of two index
    range counts while each holds at most half a statement's entries, in pieces otherwise."""
    share = INDEX_ENTRIES_PER_STATEMENT // 2
    commands, rows = conn.execute(_commands_and_rows_statement(share), {"low": low, "high": high}).one()
    if max(commands, rows) > share:
        return count_between(conn, COMMAND_ROWS, low, high), count_between(conn, TRANSACTION_ROWS, low, high)
    return commands, rows


def count_per_hour(
    conn: Connection, rows: Rows, hours: list[datetime], busiest: int = 0
) -> dict[datetime, int]:
    """The rows of each whole hour, several hours per statement, each capped at its share of the
    statement's entries. How many hours go together follows the busiest hour seen so far (`busiest`
    from earlier calls); an hour past its share is counted again on its own, in pieces."""
    counts: dict[datetime, int] = {}
    position = 0
    while position < len(hours):
        together = max(1, min(HOURS_PER_STATEMENT, INDEX_ENTRIES_PER_STATEMENT // max(1, 2 * busiest)))
        batch = hours[position:position + together]
        position += len(batch)
        share = max(1, INDEX_ENTRIES_PER_STATEMENT // len(batch))
        found = conn.execute(select(*(_capped(rows, hour, hour + HOUR, share).scalar_subquery() for hour in batch)))
        for hour, count in zip(batch, found.one(), strict=True):
            counts[hour] = count if count <= share else count_between(conn, rows, hour, hour + HOUR)
            busiest = max(busiest, counts[hour])
    return counts


def _grouped_per_hour(conn: Connection, inner, cap: int) -> dict[tuple, int] | None:
    """(hour, *other columns) -> rows for an inner select of at most cap + 1 rows whose first
    column is the moment; None when it holds more than `cap` (the range is not quiet)."""
    limited = inner.limit(cap + 1).subquery()
    moment, *others = limited.c
    keyed = select(hour_bucket(conn.dialect.name, moment).label("hour"), *others).subquery()
    query = select(*keyed.c, func.count()).group_by(*keyed.c)
    grouped = {(as_hour(hour), *rest): count for hour, *rest, count in conn.execute(query)}
    return grouped if sum(grouped.values()) <= cap else None


def quiet_counts_per_hour(conn: Connection, rows: Rows, low: datetime, high: datetime) -> dict[datetime, int] | None:
    """The rows of each hour in [low, high) from one statement reading at most
    INDEX_ENTRIES_PER_STATEMENT entries, or None if the range holds more (then count per hour)."""
    inner = select(rows.moment).select_from(rows.table).where(*_in_range(rows, low, high)).order_by(rows.moment)
    grouped = _grouped_per_hour(conn, inner, INDEX_ENTRIES_PER_STATEMENT)
    return None if grouped is None else {hour: count for (hour,), count in grouped.items()}


def quiet_names_per_hour(conn: Connection, low: datetime, high: datetime) -> dict[datetime, Counter] | None:
    """Command runs per name of each hour in [low, high) from one statement reading at most
    ROWS_PER_STATEMENT rows, or None if the range holds more."""
    inner = (
        select(transactions.c.created_at, transactions.c.description)
        .where(*_in_range(COMMAND_ROWS, low, high))
        .order_by(transactions.c.created_at)
    )
    grouped = _grouped_per_hour(conn, inner, ROWS_PER_STATEMENT)
    if grouped is None:
        return None
    names: dict[datetime, Counter] = {}
    for (hour, name), count in grouped.items():
        names.setdefault(hour, Counter())[name] += count
    return names


def names_per_hour(conn: Connection, commands: dict[datetime, int]) -> dict[datetime, Counter]:
    """Command runs per name for each whole hour, given each hour's command runs: consecutive
    hours are read together while they hold at most ROWS_PER_STATEMENT runs in all."""
    names: dict[datetime, Counter] = {hour: Counter() for hour in commands}
    runs: list[list[datetime]] = []
    held = 0
    for hour in sorted(hour for hour, count in commands.items() if count):
        if commands[hour] > ROWS_PER_STATEMENT:
            names[hour] = command_names_between(conn, hour, hour + HOUR)
            continue
        if runs and runs[-1][-1] + HOUR == hour and held + commands[hour] <= ROWS_PER_STATEMENT:
            runs[-1].append(hour)
            held += commands[hour]
        else:
            runs.append([hour])
            held = commands[hour]
    bucket = hour_bucket(conn.dialect.name).label("hour")
    for run in runs:
        inner = (
            select(bucket, transactions.c.description.label("name"))
            .where(*_in_range(COMMAND_ROWS, run[0], run[-1] + HOUR))
            .subquery()
        )
        query = select(inner.c.hour, inner.c.name, func.count()).group_by(inner.c.hour, inner.c.name)
        for hour, name, count in conn.execute(query):
            names[as_hour(hour)][name] += count
    return names


def count_from(conn: Connection, rows: Rows, low: datetime) -> int:
    """The rows with moment >= low, those dated past what Python can hold included (PostgreSQL
    stores years up to 294276: one more statement counts them, an index range that is empty in
    any sane table)."""
    beyond = select(func.count()).select_from(rows.table).where(rows.condition, rows.moment >= LAST_MOMENT)
    return count_between(conn, rows, low, LAST_MOMENT) + conn.execute(beyond).scalar_one()


def command_names_between(conn: Connection, low: datetime, high: datetime) -> Counter:
    """Command runs per name (None: no description) with low <= created_at < high."""
    names: Counter = Counter()
    for start, end, count in counted_pieces(conn, COMMAND_ROWS, low, high, ROWS_PER_STATEMENT):
        if count == 0:
            continue
        query = (
            select(transactions.c.description, func.count())
            .where(*_in_range(COMMAND_ROWS, start, end))
            .group_by(transactions.c.description)
        )
        names.update(dict(conn.execute(query).all()))
    return names


def as_hour(value) -> datetime:
    """An hour bucket as the database gives it (`hour_bucket`), as an aware UTC datetime."""
    # PostgreSQL's date_trunc gives a datetime, SQLite's strftime the text of one.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_rows_per_hour(
    conn: Connection, low: datetime, high: datetime, after_id: int, upto_id: int
) -> list[tuple[datetime, bool, str | None, int]]:
    """(hour, is_command, name, rows) of the rows with after_id < id <= upto_id and low <= created_at
    < high; names only for commands. Read in id chunks of at most ROWS_PER_STATEMENT ids."""
    hour = hour_bucket(conn.dialect.name).label("hour")
    is_command = case((transactions.c.type == COMMAND_RUN, 1), else_=0).label("is_command")
    name = case((transactions.c.type == COMMAND_RUN, transactions.c.description), else_=None).label("name")
    grouped: list[tuple[datetime, bool, str | None, int]] = []
    for first in range(after_id, upto_id, ROWS_PER_STATEMENT):
        inner = (
            select(hour, is_command, name)
            .where(transactions.c.id > first, transactions.c.id <= min(first + ROWS_PER_STATEMENT, upto_id))
            .where(transactions.c.created_at >= low, transactions.c.created_at < high)
            .subquery()
        )
        # Grouped by the subquery's columns: constants and bound values stay out of GROUP BY.
        query = select(inner.c.hour, inner.c.is_command, inner.c.name, func.count()).group_by(
            inner.c.hour, inner.c.is_command, inner.c.name
        )
        for bucket, command, command_name, count in conn.execute(query):
            if bucket is not None:
                grouped.append((as_hour(bucket), bool(command), command_name, count))
    return grouped


@dataclass(frozen=True)
class UsersPiece:
    """One piece of users in id order: how many are active and registered before two moments."""

    last_id: int | None
    active_before_split: int
    active_before_month_edge: int
    is_last: bool  # no users after this piece


def users_after(conn: Connection, after_id: int | None, split: datetime, month_edge: datetime) -> UsersPiece:
    """The next piece of users with id > after_id (from the first user when None)."""
    inner = select(users.c.id, users.c.is_active, users.c.created_at)
    if after_id is not None:
        inner = inner.where(users.c.id > after_id)
    piece = inner.order_by(users.c.id).limit(ROWS_PER_STATEMENT).subquery()
    active = piece.c.is_active.is_(True)
    query = select(
        func.count(),
        func.max(piece.c.id),
        func.count().filter(active, piece.c.created_at < split),
        func.count().filter(active, piece.c.created_at < month_edge),
    )
    rows, last_id, before_split, before_month_edge = conn.execute(query).one()
    return UsersPiece(last_id, before_split, before_month_edge, is_last=rows < ROWS_PER_STATEMENT)

