"""The alert check: on every stats refresh (and at least every `CHECK_SECONDS`), in a thread of its
own, the conditions are evaluated, the state is moved on, and the sender gets what to send.
Requests only read the board; nothing here runs on a request's thread or the bot's loop."""

from __future__ import annotations

import logging
import threading
import time

from aurora.alerts.board import AlertBoard
from aurora.alerts.conditions import DatabaseState, RecentFigures, Thresholds, active_conditions
from aurora.alerts.messages import alert_payload
from aurora.alerts.sender import DRAIN_SECONDS, WebhookSender
from aurora.alerts.state import AlertEvent, AlertLedger
from aurora.alerts.store import MemoryAlertStore, RedisAlertStore
from aurora.background import RepeatingThread
from aurora.protocols import Clock, SnapshotSource
from aurora.scaleout.redis_link import RedisError
from aurora.scaleout.roles import SharedRedis
from aurora.settings import Settings
from aurora.stats.service import StatsService

log = logging.getLogger(__name__)

CHECK_SECONDS = 30  # the longest between two checks, whatever the refresh interval
SENDER_LEASES_PER_TTL = 3  # the sender's lock outlives this many missed checks


class AlertMonitor:
    def __init__(
        self,
        *,
        service: StatsService,
        snapshots: SnapshotSource,
        board: AlertBoard,
        store: MemoryAlertStore | RedisAlertStore,
        sender: WebhookSender,
        thresholds: Thresholds,
        clock: Clock,
        public_url: str | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._service = service
        self._snapshots = snapshots
        self.board = board
        self._store = store
        self.sender = sender
        self._thresholds = thresholds
        self._clock = clock
        self._public_url = public_url
        self._check_seconds = check_seconds
        self._figures = RecentFigures()
        self._lock = threading.Lock()
        self._checks = RepeatingThread("aurora-alerts", self._check_logged, first_wait=check_seconds)

    def start(self) -> None:
        self.sender.start()
        self._service.observe_refreshes(self.poke)
        self._checks.start()

    @property
    def sending(self) -> bool:
        """Whether this process sent the alerts at its last check (always, without Redis)."""
        return self._store.holding

    def poke(self) -> None:
        """A refresh happened: check soon (never blocks: the service calls it under its lock)."""
        self._checks.wake()

    def close(self, timeout: float = 2.0 + DRAIN_SECONDS) -> None:
        """Stop checking, then deliver what is queued (a "resolved" message just raised); at most `timeout` s."""
        deadline = time.monotonic() + timeout
        self._checks.stop(min(2.0, timeout))
        self.sender.close(max(0.0, min(DRAIN_SECONDS, deadline - time.monotonic())))
        self._store.release()

    def _check_logged(self) -> float:
        try:
            self.check()
        except Exception as error:  # the next refresh checks again
            log.warning("alert check failed (%s)", error.__class__.__name__)
        return self._check_seconds

    def check(self) -> list[AlertEvent]:
        """Evaluate now (as of the clock); the messages this process queued."""
        with self._lock:
            now = self._clock()
            _version, bot = self._snapshots.latest()
            database = DatabaseState.of(self._service.current_if_ready(), self._service.preparing)
            ping_mean, failures = self._figures.observe(now, bot)
            holding = active_conditions(
                bot,
                database,
                ping_mean_ms=ping_mean,
                failures_last_hour=failures,
                thresholds=self._thresholds,
            )
            health = getattr(self._store, "health", None)
            if health is not None and not health.usable():
                return []  # Redis is down: nobody can tell who sends; the board keeps what it shows
            try:
                sending = self._store.hold()
                before = self._store.load()
                ledger = AlertLedger.from_plain(before)
                events = ledger.step(now, holding, self._thresholds.hold) if sending else []
                after = ledger.to_plain()
                if sending and after != before:
                    self._store.save(after)
            except RedisError as error:
                health.failed("reading the alert state", error)
                return []
            if health is not None:
                health.succeeded()
            self.board.show(ledger.records())
            for event in events:
                log.info("alert %s: %s", event.kind, event.condition)
                self.sender.submit(alert_payload(event, self._public_url))
            return events


def alert_board(settings: Settings) -> AlertBoard | None:
    """The board the stats service shows, or None while alerts are off (no webhook URL)."""
    return AlertBoard() if settings.alert_webhook_url else None


def start_alert_monitor(
    settings: Settings,
    service: StatsService,
    snapshots: SnapshotSource,
    board: AlertBoard | None,
    shared: SharedRedis | None,
    clock: Clock,
) -> AlertMonitor | None:
    if board is None:
        return None
    check_seconds = min(settings.refresh_seconds, CHECK_SECONDS)
    if shared is None:
        store = MemoryAlertStore()
    else:
        store = RedisAlertStore(
            shared.client,
            prefix=shared.prefix,
            ttl_seconds=SENDER_LEASES_PER_TTL * check_seconds + 5,
            health=shared.health,
        )
    monitor = AlertMonitor(
        service=service,
        snapshots=snapshots,
        board=board,
        store=store,
        sender=WebhookSender(settings.alert_webhook_url),
        thresholds=Thresholds.from_settings(settings),
        clock=clock,
        public_url=settings.public_url,
        check_seconds=check_seconds,
    )
    monitor.start()
    log.info("alerts on: the alert webhook gets a message when a condition starts and when it clears")
    return monitor
