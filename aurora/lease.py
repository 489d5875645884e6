"""One bot per token across every process and host: a Redis lease, renewed while the bot runs.

The key is derived from a hash of DISCORD_TOKEN (never the token itself) and does not depend on
AURORA_REDIS_PREFIX: two deployments that share a token would still open two gateway
connections, whatever prefix they use. A process that stops cleanly deletes the lease; one that
dies leaves it to expire after `ttl_seconds`, which is why a new bot waits up to that long for it
before refusing (a supervisor restarting a crashed bot then succeeds instead of failing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import redis

from aurora.redis_link import RedisError

log = logging.getLogger(__name__)

# Renew only our own lease; take it back if it expired while Redis was unreachable; 0 if another
# process holds it now.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> str | None:
        raw = self._client.get(self.key)
        return raw.decode(errors="replace") if raw is not None else None

    def acquire(self, *, wait_seconds: float, poll_seconds: float = 0.25) -> None:
        """Take the lease, waiting up to `wait_seconds` for a held one to expire or be released.

        Raises LeaseHeld when it stays held, RedisError when Redis cannot be reached.
        """
        deadline = time.monotonic() + wait_seconds
        announced = False
        while not self._client.set(self.key, self.owner, nx=True, px=self._ttl_ms):
            holder = self.holder()
            if time.monotonic() >= deadline:
                raise LeaseHeld(
                    f"DISCORD_TOKEN: the bot for this token is already running ({holder or 'another process'} "
                    f"holds the Redis lease {self.key}); a second bot would open a duplicate gateway "
                    "connection. Stop the other one, or run this process as AURORA_ROLE=web"
                )
            if not announced and holder is not None:
                log.info("waiting up to %.0f s for the bot lease held by %s", wait_seconds, holder)
                announced = True
            time.sleep(poll_seconds)

    def renew(self) -> bool:
        """Extend the lease; False when another process holds it now. RedisError passes through."""
        return bool(self._renew(keys=[self.key], args=[self.owner, self._ttl_ms]))

    def release(self) -> None:
        self.stop_renewing()
        try:
            self._release(keys=[self.key], args=[self.owner])
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
