"""Writes one `COMMAND_RUN` transaction per completed command, off the bot's event loop.

`record()` only appends to a bounded in-memory queue (safe to call from the bot loop); a writer
thread inserts in batches. When the database is unreachable the batch stays queued and is retried
with backoff, so a short outage loses nothing; a queue that fills up drops new records and says
how many.

`stop` keeps trying until its deadline; what the database has not taken by then is kept in the
`RecordSpool` (a file), and the next start writes it first. A batch whose commit got no answer
may be in the database already: it is kept marked `uncertain`, and written later only where no
such row exists, so a record is neither lost nor written twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, bindparam, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from aurora.bot.command_record import CommandRecord
from aurora.storage.tables import COMMAND_RUN, transactions, users

if TYPE_CHECKING:
    from aurora.bot.record_spool import RecordSpool

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_BACKOFF_SECONDS = 5.0
STOPPING_RETRY_SECONDS = 0.25  # while stopping, the database gets another try this often

# user_id is the invoker only when that user is registered; the subquery yields NULL otherwise,
# in the same statement, so no race with registrations.
INSERT_COMMAND_RUN = insert(transactions).values(
    user_id=select(users.c.id).where(users.c.id == bindparam("invoker_id")).scalar_subquery(),
    amount=0,
    type=COMMAND_RUN,
    description=bindparam("command_name"),
    created_at=bindparam("ran_at", type_=transactions.c.created_at.type),
)


def as_row(record: CommandRecord) -> dict:
    return {"invoker_id": record.invoker_id, "command_name": record.command_name, "ran_at": record.ran_at}


def already_written(conn: Connection, records: list[CommandRecord]) -> list[CommandRecord]:
    """Those of the uncertain `records` whose rows are in the database (same name and time)."""
    found: list[CommandRecord] = []
    for (name, ran_at), wanted in Counter((r.command_name, r.ran_at) for r in records if r.uncertain).items():
        present = conn.execute(
            select(func.count()).select_from(transactions).where(
                transactions.c.type == COMMAND_RUN, transactions.c.description == name,
                transactions.c.created_at == ran_at,
            )
        ).scalar_one()
        same = [r for r in records if r.uncertain and (r.command_name, r.ran_at) == (name, ran_at)]
        found.extend(same[: min(wanted, present)])
    return found


class CommandRecorder:
    def __init__(
        self, engine: Engine, *, spool: RecordSpool | None = None, max_queue: int = 10_000, retry_seconds: float = 0.5
    ) -> None:
        self._engine = engine
        self._spool = spool
        self._max_queue = max_queue
        self._retry_seconds = retry_seconds
        self._queue: deque[CommandRecord] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._stop_deadline = float("inf")
        self._kept = False  # stop has taken the queue: the writer must not commit any more
        self._committing = 0  # the size of the batch whose commit is under way
        self._recovering = 0  # records from the spool not yet written
        self._dropped = 0
        self._written = 0
        self._recovered = 0
        self._found_written = 0  # uncertain records found in the database: not written again
        self._thread = threading.Thread(target=self._run, name="aurora-command-recorder", daemon=True)

    @property
    def pending(self) -> int:
        with self._wakeup:
            return len(self._queue)

    @property
    def written(self) -> int:
        return self._written

    @property
    def recovered(self) -> int:
        """Records an earlier shutdown kept that this recorder wrote (or found written)."""
        return self._recovered

    @property
    def dropped(self) -> int:
        return self._dropped

    def start(self) -> None:
        kept = self._spool.read() if self._spool is not None else []
        if kept:
            log.info("%d command records kept at an earlier shutdown: writing them first", len(kept))
            with self._wakeup:
                self._queue.extendleft(reversed(kept))
                self._recovering = len(kept)
        self._thread.start()

    def record(self, record: CommandRecord) -> None:
        with self._wakeup:
            if len(self._queue) >= self._max_queue:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    log.error(
                        "command record queue is full (%d waiting): %d records dropped so far",
                        len(self._queue),
                        self._dropped,
                    )
                return
            self._queue.append(record)
            self._wakeup.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, trying for at most `timeout` s; keep the rest in the spool. Once."""
        with self._wakeup:
            if self._stopping:
                return
            self._stopping = True
            self._stop_deadline = time.monotonic() + timeout
            self._wakeup.notify_all()
        if self._thread.ident is None:
            return  # never started: nothing queued was ever ours to write
        self._thread.join(timeout)
        with self._wakeup:
            left, in_commit = list(self._queue), self._committing
            self._queue.clear()
            self._kept = True
        left[:in_commit] = [replace(record, uncertain=True) for record in left[:in_commit]]
        self._keep(left, in_commit)

    def _keep(self, left: list[CommandRecord], in_commit: int) -> None:
        written = f"{self._written} command records written"
        if not left:
            if self._spool is not None:
                self._spool.discard()
            log.info("shutdown: %s, none left", written)
            return
        if self._spool is None:
            log.error("shutdown: %s; %d could not be written and are lost (no spool folder)", written, len(left))
            return
        try:
            self._spool.keep(left)
        except OSError as error:
            log.error("shutdown: %s; %d could not be written nor kept in %s (%s) and are lost",
                      written, len(left), self._spool.path, error.strerror or error)
            return
        uncertain = f" ({in_commit} of them were being committed when the database went silent)" if in_commit else ""
        log.warning("shutdown: %s; the database did not take %d more in time: kept in %s%s; the next start "
                    "writes them", written, len(left), self._spool.path, uncertain)

    def _next_batch(self) -> list[CommandRecord]:
        with self._wakeup:
            self._wakeup.wait_for(lambda: self._queue or self._stopping)
            return [self._queue[i] for i in range(min(BATCH_SIZE, len(self._queue)))]

    def _write(self, batch: list[CommandRecord]) -> int | None:
        """Insert `batch` in one transaction; how many of its records were already in the database,
        or None when stop took the queue first (nothing committed)."""
        with self._engine.connect() as conn:
            found = already_written(conn, batch) if any(r.uncertain for r in batch) else []
            rows = list(batch)
            for record in found:
                rows.remove(record)
            if rows:
                conn.execute(INSERT_COMMAND_RUN, [as_row(r) for r in rows])
            with self._wakeup:
                if self._kept:
                    return None
                self._committing = len(batch)
            try:
                conn.commit()
            except BaseException:
                with self._wakeup:
                    self._committing = 0
                raise
        # Committed: the batch stays "being committed" until `_written_batch` takes it off the queue,
        # so a stop in between keeps it as uncertain rather than as never written.
        return len(found)

    def _run(self) -> None:
        backoff = self._retry_seconds
        failing = False
        while True:
            batch = self._next_batch()
            if not batch:
                return  # stopping and nothing left
            try:
                found = self._write(batch)
            except SQLAlchemyError as error:
                if not failing:
                    log.warning("cannot write command records (%s); keeping them queued", error.__class__.__name__)
                failing = True
                with self._wakeup:
                    if self._kept or time.monotonic() >= self._stop_deadline:
                        return
                    # While stopping, keep trying until the deadline instead of backing off.
                    self._wakeup.wait(STOPPING_RETRY_SECONDS if self._stopping else backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if found is None:
                return
            self._written_batch(batch, found)
            if failing:
                log.info("database reachable again: command records written")
            failing, backoff = False, self._retry_seconds

    def _written_batch(self, batch: list[CommandRecord], found: int) -> None:
        with self._wakeup:
            self._committing = 0
            if self._kept:
                return  # committed while stop kept it: kept as uncertain, found next time
            for _ in batch:
                self._queue.popleft()
            recovered = min(len(batch), self._recovering)
            self._recovering -= recovered
        self._written += len(batch) - found
        self._found_written += found
        if recovered:
            self._recovered += recovered
            if self._recovering == 0:
                self._spool.discard()
                there = f"; {self._found_written} of them were there already" if self._found_written else ""
                log.info("%d command records kept at an earlier shutdown are in the database now (recovered%s)",
                         self._recovered, there)
