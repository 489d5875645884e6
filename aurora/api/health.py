"""`GET /healthz`: whether this process can answer, for nginx, a load balancer or systemd probes.

200 when the stats exist (`"stale": true` when the database has stopped answering: the process still
serves its last figures, and every instance shares the database, so taking it out would not help);
503 until the first figures exist. Cheap (no database call, nothing computed), outside the rate
limits and the access token, and it says nothing more than that.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from aurora.api.errors import json_error
from aurora.stats.service import StatsService

HEALTH_PATH = "/healthz"
HEALTH_ENDPOINT = "aurora_health"


def install_health(server: Flask, service: StatsService) -> None:
    def health() -> Response:
        stats = service.current_if_ready()
        if stats is None:
            response = json_error(503, "no statistics yet: the database has not answered")
        else:
            response = jsonify({"status": "ok", "stale": stats.stale})
        response.headers["Cache-Control"] = "no-store"
        return response

    server.add_url_rule(HEALTH_PATH, HEALTH_ENDPOINT, health, methods=["GET", "HEAD"], provide_automatic_options=False)
