"""Per-hour bookkeeping for the incremental stats (`aurora.queries.aggregates`).

The ledger keeps one `HourTally` per hour that the figures reach: command runs for each hour from
the one holding `now - 31 days` up to the open hour; for the hours from the one holding
`now - 24 h` on, also every row (the activity chart) and the command runs per name (the top
commands). A tally is what the database held when the hour was counted, plus the rows added by id
since. Parts of an hour (a window's edges) are counted live: directly, or as the kept hour minus
the rest of it, whichever holds fewer rows. Whole hours are counted by `aurora.queries.hour_tallies`.
Every count goes through `aurora.queries.bounded_counts` and `aurora.queries.hourly_counts`, so no
statement grows with the table or the daily volume.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from aurora.queries.bounded_counts import INDEX_ENTRIES_PER_ROW, command_names_between, count_between
from aurora.queries.figure_definitions import COMMAND_ROWS, DAY, HOUR, baseline_window, current_hour
from aurora.queries.hour_tallies import HourTally
from aurora.queries.user_counts import UserCounts

# Relative cost of counting an hour with names (it reads the rows) against one with command runs only
# (an index-only count): what one statement may read of each, in the same time.
DETAILED_HOUR_WEIGHT = INDEX_ENTRIES_PER_ROW
# The transactions' hours are most of the first counts' work; the users' base is the rest.
HOURS_SHARE = 0.95


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
