"""The schema Aurora's bot already uses, the engine factory, and `init_db`.

Timestamps are UTC everywhere. PostgreSQL stores them as `timestamptz`. SQLite has no time type:
rows hold text the way SQLAlchemy's `DateTime` writes it (`YYYY-MM-DD HH:MM:SS[.ffffff]`), and
other programs write the same form with or without the fraction. Text compares correctly across
both forms only when a bound value with a zero fraction is written *without* it and every range is
half-open (`>= low`, `< high`), so `UTCDateTime` renders bounds that way and the queries only use
half-open ranges.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator, UserDefinedType

from aurora.storage.deadline import bounded_connect_args, end_calls_on_dispose

# SQLite only has INTEGER auto-increment primary keys; BigInteger elsewhere.
_ID = BigInteger().with_variant(Integer(), "sqlite")
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 5
# A server that says nothing this long is not working on our statement (it would have cancelled it
# at the statement timeout and said so): the call ends (aurora.storage.deadline).
SILENCE_SECONDS = STATEMENT_TIMEOUT_MS / 1000 + 2


class _SQLiteDateTimeText(UserDefinedType):
    """DDL says DATETIME (as SQLAlchemy's own type does); values pass through as text."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "DATETIME"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes in Python, `timestamptz` or canonical text in the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteDateTimeText())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # isoformat omits a zero fraction: see the module docstring for why that matters.
            return value.replace(tzinfo=None).isoformat(sep=" ")
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", Text, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    # Incremental stats count the users registered since the last reconcile from this index alone.
    # `info["without"]`: what a refresh costs without the index (startup warnings, `init-db --check`).
    Index(
        "ix_users_created_at_is_active", "created_at", "is_active",
        info={"without": "each refresh reads the whole users table to count active users"},
    ),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=True),
    Column("amount", BigInteger, nullable=False, server_default=text("0")),
    Column("type", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(
        "ix_transactions_created_at", "created_at",
        info={"without": "each refresh reads the whole transactions table (newest events, hourly activity)"},
    ),
    Index(
        "ix_transactions_type_created_at", "type", "created_at",
        info={"without": "counting command runs in a window reads every transaction in it, not only the commands"},
    ),
)

moderation_cases = Table(
    "moderation_cases",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("case_id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("username", Text, nullable=False),
    Column("moderator_id", BigInteger, nullable=False),
    Column("moderator_name", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Index(
        "ix_moderation_cases_created_at", "created_at",
        info={"without": "each refresh reads the whole moderation_cases table for the newest cases"},
    ),
)

COMMAND_RUN = "COMMAND_RUN"


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


def missing_tables(engine: Engine) -> list[str]:
    existing = set(inspect(engine).get_table_names())
    return [name for name in metadata.tables if name not in existing]


def init_db(engine: Engine) -> None:
    """Create the tables and indexes that are missing; existing ones are left exactly as they are."""
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        for table in metadata.tables.values():
            for index in table.indexes:
                index.create(conn, checkfirst=True)
