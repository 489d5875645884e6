"""The anchor of target 3: a bare Flask app that answers /api/stats with fixed bytes.

`BENCH_BODY_FILE` holds the body (captured from the real /api/stats); the response carries the same
content type and Cache-Control header, so only the framework work differs. It is served the way the
dashboard is (gunicorn.conf.py's worker; the same WSGI adapter with AURORA_THREADS threads), without
Aurora's own ASGI layer in front. With `BENCH_REDIS_URL` (and `BENCH_REDIS_KEY`) it also makes one
Redis INCR per request: the least a rate limit shared through Redis must do, as an anchor for it.
"""

import os
from pathlib import Path

import redis
from a2wsgi import WSGIMiddleware
from flask import Flask, Response

from aurora.scaleout.redis_link import client_options
from aurora.settings import load_settings

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
REDIS_URL = os.environ.get("BENCH_REDIS_URL")
REDIS = redis.Redis.from_url(REDIS_URL, **client_options()) if REDIS_URL else None
REDIS_KEY = os.environ.get("BENCH_REDIS_KEY", "aurora-bench-bare")
flask_app = Flask(__name__)


@flask_app.get("/api/stats")
def stats() -> Response:
    if REDIS is not None:
        REDIS.incr(REDIS_KEY)
    return Response(BODY, mimetype="application/json", headers={"Cache-Control": "no-store"})


app = WSGIMiddleware(flask_app, workers=load_settings().app_threads)
