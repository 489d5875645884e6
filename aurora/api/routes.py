"""The JSON/CSV API on the Dash app's Flask server.

Errors are always JSON `{"error": {"status", "message"}}`; no traceback ever reaches a client.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed

from aurora.api.errors import json_error
from aurora.api.guards import api_method_error, echo_names, install_request_guards, raw_method, shortened
from aurora.api.openapi import openapi_json
from aurora.api.stream import STREAM_HEADER, STREAM_PATH, StreamSlots, TooManyStreams
from aurora.settings import Settings
from aurora.stats.command_health_form import command_health_csv
from aurora.stats.hour_address import BreakdownUnavailable, HourOutOfRange, MalformedHour, parse_hour
from aurora.stats.hours import HourBreakdowns
from aurora.stats.json_form import activity_to_csv, hour_breakdown_to_dict
from aurora.stats.model import iso_utc
from aurora.stats.service import StatsService, StatsUnavailable
from aurora.web.security import client_address

log = logging.getLogger(__name__)

API_METHODS = ["GET", "HEAD"]
PREPARING_RETRY_SECONDS = 5
# The API's operations (view names) and the one media type each answers with (for Accept). They
# share one rate-limit budget per client (aurora.api.rate_limit).
OPERATION_MEDIA_TYPES = {
    "stats": "application/json",
    "activity_csv": "text/csv",
    "stats_realtime": "text/event-stream",
    "openapi_document": "application/json",
    "activity_hour": "application/json",
    "commands_csv": "text/csv",
}
API_BLUEPRINT = "api"
API_ENDPOINTS = tuple(f"{API_BLUEPRINT}.{operation}" for operation in OPERATION_MEDIA_TYPES)


def reject_query_parameters() -> None:
    if request.args:
        names = echo_names(request.args.keys())
        raise BadRequest(f"this endpoint takes no query parameters (got: {names})")


def current_stats_or_none(service: StatsService):
    try:
        return service.current_with_json()
    except StatsUnavailable:
        return None


def unavailable(service: StatsService, refresh_seconds: int) -> Response:
    """The 503 while there are no figures: being prepared, or the database failing (and since when)."""
    progress = service.preparing
    if progress is not None:
        return json_error(
            503,
            f"statistics are being prepared ({progress:.0%} done); retry after Retry-After seconds",
            {"Retry-After": str(PREPARING_RETRY_SECONDS)},
        )
    failure = service.failure
    message = "statistics are not available yet: the database has not answered"
    if failure is not None:
        problem, since = failure
        message = f"statistics are not available: {problem} (failing since {iso_utc(since)})"
    return json_error(503, message, {"Retry-After": str(min(refresh_seconds, 30))})


def create_api_blueprint(
    settings: Settings, service: StatsService, streams: StreamSlots, hours: HourBreakdowns
) -> Blueprint:
    """The API's routes over the parts they read; their rate limit is counted before they run
    (aurora.api.rate_limit)."""
    api = Blueprint(API_BLUEPRINT, __name__, url_prefix="/api")

    @api.route("/stats", methods=API_METHODS, provide_automatic_options=False)
    def stats() -> Response:
        reject_query_parameters()
        current = current_stats_or_none(service)
        if current is None:
            return unavailable(service, settings.refresh_seconds)
        _, body = current
        return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})

    def csv_download(name: str, to_csv) -> Response:
        reject_query_parameters()
        current = current_stats_or_none(service)
        if current is None:
            return unavailable(service, settings.refresh_seconds)
        stats, _ = current
        stamp = iso_utc(stats.generated_at).replace(":", "").replace("-", "")
        return Response(
            to_csv(stats),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="aurora-{name}-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @api.route("/activity.csv", methods=API_METHODS, provide_automatic_options=False)
    def activity_csv() -> Response:
        return csv_download("activity", activity_to_csv)

    @api.route("/commands.csv", methods=API_METHODS, provide_automatic_options=False)
    def commands_csv() -> Response:
        return csv_download("commands", lambda stats: command_health_csv(stats.bot.command_health))

    @api.route(STREAM_PATH.removeprefix("/api"), methods=API_METHODS, provide_automatic_options=False)
    def stats_realtime() -> Response:
        reject_query_parameters()
        client = client_address()
        if request.method != "HEAD" and (reason := streams.refusal(client)) is not None:
            refused = TooManyStreams(reason)
            return json_error(429, refused.message, {"Retry-After": str(refused.retry_after)})
        # The ASGI layer (aurora.web.serving.asgi) takes the slot and writes the events under these headers.
        return Response(b"", mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", STREAM_HEADER: client})

    @api.route("/activity/hours/<hour>", methods=API_METHODS, provide_automatic_options=False)
    def activity_hour(hour: str) -> Response:
        reject_query_parameters()
        try:
            breakdown = hours.breakdown(parse_hour(hour))
        except MalformedHour as error:
            return json_error(400, str(error))
        except HourOutOfRange as error:
            return json_error(404, str(error))
        except BreakdownUnavailable:
            return json_error(503, "the database did not answer in time", {"Retry-After": str(PREPARING_RETRY_SECONDS)})
        return Response(
            json.dumps(hour_breakdown_to_dict(breakdown), allow_nan=False, separators=(",", ":")),
            mimetype="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @api.route("/openapi.json", methods=API_METHODS, provide_automatic_options=False)
    def openapi_document() -> Response:
        reject_query_parameters()
        body = openapi_json(rate_limit=settings.rate_limit, access_control=settings.access_token is not None)
        return Response(body, mimetype="application/json")

    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    @api.route("/", defaults={"rest": ""}, methods=every_method, provide_automatic_options=False)
    @api.route("/<path:rest>", methods=every_method, provide_automatic_options=False)
    def unknown(rest: str) -> Response:
        # Without this rule, Dash's catch-all page route would answer API paths with HTML. A path
        # that exists for GET but was asked with another method lands here too: that is a 405.
        raise api_method_error(f"/api/{rest}", API_METHODS)

    install_request_guards(api, methods=API_METHODS, media_types=OPERATION_MEDIA_TYPES)
    return api


def register_error_handlers(server: Flask) -> None:
    @server.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if isinstance(error, MethodNotAllowed) and request.path.startswith("/api/"):
            # The routing's own 405 (a method no rule lists, like PROPFIND) would name the catch-all's
            # methods in Allow; answer as the API does: Allow GET, HEAD on a real route, else 404.
            error = api_method_error(request.path, API_METHODS)
        message = error.description or error.name
        if error.code == 405:
            message = f"method {shortened(raw_method())} is not allowed here"
        # get_headers() carries Allow for 405 (and any header the exception was given).
        headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
        return json_error(error.code or 500, message, headers)

    @server.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; the server log has details")
