"""Dash's own routes against bad input, through the real app: malformed callback requests get a
400 JSON error and unknown component files a 404, with no ERROR record and no traceback in the
log; the page's real callback requests still run."""

from __future__ import annotations

import copy
import importlib.resources
import json
import logging
import random

import pytest

from aurora.layouts import ids
from aurora.layouts.page_guard import MAX_DEPTH

CALLBACK_URL = "/_dash-update-component"
COUNTS = ("n_intervals", "n_clicks")


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def page_client(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    return make_app().server.test_client()


def dependency_of(client, output: str) -> dict:
    dependencies = client.get("/_dash-dependencies").get_json()
    return next(dependency for dependency in dependencies if dependency["output"] == output)


def body_like_the_renderer(dependency: dict) -> dict:
    """The request the page's renderer sends for `dependency` (see dash-renderer's payload)."""
    output = dependency["output"]
    if output.startswith(".."):
        names = output[2:-2].split("...")
        outputs = [dict(zip(("id", "property"), name.rsplit(".", 1), strict=True)) for name in names]
    else:
        outputs = dict(zip(("id", "property"), output.rsplit(".", 1), strict=True))
    # Counts start at 0; the stores hold nothing yet (the renderer leaves out an undefined value).
    inputs = [
        {"id": item["id"], "property": item["property"], **({"value": 0} if item["property"] in COUNTS else {})}
        for item in dependency["inputs"]
    ]
    body = {"output": output, "outputs": outputs, "inputs": inputs, "changedPropIds": [], "parsedChangedPropsIds": []}
    if dependency.get("state"):
        body["state"] = [{"id": item["id"], "property": item["property"]} for item in dependency["state"]]
    return body


def refresh_body(client) -> dict:
    """The page's refresh request (the callback with every figure as an output)."""
    dependencies = client.get("/_dash-dependencies").get_json()
    refresh = next(d for d in dependencies if f"{ids.UPDATED_AT}.children" in d["output"].split("..."))
    return body_like_the_renderer(refresh)


def no_error_logged(caplog) -> None:
    bad = [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert bad == [], [record.getMessage()[:300] for record in bad]
    assert "Traceback" not in caplog.text


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(CALLBACK_URL, data=data, content_type=content_type)


def nested(depth: int):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def malformed_bodies(valid: dict) -> dict[str, object]:
    def changed(**fields) -> dict:
        body = copy.deepcopy(valid)
        for name, value in fields.items():
            if value is KeyError:
                body.pop(name)
            else:
                body[name] = value
        return body

    first_input = valid["inputs"][0]
    return {
        "a list": [1],
        "an empty object": {},
        "a string": "str",
        "a number": 5,
        "null": None,
        "output a number": changed(output=1),
        "output unknown": changed(output="x"),
        "output 5,000 characters": changed(output="o" * 5000),
        "output an input's name": changed(output=f"{ids.REFRESH_INTERVAL}.n_intervals"),
        "outputs missing": changed(outputs=KeyError),
        "outputs an object": changed(outputs={}),
        "outputs empty": changed(outputs=[]),
        "outputs strings": changed(outputs=["a"] * len(valid["outputs"])),
        "outputs one short": changed(outputs=valid["outputs"][:-1]),
        "outputs wrong id": changed(outputs=[{**valid["outputs"][0], "id": "elsewhere"}, *valid["outputs"][1:]]),
        "outputs wrong property": changed(outputs=[{**valid["outputs"][0], "property": "style"}, *valid["outputs"][1:]]),
        "inputs missing": changed(inputs=KeyError),
        "inputs a string": changed(inputs="abc"),
        "inputs an object": changed(inputs={}),
        "inputs numbers": changed(inputs=[1] * len(valid["inputs"])),
        "inputs wrong id": changed(inputs=[{**first_input, "id": "elsewhere"}, *valid["inputs"][1:]]),
        "inputs id a number": changed(inputs=[{**first_input, "id": 7}, *valid["inputs"][1:]]),
        "inputs one extra": changed(inputs=[*valid["inputs"], first_input]),
        "state given": changed(state=[{"id": "a", "property": "b"}]),
        "state a string": changed(state="x"),
        "changedPropIds a string": changed(changedPropIds="x"),
        "changedPropIds numbers": changed(changedPropIds=[1]),
        "changedPropIds unknown": changed(changedPropIds=["nope.prop"]),
        "parsedChangedPropsIds an object": changed(parsedChangedPropsIds={}),
        f"a value nested {MAX_DEPTH + 8} deep": changed(inputs=[{**first_input, "value": nested(MAX_DEPTH + 8)},
                                                            *valid["inputs"][1:]]),
        "5,000 nested brackets": b"[" * 5000 + b"]" * 5000,
        "not JSON": b"not json",
        "empty": b"",
        "invalid UTF-8": b"\xff\xfe{",
    }


def test_the_pages_own_callback_requests_run(page_client, caplog):
    refresh = refresh_body(page_client)
    answer = post(page_client, refresh)
    assert answer.status_code == 200
    values = answer.get_json()["response"]
    assert values[ids.UPDATED_AT]["children"].startswith("Updated ")
    # A stream event's id as the live input, as live.js sets it; a value left out is null; a value
    # of another kind than the input holds is refused, even where the callback would ignore it.
    with_event = copy.deepcopy(refresh)
    with_event["inputs"][1]["value"] = "501dfeb85138dcb0"
    with_event["changedPropIds"] = with_event["parsedChangedPropsIds"] = [f"{ids.LIVE_STATS}.data"]
    assert post(page_client, with_event).status_code == 200
    undefined = copy.deepcopy(refresh)
    del undefined["inputs"][0]["value"]
    assert post(page_client, undefined).status_code == 200
    odd = copy.deepcopy(refresh)
    odd["inputs"][0]["value"] = {"a": [1, "b"]}
    answer = post(page_client, odd)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].endswith(
        f"'inputs' entry 0, 'n_intervals' of {ids.REFRESH_INTERVAL!r}, must be a whole number from 0, or null"
    )
    no_error_logged(caplog)


def test_the_page_has_no_pattern_matching_callbacks(make_app):
    """The guard compares ids as strings; a callback with dict ids would need it extended."""
    callbacks = make_app().callback_map.values()
    dependencies = [*(d for spec in callbacks for d in spec["inputs"] + spec["state"])]
    outputs = [o for spec in callbacks for o in (spec["output"] if isinstance(spec["output"], list) else [spec["output"]])]
    assert all(isinstance(d["id"], str) for d in dependencies)
    assert all(isinstance(o.component_id, str) for o in outputs) and len(outputs) > 20


def test_malformed_callback_requests_get_a_400_and_no_traceback(page_client, caplog):
    cases = malformed_bodies(refresh_body(page_client))
    for name, body in cases.items():
        answer = post(page_client, body)
        assert answer.status_code == 400, (name, answer.status_code, answer.get_data()[:300])
        error = answer.get_json()["error"]
        assert error["status"] == 400 and len(error["message"]) <= 300, (name, error)
    assert post(page_client, b"{}", content_type="text/plain").status_code == 415
    no_error_logged(caplog)


def test_mangled_callback_requests_never_make_a_500(page_client, caplog):
    """Random parts of a real request replaced by random JSON: every answer a 200 or a 4xx."""
    valid = refresh_body(page_client)
    shuffle = random.Random(20261127)
    junk = [None, True, 0, -1, 1.5, "", "x" * 300, [], {}, [None], {"id": None}, nested(40), {"a": {"b": [1]}}]
    statuses = {}
    for _ in range(300):
        body = copy.deepcopy(valid)
        for _ in range(shuffle.randint(1, 3)):
            target, key = _random_place(body, shuffle)
            target[key] = copy.deepcopy(shuffle.choice(junk))
        status = post(page_client, body).status_code
        statuses[status] = statuses.get(status, 0) + 1
    print(f"\nmangled callback requests: {statuses}")
    assert set(statuses) <= {200, 204, 400}, statuses
    assert statuses.get(400, 0) > 0
    no_error_logged(caplog)


def _random_place(body: dict, shuffle: random.Random):
    """A random (container, key) inside `body`, at any depth."""
    target = body
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = shuffle.choice(keys)
        child = target[key]
        if isinstance(child, dict | list) and child and shuffle.random() < 0.6:
            target = child
            continue
        return target, key


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/dash/deps/react@18.v4_4_1m1.min.js.map",
        "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v4_4_1m1.min.js.map.map",
        "/_dash-component-suites/plotly/package_data/plotly.min.js.map",
        "/_dash-component-suites/nosuchpackage/index.js",
        "/_dash-component-suites/os/__init__.py",
        "/_dash-component-suites/dash/../../etc/passwd",
        "/assets/nope.css",
        "/assets/aurora.css.map",
        "/assets/../README.md",
    ],
)
def test_unknown_asset_paths_are_404s(page_client, caplog, path):
    answer = page_client.get(path)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["status"] == 404
    no_error_logged(caplog)


def test_every_registered_component_file_is_served_or_a_404(make_app, caplog):
    """Dash registers some `.map` files its installed release does not ship: those are 404s too.
    Read before any request: create_app's call of Dash's `_setup_server` registered them (a Dash
    release that registers them elsewhere fails here)."""
    app = make_app()
    client = app.server.test_client()
    answers = {}
    for package, paths in app.registered_paths.items():
        for path in paths:
            status = client.get(f"/_dash-component-suites/{package}/{path}").status_code
            shipped = importlib.resources.files(package).joinpath(path).is_file()
            assert status == (200 if shipped else 404), (package, path, status)
            answers[status] = answers.get(status, 0) + 1
    assert answers.get(200, 0) > 10, answers
    no_error_logged(caplog)
