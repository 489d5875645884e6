"""Reference definition of the hourly activity: rows per hour of the last 24, in one statement.

One of the plain definitions the tests and the bench compare the incremental stats against (see
`aurora.queries.reference.compute_database_stats`); the app itself runs `aurora.queries.aggregates`. Both grid
their per-hour counts with the same `aurora.queries.figure_definitions.to_hourly_grid`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, func, select

from aurora.queries import MICROSECOND
from aurora.queries.figure_definitions import activity_points, activity_window, hour_bucket, to_hourly_grid
from aurora.stats.model import ActivityPoint
from aurora.storage.tables import COMMAND_RUN, transactions


def hourly_counts(conn: Connection, now: datetime) -> list[tuple[datetime | str, int, int]]:
    """(hour, commands, other rows) in the window up to `now`, one or two per hour, as the database
    groups them (rows dated after `now` have not happened yet)."""
    low, _ = activity_window(now)
    hour = hour_bucket(conn.dialect.name).label("hour")
    is_command = case((transactions.c.type == COMMAND_RUN, 1), else_=0).label("is_command")
    query = (
        select(hour, is_command, func.count().label("rows"))
        .where(transactions.c.created_at >= low, transactions.c.created_at < now + MICROSECOND)
        .group_by(hour, is_command)
    )
    return [(hour, rows, 0) if is_command else (hour, 0, rows) for hour, is_command, rows in conn.execute(query)]


def activity_overview(conn: Connection, now: datetime) -> list[ActivityPoint]:
    return activity_points(to_hourly_grid(hourly_counts(conn, now), now))
