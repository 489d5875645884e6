"""The app server: uvicorn (asyncio) in front of `aurora.web.serving.asgi`, one process for `python app.py`,
gunicorn's workers (`AuroraWorker`) in production, both with the options below.

uvicorn has no deadline for a client that trickles its request or never reads the answer: the
server must sit behind a reverse proxy that has them (deploy/nginx.conf), never face the internet.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from uvicorn import Config, Server
from uvicorn_worker import UvicornWorker

BACKLOG = 2048
# A stopping server waits this long for requests in progress (live streams included: they never end
# on their own), then cancels them. Within gunicorn.conf.py's graceful_timeout.
GRACEFUL_SECONDS = 5
KEEP_ALIVE_SECONDS = 5  # gunicorn.conf.py's `keepalive` gives gunicorn's workers the same

UVICORN_OPTIONS: dict[str, Any] = {
    # uvicorn's faster documented implementations: /api/stats at 1.34x gunicorn gthread's rate where
    # asyncio + h11 gave 0.79x (python -m bench.serving). httptools refuses what it cannot parse
    # (odd methods included) in plain text: nginx answers those first (deploy/nginx.conf).
    "loop": "uvloop",
    "http": "httptools",
    "ws": "none",
    "interface": "asgi3",
    "lifespan": "on",
    # Client addresses behind proxies are the app's business (AURORA_TRUSTED_PROXY_HOPS); uvicorn's
    # own X-Forwarded-For handling would trust any client on loopback.
    "proxy_headers": False,
    "server_header": False,
    "timeout_graceful_shutdown": GRACEFUL_SECONDS,
}


def listen(host: str, port: int) -> socket.socket:
    """The listening socket for `python app.py`, bound before anything starts (OSError if it cannot be).

    TCP_NODELAY here is inherited by every accepted connection (as gunicorn does for its sockets):
    uvicorn writes a response's head and body separately, and with Nagle's algorithm on, the body of
    every answer on a reused connection waited for the client's delayed ACK (~40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def server_for(asgi_app) -> Server:
    """A server to run on sockets from `listen`: `server_for(app).run(sockets=[sock])`."""
    return Server(Config(asgi_app, log_config=None, timeout_keep_alive=KEEP_ALIVE_SECONDS, backlog=BACKLOG,
                         **UVICORN_OPTIONS))


class AuroraWorker(UvicornWorker):
    """gunicorn worker (set by gunicorn.conf.py): uvicorn with Aurora's options, uvicorn-worker's
    documented way (`CONFIG_KWARGS`)."""

    CONFIG_KWARGS = UVICORN_OPTIONS

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
