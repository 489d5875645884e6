"""Look-ups the bot's slash commands make."""

from __future__ import annotations

from sqlalchemy import Connection, select

from aurora.storage.tables import users


def balance_of(conn: Connection, user_id: int) -> int | None:
    """The registered user's balance, or None if that user is not registered."""
    return conn.execute(select(users.c.balance).where(users.c.id == user_id)).scalar_one_or_none()
