"""The one serving path: uvicorn (asyncio) in front of `aurora.serving.asgi`, one process for `python app.py`,
gunicorn's workers (`AuroraWorker`) in production. Both use the same options below."""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from uvicorn import Config, Server
from uvicorn_worker import UvicornWorker

from aurora.serving.capacity import Capacity, raise_open_files_limit
from aurora.serving.http_protocol import AuroraH11Protocol

KEEP_ALIVE_SECONDS = 5
# A stopping server waits this long for requests in progress, then cancels them; live streams are
# closed at once (see AuroraH11Protocol.shutdown). Within gunicorn.conf.py's graceful_timeout.
GRACEFUL_SECONDS = 5
BACKLOG = 2048


def uvicorn_options(capacity: Capacity) -> dict[str, Any]:
    return {
        "http": AuroraH11Protocol,
        "loop": "asyncio",
        "ws": "none",
        "interface": "asgi3",
        "lifespan": "on",
        # Client addresses behind proxies are the app's business (AURORA_TRUSTED_PROXY_HOPS); uvicorn's
        # own X-Forwarded-For handling would trust any client on loopback.
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        # Past this many connections (or requests in progress) uvicorn answers 503 instead of
        # running out of file descriptors.
        "limit_concurrency": capacity.connections,
        "backlog": BACKLOG,
    }


def listen(host: str, port: int) -> socket.socket:
    """The listening socket for `python app.py`, bound before anything starts (OSError if it cannot be)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def serve(asgi_app, sock: socket.socket) -> None:
    """`python app.py`: one process on `sock`, until SIGINT/SIGTERM (uvicorn then shuts down gracefully)."""
    server_for(asgi_app).run(sockets=[sock])


def server_for(asgi_app) -> Server:
    """A server to run on sockets bound elsewhere: `server_for(app).run(sockets=[sock])` (tests)."""
    return Server(Config(asgi_app, log_config=None, **uvicorn_options(raise_open_files_limit())))


class AuroraWorker(UvicornWorker):
    """gunicorn worker (set by gunicorn.conf.py): uvicorn with Aurora's options."""

    CONFIG_KWARGS: dict[str, Any] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, value in uvicorn_options(raise_open_files_limit()).items():
            setattr(self.config, name, value)

    def init_signals(self) -> None:
        super().init_signals()
        # uvicorn re-raises the signal that stopped it once it has shut down gracefully; under the
        # default disposition that kills the worker before gunicorn runs worker_exit (the bot's
        # stop). Leaving through SystemExit runs it, and also stops a worker still building the app.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, _leave)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGQUIT:
            # gunicorn's master sends SIGQUIT on its own SIGINT/SIGQUIT; uvicorn_worker only marks the
            # worker dead then, and it served on until SIGKILL. Stop as on SIGTERM: gracefully, with
            # the app's shutdown (bot closed, command records written or kept).
            os.kill(os.getpid(), signal.SIGTERM)


def _leave(_signum, _frame) -> None:
    raise SystemExit(0)
