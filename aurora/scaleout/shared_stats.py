"""One database stats refresh per interval across every web worker and host.

`SharedStatsCompute` wraps any `StatsCompute` (the incremental stats, or the reference
definitions) and is itself one, so it plugs into `StatsService(compute=...)` unchanged. Each
worker's service still decides locally when it wants fresh figures; the wrapper then, through Redis:

1. answers with the shared result while the `fresh` marker (set for one interval after each
   computation) exists;
2. otherwise takes a lock (a `redis.lock.Lock` with an expiry) and, checking once more under it,
   runs the inner compute and stores result and marker;
3. or, when another process holds the lock, waits for that process's result.

A worker whose own day at a glance is not counted yet (each worker counts its own) carries the
last published glance forward rather than storing None over it: otherwise the glance would come
and go across the deployment with whichever worker computed last.

Freshness is timed by Redis key expiry, so hosts with skewed clocks still agree. When Redis is
unreachable each process computes on its own (the dashboard keeps working, at the old cost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import redis
from sqlalchemy import Engine

from aurora.protocols import StatsCompute
from aurora.scaleout import codec
from aurora.scaleout.redis_link import RedisError, RedisHealth
from aurora.stats.model import DatabaseStats, DayAtAGlance

log = logging.getLogger(__name__)

Observer = Callable[[str], None]


class SharedStatsTimeout(RuntimeError):
    """Another process held the stats lock for its whole lifetime without storing a result."""


class SharedStatsCompute:
    def __init__(
        self,
        client: redis.Redis,
        inner: StatsCompute,
        *,
        prefix: str,
        interval_seconds: float,
        lock_seconds: float = 10.0,
        poll_seconds: float = 0.05,
        health: RedisHealth | None = None,
        observe: Observer | None = None,
    ) -> None:
        self._client = client
        self._inner = inner
        self._data_key = f"{prefix}:stats:data"
        self._fresh_key = f"{prefix}:stats:fresh"
        self._lock_key = f"{prefix}:stats:lock"
        self._interval_ms = max(1, int(interval_seconds * 1000))
        # The last result stays readable well past its interval: a worker waiting on the lock
        # must still find it, and it costs one small key.
        self._keep_ms = max(self._interval_ms * 10, 600_000)
        self._lock_seconds = lock_seconds
        self._poll = poll_seconds
        self._health = health or RedisHealth()
        self._observe = observe or (lambda _source: None)

    def __call__(self, engine: Engine, now: datetime) -> DatabaseStats:
        if not self._health.usable():
            return self._compute_here(engine, now)
        try:
            result = self._shared(engine, now)
        except RedisError as error:
            self._health.failed("sharing the stats refresh", error)
            return self._compute_here(engine, now)
        return result

    def _compute_here(self, engine: Engine, now: datetime) -> DatabaseStats:
        self._observe("local")
        return self._inner(engine, now)

    def _fresh_result(self) -> DatabaseStats | None:
        with self._client.pipeline(transaction=False) as pipe:
            fresh, raw = pipe.exists(self._fresh_key).get(self._data_key).execute()
        self._health.succeeded()
        if not fresh or raw is None:
            return None
        try:
            return codec.loads(DatabaseStats, raw)
        except codec.CodecError as error:
            log.warning("shared stats in Redis are unreadable (%s); recomputing", error)
            return None

    def _last_glance(self) -> DayAtAGlance | None:
        """The glance of the last stored result (fresh or not), or None."""
        try:
            raw = self._client.get(self._data_key)
            return None if raw is None else codec.loads(DatabaseStats, raw).glance
        except (RedisError, codec.CodecError):
            # Already computed: a glance missing for one interval beats computing all over again.
            return None

    def _shared(self, engine: Engine, now: datetime) -> DatabaseStats:
        deadline = time.monotonic() + self._lock_seconds + 1
        lock = self._client.lock(self._lock_key, timeout=self._lock_seconds)
        while True:
            if (result := self._fresh_result()) is not None:
                self._observe("shared")
                return result
            if lock.acquire(blocking=False):
                try:
                    return self._compute_under_lock(engine, now)
                finally:
                    try:
                        lock.release()
                    except RedisError:
                        # Either our lock expired while we computed (the lock's token check keeps
                        # us from deleting the one another process has taken since), or Redis is
                        # unreachable and it expires by itself; the result in hand is still good.
                        pass
            if time.monotonic() > deadline:
                raise SharedStatsTimeout("another process held the stats lock without storing a result")
            time.sleep(self._poll)

    def _compute_under_lock(self, engine: Engine, now: datetime) -> DatabaseStats:
        # Another process may have stored a result between our check and taking the lock.
        if (result := self._fresh_result()) is not None:
            self._observe("shared")
            return result
        self._observe("computed")
        result = self._inner(engine, now)
        if result.glance is None:
            result = replace(result, glance=self._last_glance())
        try:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._data_key, codec.dumps(result), px=self._keep_ms)
                pipe.set(self._fresh_key, b"1", px=self._interval_ms)
                pipe.execute()
        except RedisError as error:
            # Redis went away while the queries ran: this process still has its result.
            self._health.failed("storing the shared stats", error)
        return result
