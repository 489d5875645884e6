"""schemathesis against the served OpenAPI document, on the app served over real HTTP.

Every generated request must get an answer the document describes: no 5xx; documented status codes,
content types, headers and body schemas; 405 with `Allow` for any other method; 401 without the token
when one is configured. The run goes through schemathesis' own CLI (all phases and all checks, a
fixed seed so CI is reproducible); its pytest plugin cannot run under this pytest
(`Function._nodeid` is gone).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.warnings import SchemathesisWarning

from aurora import create_app
from aurora.settings import Settings
from aurora.web.context import context_of
from tests.conftest import LiveServer
from tests.openapi_check import assert_conforms, stats_validator

ACCESS_TOKEN = "fuzz-token-0123456789abcdef"
SEED = "20261127"
# The stream never ends on its own (it lives up to an hour) and schemathesis reads whole bodies, so it
# cannot consume GET /api/stats/realtime: the runs skip that one operation (its HEAD stays in), and
# the tests below check the stream's answers against the document instead.
STREAM_OPERATION = "streamStats"
# An hour breakdown exists only for the last 24 hours, which a generated hour almost never names: its
# 404s are the documented answer, not missing test data (every other warning stays on).
# `test_an_hour_of_the_last_24_matches_the_document` checks a breakdown itself.
WARNINGS = ",".join(warning.value for warning in SchemathesisWarning if warning != SchemathesisWarning.MISSING_TEST_DATA)


def _serve(tmp_path_factory, **overrides) -> LiveServer:
    folder = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'aurora.db'}",
        database_is_default=True,
        demo=True,
        simulated_discord=False,  # the API under fuzzing, not a bot logged in to a simulated Discord
        rate_limit="100000/minute",
        stream_heartbeat_seconds=0.2,  # a closed stream is noticed (and its slot freed) quickly
        **overrides,
    )
    app = create_app(settings)
    assert context_of(app).simulation is None and context_of(app).bot is None
    return LiveServer(app).__enter__()


@pytest.fixture(scope="module")
def public_server(tmp_path_factory):
    server = _serve(tmp_path_factory)
    yield server
    server.__exit__(None, None, None)
    context_of(server.app).shutdown()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    server = _serve(tmp_path_factory, access_token=ACCESS_TOKEN)
    yield server
    server.__exit__(None, None, None)
    context_of(server.app).shutdown()


def run_schemathesis(server: LiveServer, tmp_path, *extra: str) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/api/openapi.json",
        "--checks", "all",
        "--exclude-operation-id", STREAM_OPERATION,
        "--max-examples", "40",
        "--max-time", "8",  # fuzzing repeats until the time is spent
        "--seed", SEED,
        "--request-timeout", "5",
        "--no-color",
        "--warnings", WARNINGS,
        *extra,
    ]
    # cwd: schemathesis may leave report/cache folders where it runs; keep them out of the work tree.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout, result.stdout[-6000:]


def test_schemathesis_finds_nothing_on_the_public_api(public_server, tmp_path):
    run_schemathesis(public_server, tmp_path)


def test_schemathesis_finds_nothing_with_an_access_token(guarded_server, tmp_path):
    # With the token on every request; its coverage phase also sends requests without it (-> 401).
    run_schemathesis(guarded_server, tmp_path, "--header", f"Authorization: Bearer {ACCESS_TOKEN}")


query_parameters = st.dictionaries(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.text(st.characters(codec="utf-8"), max_size=40),
    min_size=1,
    max_size=4,
)


def test_any_query_parameter_is_a_documented_400(public_server):
    """No operation declares parameters, so schemathesis never sends any; hypothesis does here."""
    doc = requests.get(f"{public_server.url}/api/openapi.json", timeout=5).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [(path, method) for path, item in doc["paths"].items() for method in item]

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(operation=st.sampled_from(operations), query=query_parameters)
    def check(operation, query):
        path, method = operation
        case = schema[path][method.upper()].Case(query=query)
        answer = requests.request(method, f"{public_server.url}{path}", params=query, timeout=5, stream=True)
        with answer:
            body = answer.content  # a 400 ends at once; a stream opened by mistake would time out
        assert answer.status_code == 400, (case.query, answer.status_code)
        assert_conforms(doc, path, method, status=400, headers=answer.headers, body=body)

    check()


def test_an_hour_of_the_last_24_matches_the_document(public_server):
    doc = requests.get(f"{public_server.url}/api/openapi.json", timeout=5).json()
    stats = requests.get(f"{public_server.url}/api/stats", timeout=5).json()
    hour = stats["activityOverview"][-2]["hour"]  # a whole hour of demo rows
    answer = requests.get(f"{public_server.url}/api/activity/hours/{hour}", timeout=5)
    assert answer.status_code == 200 and answer.json()["commands"]["total"] > 0  # demo data
    assert_conforms(doc, "/api/activity/hours/{hour}", "GET", status=200, headers=answer.headers, body=answer.content)


def read_first_event(answer: requests.Response) -> dict:
    fields: dict = {}
    for line in answer.iter_lines(decode_unicode=True):
        if not line:
            if "event" in fields:
                return fields
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    raise AssertionError("the stream ended before its first event")


def test_the_stream_and_its_refusals_match_the_document(public_server):
    url = f"{public_server.url}/api/stats/realtime"
    doc = requests.get(f"{public_server.url}/api/openapi.json", timeout=5).json()
    per_client = context_of(public_server.app).settings.stream_max_per_client
    streams = [requests.get(url, stream=True, timeout=5) for _ in range(per_client)]
    try:
        first = streams[0]
        assert first.status_code == 200
        assert_conforms(doc, "/api/stats/realtime", "GET", status=200, headers=first.headers, body=b"")
        refused = requests.get(url, timeout=5)
        assert refused.status_code == 429
        assert_conforms(doc, "/api/stats/realtime", "GET", status=429, headers=refused.headers, body=refused.content)
        # Last: leaving iter_lines early closes the connection, and the server frees its slot at once.
        event = read_first_event(first)
        assert event["event"] == "stats" and event["id"] and "retry" in event
        stats_validator(doc).validate(json.loads(event["data"]))
    finally:
        for stream in streams:
            stream.close()
    for method in ("POST", "DELETE", "OPTIONS"):
        answer = requests.request(method, url, timeout=5)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
        assert answer.json() == {"error": {"status": 405, "message": f"method {method} is not allowed here"}}


def test_the_stream_without_the_token_is_a_documented_401(guarded_server):
    doc = requests.get(
        f"{guarded_server.url}/api/openapi.json", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5
    ).json()
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic !!"}):
        answer = requests.get(f"{guarded_server.url}/api/stats/realtime", headers=headers, timeout=5)
        assert answer.status_code == 401
        assert_conforms(doc, "/api/stats/realtime", "GET", status=401, headers=answer.headers, body=answer.content)

