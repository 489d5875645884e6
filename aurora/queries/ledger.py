"""Per-hour bookkeeping for the incremental stats (`aurora.queries.aggregates`).

The ledger keeps one `HourTally` per hour that the figures reach: command runs for each hour from
the one holding `now - 31 days` up to the open hour; for the hours from the one holding
`now - 24 h` on, also every row (the activity chart) and the command runs per name (the top
commands). A tally is what the database held when the hour was counted, plus the rows added by id
since. Parts of an hour (a window's edges) are counted live: directly, or as the kept hour minus
the rest of it, whichever holds fewer rows. Every count goes through `aurora.queries.pieces`, so no
statement grows with the table or the daily volume.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from aurora.queries.pieces import (
    HOURS_PER_STATEMENT,
    INDEX_ENTRIES_PER_ROW,
    INDEX_ENTRIES_PER_STATEMENT,
    command_names_between,
    count_between,
    count_per_hour,
    names_per_hour,
    quiet_counts_per_hour,
    quiet_names_per_hour,
)
from aurora.queries.scope import (
    COMMAND_ROWS,
    DAY,
    HOUR,
    TRANSACTION_ROWS,
    baseline_window,
    current_hour,
)
from aurora.queries.user_counts import UserCounts

# Relative cost of counting an hour with names (it reads the rows) against one with command runs only
# (an index-only count): what one statement may read of each, in the same time.
DETAILED_HOUR_WEIGHT = INDEX_ENTRIES_PER_ROW
# The transactions' hours are most of the first counts' work; the users' base is the rest.
HOURS_SHARE = 0.95


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


def needed_hours(now: datetime) -> dict[datetime, bool]:
    """Every hour the figures for `now` reach, oldest first, and whether it must be detailed: from the
    baseline's first hour on, detailed from the hour 24 h back (the last day's and the activity
    window's hours)."""
    first, detailed_from, last = current_hour(baseline_window(now)[0]), current_hour(now - DAY), current_hour(now)
    count = int((last - first) / HOUR) + 1
    hours = (first + index * HOUR for index in range(count))
    return {hour: hour >= detailed_from for hour in hours}


def weight(detailed: bool) -> int:
    return DETAILED_HOUR_WEIGHT if detailed else 1


@dataclass
class Ledger:
    """Kept hours, exact as of rows with id <= `last_id` (`last_row` tells that row's id was not
    reused), and the users' counts."""

    engine: Engine
    last_id: int
    last_row: tuple | None
    last_now: datetime
    hours: dict[datetime, HourTally] = field(default_factory=dict)
    users: UserCounts = field(default_factory=UserCounts)

    def missing(self, needed: dict[datetime, bool]) -> list[datetime]:
        """Needed hours not kept, or kept without the detail they now need; newest first."""
        return [
            hour for hour, detailed in reversed(needed.items())
            if hour not in self.hours or (detailed and not self.hours[hour].detailed)
        ]

    def due_for_check(self, now: datetime, period: timedelta) -> list[datetime]:
        """Kept hours to count again, oldest count first: those not counted for a whole `period`, and
        a share of the rest, so that each hour is counted again within every period."""
        by_age = sorted(self.hours, key=lambda hour: self.hours[hour].checked_at)
        elapsed = max(now - self.last_now, timedelta(0))
        share = math.ceil(len(by_age) * (elapsed / period))
        overdue = sum(1 for hour in by_age if self.hours[hour].checked_at <= now - period)
        return by_age[: max(share, overdue)]

    def busiest(self) -> tuple[int, int]:
        """The most command runs and the most rows a kept hour holds."""
        commands = max((tally.commands for tally in self.hours.values()), default=0)
        rows = max((tally.total or 0 for tally in self.hours.values()), default=0)
        return commands, rows

    def complete(self, needed: dict[datetime, bool]) -> bool:
        return not self.missing(needed) and self.users.base is not None

    def progress(self, needed: dict[datetime, bool]) -> float:
        """The share of the counting work done before figures exist (0..1): the hours, weighted by
        what counting each costs, then the users' first base."""
        missing = set(self.missing(needed))
        total = sum(weight(detailed) for detailed in needed.values())
        done = sum(weight(detailed) for hour, detailed in needed.items() if hour not in missing)
        hours_share = done / total if total else 1.0
        return round(HOURS_SHARE * hours_share + (1 - HOURS_SHARE) * self.users.progress, 3)

    def apply(
        self,
        new_rows: Iterable[tuple[datetime, bool, str | None, int]],
        counted: dict[datetime, HourTally],
        needed: dict[datetime, bool],
    ) -> None:
        """Add rows found by id to the kept hours, replace the hours counted again, drop or summarise
        the hours the figures no longer reach. Pure bookkeeping: nothing here can fail halfway."""
        for hour, is_command, name, rows in new_rows:
            tally = self.hours.get(hour)
            if tally is not None and hour not in counted:  # a recount already holds these rows
                tally.add(is_command, name, rows)
        self.hours.update(counted)
        kept = {}
        for hour, tally in self.hours.items():
            if hour not in needed:
                continue
            if tally.detailed and not needed[hour]:
                tally = HourTally(tally.commands, checked_at=tally.checked_at)  # past the last day
            kept[hour] = tally
        self.hours = kept


def _overlaps(low: datetime, high: datetime) -> Iterable[tuple[datetime, datetime, datetime]]:
    """(hour, start, end) for every hour that [low, high) touches, with the part inside it."""
    hour = current_hour(low)
    while hour < high:
        yield hour, max(low, hour), min(high, hour + HOUR)
        hour += HOUR


def commands_between(conn: Connection, ledger: Ledger, low: datetime, high: datetime) -> int:
    """Command runs with low <= created_at < high: kept hours whole, the edges counted live."""
    runs = 0
    for hour, start, end in _overlaps(low, high):
        whole = start == hour and end == hour + HOUR
        runs += ledger.hours[hour].commands if whole else count_between(conn, COMMAND_ROWS, start, end)
    return runs


def names_between(conn: Connection, ledger: Ledger, low: datetime, high: datetime) -> Counter:
    """Command runs per name with low <= created_at < high, from detailed kept hours."""
    names: Counter = Counter()
    for hour, start, end in _overlaps(low, high):
        tally = ledger.hours[hour]
        if start == hour and end == hour + HOUR:
            names.update(tally.names)
            continue
        inside = count_between(conn, COMMAND_ROWS, start, end)
        if inside <= tally.commands - inside:
            names.update(command_names_between(conn, start, end) if inside else {})
        else:
            # Fewer rows outside the part: the kept hour minus them (the open hour minus the rows
            # dated after now, usually none).
            names.update(tally.names)
            names.subtract(command_names_between(conn, hour, start))
            names.subtract(command_names_between(conn, end, hour + HOUR))
    return +names  # drops names whose runs cancelled out
