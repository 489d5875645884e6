"""Which of the recommended indexes a database has, judged by definition, never by name.

The recommended indexes are the `Index` objects of the tables in `aurora.storage.tables`; each one's
`info["without"]` says what a refresh costs when it is missing. An existing index serves one when
it is usable (valid; on PostgreSQL also ready and live), a b-tree, has no predicate, and its
leading key columns are exactly the recommended columns in that order, as plain columns with the
column's default operator class and collation. So a wider index counts: more key columns after
those, or INCLUDE columns. Every query that needs a recommended index filters or orders by its
leading columns only, which a b-tree with the same leading columns serves the same way, and the
active-user counts still read `users(created_at, is_active, ...)` alone, without the table. Not
counted: another column order (`users(is_active, created_at)` cannot serve a range of created_at),
a predicate, an expression among those columns, another access method. On SQLite, collations and
operator classes are not compared (SQLite has no operator classes; Aurora's columns declare no
collation).

An index left invalid by an interrupted `CREATE INDEX CONCURRENTLY` serves nothing but is still
maintained on every insert: it is "broken" when it bears the recommended name or has exactly the
recommended key columns, and `app.py init-db` drops and rebuilds it. Only catalog queries here,
cheap enough for every startup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.types import Text

from aurora.storage.tables import metadata

log = logging.getLogger(__name__)

_POSTGRES_INDEXES = text(
    """
    SELECT wanted.name AS table_name, n.nspname AS schema_name, ic.relname AS index_name,
           i.indisvalid AND i.indisready AND i.indislive AS usable,
           am.amname = 'btree' AS btree,
           pg_get_expr(i.indpred, i.indrelid) AS predicate,
           ARRAY(
               SELECT CASE WHEN opc.opcdefault AND k.key_collation = a.attcollation THEN a.attname::text END
               FROM unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[])
                    WITH ORDINALITY AS k(key_attnum, key_opclass, key_collation, key_position)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.key_attnum AND k.key_attnum > 0
               LEFT JOIN pg_opclass opc ON opc.oid = k.key_opclass
               WHERE k.key_position <= i.indnkeyatts
               ORDER BY k.key_position
           ) AS key_columns,
           progress.pid AS builder_pid
    FROM unnest(:tables) AS wanted(name)
    JOIN pg_index i ON i.indrelid = to_regclass(wanted.name)
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
    JOIN pg_am am ON am.oid = ic.relam
    LEFT JOIN pg_stat_progress_create_index progress ON progress.index_relid = i.indexrelid
    ORDER BY ic.relname
    """
).bindparams(bindparam("tables", type_=ARRAY(Text)))
_SQLITE_INDEXES = text("SELECT name, partial FROM pragma_index_list(:table) ORDER BY name")
_SQLITE_KEY_COLUMNS = text("SELECT name FROM pragma_index_xinfo(:index) WHERE key = 1 ORDER BY seqno")


@dataclass(frozen=True)
class Recommended:
    name: str
    table: str
    columns: tuple[str, ...]
    without: str  # what a refresh costs while it is missing

    def describe(self) -> str:
        return f"{self.table}({', '.join(self.columns)})"


@dataclass(frozen=True)
class Existing:
    table: str
    schema: str | None
    name: str
    usable: bool
    btree: bool
    predicate: str | None
    key_columns: tuple[str | None, ...]  # None: an expression, or not the column's default opclass/collation
    builder_pid: int | None = None  # a CREATE INDEX CONCURRENTLY of another session still building it

    def serves(self, wanted: Recommended) -> bool:
        return (
            self.usable
            and self.btree
            and self.predicate is None
            and self.table == wanted.table
            and self.key_columns[: len(wanted.columns)] == wanted.columns
        )

    def is_broken_copy_of(self, wanted: Recommended) -> bool:
        """Invalid, and ours by name or exactly our definition: to be dropped and rebuilt."""
        if self.usable or self.table != wanted.table:
            return False
        same_definition = self.btree and self.predicate is None and self.key_columns == wanted.columns
        return self.name == wanted.name or same_definition


@dataclass(frozen=True)
class IndexState:
    wanted: Recommended
    present_as: str | None  # the name of a usable index that serves it
    broken: tuple[Existing, ...] = ()
    name_taken_by: Existing | None = None  # a usable index under our name with another definition

    @property
    def missing(self) -> bool:
        return self.present_as is None


def recommended_indexes() -> tuple[Recommended, ...]:
    return tuple(
        Recommended(
            name=index.name,
            table=table.name,
            columns=tuple(column.name for column in index.columns),
            without=index.info["without"],
        )
        for table in metadata.tables.values()
        for index in sorted(table.indexes, key=lambda index: index.name)
    )


def existing_indexes(conn: Connection, tables: list[str]) -> list[Existing]:
    """Every index on these tables (as the connection's search path resolves them)."""
    if conn.dialect.name == "postgresql":
        return [
            Existing(
                table=row.table_name,
                schema=row.schema_name,
                name=row.index_name,
                usable=row.usable,
                btree=row.btree,
                predicate=row.predicate,
                key_columns=tuple(row.key_columns),
                builder_pid=row.builder_pid,
            )
            for row in conn.execute(_POSTGRES_INDEXES, {"tables": tables})
        ]
    found = []
    for table in tables:
        for name, partial in conn.execute(_SQLITE_INDEXES, {"table": table}).all():
            columns = tuple(row[0] for row in conn.execute(_SQLITE_KEY_COLUMNS, {"index": name}))
            found.append(Existing(table, None, name, True, True, "partial" if partial else None, columns))
    return found


def index_states(conn: Connection, existing_tables: list[str]) -> list[IndexState]:
    """The state of every recommended index; those of tables not in `existing_tables` are missing."""
    existing = existing_indexes(conn, existing_tables)
    states = []
    for wanted in recommended_indexes():
        serving = [index for index in existing if index.serves(wanted)]
        # Ours by name first, then the narrowest: the one that is exactly the recommended index.
        serving.sort(key=lambda index: (index.name != wanted.name, len(index.key_columns), index.name))
        broken = tuple(index for index in existing if index.is_broken_copy_of(wanted))
        taken = next(
            (index for index in existing if index.name == wanted.name and index.usable and not index.serves(wanted)),
            None,
        )
        states.append(IndexState(wanted, serving[0].name if serving else None, broken, taken))
    return states


def missing_index_warnings(conn: Connection, existing_tables: list[str]) -> list[str]:
    """One line per recommended index the database lacks, naming it, its cost and the remedy."""
    lines = []
    for state in index_states(conn, existing_tables):
        if not state.missing:
            continue
        wanted = state.wanted
        if state.broken:
            what = f"is invalid ({state.broken[0].name}, left by an interrupted build)"
        else:
            what = "is missing"
        lines.append(
            f"index {wanted.describe()} {what}: {wanted.without}; "
            f"run `python app.py init-db` to build it (writers keep writing meanwhile)"
        )
    return lines


def log_missing_indexes(engine: Engine) -> None:
    """At startup on a database Aurora does not own: one WARNING per missing recommended index."""
    try:
        with engine.connect() as conn:
            warnings = missing_index_warnings(conn, list(metadata.tables))
    except ProgrammingError as error:
        # A server older than a catalog view the check reads: the dashboard works all the same.
        log.warning("could not check the recommended indexes (%s); `python app.py init-db --check` lists them",
                    str(error.orig).strip().splitlines()[0])
        return
    for warning in warnings:
        log.warning(warning)
