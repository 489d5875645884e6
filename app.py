"""Aurora Dashboard entry point.

    python app.py            run the dashboard (dev server) on the configured database
    python app.py init-db    create Aurora's tables and indexes where they are missing
    gunicorn app:server      production server (see README)
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import NoReturn

from aurora import StartupError, create_app
from aurora.config import SettingsError, load_settings
from aurora.db import create_db_engine, init_db

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fail(message: str) -> NoReturn:
    print(f"aurora: {message}", file=sys.stderr)
    raise SystemExit(2)


@functools.cache
def _server():
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        return create_app(load_settings()).server
    except (SettingsError, StartupError) as error:
        _fail(str(error))


def __getattr__(name: str):
    # `gunicorn app:server` looks the attribute up; building it lazily keeps imports side-effect free.
    if name == "server":
        return _server()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="Aurora Dashboard")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "init-db"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = load_settings()
        if args.command == "init-db":
            engine = create_db_engine(settings.database_url)
            init_db(engine)
            print(f"aurora: tables ready in {engine.url.render_as_string(hide_password=True)}")
            return 0
        app = create_app(settings)
    except (SettingsError, StartupError) as error:
        _fail(str(error))
    print(f"Aurora Dashboard on http://{settings.host}:{settings.port}/", flush=True)
    app.run(host=settings.host, port=settings.port, debug=settings.debug, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
