"""gunicorn settings for `gunicorn app:server` (read automatically from the working directory).

With a DISCORD_TOKEN (role `all`) the bot runs inside the web worker, so exactly one worker may
exist: more would each open their own gateway connection (one worker serves many clients at once).
With AURORA_ROLE=web the bot runs elsewhere and any number of workers may serve (`--workers 4`);
AURORA_ROLE=bot runs no web server at all (`python app.py`).

Workers are uvicorn's (asyncio) with Aurora's options (`aurora.web.serving.worker.AuroraWorker`): live
streams cost a connection each, not a thread, and the Flask/Dash app runs in a pool of
AURORA_THREADS threads per worker. The worker's `timeout` is a heartbeat of the worker, not a limit
on a request, so long streams live. Slow clients are nginx's to cut off (deploy/nginx.conf): bind
to loopback and serve the internet only through it.
"""

import gc
import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path

# The config is read before --chdir applies: make the project importable from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _prepare_metrics_folder() -> str | None:
    """Give prometheus_client a folder for every worker's counters (multiprocess mode).

    It must exist and be empty at start, and be known before prometheus_client is imported: the
    aurora import below imports it (in this master, before any worker forks) and it picks its
    mode once, then. An operator-chosen PROMETHEUS_MULTIPROC_DIR is emptied of old files;
    otherwise a private temporary folder is made (and removed at exit: the returned path).
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for stale in glob.glob(os.path.join(folder, "*.db")):
            os.remove(stale)
        return None
    folder = tempfile.mkdtemp(prefix="aurora-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


_own_metrics_folder = _prepare_metrics_folder()

from aurora.settings import SettingsError, load_settings  # noqa: E402  (after the folder, see above)
from aurora.web.serving.capacity import raise_open_files_limit  # noqa: E402

# Tells `app:server` it is served with this file's worker (app.py refuses to boot without it).
os.environ["AURORA_GUNICORN_CONFIG"] = str(Path(__file__).resolve())

AURORA_WORKER = "aurora.web.serving.worker.AuroraWorker"
worker_class = AURORA_WORKER
workers = 1
timeout = 30
graceful_timeout = 10
keepalive = 5  # seconds an idle kept-alive connection stays open (nginx keeps its own to us)
bind = "127.0.0.1:8050"
# No access log of the app server's own: nginx in front logs every request (with its timings); writing
# each line again here took a tenth of the worker's event loop with 1,000 open pages. `--access-logfile -`
# turns it on.
accesslog = None
control_socket_disable = True


def on_starting(server) -> None:
    try:
        _check_settings(server)
    except SystemExit:
        on_exit(server)  # gunicorn skips on_exit when on_starting refuses
        raise
    raise_open_files_limit()  # every worker forked from here holds that many connections


def _check_settings(server) -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise SystemExit(f"aurora: {error}") from None
    if (refusal := settings.web_refusal) is not None:
        raise SystemExit(f"aurora: {refusal}")
    if server.cfg.worker_class_str != AURORA_WORKER:
        raise SystemExit(
            f"aurora: gunicorn worker class {server.cfg.worker_class_str!r} cannot serve Aurora (`app:server` is "
            f"an ASGI application); keep gunicorn.conf.py's {AURORA_WORKER}"
        )
    if server.cfg.threads > 1:
        raise SystemExit(
            "aurora: gunicorn's --threads applies to gthread workers only; set AURORA_THREADS instead "
            "(the threads that run the app in each of Aurora's workers)"
        )
    if (refusal := settings.workers_refusal(server.cfg.workers)) is not None:
        raise SystemExit(f"aurora: {refusal}")


def child_exit(server, worker) -> None:
    # A worker's files stay (its counts still add up); only its live gauges must be dropped.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _own_metrics_folder:
        shutil.rmtree(_own_metrics_folder, ignore_errors=True)
    gc.freeze()  # the master's last garbage collections would cost about 1 s of a stop (see app.py)


def worker_exit(server, worker) -> None:
    # Close the bot's gateway connection before the worker goes away.
    import app

    app.shutdown()
