"""The OpenAPI 3.1 description of the API, served as `/api/openapi.json`.

Built from plain dicts on demand (no file, no I/O) so that it cannot drift from the code without a
test noticing: tests validate real responses against these schemas and fuzz the running app with it.
The document describes exactly what the routes answer, errors included; the shapes mirror
`aurora.contract.stats_to_dict` field for field.
"""

from __future__ import annotations

import functools
import json

from aurora.api.stream import STREAM_RETRY_SECONDS
from aurora.models import BOT_STATUSES, EVENT_KINDS
from aurora.queries.events import RECENT_EVENTS_LIMIT
from aurora.queries.scope import HOURS, TOP_COMMANDS_LIMIT

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"

ISO_UTC_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def _object(properties: dict, **extra) -> dict:
    """A closed object: every property present (null where the contract allows), nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


def _nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


TIMESTAMP = {"type": "string", "format": "date-time", "pattern": ISO_UTC_PATTERN}
COUNT = {"type": "integer", "minimum": 0}
NAMED_COUNT = _object({"name": {"type": "string"}, "count": COUNT})


def _stats_schema() -> dict:
    shard = _object(
        {
            "id": COUNT,
            "status": {"type": "string", "enum": list(BOT_STATUSES)},
            "latency": _nullable({"type": "integer", "description": "gateway latency in ms"}),
        }
    )
    bot = _object(
        {
            "status": {"type": "string", "enum": list(BOT_STATUSES)},
            "simulated": {"type": "boolean"},
            "commandsRegistered": _nullable(COUNT),
            "cachedUsers": _nullable(COUNT),
            "lastCommandAt": _nullable(TIMESTAMP),
            "uptimeSeconds": _nullable(COUNT),
            "commandFailures": {"type": "array", "items": NAMED_COUNT},
            "shards": {"type": "array", "items": shard},
        }
    )
    percent = {"type": "number", "description": "percent, one decimal"}
    return _object(
        {
            "generatedAt": TIMESTAMP,
            "demo": {"type": "boolean", "description": "true while generated demo data is shown"},
            "stale": {"type": "boolean", "description": "true while refreshes fail or lag"},
            "staleSince": {
                **_nullable(TIMESTAMP),
                "description": "when the served database figures were computed; null unless stale",
            },
            "bot": bot,
            "guilds": _object({"count": _nullable(COUNT), "changeFromLastMonth": _nullable({"type": "integer"})}),
            "users": _object({"active": COUNT, "changePercentFromLastMonth": _nullable(percent)}),
            "commands": _object(
                {
                    "total": COUNT,
                    "changePercentFromLastMonth": _nullable(percent),
                    "top": {"type": "array", "items": NAMED_COUNT, "maxItems": TOP_COMMANDS_LIMIT},
                }
            ),
            "ping": _object(
                {"avg": _nullable({"type": "integer"}), "changeFromLastHour": _nullable({"type": "integer"})}
            ),
            "recentEvents": {
                "type": "array",
                "maxItems": RECENT_EVENTS_LIMIT,
                "items": _object(
                    {
                        "type": {"type": "string", "enum": list(EVENT_KINDS)},
                        "message": {"type": "string"},
                        "timestamp": TIMESTAMP,
                    }
                ),
            },
            "activityOverview": {
                "type": "array",
                "minItems": HOURS,
                "maxItems": HOURS,
                "items": _object(
                    {
                        "hour": {**TIMESTAMP, "pattern": r"^\d{4}-\d\d-\d\dT\d\d:00:00Z$"},
                        "commands": COUNT,
                        "transactions": COUNT,
                    }
                ),
            },
        }
    )


def error_schema(status: int) -> dict:
    """The JSON error body every non-2xx answer carries, here for `status`."""
    return _object({"error": _object({"status": {"type": "integer", "const": status}, "message": {"type": "string"}})})


def _header(description: str, schema: dict, *, required: bool = True) -> dict:
    return {"description": description, "required": required, "schema": schema}


SECONDS = {"type": "integer", "minimum": 0}
# On every answer of an API route while the rate limit is on (a count never fails: while Redis is
# unreachable it is kept in memory), and on none while it is off.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": _header("requests allowed per window", SECONDS),
    "X-RateLimit-Remaining": _header("requests left in the current window", SECONDS),
    "X-RateLimit-Reset": _header("when the window resets, in Unix seconds", SECONDS),
}
RETRY_AFTER = {"Retry-After": _header("seconds until a retry can succeed (sent with 429 and 503 only)", SECONDS)}
NO_STORE = {"Cache-Control": _header("never cached", {"type": "string", "const": "no-store"})}


def _error_response(status: int, description: str, headers: dict | None = None) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": error_schema(status)}},
    }
    if headers:
        response["headers"] = headers
    return response


def _responses_component(access_control: bool, limit_headers: dict) -> dict:
    responses = {
        "BadRequest": _error_response(400, "A query parameter was given (no endpoint takes any)."),
        "MethodNotAllowed": _error_response(
            405,
            "Any method other than the operation's (GET/HEAD); `Allow` lists the allowed ones.",
            {"Allow": _header("the allowed methods", {"type": "string"})},
        ),
        "NotAcceptable": _error_response(
            406, "The Accept header rules out the operation's only media type (no header or */* accepts it)."
        ),
        "TooManyRequests": _error_response(
            429,
            "The per-client request budget is spent; `Retry-After` says when its window ends.",
            {**RETRY_AFTER, **RATE_LIMIT_HEADERS},
        ),
        "TooManyStreams": _error_response(
            429,
            "The request budget is spent (`Retry-After`: when its window ends), or too many streams are open "
            f"from this client or in total (`Retry-After`: {STREAM_RETRY_SECONDS}, also said in the message).",
            {**RETRY_AFTER, **limit_headers},
        ),
        "Unavailable": _error_response(
            503,
            "No statistics yet: the database has not answered since startup, or the first figures of a "
            "large database are being prepared (the message says how far along).",
            {"Retry-After": _header("seconds until a retry is worth it", SECONDS)},
        ),
    }
    if access_control:
        responses["Unauthorized"] = _error_response(
            401,
            "An access token is configured and the request did not carry it.",
            {"WWW-Authenticate": _header("the accepted scheme(s)", {"type": "string"})},
        )
    return responses


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
    csv = _operation(
        "The 24 hourly activity points as CSV",
        {
            "description": "`hour,commands,transactions`, one row per hour, oldest first (CRLF line ends).",
            "headers": {
                **NO_STORE,
                **limit_headers,
                "Content-Disposition": _header(
                    "an attachment named after the stats' time",
                    {"type": "string", "pattern": r'^attachment; filename="aurora-activity-\d{8}T\d{6}Z\.csv"$'},
                ),
            },
            "content": {"text/csv": {"schema": {"type": "string", "pattern": r"^hour,commands,transactions\r\n"}}},
        },
        unavailable=True, access_control=access_control, tag="getActivityCsv",
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
                "Cache-Control": _header("never cached", {"type": "string", "const": "no-cache"}),
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
    return {
        "/api/stats": {"get": stats, "head": _head_of(stats)},
        "/api/activity.csv": {"get": csv, "head": _head_of(csv)},
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
            "schemas": {"Stats": _stats_schema()},
            "responses": _responses_component(access_control, limit_headers),
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
