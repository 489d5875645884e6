"""Dash's own routes, as Dash names them under its routes prefix: the page guard checks two of
them, and the page's rate-limit budget covers the ones a page load and a refresh make."""

from __future__ import annotations

from collections.abc import Iterable

from dash import Dash

PAGE_ROUTE = ""
PAGE_PATH_ROUTE = "<path:path>"
LAYOUT_ROUTE = "_dash-layout"
DEPENDENCIES_ROUTE = "_dash-dependencies"
CALLBACK_ROUTE = "_dash-update-component"
COMPONENT_FILES_ROUTE = "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"
# What a page makes per load and per refresh (its assets and component files are not counted).
PAGE_ROUTES = (PAGE_ROUTE, PAGE_PATH_ROUTE, LAYOUT_ROUTE, DEPENDENCIES_ROUTE, CALLBACK_ROUTE)


def dash_endpoints(app: Dash, routes: Iterable[str]) -> list[str]:
    """The Flask endpoint names of `routes`: Dash registers each view under its prefixed route."""
    prefix = app.config.routes_pathname_prefix
    return [prefix + route for route in routes]
