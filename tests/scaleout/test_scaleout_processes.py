"""The scale-out roles as real processes: one `python app.py` with AURORA_ROLE=bot against the fake
Discord, and two `gunicorn app:server` with AURORA_ROLE=web, on PostgreSQL and Redis.

Each test starts its own set (own database schema, Redis key prefix and token). Readiness is
polled through /metrics, which is outside the API's rate-limit budget, so the tests can count
exactly how many API requests each client IP has spent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import init_db
from aurora.web.serving.local_nginx import free_port
from tests.fakes.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
BOT_TTL_SECONDS = 2
REFRESH_SECONDS = 1
wait_for = SimulatedDiscord.wait_for


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def scrape(port: int) -> dict:
    """(name, sorted labels) -> value, parsed by prometheus_client's own parser; {} if not up."""
    status, body = get(port, "/metrics")
    if status != 200:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def bot_connected(metrics: dict) -> bool:
    return metrics.get(("aurora_bot_status", (("status", "connected"),))) == 1 and (
        "aurora_ping_milliseconds", ()) in metrics


class Api:
    """API requests from this test's one client IP, counted per web process."""

    def __init__(self) -> None:
        self.sent: dict[int, int] = {}

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def get(self, port: int) -> tuple[int, dict]:
        self.sent[port] = self.sent.get(port, 0) + 1
        status, body = get(port, "/api/stats")
        return status, json.loads(body) if body else {}


