"""The public shape of bot health, written once: `commandHealth` in `/api/stats` (answer and schema)
and the per-command table as CSV (`/api/commands.csv`). Aggregates only: registered command names
(or a kind of component), counts and durations."""

from __future__ import annotations

import csv
import io

from aurora.bot.command_health.figures import INTERACTION_KINDS, CommandHealth, CommandTiming, GatewayHealth
from aurora.stats.json_shape import (
    COUNT,
    HOUR_TIMESTAMP,
    STRING,
    TIMESTAMP,
    Prop,
    array,
    enum,
    leaf,
    obj,
    rounded,
)
from aurora.stats.model import ACTIVITY_HOURS


def failure_percent(row: CommandTiming) -> float:
    return round(100 * row.failures / row.runs, 1) if row.runs else 0.0


def connected_percent(gateway: GatewayHealth) -> float | None:
    return round(gateway.connected_share * 100, 1) if gateway.connected_share is not None else None


MS = leaf({"type": "integer", "minimum": 0, "description": "ms from the interaction's creation"}, rounded).nullable()
PERCENT = leaf({"type": "number", "minimum": 0, "maximum": 100})

COMMAND = obj(
    Prop("name", STRING.described("a registered command, or (buttons), (selects), (modals), (unregistered)"), "name"),
    Prop("kind", enum(INTERACTION_KINDS), "kind"),
    Prop("runs", COUNT, "runs"),
    Prop("failures", COUNT, "failures"),
    Prop("failurePercent", PERCENT, failure_percent),
    Prop("late", COUNT.described("answers Discord refused as too late (10062) or sent after 3 s"), "late"),
    Prop("p50Ms", MS, "p50_ms"),
    Prop("p95Ms", MS, "p95_ms"),
    Prop("p99Ms", MS, "p99_ms"),
    Prop("ackP95Ms", MS.described("to the first answer (ack), 95th percentile"), "ack_p95_ms"),
)
HOUR = obj(Prop("hour", HOUR_TIMESTAMP, "hour"), Prop("runs", COUNT, "runs"), Prop("p95Ms", MS, "p95_ms"),
           Prop("late", COUNT, "late"))
GATEWAY = obj(
    Prop("guildsJoined", COUNT, "guilds_joined"),
    Prop("guildsLeft", COUNT, "guilds_left"),
    Prop("reconnects", COUNT, "reconnects"),
    Prop("resumes", COUNT, "resumes"),
    Prop("connectedPercent",
         PERCENT.described("share of the time since the first connection that was connected").nullable(),
         connected_percent),
)
PROCESS = obj(Prop("rssBytes", COUNT.nullable(), "rss_bytes"),
              Prop("cpuPercent", leaf({"type": "number", "minimum": 0}).nullable(), "cpu_percent"))

COMMAND_HEALTH = obj(
    Prop("since", TIMESTAMP.described("where the window starts: 24 h ago, or the bot's start without Redis"), "since"),
    Prop("commands", array(COMMAND), "commands"),
    Prop("hours", array(HOUR, after={"minItems": ACTIVITY_HOURS, "maxItems": ACTIVITY_HOURS}), "hours"),
    Prop("lateLastHour", COUNT, "late_last_hour"),
    Prop("gateway", GATEWAY, "gateway"),
    Prop("process", PROCESS),
    description="The bot's answers per command and its gateway over the last 24 h; null without a bot",
).nullable()

# The CSV's columns, each the JSON value of one key of COMMAND: the two forms cannot disagree.
CSV_COLUMNS = {
    "command": "name", "kind": "kind", "runs": "runs", "p50_ms": "p50Ms", "p95_ms": "p95Ms", "p99_ms": "p99Ms",
    "failures": "failures", "failure_percent": "failurePercent", "late": "late",
}


def command_health_csv(health: CommandHealth | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in health.commands if health is not None else ():
        written = COMMAND.write(row)
        writer.writerow([written[key] for key in CSV_COLUMNS.values()])
    return buffer.getvalue()
