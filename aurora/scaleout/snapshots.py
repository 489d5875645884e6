"""Bot snapshots shared through Redis: the bot process publishes, every web worker reads.

`RedisSnapshotStore` has the interface of `SnapshotCache` (`aurora.protocols.SnapshotHandOver`). Each
snapshot is stored with a TTL of `ttl_seconds`; the bot publishes several times per TTL, so the key
lives as long as the bot does. When it expires (bot process killed, host gone) or Redis cannot be reached,
readers get a `disconnected` snapshot: the page says offline instead of showing frozen numbers.

`OffLoopPublisher` sits between the bot's event loop and the store: `publish` returns at once
and a writer thread sends the newest snapshot, so a slow Redis never delays gateway heartbeats.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import redis

from aurora.bot.snapshot import BotSnapshot
from aurora.bot.snapshot_cache import SnapshotCache
from aurora.protocols import Clock
from aurora.scaleout import codec
from aurora.scaleout.redis_link import RedisError, RedisHealth

log = logging.getLogger(__name__)


def snapshot_key(prefix: str) -> str:
    return f"{prefix}:bot:snapshot"


def _version_of(raw: bytes) -> int:
    # The version only has to change when the content does; a content hash needs no counter
    # that a restarted bot would reset (a repeated number could serve an old memoized page).
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


class RedisSnapshotStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        ttl_seconds: float,
        clock: Clock,
        health: RedisHealth | None = None,
    ) -> None:
        self._client = client
        self._key = snapshot_key(prefix)
        self._ttl_ms = int(ttl_seconds * 1000)
        self._clock = clock
        self._health = health or RedisHealth()
        self._lock = threading.Lock()
        self._offline: tuple[int, BotSnapshot] | None = None
        self._unreadable_logged = False

    @property
    def health(self) -> RedisHealth:
        """The Redis breaker this store consults before each read."""
        return self._health

    def publish(self, snapshot: BotSnapshot) -> None:
        """Store the snapshot for `ttl_seconds`; raises RedisError when Redis is unreachable."""
        try:
            self._client.set(self._key, codec.dumps(snapshot), px=self._ttl_ms)
        except RedisError as error:
            self._health.failed("publishing the bot snapshot", error)
            raise
        self._health.succeeded()

    def latest(self) -> tuple[int, BotSnapshot]:
        """The newest live snapshot, or a `disconnected` one when there is none to be had."""
        if not self._health.usable():
            return self._offline_snapshot()
        try:
            raw = self._client.get(self._key)
        except RedisError as error:
            self._health.failed("reading the bot snapshot", error)
            return self._offline_snapshot()
        self._health.succeeded()
        if raw is None:
            return self._offline_snapshot()
        try:
            snapshot = codec.loads(BotSnapshot, raw)
        except codec.CodecError as error:
            if not self._unreadable_logged:  # e.g. a bot of another version during a rolling deploy
                log.warning("the bot snapshot in Redis is unreadable (%s); showing the bot as offline", error)
                self._unreadable_logged = True
            return self._offline_snapshot()
        with self._lock:
            self._offline = None
        return _version_of(raw), snapshot

    def _offline_snapshot(self) -> tuple[int, BotSnapshot]:
        # One snapshot per outage (not one per request), stamped when the outage was noticed, so
        # the service's memo of the serialized stats keeps working while the bot is away.
        with self._lock:
            if self._offline is None:
                snapshot = BotSnapshot(status="disconnected", taken_at=self._clock())
                self._offline = (_version_of(codec.dumps(snapshot)), snapshot)
            return self._offline


class OffLoopPublisher:
    """`SnapshotCache` interface for the bot: keeps the newest snapshot locally (the bot's own
    /stats command reads it) and forwards it to `target` from a writer thread."""

    def __init__(self, target: RedisSnapshotStore, clock: Clock) -> None:
        self._target = target
        self._local = SnapshotCache(clock)
        self._wakeup = threading.Condition()
        self._pending: BotSnapshot | None = None
        self._closing = False
        self._sent = 0
        self._thread = threading.Thread(target=self._run, name="aurora-snapshot-publisher", daemon=True)
        self._thread.start()

    @property
    def sent(self) -> int:
        """How many snapshots reached Redis."""
        return self._sent

    def publish(self, snapshot: BotSnapshot) -> None:
        self._local.publish(snapshot)
        with self._wakeup:
            self._pending = snapshot  # only the newest matters; an older unsent one is replaced
            self._wakeup.notify()

    def latest(self) -> tuple[int, BotSnapshot]:
        return self._local.latest()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is pending (the bot's final `disconnected` snapshot), then stop."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                self._wakeup.wait_for(lambda: self._pending is not None or self._closing)
                snapshot, self._pending = self._pending, None
                if snapshot is None:
                    return
            try:
                self._target.publish(snapshot)
                self._sent += 1
            except RedisError:
                pass  # logged once by RedisHealth; the next tick publishes a newer snapshot
