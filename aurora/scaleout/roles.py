"""Wiring for the roles (docs/scaling.md); what each role may run is decided in `aurora.settings`.

- `all` (default): one process, bot thread + web, in-memory snapshot hand-over.
- `bot`: only the bot; it publishes snapshots to Redis (see `aurora.scaleout.bot_process`).
- `web`: only the dashboard; it reads the bot's snapshot from Redis and never starts a bot.

Whenever REDIS_URL is set (any role) the rate limit is counted in Redis (Flask-Limiter: `aurora.api.rate_limit`) and
the database stats are computed once per interval for all processes; without it everything stays in
process memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.protocols import Clock, SnapshotHandOver, StatsCompute
from aurora.scaleout.redis_link import RedisHealth, connect
from aurora.scaleout.shared_stats import SharedStatsCompute
from aurora.scaleout.snapshots import RedisSnapshotStore
from aurora.settings import Settings


@dataclass(frozen=True)
class SharedRedis:
    """One process's Redis client and the outage bookkeeping its parts share."""

    client: redis.Redis
    health: RedisHealth
    prefix: str


def connect_shared(settings: Settings) -> SharedRedis | None:
    if settings.redis_url is None:
        return None
    return SharedRedis(connect(settings.redis_url), RedisHealth(), settings.redis_prefix)


def snapshot_source(settings: Settings, shared: SharedRedis | None, clock: Clock) -> SnapshotHandOver:
    """Where the web side reads bot snapshots: Redis in role web, the bot thread's cache otherwise."""
    if settings.reads_bot_from_redis and shared is not None:
        return RedisSnapshotStore(
            shared.client, prefix=shared.prefix, ttl_seconds=settings.bot_ttl_seconds, clock=clock, health=shared.health
        )
    return SnapshotCache(clock)


def shared_compute(
    settings: Settings, shared: SharedRedis | None, inner: StatsCompute, *, observe: Callable[[str], None]
) -> StatsCompute:
    """`inner` (any compute function), with Redis run once per interval for every process of the
    deployment; `observe` hears where each refresh's result came from."""
    if shared is None:
        return inner
    return SharedStatsCompute(
        shared.client,
        inner,
        prefix=shared.prefix,
        interval_seconds=settings.refresh_seconds,
        health=shared.health,
        observe=observe,
    )
