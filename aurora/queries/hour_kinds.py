"""Rows per hour and kind: transactions per type (with their coins) and moderation cases per type.

The day at a glance (`aurora.queries.day_glance`) and the hour breakdown (`aurora.queries.hours`) count
with these. A range is first cut into pieces of at most ROWS_PER_STATEMENT rows
(`aurora.queries.bounded_counts.next_piece`, index range scans on created_at), then each piece is
grouped by hour and type: no statement reads more than a piece, whatever the volume. `KindsCounting`
spreads a range over calls with a budget of rows each, so no call reads much more than its budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, literal, select, true

from aurora.queries import MICROSECOND
from aurora.queries.bounded_counts import ROWS_PER_STATEMENT, next_piece
from aurora.queries.figure_definitions import HOUR, TRANSACTION_ROWS, Rows, hour_bucket
from aurora.queries.hourly_counts import as_hour
from aurora.storage.tables import COMMAND_RUN, moderation_cases, transactions

CASE_ROWS = Rows(moderation_cases, moderation_cases.c.created_at, true())
# Coins are summed as |amount| = high * COIN_PART + low, both parts summed apart: abs() of BIGINT's
# lowest value and a sum past 64 bits overflow in PostgreSQL and SQLite alike, while each part stays
# below 2^32 and a piece's sum of them far inside 64 bits. Python adds the parts up exactly.
COIN_PART = 2**32


def coin_parts(amount) -> tuple:
    """|amount| // COIN_PART and |amount| % COIN_PART as SQL. SQLAlchemy renders `//` on integers
    as the databases' integer division, which (like `%`) truncates towards zero in both: both
    parts share the amount's sign, so their abs() add up to |amount|."""
    return func.abs(amount // literal(COIN_PART)), func.abs(amount % literal(COIN_PART))


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


def _grouped(conn: Connection, rows: Rows, start: datetime, end: datetime, *measures):
    """(hour, type, count, *measures) for the rows in [start, end): one piece, one statement."""
    table = rows.table
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


class KindsCounting:
    """The hours of [low, high) counted piece by piece, oldest rows first, both tables abreast, over as
    many calls as a budget of rows asks: each call reads whole pieces (at most ROWS_PER_STATEMENT rows
    each) until its budget is spent, and hands out the hours both tables have been counted past."""

    def __init__(
        self, low: datetime, high: datetime, rows_per_statement: int = ROWS_PER_STATEMENT, *, until: datetime
    ) -> None:
        """`until` (the clock's now + 1 µs): rows dated from then on have not happened yet and are
        not counted, so a row dated 2100 or a bot's clock running ahead counts in no hour."""
        self.high = high
        self.rows_per_statement = rows_per_statement
        self.hours: dict[datetime, HourKinds] = {}
        moment = low
        while moment < high:
            self.hours[moment] = HourKinds()
            moment += HOUR
        # Per table (transactions, cases): the ranges not counted yet, oldest last.
        counted = (low, max(low, min(high, until)))
        self._pending: tuple[list, list] = ([counted], [counted])

    @property
    def remaining(self) -> tuple[datetime, datetime] | None:
        """The range of the hours not handed out yet (None once all are)."""
        return (min(self.hours), self.high) if self.hours else None

    def _counted_until(self, table: int) -> datetime:
        pending = self._pending[table]
        return pending[-1][0] if pending else self.high

    def advance(self, conn: Connection, budget: int | None = None) -> tuple[dict[datetime, HourKinds], int]:
        """Count on until `budget` rows are read (at least one piece; None: to the end). Returns the
        hours now wholly counted (handed out once) and the rows read."""
        read = 0
        while self._pending[0] or self._pending[1]:
            table = 0 if self._counted_until(0) <= self._counted_until(1) else 1
            piece = next_piece(conn, (TRANSACTION_ROWS, CASE_ROWS)[table], self._pending[table], self.rows_per_statement)
            if piece is None:
                continue
            start, end, found = piece
            if read and budget is not None and read + found > budget:
                self._pending[table].append((start, end))  # the next call reads it
                break
            read += found
            if found:
                self._add(conn, table, start, end)
        done = min(self._counted_until(0), self._counted_until(1))
        whole = {hour: tally for hour, tally in self.hours.items() if hour + HOUR <= done}
        for hour in whole:
            del self.hours[hour]
        return whole, read

    def _add(self, conn: Connection, table: int, start: datetime, end: datetime) -> None:
        if table == 0:
            high_parts, low_parts = coin_parts(transactions.c.amount)
            for hour, kind, count, high, low in _grouped(conn, TRANSACTION_ROWS, start, end, high_parts, low_parts):
                tally = self.hours.setdefault(hour, HourKinds())
                tally.rows[kind] += count
                tally.coins[kind] += high * COIN_PART + low
        else:
            for hour, kind, count in _grouped(conn, CASE_ROWS, start, end):
                self.hours.setdefault(hour, HourKinds()).cases[kind] += count


def kinds_per_hour(conn: Connection, low: datetime, high: datetime, now: datetime) -> dict[datetime, HourKinds]:
    """Every whole hour in [low, high) (hours without rows included), with its rows per kind up to `now`."""
    return KindsCounting(low, high, until=now + MICROSECOND).advance(conn)[0]
