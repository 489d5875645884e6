"""Role `bot`: the Discord bot (and its command recording) as a process of its own, no web server.

It holds the bot lease for its token (one bot per token across all hosts), publishes each
snapshot to Redis for the web processes, and stops cleanly on SIGINT/SIGTERM: gateway closed,
queued command records written, a final `disconnected` snapshot published and the lease released.
"""

from __future__ import annotations

import logging
import threading
import time

from aurora.protocols import Clock
from aurora.scaleout.lease import BotLease
from aurora.scaleout.redis_link import describe
from aurora.scaleout.roles import connect_shared
from aurora.scaleout.snapshots import OffLoopPublisher, RedisSnapshotStore
from aurora.settings import SHUTDOWN_SECONDS, Settings
from aurora.startup import StartupError, hold_bot_lease, prepare_database, start_bot, wire_stats_service
from aurora.stats.service import StatsService, utc_now
from aurora.storage.engine import create_db_engine

log = logging.getLogger(__name__)

# Snapshots per TTL: the key must outlive a late tick or two, and expire soon after the bot dies.
TICKS_PER_TTL = 3


class BotProcess:
    """The parts of a bot-role process, startable and stoppable from tests as from `app.py`."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now, bot_options: dict | None = None) -> None:
        if (refusal := settings.bot_process_refusal) is not None:
            raise StartupError(refusal)
        self._settings = settings
        self._clock = clock
        self._bot_options = {"tick_seconds": settings.bot_ttl_seconds / TICKS_PER_TTL, **(bot_options or {})}
        self.stopped = threading.Event()
        self.lease_lost = False
        self._shared = connect_shared(settings)
        self.lease: BotLease | None = None
        self._engine = None
        self._publisher: OffLoopPublisher | None = None
        self._runner = None
        self._service: StatsService | None = None

    def start(self) -> None:
        settings = self._settings
        self.lease = hold_bot_lease(settings, self._shared)
        try:
            self._engine = create_db_engine(settings.database_url)
            demo = prepare_database(self._engine, settings, self._clock)
            store = RedisSnapshotStore(
                self._shared.client, prefix=self._shared.prefix, ttl_seconds=settings.bot_ttl_seconds,
                clock=self._clock, health=self._shared.health,
            )
            self._publisher = OffLoopPublisher(store, self._clock)
            # For the bot's own /stats command; shares the web processes' computation.
            service = self._service = wire_stats_service(
                settings, self._engine, self._publisher, self._shared, demo=demo, clock=self._clock
            )
            self._runner = start_bot(settings, self._engine, self._publisher, service, self._clock,
                                     shared=self._shared, **self._bot_options)
        except BaseException:
            self.stop()
            raise
        self.lease.keep_renewed(on_lost=self._lost_lease)
        log.info(
            "Aurora bot running (role bot): snapshots to Redis %s under %r every %.1f s",
            describe(settings.redis_url), settings.redis_prefix, self._bot_options["tick_seconds"],
        )

    def _lost_lease(self) -> None:
        self.lease_lost = True
        self.stopped.set()

    def stop(self) -> None:
        """Idempotent: close the gateway, flush records (or keep them for the next start) and the
        last snapshot, release the lease; within the shutdown's bound."""
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        if self._runner is not None:
            self._runner.stop(SHUTDOWN_SECONDS - 1.0)  # the last second for the snapshot and lease
            self._runner = None
        if self._publisher is not None:
            self._publisher.close(max(0.0, deadline - time.monotonic()))
            self._publisher = None
        if self.lease is not None:
            self.lease.release()
        if self._engine is not None:
            self._engine.dispose()  # ends a refresh stuck on a silent database (aurora.storage.deadline)
            self._engine = None
        if self._service is not None:
            self._service.close(max(0.0, deadline - time.monotonic()))
            self._service = None
        self.stopped.set()

    def wait(self, poll_seconds: float = 0.5) -> None:
        # A timed wait keeps the main thread responsive to signal handlers.
        while not self.stopped.wait(poll_seconds):
            pass
