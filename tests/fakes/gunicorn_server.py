"""The dashboard under gunicorn, as in production (the repo's gunicorn.conf.py), in a subprocess.

Used where the server in front of the app matters: the load test and the malformed-request test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from aurora.web.serving.local_nginx import free_port

ROOT = Path(__file__).resolve().parents[2]
# Settings that would change what is served (a bot, a token, Redis, proxies). Set empty rather than
# removed: an empty variable counts as unset and still wins over a developer's `.env` file.
CLEARED_VARIABLES = ("DISCORD_TOKEN", "AURORA_ACCESS_TOKEN", "AURORA_ROLE", "REDIS_URL",
                     "AURORA_TRUSTED_PROXY_HOPS", "AURORA_RATE_LIMIT", "PROMETHEUS_MULTIPROC_DIR")


def server_environment(**overrides: str) -> dict[str, str]:
    return {**os.environ, **dict.fromkeys(CLEARED_VARIABLES, ""), "PYTHONUNBUFFERED": "1", **overrides}


def prepare_sqlite(path: Path) -> str:
    """A fresh SQLite database made the operator's way: `python app.py init-db`."""
    url = f"sqlite:///{path}"
    env = server_environment(DATABASE_URL=url)
    subprocess.run([sys.executable, "app.py", "init-db"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=60)
    return url


class GunicornServer:
    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = log

    def worker_pid(self) -> int:
        """The one worker's pid (a child of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, f"expected one worker, found {children}"
        return int(children[0])

    def worker_figures(self) -> tuple[int, int]:
        """(resident memory in KiB, thread count) of the worker, from /proc."""
        status = Path(f"/proc/{self.worker_pid()}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


@contextmanager
def gunicorn_server(workdir: Path, **env_overrides: str):
    """gunicorn with the repo's gunicorn.conf.py (one worker) on a free loopback port, over a SQLite
    database in `workdir`; otherwise the default settings unless `env_overrides` says so."""
    database_url = prepare_sqlite(workdir / "aurora.db")
    port = free_port()
    log = workdir / "gunicorn.log"
    # The simulated Discord stays off unless asked: these tests measure the web side alone.
    env = server_environment(**{"DATABASE_URL": database_url, "AURORA_DEMO": "true",
                                "AURORA_SIMULATED_DISCORD": "false", **env_overrides})
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "/dev/null", "app:server",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = GunicornServer(process, port, log)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(server: GunicornServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {server.log.read_text()[-3000:]}")
        try:
            # The page, not the API: polling must not spend the API's rate-limit budget.
            # The first request builds the app in the worker (demo data included): allow it time.
            if requests.get(f"{server.url}/", timeout=timeout).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not serve within {timeout}s: {server.log.read_text()[-3000:]}")
