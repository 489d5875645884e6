"""Counting a time range in statements of bounded size, whatever the table size or daily volume.

Each statement here reads at most a fixed number of index entries or rows, so none comes near the
statement timeout however busy the bot is:

- `count_between` counts rows of a time range with capped counts (`SELECT count(*) FROM (SELECT 1
  ... ORDER BY created_at LIMIT cap + 1)`, an index-only range scan that stops at the cap); a range
  holding more than the cap is halved until every piece fits.
- `command_names_between` counts command runs per name (which needs the rows themselves, not only
  the index) in pieces of at most `ROWS_PER_STATEMENT` rows, found the same way.

The one statement that cannot be made smaller is a single microsecond holding more rows than a
piece: it is counted as it is. Per-hour counts with the same bounds are in
`aurora.queries.hourly_counts`; the users' pieces in `aurora.queries.user_counts`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, Connection, bindparam, func, literal, select

from aurora.queries import MICROSECOND
from aurora.queries.events import LAST_MOMENT
from aurora.queries.figure_definitions import COMMAND_ROWS, TRANSACTION_ROWS, Rows
from aurora.storage.tables import transactions

# Index entries one statement may read: an index-only scan reads one to several million a second,
# so even on a loaded machine a statement stays far below the 5 s statement timeout.
INDEX_ENTRIES_PER_STATEMENT = 250_000
# Table rows one statement may read (it visits each row, several times slower than index entries).
ROWS_PER_STATEMENT = 50_000
# What reading one row costs in index entries read instead (what one statement may read of each).
INDEX_ENTRIES_PER_ROW = INDEX_ENTRIES_PER_STATEMENT // ROWS_PER_STATEMENT


def in_range(rows: Rows, low: datetime, high: datetime) -> tuple[ColumnElement, ...]:
    return rows.condition, rows.moment >= low, rows.moment < high


def capped_count_query(rows: Rows, low: datetime, high: datetime, cap: int):
    """count(*) of the rows in [low, high), or cap + 1 if there are more (reading at most cap + 1)."""
    # ORDER BY the time column keeps the plan on that column's index even when the range is large.
    inner = (
        select(literal(1)).select_from(rows.table).where(*in_range(rows, low, high))
        .order_by(rows.moment).limit(cap + 1).subquery()
    )
    return select(func.count()).select_from(inner)


def _capped_count(conn: Connection, rows: Rows, low: datetime, high: datetime, cap: int) -> int:
    return conn.execute(capped_count_query(rows, low, high, cap)).scalar_one()


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
            exact = select(func.count()).select_from(rows.table).where(*in_range(rows, start, end))
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
    return select(*(capped_count_query(rows, low, high, cap).scalar_subquery() for rows in (COMMAND_ROWS, TRANSACTION_ROWS)))


def commands_and_rows_between(conn: Connection, low: datetime, high: datetime) -> tuple[int, int]:
    """The command runs and the rows with low <= moment < high: one prepared statement of two index
    range counts while each holds at most half a statement's entries, in pieces otherwise."""
    share = INDEX_ENTRIES_PER_STATEMENT // 2
    commands, rows = conn.execute(_commands_and_rows_statement(share), {"low": low, "high": high}).one()
    if max(commands, rows) > share:
        return count_between(conn, COMMAND_ROWS, low, high), count_between(conn, TRANSACTION_ROWS, low, high)
    return commands, rows


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
            .where(*in_range(COMMAND_ROWS, start, end))
            .group_by(transactions.c.description)
        )
        names.update(dict(conn.execute(query).all()))
    return names
