"""Starting Aurora's parts, shared by the web factory (`create_app`) and the bot process: the
database prepared, the stats service wired, the bot started and its lease held; and the one error
that says a setting is wrong.
"""

from __future__ import annotations

import atexit
import logging

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from aurora.bot.cogs.slash_commands import CommandServices
from aurora.bot.command_health.redis_window import RedisWindowStore
from aurora.bot.record_spool import RecordSpool
from aurora.bot.recorder import CommandRecorder
from aurora.bot_runner import BotRunner
from aurora.demo.seed import is_demo_database, seed_demo
from aurora.protocols import AlertSource, Clock, SnapshotSink, SnapshotSource
from aurora.queries.aggregates import IncrementalStats
from aurora.queries.balances import balance_of
from aurora.queries.day_glance import with_day_glance
from aurora.scaleout.lease import BotLease, LeaseHeld
from aurora.scaleout.redis_link import RedisError, describe
from aurora.scaleout.roles import SharedRedis, shared_compute
from aurora.settings import Settings
from aurora.stats.service import StatsService
from aurora.storage.init_db.indexes import log_missing_indexes
from aurora.storage.problems import database_problem
from aurora.storage.tables import init_db, missing_tables
from aurora.web.metrics import observe_refresh_source, timed_compute

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """Aurora cannot start as configured; the message says which setting and what to do."""


def prepare_database(engine: Engine, settings: Settings, clock: Clock) -> bool:
    """Create the schema where Aurora owns the database, seed demo data if asked; True if demo.

    On a database it does not own it creates nothing: missing tables stop startup, and each missing
    recommended index is one WARNING (catalog queries only) naming it, its cost and `init-db`."""
    try:
        if settings.database_is_default:
            init_db(engine)
        else:
            missing = missing_tables(engine)
            if missing:
                raise StartupError(
                    f"DATABASE_URL: tables missing ({', '.join(missing)}); "
                    "run `python app.py init-db` to create them"
                )
            log_missing_indexes(engine)
        if settings.demo:
            return seed_demo(engine, clock())
        return is_demo_database(engine)
    except DBAPIError as error:
        # The dashboard still starts: it answers 503, saying why, until the database is usable.
        log.error("database unavailable at startup: %s (retrying in the background)", database_problem(error, engine.url))
        return False


def start_bot(
    settings: Settings, engine: Engine, snapshots: SnapshotSink, service: StatsService, clock: Clock, *,
    shared: SharedRedis | None = None, **options
) -> BotRunner:
    """The bot thread, started; with `shared` Redis its health window outlives restarts."""
    if (refusal := settings.bot_thread_refusal) is not None:
        raise StartupError(refusal)
    if shared is not None:
        options.setdefault("health_store", RedisWindowStore(shared.client, prefix=shared.prefix, health=shared.health))

    def balance(user_id: int) -> int | None:
        with engine.connect() as conn:
            return balance_of(conn, user_id)

    runner = BotRunner(
        settings,
        snapshots,
        CommandRecorder(engine, spool=RecordSpool(settings.spool_dir, settings.database_url)),
        CommandServices(stats=service.current, balance_of=balance),
        clock=clock,
        **options,
    )
    runner.start()
    atexit.register(runner.stop)
    return runner


def hold_bot_lease(settings: Settings, shared: SharedRedis) -> BotLease:
    """Take the Redis lease that keeps one bot per token across processes and hosts.

    A crashed bot's lease expires within one TTL, so wait that long before refusing.
    """
    lease = BotLease(shared.client, settings.discord_token, ttl_seconds=settings.bot_ttl_seconds)
    try:
        lease.acquire(wait_seconds=settings.bot_ttl_seconds)
    except LeaseHeld as error:
        raise StartupError(str(error)) from None
    except RedisError as error:
        raise StartupError(
            f"REDIS_URL: Redis at {describe(settings.redis_url)} is not reachable ({error.__class__.__name__}); "
            "the bot needs it for its lease (one bot per token across processes)"
        ) from None
    return lease


def wire_stats_service(
    settings: Settings, engine: Engine, snapshots: SnapshotSource, shared: SharedRedis | None, *, demo: bool,
    clock: Clock, alerts: AlertSource | None = None, simulated: bool = False,
) -> StatsService:
    """The stats service every role runs: incremental figures (the same as the reference definitions
    at a cost independent of table size) and the day at a glance, with Redis computed once per
    interval for all processes; each computation is counted and timed for /metrics."""
    return StatsService(
        engine, snapshots, refresh_seconds=settings.refresh_seconds, demo=demo, simulated=simulated, clock=clock,
        compute=shared_compute(settings, shared, timed_compute(with_day_glance(IncrementalStats())),
                               observe=observe_refresh_source),
        alerts=alerts,
    )
