"""Where the alert state lives and who sends: the process itself without Redis; with Redis, the
one web process holding a redis-py Lock (taken over by another within the lock's TTL when its
holder dies), with the state under the configured prefix so that a restart sends nothing twice."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid

import redis
from redis.exceptions import LockError

from aurora.scaleout.redis_link import RedisError, RedisHealth

log = logging.getLogger(__name__)


class MemoryAlertStore:
    """One process, one sender: the state in memory."""

    def __init__(self) -> None:
        self._plain: dict | None = None

    def hold(self) -> bool:
        return True

    @property
    def holding(self) -> bool:
        return True

    def load(self) -> dict | None:
        return self._plain

    def save(self, plain: dict) -> None:
        self._plain = plain

    def release(self) -> None:
        pass


class RedisAlertStore:
    """The state as one JSON value; the sender is whoever holds the lock. Redis errors pass to the
    caller (reported to the process's breaker by the monitor)."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl_seconds: float, health: RedisHealth) -> None:
        self._client = client
        self._key = f"{prefix}:alerts:state"
        self._owner = f"pid {os.getpid()} on {socket.gethostname()} ({uuid.uuid4().hex[:8]})"
        # Not thread-local: taken by the monitor's thread, released by whoever shuts the app down.
        self._lock = client.lock(f"{prefix}:alerts:sender", timeout=ttl_seconds, thread_local=False)
        self.health = health
        self._holding = False

    @property
    def holding(self) -> bool:
        """Whether this process was the sender at its last check."""
        return self._holding

    def hold(self) -> bool:
        """Take or extend the sender's lock; True while this process is the sender."""
        try:
            held = self._lock.reacquire() if self._holding else False
        except LockError:  # expired (a long pause) or taken by another process meanwhile
            held = False
        if not held:
            held = self._lock.acquire(blocking=False, token=self._owner)
        if held != self._holding:
            log.info("alerts: this process %s the alert sender", "is now" if held else "is no longer")
        self._holding = held
        return held

    def load(self) -> dict | None:
        raw = self._client.get(self._key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None  # unreadable (another version's): start afresh rather than guess

    def save(self, plain: dict) -> None:
        self._client.set(self._key, json.dumps(plain, separators=(",", ":")))

    def release(self) -> None:
        if not self._holding:
            return
        self._holding = False
        try:
            self._lock.release()
        except (LockError, RedisError):
            pass  # taken over already, or it expires by itself
