"""`python app.py init-db` as an operator runs it, against a PostgreSQL that other sessions use:
writers never wait for its builds, and every way it can fail is one line on stderr, never a
traceback, with nothing left that the next run does not repair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from aurora.settings import Settings
from aurora.storage.engine import create_db_engine
from aurora.storage.init_db.command import init_database
from aurora.storage.tables import metadata

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres
INSERT_ROW = text("INSERT INTO transactions (amount, type, created_at) VALUES (0, 'COMMAND_RUN', now())")


def app_init_db(url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "init-db", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def assert_one_line(err: str, starts_with: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(starts_with), err
    return lines[0]


@pytest.fixture
def live(postgres_url):
    """Aurora's tables with all recommended indexes but those on `transactions`, some rows, and
    connections to play the bot and other sessions (closed at the end)."""
    engine = create_db_engine(postgres_url)
    with engine.begin() as conn:
        metadata.create_all(conn)
        for index in metadata.tables["transactions"].indexes:
            index.drop(conn)
        conn.execute(text(
            "INSERT INTO transactions (amount, type, created_at) "
            "SELECT 0, 'COMMAND_RUN', now() - n * interval '1 second' FROM generate_series(1, 5000) AS n"
        ))
    yield engine
    engine.dispose()


def open_writer_transaction(engine):
    """A session in the middle of a write to `transactions` (as a bot's slow transaction would be)."""
    conn = engine.connect()
    conn.execute(INSERT_ROW)
    return conn


def wait_for_build_phase(engine, phase_prefix: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    # Autocommit: PostgreSQL keeps one snapshot of the activity views per transaction.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while time.monotonic() < deadline:
            phase = conn.execute(text(
                "SELECT phase FROM pg_stat_progress_create_index WHERE relid = to_regclass('transactions')"
            )).scalar()
            if phase is not None and phase.startswith(phase_prefix):
                return
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
    raise AssertionError(f"the build never reached {phase_prefix!r}")


def valid_indexes(engine) -> dict[str, bool]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass('transactions') AND NOT i.indisprimary"
        )).all())


def test_writers_are_not_blocked_while_an_index_builds(live, postgres_url):
    blocker = open_writer_transaction(live)
    process = app_init_db(postgres_url)
    try:
        # The concurrent build now waits for the open write transaction to end; meanwhile other
        # sessions keep inserting, each with a lock timeout that would fail the insert were it made to wait.
        wait_for_build_phase(live, "waiting for writers", process)
        with live.connect() as writer:
            writer.execute(text("SET lock_timeout = '2s'"))
            for _ in range(20):
                writer.execute(INSERT_ROW)
                writer.commit()
    finally:
        blocker.commit()
        blocker.close()
    status, out, err = finish(process)
    assert status == 0, err
    assert "created: transactions(created_at) as ix_transactions_created_at" in out
    assert valid_indexes(live) == {"ix_transactions_created_at": True, "ix_transactions_type_created_at": True}
    with live.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == 5000 + 1 + 20


