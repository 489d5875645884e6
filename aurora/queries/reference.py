"""All database figures by their plain definitions: the reference the incremental stats are held to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from aurora.queries.activity import activity_overview
from aurora.queries.counts import (
    count_active_users,
    count_active_users_month_ago,
    count_commands_between,
    top_commands,
)
from aurora.queries.events import recent_events
from aurora.queries.figure_definitions import baseline_window, last_day_window
from aurora.stats.model import DatabaseStats


def compute_database_stats(engine: Engine, now: datetime) -> DatabaseStats:
    """The reference: every figure by its plain definition (`aurora.queries`), in one read
    transaction, as of `now`. The tests and the bench check `aurora.queries.aggregates.IncrementalStats`,
    which the app runs, against this; it is also the service's compute where none is given."""
    with engine.connect() as conn:
        return DatabaseStats(
            computed_at=now,
            active_users=count_active_users(conn),
            active_users_month_ago=count_active_users_month_ago(conn, now),
            commands_24h=count_commands_between(conn, *last_day_window(now)),
            commands_previous_30_days=count_commands_between(conn, *baseline_window(now)),
            recent_events=tuple(recent_events(conn, now)),
            activity=tuple(activity_overview(conn, now)),
            top_commands=tuple(top_commands(conn, now)),
        )
