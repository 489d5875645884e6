"""Counting per hour in statements of bounded size (`aurora.queries.bounded_counts` for the limits).

- `count_per_hour` counts several whole hours per statement, each capped at its share;
- `quiet_counts_per_hour`, `quiet_names_per_hour` count a quiet range's hours in one statement, or
  say it is not quiet; `names_per_hour` reads consecutive hours' command names together;
- `new_rows_per_hour` reads rows by id range (a primary-key range scan) in chunks of ids.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Connection, case, func, select

from aurora.queries.bounded_counts import (
    INDEX_ENTRIES_PER_STATEMENT,
    ROWS_PER_STATEMENT,
    capped_count_query,
    command_names_between,
    count_between,
    in_range,
)
from aurora.queries.figure_definitions import COMMAND_ROWS, HOUR, Rows, hour_bucket
from aurora.storage.tables import COMMAND_RUN, transactions

# The most hours one statement counts together (a day, for quiet hours).
HOURS_PER_STATEMENT = 24


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
        found = conn.execute(select(*(capped_count_query(rows, hour, hour + HOUR, share).scalar_subquery() for hour in batch)))
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
    inner = select(rows.moment).select_from(rows.table).where(*in_range(rows, low, high)).order_by(rows.moment)
    grouped = _grouped_per_hour(conn, inner, INDEX_ENTRIES_PER_STATEMENT)
    return None if grouped is None else {hour: count for (hour,), count in grouped.items()}


def quiet_names_per_hour(conn: Connection, low: datetime, high: datetime) -> dict[datetime, Counter] | None:
    """Command runs per name of each hour in [low, high) from one statement reading at most
    ROWS_PER_STATEMENT rows, or None if the range holds more."""
    inner = (
        select(transactions.c.created_at, transactions.c.description)
        .where(*in_range(COMMAND_ROWS, low, high))
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
            .where(*in_range(COMMAND_ROWS, run[0], run[-1] + HOUR))
            .subquery()
        )
        query = select(inner.c.hour, inner.c.name, func.count()).group_by(inner.c.hour, inner.c.name)
        for hour, name, count in conn.execute(query):
            names[as_hour(hour)][name] += count
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
