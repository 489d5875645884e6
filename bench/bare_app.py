"""The anchor of target 3: a bare Flask app that answers /api/stats with fixed bytes.

`BENCH_BODY_FILE` holds the body (captured from the real /api/stats); the response carries the same
content type and Cache-Control header, so only the framework work differs.
"""

import os
from pathlib import Path

from flask import Flask, Response

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
app = Flask(__name__)


@app.get("/api/stats")
def stats() -> Response:
    return Response(BODY, mimetype="application/json", headers={"Cache-Control": "no-store"})
