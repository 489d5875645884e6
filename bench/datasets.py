"""What every generated benchmark data set shares: its PostgreSQL database and schema, the
`bench_meta` table that says it is complete, its indexes dropped for the load, and the analysis after.

`bench.generate` (fixed sizes, COPY), `bench.daily_volume` (a busy bot, SQL) and `bench.live_db` (a copy
with someone else's indexes) build on these.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.schema import CreateSchema, DropSchema

from aurora.storage.tables import metadata


def schema_url(base: str, schema: str) -> str:
    """`base` (a PostgreSQL URL) with `schema` first on the search path."""
    return f"{base}?options={quote(f'-csearch_path={schema}')}"


def ensure_postgres_database(base: str) -> None:
    url = make_url(base)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database})
            if exists.first() is None:
                # An identifier cannot be a bound parameter; the name comes from our own constant/URL.
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def reset_schema(base_url: str, schema: str) -> None:
    """`schema` of `base_url`'s database, emptied (dropped and created again)."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(DropSchema(schema, cascade=True, if_exists=True))
            conn.execute(CreateSchema(schema))
    finally:
        admin.dispose()


def drop_indexes(conn: Connection) -> None:
    # Loading first and indexing after is several times faster than maintaining indexes per row.
    for table in metadata.tables.values():
        for index in table.indexes:
            index.drop(conn, checkfirst=True)


def read_meta(engine: Engine) -> dict[str, str]:
    """What `write_meta` recorded in the data set behind `engine`; empty if nothing was."""
    with engine.connect() as conn:
        try:
            return dict(conn.execute(text("SELECT key, value FROM bench_meta")).all())
        except Exception:  # no meta table yet: nothing generated here
            return {}


def write_meta(conn: Connection, meta: dict[str, str]) -> None:
    """Record `meta` in the data set (the last step of making it: a set without it is made again)."""
    conn.execute(text("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
    conn.execute(text("INSERT INTO bench_meta (key, value) VALUES (:key, :value)"),
                 [{"key": key, "value": value} for key, value in meta.items()])


def complete_data_end(engine: Engine, version: str) -> datetime | None:
    """The `data_end` of a complete data set made by generator `version`, or None: generate it."""
    meta = read_meta(engine)
    if meta.get("complete") == "yes" and meta.get("version") == version:
        return datetime.fromisoformat(meta["data_end"])
    return None


def mark_complete(engine: Engine, version: str, data_end: datetime) -> None:
    """Record that the data set is whole (the last step of generating it)."""
    with engine.begin() as conn:
        write_meta(conn, {"version": version, "data_end": data_end.isoformat(), "complete": "yes"})


def analyze(engine: Engine, sqlite: bool) -> None:
    if sqlite:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return
    # VACUUM sets the visibility map, without which PostgreSQL cannot use index-only scans.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))
