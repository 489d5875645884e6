"""`app.py init-db [--check]`: create the missing tables and recommended indexes, safely on a live
database that Aurora Dashboard does not own.

On PostgreSQL:
- DDL runs on a connection of its own with `AURORA_DDL_TIMEOUT_SECONDS` as statement timeout and
  `AURORA_DDL_LOCK_TIMEOUT_SECONDS` as lock timeout, instead of the requests' 5 s.
- Indexes are built with `CREATE INDEX CONCURRENTLY` (autocommit): it takes no lock that the bot's
  inserts wait for. A recommended index counts as present when any index serves it, whatever its
  name (`aurora.storage.init_db.indexes`); an invalid one left by an interrupted build is dropped
  (`DROP INDEX CONCURRENTLY`) and built again.
- Each statement runs under watch (`aurora.storage.init_db.watched_ddl`): a second connection reports its progress,
  and Ctrl-C cancels it. Any failure is one line; what an interrupted build leaves behind (an
  invalid index) is what the next run repairs first.
- Two runs at once do not race: a session advisory lock makes the second wait for the first.

On SQLite tables and indexes are created as `CREATE ... IF NOT EXISTS` (SQLite builds an index
inside one write transaction; there is no online variant). Missing tables are always created
plain: they are empty.
"""

from __future__ import annotations

import time
from pathlib import Path

from psycopg2 import sql
from sqlalchemy import Connection, Engine, create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError

from aurora.settings import Settings
from aurora.storage.engine import create_db_engine
from aurora.storage.init_db.indexes import Existing, IndexState, index_states
from aurora.storage.init_db.watched_ddl import POLL_SECONDS, InitDbError, Say, WatchedDdl, first_line
from aurora.storage.tables import metadata

__all__ = ["InitDbError", "init_database"]

REPORT_EVERY_SECONDS = 5.0
_LOCK_NAME = "aurora-dashboard init-db"
_HALF_BUILT = "the next `app.py init-db` drops the half-built index and builds it again"
_HALF_DROPPED = "the next `app.py init-db` finishes dropping it"


def init_database(settings: Settings, *, check: bool = False, say: Say = print,
                  report_every: float = REPORT_EVERY_SECONDS) -> int:
    """Run `init-db` (or `init-db --check`); the exit status: 0 done / nothing missing, 1 missing."""
    url = make_url(settings.database_url)
    if check and url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not Path(url.database).exists():
            say(f"missing: database file {url.database}")
            return 1
        # The app's engine switches a SQLite file to WAL on connect; --check changes nothing.
        engine = create_engine(url)
    else:
        # Its DDL may rightly run silent up to its own statement timeout.
        engine = create_db_engine(settings.database_url, silence_seconds=settings.ddl_timeout_seconds + 2)
    try:
        # Autocommit: the monitor holds no transaction open that a concurrent build would wait for.
        with _connected(engine).execution_options(isolation_level="AUTOCOMMIT") as monitor:
            if check:
                return _check(monitor, say)
            return _Run(engine, monitor, settings, say, report_every).run()
    except KeyboardInterrupt:
        raise InitDbError("init-db interrupted; nothing was left half-done", 130) from None
    except DBAPIError as error:
        raise InitDbError(f"init-db: {first_line(error)}") from None
    finally:
        engine.dispose()


