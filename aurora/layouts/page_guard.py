"""Dash's own routes answer bad input with a 4xx JSON error, never a 500 with a traceback in the log.

- `POST /_dash-update-component`: Dash indexes the body the way its renderer builds it, so `[1]`,
  `{}`, an unknown output, a string where a list belongs or 5,000 nested brackets made it raise
  (KeyError, AttributeError, RecursionError): a 500 and a traceback per request. The guard checks
  the body against the app's registered callbacks before Dash sees it, and answers `400` naming
  the first problem: a JSON object whose `output` names a registered callback, whose `outputs`,
  `inputs` and `state` are exactly that callback's dependencies (id and property, in order),
  whose `changedPropIds` name its inputs, and nothing nested deeper than `MAX_DEPTH`. Fields Dash
  does not read are left alone. Each input's and state's value must be of the kind
  `aurora.layouts.input_values` declares for it (a count, a string, a chart click…), as a route
  checks its parameters; a request for a callback that runs in the browser is refused too.
- `GET /_dash-component-suites/<package>/<file>`: an unregistered package or file (a scanner's
  probe) raised `DependencyException`, and a registered one missing from the installed package
  (Dash lists `.map` files that some of its releases do not ship) `FileNotFoundError`: both are
  now a `404`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping

from dash import Dash
from dash.exceptions import DependencyException
from flask import request
from werkzeug.exceptions import BadRequest, NotFound, UnsupportedMediaType

from aurora.api.guards import shortened
from aurora.layouts.input_values import value_kind
from aurora.web.dash_routes import CALLBACK_ROUTE, COMPONENT_FILES_ROUTE, dash_endpoints

MAX_DEPTH = 32


def _too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests deeper than `limit` (iteratively: the check itself cannot overflow)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return False


def _same_dependency(item, component_id: str, component_property: str) -> bool:
    """One `{"id", "property", ...}` entry of the body against one registered dependency.

    Ids are strings: the page has no pattern-matching callbacks (dict ids, lists of entries),
    which would need a check of their own (tests pin this)."""
    return (
        isinstance(item, dict)
        and item.get("id") == component_id
        and isinstance(item.get("property"), str)
        and item["property"].split("@")[0] == component_property.split("@")[0]
    )


def _dependencies_problem(name: str, sent, expected: list[tuple]) -> str | None:
    if not isinstance(sent, list):
        return f"'{name}' must be a list"
    if len(sent) != len(expected):
        return f"'{name}' must have {len(expected)} entries for this callback (got {len(sent)})"
    for position, (item, (component_id, component_property)) in enumerate(zip(sent, expected, strict=True)):
        if not _same_dependency(item, component_id, component_property):
            return f"'{name}' entry {position} is not this callback's {component_property!r} of {component_id!r}"
    return None


def _values_problem(name: str, sent: list, expected: list[tuple]) -> str | None:
    """The first value of `sent` (already matched to `expected`) that is not of its declared kind."""
    for position, (item, (component_id, component_property)) in enumerate(zip(sent, expected, strict=True)):
        kind = value_kind(component_id, component_property)
        if kind is not None and not kind.accepts(item.get("value")):
            return f"'{name}' entry {position}, {component_property!r} of {component_id!r}, must be {kind.description}"
    return None


def _outputs_problem(sent, registered) -> str | None:
    if isinstance(registered, list | tuple):
        expected = [(output.component_id, output.component_property) for output in registered]
        return _dependencies_problem("outputs", sent, expected)
    if not _same_dependency(sent, registered.component_id, registered.component_property):
        return f"'outputs' is not this callback's {registered.component_property!r} of {registered.component_id!r}"
    return None


def callback_body_problem(body, callbacks: Mapping[str, dict]) -> str | None:
    """Why `body` is not a callback request of this app, or None when Dash can run it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if _too_deep(body):
        return f"the body nests deeper than {MAX_DEPTH} levels"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' must be the string naming a callback's outputs"
    spec = callbacks.get(output)
    if spec is None:
        return f"no callback has the output {shortened(output)!r}"
    if "callback" not in spec:
        return f"the callback of {shortened(output)!r} runs in the browser"
    if not spec.get("no_output") and (problem := _outputs_problem(body.get("outputs"), spec["output"])):
        return problem
    inputs = [(item["id"], item["property"]) for item in spec["inputs"]]
    if problem := _dependencies_problem("inputs", body.get("inputs"), inputs) or _values_problem(
        "inputs", body["inputs"], inputs
    ):
        return problem
    state = [(item["id"], item["property"]) for item in spec["state"]]
    if (state or "state" in body) and (
        problem := _dependencies_problem("state", body.get("state"), state)
        or _values_problem("state", body["state"], state)
    ):
        return problem
    names = {f"{component_id}.{component_property}" for component_id, component_property in inputs}
    for field in ("changedPropIds", "parsedChangedPropsIds"):
        changed = body.get(field, [])
        if not isinstance(changed, list) or not all(isinstance(name, str) for name in changed):
            return f"'{field}' must be a list of strings"
        if any(name not in names for name in changed):
            return f"'{field}' names a property that is not an input of this callback"
    return None


def undeclared_values(callbacks: Mapping[str, dict]) -> list[str]:
    """The inputs and states of server callbacks whose value kind `aurora.layouts.input_values` lacks."""
    return [
        f"{item['id']}.{item['property']}"
        for spec in callbacks.values()
        if "callback" in spec
        for item in spec["inputs"] + spec["state"]
        if value_kind(item["id"], item["property"]) is None
    ]


def install_page_guard(app: Dash) -> None:
    """Check callback requests before Dash runs them; missing component files are 404s."""
    if undeclared := undeclared_values(app.callback_map):
        raise RuntimeError(
            f"callback values without a declared kind (add them to aurora/layouts/input_values.py): {undeclared}"
        )
    server = app.server
    callback_endpoint, component_files_endpoint = dash_endpoints(app, (CALLBACK_ROUTE, COMPONENT_FILES_ROUTE))

    @server.before_request
    def check_callback_request() -> None:
        if request.endpoint != callback_endpoint:
            return
        if not request.is_json:
            raise UnsupportedMediaType("callback requests are JSON (Content-Type: application/json)")
        try:
            body = json.loads(request.get_data(cache=True))
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        except RecursionError:  # thousands of nested brackets
            raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels") from None
        if problem := callback_body_problem(body, app.callback_map):
            raise BadRequest(f"not a callback request of this page: {problem}")

    # Dash registers its view under the route as endpoint name (tests pin it).
    serve_component_file = server.view_functions[component_files_endpoint]

    @functools.wraps(serve_component_file)
    def component_file_or_404(**route_values):
        try:
            return serve_component_file(**route_values)
        except (DependencyException, FileNotFoundError):
            raise NotFound(f"no such component file: {shortened(request.path)}") from None

    server.view_functions[component_files_endpoint] = component_file_or_404
