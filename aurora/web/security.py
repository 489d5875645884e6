"""Response hardening, optional access control, and client addresses behind proxies."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from urllib.parse import urlsplit, urlunsplit

from dash import Dash
from flask import Response, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized
from werkzeug.middleware.proxy_fix import ProxyFix

from aurora.api.health import HEALTH_ENDPOINT
from aurora.settings import Settings

log = logging.getLogger(__name__)

REALM = "Aurora Dashboard"


def content_security_policy(app: Dash) -> str:
    # Dash's only inline script is its renderer bootstrap: allowed by hash, nothing else inline.
    # Plotly injects <style> elements, so styles need 'unsafe-inline' (styles cannot run code).
    script_sources = " ".join(["'self'", *app.csp_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_sources}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """WSGI middleware adding the headers to every response that does not set them itself.

    At the WSGI level it costs a list append per response, where Flask's `after_request` and
    werkzeug's `Headers` made it a noticeable share of serving the cached /api/stats.
    """

    def __init__(self, wsgi_app, headers: dict[str, str]) -> None:
        self._app = wsgi_app
        self._headers = list(headers.items())
        self._names = {name.lower() for name in headers}

    def __call__(self, environ, start_response):
        def start_with_headers(status, response_headers, exc_info=None):
            present = {name.lower() for name, _ in response_headers} & self._names
            response_headers.extend(item for item in self._headers if item[0].lower() not in present)
            return start_response(status, response_headers, exc_info)

        return self._app(environ, start_with_headers)


def install_security_headers(app: Dash) -> None:
    headers = {
        "Content-Security-Policy": content_security_policy(app),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    app.server.wsgi_app = SecurityHeaders(app.server.wsgi_app, headers)


def presented_token(authorization: str | None) -> str | None:
    """The secret in `Authorization: Bearer <token>` or HTTP Basic (any user name, token as password)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return credentials.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, separator, password = decoded.partition(":")
        return password if separator else None
    return None


def token_accepted(authorization: str | None, expected: bytes) -> bool:
    """Whether an `Authorization` header presents the access token."""
    token = presented_token(authorization)
    # compare_digest: no timing side channel on how much of the token matched.
    return token is not None and hmac.compare_digest(token.encode(), expected)


def install_access_control(app: Dash, settings: Settings) -> None:
    if settings.access_token is None:
        log.warning("AURORA_ACCESS_TOKEN is not set: the dashboard and its API are public")
        return
    expected = settings.access_token.encode()

    @app.server.before_request
    def require_token() -> None:
        if request.endpoint == HEALTH_ENDPOINT:
            return  # probes carry no token, and the answer holds nothing to protect
        if not token_accepted(request.headers.get("Authorization"), expected):
            raise Unauthorized(
                "an access token is required (HTTP Basic password or 'Authorization: Bearer <token>')",
                www_authenticate=WWWAuthenticate("basic", {"realm": REALM, "charset": "UTF-8"}),
            )

    log.info("access control on: every page and API route requires AURORA_ACCESS_TOKEN")


def client_address() -> str:
    """The address a request is counted under (rate limits, live streams): the peer's, or behind
    `AURORA_TRUSTED_PROXY_HOPS` proxies the one they forwarded (`install_proxy_fix` rewrites it)."""
    return request.remote_addr or "unknown"


def install_proxy_fix(app: Dash, settings: Settings) -> None:
    """Trust X-Forwarded-For/-Proto only from the configured number of proxies in front."""
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=hops, x_proto=hops, x_host=0)


def relative_location(location: str) -> str:
    """`location` without scheme and host: the path (never starting with `//`, which a browser
    would read as another host), query and fragment."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def install_relative_redirects(app: Dash) -> None:
    """Make every redirect's `Location` relative.

    werkzeug builds its redirects (`/api` -> `/api/`, `//x` -> `/x`) from the request's `Host`
    header, so any client could have the answer point at a host of its choosing (a poisoned cache
    or a phishing link). A relative reference keeps the browser on the host it asked.
    """

    @app.server.after_request
    def keep_redirects_here(response: Response) -> Response:
        location = response.headers.get("Location")
        if location is not None:
            response.headers["Location"] = relative_location(location)
        return response
