"""Recommended indexes are judged by definition: `init-db` (in process), `init-db --check` and the
startup warnings, on SQLite and PostgreSQL, against indexes that someone else made."""

from __future__ import annotations

import logging
import re
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from aurora import create_app
from aurora.settings import Settings
from aurora.storage.engine import create_db_engine
from aurora.storage.init_db.command import InitDbError, init_database
from aurora.storage.init_db.indexes import recommended_indexes
from aurora.storage.tables import metadata
from aurora.web.context import context_of
from tests.support import NOW, FrozenClock

RECOMMENDED = {wanted.describe() for wanted in recommended_indexes()}


@pytest.fixture
def make_bare():
    """Aurora's tables without any of the recommended indexes (a database made by someone else)."""
    engines = []

    def make(url: str):
        engine = create_db_engine(url)
        engines.append(engine)
        with engine.begin() as conn:
            metadata.create_all(conn)
            for table in metadata.tables.values():
                for index in table.indexes:
                    index.drop(conn)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def bare_engine(make_bare, database_url):
    return make_bare(database_url)


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, database_is_default=False, demo=False)


def run_init_db(database_url: str, *, check: bool = False) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = init_database(settings_for(database_url), check=check, say=lines.append)
    return status, lines


def index_catalog(engine) -> set[tuple]:
    """Every index of the three tables, by name and identity (PostgreSQL: oid), to see any change."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text(
                "SELECT c.relname, c.oid, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid IN (to_regclass('users'), to_regclass('transactions'), "
                "to_regclass('moderation_cases'))"
            ))
        else:
            rows = conn.execute(text(
                "SELECT name, sql, tbl_name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name IN ('users', 'transactions', 'moderation_cases')"
            ))
        return {tuple(row) for row in rows}


def index_names(engine) -> set[str]:
    return {row[0] for row in index_catalog(engine)}


def execute(engine, *statements: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in statements:
            conn.execute(text(statement))


def reported(lines: list[str], prefix: str) -> set[str]:
    """The index descriptions of the report lines starting with `prefix` (e.g. 'missing:')."""
    pattern = re.compile(rf"^{re.escape(prefix)} (table \w+|\w+\([^)]*\))")
    return {match.group(1) for line in lines if (match := pattern.match(line))}


def test_an_equivalent_index_under_another_name_counts_and_is_not_duplicated(bare_engine, database_url):
    execute(
        bare_engine,
        "CREATE INDEX tx_when ON transactions (created_at)",
        # Wider: the same leading columns and one more; it serves every query the recommended one does.
        "CREATE INDEX users_joined_active_name ON users (created_at, is_active, username)",
    )
    status, lines = run_init_db(database_url)
    assert status == 0, lines
    assert "present: transactions(created_at) as tx_when" in lines
    assert "present: users(created_at, is_active) as users_joined_active_name" in lines
    assert reported(lines, "created:") == {"transactions(type, created_at)", "moderation_cases(created_at)"}
    names = index_names(bare_engine)
    assert "ix_transactions_created_at" not in names and "ix_users_created_at_is_active" not in names
    assert {"ix_transactions_type_created_at", "ix_moderation_cases_created_at"} <= names


def test_check_changes_nothing_and_lists_exactly_what_is_missing(bare_engine, database_url):
    execute(bare_engine, "CREATE INDEX cases_by_time ON moderation_cases (created_at)")
    before = index_catalog(bare_engine)
    status, lines = run_init_db(database_url, check=True)
    assert status == 1
    assert index_catalog(bare_engine) == before
    assert reported(lines, "missing:") == RECOMMENDED - {"moderation_cases(created_at)"}
    assert "present: moderation_cases(created_at) as cases_by_time" in lines
    assert lines[-1] == "init-db --check: 3 missing; `python app.py init-db` creates them"

    assert run_init_db(database_url)[0] == 0
    status, lines = run_init_db(database_url, check=True)
    assert status == 0 and lines[-1] == "init-db --check: everything present"


def test_check_lists_missing_tables_too(sqlite_url):
    engine = create_db_engine(sqlite_url)
    with engine.begin() as conn:
        metadata.tables["transactions"].create(conn)
    status, lines = run_init_db(sqlite_url, check=True)
    engine.dispose()
    assert status == 1
    assert {"missing: table users", "missing: table moderation_cases"} <= set(lines)
    assert reported(lines, "missing:") == {
        "table users", "table moderation_cases", "users(created_at, is_active)", "moderation_cases(created_at)"
    }
    assert "present: transactions(created_at) as ix_transactions_created_at" in lines


def test_check_creates_no_sqlite_file_and_leaves_the_journal_mode(tmp_path):
    missing = tmp_path / "not-there.db"
    status, lines = run_init_db(f"sqlite:///{missing}", check=True)
    assert (status, lines) == (1, [f"missing: database file {missing}"])
    assert not missing.exists()

    existing = tmp_path / "rollback-journal.db"
    sqlite3.connect(existing).close()
    status, _lines = run_init_db(f"sqlite:///{existing}", check=True)
    assert status == 1
    with sqlite3.connect(existing) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_a_second_run_is_a_no_op(bare_engine, database_url):
    assert run_init_db(database_url)[0] == 0
    after_first = index_catalog(bare_engine)
    status, lines = run_init_db(database_url)
    assert status == 0
    assert index_catalog(bare_engine) == after_first  # same indexes, same identities: nothing rebuilt
    assert not any(line.startswith(("created:", "building:", "dropped:")) for line in lines)
    assert lines[-1].startswith("init-db done in") and lines[-1].endswith(": 0 created, 4 already present")


def test_missing_tables_are_created_with_their_indexes(database_url):
    status, lines = run_init_db(database_url)
    assert status == 0, lines
    assert {line.split(" with ")[0] for line in lines if line.startswith("created: table")} == {
        f"created: table {name}" for name in metadata.tables
    }
    assert reported(lines, "present:") == RECOMMENDED


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("definition", "serves"),
    [
        ("CREATE INDEX other ON transactions (created_at) WHERE type = 'COMMAND_RUN'", None),  # a predicate
        ("CREATE INDEX other ON users (is_active, created_at)", None),  # another column order
        ("CREATE INDEX other ON transactions (lower(type), created_at)", None),  # an expression
        ("CREATE INDEX other ON moderation_cases USING hash (created_at)", None),  # not a b-tree
        ('CREATE INDEX other ON transactions (type COLLATE "C", created_at)', None),  # another collation
        ("CREATE INDEX other ON transactions (type text_pattern_ops, created_at)", None),  # another opclass
        ("CREATE INDEX other ON transactions (created_at) INCLUDE (type)", "transactions(created_at)"),
        ("CREATE UNIQUE INDEX other ON moderation_cases (created_at, id)", "moderation_cases(created_at)"),
        ("CREATE INDEX other ON transactions (created_at DESC)", "transactions(created_at)"),
    ],
)
def test_which_other_postgres_indexes_count(make_bare, postgres_url, definition, serves):
    bare_engine = make_bare(postgres_url)
    execute(bare_engine, definition)
    status, lines = run_init_db(postgres_url, check=True)
    assert status == 1
    assert reported(lines, "missing:") == RECOMMENDED - {serves}
    assert reported(lines, "present:") == ({serves} if serves else set())


@pytest.mark.parametrize(
    "definition",
    [
        "CREATE INDEX other ON transactions (created_at) WHERE type = 'COMMAND_RUN'",
        "CREATE INDEX other ON users (is_active, created_at)",
        "CREATE INDEX other ON moderation_cases (date(created_at))",
    ],
)
def test_which_other_sqlite_indexes_count(make_bare, sqlite_url, definition):
    bare_engine = make_bare(sqlite_url)
    execute(bare_engine, definition)
    status, lines = run_init_db(sqlite_url, check=True)
    assert status == 1
    assert reported(lines, "missing:") == RECOMMENDED


@pytest.mark.postgres
def test_an_invalid_index_is_dropped_and_rebuilt(make_bare, postgres_url):
    bare_engine = make_bare(postgres_url)
    execute(bare_engine, "INSERT INTO moderation_cases (case_id, type, user_id, username, moderator_id, "
                         "moderator_name, reason, created_at) VALUES "
                         "('C-1', 'warn', 1, 'u', 2, 'm', 'r', '2026-01-01'), "
                         "('C-2', 'warn', 1, 'u', 2, 'm', 'r', '2026-01-01')")
    # A concurrent build that fails half-way leaves an invalid index behind: ours by name, and one of
    # someone else's with exactly the recommended definition.
    for name in ("ix_moderation_cases_created_at", "cases_created_idx"):
        with pytest.raises(IntegrityError):
            execute(bare_engine, f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON moderation_cases (created_at)")
    assert {(name, valid) for name, _oid, valid in index_catalog(bare_engine)} >= {
        ("ix_moderation_cases_created_at", False), ("cases_created_idx", False)
    }
    status, lines = run_init_db(postgres_url, check=True)
    assert status == 1
    assert "missing: moderation_cases(created_at) (invalid cases_created_idx, left by an interrupted build)" in (
        "\n".join(lines)
    )

    status, lines = run_init_db(postgres_url)
    assert status == 0, lines
    dropped = {line.split()[3] for line in lines if line.startswith("dropped: invalid index")}
    assert dropped == {"ix_moderation_cases_created_at", "cases_created_idx"}
    assert "created: moderation_cases(created_at) as ix_moderation_cases_created_at" in " ".join(lines)
    catalog = {(name, valid) for name, _oid, valid in index_catalog(bare_engine)}
    assert ("ix_moderation_cases_created_at", True) in catalog
    assert not any(not valid for _name, valid in catalog)


@pytest.mark.postgres
def test_an_index_under_our_name_with_another_definition_is_named_not_replaced(make_bare, postgres_url):
    bare_engine = make_bare(postgres_url)
    execute(bare_engine, "CREATE INDEX ix_users_created_at_is_active ON users (username)")
    status, lines = run_init_db(postgres_url, check=True)
    assert status == 1
    assert "missing: users(created_at, is_active) (the name ix_users_created_at_is_active is taken" in "\n".join(lines)
    with pytest.raises(InitDbError, match="an index named ix_users_created_at_is_active already exists"):
        run_init_db(postgres_url)


@pytest.mark.clock
@pytest.mark.parametrize("present", [False, True], ids=["missing", "present"])
def test_startup_warns_once_per_missing_index_and_never_for_present_ones(bare_engine, database_url, caplog, present):
    execute(bare_engine, "CREATE INDEX tx_when ON transactions (created_at)")
    if present:
        assert run_init_db(database_url)[0] == 0
    caplog.set_level(logging.WARNING, logger="aurora")
    app = create_app(settings_for(database_url), clock=FrozenClock(NOW))
    context_of(app).shutdown()
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    index_warnings = [message for message in warnings if message.startswith("index ")]
    if present:
        assert index_warnings == []
        return
    expected = RECOMMENDED - {"transactions(created_at)"}
    assert sorted(message.split(" is missing")[0].removeprefix("index ") for message in index_warnings) == sorted(
        expected
    )
    for message in index_warnings:
        assert "run `python app.py init-db`" in message
    users_warning = next(message for message in index_warnings if "users(created_at, is_active)" in message)
    assert "reads the whole users table" in users_warning
