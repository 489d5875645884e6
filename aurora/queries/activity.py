"""Hourly activity for the last 24 hours: the database counts per hour, pandas fills the grid."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, case, func, select

from aurora.db import COMMAND_RUN, transactions
from aurora.models import ActivityPoint

HOURS = 24


def current_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def activity_window(now: datetime) -> tuple[datetime, datetime]:
    """[H - 23 h, H + 1 h) with H the start of the current hour: 24 whole-hour buckets."""
    hour = current_hour(now)
    return hour - timedelta(hours=HOURS - 1), hour + timedelta(hours=1)


def hour_bucket(dialect_name: str, moment=transactions.c.created_at):
    """The start of the hour of `moment`, computed by the database."""
    if dialect_name == "postgresql":
        # The session time zone is pinned to UTC in aurora.db, so this truncates in UTC.
        return func.date_trunc("hour", moment)
    return func.strftime("%Y-%m-%d %H:00:00", moment)


def hourly_counts(conn: Connection, now: datetime) -> pd.DataFrame:
    """Rows per (hour, is_command) in the window, as the database aggregates them."""
    low, high = activity_window(now)
    hour = hour_bucket(conn.dialect.name).label("hour")
    is_command = case((transactions.c.type == COMMAND_RUN, 1), else_=0).label("is_command")
    query = (
        select(hour, is_command, func.count().label("rows"))
        .where(transactions.c.created_at >= low, transactions.c.created_at < high)
        .group_by(hour, is_command)
    )
    return pd.DataFrame(conn.execute(query).all(), columns=["hour", "is_command", "rows"])


def to_hourly_grid(counts: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Pivot per-hour counts into exactly 24 rows (oldest first), zeros where nothing happened."""
    low, _ = activity_window(now)
    grid_index = pd.date_range(start=low, periods=HOURS, freq="h", tz="UTC", name="hour")
    if counts.empty:
        return pd.DataFrame({"commands": 0, "transactions": 0}, index=grid_index)
    frame = counts.assign(hour=pd.to_datetime(counts["hour"], utc=True))
    frame["commands"] = frame["rows"].where(frame["is_command"] == 1, 0)
    frame["transactions"] = frame["rows"].where(frame["is_command"] == 0, 0)
    hourly = (
        frame.set_index("hour")[["commands", "transactions"]]
        .resample("h")
        .sum()
        .reindex(grid_index, fill_value=0)
    )
    return hourly.astype("int64")


def activity_overview(conn: Connection, now: datetime) -> list[ActivityPoint]:
    grid = to_hourly_grid(hourly_counts(conn, now), now)
    return [
        ActivityPoint(hour=hour.to_pydatetime(), commands=int(row.commands), transactions=int(row.transactions))
        for hour, row in grid.iterrows()
    ]
