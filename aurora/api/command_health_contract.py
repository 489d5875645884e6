"""The public shape of bot health: `commandHealth` in `/api/stats` (its schema is
`aurora.api.schemas.command_health_schema`) and the per-command table as CSV (`/api/commands.csv`). Aggregates only: registered command
names (or a kind of component), counts and durations."""

from __future__ import annotations

import csv
import io

from aurora.layouts.bot_health_figures import CommandHealth, CommandTiming
from aurora.stats.model import iso_utc

CSV_COLUMNS = ("command", "kind", "runs", "p50_ms", "p95_ms", "p99_ms", "failures", "failure_percent", "late")


def _ms(value: float | None) -> int | None:
    return round(value) if value is not None else None


def failure_percent(row: CommandTiming) -> float:
    return round(100 * row.failures / row.runs, 1) if row.runs else 0.0


def command_health_to_dict(health: CommandHealth | None) -> dict | None:
    if health is None:
        return None
    gateway = health.gateway
    return {
        "since": iso_utc(health.since),
        "commands": [
            {
                "name": row.name, "kind": row.kind, "runs": row.runs, "failures": row.failures,
                "failurePercent": failure_percent(row), "late": row.late,
                "p50Ms": _ms(row.p50_ms), "p95Ms": _ms(row.p95_ms), "p99Ms": _ms(row.p99_ms),
                "ackP95Ms": _ms(row.ack_p95_ms),
            }
            for row in health.commands
        ],
        "hours": [
            {"hour": iso_utc(hour.hour), "runs": hour.runs, "p95Ms": _ms(hour.p95_ms), "late": hour.late}
            for hour in health.hours
        ],
        "lateLastHour": health.late_last_hour,
        "gateway": {
            "guildsJoined": gateway.guilds_joined, "guildsLeft": gateway.guilds_left,
            "reconnects": gateway.reconnects, "resumes": gateway.resumes,
            "connectedPercent": round(gateway.connected_share * 100, 1) if gateway.connected_share is not None else None,
        },
        "process": {"rssBytes": health.rss_bytes, "cpuPercent": health.cpu_percent},
    }


def command_health_csv(health: CommandHealth | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in health.commands if health is not None else ():
        writer.writerow([row.name, row.kind, row.runs, _ms(row.p50_ms), _ms(row.p95_ms), _ms(row.p99_ms),
                         row.failures, failure_percent(row), row.late])
    return buffer.getvalue()