def _connected(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as error:
        where = engine.url.render_as_string(hide_password=True)
        raise InitDbError(f"init-db: cannot connect to {where}: {first_line(error)}") from None


def _existing_tables(conn: Connection) -> list[str]:
    present = set(inspect(conn).get_table_names())
    return [name for name in metadata.tables if name in present]


def _check(conn: Connection, say: Say) -> int:
    tables = _existing_tables(conn)
    missing = [f"table {name}" for name in metadata.tables if name not in tables]
    for name in missing:
        say(f"missing: {name}")
    for state in index_states(conn, tables):
        wanted = state.wanted
        if not state.missing:
            say(f"present: {wanted.describe()} as {state.present_as}")
            continue
        missing.append(wanted.describe())
        say(f"missing: {wanted.describe()}{_obstacle(state)}: {wanted.without}")
    if missing:
        say(f"init-db --check: {len(missing)} missing; `python app.py init-db` creates them")
        return 1
    say("init-db --check: everything present")
    return 0


def _obstacle(state: IndexState) -> str:
    """What stands where the missing index should be, if anything."""
    if state.broken:
        broken = state.broken[0]
        how = f"being built by pid {broken.builder_pid}" if broken.builder_pid else "left by an interrupted build"
        return f" (invalid {broken.name}, {how})"
    if state.name_taken_by is not None:
        return f" (the name {state.wanted.name} is taken by an index with another definition)"
    return ""


class _Run:
    """One `init-db` run: a DDL connection with its own limits, and `monitor` to watch it."""

    def __init__(self, engine: Engine, monitor: Connection, settings: Settings, say: Say, report_every: float):
        self.engine, self.monitor, self.settings = engine, monitor, settings
        self.say, self.report_every = say, report_every
        self.postgres = engine.dialect.name == "postgresql"
        self.created: list[str] = []
        self.present: list[str] = []

    def run(self) -> int:
        started = time.monotonic()
        where = self.engine.url.render_as_string(hide_password=True)
        with _connected(self.engine) as ddl:
            if self.postgres:
                self.say(f"init-db on {where} (DDL timeout {self.settings.ddl_timeout_seconds} s, "
                         f"lock timeout {self.settings.ddl_lock_timeout_seconds} s)")
                self._limit(ddl)
                self._serialize(ddl)
            else:
                self.say(f"init-db on {where}")
            self._create_tables(ddl)
            if self.postgres:
                ddl = ddl.execution_options(isolation_level="AUTOCOMMIT")
            watched = WatchedDdl(ddl, self.monitor, self.settings, self.say, self.report_every)
            for state in index_states(self.monitor, _existing_tables(self.monitor)):
                self._ensure(watched, state)
        self.say(f"init-db done in {time.monotonic() - started:.2f} s: {len(self.created)} created, "
                 f"{len(self.present)} already present")
        return 0

    def _limit(self, ddl: Connection) -> None:
        for name, seconds in (("statement_timeout", self.settings.ddl_timeout_seconds),
                              ("lock_timeout", self.settings.ddl_lock_timeout_seconds)):
            ddl.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": f"{seconds}s"})
        ddl.commit()

    def _serialize(self, ddl: Connection) -> None:
        """Hold the init-db lock of this database for the session; wait (bounded) if another run has it."""
        take = text("SELECT pg_try_advisory_lock(hashtext(:name))")
        deadline = time.monotonic() + self.settings.ddl_lock_timeout_seconds
        announced = False
        while not ddl.execute(take, {"name": _LOCK_NAME}).scalar_one():
            ddl.commit()
            if time.monotonic() >= deadline:
                raise InitDbError(
                    "init-db: another `app.py init-db` is still running on this database after waiting "
                    f"AURORA_DDL_LOCK_TIMEOUT_SECONDS={self.settings.ddl_lock_timeout_seconds} s; run it again later"
                )
            if not announced:
                self.say("waiting for another `app.py init-db` on this database to finish ...")
                announced = True
            time.sleep(POLL_SECONDS)
        ddl.commit()

    def _create_tables(self, ddl: Connection) -> None:
        existing = _existing_tables(self.monitor)
        missing = [table for name, table in metadata.tables.items() if name not in existing]
        if not missing:
            self.say(f"tables: {', '.join(existing)} present")
            return
        started = time.monotonic()
        try:
            with ddl.begin():
                metadata.create_all(ddl, tables=missing, checkfirst=True)
        except DBAPIError as error:
            watched = WatchedDdl(ddl, self.monitor, self.settings, self.say, self.report_every)
            raise watched.failure(error, f"creating table(s) {', '.join(t.name for t in missing)}") from None
        for table in missing:
            self.created.append(f"table {table.name}")
            self.say(f"created: table {table.name} with its indexes ({time.monotonic() - started:.2f} s)")

    def _ensure(self, watched: WatchedDdl, state: IndexState) -> None:
        wanted = state.wanted
        for broken in state.broken:
            if broken.builder_pid is not None:
                raise InitDbError(
                    f"init-db: index {broken.name} on {wanted.describe()} is being built by another session "
                    f"(pid {broken.builder_pid}); run init-db again when that build has finished"
                )
            self._drop(watched, broken)
        if not state.missing:
            self.present.append(state.present_as)
            self.say(f"present: {wanted.describe()} as {state.present_as}")
            return
        if state.name_taken_by is not None:
            raise InitDbError(
                f"init-db: an index named {wanted.name} already exists on {state.name_taken_by.table} with "
                f"another definition; rename or drop it, then run init-db again"
            )
        label = f"{wanted.describe()} as {wanted.name}"
        if not self.postgres:
            started = time.monotonic()
            index = next(index for index in metadata.tables[wanted.table].indexes if index.name == wanted.name)
            try:
                index.create(watched.ddl, checkfirst=True)
                watched.ddl.commit()
            except DBAPIError as error:
                raise watched.failure(error, f"building {label}") from None
            self.created.append(wanted.name)
            self.say(f"created: {label} in {time.monotonic() - started:.2f} s")
            return
        self.say(f"building: {label} (CREATE INDEX CONCURRENTLY: writes go on meanwhile)")
        statement = sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({})").format(
            sql.Identifier(wanted.name), sql.Identifier(wanted.table),
            sql.SQL(", ").join(sql.Identifier(column) for column in wanted.columns),
        )
        seconds = watched.run(statement, f"building {label}", wanted.name, left=_HALF_BUILT)
        self.created.append(wanted.name)
        self.say(f"created: {label} in {seconds:.2f} s")

    def _drop(self, watched: WatchedDdl, broken: Existing) -> None:
        if not self.postgres:
            return  # SQLite has no invalid indexes
        name = sql.Identifier(broken.schema, broken.name)
        seconds = watched.run(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name),
                              f"dropping invalid index {broken.name}", broken.name, left=_HALF_DROPPED)
        self.say(f"dropped: invalid index {broken.name} on {broken.table} (left by an interrupted build) "
                 f"in {seconds:.2f} s")
