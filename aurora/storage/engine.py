"""The engine factory: every wait bounded (connect, pool, statement, a silent server), SQLite's
pragmas and PostgreSQL's session settings (UTC, the statement timeout)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

from aurora.storage.deadline import bounded_connect_args, end_calls_on_dispose

STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 5
# A server that says nothing this long is not working on our statement (it would have cancelled it
# at the statement timeout and said so): the call ends (aurora.storage.deadline).
SILENCE_SECONDS = STATEMENT_TIMEOUT_MS / 1000 + 2


def create_db_engine(database_url: str, *, silence_seconds: float | None = SILENCE_SECONDS) -> Engine:
    """An engine with bounded waits: no query or connect attempt may hang a request, even against a
    silent server. `silence_seconds=None`: no limit beyond TCP's (sessions that lift the statement
    timeout for long DDL)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"timeout": STATEMENT_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # WAL lets the dashboard read while the bot writes command records.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={STATEMENT_TIMEOUT_MS:d}")
            cursor.close()

        return engine

    connect_args, deadline = bounded_connect_args(silence_seconds)
    engine = create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, **connect_args},
    )
    end_calls_on_dispose(engine, deadline)

    @event.listens_for(engine, "connect")
    def _postgres_session(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT_MS,))
        cursor.close()
        dbapi_connection.commit()

    return engine
