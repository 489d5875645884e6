"""Bot health on the web side: `commandHealth` in /api/stats (as documented), the per-command CSV,
and the /metrics histogram and late-answer counter, from a snapshot shared through Redis (role web)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aurora.bot.command_health.slots import Run
from aurora.bot.command_health.window import HealthWindow
from aurora.scaleout.snapshots import RedisSnapshotStore
from tests.openapi_check import assert_conforms, document, stats_validator
from tests.support import NOW, connected_snapshot

pytestmark = pytest.mark.clock


def health_snapshot():
    window = HealthWindow(NOW - timedelta(hours=30))
    window.connected(NOW - timedelta(hours=30))
    for minute in range(40):
        window.add_run(NOW - timedelta(minutes=minute), Run("ping", "slash", end_ms=90 + minute, ack_ms=60,
                                                            failed=False, late=False))
    window.add_run(NOW, Run("stats", "slash", end_ms=4200, ack_ms=3400, failed=True, late=True))
    window.add_run(NOW, Run("(buttons)", "button", end_ms=180, ack_ms=180, failed=False, late=False))
    window.count(NOW, "reconnects")
    return connected_snapshot(command_health=window.summary(NOW))


@pytest.fixture
def web_client(make_app, web_role, redis_client, clock):
    app = make_app(**web_role)
    RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock).publish(
        health_snapshot()
    )
    return app.server.test_client()


def test_stats_carry_command_health_through_redis_as_documented(web_client):
    body = web_client.get("/api/stats").get_json()
    stats_validator().validate(body)
    health = body["commandHealth"]
    rows = {row["name"]: row for row in health["commands"]}
    assert set(rows) == {"ping", "stats", "(buttons)"}
    assert (rows["ping"]["runs"], rows["ping"]["failures"], rows["ping"]["late"]) == (40, 0, 0)
    assert 90 <= rows["ping"]["p50Ms"] <= 150 and rows["ping"]["ackP95Ms"] <= 75
    assert (rows["stats"]["failurePercent"], rows["stats"]["late"], rows["stats"]["p99Ms"] >= 4000) == (100.0, 1, True)
    assert rows["(buttons)"]["kind"] == "button"
    assert len(health["hours"]) == 24 and sum(hour["late"] for hour in health["hours"]) == 1
    assert health["lateLastHour"] == 1
    assert health["gateway"]["reconnects"] == 1 and health["gateway"]["connectedPercent"] == 100.0
    assert health["since"] == (NOW - timedelta(hours=24)).replace(minute=40, second=0, microsecond=0).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_stats_say_null_without_a_bot(client):
    body = client.get("/api/stats").get_json()
    assert body["commandHealth"] is None
    stats_validator().validate(body)


def test_the_per_command_csv(web_client):
    response = web_client.get("/api/commands.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert_conforms(document(), "/api/commands.csv", "GET", status=200, headers=response.headers, body=response.data)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_name = {row["command"]: row for row in rows}
    assert by_name["stats"]["late"] == "1" and by_name["stats"]["failure_percent"] == "100.0"
    assert by_name["ping"]["runs"] == "40"
    assert web_client.get("/api/commands.csv?command=ping").status_code == 400
    assert web_client.post("/api/commands.csv").status_code == 405


def test_the_csv_shares_the_apis_budget(make_app):
    client = make_app(rate_limit="2/minute").server.test_client()
    assert client.get("/api/stats").status_code == 200
    answer = client.get("/api/commands.csv")
    assert answer.status_code == 200 and answer.get_data(as_text=True).startswith("command,kind,runs,")
    assert client.get("/api/commands.csv").status_code == 429


def test_metrics_histogram_and_late_counter(web_client):
    web_client.get("/api/stats")
    text = web_client.get("/metrics").get_data(as_text=True)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("aurora_command_duration_seconds_count", (("command", "ping"),))] == 40
    assert samples[("aurora_command_duration_seconds_bucket", (("command", "ping"), ("le", "0.1")))] == 11
    assert samples[("aurora_command_duration_seconds_bucket", (("command", "stats"), ("le", "4")))] == 0
    assert samples[("aurora_command_duration_seconds_bucket", (("command", "stats"), ("le", "5")))] == 1
    assert samples[("aurora_command_duration_seconds_sum", (("command", "stats"),))] == pytest.approx(4.2)
    assert samples[("aurora_command_late_answers_total", ())] == 1
    commands = {dict(labels).get("command") for name, labels in samples if name.startswith("aurora_command_duration")}
    assert commands == {"ping", "stats", "(buttons)"}
