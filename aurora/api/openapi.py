"""The OpenAPI 3.1 description of the API, served as `/api/openapi.json`.

Built from plain dicts on demand (no file, no I/O). The answers' schemas are not written here: they
come from the same definitions that write the answers (`aurora.stats.json_form`), so the document
cannot drift from them; tests still validate real responses against it and fuzz the running app with it.
The document describes exactly what the routes answer, errors included.
"""

from __future__ import annotations

import functools
import json

from aurora.api.schemas import (
    API_VERSION,
    NO_STORE,
    OPENAPI_VERSION,
    RATE_LIMIT_HEADERS,
    RETRY_AFTER_UNAVAILABLE,
    error_response,
    error_responses,
    header,
)
from aurora.stats.command_health_form import CSV_COLUMNS
from aurora.stats.hour_address import HOUR_PATTERN
from aurora.stats.json_form import HOUR_BREAKDOWN, STATS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _operation(summary: str, ok: dict, *, unavailable: bool, access_control: bool, tag: str) -> dict:
    """An operation with its 200 and the errors every route shares; `unavailable`: it can answer 503."""
    responses = {"200": ok, "400": _ref("BadRequest"), "406": _ref("NotAcceptable"), "429": _ref("TooManyRequests")}
    if unavailable:
        responses["503"] = _ref("Unavailable")
    if access_control:
        responses["401"] = _ref("Unauthorized")
    return {"summary": summary, "operationId": tag, "parameters": [], "responses": dict(sorted(responses.items()))}


def _head_of(get: dict) -> dict:
    """HEAD answers like GET without a body: same status codes and headers, no content."""
    responses = {}
    for status, response in get["responses"].items():
        if "$ref" in response:
            responses[status] = response
        else:
            responses[status] = {key: value for key, value in response.items() if key != "content"}
    return {**get, "operationId": f"{get['operationId']}Head", "summary": f"{get['summary']} (headers only)",
            "responses": responses}


def _hour_operation(access_control: bool, limit_headers: dict) -> dict:
    """GET /api/activity/hours/{hour}: one hour of the last 24, broken down."""
    operation = _operation(
        "One hour of the last 24: counts by command name and by kind, and the same hour on the 7 days before",
        {
            "description": "The hour's breakdown (aggregates only: no user, reason or free text but command names).",
            "headers": {**NO_STORE, **limit_headers},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HourBreakdown"}}},
        },
        unavailable=False, access_control=access_control, tag="getActivityHour",
    )
    operation["parameters"] = [
        {
            "name": "hour",
            "in": "path",
            "required": True,
            "description": "A UTC hour, e.g. 2026-11-28T14:00:00Z (seconds optional).",
            "schema": {"type": "string", "pattern": HOUR_PATTERN},
        }
    ]
    responses = operation["responses"]
    responses["400"] = error_response(400, "A query parameter was given, or the hour is malformed or not on the hour.")
    responses["404"] = error_response(404, "The hour is not one of the last 24 (by the server's clock).")
    responses["503"] = error_response(503, "The database did not answer in time.", RETRY_AFTER_UNAVAILABLE)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _csv_operation(summary: str, description: str, name: str, header_line: str, *, tag: str,
                   access_control: bool, limit_headers: dict) -> dict:
    """A CSV download: its header line first, an attachment named `aurora-<name>-<stats' time>.csv`."""
    return _operation(
        summary,
        {
            "description": description,
            "headers": {
                **NO_STORE,
                **limit_headers,
                "Content-Disposition": header(
                    "an attachment named after the stats' time",
                    {"type": "string", "pattern": rf'^attachment; filename="aurora-{name}-\d{{8}}T\d{{6}}Z\.csv"$'},
                ),
            },
            "content": {"text/csv": {"schema": {"type": "string", "pattern": f"^{header_line}\r\n"}}},
        },
        unavailable=True, access_control=access_control, tag=tag,
    )


