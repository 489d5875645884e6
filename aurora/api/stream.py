"""`/api/stats/realtime`: the stats as Server-Sent Events, with bounded streams.

The Flask view makes every decision (token, method, parameters, Accept, rate limit, room for a
stream) and then hands the open stream to the ASGI layer (`aurora.web.serving.asgi`) with a response
header, like an upstream's `X-Accel-Redirect`; that layer takes the slot and writes the events
from one `StatsFanOut` per process. An open stream therefore holds no thread: only a connection and a small
asyncio task. Streams are still capped per client address and in total (connections and file
descriptors are finite: `aurora.web.serving.capacity` bounds the total by them), live at most
`stream_max_seconds`, and send a heartbeat comment so proxies keep them open.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable

from aurora.stats.service import StatsService, StatsUnavailable

STREAM_PATH = "/api/stats/realtime"
RETRY_MILLISECONDS = 5000
log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
HEARTBEAT = b": heartbeat\n\n"
# A refused stream's Retry-After: a slot frees only when another stream ends, which nothing here can
# foresee, so this is when asking again is worth it (the page asks for room at every refresh).
STREAM_RETRY_SECONDS = 30
# The view's answer carries it (the client's key) to hand the stream to the ASGI layer, which strips it.
STREAM_HEADER = "X-Aurora-Stream"


class TooManyStreams(Exception):
    def __init__(self, reason: str) -> None:
        self.retry_after = STREAM_RETRY_SECONDS
        self.message = f"{reason}; retry after {self.retry_after} s"
        super().__init__(self.message)


class StreamSlots:
    """Counts open streams per client and in total; thread-safe (views ask for room in pool threads,
    the event loop takes and gives back slots)."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def open_streams(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def has_room(self, client: str) -> bool:
        """Whether `client` could open a stream now (the page asks before opening one)."""
        return self.refusal(client) is None

    def refusal(self, client: str) -> str | None:
        """Why `client` could not open a stream now; None if it could."""
        with self._lock:
            return self._refusal(client)

    def _refusal(self, client: str) -> str | None:
        if self._open[client] >= self.per_client:
            return f"at most {self.per_client} live streams per client"
        if sum(self._open.values()) >= self.total:
            return f"the server is serving its maximum of {self.total} live streams"
        return None

    def acquire(self, client: str) -> Callable[[], None]:
        """Take a slot for `client`; returns the (idempotent) function that gives it back."""
        with self._lock:
            if (reason := self._refusal(client)) is not None:
                raise TooManyStreams(reason)
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


def stats_event(body: bytes, body_id: str) -> bytes:
    return b"id: " + body_id.encode() + b"\nevent: stats\ndata: " + body + b"\n\n"


class StatsFanOut:
    """One per process: while anyone listens, reads the service's current JSON every `poll_seconds`
    (in a worker thread: the service may take a lock or start a refresh) and wakes every stream
    when it changed. Streams only read what it holds. Before announcing a change it runs `prepare`
    (in a worker thread; the page renders the new version's views there, before every open page asks
    for them at once)."""

    def __init__(self, service: StatsService, poll_seconds: float = POLL_SECONDS, min_gap_seconds: float = 0.0,
                 prepare: Callable[[], object] | None = None) -> None:
        self._service = service
        self._prepare = prepare
        self._poll_seconds = poll_seconds
        self._min_gap_seconds = min_gap_seconds
        self._published_at = float("-inf")
        self._listeners = 0
        self._latest: tuple[bytes, str] | None = None
        self._changed = asyncio.Event()
        self._poller: asyncio.Task | None = None
        self._closed = False

    @property
    def listeners(self) -> int:
        return self._listeners

    def close(self) -> None:
        """End every stream now and any opened later (the server is stopping; clients reconnect)."""
        self._closed = True
        self._changed.set()

    def _current_body(self) -> bytes | None:
        try:
            return self._service.current_with_json(wait_for_first=False)[1]
        except StatsUnavailable:
            return None

    def _prepared(self) -> None:
        try:
            self._prepare()
        except Exception:  # the pages then render on demand: never a reason to hold the announcement
            log.exception("preparing the new stats version failed")

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            body = await asyncio.to_thread(self._current_body)
            # At most one new version per `min_gap_seconds`, for every stream at the same moment: a
            # gap kept per stream would follow each stream's own phase, and a version coming soon
            # after another would reach some pages a whole interval after the rest.
            if body is not None and (self._latest is None or body != self._latest[0]) and (
                    self._latest is None or loop.time() >= self._published_at + self._min_gap_seconds):
                if self._latest is not None and self._prepare is not None:
                    await asyncio.to_thread(self._prepared)
                self._latest, self._published_at = (body, event_id(body)), loop.time()
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
            await asyncio.sleep(self._poll_seconds)

    def _subscribe(self) -> None:
        self._listeners += 1
        if self._poller is None:
            self._latest = None  # whatever was read before the last listener left is old now
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="aurora-stats-fan-out")

    def _unsubscribe(self) -> None:
        self._listeners -= 1
        if self._listeners == 0 and self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def events(
        self,
        *,
        last_event_id: str | None,
        heartbeat_seconds: float,
        max_seconds: float,
    ) -> AsyncIterator[bytes]:
        """One stream: `retry:`, the stats at once and on each version the fan-out publishes,
        heartbeats in between, and an end after `max_seconds` (the client reconnects on its own)."""
        loop = asyncio.get_running_loop()
        self._subscribe()
        try:
            started = loop.time()
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            sent_id, last_write = last_event_id, started
            while not self._closed and (now := loop.time()) < started + max_seconds:
                changed, latest = self._changed, self._latest
                wake_at = min(started + max_seconds, last_write + heartbeat_seconds)
                if latest is not None and latest[1] != sent_id:
                    yield stats_event(*latest)
                    sent_id, last_write = latest[1], now
                    continue
                if now >= last_write + heartbeat_seconds:
                    yield HEARTBEAT
                    last_write = now
                    continue
                await _wait(changed, wake_at - now)
        finally:
            self._unsubscribe()


async def _wait(changed: asyncio.Event, seconds: float) -> None:
    """Until `changed` is set or `seconds` pass."""
    try:
        async with asyncio.timeout(seconds):
            await changed.wait()
    except TimeoutError:
        pass
