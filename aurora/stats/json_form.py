"""The public JSON/CSV shape of `Stats` (camelCase, the original dashboard's contract), written once.

Each shape below is both the answer's writer and its JSON Schema (`aurora.stats.json_shape`): the
API writes `/api/stats` with `STATS`, the OpenAPI document (`aurora.api.openapi`) publishes
`STATS.json_schema()`, and the page reads the same dicts.
"""

from __future__ import annotations

import csv
import io
import json

from aurora.bot.snapshot import BOT_STATUSES, OFFLINE_CAUSES
from aurora.queries.events import RECENT_EVENTS_LIMIT
from aurora.queries.figure_definitions import TOP_COMMANDS_LIMIT
from aurora.stats.command_health_form import COMMAND_HEALTH
from aurora.stats.day_form import ECONOMY, HOUR_BREAKDOWN, MODERATION
from aurora.stats.json_shape import (
    COUNT,
    HOUR_TIMESTAMP,
    NAMED_COUNT,
    STRING,
    TIMESTAMP,
    Prop,
    array,
    enum,
    leaf,
    obj,
)
from aurora.stats.model import (
    ACTIVITY_HOURS,
    ALERT_CONDITIONS,
    EVENT_KINDS,
    RESOLVED_SHOWN,
    AlertRecord,
    HourBreakdown,
    Stats,
)

BOOLEAN = leaf({"type": "boolean"})
PERCENT = leaf({"type": "number", "description": "percent, one decimal"}).nullable()
INTEGER = leaf({"type": "integer"}).nullable()

SHARD = obj(
    Prop("id", COUNT, "shard_id"),
    Prop("status", enum(BOT_STATUSES), "status"),
    Prop("latency", leaf({"type": "integer", "description": "gateway latency in ms"}, round).nullable(), "latency_ms"),
)
OFFLINE = obj(Prop("cause", enum(OFFLINE_CAUSES), "cause"), Prop("since", TIMESTAMP, "since")).nullable().described(
    "why the bot is not on Discord and since when: rejected_token is final (status "
    "disconnected); the others are retried with backoff (status reconnecting); null otherwise"
)
# Mostly the bot's snapshot, with what the stats know of it (simulated, uptime).
BOT = obj(
    Prop("status", enum(BOT_STATUSES), "bot.status"),
    Prop("simulated", BOOLEAN.described("true while the bot is logged in to the demo's simulated Discord, not Discord"),
         "simulated"),
    Prop("commandsRegistered", COUNT.nullable(), "bot.commands_registered"),
    Prop("cachedUsers", COUNT.nullable(), "bot.user_count"),
    Prop("lastCommandAt", TIMESTAMP.nullable(), "bot.last_command_at"),
    Prop("uptimeSeconds", COUNT.nullable(), "uptime_seconds"),
    Prop("commandFailures", array(NAMED_COUNT), "bot.command_failures"),
    Prop("offline", OFFLINE, "bot.offline"),
    Prop("shards", array(SHARD), "bot.shards"),
)
RECENT_EVENT = obj(Prop("type", enum(EVENT_KINDS), "kind"), Prop("message", STRING, "message"),
                   Prop("timestamp", TIMESTAMP, "timestamp"))
ACTIVITY_POINT = obj(Prop("hour", HOUR_TIMESTAMP, "hour"), Prop("commands", COUNT, "commands"),
                     Prop("transactions", COUNT, "transactions"))
ALERT = obj(Prop("condition", enum(ALERT_CONDITIONS), "condition"), Prop("since", TIMESTAMP, "since"),
            Prop("resolvedAt", TIMESTAMP.nullable(), "resolved_at"))
ALERTS = array(ALERT, before={
    "description": "active alerts (resolvedAt null), then the last resolved ones; empty while alerts are off",
    "maxItems": len(ALERT_CONDITIONS) + RESOLVED_SHOWN,
})

STATS = obj(
    Prop("generatedAt", TIMESTAMP, "generated_at"),
    Prop("demo", BOOLEAN.described("true while generated demo data is shown"), "demo"),
    Prop("stale", BOOLEAN.described("true while refreshes fail or lag"), "stale"),
    Prop("staleSince", TIMESTAMP.nullable().described(
        "when the served database figures were computed; null unless stale"), "stale_since"),
    Prop("bot", BOT),
    Prop("guilds", obj(Prop("count", COUNT.nullable(), "guild_count"),
                       Prop("changeFromLastMonth", INTEGER, "guild_change_from_last_month"))),
    Prop("users", obj(Prop("active", COUNT, "active_users"),
                      Prop("changePercentFromLastMonth", PERCENT, "active_users_change_percent"))),
    Prop("commands", obj(
        Prop("total", COUNT, "commands_total"),
        Prop("changePercentFromLastMonth", PERCENT, "commands_change_percent"),
        Prop("top", array(NAMED_COUNT, after={"maxItems": TOP_COMMANDS_LIMIT}), "top_commands"),
    )),
    Prop("ping", obj(Prop("avg", INTEGER, "ping_avg_ms"), Prop("changeFromLastHour", INTEGER, "ping_change_from_last_hour"))),
    Prop("recentEvents", array(RECENT_EVENT, before={"maxItems": RECENT_EVENTS_LIMIT}), "recent_events"),
    Prop("activityOverview", array(ACTIVITY_POINT, before={"minItems": ACTIVITY_HOURS, "maxItems": ACTIVITY_HOURS}),
         "activity"),
    Prop("alerts", ALERTS, "alerts"),
    Prop("economy", ECONOMY, "glance"),
    Prop("moderation", MODERATION, "glance"),
    Prop("commandHealth", COMMAND_HEALTH, "bot.command_health"),
)


def alerts_to_list(alerts: tuple[AlertRecord, ...]) -> list[dict]:
    return ALERTS.write(alerts)


def stats_to_dict(stats: Stats) -> dict:
    return STATS.write(stats)


def hour_breakdown_to_dict(breakdown: HourBreakdown) -> dict:
    """The JSON of `/api/activity/hours/<hour>`: counts only, no names but command names."""
    return HOUR_BREAKDOWN.write(breakdown)


def stats_to_json(stats: Stats) -> bytes:
    # allow_nan=False: a NaN/Infinity would be invalid JSON; fail loudly rather than emit it.
    return json.dumps(stats_to_dict(stats), allow_nan=False, separators=(",", ":")).encode()


def activity_to_csv(stats: Stats) -> str:
    """`/api/activity.csv`: the rows of `activityOverview`, its keys as the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ACTIVITY_POINT.schema["properties"])
    for point in stats.activity:
        writer.writerow(ACTIVITY_POINT.write(point).values())
    return buffer.getvalue()
