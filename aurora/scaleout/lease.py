"""One bot per token across every process and host: a Redis lease, renewed while the bot runs.

The lease is a `redis.lock.Lock` whose token names the holder (pid, host, a random suffix), so the
refusal message can say who runs the bot; the lock's own scripts make renewal and release touch
only our own lease. The key is derived from a hash of DISCORD_TOKEN (never the token itself) and
does not depend on AURORA_REDIS_PREFIX: two deployments that share a token would still open two
gateway connections, whatever prefix they use. A process that stops cleanly deletes the lease; one
that dies leaves it to expire after `ttl_seconds`, which is why a new bot waits up to that long
for it before refusing (a supervisor restarting a crashed bot then succeeds instead of failing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

import redis
from redis.exceptions import LockError

from aurora.scaleout.redis_link import RedisError

log = logging.getLogger(__name__)


class LeaseHeld(RuntimeError):
    """Another process runs the bot for this token; the message says which and what to do."""


def lease_key(token: str) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return f"aurora:bot-lease:{digest}"


class BotLease:
    def __init__(self, client: redis.Redis, token: str, *, ttl_seconds: float) -> None:
        self._client = client
        self.key = lease_key(token)
        self.owner = f"pid {os.getpid()} on {socket.gethostname()} ({uuid.uuid4().hex[:8]})"
        self._ttl_ms = int(ttl_seconds * 1000)
        # Not thread-local: the lease is taken on one thread and renewed from another.
        self._lock = client.lock(self.key, timeout=ttl_seconds, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> str | None:
        raw = self._client.get(self.key)
        return raw.decode(errors="replace") if raw is not None else None

    def acquire(self, *, wait_seconds: float, poll_seconds: float = 0.25) -> None:
        """Take the lease, waiting up to `wait_seconds` for a held one to expire or be released.

        Raises LeaseHeld when it stays held, RedisError when Redis cannot be reached.
        """
        if self._lock.acquire(blocking=False, token=self.owner):
            return
        holder = self.holder()
        if wait_seconds > 0 and holder is not None:
            log.info("waiting up to %.0f s for the bot lease held by %s", wait_seconds, holder)
        if self._lock.acquire(blocking_timeout=wait_seconds, sleep=poll_seconds, token=self.owner):
            return
        raise LeaseHeld(
            f"DISCORD_TOKEN: the bot for this token is already running ({self.holder() or 'another process'} "
            f"holds the Redis lease {self.key}); a second bot would open a duplicate gateway "
            "connection. Stop the other one, or run this process as AURORA_ROLE=web"
        )

    def renew(self) -> bool:
        """Extend the lease; False when another process holds it now. RedisError passes through.

        A lease that expired while Redis was unreachable is taken back when nobody else took it.
        """
        try:
            return self._lock.reacquire()
        except LockError:  # not ours any more (expired or taken), or never taken
            return self._lock.acquire(blocking=False, token=self.owner)

    def release(self) -> None:
        self.stop_renewing()
        try:
            self._lock.release()
        except LockError:
            pass  # another process holds it now (never delete theirs), or it was released already
        except RedisError:
            pass  # it expires by itself after the TTL

    def keep_renewed(self, on_lost: Callable[[], None]) -> None:
        """Renew three times per TTL in a thread; call `on_lost` if another process took over."""
        interval = self._ttl_ms / 3000

        def run() -> None:
            failing = False
            while not self._stop.wait(interval):
                try:
                    held = self.renew()
                except RedisError as error:
                    if not failing:
                        log.warning("cannot renew the bot lease (%s); the bot keeps running", error.__class__.__name__)
                    failing = True
                    continue
                if failing:
                    log.info("bot lease renewed again")
                    failing = False
                if not held:
                    log.error("another process took the bot lease (%s); stopping this bot", self.holder())
                    on_lost()
                    return

        self._thread = threading.Thread(target=run, name="aurora-bot-lease", daemon=True)
        self._thread.start()

    def stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
