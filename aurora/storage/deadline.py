"""Deadlines on PostgreSQL calls that hold when the server is silent.

`statement_timeout` is enforced by the server, so it cannot end a call whose query never reached
it (a server, proxy or path that accepts bytes and answers nothing): such a call would wait in
libpq for ever, and a thread waiting there also holds up the process's exit. Two layers end it:

- libpq's own TCP options: keep-alive probes and `tcp_user_timeout` notice a dead peer or path;
- psycopg2's wait callback (its documented hook for making calls interruptible): every call of
  an engine's connection waits in slices and gives up with `DatabaseSilent` once the server has
  been silent for the engine's limit, or at once when the engine is disposed (shutdown), so no
  thread stays in a call after the app stopped. psycopg2 then closes the connection, and the
  pool discards it (the message reads as a lost connection to SQLAlchemy).
"""

from __future__ import annotations

import functools
import select
import threading
import time

import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine, event

# libpq: probe an idle connection after 5 s, every 2 s, dead after 3 unanswered probes; sent data
# unacknowledged for 9 s ends the connection.
TCP_OPTIONS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 9000,
}
SLICE_SECONDS = 0.1  # how soon a wait notices a disposed engine
_EVENTS = {psycopg2.extensions.POLL_READ: select.POLLIN, psycopg2.extensions.POLL_WRITE: select.POLLOUT}


class DatabaseSilent(psycopg2.OperationalError):
    """The server answered nothing within the limit (or the engine was disposed meanwhile)."""


class CallDeadline:
    """One engine's limit on silence (None: none), and the switch that ends every wait when it is
    disposed."""

    def __init__(self, silence_seconds: float | None) -> None:
        self.silence_seconds = silence_seconds
        self.disposed = threading.Event()

    def dispose(self) -> None:
        """End the calls of every connection made so far. Connections made afterwards get a switch
        of their own: SQLAlchemy lets an engine be used again after `dispose()`."""
        ended, self.disposed = self.disposed, threading.Event()
        ended.set()


class DeadlineConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that carries its engine's `CallDeadline` (psycopg2's documented
    `connection_factory`)."""

    def __init__(self, dsn: str, *args, call_deadline: CallDeadline, **kwargs) -> None:
        self.call_deadline = call_deadline
        self.ended_by_dispose = call_deadline.disposed  # the switch of the pool it joins
        super().__init__(dsn, *args, **kwargs)


def connect_limit(conn) -> float | None:
    """While `conn` connects: its `connect_timeout` in seconds, as libpq reads it (none or 0: none,
    at least 2). With a wait callback set, psycopg2 connects through libpq's non-blocking calls,
    which leave that timeout to the caller (psycopg2 issue 944): for every connection in the process."""
    if conn.status != psycopg2.extensions.STATUS_SETUP:
        return None
    try:
        seconds = int(psycopg2.extensions.parse_dsn(conn.dsn).get("connect_timeout", 0))
    except ValueError:
        return None
    return max(seconds, 2) if seconds > 0 else None


def wait_with_deadline(conn) -> None:
    """psycopg2's wait callback: `wait_select`, bounded by the connection's `CallDeadline` and, while
    connecting, by its `connect_timeout`."""
    deadline: CallDeadline | None = getattr(conn, "call_deadline", None)
    silent_since = time.monotonic()
    connecting = connect_limit(conn)
    connect_by = None if connecting is None else silent_since + connecting
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state not in _EVENTS:
            raise psycopg2.OperationalError(f"bad state from poll: {state}")
        if connect_by is not None and time.monotonic() > connect_by:
            raise DatabaseSilent(f"could not connect to server: timeout expired (connect_timeout {connecting:g} s)")
        # poll(), not select(): a busy process's descriptors may be numbered past select's 1024.
        waiting = select.poll()
        waiting.register(conn.fileno(), _EVENTS[state])
        if deadline is None and connect_by is None:
            waiting.poll()
            continue
        if waiting.poll(SLICE_SECONDS * 1000):
            silent_since = time.monotonic()
            continue
        if deadline is None:
            continue
        if conn.ended_by_dispose.is_set():
            raise DatabaseSilent("could not receive data from server: the app is stopping")
        if deadline.silence_seconds is not None and time.monotonic() - silent_since > deadline.silence_seconds:
            raise DatabaseSilent(
                f"could not receive data from server: no answer within {deadline.silence_seconds:g} s"
            )


def bounded_connect_args(silence_seconds: float | None) -> tuple[dict, CallDeadline]:
    """The psycopg2 connect arguments for an engine whose calls end after `silence_seconds` of silence."""
    psycopg2.extensions.set_wait_callback(wait_with_deadline)  # process-wide; the same callback each time
    deadline = CallDeadline(silence_seconds)
    factory = functools.partial(DeadlineConnection, call_deadline=deadline)
    return {**TCP_OPTIONS, "connection_factory": factory}, deadline


def end_calls_on_dispose(engine: Engine, deadline: CallDeadline) -> None:
    """`engine.dispose()` (the app's shutdown) also ends the calls still waiting on the server."""
    event.listen(engine, "engine_disposed", lambda _engine: deadline.dispose())
