"""Delivery to the webhook from a background thread: `submit` only queues (bounded), so neither a
request nor the bot's loop ever waits on Discord.

Each message gets at most `max_attempts` posts, each one over within `POST_TIMEOUT_SECONDS` in
all (aiohttp's total timeout: an endpoint that trickles its answer a byte at a time is cut off,
not waited on): a 5xx, a connection failure, no answer in time or a garbled answer (a bad status
line, a truncated body) is tried again after 1, 2, 4… s; a 429 after exactly what Discord asks
(`Retry-After`, or `retry_after` in the JSON body), never sooner; any other answer, a redirect
included (it is not followed: a POST must reach the webhook itself), is given up at once. Only
the first `ERROR_BODY_BYTES` of an error answer are read. Every message given up is one WARNING.
Log lines say "alert webhook", never its URL (the URL holds the webhook's token).

`close` still delivers what is queued (a "resolved" message raised just before shutdown), one
attempt each and within `DRAIN_SECONDS` in all, then stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Callable

import aiohttp

log = logging.getLogger(__name__)

QUEUE_SIZE = 50
MAX_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 1.0
LONGEST_RETRY_AFTER_SECONDS = 300.0  # a longer wait than this is given up on, not waited for
POST_TIMEOUT_SECONDS = 5.0  # one attempt in all: connecting, sending and the whole answer
ERROR_BODY_BYTES = 4096  # enough for Discord's JSON error (its `retry_after`); the rest is not read
HEADERS = {"Content-Type": "application/json", "User-Agent": "AuroraDashboard (alerts)"}
DRAIN_SECONDS = 5.0  # the longest `close` waits for queued messages


def retry_after_seconds(headers, body: bytes) -> float | None:
    """Discord's wait before a retry, from the header or the JSON body (seconds, maybe fractional)."""
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        pass
    try:
        return max(0.0, float(json.loads(body)["retry_after"]))
    except (ValueError, KeyError, TypeError):
        return None


class WebhookSender:
    def __init__(
        self,
        url: str,
        *,
        sleep: Callable[[float], object] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        queue_size: int = QUEUE_SIZE,
        attempt_seconds: float = POST_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._attempt_seconds = attempt_seconds
        # Set by `close`: no more retries, and the queue is worked off until its end marker.
        self._stop = threading.Event()
        self._drain_deadline = float("inf")
        # The default sleep is the stop event's wait: closing cuts a back-off short.
        self._sleep = sleep or self._stop.wait
        self._max_attempts = max_attempts
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self.delivered = 0
        # Counted by both the submitting threads (queue full) and the worker (given up).
        self._dropped = 0
        self._dropped_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WebhookSender(queued={self._queue.qsize()}, delivered={self.delivered})"

    @property
    def dropped(self) -> int:
        with self._dropped_lock:
            return self._dropped

    def _count_dropped(self) -> None:
        with self._dropped_lock:
            self._dropped += 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aurora-alert-sender", daemon=True)
            self._thread.start()

    def submit(self, payload: dict) -> bool:
        """Queue `payload`; False (and one WARNING) when the queue is full."""
        try:
            self._queue.put_nowait(payload)
            return True
        except queue.Full:
            self._count_dropped()
            log.warning("alert webhook queue full (%d messages waiting); alert dropped", self._queue.maxsize)
            return False

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued message was delivered or given up on (tests, shutdown)."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: not self._queue.unfinished_tasks, timeout)

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Deliver what is queued, one attempt each, for at most `timeout` seconds; then stop."""
        deadline = time.monotonic() + timeout
        self._drain_deadline = deadline
        self._stop.set()
        if self._thread is None:
            return
        try:
            # Behind everything queued: the worker ends when it gets there.
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                if payload is None:
                    return
                if time.monotonic() > self._drain_deadline:
                    self._count_dropped()
                    log.warning("alert webhook: message dropped at shutdown (no time left to send it)")
                else:
                    self._deliver(payload)
            except Exception as error:  # the worker must outlive any one message
                self._count_dropped()
                log.warning("alert webhook: message dropped (%s)", error.__class__.__name__)
            finally:
                self._queue.task_done()

    def _deliver(self, payload: dict) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        backoff = FIRST_BACKOFF_SECONDS
        for attempt in range(1, self._max_attempts + 1):
            status, wait = self._post(body)
            if status is not None and 200 <= status < 300:
                self.delivered += 1
                return
            last = attempt == self._max_attempts
            if status == 429:
                if wait is None:  # no hint: back off as after a failure
                    wait, backoff = backoff, backoff * 2
                elif wait > LONGEST_RETRY_AFTER_SECONDS:
                    break
            elif status is not None and status < 500:
                # A redirect too: following it would turn the POST into a bodiless GET elsewhere.
                moved = " (a redirect: the URL must be the webhook itself)" if 300 <= status < 400 else ""
                log.warning("alert webhook answered %d%s; message dropped", status, moved)
                self._count_dropped()
                return
            else:
                wait, backoff = backoff, backoff * 2
            if last or self._stop.is_set():
                break
            log.warning(
                "alert webhook answered %s; retrying in %.1f s (attempt %d of %d)",
                status or "nothing usable",
                wait,
                attempt,
                self._max_attempts,
            )
            self._sleep(wait)
        self._count_dropped()
        log.warning("alert webhook: message dropped after %d attempts", attempt)

    def _post(self, body: bytes) -> tuple[int | None, float | None]:
        """(status or None when nothing usable answered in time, Discord's retry-after seconds on a 429)."""
        try:
            return asyncio.run(self._post_once(body, self._post_timeout()))
        # Refused, reset, timed out, name not resolved, a garbled answer: all worth another try.
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None, None

    async def _post_once(self, body: bytes, seconds: float) -> tuple[int, float | None]:
        timeout = aiohttp.ClientTimeout(total=seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            self._url, data=body, headers=HEADERS, allow_redirects=False
        ) as response:
            if response.status != 429:
                return response.status, None
            return response.status, retry_after_seconds(response.headers, await _first_bytes(response))

    def _post_timeout(self) -> float:
        # While closing, no post outlasts the time left to drain.
        return max(0.1, min(self._attempt_seconds, self._drain_deadline - time.monotonic()))


async def _first_bytes(response: aiohttp.ClientResponse) -> bytes:
    """At most `ERROR_BODY_BYTES` of the answer's body (a flood of an error page is not read)."""
    head = bytearray()
    while len(head) < ERROR_BODY_BYTES and (chunk := await response.content.read(ERROR_BODY_BYTES - len(head))):
        head += chunk
    return bytes(head)