class Deployment:
    def __init__(self, tmp_path, env: dict, fake: SimulatedDiscord) -> None:
        self.tmp_path, self.env, self.fake = tmp_path, env, fake
        self.processes: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}
        self.bot: subprocess.Popen | None = None
        self.web_ports: list[int] = []

    def _spawn(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = self.tmp_path / f"{name}.log"
        self.logs[name] = log
        with log.open("w") as output:
            # A session of its own: a stop that has to kill takes gunicorn's workers with the master.
            process = subprocess.Popen(command, env=env, cwd=self.tmp_path, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def start_bot(self, name: str = "bot") -> subprocess.Popen:
        env = {**self.env, "AURORA_ROLE": "bot", "DISCORD_TOKEN": self.fake.token,
               "DISCORD_API_BASE": self.fake.api_base, "DISCORD_GATEWAY_URL": self.fake.gateway_url}
        process = self._spawn(name, [sys.executable, str(ROOT / "app.py")], env)
        self.bot = self.bot or process
        return process

    def start_web(self, workers: int, **overrides) -> int:
        port = free_port()
        command = [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT),
                   "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "app:server"]
        self._spawn(f"web-{len(self.web_ports)}", command, {**self.env, "AURORA_ROLE": "web", **overrides})
        self.web_ports.append(port)
        return port

    def wait_until_connected(self, timeout: float = 30) -> None:
        for port in self.web_ports:
            wait_for(lambda port=port: bot_connected(scrape(port)), timeout=timeout, interval=0.1)

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text()

    def stop(self) -> None:
        # gunicorn's graceful stop is not under test here and takes seconds; SIGINT is its quick stop.
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if process is self.bot else signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
            # Whatever of its session is left (gunicorn workers of a master that was slow to stop).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def deployment(tmp_path, postgres_url, redis_url, redis_prefix):
    engine = create_db_engine(postgres_url)
    init_db(engine)
    engine.dispose()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "AURORA_REDIS_PREFIX": redis_prefix,
        "AURORA_BOT_TTL_SECONDS": str(BOT_TTL_SECONDS),
        "AURORA_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "AURORA_RATE_LIMIT": "60/minute",
    }
    deployments = []
    # A token per test: the bot lease is keyed by the token, across prefixes.
    with SimulatedDiscord(token=f"scaleout-{uuid.uuid4().hex}", guilds=[3, 2]) as fake:

        def build(**env_overrides) -> Deployment:
            built = Deployment(tmp_path, {**env, **env_overrides}, fake)
            deployments.append(built)
            return built

        yield build
        for built in deployments:
            built.stop()


def test_two_web_processes_show_one_bot_share_the_limit_and_one_refresh(deployment):
    cluster = deployment()
    cluster.start_bot()
    first, second = cluster.start_web(workers=2), cluster.start_web(workers=1)
    cluster.wait_until_connected()
    api = Api()

    # Both show the same guild count and ping (read back to back; the bot may publish in between).
    for _ in range(5):
        (status_1, one), (status_2, two) = api.get(first), api.get(second)
        assert status_1 == status_2 == 200
        if (one["guilds"], one["ping"]) == (two["guilds"], two["ping"]):
            break
    assert one["guilds"]["count"] == two["guilds"]["count"] == 2
    assert one["ping"] == two["ping"] and one["ping"]["avg"] is not None
    assert one["bot"]["status"] == two["bot"]["status"] == "connected"

    # /metrics of one process equals /api/stats of the other.
    for _ in range(5):
        _, stats = api.get(first)
        metrics = scrape(second)
        if metrics[("aurora_ping_milliseconds", ())] == stats["ping"]["avg"]:
            break
    assert metrics[("aurora_guilds", ())] == stats["guilds"]["count"]
    assert metrics[("aurora_cached_users", ())] == stats["bot"]["cachedUsers"]
    assert metrics[("aurora_active_users", ())] == stats["users"]["active"]
    assert metrics[("aurora_commands_24h", ())] == stats["commands"]["total"]
    assert metrics[("aurora_ping_milliseconds", ())] == stats["ping"]["avg"]
    assert metrics[("aurora_shard_latency_milliseconds", (("shard", "0"),))] == stats["bot"]["shards"][0]["latency"]
    assert metrics[("aurora_stats_stale", ())] == int(stats["stale"])

    # Three workers in two processes keep asking for fresh stats; the queries run once per interval.
    def computations() -> float:
        return sum(scrape(port)[("aurora_stats_computations_total", ())] for port in (first, second))

    started, before = time.monotonic(), computations()
    while time.monotonic() - started < 3:
        for port in (first, second):
            scrape(port)
    after, elapsed = computations(), time.monotonic() - started
    assert 1 <= after - before <= elapsed / REFRESH_SECONDS + 1
    assert sum(scrape(port)[("aurora_stats_shared_total", ())] for port in (first, second)) >= 1

    # The 61st API request from this IP is refused, whichever process (or worker) it reaches.
    while api.total < 60:
        assert api.get(first if api.total % 2 else second)[0] == 200
    assert api.get(first)[0] == 429
    assert api.get(second)[0] == 429

    # Request counters add up over the first process's two workers, whichever answers /metrics.
    counted = sum(value for (name, labels), value in scrape(first).items()
                  if name == "aurora_http_requests_total" and ("route", "/api/stats") in labels)
    assert counted == api.sent[first]


def test_a_killed_bot_shows_offline_everywhere_and_a_second_bot_is_refused(deployment):
    cluster = deployment(AURORA_RATE_LIMIT="10000/minute")
    bot = cluster.start_bot()
    ports = [cluster.start_web(workers=1), cluster.start_web(workers=1)]
    cluster.wait_until_connected()

    duplicate = cluster.start_bot("second-bot")
    assert duplicate.wait(BOT_TTL_SECONDS + 20) == 2
    assert "already running" in cluster.log_text("second-bot")
    assert cluster.fake.identify_count == 1  # the refused bot never opened a gateway connection

    bot.kill()  # SIGKILL: no goodbye, only the TTL tells
    for port in ports:
        wait_for(lambda port=port: get_json(port)["bot"]["status"] == "disconnected",
                 timeout=BOT_TTL_SECONDS + 2, interval=0.1)
        stats = get_json(port)
        assert stats["guilds"]["count"] is None and stats["ping"]["avg"] is None  # no frozen numbers


def get_json(port: int) -> dict:
    status, body = get(port, "/api/stats")
    assert status == 200, body
    return json.loads(body)


def test_web_keeps_serving_through_a_redis_outage_and_recovers(deployment, redis_url, redis_prefix):
    target = redis.connection.parse_url(redis_url)
    proxy = TcpProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    try:
        cluster = deployment()
        cluster.start_bot()  # the bot reaches Redis directly; only the web processes lose it
        proxied = {"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}"}
        first, second = cluster.start_web(workers=1, **proxied), cluster.start_web(workers=1, **proxied)
        cluster.wait_until_connected()
        api = Api()

        proxy.cut()
        status, stats = api.get(first)
        assert status == 200 and stats["bot"]["status"] == "disconnected"  # serving, and honest
        # The limit still holds, counted in each process's memory meanwhile.
        while api.sent[first] < 60:
            assert api.get(first)[0] == 200
        assert api.get(first)[0] == 429
        status, stats = api.get(second)
        assert status == 200 and stats["bot"]["status"] == "disconnected"

        proxy.restore()
        # Back on Redis: its count for this IP starts afresh (the outage's requests were in memory).
        wait_for(lambda: api.get(first)[0] == 200, timeout=20, interval=0.25)
        cluster.wait_until_connected()
        client = redis.Redis.from_url(redis_url)
        assert any(client.scan_iter(match=f"*{redis_prefix}*127.0.0.1*"))  # limiter keys are back in Redis
        client.close()
    finally:
        proxy.close()
    log = cluster.log_text("web-0")
    assert log.count("Rate limit storage unreachable") == 1 and log.count("Rate limit storage recovered") == 1
    assert log.count("Redis unreachable") == 1 and log.count("Redis reachable again") == 1
    assert "Traceback" not in log


def test_the_bot_process_stops_cleanly_on_sigterm(deployment):
    cluster = deployment()
    bot = cluster.start_bot()
    port = cluster.start_web(workers=1)
    cluster.wait_until_connected()
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(10) == 0
    # Its last snapshot says so at once, without waiting for the TTL to run out.
    assert scrape(port)[("aurora_bot_status", (("status", "disconnected"),))] == 1
    log = cluster.log_text("bot")
    assert "Traceback" not in log and cluster.fake.token not in log
    wait_for(lambda: cluster.fake.connection_count == 0, timeout=2)
