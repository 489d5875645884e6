"""Faults: a stalled or cut PostgreSQL, and a Discord gateway that keeps dropping. Every request
still answers (within the 5-second bound, enforced by the client's timeout), stale data is
labelled, and everything recovers."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.layouts import ids
from aurora.stats.service import utc_now
from aurora.storage.engine import create_db_engine
from aurora.web.context import context_of
from tests.fakes.tcp_proxy import TcpProxy
from tests.support import NOW, insert_rows, user, with_fake_discord

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for
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


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_every_call_to_a_silent_postgres_ends_within_its_deadline_or_at_dispose(settings):
    """`statement_timeout` cannot end a query the server never received: the engine's own deadline
    does, for the pool's ping, the reconnect and the query alike; disposing the engine (the app's
    shutdown) ends a call at once."""
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    engine = create_db_engine(url.set(port=proxy.port).render_as_string(hide_password=False), silence_seconds=1)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        proxy.stall()
        started = time.monotonic()
        with pytest.raises(OperationalError, match="no answer within 1 s"), engine.connect() as conn:
            conn.execute(text("SELECT 2"))
        ended_after = time.monotonic() - started  # the ping's second, then the new connection's
        assert ended_after < 4, ended_after

        errors = []

        def query() -> None:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 3"))
            except OperationalError as error:
                errors.append(str(error))

        connections_before = proxy.accepted
        waiting = threading.Thread(target=query)
        waiting.start()
        wait_for(lambda: proxy.accepted > connections_before)  # its connection waits on the silent server
        engine.dispose()
        # Left alone it would end after its 1 s of silence: the message tells the dispose ended it.
        waiting.join(timeout=5)
        assert not waiting.is_alive() and "the app is stopping" in errors[0]

        proxy.restore()
        with engine.connect() as conn:  # a database that answers is used again
            assert conn.execute(text("SELECT 4")).scalar() == 4
            # ... and its calls that take longer than a wait's slice are not ended by the old dispose
            assert conn.execute(text("SELECT 5 FROM pg_sleep(0.3)")).scalar() == 5
    finally:
        engine.dispose()
        proxy.close()


def refresh_threads() -> int:
    return sum(thread.name == "aurora-stats-refresh" and thread.is_alive() for thread in threading.enumerate())


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_silent_postgres_never_piles_up_threads(make_app, settings, engine, clock):
    """The database accepts connections and answers nothing (a stalled proxy: the statement
    timeout never reaches the server). Over a dozen refresh deadlines of the injected clock the
    process holds at most one running and one given-up refresh thread, and every request is
    answered from the last good figures, marked stale."""
    insert_rows(engine, user_rows=[user(NOW) for _ in range(3)])
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    app = make_app(database_url=url.set(port=proxy.port).render_as_string(hide_password=False), rate_limit=None)
    client = app.server.test_client()
    try:
        first = client.get("/api/stats").get_json()
        assert first["users"]["active"] == 3 and not first["stale"]
        threads_before = threading.active_count()
        proxy.stall()
        durations, most_refresh_threads = [], 0
        for _ in range(12):
            clock.advance(seconds=11)  # past the 10 s refresh deadline each time
            started = time.perf_counter()
            answer = client.get("/api/stats")
            durations.append(time.perf_counter() - started)
            assert answer.status_code == 200
            stats = answer.get_json()
            assert stats["users"] == first["users"]
            time.sleep(0.5)  # real time for the attempts under way to connect, hang or fail
            most_refresh_threads = max(most_refresh_threads, refresh_threads())
            assert refresh_threads() <= 2  # one running, one given up on
            assert threading.active_count() <= threads_before + 2
        assert stats["stale"] and stats["staleSince"] == first["generatedAt"]
        print(f"\nsilent PostgreSQL: 12 requests, slowest {max(durations):.3f} s; at most "
              f"{most_refresh_threads} refresh threads; {threading.active_count()} threads (before: {threads_before})")

        proxy.restore()  # the stuck sessions are dropped; the next refresh after the back-off succeeds
        clock.advance(seconds=121)
        wait_for(lambda: not client.get("/api/stats").get_json()["stale"], timeout=15)
        wait_for(lambda: refresh_threads() == 0, timeout=10)
    finally:
        proxy.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_page_shows_reconnecting_then_connected_when_the_gateway_drops(make_app, live_server, page):
    with SimulatedDiscord(token="fault-token", guilds=[2, 2]) as fake:
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
        context_of(app).shutdown()
