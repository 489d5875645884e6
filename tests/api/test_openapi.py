"""`/api/openapi.json`: a valid OpenAPI 3.1 document whose schemas match what the API really answers,
on SQLite and PostgreSQL, including the nullable fields filled in and the error answers."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jsonschema_rs
import pytest
import schemathesis
from sqlalchemy import text

from aurora.api.openapi import build_openapi_document
from aurora.bot.snapshot import BotOffline, BotSnapshot, CommandCount, ShardSnapshot
from aurora.bot.snapshot_cache import SnapshotCache
from aurora.stats.model import iso_utc
from aurora.web.context import context_of
from tests.openapi_check import assert_conforms, document, stats_validator
from tests.support import NOW, case, command, insert_rows, transaction, user

pytestmark = pytest.mark.clock

TOKEN = "openapi-test-token-0123456789"


def connected_bot() -> SnapshotCache:
    """A bot snapshot with every optional figure present, so no nullable field is left null."""
    return SnapshotCache(
        lambda: NOW,
        BotSnapshot(
            status="connected",
            taken_at=NOW,
            guild_count=42,
            user_count=1234,
            latency_ms=41.6,
            commands_registered=3,
            last_command_at=NOW - timedelta(seconds=13),
            started_at=NOW - timedelta(hours=2),
            shards=(ShardSnapshot(0, "connected", 41.6), ShardSnapshot(1, "reconnecting", None)),
            ping_avg_ms=42.4,
            ping_previous_hour_avg_ms=51.0,
            guild_count_month_ago=39,
            command_failures=(CommandCount("balance", 2),),
        )
    )


def seed_everything(engine) -> None:
    insert_rows(
        engine,
        user_rows=[user(NOW - timedelta(days=40)), user(NOW - timedelta(days=2)), user(NOW, active=False)],
        transaction_rows=[
            *(command(NOW - timedelta(hours=hours), name=f"cmd{hours % 12}") for hours in range(30)),
            *(command(NOW - timedelta(days=days)) for days in range(2, 20)),
            transaction(NOW - timedelta(minutes=5), kind="TRANSFER_IN", amount=1500),
        ],
        case_rows=[case(NOW - timedelta(minutes=1), kind="ban")],
    )


def test_the_document_is_valid_openapi_31_and_its_schemas_valid_json_schema():
    for access_control in (False, True):
        doc = build_openapi_document(rate_limit="60/minute", access_control=access_control)
        assert doc["openapi"].startswith("3.1.")
        schemathesis.openapi.from_dict(doc).validate()
        schemas = [*doc["components"]["schemas"].values()]
        for path_item in doc["paths"].values():
            for operation in path_item.values():
                for response in operation["responses"].values():
                    schemas += [media["schema"] for media in response.get("content", {}).values()]
        for response in doc["components"]["responses"].values():
            schemas += [media["schema"] for media in response["content"].values()]
            schemas += [header["schema"] for header in response.get("headers", {}).values()]
        for schema in schemas:
            jsonschema_rs.meta.validate(schema)
        # Every documented operation is GET or HEAD, exactly like the routes.
        assert {method for item in doc["paths"].values() for method in item} == {"get", "head"}
        assert ("securitySchemes" in doc["components"]) is access_control


def test_the_route_serves_the_document_under_the_api_rules(make_app):
    client = make_app(rate_limit="5/minute").server.test_client()
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    served = response.get_json()
    assert served == json.loads(json.dumps(build_openapi_document(rate_limit="5/minute", access_control=False)))
    assert "5/minute" in served["info"]["description"]
    assert client.head("/api/openapi.json").status_code == 200
    assert client.get("/api/openapi.json?format=yaml").status_code == 400
    assert client.post("/api/openapi.json").status_code == 405
    # Same budget as the other routes: 3 answers above, 2 left, then 429.
    assert client.get("/api/stats").status_code == 200
    assert client.get("/api/activity.csv").status_code == 200
    limited = client.get("/api/openapi.json")
    assert limited.status_code == 429
    assert_conforms(served, "/api/openapi.json", "GET", status=429, headers=limited.headers, body=limited.data)


def test_real_stats_answers_validate_against_the_document(make_app, engine):
    seed_everything(engine)
    client = make_app(snapshots=connected_bot()).server.test_client()
    doc = client.get("/api/openapi.json").get_json()
    response = client.get("/api/stats")
    assert response.status_code == 200
    body = response.get_json()
    stats_validator(doc).validate(body)
    # The nullable fields are really filled here, so their non-null branch was checked too.
    assert body["bot"]["uptimeSeconds"] == 7200 and body["ping"]["changeFromLastHour"] == -9
    assert body["users"]["changePercentFromLastMonth"] is not None and body["recentEvents"]
    for method, path in (("GET", "/api/stats"), ("HEAD", "/api/stats"), ("GET", "/api/activity.csv"),
                         ("HEAD", "/api/activity.csv"), ("GET", "/api/stats?x=1")):
        answer = client.open(path, method=method)
        assert_conforms(doc, path.split("?")[0], method, status=answer.status_code, headers=answer.headers,
                        body=answer.data)


def test_a_stale_answer_and_a_disabled_bot_validate(make_app, engine, clock):
    seed_everything(engine)
    app = make_app(refresh_seconds=1)
    client = app.server.test_client()
    assert client.get("/api/stats").get_json()["stale"] is False
    service = context_of(app).service
    refreshes = service.refresh_count
    with engine.begin() as conn:  # the next refresh fails: its table is gone
        conn.execute(text("ALTER TABLE transactions RENAME TO transactions_gone"))
    clock.advance(seconds=5)
    client.get("/api/stats")  # starts the failing refresh in the background
    deadline = time.monotonic() + 10
    while service.refresh_count == refreshes and time.monotonic() < deadline:
        time.sleep(0.02)
    body = client.get("/api/stats").get_json()
    assert body["stale"] is True and body["staleSince"] is not None and body["bot"]["status"] == "disabled"
    stats_validator().validate(body)


def test_an_offline_bots_reason_validates(make_app, engine):
    seed_everything(engine)
    since = NOW - timedelta(minutes=4)
    offline = BotSnapshot(status="reconnecting", taken_at=NOW, offline=BotOffline("discord_unreachable", since))
    body = make_app(snapshots=SnapshotCache(lambda: NOW, offline)).server.test_client().get("/api/stats").get_json()
    assert body["bot"]["offline"] == {"cause": "discord_unreachable", "since": iso_utc(since)}
    validator = stats_validator()
    validator.validate(body)
    body["bot"]["offline"]["cause"] = "asleep"
    assert not validator.is_valid(body)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: body.update(extra=1),
        lambda body: body.pop("staleSince"),
        lambda body: body["bot"].update(status="asleep"),
        lambda body: body["users"].update(active="12"),
        lambda body: body["activityOverview"].pop(),
        lambda body: body["recentEvents"][0].update(userId=1),
        lambda body: body.update(generatedAt=f"{NOW:%Y-%m-%d %H:%M:%S}"),
    ],
    ids=["extra-field", "missing-field", "unknown-status", "string-count", "23-hours", "event-extra", "bad-time"],
)
def test_the_stats_schema_is_closed_and_exact(client, engine, mutate):
    """The schema does not just accept anything: each drift from the contract is rejected."""
    seed_everything(engine)
    body = client.get("/api/stats").get_json()
    validator = stats_validator()
    assert validator.is_valid(body)
    mutate(body)
    assert not validator.is_valid(body)


def test_with_an_access_token_every_route_documents_and_answers_401(make_app):
    client = make_app(access_token=TOKEN).server.test_client()
    basic = "Basic " + base64.b64encode(f"any:{TOKEN}".encode()).decode()
    doc = client.get("/api/openapi.json", headers={"Authorization": basic}).get_json()
    assert doc == document(access_control=True) | {"info": doc["info"]}
    for path, item in doc["paths"].items():
        for method in item:
            answer = client.open(path, method=method.upper())
            assert answer.status_code == 401
            assert_conforms(doc, path, method, status=401, headers=answer.headers, body=answer.data)
    authorised = client.get("/api/stats", headers={"Authorization": f"Bearer {TOKEN}"})
    assert authorised.status_code == 200
