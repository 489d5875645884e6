"""Where rate-limit windows are counted: this process's memory, or Redis shared by every process.

Fixed windows, as the `limits` library (and flask-limiter before it) count them: a client's window
opens at its first request and lasts the limit's period; the count is `hit` once per request and
says how many requests the window has had and when it ends, in Unix seconds of the app's injected
clock (`Seconds`); with Redis the window's length comes from the key's TTL, so the two never mix.

With Redis, the count is `limits`' Redis storage (one atomic INCR-and-expire script, one round trip
per request). If Redis stops answering, counting goes on in this process's memory (the limit then
holds per process) and Redis is tried again after a short pause; each switch is logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from limits.storage import RedisStorage
from redis import RedisError

from aurora.config import Settings
from aurora.scaleout.redis_link import client_options

log = logging.getLogger(__name__)

Seconds = Callable[[], float]  # the injected clock as Unix seconds

# After a failure, how long counts stay in memory before Redis is tried again. Shorter than the
# breaker that the other Redis users share (aurora.scaleout.redis_link): meanwhile the limit only holds per
# process, and a try costs one request at most one socket timeout.
REDIS_RETRY_SECONDS = 5.0
# Windows (or window ends) kept in memory before the ended ones are forgotten.
WINDOWS_KEPT = 10_000


class MemoryCounter:
    """Fixed windows in this process's memory: a dict under a lock.

    Not `limits`' MemoryStorage: it restarts a timer thread every 10 ms while requests come in, to
    expire keys, and that cost more than all the rest of a count (bench.limiter_cost). Here an ended
    window is replaced when its client comes back, and forgotten when the dict has grown.
    """

    def __init__(self, now: Seconds) -> None:
        self._now = now
        self._windows: dict[str, list] = {}  # key -> [count, end (Unix seconds)]
        self._lock = threading.Lock()
        self._forget_at = WINDOWS_KEPT

    def hit(self, key: str, period: int) -> tuple[int, float]:
        """Count one request; the window's count so far and when the window ends (Unix seconds)."""
        now = self._now()
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[1] <= now:
                if len(self._windows) >= self._forget_at:
                    self._forget_ended(now)
                window = self._windows[key] = [0, now + period]
            window[0] += 1
            return window[0], window[1]

    def window_end(self, key: str) -> float:
        window = self._windows.get(key)
        return window[1] if window is not None else self._now()

    def _forget_ended(self, now: float) -> None:
        self._windows = {key: window for key, window in self._windows.items() if window[1] > now}
        # Many clients at once: the next clean-up waits until there are twice as many (amortised).
        self._forget_at = max(WINDOWS_KEPT, 2 * len(self._windows))


class SharedCounter:
    """Windows in Redis, shared by every worker and host; in memory while Redis does not answer.

    One round trip per request: the count. When a window ends is known without asking where this
    process opened the window (its first count), and asked once per window otherwise. Served by the
    asyncio front, requests arrive counted already (`aurora.api.rate_front`), sharing its state:
    Redis marked down there is marked down here.
    """

    def __init__(self, storage: RedisStorage, *, retry_pause: float = REDIS_RETRY_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic, now: Seconds) -> None:
        self._redis = storage
        self._now = now
        self._fallback = MemoryCounter(now)
        self._retry_pause = retry_pause
        self._monotonic = monotonic
        self._ends: dict[str, float] = {}
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def storage_key(self, key: str) -> str:
        """The Redis key the storage counts `key` under (its prefix put before it)."""
        return self._redis.prefixed_key(key)

    def available(self) -> bool:
        """Whether to count in Redis now: it answered last time, or its retry pause is over."""
        return not self._down or self._monotonic() >= self._retry_at

    def hit(self, key: str, period: int) -> tuple[int, float]:
        if not self.available():
            return self._fallback.hit(key, period)
        try:
            count = self._redis.incr(key, period)
            self.recovered()
            return count, self._known_end(key, count, period)
        except RedisError as error:
            self.failed(error)
            return self._fallback.hit(key, period)

    def window_end(self, key: str) -> float:
        """Asked of the storage (a refusal's Retry-After is exact, whichever process opened the window)."""
        if self._down:
            return self._fallback.window_end(key)
        try:
            return self._expiry(key)
        except RedisError as error:
            self.failed(error)
            return self._ends.get(key, self._now())

    def _known_end(self, key: str, count: int, period: int) -> float:
        now = self._now()
        if count == 1:
            end = now + period
        else:
            end = self._ends.get(key, 0.0)
            if end > now:
                return end
            end = self._expiry(key)
        if len(self._ends) >= WINDOWS_KEPT:
            self._ends = {known: ends for known, ends in self._ends.items() if ends > now}
        self._ends[key] = end
        return end

    def _expiry(self, key: str) -> float:
        # `limits`' own get_expiry adds the TTL to the wall clock; here it goes on the injected one.
        ttl = self._redis.get_connection(True).ttl(self._redis.prefixed_key(key))
        return self._now() + max(ttl, 0)

    def failed(self, error: Exception) -> None:
        """Redis did not answer: count in memory until the retry pause is over (logged once)."""
        with self._lock:
            first, self._down = not self._down, True
            self._retry_at = self._monotonic() + self._retry_pause
        if first:
            log.warning(
                "Rate limit storage unreachable (%s): counting in this process's memory until Redis "
                "answers (the limit holds per process meanwhile)", error.__class__.__name__,
            )

    def recovered(self) -> None:
        """Redis answered: if it had not before, count there again (logged once)."""
        if not self._down:
            return
        with self._lock:
            recovered, self._down = self._down, False
            self._ends.clear()
        if recovered:
            log.info("Rate limit storage recovered: counting in Redis again")


WindowCounter = MemoryCounter | SharedCounter


def make_counter(settings: Settings, now: Seconds) -> WindowCounter:
    if settings.redis_url is None:
        return MemoryCounter(now)
    # Connects lazily: a Redis that is down at startup is counted around like one that went down.
    storage = RedisStorage(settings.redis_url, key_prefix=settings.redis_prefix, **client_options())
    return SharedCounter(storage, now=now)
