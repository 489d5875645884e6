"""Malformed and hostile requests, sent byte for byte over a raw socket (a test client or an HTTP
library would normalise most of them away), as production serves them (nginx with deploy/nginx.conf
in front of gunicorn with gunicorn.conf.py), and those the app itself judges also to the app server
alone (`python app.py`'s, in this process).

Every answer is a 4xx, or a 505 for an HTTP version other than 1.x (never a 5xx from the app,
never a traceback), and always the API's JSON error: from the app where it sees the request, from
nginx (its error pages) where the request is refused before it reaches the app. The app server
alone answers what HTTP itself cannot parse in uvicorn's plain text: it never faces clients alone.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from aurora import create_app
from aurora.settings import Settings
from aurora.web.context import context_of
from aurora.web.serving.local_nginx import nginx_proxy
from tests.conftest import LiveServer
from tests.fakes.gunicorn_server import gunicorn_server
from tests.openapi_check import json_error_validator

UNLIMITED = "100000/minute"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    status_line: bool


Connect = Callable[[], socket.socket]


def direct(port: int) -> Connect:
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=10)


def exchange(connect: Connect, raw: bytes) -> Answer:
    with connect() as connection:
        try:
            connection.sendall(raw)
        except OSError:
            pass  # refused while still sending (a head over the limit): the answer is there to read
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/"):
        # An HTTP/0.9-style answer (the server could not read a version): body only, no status line.
        body = json.loads(data)
        return Answer(body["error"]["status"] if "error" in body else 200, {}, data, status_line=False)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body, status_line=True)


def request(target: bytes, *, method: bytes = b"GET", headers: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return method + b" " + target + b" " + version + b"\r\nHost: 127.0.0.1\r\n" + headers + b"Connection: close\r\n\r\n"


BROWSER_ACCEPT = b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
MANY_PARAMETERS = b"&".join(b"p%03d=%03d" % (i, i) for i in range(300))  # ~3 KB: under every server limit

# name -> (raw request, status). "(server)" marks answers given before the app sees the request.
CASES = {
    "unknown parameter": (request(b"/api/stats?foo=1"), 400),
    "repeated parameter": (request(b"/api/activity.csv?a=1&a=2&a=3"), 400),
    "300 parameters": (request(b"/api/stats?" + MANY_PARAMETERS), 400),
    "100 KB query (server)": (request(b"/api/stats?q=" + b"x" * 100_000), 414),
    "100 KB path (server)": (request(b"/api/" + b"a" * 100_000), 414),
    "percent-encoded invalid UTF-8 in path": (request(b"/api/%ff%fe"), 404),
    "invalid percent-encoding in path": (request(b"/api/stats%ZZ"), 404),
    "NUL in path": (request(b"/api/st%00ats"), 404),
    "raw invalid UTF-8 in path (server)": (request(b"/api/st\xffats"), 400),
    "percent-encoded invalid UTF-8 in query": (request(b"/api/stats?a=%ff%fe"), 400),
    "invalid percent-encoding in query": (request(b"/api/stats?%zz=%"), 400),
    "raw invalid UTF-8 in query (server)": (request(b"/api/stats?\xff\xfe=1"), 400),
    "raw invalid UTF-8 in the stream's query (server)": (request(b"/api/stats/realtime?\xff\xfe=1"), 400),
    "PROPFIND": (request(b"/api/stats", method=b"PROPFIND"), 405),
    "TRACE": (request(b"/api/activity.csv", method=b"TRACE"), 405),
    "CONNECT (server)": (request(b"127.0.0.1:443", method=b"CONNECT"), 405),
    "CONNECT to an API path": (request(b"/api/stats/realtime", method=b"CONNECT"), 405),
    "lowercase get (server)": (request(b"/api/stats", method=b"get"), 405),
    "mixed-case Head (server)": (request(b"/api/openapi.json", method=b"Head"), 405),
    "3000-byte method (server)": (request(b"/api/stats", method=b"X" * 3000), 405),
    "3000-byte method to the stream (server)": (request(b"/api/stats/realtime", method=b"X" * 3000), 405),
    "Accept: application/xml": (request(b"/api/stats", headers=b"Accept: application/xml\r\n"), 406),
    "Accept: garbage": (request(b"/api/stats", headers=b"Accept: ;;;q=abc,*/*;q=-1,\xff\r\n"), 406),
    "Accept refuses JSON": (request(b"/api/stats", headers=b"Accept: application/json;q=0\r\n"), 406),
    "Accept: JSON for the CSV": (request(b"/api/activity.csv", headers=b"Accept: application/json\r\n"), 406),
    "Accept: JSON for the stream": (
        request(b"/api/stats/realtime", method=b"HEAD", headers=b"Accept: application/json\r\n"), 406),
    "1000-byte Authorization garbage": (
        request(b"/api/stats?x", headers=b"Authorization: \xff\xfe" + b"z" * 1000 + b"\r\n"), 400),
    "100 KB header (server)": (request(b"/api/stats", headers=b"X-Big: " + b"a" * 100_000 + b"\r\n"), 431),
    "500 headers (server)": (request(b"/api/stats", headers=b"".join(b"X-H%d: 1\r\n" % i for i in range(500))), 431),
    "header line without a colon (server)": (request(b"/api/stats?x=1", headers=b"this is not a header\r\n"), 400),
    "control bytes in a header (server)": (request(b"/api/stats?x=1", headers=b"X-Bad: \x00\x01\x02\r\n"), 400),
    "Content-Length: abc (server)": (request(b"/api/stats?x=1", headers=b"Content-Length: abc\r\n"), 400),
    "TLS handshake bytes (server)": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    # RFC 9110: a server that does not speak the request's major version (or minor, here) says 505.
    "HTTP/1.2 (server)": (request(b"/api/stats?x=1", version=b"HTTP/1.2"), 505),
    "HTTP/2 preface (server)": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "HTTP/9.9 (server)": (request(b"/api/stats", version=b"HTTP/9.9"), 505),
}
# nginx answers some before the app sees them (all 4xx JSON); it lets 500 small headers and HTTP/1.2
# (read as 1.1) through to the app.
THROUGH_NGINX = {
    "invalid percent-encoding in path": 400,
    "NUL in path": 400,
    "CONNECT (server)": 400,
    "lowercase get (server)": 400,
    "mixed-case Head (server)": 400,
    "500 headers (server)": 200,
    "HTTP/1.2 (server)": 400,
    "HTTP/2 preface (server)": 400,
}
# Not malformed: the guards must let ordinary clients through.
ORDINARY = {
    "browser Accept": (request(b"/api/stats", headers=BROWSER_ACCEPT), 200),
    "curl Accept": (request(b"/api/activity.csv", headers=b"Accept: */*\r\n"), 200),
    "EventSource Accept": (
        request(b"/api/stats/realtime", method=b"HEAD", headers=b"Accept: text/event-stream\r\n"), 200),
    "empty query string": (request(b"/api/stats?"), 200),
    "HTTP/1.0": (request(b"/api/stats", version=b"HTTP/1.0"), 200),
}


@pytest.fixture(scope="module")
def app_py(tmp_path_factory) -> Connect:
    """The stack `python app.py` serves (aurora.web.serving.worker's uvicorn options), in this process."""
    folder = tmp_path_factory.mktemp("malformed")
    # The web stack only: no bot logged in to a simulated Discord beside it.
    settings = Settings(database_url=f"sqlite:///{folder / 'aurora.db'}", demo=True, simulated_discord=False,
                        rate_limit=UNLIMITED)
    app = create_app(settings)
    assert context_of(app).simulation is None and context_of(app).bot is None
    server = LiveServer(app).__enter__()
    yield direct(server.port)
    server.__exit__(None, None, None)
    context_of(server.app).shutdown()


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Connect:
    """nginx (deploy/nginx.conf) in front of gunicorn (gunicorn.conf.py)."""
    folder = tmp_path_factory.mktemp("malformed-gunicorn")
    with gunicorn_server(folder, AURORA_RATE_LIMIT=UNLIMITED, AURORA_DEMO="false", AURORA_TRUSTED_PROXY_HOPS="1") as server:
        with nginx_proxy(folder / "nginx", server.port) as proxy:
            yield proxy.connect
        log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]


