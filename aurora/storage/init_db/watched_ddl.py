"""One DDL statement on PostgreSQL, run under watch: in a worker thread, while the calling thread
reads its progress from a second connection (`aurora.storage.init_db.progress`), prints it now and then,
and turns Ctrl-C into a cancel of the statement. Every way it can fail becomes an `InitDbError`
whose message is one line saying what happened and what to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from psycopg2 import sql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from aurora.settings import Settings
from aurora.storage.init_db.progress import Progress, describe_session, read_progress

POLL_SECONDS = 0.25
_CANCELED = "57014"  # query_canceled: statement timeout, or a cancel request
_LOCK_NOT_AVAILABLE = "55P03"
_INSUFFICIENT_PRIVILEGE = "42501"

Say = Callable[[str], None]


class InitDbError(RuntimeError):
    """init-db cannot go on; the message is one line saying what failed and what to do."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def first_line(error: DBAPIError) -> str:
    diag = getattr(error.orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(error.orig) or error.__class__.__name__
    return message.strip().splitlines()[0]


class WatchedDdl:
    """Runs statements on `ddl` (autocommit) and watches them through `monitor`."""

    def __init__(self, ddl: Connection, monitor: Connection, settings: Settings, say: Say, report_every: float):
        self.ddl, self.monitor, self.settings = ddl, monitor, settings
        self.say, self.report_every = say, report_every

    def run(self, statement: sql.Composable, doing: str, label: str, *, left: str) -> float:
        """Run `statement`; its duration in seconds. `doing` and `left` (what an interruption
        leaves behind) word the failures; `label` starts each progress line."""
        raw = self.ddl.connection.dbapi_connection
        rendered = statement.as_string(raw)
        pid = raw.get_backend_pid()
        failure: list[BaseException] = []
        # An Event, not Thread.join: a join interrupted by Ctrl-C can take the thread for finished.
        done = threading.Event()

        def execute() -> None:
            try:
                self.ddl.exec_driver_sql(rendered)
            except BaseException as error:  # handed to the waiting thread, which reports it
                failure.append(error)
            finally:
                done.set()

        started = time.monotonic()
        next_report = started + self.report_every
        progress: Progress | None = None
        threading.Thread(target=execute, name=f"init-db: {label}", daemon=True).start()
        try:
            while not done.wait(POLL_SECONDS):
                progress = self._progress(pid) or progress
                if progress is not None and time.monotonic() >= next_report:
                    self.say(f"  {label}: {progress.describe()} ({time.monotonic() - started:.0f} s)")
                    next_report += self.report_every
        except KeyboardInterrupt:
            raw.cancel()
            done.wait()
            if not failure:
                raise InitDbError(f"init-db interrupted just after {doing}; run it again for the rest", 130) from None
            raise InitDbError(f"init-db interrupted while {doing}; {left}", 130) from None
        if failure:
            error = failure[0]
            if isinstance(error, DBAPIError):
                raise self.failure(error, doing, progress, left=left) from None
            raise error
        return time.monotonic() - started

    def _progress(self, pid: int) -> Progress | None:
        try:
            return read_progress(self.monitor, pid)
        except DBAPIError:
            return None  # reporting is best effort; the statement's own outcome decides

    def failure(self, error: DBAPIError, doing: str, progress: Progress | None = None, *, left: str = "") -> InitDbError:
        code = getattr(error.orig, "pgcode", None)
        reason = first_line(error)
        left = f"; {left}" if left else ""
        held = ""
        if progress is not None and progress.waiting_for is not None:
            session = self._session(progress.waiting_for) or progress.waiting_for_session
            held = f" ({progress.phase or 'waiting'}, held up by pid {progress.waiting_for}" + (
                f": {session})" if session else ")"
            )
        if code == _CANCELED and "statement timeout" in reason:
            return InitDbError(
                f"init-db: {doing} took longer than AURORA_DDL_TIMEOUT_SECONDS={self.settings.ddl_timeout_seconds} "
                f"s and was cancelled{held}{left}; raise the setting and run init-db again"
            )
        if code == _LOCK_NOT_AVAILABLE:
            return InitDbError(
                f"init-db: {doing} waited longer than AURORA_DDL_LOCK_TIMEOUT_SECONDS="
                f"{self.settings.ddl_lock_timeout_seconds} s for other sessions{held}{left}; run init-db again "
                "when they are done, or raise the setting"
            )
        if code == _INSUFFICIENT_PRIVILEGE:
            return InitDbError(f"init-db: {doing}: permission denied ({reason}); run init-db as the tables' owner")
        return InitDbError(f"init-db: {doing} failed: {reason}{left}")

    def _session(self, pid: int) -> str | None:
        try:
            return describe_session(self.monitor, pid)
        except DBAPIError:
            return None
