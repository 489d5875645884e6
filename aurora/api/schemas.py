"""The HTTP side of the OpenAPI document (`aurora.api.openapi`): versions, headers, the error body and
the error answers the operations share. The answers' own schemas come from their one definition
(`aurora.stats.json_form`)."""

from __future__ import annotations

from aurora.api.stream import STREAM_RETRY_SECONDS
from aurora.stats.json_shape import STRING, Prop, leaf, obj

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"


def error_schema(status: int) -> dict:
    """The JSON error body every non-2xx answer carries, here for `status`."""
    error = obj(Prop("status", leaf({"type": "integer", "const": status})), Prop("message", STRING))
    return obj(Prop("error", error)).json_schema()


def header(description: str, schema: dict, *, required: bool = True) -> dict:
    return {"description": description, "required": required, "schema": schema}


SECONDS = {"type": "integer", "minimum": 0}
# On every answer of an API route while the rate limit is on (a count never fails: while Redis is
# unreachable it is kept in memory), and on none while it is off.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": header("requests allowed per window", SECONDS),
    "X-RateLimit-Remaining": header("requests left in the current window", SECONDS),
    "X-RateLimit-Reset": header("when the window resets, in Unix seconds", SECONDS),
}
RETRY_AFTER = {"Retry-After": header("seconds until a retry can succeed (sent with 429 and 503 only)", SECONDS)}
# On a 503: the figures or the database may be back by then.
RETRY_AFTER_UNAVAILABLE = {"Retry-After": header("seconds until a retry is worth it", SECONDS)}
NO_STORE = {"Cache-Control": header("never cached", {"type": "string", "const": "no-store"})}


def error_response(status: int, description: str, headers: dict | None = None) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": error_schema(status)}},
    }
    if headers:
        response["headers"] = headers
    return response


def error_responses(access_control: bool, limit_headers: dict) -> dict:
    """The error answers the operations share (`#/components/responses`)."""
    responses = {
        "BadRequest": error_response(400, "A query parameter was given (no endpoint takes any)."),
        "MethodNotAllowed": error_response(
            405,
            "Any method other than the operation's (GET/HEAD); `Allow` lists the allowed ones.",
            {"Allow": header("the allowed methods", {"type": "string"})},
        ),
        "NotAcceptable": error_response(
            406, "The Accept header rules out the operation's only media type (no header or */* accepts it)."
        ),
        "TooManyRequests": error_response(
            429,
            "The per-client request budget is spent; `Retry-After` says when its window ends.",
            {**RETRY_AFTER, **RATE_LIMIT_HEADERS},
        ),
        "TooManyStreams": error_response(
            429,
            "The request budget is spent (`Retry-After`: when its window ends), or too many streams are open "
            f"from this client or in total (`Retry-After`: {STREAM_RETRY_SECONDS}, also said in the message).",
            {**RETRY_AFTER, **limit_headers},
        ),
        "Unavailable": error_response(
            503,
            "No statistics yet: the database has not answered since startup, or the first figures of a "
            "large database are being prepared (the message says how far along).",
            RETRY_AFTER_UNAVAILABLE,
        ),
    }
    if access_control:
        responses["Unauthorized"] = error_response(
            401,
            "An access token is configured and the request did not carry it.",
            {"WWW-Authenticate": header("the accepted scheme(s)", {"type": "string"})},
        )
    return responses
