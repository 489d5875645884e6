"""`GET /metrics` in the Prometheus text format.

Two kinds of figures:

- The dashboard's numbers (guilds, users, commands, ping, bot status, stale flag...) are read from
  the current `Stats` at scrape time, through the same contract as `/api/stats`, so both always
  agree and every worker answers the same (they all read the shared snapshot and stats).
- Per-process counters and histograms (HTTP requests by route and status, stats computations and
  their duration). Under gunicorn, `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh
  folder before any worker starts; prometheus_client then writes these to files there and the
  scrape sums every worker's, whichever worker answers it.

/metrics is an ordinary Flask route: access control added to all routes covers it, and it is not
part of the API's rate-limit budget (a scraper must not be refused).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client import values as prometheus_values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine

from aurora.bot.command_health.exposition import command_health_metrics
from aurora.bot.snapshot import BOT_STATUSES
from aurora.protocols import StatsCompute
from aurora.stats.json_form import stats_to_dict
from aurora.stats.model import ALERT_CONDITIONS, DatabaseStats, FiguresPreparing
from aurora.stats.service import StatsService, StatsUnavailable

# `*_created` series double the output and no dashboard here uses them.
disable_created_metrics()

# Label values come from closed sets, so no client can add series: any other method is `other`,
# a path no URL rule matched is `unmatched` (the rule, never the path, otherwise).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"
_STARTED_KEY = "aurora.request_started"
METRICS_PATH = "/metrics"
METRICS_ENDPOINT = "aurora_metrics"

# Registered in a registry of our own, not prometheus_client's global one: tests build many apps
# in one process, and the global registry also carries collectors that multiprocess mode lacks.
PROCESS_REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "aurora_http_requests", "HTTP requests answered, by route, method and status",
    ["route", "method", "status"], registry=PROCESS_REGISTRY,
)
HTTP_LATENCY = Histogram(
    "aurora_http_request_duration_seconds", "Time to answer (to the first byte for streams), by route and status",
    ["route", "method", "status"], registry=PROCESS_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STATS_COMPUTATIONS = Counter(
    "aurora_stats_computations", "Database stats computations run by this deployment's web processes",
    registry=PROCESS_REGISTRY,
)
STATS_COMPUTATION_FAILURES = Counter(
    "aurora_stats_computation_failures", "Database stats computations that failed", registry=PROCESS_REGISTRY,
)
STATS_SHARED = Counter(
    "aurora_stats_shared", "Stats refreshes answered with the result another process computed",
    registry=PROCESS_REGISTRY,
)
PAGE_RENDERS = Counter(
    "aurora_page_renders", "Renders of the page's figures for one stats version and one view (time zone)",
    registry=PROCESS_REGISTRY,
)
STATS_COMPUTATION_SECONDS = Histogram(
    "aurora_stats_computation_seconds", "Duration of one database stats computation", registry=PROCESS_REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def multiprocess_mode() -> bool:
    """True when prometheus_client found PROMETHEUS_MULTIPROC_DIR at import (gunicorn.conf.py)."""
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def timed_compute(inner: StatsCompute) -> StatsCompute:
    """Wrap a stats compute so each real computation is counted and timed."""

    def compute(engine: Engine, now: datetime) -> DatabaseStats:
        started = time.perf_counter()
        STATS_COMPUTATIONS.inc()
        try:
            return inner(engine, now)
        except FiguresPreparing:
            raise  # progress, not a failure
        except Exception:
            STATS_COMPUTATION_FAILURES.inc()
            raise
        finally:
            STATS_COMPUTATION_SECONDS.observe(time.perf_counter() - started)

    return compute


def observe_refresh_source(source: str) -> None:
    if source == "shared":
        STATS_SHARED.inc()


def _gauge(name: str, documentation: str, value, labels: dict[str, str] | None = None) -> GaugeMetricFamily | None:
    if value is None:
        return None  # Prometheus has "absent" for "unknown"; a zero would be a made-up number
    family = GaugeMetricFamily(name, documentation, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), float(value))
    return family


class StatsCollector:
    """The dashboard's figures as gauges, computed from the current stats at each scrape."""

    def __init__(self, service: StatsService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        try:
            current = self._service.current()
        except StatsUnavailable:
            yield _gauge("aurora_stats_available", "1 once the database figures have been computed", 0)
            return
        yield _gauge("aurora_stats_available", "1 once the database figures have been computed", 1)
        yield from command_health_metrics(current.bot.command_health)
        stats = stats_to_dict(current)
        bot = stats["bot"]
        single = (
            ("aurora_guilds", "Servers the bot is in", stats["guilds"]["count"]),
            ("aurora_guilds_change_from_last_month", "Change in servers over 30 days", stats["guilds"]["changeFromLastMonth"]),
            ("aurora_cached_users", "Users in the bot's cache", bot["cachedUsers"]),
            ("aurora_active_users", "Registered users marked active", stats["users"]["active"]),
            ("aurora_commands_24h", "Commands run in the last 24 hours", stats["commands"]["total"]),
            ("aurora_ping_milliseconds", "Average gateway latency over the last hour", stats["ping"]["avg"]),
            ("aurora_bot_commands_registered", "Slash commands the bot registered", bot["commandsRegistered"]),
            ("aurora_bot_uptime_seconds", "Seconds since the bot connected", bot["uptimeSeconds"]),
            ("aurora_stats_stale", "1 when the database figures are older than they should be", int(stats["stale"])),
            ("aurora_demo_data", "1 when the figures come from generated demo data", int(stats["demo"])),
            ("aurora_bot_simulated", "1 when the bot is logged in to the demo's simulated Discord",
             int(bot["simulated"])),
            ("aurora_stats_generated_timestamp_seconds", "When the figures were generated (Unix time)",
             datetime.fromisoformat(stats["generatedAt"]).timestamp()),
        )
        for name, documentation, value in single:
            if (family := _gauge(name, documentation, value)) is not None:
                yield family
        status = GaugeMetricFamily("aurora_bot_status", "1 for the bot's current status", labels=["status"])
        for name in BOT_STATUSES:
            status.add_metric([name], 1.0 if bot["status"] == name else 0.0)
        yield status
        runs = GaugeMetricFamily("aurora_command_runs_24h", "Runs per command in the last 24 hours (top 10)",
                                 labels=["command"])
        for item in stats["commands"]["top"]:
            runs.add_metric([item["name"]], float(item["count"]))
        yield runs
        latency = GaugeMetricFamily("aurora_shard_latency_milliseconds", "Gateway latency per shard", labels=["shard"])
        shard_status = GaugeMetricFamily("aurora_shard_status", "1 for each shard's current status",
                                         labels=["shard", "status"])
        for shard in bot["shards"]:
            if shard["latency"] is not None:
                latency.add_metric([str(shard["id"])], float(shard["latency"]))
            shard_status.add_metric([str(shard["id"]), shard["status"]], 1.0)
        yield latency
        yield shard_status
        failures = CounterMetricFamily("aurora_bot_command_failures", "Failed command runs since the bot started",
                                       labels=["command"])
        for item in bot["commandFailures"]:
            failures.add_metric([item["name"]], float(item["count"]))
        yield failures
        active = {alert["condition"] for alert in stats["alerts"] if alert["resolvedAt"] is None}
        alerts = GaugeMetricFamily("aurora_alert_active", "1 while an alert is active for the condition",
                                   labels=["condition"])
        for condition in ALERT_CONDITIONS:
            alerts.add_metric([condition], 1.0 if condition in active else 0.0)
        yield alerts


class _ProcessMetrics:
    """This process's counters when no multiprocess folder is in use (one process, e.g. app.py)."""

    def collect(self) -> Iterator[Metric]:
        return PROCESS_REGISTRY.collect()


def render(service: StatsService, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition (text format, or OpenMetrics if `accept` asks for it) and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(StatsCollector(service))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class _StartTime:
    """WSGI middleware: the moment a request arrived, before any Flask hook (an access check
    that refuses early is still timed)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[_STARTED_KEY] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def _observe(response: Response) -> Response:
    started = request.environ.get(_STARTED_KEY)
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    method = request.method if request.method in HTTP_METHODS else OTHER_METHOD
    # Statuses need no folding: only the app's own code sets them, from a handful of values.
    labels = (route, method, str(response.status_code))
    HTTP_REQUESTS.labels(*labels).inc()
    if started is not None:
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
    return response


def install_metrics(server: Flask, service: StatsService) -> None:
    """`/metrics` for `service`'s figures and this process's counters; every request counted and timed."""

    def metrics() -> Response:
        body, content_type = render(service, request.headers.get("Accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    server.wsgi_app = _StartTime(server.wsgi_app)
    server.after_request(_observe)
    server.add_url_rule(METRICS_PATH, endpoint=METRICS_ENDPOINT, view_func=metrics, methods=["GET"],
                        provide_automatic_options=False)
