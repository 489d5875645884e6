"""Dash's own routes, as Dash names them under its routes prefix: the page guard checks two of
them, and the page's rate-limit budget covers the ones a page load and a refresh make."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def refresh_body_from(dependencies: list[dict]) -> bytes:
    """The body the browser posts to `CALLBACK_ROUTE` for the page's interval-driven refresh, from
    what `DEPENDENCIES_ROUTE` answered (the bench and the tests post it as a page would)."""
    ticking = [dep for dep in dependencies if any(i["property"] == "n_intervals" for i in dep["inputs"])]
    callback = max(ticking, key=lambda dep: len(dep["output"]))  # the refresh: it has every figure as output
    outputs = []
    for part in callback["output"].strip(".").split("..."):
        component, _, prop = part.rpartition(".")
        outputs.append({"id": component, "property": prop})
    return json.dumps({
        "output": callback["output"],
        "outputs": outputs,
        "inputs": [{**i, "value": 1 if i["property"] == "n_intervals" else None} for i in callback["inputs"]],
        "state": [{**s, "value": None} for s in callback.get("state", [])],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in callback["inputs"]],
    }).encode()
