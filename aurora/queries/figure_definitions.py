"""What each database figure counts, defined once for both ways of computing the stats.

The app computes the stats incrementally (`aurora.queries.aggregates`); the reference definitions
(`aurora.queries.counts`, `aurora.queries.activity`) compute them plainly, and the tests and the
bench check the one against the other. Both count the rows defined here, over the windows defined
here, and both turn their time-indexed counts into the activity series with `to_hourly_grid` (a
pandas resample onto the 24-hour grid): only the way they count differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import ColumnElement, Table, func, true

from aurora.bot.snapshot import MONTH
from aurora.queries import MICROSECOND
from aurora.stats.model import ACTIVITY_HOURS, ActivityPoint
from aurora.storage.tables import COMMAND_RUN, transactions, users

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
HOURS = ACTIVITY_HOURS  # points of the activity series
# An hour closed for this long no longer changes: the bot writes rows as they happen, and a row it
# commits late still lands within it. Counts of an hour made later than that are final.
SETTLED_AFTER = timedelta(minutes=1)
TOP_COMMANDS_LIMIT = 10
GRID_COLUMNS = ["commands", "transactions"]


@dataclass(frozen=True)
class Rows:
    """The rows of a table that a figure counts, placed in time by `moment`."""

    table: Table
    moment: ColumnElement
    condition: ColumnElement


COMMAND_ROWS = Rows(transactions, transactions.c.created_at, transactions.c.type == COMMAND_RUN)
TRANSACTION_ROWS = Rows(transactions, transactions.c.created_at, true())
ACTIVE_USER_ROWS = Rows(users, users.c.created_at, users.c.is_active.is_(True))


def current_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def activity_window(now: datetime) -> tuple[datetime, datetime]:
    """[H - 23 h, H + 1 h) with H the start of the current hour: 24 whole-hour buckets."""
    hour = current_hour(now)
    return hour - (HOURS - 1) * HOUR, hour + HOUR


def last_day_window(now: datetime) -> tuple[datetime, datetime]:
    """(now - 24 h, now] as a half-open range: the commands shown, and the top commands."""
    return now - DAY + MICROSECOND, now + MICROSECOND


def baseline_window(now: datetime) -> tuple[datetime, datetime]:
    """[now - 31 days, now - 1 day): the month the daily mean of commands is taken over."""
    return now - DAY - MONTH, now - DAY


def month_edge(now: datetime) -> datetime:
    """Active users registered before this were there a month ago (created_at <= now - 30 days)."""
    return now - MONTH + MICROSECOND


def hour_bucket(dialect_name: str, moment=transactions.c.created_at):
    """The start of the hour of `moment`, computed by the database."""
    if dialect_name == "postgresql":
        # The session time zone is pinned to UTC in aurora.storage.engine, so this truncates in UTC.
        return func.date_trunc("hour", moment)
    return func.strftime("%Y-%m-%d %H:00:00", moment)


def to_hourly_grid(counts: Iterable[tuple[datetime | str, int, int]], now: datetime) -> pd.DataFrame:
    """The activity series for `now`: one row per hour of the 24-hour UTC grid, oldest first, with
    columns `commands` and `transactions` (rows that are not command runs).

    `counts` holds (moment, commands, transactions) in any order, a moment being a datetime or
    (from SQLite) the text of one; pandas resamples them into hours, so a moment may be any time
    within its hour and may come more than once (summed, negative counts included: what is taken
    off an hour). Moments outside the window are dropped, hours without counts are zero."""
    low, high = activity_window(now)
    grid = pd.date_range(start=low, periods=HOURS, freq="h", tz="UTC", name="hour")
    rows = list(counts)
    moments = pd.DatetimeIndex(pd.to_datetime([moment for moment, _, _ in rows], utc=True), name="hour")
    counted = pd.DataFrame([counted for _, *counted in rows], columns=GRID_COLUMNS, index=moments, dtype="int64")
    inside = counted[(moments >= low) & (moments < high)]
    return inside.resample("h").sum().reindex(grid, fill_value=0)


def activity_points(grid: pd.DataFrame) -> list[ActivityPoint]:
    """The grid of `to_hourly_grid` as the points the stats carry."""
    return [
        ActivityPoint(hour=hour, commands=commands, transactions=others)
        for hour, commands, others in zip(
            grid.index.to_pydatetime(), grid["commands"].tolist(), grid["transactions"].tolist(), strict=True
        )
    ]
