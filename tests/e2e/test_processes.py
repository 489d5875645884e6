"""The real entry points as separate processes: `python app.py` and `gunicorn -w 1 app:server`
run the bot against the fake Discord and close its connection on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.web.serving.local_nginx import free_port
from tests.support import Stream

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "process-test-token"


def fetch_stats(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


def environment(tmp_path, fake, port) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'aurora.db'}",
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "AURORA_PORT": str(port),
        "AURORA_RATE_LIMIT": "1000/minute",
    }


def run_until_connected_then_terminate(command, env, port, fake, cwd):
    subprocess.run([sys.executable, str(ROOT / "app.py"), "init-db"], env=env, cwd=cwd, check=True, timeout=60)
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stream = None
    try:
        SimulatedDiscord.wait_for(
            lambda: (stats := fetch_stats(port)) is not None and stats["guilds"]["count"] == 2, timeout=30
        )
        assert fake.identify_count == 1  # exactly one gateway session
        stream = Stream(f"http://127.0.0.1:{port}")  # an open page's live stream must not delay the stop
        stream.next_event()
        process.send_signal(signal.SIGTERM)
        # Must exit within 5 s of SIGTERM: a hang raises TimeoutExpired and fails the test.
        output, _ = process.communicate(timeout=5)
    finally:
        if stream is not None:
            stream.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    SimulatedDiscord.wait_for(lambda: fake.connection_count == 0, timeout=2)
    assert "Traceback" not in output
    assert "Task was destroyed" not in output
    assert TOKEN not in output
    return output


@pytest.fixture
def fake():
    with SimulatedDiscord(token=TOKEN, guilds=[3, 2]) as fake:
        yield fake


def test_python_app_py_runs_the_bot_and_stops_on_sigterm(tmp_path, fake):
    port = free_port()
    env = environment(tmp_path, fake, port)
    run_until_connected_then_terminate([sys.executable, str(ROOT / "app.py")], env, port, fake, tmp_path)


def test_gunicorn_with_one_worker_runs_the_bot_the_same_way(tmp_path, fake):
    port = free_port()
    env = environment(tmp_path, fake, port)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT),
               "--bind", f"127.0.0.1:{port}", "app:server"]
    run_until_connected_then_terminate(command, env, port, fake, tmp_path)


def test_gunicorn_refuses_several_workers_with_a_bot(tmp_path, fake):
    port = free_port()
    env = environment(tmp_path, fake, port)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT), "--workers", "3",
         "--bind", f"127.0.0.1:{port}", "app:server"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "each with its own bot and gateway connection" in result.stderr
    assert fake.identify_count == 0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--threads", "4"], "set AURORA_THREADS"),
        (["--worker-class", "gthread"], "cannot serve Aurora"),
    ],
)
def test_gunicorn_refuses_options_that_cannot_serve_the_app(tmp_path, option, message):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": f"sqlite:///{tmp_path / 'aurora.db'}"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT), *option,
         "--bind", f"127.0.0.1:{free_port()}", "app:server"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_without_the_project_config_refuses_in_one_line_before_booting(tmp_path):
    # `--chdir` does not make gunicorn read the project's gunicorn.conf.py: its sync worker would
    # boot the whole app and then answer every request with a 500.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": f"sqlite:///{tmp_path / 'aurora.db'}"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "--chdir", str(ROOT), "--no-control-socket", "--bind", f"127.0.0.1:{free_port()}", "app:server"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 3  # gunicorn's "worker failed to boot": the master stops, no respawning
    refusals = [line for line in result.stderr.splitlines() if line.startswith("aurora: ")]
    assert refusals == [f"aurora: gunicorn started without Aurora's gunicorn.conf.py (gunicorn reads it from the folder "
                        f"it starts in, not from --chdir): add --config {ROOT / 'gunicorn.conf.py'}"]
    assert "Traceback" not in result.stderr and "ready" not in result.stderr
    assert not (tmp_path / "aurora.db").exists()  # nothing was built


def test_a_port_in_use_stops_python_app_py_with_one_line_before_the_bot_starts(tmp_path, fake):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = environment(tmp_path, fake, port)
        subprocess.run([sys.executable, str(ROOT / "app.py"), "init-db"], env=env, cwd=tmp_path, check=True, timeout=60)
        result = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"aurora: AURORA_HOST/AURORA_PORT: cannot listen on 127.0.0.1:{port} (Address already in use)"
    )
    assert "Traceback" not in result.stderr
    assert fake.identify_count == 0


def test_the_figures_are_computed_from_startup_before_any_request(tmp_path):
    """The production entry points start the stats schedule: with nobody asking, the first figures
    are computed (and logged) right after startup."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": f"sqlite:///{tmp_path / 'aurora.db'}",
           "AURORA_PORT": str(port)}
    subprocess.run([sys.executable, str(ROOT / "app.py"), "init-db"], env=env, cwd=tmp_path, check=True, timeout=60)
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(30, process.kill)  # no figures within 30 s: the output ends, the test fails
    watchdog.start()
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "first database figures ready" in line:
                break
        assert any("first database figures ready" in line for line in lines), "".join(lines)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=5)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in "".join(lines) + output
