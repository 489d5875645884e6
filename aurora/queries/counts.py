"""Reference definitions of the counting figures behind the KPI cards: plain statements that
count whole windows at once.

With `aurora.queries.activity` and `aurora.queries.events`, these are what the figures mean
(`aurora.queries.reference.compute_database_stats` runs them all); the tests and the bench check the
incremental stats the app runs (`aurora.queries.aggregates`) against them. At a busy bot's volume these
statements outgrow the statement timeout, which is why the app does not run them. Rows and windows
are those of `aurora.queries.figure_definitions`, shared with the incremental stats.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from aurora.bot.snapshot import CommandCount
from aurora.queries.figure_definitions import (
    ACTIVE_USER_ROWS,
    COMMAND_ROWS,
    TOP_COMMANDS_LIMIT,
    Rows,
    last_day_window,
    month_edge,
)
from aurora.storage.tables import transactions


def _count(conn: Connection, rows: Rows, *where) -> int:
    return conn.execute(select(func.count()).select_from(rows.table).where(rows.condition, *where)).scalar_one()


def count_active_users(conn: Connection) -> int:
    return _count(conn, ACTIVE_USER_ROWS)


def count_active_users_month_ago(conn: Connection, now: datetime) -> int:
    """Active users whose account existed a month before `now`."""
    return _count(conn, ACTIVE_USER_ROWS, ACTIVE_USER_ROWS.moment < month_edge(now))


def count_commands_between(conn: Connection, low: datetime, high: datetime) -> int:
    """COMMAND_RUN rows with low <= created_at < high."""
    return _count(conn, COMMAND_ROWS, COMMAND_ROWS.moment >= low, COMMAND_ROWS.moment < high)


def top_commands(conn: Connection, now: datetime, limit: int = TOP_COMMANDS_LIMIT) -> list[CommandCount]:
    low, high = last_day_window(now)
    count = func.count().label("runs")
    query = (
        select(transactions.c.description, count)
        .where(
            COMMAND_ROWS.condition,
            COMMAND_ROWS.moment >= low,
            COMMAND_ROWS.moment < high,
            transactions.c.description.is_not(None),
        )
        .group_by(transactions.c.description)
        .order_by(count.desc(), transactions.c.description)
        .limit(limit)
    )
    return [CommandCount(name=row[0], count=row[1]) for row in conn.execute(query)]
