"""`/api/stats/realtime`: the stats as Server-Sent Events, with bounded streams.

Each open stream holds a server thread, so streams are capped per client address and in total,
live at most `stream_max_seconds`, and send a heartbeat comment often enough that a vanished
client is noticed (a write to a closed socket is the only way a WSGI app learns of it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

from aurora.service import StatsService, StatsUnavailable

RETRY_MILLISECONDS = 5000
POLL_SECONDS = 0.5


class TooManyStreams(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamSlots:
    """Counts open streams per client and in total; thread-safe."""

    def __init__(self, per_client: int, total: int) -> None:
        self._per_client = per_client
        self._total = total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def open_streams(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def acquire(self, client: str) -> Callable[[], None]:
        """Take a slot for `client`; returns the (idempotent) function that gives it back."""
        with self._lock:
            if self._open[client] >= self._per_client:
                raise TooManyStreams(f"at most {self._per_client} live streams per client")
            if sum(self._open.values()) >= self._total:
                raise TooManyStreams(f"the server is serving its maximum of {self._total} live streams")
            self._open[client] += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._open[client] -= 1
                if self._open[client] <= 0:
                    del self._open[client]

        return release


def event_id(body: bytes) -> str:
    """Same stats, same id, in every worker: a reconnecting client is not sent what it has."""
    return hashlib.sha256(body).hexdigest()[:16]


def stats_event(body: bytes) -> bytes:
    return b"id: " + event_id(body).encode() + b"\nevent: stats\ndata: " + body + b"\n\n"


def stats_events(
    service: StatsService,
    *,
    last_event_id: str | None,
    min_gap_seconds: float,
    heartbeat_seconds: float,
    max_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The event stream: stats at connect and on change (at most once per `min_gap_seconds`),
    heartbeats in between, and an end after `max_seconds` (the client reconnects on its own)."""
    started = monotonic()
    yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
    sent_id = last_event_id
    last_sent = float("-inf")
    last_write = monotonic()
    while monotonic() - started < max_seconds:
        now = monotonic()
        try:
            _, body = service.current_with_json()
        except StatsUnavailable:
            body = None
        if body is not None and event_id(body) != sent_id and now - last_sent >= min_gap_seconds:
            yield stats_event(body)
            sent_id, last_sent, last_write = event_id(body), now, now
        elif now - last_write >= heartbeat_seconds:
            yield b": heartbeat\n\n"
            last_write = now
        sleep(POLL_SECONDS)
