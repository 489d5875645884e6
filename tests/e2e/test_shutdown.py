"""Stopping under every signal while PostgreSQL is silent (a proxy that accepts and answers nothing):
`python app.py` (TERM, INT, QUIT) and gunicorn's master (TERM, INT, QUIT) end within 5 s, a /balance
query stuck on the database included, the bot's gateway closed; the command records the database
could not take are kept in the spool and written by the next start — none lost, none written twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from aurora.bot.record_spool import RecordSpool
from aurora.bot.recorder import CommandRecorder
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import COMMAND_RUN, transactions
from tests.e2e.test_processes import ROOT, TOKEN, fetch_stats, free_port
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

SHUTDOWN_PROMISE_SECONDS = 5.0
COMMANDS = 40
wait_for = SimulatedDiscord.wait_for


def command_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(transactions.c.type == COMMAND_RUN)).scalar_one()


class Deployment:
    """The app (its entry point as a subprocess) on PostgreSQL through `proxy`, its bot on `fake`."""

    def __init__(self, tmp_path: Path, database_url: str, proxy: TcpProxy, fake: SimulatedDiscord) -> None:
        self.proxied_url = make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)
        self.spool_dir = tmp_path / "spool"
        self.port = free_port()
        self.log = tmp_path / "aurora.log"
        self.tmp_path, self.fake, self.proxy = tmp_path, fake, proxy
        self.env = {
            "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "DATABASE_URL": self.proxied_url,
            "DISCORD_TOKEN": TOKEN, "DISCORD_API_BASE": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url,
            "AURORA_PORT": str(self.port), "AURORA_RATE_LIMIT": "off", "AURORA_SPOOL_DIR": str(self.spool_dir),
        }

    def command(self, entry_point: str) -> list[str]:
        if entry_point == "app.py":
            return [sys.executable, str(ROOT / "app.py")]
        return [str(Path(sys.executable).with_name("gunicorn")), "--config", str(ROOT / "gunicorn.conf.py"),
                "--chdir", str(ROOT), "--bind", f"127.0.0.1:{self.port}", "app:server"]

    def start(self, entry_point: str) -> subprocess.Popen:
        with open(self.log, "a") as output:
            process = subprocess.Popen(self.command(entry_point), env=self.env, cwd=self.tmp_path, stdout=output,
                                       stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: (stats := fetch_stats(self.port)) is not None and stats["guilds"]["count"] == 2, 40)
        except TimeoutError:
            process.kill()
            raise AssertionError(self.output()) from None
        return process

    def output(self) -> str:
        return self.log.read_text()

    def run_commands(self, count: int) -> None:
        answered = len(self.fake.interaction_responses)
        guild = self.fake.guild_ids[0]
        for _ in range(count):
            self.fake.send_interaction("ping", guild_id=guild)
        wait_for(lambda: len(self.fake.interaction_responses) >= answered + count, timeout=20)

    def spooled(self) -> list[dict]:
        files = list(self.spool_dir.glob("*.jsonl"))
        return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def stop(process: subprocess.Popen, signum: int) -> float:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return time.monotonic() - started


@pytest.fixture
def deployment(tmp_path, database_url, engine):
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    with SimulatedDiscord(token=TOKEN, guilds=[3, 2]) as fake:
        yield Deployment(tmp_path, database_url, proxy, fake)
    proxy.close()


def silent_database_stop(deployment: Deployment, entry_point: str, signum: int) -> float:
    process = deployment.start(entry_point)
    deployment.proxy.stall()
    deployment.run_commands(COMMANDS)
    # A /balance query stuck on the silent database in the bot's executor: once the main thread
    # waited for such a thread at exit for as long as the database stayed silent.
    deployment.fake.send_interaction("balance", guild_id=deployment.fake.guild_ids[0])
    time.sleep(0.5)  # the bot takes it up within milliseconds; its answer waits on the database
    seconds = stop(process, signum)
    output = deployment.output()
    print(f"\n{entry_point} {signal.Signals(signum).name}, PostgreSQL silent: stopped in {seconds:.2f} s; "
          f"{len(deployment.spooled())} records kept")
    assert seconds < SHUTDOWN_PROMISE_SECONDS, output
    wait_for(lambda: deployment.fake.connection_count == 0, timeout=2)  # the gateway was closed
    assert "Traceback" not in output and "SIGKILL" not in output and TOKEN not in output
    assert f"the database did not take {COMMANDS} more in time: kept in" in output, output
    return seconds


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("entry_point", ["app.py", "gunicorn"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT], ids=["TERM", "INT", "QUIT"])
def test_a_stop_under_a_silent_database_keeps_every_record_within_5_s(deployment, engine, entry_point, signum):
    silent_database_stop(deployment, entry_point, signum)
    kept = deployment.spooled()
    assert len(kept) == COMMANDS and all(record["command_name"] == "ping" for record in kept)
    assert command_rows(engine) == 0
    # The next start (the recorder as the app builds it) writes them once the database answers.
    deployment.proxy.restore()
    proxied = create_db_engine(deployment.proxied_url)
    recorder = CommandRecorder(proxied, spool=RecordSpool(deployment.spool_dir, deployment.proxied_url))
    try:
        recorder.start()
        wait_for(lambda: recorder.recovered == COMMANDS, timeout=20)
    finally:
        recorder.stop()
        proxied.dispose()
    assert command_rows(engine) == COMMANDS
    assert deployment.spooled() == []


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_next_start_writes_the_kept_records_and_a_healthy_stop_writes_everything(deployment, engine):
    silent_database_stop(deployment, "app.py", signal.SIGTERM)
    deployment.proxy.restore()
    process = deployment.start("app.py")
    try:
        wait_for(lambda: "are in the database now (recovered)" in deployment.output(), timeout=20)
        assert command_rows(engine) == COMMANDS and deployment.spooled() == []
        deployment.run_commands(5)  # the database answers: a stop writes them all
        wait_for(lambda: command_rows(engine) == COMMANDS + 5, timeout=10)
    finally:
        seconds = stop(process, signal.SIGTERM)
    output = deployment.output()
    assert f"{COMMANDS} command records kept at an earlier shutdown: writing them first" in output
    assert f"{COMMANDS} command records kept at an earlier shutdown are in the database now (recovered)" in output
    assert f"shutdown: {COMMANDS + 5} command records written, none left" in output
    assert seconds < SHUTDOWN_PROMISE_SECONDS and "Traceback" not in output
    assert command_rows(engine) == COMMANDS + 5 and deployment.spooled() == []
