"""The Redis connection the scale-out parts share, and how they live through a Redis outage.

Redis is on the request path of every web worker (bot snapshot, rate limit), so a Redis that is
down or silent must cost little: short socket timeouts, one quick retry (a pooled connection
that Redis closed), and after a failure a short pause during which callers skip Redis and use
their fallback. Transitions are logged once each way, never per request.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 1.0
PAUSE_AFTER_FAILURE_SECONDS = 1.0
# redis-py retries ten times with backoff by default: up to seconds per call while Redis is down.
CLIENT_OPTIONS = {
    "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
    "health_check_interval": 15,
}

RedisError = redis.RedisError


def client_options() -> dict:
    """Keyword arguments for `redis.Redis.from_url` (also handed to the rate limiter's storage)."""
    return {**CLIENT_OPTIONS, "retry": Retry(NoBackoff(), 1)}


def connect(url: str) -> redis.Redis:
    """A client for REDIS_URL; connects lazily, so a Redis that is down does not stop startup."""
    return redis.Redis.from_url(url, client_name="aurora", **client_options())


def describe(url: str) -> str:
    """host:port/db of REDIS_URL without credentials, for log lines and messages."""
    kwargs = redis.connection.parse_url(url)
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class RedisHealth:
    """Shared by the parts of one process that use Redis: remembers a recent failure and says
    whether to try Redis now; logs 'unreachable' and 'reachable again' once per outage."""

    def __init__(self, *, pause_seconds: float = PAUSE_AFTER_FAILURE_SECONDS) -> None:
        self._pause = pause_seconds
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._down = False

    @property
    def down(self) -> bool:
        return self._down

    def usable(self) -> bool:
        with self._lock:
            return not self._down or time.monotonic() >= self._retry_at

    def failed(self, what: str, error: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + self._pause
            first = not self._down
            self._down = True
        if first:
            log.warning(
                "Redis unreachable (%s while %s): the bot shows as offline and each process "
                "computes its own stats until it returns", error.__class__.__name__, what,
            )

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            recovered, self._down = self._down, False
        if recovered:
            log.info("Redis reachable again: shared bot snapshot and stats restored")
