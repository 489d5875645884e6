"""Aurora Dashboard entry point.

    python app.py            run the dashboard (one uvicorn process) on the configured database;
                             with AURORA_ROLE=bot: only the bot, publishing to Redis
    python app.py init-db    create Aurora's tables and indexes where they are missing (online on PostgreSQL)
    python app.py init-db --check   list what is missing, change nothing (exit status 1 if anything is)
    gunicorn app:server      production server (see README): the same application, in workers
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from aurora import create_app
from aurora.settings import SettingsError, load_settings
from aurora.startup import StartupError
from aurora.storage.init_db.command import InitDbError, init_database
from aurora.web.context import context_of
from aurora.web.serving.asgi import asgi_app
from aurora.web.serving.capacity import raise_open_files_limit
from aurora.web.serving.worker import listen, server_for

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


GUNICORN_BOOT_ERROR = 3  # tells gunicorn's master to stop instead of respawning the worker
# gunicorn.conf.py sets it in gunicorn's master (its workers inherit it): `app:server` is then served
# by a worker that can run it.
GUNICORN_CONFIG_MARK = "AURORA_GUNICORN_CONFIG"


def _fail(message: str, exit_code: int = 2) -> NoReturn:
    print(f"aurora: {message}", file=sys.stderr)
    raise SystemExit(exit_code)


@functools.cache
def _server():
    if "gunicorn" in sys.modules and not os.environ.get(GUNICORN_CONFIG_MARK):
        # Without the project's config gunicorn runs its `sync` worker, which cannot serve an ASGI app.
        config = Path(__file__).resolve().with_name("gunicorn.conf.py")
        _fail(f"gunicorn started without Aurora's gunicorn.conf.py (gunicorn reads it from the folder it starts in, "
              f"not from --chdir): add --config {config}", GUNICORN_BOOT_ERROR)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        app = create_app(load_settings())
    except (SettingsError, StartupError) as error:
        _fail(str(error), GUNICORN_BOOT_ERROR)
    context_of(app).service.start()  # figures from startup on, not from the first visit
    return asgi_app(app, on_shutdown=context_of(app).shutdown)


def shutdown() -> None:
    """Stop what `server` started (the bot thread), if it was ever built; a second call does nothing."""
    if _server.cache_info().currsize:
        _server().close()
    skip_final_collection()


def skip_final_collection() -> None:
    """Once everything is stopped: the interpreter's last garbage collections walk the whole heap
    (about 1 s on a busy machine, inside the 5 s a stop may take); the process's end frees it all."""
    gc.freeze()


def __getattr__(name: str):
    # `gunicorn app:server` looks the attribute up (the ASGI application its uvicorn workers serve);
    # building it lazily keeps imports side-effect free.
    if name == "server":
        return _server()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="Aurora Dashboard")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "init-db"])
    parser.add_argument("--check", action="store_true", help="init-db: list what is missing, change nothing")
    args = parser.parse_args(argv)
    if args.check and args.command != "init-db":
        parser.error("--check goes with init-db")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = load_settings()
        if args.command == "init-db":
            return run_init_db(settings, check=args.check)
        if settings.runs_bot_process:
            return run_bot_role(settings)
        sock = _listen(settings)
        raise_open_files_limit()  # before create_app sizes the live streams by it
        app = create_app(settings)
    except (SettingsError, StartupError) as error:
        _fail(str(error))
    if settings.debug:
        # Dash's dev tools (error pop-ups, callback graph); no hot reload: it would watch files in a thread.
        app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    context_of(app).service.start()  # figures from startup on, not from the first visit
    served = asgi_app(app, on_shutdown=context_of(app).shutdown)
    # SIGTERM (systemd, docker stop) ends the server like Ctrl-C, so the bot closes its connection;
    # SIGQUIT too (its default would end the process at once, with queued records in memory).
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGQUIT, _stop_as_if_terminated)
    print(f"Aurora Dashboard on http://{settings.host}:{settings.port}/", flush=True)
    try:
        # uvicorn stops gracefully on SIGINT/SIGTERM and then raises the signal again: hence the except.
        server_for(served).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
        skip_final_collection()
    return 0


def run_init_db(settings, *, check: bool) -> int:
    """`init-db [--check]`: its report on stdout; a failure (or Ctrl-C/SIGTERM) is one line on stderr."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return init_database(settings, check=check, say=functools.partial(print, flush=True))
    except InitDbError as error:
        _fail(str(error), error.exit_code)


def _listen(settings):
    """Bind first: a port in use stops startup before the bot connects, with one line."""
    try:
        return listen(settings.host, settings.port)
    except OSError as error:
        _fail(f"AURORA_HOST/AURORA_PORT: cannot listen on {settings.host}:{settings.port} ({os.strerror(error.errno) if error.errno else error})")


def run_bot_role(settings) -> int:
    """AURORA_ROLE=bot: only the bot, publishing to Redis, until SIGINT/SIGTERM/SIGQUIT."""
    from aurora.scaleout.bot_process import BotProcess

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGQUIT, _stop_as_if_terminated)
    process = BotProcess(settings)
    try:
        process.start()
        print("Aurora bot running (AURORA_ROLE=bot); Ctrl-C or SIGTERM stops it", flush=True)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        process.stop()
        skip_final_collection()
    return 1 if process.lease_lost else 0


def _raise_keyboard_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _stop_as_if_terminated(_signum, _frame) -> None:
    # While serving, uvicorn handles SIGTERM (a graceful stop); before and after, the handler above.
    signal.raise_signal(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
