"""gunicorn settings for `gunicorn app:server` (read automatically from the working directory).

With a DISCORD_TOKEN the bot runs inside the web worker, so exactly one worker may exist:
more would each open their own gateway connection. Concurrency comes from threads instead.
"""

import sys
from pathlib import Path

# The config is read before --chdir applies: make the project importable from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aurora.config import SettingsError, load_settings

worker_class = "gthread"
workers = 1
threads = 8
timeout = 30
graceful_timeout = 10
bind = "127.0.0.1:8050"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
control_socket_disable = True


def on_starting(server) -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise SystemExit(f"aurora: {error}") from None
    if settings.bot_enabled and server.cfg.workers > 1:
        raise SystemExit(
            f"aurora: DISCORD_TOKEN is set and gunicorn would start {server.cfg.workers} workers, each with "
            "its own bot and gateway connection; run one worker (use --threads for concurrency)"
        )


def worker_exit(server, worker) -> None:
    # Close the bot's gateway connection before the worker goes away.
    import app

    app.shutdown()
