"""One hour's rows as the incremental stats keep them (`HourTally`), and the counting of a list of
hours in statements sized by the busiest hour seen (`count_hours`), for `aurora.queries.ledger`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from aurora.queries.bounded_counts import INDEX_ENTRIES_PER_STATEMENT
from aurora.queries.figure_definitions import COMMAND_ROWS, HOUR, TRANSACTION_ROWS
from aurora.queries.hourly_counts import (
    HOURS_PER_STATEMENT,
    count_per_hour,
    names_per_hour,
    quiet_counts_per_hour,
    quiet_names_per_hour,
)


@dataclass
class HourTally:
    """One hour's rows; `total` and `names` only for detailed hours (None otherwise)."""

    commands: int
    checked_at: datetime
    total: int | None = None
    names: Counter | None = field(default=None)  # command name (None: no description) -> runs

    @property
    def detailed(self) -> bool:
        return self.names is not None

    def add(self, is_command: bool, name: str | None, rows: int) -> None:
        if is_command:
            self.commands += rows
            if self.names is not None:
                self.names[name] += rows
        if self.total is not None:
            self.total += rows


def count_hours(
    conn: Connection,
    wanted: list[tuple[datetime, bool]],
    now: datetime,
    out_of_time: Callable[[], bool],
    busiest: tuple[int, int] = (0, 0),
) -> dict[datetime, HourTally]:
    """Count the wanted (hour, detailed) as the database holds them now, in the order given.

    `busiest` (the most command runs and rows an hour held so far) sizes the statements: quiet
    hours are counted all together, a few grouped statements for the lot; busy ones a day's hours
    at a time (several hours per statement), looking at `out_of_time()` between days (at least one
    day is counted)."""
    counted: dict[datetime, HourTally] = {}
    commands_hint, rows_hint = busiest
    position = 0
    while position < len(wanted):
        if counted and out_of_time():
            break
        rest = wanted[position:]
        if max(commands_hint, rows_hint) * len(rest) <= INDEX_ENTRIES_PER_STATEMENT // 2:
            quiet = _count_quiet(conn, rest, now)
            if quiet is not None:
                counted.update(quiet)
                break
            # Busier than the hint said: hour by hour, until real counts size the statements.
            commands_hint = rows_hint = INDEX_ENTRIES_PER_STATEMENT // 2
        batch = wanted[position:position + HOURS_PER_STATEMENT]
        position += len(batch)
        detailed = [hour for hour, detail in batch if detail]
        summary = [hour for hour, detail in batch if not detail]
        for hour, commands in count_per_hour(conn, COMMAND_ROWS, summary, commands_hint).items():
            counted[hour] = HourTally(commands, checked_at=now)
        if detailed:
            totals = count_per_hour(conn, TRANSACTION_ROWS, detailed, rows_hint)
            names = names_per_hour(conn, count_per_hour(conn, COMMAND_ROWS, detailed, commands_hint))
            for hour in detailed:
                counted[hour] = HourTally(sum(names[hour].values()), checked_at=now, total=totals[hour],
                                          names=names[hour])
        commands_hint = max(tally.commands for tally in counted.values())
        rows_hint = max((tally.total or 0 for tally in counted.values()), default=0)
    return counted


def _count_quiet(
    conn: Connection, wanted: list[tuple[datetime, bool]], now: datetime
) -> dict[datetime, HourTally] | None:
    """All the wanted hours from one grouped statement per kind of count (each reading a bounded
    number of entries), or None if they hold more rows than that."""
    detailed = [hour for hour, detail in wanted if detail]
    summary = [hour for hour, detail in wanted if not detail]
    counted: dict[datetime, HourTally] = {}
    if summary:
        commands = quiet_counts_per_hour(conn, COMMAND_ROWS, min(summary), max(summary) + HOUR)
        if commands is None:
            return None
        counted.update({hour: HourTally(commands.get(hour, 0), checked_at=now) for hour in summary})
    if detailed:
        low, high = min(detailed), max(detailed) + HOUR
        totals = quiet_counts_per_hour(conn, TRANSACTION_ROWS, low, high)
        names = quiet_names_per_hour(conn, low, high) if totals is not None else None
        if names is None:
            return None
        for hour in detailed:
            runs = names.get(hour, Counter())
            counted[hour] = HourTally(sum(runs.values()), checked_at=now, total=totals.get(hour, 0), names=runs)
    return counted
