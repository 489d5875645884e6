"""Writes one `COMMAND_RUN` transaction per completed command, off the bot's event loop.

`record()` only appends to a bounded in-memory queue (safe to call from the bot loop); a writer
thread inserts in batches. When the database is unreachable the batch stays queued and is retried
with backoff, so a short outage loses nothing; a queue that fills up drops new records and says
how many.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import SQLAlchemyError

from aurora.db import COMMAND_RUN, transactions, users

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_BACKOFF_SECONDS = 5.0

# user_id is the invoker only when that user is registered; the subquery yields NULL otherwise,
# in the same statement, so no race with registrations.
INSERT_COMMAND_RUN = insert(transactions).values(
    user_id=select(users.c.id).where(users.c.id == bindparam("invoker_id")).scalar_subquery(),
    amount=0,
    type=COMMAND_RUN,
    description=bindparam("command_name"),
    created_at=bindparam("ran_at", type_=transactions.c.created_at.type),
)


@dataclass(frozen=True)
class CommandRecord:
    command_name: str
    invoker_id: int | None
    ran_at: datetime


class CommandRecorder:
    def __init__(self, engine: Engine, *, max_queue: int = 10_000, retry_seconds: float = 0.5) -> None:
        self._engine = engine
        self._max_queue = max_queue
        self._retry_seconds = retry_seconds
        self._queue: deque[CommandRecord] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._dropped = 0
        self._written = 0
        self._thread = threading.Thread(target=self._run, name="aurora-command-recorder", daemon=True)

    @property
    def pending(self) -> int:
        with self._wakeup:
            return len(self._queue)

    @property
    def written(self) -> int:
        return self._written

    @property
    def dropped(self) -> int:
        return self._dropped

    def start(self) -> None:
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
        """Write what is queued (within `timeout`), then stop the writer thread."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.pending:
            log.error("%d command records could not be written before shutdown", self.pending)

    def _next_batch(self) -> list[CommandRecord]:
        with self._wakeup:
            self._wakeup.wait_for(lambda: self._queue or self._stopping)
            return [self._queue[i] for i in range(min(BATCH_SIZE, len(self._queue)))]

    def _run(self) -> None:
        backoff = self._retry_seconds
        failing = False
        while True:
            batch = self._next_batch()
            if not batch:
                return  # stopping and nothing left
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        INSERT_COMMAND_RUN,
                        [
                            {"invoker_id": r.invoker_id, "command_name": r.command_name, "ran_at": r.ran_at}
                            for r in batch
                        ],
                    )
            except SQLAlchemyError as error:
                if not failing:
                    log.warning("cannot write command records (%s); keeping them queued", error.__class__.__name__)
                failing = True
                with self._wakeup:
                    if self._stopping:
                        return
                    self._wakeup.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            with self._wakeup:
                for _ in batch:
                    self._queue.popleft()
            self._written += len(batch)
            if failing:
                log.info("database reachable again: command records written")
            failing, backoff = False, self._retry_seconds
