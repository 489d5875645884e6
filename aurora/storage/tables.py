"""The schema Aurora's bot already uses, what of it a database lacks, and `init_db` to create that
where Aurora owns the database (`aurora.storage.init_db` builds it safely on a live one).

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
    inspect,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator, UserDefinedType

# SQLite only has INTEGER auto-increment primary keys; BigInteger elsewhere.
_ID = BigInteger().with_variant(Integer(), "sqlite")


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


def event_table(name: str, *columns: Column, created_at_without: str, indexes: tuple[Index, ...] = ()) -> Table:
    """A table of events: an auto-increment id, `columns`, and the `created_at` every refresh reads
    by range through its own index (`created_at_without`: what a refresh costs without it)."""
    return Table(
        name,
        metadata,
        Column("id", _ID, primary_key=True, autoincrement=True),
        *columns,
        Column("created_at", UTCDateTime, nullable=False),
        Index(f"ix_{name}_created_at", "created_at", info={"without": created_at_without}),
        *indexes,
    )


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

transactions = event_table(
    "transactions",
    Column("user_id", BigInteger, nullable=True),
    Column("amount", BigInteger, nullable=False, server_default=text("0")),
    Column("type", Text, nullable=False),
    Column("description", Text, nullable=True),
    created_at_without="each refresh reads the whole transactions table (newest events, hourly activity)",
    indexes=(
        Index(
            "ix_transactions_type_created_at", "type", "created_at",
            info={"without": "counting command runs in a window reads every transaction in it, not only the commands"},
        ),
    ),
)

moderation_cases = event_table(
    "moderation_cases",
    Column("case_id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("username", Text, nullable=False),
    Column("moderator_id", BigInteger, nullable=False),
    Column("moderator_name", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    created_at_without="each refresh reads the whole moderation_cases table for the newest cases",
)

COMMAND_RUN = "COMMAND_RUN"


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
