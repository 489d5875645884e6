"""One hour's breakdown: command runs per name, other transactions per type with their coins,
moderation cases per type, and the same hour on the SAME_HOUR_DAYS days before (mean, min, max).

Bounded whatever the table holds: one hour of rows read in pieces (`aurora.queries.hour_kinds`,
`aurora.queries.bounded_counts.command_names_between`) and SAME_HOUR_DAYS hours counted from the
created_at and (type, created_at) indexes alone (`aurora.queries.hourly_counts.count_per_hour`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from aurora.bot.snapshot import CommandCount
from aurora.queries import MICROSECOND
from aurora.queries.bounded_counts import command_names_between
from aurora.queries.figure_definitions import COMMAND_ROWS, DAY, HOUR, TRANSACTION_ROWS, activity_window
from aurora.queries.hour_kinds import kinds_per_hour
from aurora.queries.hourly_counts import count_per_hour
from aurora.stats.hour_address import HourOutOfRange
from aurora.stats.model import SAME_HOUR_DAYS, HourBreakdown, KindCount, SameHourSpread, Spread
from aurora.storage.tables import COMMAND_RUN


def window_hours(now: datetime) -> list[datetime]:
    """The 24 hours of the activity chart, oldest first: the hours a breakdown exists for."""
    low, high = activity_window(now)
    return [low + index * HOUR for index in range(int((high - low) / HOUR))]


def check_in_window(hour: datetime, now: datetime) -> None:
    low, high = activity_window(now)
    if not low <= hour < high:
        raise HourOutOfRange("only the hours of the last 24 have a breakdown")


def previous_days(hour: datetime) -> list[datetime]:
    """The same hour on each of the SAME_HOUR_DAYS days before, oldest first."""
    return [hour - days * DAY for days in range(SAME_HOUR_DAYS, 0, -1)]


def hour_breakdown(conn: Connection, hour: datetime, now: datetime) -> HourBreakdown:
    """`hour`'s rows dated up to `now` (the open hour so far, none from the future)."""
    kinds = kinds_per_hour(conn, hour, hour + HOUR, now)[hour]
    runs = command_names_between(conn, hour, min(hour + HOUR, now + MICROSECOND))
    named = sorted(
        ((name, count) for name, count in runs.items() if name is not None),
        key=lambda item: (-item[1], item[0]),
    )
    earlier = previous_days(hour)
    commands = count_per_hour(conn, COMMAND_ROWS, earlier)
    rows = count_per_hour(conn, TRANSACTION_ROWS, earlier)
    other_kinds = sorted(
        (kind for kind in kinds.rows if kind != COMMAND_RUN), key=lambda kind: (-kinds.rows[kind], kind)
    )
    return HourBreakdown(
        hour=hour,
        commands_total=kinds.commands,
        commands=tuple(CommandCount(name, count) for name, count in named),
        transactions=tuple(KindCount(kind, kinds.rows[kind], kinds.coins[kind]) for kind in other_kinds),
        cases=tuple(
            KindCount(kind, count)
            for kind, count in sorted(kinds.cases.items(), key=lambda item: (-item[1], item[0]))
        ),
        same_hour=SameHourSpread(
            Spread.of([commands[day] for day in earlier]), Spread.of([rows[day] - commands[day] for day in earlier])
        ),
    )
