"""One bot per token across processes and hosts: the lease in the real Redis (a redis-py Lock)."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.scaleout.lease import BotLease, LeaseHeld, lease_key
from aurora.startup import StartupError
from aurora.web.context import context_of
from tests.support import with_fake_discord

wait_for = SimulatedDiscord.wait_for


def test_the_bot_lease_admits_one_holder_per_token(redis_client):
    token = f"lease-{uuid.uuid4().hex}"
    first = BotLease(redis_client, token, ttl_seconds=5)
    second = BotLease(redis_client, token, ttl_seconds=5)
    first.acquire(wait_seconds=0)
    try:
        with pytest.raises(LeaseHeld) as raised:
            second.acquire(wait_seconds=0.3, poll_seconds=0.05)
        message = str(raised.value)
        assert message.startswith("DISCORD_TOKEN: the bot for this token is already running")
        assert first.owner in message and token not in message
        assert not second.renew() and first.renew()
        BotLease(redis_client, f"other-{token}", ttl_seconds=5).acquire(wait_seconds=0)  # another bot is fine
    finally:
        first.release()
    second.acquire(wait_seconds=0)  # released on a clean stop: the next bot starts at once
    second.release()


def test_a_dead_holders_lease_expires_and_a_waiting_bot_takes_it(redis_client):
    token = f"lease-{uuid.uuid4().hex}"
    BotLease(redis_client, token, ttl_seconds=0.3).acquire(wait_seconds=0)  # never renewed: "killed"
    successor = BotLease(redis_client, token, ttl_seconds=5)
    successor.acquire(wait_seconds=5, poll_seconds=0.05)
    assert successor.holder() == successor.owner
    successor.release()


def test_a_bot_that_lost_its_lease_is_told_to_stop(redis_client):
    token = f"lease-{uuid.uuid4().hex}"
    lease = BotLease(redis_client, token, ttl_seconds=0.3)
    lease.acquire(wait_seconds=0)
    lost = threading.Event()
    redis_client.set(lease.key, "another process", px=5000)  # e.g. taken over during a Redis outage
    lease.keep_renewed(on_lost=lost.set)
    assert lost.wait(3)
    lease.release()
    assert redis_client.get(lease.key) == b"another process"  # never deletes someone else's lease
    redis_client.delete(lease.key)


def test_a_lease_that_expired_during_an_outage_is_taken_back_by_renewing(redis_client):
    token = f"lease-{uuid.uuid4().hex}"
    lease = BotLease(redis_client, token, ttl_seconds=0.2)
    lease.acquire(wait_seconds=0)
    wait_for(lambda: lease.holder() is None, timeout=3)  # no renewal reached Redis within the TTL
    assert lease.renew()
    assert lease.holder() == lease.owner and 0 < redis_client.pttl(lease.key) <= 200
    lease.release()
    assert lease.holder() is None


def test_an_all_in_one_process_with_redis_holds_the_bot_lease_too(make_app, redis_url, redis_prefix):
    token = f"lease-{uuid.uuid4().hex}"
    with SimulatedDiscord(token=token, guilds=[2]) as fake:
        overrides = {**with_fake_discord(fake), "redis_url": redis_url, "redis_prefix": redis_prefix,
                     "bot_ttl_seconds": 2}
        app = make_app(**overrides)
        lease_store = redis.Redis.from_url(redis_url)
        try:
            holder = lease_store.get(lease_key(token))
            assert holder is not None
            with pytest.raises(StartupError, match="already running"):
                make_app(**overrides)  # waits one TTL for the lease, then refuses
            assert fake.identify_count == 1
            context_of(app).shutdown()
            assert lease_store.get(lease_key(token)) is None  # released on a clean stop
        finally:
            lease_store.close()
