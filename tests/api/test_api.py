"""The HTTP API: contract shape, errors as JSON, rate limit, CSV, and nothing private leaks."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from datetime import datetime, timedelta

import pytest

from aurora import create_app
from aurora.settings import Settings
from aurora.web.context import context_of
from tests.support import NOW, case, command, insert_rows, iso_z, serve_preparing, transaction, user

pytestmark = pytest.mark.clock

HOUR = NOW.replace(minute=0, second=0, microsecond=0)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SECRET_USER_ID = 400_000_000_000_777_001


def seed_private_looking_rows(engine):
    insert_rows(
        engine,
        user_rows=[user(NOW - timedelta(days=45), username="SecretUsername")],
        transaction_rows=[
            command(NOW - timedelta(minutes=3), name="balance", user_id=SECRET_USER_ID),
            transaction(NOW - timedelta(minutes=2), kind="TRANSFER_IN", description="from SecretUsername", user_id=SECRET_USER_ID),
        ],
        case_rows=[case(NOW - timedelta(minutes=1), username="SecretUsername", user_id=SECRET_USER_ID, reason="SecretReason")],
    )


def test_stats_contract_shape_and_types(client, engine):
    seed_private_looking_rows(engine)
    response = client.get("/api/stats")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {
        "generatedAt", "demo", "stale", "bot", "guilds", "users", "commands", "ping", "recentEvents", "activityOverview"
    }
    assert ISO_UTC.match(body["generatedAt"])
    assert body["demo"] is False and body["stale"] is False
    assert body["bot"]["status"] == "disabled"
    assert body["alerts"] == []  # alerts off (no webhook URL): present, and empty
    assert body["bot"]["simulated"] is False
    assert body["bot"]["commandsRegistered"] is None
    assert body["bot"]["lastCommandAt"] is None and body["bot"]["uptimeSeconds"] is None
    assert body["guilds"] == {"count": None, "changeFromLastMonth": None}
    assert body["ping"] == {"avg": None, "changeFromLastHour": None}
    assert body["users"] == {"active": 1, "changePercentFromLastMonth": 0.0}
    assert body["commands"]["total"] == 1
    assert body["commands"]["changePercentFromLastMonth"] is None
    assert body["commands"]["top"] == [{"name": "balance", "count": 1}]
    events = body["recentEvents"]
    assert [event["type"] for event in events] == ["error", "success", "info"]
    for event in events:
        assert set(event) == {"type", "message", "timestamp"} and ISO_UTC.match(event["timestamp"])
    points = body["activityOverview"]
    assert len(points) == 24
    for point in points:
        assert set(point) == {"hour", "commands", "transactions"}
        assert ISO_UTC.match(point["hour"]) and point["hour"].endswith(":00:00Z")
        assert isinstance(point["commands"], int) and isinstance(point["transactions"], int)
    assert points[-1] == {"hour": iso_z(HOUR), "commands": 1, "transactions": 1}


def test_nothing_private_appears_in_json_or_csv(client, engine):
    seed_private_looking_rows(engine)
    payloads = [client.get("/api/stats").get_data(as_text=True), client.get("/api/activity.csv").get_data(as_text=True)]
    for payload in payloads:
        for secret in ("SecretUsername", "SecretReason", str(SECRET_USER_ID), "moderator", "offender"):
            assert secret not in payload
        # No Discord snowflake (17-20 digit number) anywhere.
        assert not re.search(r"\d{17,20}", payload)


def test_csv_export_has_the_24_hourly_points(client, engine):
    insert_rows(engine, transaction_rows=[command(NOW), transaction(NOW - timedelta(hours=3))])
    response = client.get("/api/activity.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="aurora-activity-\d{8}T\d{6}Z\.csv"', response.headers["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["hour", "commands", "transactions"]
    assert len(rows) == 25
    stats_points = client.get("/api/stats").get_json()["activityOverview"]
    assert rows[1:] == [[p["hour"], str(p["commands"]), str(p["transactions"])] for p in stats_points]
    assert rows[-1] == [iso_z(HOUR), "1", "0"]
    assert rows[-4] == [iso_z(HOUR - timedelta(hours=3)), "0", "1"]


@pytest.mark.parametrize("path", ["/api/stats", "/api/activity.csv"])
@pytest.mark.parametrize("query", ["?x=1", "?refresh=true&x=2", "?x", "?=1", "?a=1&a=2"])
def test_any_query_parameter_is_a_400_naming_it(client, path, query):
    response = client.get(path + query)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert "query parameter" in message
    name = query[1:].split("=")[0].split("&")[0]
    assert name in message


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/stats", "/api/activity.csv"])
def test_other_methods_are_405_with_allow(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.get_json()["error"]["status"] == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


def test_head_answers_without_a_body(client):
    response = client.head("/api/stats")
    assert response.status_code == 200
    assert response.get_data() == b""


@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/api/stats/extra", "/api/stats.json"])
def test_unknown_api_paths_are_404_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404


def test_rate_limit_is_60_per_minute_per_ip_with_retry_after(make_app, clock):
    client = make_app().server.test_client()
    for _ in range(60):
        assert client.get("/api/stats").status_code == 200
    refused = client.get("/api/stats")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["status"] == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Limit"] == "60"
    # The CSV shares the budget, and another client address has its own.
    assert client.get("/api/activity.csv").status_code == 429
    other = client.get("/api/stats", environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200
    # Dash's own routes are not limited.
    assert client.get("/_dash-layout").status_code == 200


def test_rate_limit_is_configurable(make_app):
    client = make_app(rate_limit="3/minute").server.test_client()
    assert [client.get("/api/stats").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_concurrent_requests_refresh_the_database_once(make_app):
    app = make_app(rate_limit="1000/minute")
    service = context_of(app).service
    barrier = threading.Barrier(12)
    statuses = []

    def ask():
        client = app.server.test_client()
        barrier.wait()
        statuses.append(client.get("/api/stats").status_code)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    assert service.refresh_count == 1


def test_serialised_once_per_refresh(client):
    first = client.get("/api/stats").get_data()
    second = client.get("/api/stats").get_data()
    assert first == second
    assert json.loads(first)["generatedAt"] == iso_z(NOW)


def test_unreachable_database_is_a_503_with_retry_after(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'aurora.db'}", database_is_default=False, demo=False
    )
    client = create_app(settings).server.test_client()
    response = client.get("/api/stats")
    assert response.status_code == 503
    assert response.get_json()["error"]["status"] == 503
    assert int(response.headers["Retry-After"]) > 0
    assert client.get("/api/activity.csv").status_code == 503
    assert client.get("/").status_code == 200  # the page itself still loads


def test_while_the_first_figures_are_prepared_it_is_a_503_saying_so(make_app, engine, clock):
    # The rate limit's headers leave this Retry-After as it is.
    app = serve_preparing(make_app(), engine, clock, 0.42)
    client = app.server.test_client()
    for path in ("/api/stats", "/api/activity.csv"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.get_json() == {"error": {
            "status": 503, "message": "statistics are being prepared (42% done); retry after Retry-After seconds"}}


def test_generated_at_is_the_refresh_moment(client, clock):
    body = client.get("/api/stats").get_json()
    assert datetime.fromisoformat(body["generatedAt"].replace("Z", "+00:00")) == clock().replace(microsecond=0)


def test_rate_limit_off_installs_no_limiter(make_app):
    client = make_app(rate_limit=None).server.test_client()
    responses = [client.get("/api/stats") for _ in range(70)]
    assert {response.status_code for response in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[-1].headers
