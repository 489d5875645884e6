"""Aurora Dashboard: the application factory."""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass
from pathlib import Path

from dash import Dash
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from aurora.api.rate_limit import install_rate_limits
from aurora.api.routes import EXTENSION_KEY, create_api_blueprint, register_error_handlers
from aurora.api.stream import StreamSlots
from aurora.bot_commands import CommandServices
from aurora.bot_runner import BotRunner
from aurora.config import Settings
from aurora.db import create_db_engine, init_db, missing_tables
from aurora.demo import is_demo_database, seed_demo
from aurora.init_db.indexes import log_missing_indexes
from aurora.layouts.callbacks import install_page
from aurora.layouts.page_guard import install_page_guard
from aurora.metrics import install_metrics
from aurora.queries.aggregates import IncrementalStats
from aurora.queries.balances import balance_of
from aurora.recorder import CommandRecorder
from aurora.scaleout.lease import BotLease, LeaseHeld
from aurora.scaleout.redis_link import RedisError, describe
from aurora.scaleout.roles import SharedRedis, connect_shared, shared_compute, snapshot_source
from aurora.seams import Clock, SnapshotHandOver, SnapshotSink
from aurora.security import (
    install_access_control,
    install_proxy_fix,
    install_relative_redirects,
    install_security_headers,
)
from aurora.service import StatsService, utc_now
from aurora.serving.capacity import current_capacity, stream_cap

log = logging.getLogger(__name__)

ASSETS_FOLDER = str(Path(__file__).resolve().parent.parent / "assets")


class StartupError(RuntimeError):
    """Aurora cannot start as configured; the message says which setting and what to do."""


@dataclass(frozen=True)
class AuroraContext:
    """What request handlers and callbacks reach through `current_app.extensions['aurora']`."""

    settings: Settings
    engine: Engine
    snapshots: SnapshotHandOver
    service: StatsService
    streams: StreamSlots
    bot: BotRunner | None = None
    bot_lease: BotLease | None = None

    def shutdown(self) -> None:
        """Stop the bot (closing its gateway connection) and release database connections."""
        if self.bot is not None:
            self.bot.stop()
        if self.bot_lease is not None:
            self.bot_lease.release()
        self.service.close()
        self.engine.dispose()


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
    except OperationalError as error:
        # The dashboard still starts: it answers 503 until the database is reachable.
        log.error("database unreachable at startup (%s); retrying on demand", error.orig.__class__.__name__)
        return False


def start_bot(
    settings: Settings, engine: Engine, snapshots: SnapshotSink, service: StatsService, clock: Clock, **options
) -> BotRunner:
    if settings.role == "web":
        raise StartupError("AURORA_ROLE=web never starts the bot: run it as its own process with AURORA_ROLE=bot")
    def balance(user_id: int) -> int | None:
        with engine.connect() as conn:
            return balance_of(conn, user_id)

    runner = BotRunner(
        settings,
        snapshots,
        CommandRecorder(engine),
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


def create_app(
    settings: Settings,
    *,
    snapshots: SnapshotHandOver | None = None,
    clock: Clock = utc_now,
    bot_options: dict | None = None,
) -> Dash:
    """Build the dashboard. With a DISCORD_TOKEN, the bot starts in a background thread;
    `bot_options` tunes that runner (tests shorten its timers)."""
    if settings.role == "bot":
        raise StartupError("AURORA_ROLE=bot runs no web server: start the bot with `python app.py`")
    engine = create_db_engine(settings.database_url)
    demo = prepare_database(engine, settings, clock)
    # With REDIS_URL: role web reads the bot's snapshot from Redis, and every process shares one
    # stats computation per interval (`shared_compute` wraps whatever compute function is used).
    shared = connect_shared(settings)
    snapshots = snapshots or snapshot_source(settings, shared, clock)
    service = StatsService(
        engine, snapshots, refresh_seconds=settings.refresh_seconds, demo=demo, clock=clock,
        # Incremental: the same figures as compute_database_stats at a cost independent of table size.
        compute=shared_compute(settings, shared, IncrementalStats()),
    )

    app = Dash(
        __name__,
        assets_folder=ASSETS_FOLDER,
        title="Aurora Dashboard",
        update_title=None,
    )
    server = app.server
    bot, lease = None, None
    if settings.bot_enabled:
        # With Redis, the all-in-one process holds the same per-token lease as a bot process.
        lease = hold_bot_lease(settings, shared) if shared is not None else None
        bot = start_bot(settings, engine, snapshots, service, clock, **(bot_options or {}))
        if lease is not None:
            lease.keep_renewed(on_lost=bot.stop)
    total_streams = stream_cap(settings.stream_max_total, current_capacity())
    streams = StreamSlots(settings.stream_max_per_client, total_streams)
    server.extensions[EXTENSION_KEY] = AuroraContext(settings, engine, snapshots, service, streams, bot, lease)
    install_proxy_fix(app, settings)
    install_access_control(app, settings)
    install_security_headers(app)
    install_relative_redirects(app)
    install_metrics(server)
    # After access control: a request without the token is refused before it is counted.
    install_rate_limits(app, settings, clock)
    server.register_blueprint(create_api_blueprint())
    register_error_handlers(server)
    install_page(app, settings.refresh_seconds)
    install_page_guard(app)
    # Dash sets itself up on a worker's first request and marks that done before it is: other
    # first requests arriving meanwhile (a browser fetching scripts from a fresh gunicorn worker)
    # found no component library registered. Setting it up here closes that window.
    with server.test_request_context("/"):
        app._setup_server()
    log.info(
        "Aurora Dashboard ready: database %s%s, bot %s",
        engine.url.render_as_string(hide_password=True),
        " (demo data)" if demo else "",
        "enabled" if settings.bot_enabled else "disabled (DISCORD_TOKEN not set)",
    )
    return app