def test_a_plain_create_index_would_have_blocked_them(live):
    """The check above can fail: in the same situation a plain CREATE INDEX makes inserts wait."""
    blocker = open_writer_transaction(live)
    with live.connect() as ddl, live.connect() as writer:
        ddl.execute(text("SET lock_timeout = '5s'"))
        ddl_pid = ddl.execute(text("SELECT pg_backend_pid()")).scalar_one()
        ddl.commit()
        build = threading.Thread(target=lambda: ddl.execute(text("CREATE INDEX plain ON transactions (created_at)")))
        build.start()
        deadline = time.monotonic() + 30
        with live.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            while not probe.execute(text("SELECT cardinality(pg_blocking_pids(:pid)) > 0"), {"pid": ddl_pid}).scalar():
                assert time.monotonic() < deadline, "the plain CREATE INDEX never queued behind the open write"
                time.sleep(0.05)
        writer.execute(text("SET lock_timeout = '500ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            writer.execute(INSERT_ROW)
        blocker.commit()
        blocker.close()
        build.join()
        ddl.rollback()


def test_progress_is_reported_while_a_build_waits(live, postgres_url):
    blocker = open_writer_transaction(live)
    blocker_pid = blocker.execute(text("SELECT pg_backend_pid()")).scalar_one()
    lines: list[str] = []
    settings = Settings(database_url=postgres_url, database_is_default=False, demo=False)
    run = threading.Thread(target=init_database, args=(settings,), kwargs={"say": lines.append, "report_every": 0.2})
    run.start()
    try:
        deadline = time.monotonic() + 30
        while not any("waiting for pid" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        blocker.commit()
        blocker.close()
        run.join(timeout=30)
    progress = [line for line in lines if line.startswith("  ix_transactions_created_at: ")]
    assert progress, lines
    assert progress[0].startswith(
        "  ix_transactions_created_at: waiting for writers before build, 0% (0 of 1 sessions), "
        f"waiting for pid {blocker_pid} ("
    )
    assert "idle in transaction" in progress[0]
    assert lines[-1].endswith("2 created, 2 already present")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        # Long enough for init-db's monitor to see whom the build waits for, even on a busy machine.
        ({"AURORA_DDL_LOCK_TIMEOUT_SECONDS": "3"}, "waited longer than AURORA_DDL_LOCK_TIMEOUT_SECONDS=3 s"),
        ({"AURORA_DDL_TIMEOUT_SECONDS": "3"}, "took longer than AURORA_DDL_TIMEOUT_SECONDS=3 s"),
    ],
    ids=["lock-timeout", "statement-timeout"],
)
def test_a_timeout_is_one_line_and_the_next_run_repairs_what_it_left(live, postgres_url, env, says):
    blocker = open_writer_transaction(live)
    blocker_pid = blocker.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        status, out, err = finish(app_init_db(postgres_url, **env))
    finally:
        blocker.commit()
        blocker.close()
    assert status == 2
    line = assert_one_line(err, "aurora: init-db: building transactions(created_at) as ix_transactions_created_at ")
    assert says in line
    assert f"held up by pid {blocker_pid}" in line
    assert "the next `app.py init-db` drops the half-built index and builds it again" in line
    assert valid_indexes(live) == {"ix_transactions_created_at": False}

    status, out, err = finish(app_init_db(postgres_url))
    assert status == 0, err
    assert "dropped: invalid index ix_transactions_created_at on transactions" in out
    assert valid_indexes(live) == {"ix_transactions_created_at": True, "ix_transactions_type_created_at": True}


def test_ctrl_c_cancels_the_build_in_one_line_and_the_next_run_repairs_it(live, postgres_url):
    blocker = open_writer_transaction(live)
    process = app_init_db(postgres_url)
    try:
        wait_for_build_phase(live, "waiting for writers", process)
        process.send_signal(signal.SIGINT)
        status, out, err = finish(process, timeout=10)
    finally:
        blocker.commit()
        blocker.close()
    assert status == 130
    assert_one_line(err, "aurora: init-db interrupted while building transactions(created_at)")
    assert valid_indexes(live) == {"ix_transactions_created_at": False}
    status, out, err = finish(app_init_db(postgres_url))
    assert status == 0, err
    assert valid_indexes(live) == {"ix_transactions_created_at": True, "ix_transactions_type_created_at": True}


def test_a_second_init_db_waits_for_the_first(live, postgres_url):
    with live.connect() as other_run:
        other_run.execute(text("SELECT pg_advisory_lock(hashtext('aurora-dashboard init-db'))"))
        status, out, err = finish(app_init_db(postgres_url, AURORA_DDL_LOCK_TIMEOUT_SECONDS="1"))
        assert status == 2
        assert_one_line(err, "aurora: init-db: another `app.py init-db` is still running on this database")
        assert "waiting for another `app.py init-db`" in out
    assert valid_indexes(live) == {}


@pytest.fixture
def role_without_rights(live, postgres_url, postgres_admin_engine):
    """A login role that may read Aurora's tables but owns none (as a dashboard's read-only role)."""
    role = f"aurora_ro_{uuid.uuid4().hex[:10]}"
    schema = make_url(postgres_url).query["options"].split("=", 1)[1]
    with postgres_admin_engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
    yield make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    with postgres_admin_engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def test_a_role_without_rights_gets_one_line_and_can_still_check(role_without_rights):
    status, out, err = finish(app_init_db(role_without_rights))
    assert status == 2
    line = assert_one_line(err, "aurora: init-db: building transactions(created_at) as ix_transactions_created_at")
    assert "permission denied (must be owner of table transactions)" in line
    status, out, err = finish(app_init_db(role_without_rights, "--check"))
    assert status == 1 and err == ""
    assert "missing: transactions(created_at)" in out


@pytest.mark.parametrize(
    ("url", "starts_with"),
    [
        ("postgresql://postgres@127.0.0.1:1/aurora", "aurora: init-db: cannot connect to postgresql+psycopg2://postgres@127.0.0.1:1/aurora"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", "aurora: init-db: cannot connect to"),
        ("sqlite:////nonexistent-folder/aurora.db", "aurora: init-db: cannot connect to sqlite:////nonexistent-folder"),
    ],
)
def test_an_unreachable_database_is_one_line(url, starts_with):
    status, out, err = finish(app_init_db(url))
    assert status == 2
    assert_one_line(err, starts_with)


def test_a_bad_ddl_setting_is_one_line():
    status, out, err = finish(app_init_db("sqlite:///unused.db", AURORA_DDL_TIMEOUT_SECONDS="forever"))
    assert status == 2
    assert_one_line(err, "aurora: AURORA_DDL_TIMEOUT_SECONDS='forever' is not a whole number")


def test_sqlite_init_db_creates_and_then_finds_everything(tmp_path):
    url = f"sqlite:///{tmp_path / 'aurora.db'}"
    status, out, err = finish(app_init_db(url))
    assert status == 0, err
    assert out.count("created: table") == 3
    status, out, err = finish(app_init_db(url, "--check"))
    assert status == 0 and out.strip().endswith("init-db --check: everything present")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_users_created_at_is_active"))
    engine.dispose()
    status, out, err = finish(app_init_db(url))
    assert status == 0, err
    assert "created: users(created_at, is_active) as ix_users_created_at_is_active in" in out
