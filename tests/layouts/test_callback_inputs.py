"""Every callback's inputs and state forged, as a route's parameters are: each callback the page
registers (read from `/_dash-dependencies`, so a new one is covered without a change here) gets, in
each of its inputs and states in turn, values of every JSON type and of hostile sizes, with hostile
rows in the database. Every answer is a 200, a 204 (`PreventUpdate`) or the 400 JSON error; no 500,
no ERROR record, no traceback in the log."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta

import pytest

from aurora.layouts import ids
from aurora.layouts.input_values import value_kind
from aurora.layouts.page_guard import undeclared_values
from tests.layouts.test_page_guard import body_like_the_renderer, no_error_logged, post
from tests.support import NOW, case, command, insert_rows, transaction

# name -> value; some are right for some inputs (null for all of them), which is the point: each
# input must take what it is written for and refuse the rest.
FORGED_VALUES = {
    "null": None,
    "true": True,
    "false": False,
    "zero": 0,
    "one": 1,
    "negative": -1,
    "fraction": 1.5,
    "huge number": 10**40,
    "a number as text": "1",
    "text": "abc",
    "huge text": "x" * 100_000,
    "an hour link past the calendar": "#hour=9999-12-31T23:00Z",
    "an hour link at the calendar's start": "#hour=0001-01-01T00:00Z",
    "an hour link to no day": "#hour=2026-02-30T10:00Z",
    "a zone choice": "utc",
    "empty list": [],
    "list of mixed": [1, "a", None, {}],
    "list of texts": ["2026-11-27T14:00:00Z", "x"],
    "empty object": {},
    "object of junk": {"a": [1, "b"]},
    "points a string": {"points": "abc"},
    "points an object": {"points": {"0": {"customdata": "x"}}},
    "points of junk": {"points": [{"customdata": ["x"]}, {"customdata": 10**40}]},
    "a zone object": {"zone": "Europe/Paris"},
    "a zone of junk": {"zone": ["Europe/Paris"]},
    "deep": {"points": [{"customdata": [[[[[[[[1]]]]]]]]}]},
}


@pytest.fixture
def database_url(sqlite_url):
    """The values are refused or taken before any query; the rows' own test covers both databases."""
    return sqlite_url


def forged_requests(dependency: dict):
    """(label, body) for each forged value in each input and state of one callback; the forged input
    is named as the one that changed, so the callback's trigger-dependent paths run too."""
    valid = body_like_the_renderer(dependency)
    valid.setdefault("state", [])
    for place in ("inputs", "state"):
        for position, item in enumerate(valid[place]):
            for name, value in FORGED_VALUES.items():
                body = copy.deepcopy(valid)
                body[place][position]["value"] = value
                if place == "inputs":
                    body["changedPropIds"] = body["parsedChangedPropsIds"] = [f"{item['id']}.{item['property']}"]
                yield f"{dependency['output'][:60]} {place}[{position}] {item['property']} = {name}", body


def test_every_callbacks_forged_inputs_get_a_clear_answer(make_app, engine, caplog):
    caplog.set_level(logging.DEBUG)
    hostile_day = NOW - timedelta(hours=2)
    insert_rows(
        engine,
        transaction_rows=[
            transaction(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), kind="\u202eSHOP_BUY"),
            transaction(datetime(1, 1, 1, tzinfo=UTC), kind="K" * 10_000),
            transaction(hostile_day, kind="\u202e\u200bK" * 3000),
            command(hostile_day, name="\u202eevil\u200d"),
        ],
        case_rows=[case(datetime(9999, 12, 31, tzinfo=UTC)), case(hostile_day, kind="\u2067ban\u2069" * 2000)],
    )
    client = make_app(page_rate_limit=None).server.test_client()
    dependencies = client.get("/_dash-dependencies").get_json()
    statuses: dict[int, int] = {}
    refused_for_value = 0
    for dependency in dependencies:
        for label, body in forged_requests(dependency):
            answer = post(client, body)
            assert answer.status_code in (200, 204, 400), (label, answer.status_code, answer.get_data()[:300])
            if answer.status_code == 400:
                message = answer.get_json()["error"]["message"]
                assert len(message) <= 300, (label, message)
                refused_for_value += " must be " in message
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    print(f"\nforged callback requests: {statuses}")
    # Not vacuous: every kind of answer came, and wrong values were refused as such.
    assert {200, 400} <= set(statuses) <= {200, 204, 400} and refused_for_value > 100, statuses
    no_error_logged(caplog)


def test_the_callbacks_that_run_in_the_browser_are_refused_on_the_server(client):
    dependencies = client.get("/_dash-dependencies").get_json()
    in_browser = [dependency for dependency in dependencies if dependency.get("clientside_function")]
    assert sorted(dependency["output"] for dependency in in_browser) == sorted([
        f"..{ids.ACTIVITY_TABLE}.hidden...{ids.TABLE_TOGGLE}.children...{ids.TABLE_TOGGLE}.aria-pressed..",
        f"{ids.REFRESH_INTERVAL}.disabled",
        f"{ids.BROWSER_ZONE}.data",
    ])
    for dependency in in_browser:
        answer = post(client, body_like_the_renderer(dependency))
        assert answer.status_code == 400
        assert "runs in the browser" in answer.get_json()["error"]["message"]


def test_every_server_callback_value_has_a_declared_kind(make_app):
    app = make_app()
    assert undeclared_values(app.callback_map) == []
    declared = [item for spec in app.callback_map.values() if "callback" in spec for item in spec["inputs"] + spec["state"]]
    assert len(declared) >= 15 and all(value_kind(item["id"], item["property"]) for item in declared)


def test_a_callback_with_an_undeclared_value_stops_the_app_at_start(make_app):
    """A new callback whose input has no declared kind is caught when the app is built, not in production."""
    from dash import Input, Output

    from aurora.layouts.page_guard import install_page_guard

    app = make_app()
    app.callback(Output(ids.SHARDS, "title"), Input(ids.SHARDS, "n_blinks"))(lambda _blinks: "")
    with pytest.raises(RuntimeError, match="shards.n_blinks"):
        install_page_guard(app)
