"""The one shape of every error answer: `{"error": {"status", "message"}}`, never a traceback."""

from __future__ import annotations

from flask import Response, jsonify


def error_body(status: int, message: str) -> dict:
    """The error document (also written by the ASGI layer, which answers before Flask runs)."""
    return {"error": {"status": status, "message": message}}


def json_error(status: int, message: str, headers: dict | None = None) -> Response:
    response = jsonify(error_body(status, message))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
