"""The anchor of target 3: a bare Flask app that answers /api/stats with fixed bytes.

`BENCH_BODY_FILE` holds the body (captured from the real /api/stats); the response carries the same
content type and Cache-Control header, so only the framework work differs. It is served the way the
dashboard is (gunicorn.conf.py's worker; the same WSGI adapter with AURORA_THREADS threads), without
Aurora's own ASGI layer in front.
"""

import os
from pathlib import Path

from a2wsgi import WSGIMiddleware
from flask import Flask, Response

from aurora.config import load_settings

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
flask_app = Flask(__name__)


@flask_app.get("/api/stats")
def stats() -> Response:
    return Response(BODY, mimetype="application/json", headers={"Cache-Control": "no-store"})


app = WSGIMiddleware(flask_app, workers=load_settings().app_threads)