def _paths(access_control: bool, limit_headers: dict) -> dict:
    stats = _operation(
        "Current statistics",
        {
            "description": "The current statistics.",
            "headers": {**NO_STORE, **limit_headers},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}},
        },
        unavailable=True, access_control=access_control, tag="getStats",
    )
    csv = _csv_operation(
        "The 24 hourly activity points as CSV",
        "`hour,commands,transactions`, one row per hour, oldest first (CRLF line ends).",
        "activity", "hour,commands,transactions", tag="getActivityCsv", access_control=access_control,
        limit_headers=limit_headers,
    )
    commands_csv = _csv_operation(
        "The bot's answers per command over the last 24 h as CSV",
        "`" + ",".join(CSV_COLUMNS) + "`, one row per registered command (or kind of component) answered in "
        "the window; the header alone while no bot reports (CRLF line ends).",
        "commands", ",".join(CSV_COLUMNS), tag="getCommandsCsv", access_control=access_control,
        limit_headers=limit_headers,
    )
    realtime = _operation(
        "Live statistics as Server-Sent Events",
        {
            "description": (
                "An endless `text/event-stream`: a `retry:` line with the advised reconnect delay, then an "
                "`event: stats` whose `data:` is the `/api/stats` JSON (schema `Stats`) with an `id:`, at "
                "connect and whenever the statistics change; a `: heartbeat` comment in between. The stream "
                "ends after a maximum lifetime; `Last-Event-ID` on reconnect skips stats already seen. "
                "While no statistics exist yet the stream stays open and sends heartbeats only."
            ),
            "headers": {
                "Cache-Control": header("never cached", {"type": "string", "const": "no-cache"}),
                **limit_headers,
            },
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        unavailable=False, access_control=access_control, tag="streamStats",
    )
    realtime["responses"]["429"] = _ref("TooManyStreams")
    document = _operation(
        "This document",
        {
            "description": "The OpenAPI description of the API.",
            "headers": limit_headers,
            "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
        },
        unavailable=False, access_control=access_control, tag="getOpenApi",
    )
    hour = _hour_operation(access_control, limit_headers)
    return {
        "/api/stats": {"get": stats, "head": _head_of(stats)},
        "/api/activity/hours/{hour}": {"get": hour, "head": _head_of(hour)},
        "/api/activity.csv": {"get": csv, "head": _head_of(csv)},
        "/api/commands.csv": {"get": commands_csv, "head": _head_of(commands_csv)},
        "/api/stats/realtime": {"get": realtime, "head": _head_of(realtime)},
        "/api/openapi.json": {"get": document, "head": _head_of(document)},
    }


def build_openapi_document(*, rate_limit: str | None, access_control: bool) -> dict:
    """The document for an app with this rate limit, with or without a configured access token."""
    budget = (
        f"All operations share a budget of {rate_limit} per client IP; every answer says how much is left "
        "(`X-RateLimit-*`), and only a refusal (429) or an unavailable answer (503) carries `Retry-After`."
        if rate_limit
        else "The app itself sets no rate limit here (a proxy in front is expected to)."
    )
    limit_headers = RATE_LIMIT_HEADERS if rate_limit else {}
    description = (
        "Health and activity of the Aurora Discord bot. Every path answers GET and HEAD only: any other "
        "method (methods are case-sensitive) is answered 405 with `Allow` (response `MethodNotAllowed`). "
        f"No operation takes query parameters: any is a 400 naming it. {budget} "
        "Unknown paths under /api/ are 404. Every error is JSON "
        '`{"error": {"status": <code>, "message": <text>}}`.'
    )
    document: dict = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Aurora Dashboard API", "version": API_VERSION, "description": description},
        "paths": _paths(access_control, limit_headers),
        "components": {
            "schemas": {"Stats": STATS.json_schema(), "HourBreakdown": HOUR_BREAKDOWN.json_schema()},
            "responses": error_responses(access_control, limit_headers),
        },
    }
    if access_control:
        document["components"]["securitySchemes"] = {
            "basicAuth": {"type": "http", "scheme": "basic", "description": "any user name, the token as password"},
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`"},
        }
        document["security"] = [{"basicAuth": []}, {"bearerAuth": []}]
    return document


@functools.lru_cache(maxsize=4)
def openapi_json(*, rate_limit: str | None, access_control: bool) -> bytes:
    """The serialized document, built once per configuration."""
    return json.dumps(build_openapi_document(rate_limit=rate_limit, access_control=access_control)).encode()
