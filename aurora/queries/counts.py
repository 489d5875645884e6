"""The counting figures behind the KPI cards."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from aurora.db import COMMAND_RUN, transactions, users
from aurora.models import CommandCount
from aurora.queries import MICROSECOND

TOP_COMMANDS_LIMIT = 10


def count_active_users(conn: Connection) -> int:
    query = select(func.count()).select_from(users).where(users.c.is_active.is_(True))
    return conn.execute(query).scalar_one()


def count_active_users_created_by(conn: Connection, moment: datetime) -> int:
    """Active users whose account existed at `moment` (created_at <= moment)."""
    query = (
        select(func.count())
        .select_from(users)
        .where(users.c.is_active.is_(True), users.c.created_at < moment + MICROSECOND)
    )
    return conn.execute(query).scalar_one()


def count_commands_between(conn: Connection, low: datetime, high: datetime) -> int:
    """COMMAND_RUN rows with low <= created_at < high."""
    query = (
        select(func.count())
        .select_from(transactions)
        .where(
            transactions.c.type == COMMAND_RUN,
            transactions.c.created_at >= low,
            transactions.c.created_at < high,
        )
    )
    return conn.execute(query).scalar_one()


def last_day_window(now: datetime) -> tuple[datetime, datetime]:
    """(now - 24 h, now] as a half-open range."""
    return now - timedelta(hours=24) + MICROSECOND, now + MICROSECOND


def baseline_window(now: datetime) -> tuple[datetime, datetime]:
    """[now - 31 days, now - 1 day): the 30 days the daily mean of commands is taken over."""
    return now - timedelta(days=31), now - timedelta(days=1)


def top_commands(conn: Connection, now: datetime, limit: int = TOP_COMMANDS_LIMIT) -> list[CommandCount]:
    low, high = last_day_window(now)
    count = func.count().label("runs")
    query = (
        select(transactions.c.description, count)
        .where(
            transactions.c.type == COMMAND_RUN,
            transactions.c.created_at >= low,
            transactions.c.created_at < high,
            transactions.c.description.is_not(None),
        )
        .group_by(transactions.c.description)
        .order_by(count.desc(), transactions.c.description)
        .limit(limit)
    )
    return [CommandCount(name=row[0], count=row[1]) for row in conn.execute(query)]
