"""The HTTP side of the OpenAPI document (`aurora.api.openapi`): versions, the error body, headers.
The answers' own schemas come from their one definition (`aurora.stats.json_form`)."""

from __future__ import annotations

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
NO_STORE = {"Cache-Control": header("never cached", {"type": "string", "const": "no-store"})}
