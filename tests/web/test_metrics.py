"""GET /metrics: the same figures as the API, parsed by prometheus_client, and the Grafana example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aurora.scaleout.snapshots import RedisSnapshotStore
from tests.support import connected_snapshot

pytestmark = pytest.mark.clock


def scrape(redis_client) -> dict:
    """(name, labels) -> value for every sample of /metrics, via prometheus_client's own parser."""
    response = redis_client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_equal_the_api(make_app, web_role, redis_client, clock):
    app = make_app(**web_role)
    RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock).publish(
        connected_snapshot()
    )
    http = app.server.test_client()
    stats = http.get("/api/stats").get_json()
    metrics = scrape(http)
    assert metrics[("aurora_guilds", ())] == stats["guilds"]["count"] == 7
    assert metrics[("aurora_guilds_change_from_last_month", ())] == stats["guilds"]["changeFromLastMonth"] == 2
    assert metrics[("aurora_cached_users", ())] == stats["bot"]["cachedUsers"] == 41
    assert metrics[("aurora_active_users", ())] == stats["users"]["active"]
    assert metrics[("aurora_commands_24h", ())] == stats["commands"]["total"]
    assert metrics[("aurora_ping_milliseconds", ())] == stats["ping"]["avg"] == 42
    assert metrics[("aurora_shard_latency_milliseconds", (("shard", "0"),))] == 38
    assert ("aurora_shard_latency_milliseconds", (("shard", "1"),)) not in metrics  # unknown is absent, not 0
    assert metrics[("aurora_shard_status", (("shard", "1"), ("status", "reconnecting")))] == 1
    assert metrics[("aurora_bot_status", (("status", "connected"),))] == 1
    assert metrics[("aurora_bot_status", (("status", "disconnected"),))] == 0
    assert metrics[("aurora_bot_command_failures_total", (("command", "balance"),))] == 2
    assert metrics[("aurora_stats_stale", ())] == int(stats["stale"]) == 0
    assert metrics[("aurora_stats_available", ())] == 1
    # The request just made is counted by route and status (this process's registry).
    assert metrics[("aurora_http_requests_total", (("method", "GET"), ("route", "/api/stats"), ("status", "200")))] >= 1


def test_metrics_say_unavailable_rather_than_invent_numbers(make_app):
    app = make_app(database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")  # nothing listens there
    metrics = scrape(app.server.test_client())
    assert metrics[("aurora_stats_available", ())] == 0
    assert not any(name == "aurora_active_users" for name, _ in metrics)


def test_the_example_grafana_dashboard_asks_only_for_metrics_that_exist(make_app, web_role, redis_client, clock):
    app = make_app(**web_role)
    RedisSnapshotStore(redis_client, prefix=web_role["redis_prefix"], ttl_seconds=30, clock=clock).publish(connected_snapshot())
    http = app.server.test_client()
    http.get("/api/stats")
    text = http.get("/metrics").get_data(as_text=True)
    exposed = set()
    for family in text_string_to_metric_families(text):
        exposed.add(family.name)
        exposed.update(sample.name for sample in family.samples)
    dashboard = (Path(__file__).resolve().parents[2] / "deploy" / "grafana-aurora.json").read_text()
    asked = set(re.findall(r"\baurora_[a-z0-9_]+", dashboard)) - {"aurora_dashboard"}
    assert asked and asked <= exposed, asked - exposed


def test_prometheus_gets_openmetrics_when_it_asks_for_it(make_app):
    http = make_app().server.test_client()
    plain = http.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"  # Prometheus's
    open_metrics = http.get("/metrics", headers={"Accept": accept})
    assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert open_metrics.get_data(as_text=True).rstrip().endswith("# EOF")


def test_metrics_need_the_access_token_when_one_is_set(make_app):
    token = "metrics-access-token-0123456789"
    http = make_app(access_token=token).server.test_client()
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
