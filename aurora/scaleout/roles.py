"""Wiring for the roles (docs/scaling.md).

- `all` (default): one process, bot thread + web, in-memory snapshot hand-over.
- `bot`: only the bot; it publishes snapshots to Redis (see `aurora.scaleout.bot_process`).
- `web`: only the dashboard; it reads the bot's snapshot from Redis and never starts a bot.

Whenever REDIS_URL is set (any role) the rate limit is counted in Redis (Flask-Limiter: `aurora.api.rate_limit`) and
the database stats are computed once per interval for all processes; without it everything stays in
process memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.protocols import Clock, SnapshotHandOver, StatsCompute
from aurora.scaleout.redis_link import RedisHealth, connect
from aurora.scaleout.shared_stats import SharedStatsCompute
from aurora.scaleout.snapshots import RedisSnapshotStore
from aurora.settings import Settings
from aurora.web.metrics import observe_refresh_source, timed_compute

# What each role may run: decided here, and only here.
WEB_REFUSED = "AURORA_ROLE=bot runs no web server: start the bot with `python app.py`"
BOT_THREAD_REFUSED = "AURORA_ROLE=web never starts the bot: run it as its own process with AURORA_ROLE=bot"
BOT_PROCESS_REFUSED = "the bot process needs AURORA_ROLE=bot, REDIS_URL and DISCORD_TOKEN"


def runs_bot_process(settings: Settings) -> bool:
    """Role bot: the bot as a process of its own, no web server."""
    return settings.role == "bot"


def web_refusal(settings: Settings) -> str | None:
    return WEB_REFUSED if runs_bot_process(settings) else None


def bot_thread_refusal(settings: Settings) -> str | None:
    return BOT_THREAD_REFUSED if settings.role == "web" else None


def bot_process_refusal(settings: Settings) -> str | None:
    ready = runs_bot_process(settings) and settings.redis_url is not None and settings.discord_token
    return None if ready else BOT_PROCESS_REFUSED


def reads_snapshots_from_redis(settings: Settings, shared: SharedRedis | None) -> bool:
    """Role web: the bot's snapshots come from Redis, published by the bot process."""
    return settings.role == "web" and shared is not None


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
    if reads_snapshots_from_redis(settings, shared):
        return RedisSnapshotStore(
            shared.client, prefix=shared.prefix, ttl_seconds=settings.bot_ttl_seconds, clock=clock, health=shared.health
        )
    return SnapshotCache(clock)


def shared_compute(settings: Settings, shared: SharedRedis | None, inner: StatsCompute) -> StatsCompute:
    """`inner` (any compute function) timed for /metrics and, with Redis, run once per interval
    for every process of the deployment."""
    timed = timed_compute(inner)
    if shared is None:
        return timed
    return SharedStatsCompute(
        shared.client,
        timed,
        prefix=shared.prefix,
        interval_seconds=settings.refresh_seconds,
        health=shared.health,
        observe=observe_refresh_source,
    )
