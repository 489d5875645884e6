"""Bot health for /metrics: `aurora_command_duration_seconds{command}`, counted since the bot process
started as Prometheus expects of a histogram (a restart is a counter reset, not the rolling window),
and the late answers since then. Labels are the registered commands and the fixed component rows."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from aurora.bot.command_health.figures import CommandHealth
from aurora.bot.command_health.histogram import BOUNDS_MS

BUCKET_BOUNDS = tuple(f"{ms / 1000:g}" for ms in BOUNDS_MS) + ("+Inf",)


def command_health_metrics(health: CommandHealth | None) -> Iterator[Metric]:
    if health is None:
        return
    durations = HistogramMetricFamily(
        "aurora_command_duration_seconds",
        "Seconds from an interaction's creation to its end, per command, since the bot process started",
        labels=["command"],
    )
    for item in health.lifetime:
        durations.add_metric(
            [item.name], list(zip(BUCKET_BOUNDS, accumulate(item.bucket_counts), strict=True)), item.sum_seconds
        )
    yield durations
    yield CounterMetricFamily(
        "aurora_command_late_answers",
        "Interactions answered too late for Discord (10062, or an ack after 3 s) since the bot process started",
        value=health.late_total,
    )
