"""Fixtures: a fresh database per test (SQLite file and, where reachable, PostgreSQL), a fresh
app per test, bot runners without the web side, and a headless Chromium.

Services that are missing make their tests skip with the reason, except under CI=true, where a
missing service fails the run instead: CI must exercise every real part.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from aurora import create_app
from aurora.bot.cogs.slash_commands import CommandServices
from aurora.bot.recorder import CommandRecorder
from aurora.bot_runner import BotRunner
from aurora.scaleout.redis_link import connect
from aurora.settings import Settings
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import init_db
from aurora.web.context import context_of
from aurora.web.serving.asgi import asgi_app
from aurora.web.serving.worker import listen, server_for
from tests.fakes.snapshot_sink import no_balance, no_stats
from tests.support import FAST_BOT_OPTIONS, FrozenClock

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "AURORA_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every real service must be present."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_admin_engine():
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as error:
        engine.dispose()
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({error.orig.__class__.__name__})")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin_engine):
    """A database URL whose search_path is a schema private to this test."""
    schema = f"aurora_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_ADMIN_URL}?options={quote(f'-csearch_path={schema}')}"
    # A server process the test stopped may still be finishing a query on the schema; the drop can
    # then lose a deadlock to it. It is tried again once that process is gone.
    for attempt in range(5):
        try:
            with postgres_admin_engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(1)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'aurora-test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request):
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def settings(database_url, engine, tmp_path) -> Settings:
    """Settings for an existing database (tables created by the `engine` fixture), no demo, and no
    simulated Discord beside a demo unless a test asks for one (tests/demo/test_simulation.py); records
    kept at shutdown go to the test's own folder."""
    return Settings(database_url=database_url, database_is_default=False, demo=False, simulated_discord=False,
                    spool_dir=str(tmp_path / "spool"))


@pytest.fixture
def make_app(settings, clock):
    created = []

    def build(bot_options=None, snapshots=None, app_clock=clock, simulation_options=None, **overrides):
        app = create_app(
            settings.with_overrides(**overrides), clock=app_clock, bot_options=bot_options, snapshots=snapshots,
            simulation_options=simulation_options,
        )
        created.append(app)
        return app

    yield build
    for app in created:
        context_of(app).shutdown()


@pytest.fixture
def client(make_app):
    return make_app().server.test_client()


class LiveServer:
    """The app served as `python app.py` serves it (aurora.web.serving.asgi under uvicorn, Aurora's options,
    its listening socket) on a free loopback port, from a thread of the test process."""

    def __init__(self, app) -> None:
        self.app = app
        self.asgi = asgi_app(app)
        self._socket = listen("127.0.0.1", 0)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.uvicorn = server_for(self.asgi)
        self._thread = threading.Thread(target=self.uvicorn.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.uvicorn.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc) -> None:
        self.uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def live_server():
    servers = []

    def serve(app) -> LiveServer:
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser page that records console errors and page errors for assertions."""
    # A fixed zone: what the page shows must not depend on the host's.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


REDIS_TEST_URL = os.environ.get("AURORA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_TEST_URL} ({error.__class__.__name__})")
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix private to this test; its keys (and the rate limiter's) are deleted after."""
    import redis

    prefix = f"aurora-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    stale = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture
def bot_engine(sqlite_url):
    """A SQLite database for the bot-only tests (one engine, not both databases: they test the bot)."""
    engine = create_db_engine(sqlite_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_runner(bot_engine, clock):
    """Bot runners for a fake Discord (started unless asked not to), all stopped after the test."""
    runners = []

    def build(fake, sink, *, token=None, stats=no_stats, balance_of=no_balance, start=True, recorder=None,
              **options) -> BotRunner:
        settings = Settings(
            database_url=str(bot_engine.url), discord_token=token or fake.token,
            discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url,
        )
        runner = BotRunner(
            settings, sink, recorder or CommandRecorder(bot_engine),
            CommandServices(stats=stats, balance_of=balance_of), clock=clock, **{**FAST_BOT_OPTIONS, **options},
        )
        runners.append(runner)
        if start:
            runner.start()
        return runner

    yield build
    for runner in runners:
        runner.stop()


@pytest.fixture
def redis_client(redis_url):
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def web_role(redis_url, redis_prefix) -> dict:
    """Setting overrides for a web-role app on this test's Redis prefix."""
    return {"role": "web", "redis_url": redis_url, "redis_prefix": redis_prefix, "bot_ttl_seconds": 30}