def check_answer(name: str, raw: bytes, answer: Answer, expected: int) -> None:
    assert answer.status == expected, f"{name}: {answer.status} {answer.body[:300]!r}"
    assert answer.status_line
    assert b"Traceback" not in answer.body and b'File "' not in answer.body, answer.body[:2000]
    if expected == 200:
        return
    assert answer.headers.get("content-type") == "application/json", answer.headers
    if not answer.body:  # HEAD
        return
    error = json.loads(answer.body)
    json_error_validator(expected).validate(error)
    # Whatever the client sent is echoed only shortened.
    assert len(error["error"]["message"]) <= 300, error
    if expected == 405 and b" /api/" in raw.split(b"\r\n")[0]:
        assert answer.headers["allow"] == "GET, HEAD"


def all_cases():
    return {**CASES, **ORDINARY}


APP_CASES = [name for name in all_cases() if "(server)" not in name]


@pytest.mark.parametrize("name", APP_CASES)
def test_the_app_server_alone_answers_4xx_json(app_py, name):
    raw, expected = all_cases()[name]
    check_answer(name, raw, exchange(app_py, raw), expected)


@pytest.mark.parametrize("name", list(all_cases()))
def test_production_answers_4xx_json(production, name):
    raw, expected = all_cases()[name]
    check_answer(name, raw, exchange(production, raw), THROUGH_NGINX.get(name, expected))


def test_parameter_errors_name_the_parameters_briefly(app_py):
    repeated = json.loads(exchange(app_py, CASES["repeated parameter"][0]).body)
    assert repeated["error"]["message"] == "this endpoint takes no query parameters (got: a)"
    many = json.loads(exchange(app_py, CASES["300 parameters"][0]).body)
    assert many["error"]["message"].endswith("(got: p000, p001, p002, p003, p004 and 295 more)")
    method = json.loads(exchange(app_py, CASES["PROPFIND"][0]).body)
    assert method["error"]["message"] == "method PROPFIND is not allowed here"


def test_the_servers_still_answer_after_the_garbage(app_py, production):
    for connect in (app_py, production):
        answer = exchange(connect, request(b"/api/stats"))
        assert answer.status == 200 and json.loads(answer.body)["activityOverview"]
