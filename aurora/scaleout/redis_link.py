"""The Redis connection the scale-out parts share, and how they live through a Redis outage.

Redis is on the request path of every web worker (the bot snapshot), so a Redis that is down or
silent (accepts connections, never answers) must cost a request little:

- Short socket timeouts (connect and read, `SOCKET_TIMEOUT_SECONDS`), and no retry after a
  timeout: a silent Redis costs one call one timeout, not one per retry. A connection Redis
  closed (an idle pooled one) is retried once, at once; that failure is quick.
- A breaker (`RedisHealth`) shared by the parts of a process: the first failure trips it, and for
  `BREAKER_OPEN_SECONDS` every caller skips Redis and uses its fallback (the bot shown offline,
  stats computed locally). Then one caller, and only one, tries Redis again: success closes the
  breaker, failure keeps it open for another period. Transitions are logged once each way, never
  per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 0.5
BREAKER_OPEN_SECONDS = 30.0
# redis-py retries timeouts too by default, ten times with backoff: seconds per call while Redis
# is silent. Only a dropped connection is worth one immediate retry.
CLIENT_OPTIONS = {
    "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
    "health_check_interval": 15,
}

RedisError = redis.RedisError


def client_options() -> dict:
    """Keyword arguments for `redis.Redis.from_url` (also handed to the rate limiter's storage)."""
    return {**CLIENT_OPTIONS, "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))}


def connect(url: str) -> redis.Redis:
    """A client for REDIS_URL; connects lazily, so a Redis that is down does not stop startup."""
    return redis.Redis.from_url(url, client_name="aurora", **client_options())


def describe(url: str) -> str:
    """host:port/db of REDIS_URL without credentials, for log lines and messages."""
    kwargs = redis.connection.parse_url(url)
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class RedisHealth:
    """The breaker shared by the parts of one process that use Redis.

    Callers ask `usable()` before each Redis call and report `failed(...)` or `succeeded()`
    after it. `monotonic` is the source of durations (tests pass a clock they move by hand).
    """

    def __init__(
        self, *, open_seconds: float = BREAKER_OPEN_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._open_seconds = open_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._down = False
        self._trips = 0
        self._probes = 0

    @property
    def down(self) -> bool:
        """True while the breaker is open (Redis failed and has not answered since)."""
        return self._down

    @property
    def trips(self) -> int:
        """How many failures this breaker has seen (a failed probe included)."""
        return self._trips

    @property
    def probes(self) -> int:
        """How many times a caller was let through to try Redis while the breaker was open."""
        return self._probes

    def usable(self) -> bool:
        with self._lock:
            if not self._down:
                return True
            now = self._monotonic()
            if now < self._retry_at:
                return False
            # This caller tries Redis; everyone else keeps the fallback until it reports back
            # (or for another period, should it never report).
            self._retry_at = now + self._open_seconds
            self._probes += 1
            return True

    def failed(self, what: str, error: Exception) -> None:
        with self._lock:
            self._retry_at = self._monotonic() + self._open_seconds
            first = not self._down
            self._down = True
            self._trips += 1
        if first:
            log.warning(
                "Redis unreachable (%s while %s): the bot shows as offline and each process computes "
                "its own stats; trying Redis again every %g s", error.__class__.__name__, what, self._open_seconds,
            )

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            recovered, self._down = self._down, False
        if recovered:
            log.info("Redis reachable again: shared bot snapshot and stats restored")
