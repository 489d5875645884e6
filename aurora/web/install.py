"""Putting the parts `create_app` built onto the Dash app and its Flask server: the context, the
guards and headers, /metrics and /healthz, the API and the page, each handed the parts it uses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dash import Dash

from aurora.api.health import install_health
from aurora.api.rate_limit import install_rate_limits
from aurora.api.routes import create_api_blueprint, register_error_handlers
from aurora.layouts.callbacks import install_page
from aurora.layouts.page_guard import install_page_guard
from aurora.settings import Settings
from aurora.web.context import AuroraContext, install_context
from aurora.web.metrics import install_metrics
from aurora.web.security import (
    install_access_control,
    install_proxy_fix,
    install_relative_redirects,
    install_security_headers,
)

ASSETS_FOLDER = str(Path(__file__).resolve().parents[2] / "assets")


def dash_app() -> Dash:
    """The page's Dash app (and its Flask server), with nothing installed yet."""
    return Dash("aurora", assets_folder=ASSETS_FOLDER, title="Aurora Dashboard", update_title=None)


def install_app(app: Dash, parts: AuroraContext) -> None:
    """The context, the guards and headers, the API and the page, on `app`."""
    server, settings = app.server, parts.settings
    # Bodies past the limit are refused (413, JSON) once the app reads them; nginx refuses them first.
    server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    install_proxy_fix(app, settings)
    install_access_control(app, settings)
    install_security_headers(app)
    install_relative_redirects(app)
    install_metrics(server, parts.service)
    api = create_api_blueprint(settings, parts.service, parts.streams, parts.hours)
    # After access control: a request without the token is refused before it is counted.
    install_rate_limits(app, api, settings)
    server.register_blueprint(api)
    install_health(server, parts.service)
    register_error_handlers(server)
    prepare_views = install_page(app, settings.refresh_seconds)
    # The page's callbacks reach the parts through the context (a Flask extension entry).
    install_context(server, replace(parts, prepare_views=prepare_views))
    install_page_guard(app)
    # Dash sets itself up on a worker's first request and marks that done before it is: other
    # first requests arriving meanwhile (a browser fetching scripts from a fresh gunicorn worker)
    # found no component library registered. Setting it up here closes that window.
    with server.test_request_context("/"):
        app._setup_server()


def bot_description(settings: Settings, simulated: bool) -> str:
    if settings.bot_enabled:
        return "enabled"
    if simulated:
        return "logged in to a simulated Discord on 127.0.0.1 (demo data, no DISCORD_TOKEN)"
    return "disabled (DISCORD_TOKEN not set)"
