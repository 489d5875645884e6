"""Faults: a stalled or cut PostgreSQL, and a Discord gateway that keeps dropping. Every request
still answers (within the 5-second bound, enforced by the client's timeout), stale data is
labelled, and everything recovers."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from sqlalchemy.engine import make_url

from aurora import ids
from aurora.service import utc_now
from tests.fake_discord import FakeDiscord
from tests.support import with_fake_discord
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.clock

wait_for = FakeDiscord.wait_for
REQUEST_BOUND_SECONDS = 5


def get_stats(url: str) -> dict:
    # The timeout is the contract under test: a slower answer raises and fails the test.
    with urllib.request.urlopen(url + "/api/stats", timeout=REQUEST_BOUND_SECONDS) as response:
        return json.load(response)


def poll_until(url: str, predicate, seconds: float) -> dict:
    """Ask every 0.25 s until `predicate(stats)`; every single answer must come back in time."""
    deadline = time.monotonic() + seconds
    while True:
        stats = get_stats(url)
        if predicate(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds} s; last answer: {stats}")
        time.sleep(0.25)


@pytest.fixture
def proxied_app(make_app, settings, live_server):
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    app = make_app(
        database_url=url.set(port=proxy.port).render_as_string(hide_password=False),
        refresh_seconds=1,
        rate_limit="100000/minute",
        app_clock=utc_now,  # real time: the refresh timing is what is being exercised
    )
    yield live_server(app), proxy
    proxy.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_postgres_outage_serves_stale_stats_in_time_and_recovers(proxied_app, fault):
    server, proxy = proxied_app
    first = poll_until(server.url, lambda stats: not stats["stale"], 10)
    getattr(proxy, fault)()
    stale = poll_until(server.url, lambda stats: stats["stale"], 20)
    assert stale["staleSince"] is not None
    assert stale["users"] == first["users"]  # the last good numbers, still served
    proxy.restore()
    fresh = poll_until(server.url, lambda stats: not stats["stale"], 20)
    assert fresh["staleSince"] is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_page_shows_reconnecting_then_connected_when_the_gateway_drops(make_app, live_server, page):
    with FakeDiscord(token="fault-token", guilds=[2, 2]) as fake:
        # refresh_seconds=1: the page's interval and live stream follow it.
        app = make_app(refresh_seconds=1, **with_fake_discord(fake))
        server = live_server(app)
        status = f"#{ids.BOT_STATUS}"
        page.goto(server.url + "/")
        page.wait_for_selector(f"{status}:text-matches('^Bot connected')")
        for _ in range(3):  # short drops: the client resumes at once
            fake.drop_connections(4000)
            wait_for(lambda: get_stats(server.url)["bot"]["status"] == "connected")
        fake.refuse_gateway = True  # a longer outage: the page must say so
        fake.drop_connections(4000)
        wait_for(lambda: get_stats(server.url)["bot"]["status"] == "reconnecting")
        page.wait_for_selector(f"{status}:text-is('Bot reconnecting…')")
        fake.refuse_gateway = False
        wait_for(lambda: get_stats(server.url)["bot"]["status"] == "connected", timeout=15)
        page.wait_for_selector(f"{status}:text-matches('^Bot connected')")
        assert get_stats(server.url)["guilds"]["count"] == 2
        app.server.extensions["aurora"].shutdown()
