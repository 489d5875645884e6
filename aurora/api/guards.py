"""Checks every API request passes before its view runs, for answers that stay exact on odd input.

- Methods are case-sensitive (RFC 9110 §9.1), but werkzeug upper-cases `request.method`: without
  this guard `get /api/stats` would be served as GET. The raw method must be exactly GET or HEAD.
- An `Accept` header that rules out the endpoint's only media type gets a 406 (JSON, like every
  error) instead of a body the client said it cannot take; no header, or `*/*`, accepts anything.
- Whatever a client sent is echoed in error messages only shortened, so a 60 KB query string or path
  does not come back as a 60 KB message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotAcceptable, NotFound

ECHO_LIMIT = 60
ECHO_NAMES = 5


def raw_method() -> str:
    """The method exactly as the client sent it (werkzeug's `request.method` is upper-cased)."""
    return request.environ.get("REQUEST_METHOD", "")


def shortened(text: str, limit: int = ECHO_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def echo_names(names: Iterable[str]) -> str:
    """A few of the client's names for an error message: sorted, de-duplicated, each shortened."""
    unique = sorted(set(names))
    shown = ", ".join(shortened(name, 40) for name in unique[:ECHO_NAMES])
    return shown if len(unique) <= ECHO_NAMES else f"{shown} and {len(unique) - ECHO_NAMES} more"


def api_method_error(path: str, methods: list[str]) -> HTTPException:
    """What a request with an unlisted method gets at an /api/ path: 405 where a route exists, else 404."""
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method="GET")
    except HTTPException:
        endpoint = None
    if endpoint is not None and not endpoint.endswith(".unknown"):
        return MethodNotAllowed(valid_methods=methods)
    return NotFound(f"no API endpoint at {shortened(path)}")


def install_request_guards(api: Blueprint, *, methods: list[str], media_types: Mapping[str, str]) -> None:
    """`media_types`: view name -> the one media type it answers with."""

    @api.before_request
    def guard() -> None:
        endpoint = (request.endpoint or "").removeprefix(f"{api.name}.")
        media_type = media_types.get(endpoint)
        if media_type is None:  # not one of the API's operations: the catch-all answers 404/405
            return
        if raw_method() not in methods:
            raise MethodNotAllowed(valid_methods=methods)
        accept = request.accept_mimetypes
        if accept and accept.best_match([media_type]) is None:
            raise NotAcceptable(f"this endpoint answers {media_type} only; the Accept header rules that out")
