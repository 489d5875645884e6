"""Rows per hour and kind: transactions per type (with their coins) and moderation cases per type.

The day at a glance (`aurora.queries.glance`) and the hour breakdown (`aurora.queries.hours`) count
with these. A range is first cut into pieces of at most ROWS_PER_STATEMENT rows
(`aurora.queries.pieces.counted_pieces`, index range scans on created_at), then each piece is
grouped by hour and type: no statement reads more than a piece, whatever the volume.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, true

from aurora.db import COMMAND_RUN, moderation_cases, transactions
from aurora.queries.pieces import ROWS_PER_STATEMENT, as_hour, counted_pieces
from aurora.queries.scope import HOUR, TRANSACTION_ROWS, Rows, hour_bucket

CASE_ROWS = Rows(moderation_cases, moderation_cases.c.created_at, true())


@dataclass
class HourKinds:
    """One hour's rows: transaction type -> rows and coins (command runs included), case type -> rows."""

    rows: Counter = field(default_factory=Counter)
    coins: Counter = field(default_factory=Counter)
    cases: Counter = field(default_factory=Counter)

    @property
    def read(self) -> int:
        """The rows counted: what counting the hour read."""
        return sum(self.rows.values()) + sum(self.cases.values())

    @property
    def commands(self) -> int:
        return self.rows[COMMAND_RUN]

    @property
    def others(self) -> int:
        """Rows that are not command runs: the activity chart's "transactions"."""
        return sum(self.rows.values()) - self.commands


def _grouped(conn: Connection, rows: Rows, low: datetime, high: datetime, *measures):
    """(hour, type, count, *measures) for the rows in [low, high), piece by piece."""
    table = rows.table
    for start, end, found in counted_pieces(conn, rows, low, high, ROWS_PER_STATEMENT):
        if not found:
            continue
        inner = (
            select(
                hour_bucket(conn.dialect.name, rows.moment).label("hour"),
                table.c.type.label("kind"),
                *(measure.label(f"m{index}") for index, measure in enumerate(measures)),
            )
            .where(rows.condition, rows.moment >= start, rows.moment < end)
            .subquery()
        )
        # Grouped by the subquery's columns: bound values stay out of GROUP BY.
        sums = [func.sum(column) for column in list(inner.c)[2:]]
        query = select(inner.c.hour, inner.c.kind, func.count(), *sums).group_by(inner.c.hour, inner.c.kind)
        for hour, kind, count, *summed in conn.execute(query):
            if hour is not None:  # SQLite text that is not a moment has no hour
                yield as_hour(hour), kind, count, *(int(value or 0) for value in summed)


def kinds_per_hour(conn: Connection, low: datetime, high: datetime) -> dict[datetime, HourKinds]:
    """Every whole hour in [low, high) (hours without rows included), with its rows per kind."""
    hours: dict[datetime, HourKinds] = {}
    moment = low
    while moment < high:
        hours[moment] = HourKinds()
        moment += HOUR
    for hour, kind, count, coins in _grouped(
        conn, TRANSACTION_ROWS, low, high, func.abs(transactions.c.amount)
    ):
        tally = hours.setdefault(hour, HourKinds())
        tally.rows[kind] += count
        tally.coins[kind] += coins
    for hour, kind, count in _grouped(conn, CASE_ROWS, low, high):
        hours.setdefault(hour, HourKinds()).cases[kind] += count
    return hours
