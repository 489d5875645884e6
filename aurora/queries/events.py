"""The Recent Events list: newest transactions and moderation cases, worded for the public.

A message names what happened (kind, amount, command name, case number) and nothing that
identifies a person: no user ids, usernames, moderators, reasons or free-text descriptions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, literal, select

from aurora.queries import MICROSECOND
from aurora.stats.model import RecentEvent
from aurora.storage.tables import COMMAND_RUN, moderation_cases, transactions

RECENT_EVENTS_LIMIT = 10
FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)
LAST_MOMENT = datetime.max.replace(tzinfo=UTC)
# The first moment shown: a day after Python's first, so that it stays a datetime in any viewer's
# zone (UTC offsets stay well within a day).
FIRST_SHOWN = FIRST_MOMENT + timedelta(days=1)
# The text SQLAlchemy and other writers store in SQLite begins with a four-digit year.
SQLITE_MOMENT_PATTERN = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"

_TRANSACTION_WORDING = {
    "DAILY_REWARD": "Daily reward claimed",
    "TRANSFER_IN": "Transfer received",
    "TRANSFER_OUT": "Transfer sent",
    "SHOP_BUY": "Shop purchase",
}


def format_coins(amount: int) -> str:
    return f"{abs(amount):,} coin" + ("" if abs(amount) == 1 else "s")


def transaction_message(kind: str, amount: int, description: str | None) -> tuple[str, str]:
    if kind == COMMAND_RUN:
        name = (description or "").strip().lstrip("/")
        return "info", (f"Command /{name} run" if name else "Command run")
    wording = _TRANSACTION_WORDING.get(kind)
    if wording is None:
        return "success", f"Transaction {kind}: {format_coins(amount)}"
    return "success", f"{wording}: {format_coins(amount)}"


def moderation_message(case_number: str, kind: str) -> str:
    return f"Moderation case {case_number}: {kind}"


def shown_moment(column, dialect_name: str, now: datetime):
    """Rows that have happened by `now` and whose moment every zone can show. A row dated in the
    future (a wrong clock, 2100, 9999-12-31) would otherwise sit at the top for good; PostgreSQL
    stores years up to 294276 and SQLite any text, which no Python datetime holds. Both bounds
    are a range on the created_at index, so the newest rows are still read from its end."""
    in_range = (column >= FIRST_SHOWN, column < now + MICROSECOND)
    if dialect_name == "sqlite":
        return (column.op("GLOB")(literal(SQLITE_MOMENT_PATTERN)), *in_range)
    return in_range


def recent_events(conn: Connection, now: datetime, limit: int = RECENT_EVENTS_LIMIT) -> list[RecentEvent]:
    """The newest `limit` events dated up to `now`, newest first."""
    dialect = conn.dialect.name
    newest_transactions = conn.execute(
        select(
            transactions.c.type,
            transactions.c.amount,
            transactions.c.description,
            transactions.c.created_at,
        )
        .where(*shown_moment(transactions.c.created_at, dialect, now))
        .order_by(transactions.c.created_at.desc(), transactions.c.id.desc())
        .limit(limit)
    )
    newest_cases = conn.execute(
        select(moderation_cases.c.case_id, moderation_cases.c.type, moderation_cases.c.created_at)
        .where(*shown_moment(moderation_cases.c.created_at, dialect, now))
        .order_by(moderation_cases.c.created_at.desc(), moderation_cases.c.id.desc())
        .limit(limit)
    )
    events = []
    for kind, amount, description, created_at in newest_transactions:
        event_kind, message = transaction_message(kind, amount, description)
        events.append(RecentEvent(kind=event_kind, message=message, timestamp=created_at))
    for case_number, kind, created_at in newest_cases:
        events.append(
            RecentEvent(kind="error", message=moderation_message(case_number, kind), timestamp=created_at)
        )
    # Stable sort: on equal timestamps transactions stay before cases, each newest-id first.
    events.sort(key=lambda event: event.timestamp, reverse=True)
    return events[:limit]
