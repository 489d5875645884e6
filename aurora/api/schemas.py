"""The schemas of the API's answers and headers, for the OpenAPI document (`aurora.api.openapi`)."""

from __future__ import annotations

from aurora.alerts.state import RESOLVED_SHOWN
from aurora.layouts.bot_health_figures import INTERACTION_KINDS
from aurora.queries.events import RECENT_EVENTS_LIMIT
from aurora.queries.figure_definitions import HOURS, TOP_COMMANDS_LIMIT
from aurora.stats.model import ALERT_CONDITIONS, BOT_STATUSES, COIN_FLOWS, EVENT_KINDS, OFFLINE_CAUSES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"

ISO_UTC_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def object_schema(properties: dict, **extra) -> dict:
    """A closed object: every property present (null where the contract allows), nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


TIMESTAMP = {"type": "string", "format": "date-time", "pattern": ISO_UTC_PATTERN}
COUNT = {"type": "integer", "minimum": 0}
NAMED_COUNT = object_schema({"name": {"type": "string"}, "count": COUNT})
# Sums of BIGINT amounts: exact whatever their size, so they can pass 2^53 (and 64 bits).
COINS = {
    **COUNT,
    "description": "sum of absolute amounts, always exact: it may exceed 2^53 - 1 (and 64 bits), where a "
    "JSON parser reading numbers as doubles rounds it; read it as a big integer to keep every digit",
}


def stats_schema() -> dict:
    shard = object_schema(
        {
            "id": COUNT,
            "status": {"type": "string", "enum": list(BOT_STATUSES)},
            "latency": nullable({"type": "integer", "description": "gateway latency in ms"}),
        }
    )
    bot = object_schema(
        {
            "status": {"type": "string", "enum": list(BOT_STATUSES)},
            "simulated": {
                "type": "boolean",
                "description": "true while the bot is logged in to the demo's simulated Discord, not Discord",
            },
            "commandsRegistered": nullable(COUNT),
            "cachedUsers": nullable(COUNT),
            "lastCommandAt": nullable(TIMESTAMP),
            "uptimeSeconds": nullable(COUNT),
            "commandFailures": {"type": "array", "items": NAMED_COUNT},
            "offline": {
                **nullable(object_schema({"cause": {"type": "string", "enum": list(OFFLINE_CAUSES)}, "since": TIMESTAMP})),
                "description": "why the bot is not on Discord and since when: rejected_token is final (status "
                "disconnected); the others are retried with backoff (status reconnecting); null otherwise",
            },
            "shards": {"type": "array", "items": shard},
        }
    )
    percent = {"type": "number", "description": "percent, one decimal"}
    return object_schema(
        {
            "generatedAt": TIMESTAMP,
            "demo": {"type": "boolean", "description": "true while generated demo data is shown"},
            "stale": {"type": "boolean", "description": "true while refreshes fail or lag"},
            "staleSince": {
                **nullable(TIMESTAMP),
                "description": "when the served database figures were computed; null unless stale",
            },
            "bot": bot,
            "guilds": object_schema({"count": nullable(COUNT), "changeFromLastMonth": nullable({"type": "integer"})}),
            "users": object_schema({"active": COUNT, "changePercentFromLastMonth": nullable(percent)}),
            "commands": object_schema(
                {
                    "total": COUNT,
                    "changePercentFromLastMonth": nullable(percent),
                    "top": {"type": "array", "items": NAMED_COUNT, "maxItems": TOP_COMMANDS_LIMIT},
                }
            ),
            "ping": object_schema(
                {"avg": nullable({"type": "integer"}), "changeFromLastHour": nullable({"type": "integer"})}
            ),
            "recentEvents": {
                "type": "array",
                "maxItems": RECENT_EVENTS_LIMIT,
                "items": object_schema(
                    {
                        "type": {"type": "string", "enum": list(EVENT_KINDS)},
                        "message": {"type": "string"},
                        "timestamp": TIMESTAMP,
                    }
                ),
            },
            "activityOverview": {
                "type": "array",
                "minItems": HOURS,
                "maxItems": HOURS,
                "items": object_schema(
                    {
                        "hour": {**TIMESTAMP, "pattern": r"^\d{4}-\d\d-\d\dT\d\d:00:00Z$"},
                        "commands": COUNT,
                        "transactions": COUNT,
                    }
                ),
            },
            "alerts": {
                "type": "array",
                "description": "active alerts (resolvedAt null), then the last resolved ones; empty while alerts are off",
                "maxItems": len(ALERT_CONDITIONS) + RESOLVED_SHOWN,
                "items": object_schema(
                    {
                        "condition": {"type": "string", "enum": list(ALERT_CONDITIONS)},
                        "since": TIMESTAMP,
                        "resolvedAt": nullable(TIMESTAMP),
                    }
                ),
            },
            **glance_schemas(),
            "commandHealth": command_health_schema(),
        }
    )


PERCENT_FROM_DAILY_MEAN = {
    "type": ["number", "null"],
    "description": "percent change against the daily mean of the 30 days before, one decimal; null for a zero mean",
}
HOUR_TIMESTAMP = {**TIMESTAMP, "pattern": r"^\d{4}-\d\d-\d\dT\d\d:00:00Z$"}


def glance_schemas() -> dict:
    """`economy` and `moderation` of Stats: the activity chart's 24 hours by kind; null while counted."""
    flow = object_schema({"coins": COINS, "changePercentFromDailyMean": PERCENT_FROM_DAILY_MEAN})
    economy = object_schema(
        {
            **{name: flow for name, _ in COIN_FLOWS},
            "byKind": {
                "type": "array",
                "items": object_schema(
                    {"kind": {"type": "string"}, "count": COUNT, "coins": COINS,
                     "changePercentFromDailyMean": PERCENT_FROM_DAILY_MEAN}
                ),
            },
        }
    )
    moderation = object_schema(
        {
            "total": object_schema({"count": COUNT, "changePercentFromDailyMean": PERCENT_FROM_DAILY_MEAN}),
            "byKind": {
                "type": "array",
                "items": object_schema(
                    {"kind": {"type": "string"}, "count": COUNT, "changePercentFromDailyMean": PERCENT_FROM_DAILY_MEAN}
                ),
            },
        }
    )
    return {"economy": nullable(economy), "moderation": nullable(moderation)}


def hour_breakdown_schema() -> dict:
    spread = object_schema({"mean": {"type": "number", "minimum": 0}, "min": COUNT, "max": COUNT})
    return object_schema(
        {
            "hour": HOUR_TIMESTAMP,
            "commands": object_schema({"total": COUNT, "byName": {"type": "array", "items": NAMED_COUNT}}),
            "transactions": object_schema(
                {
                    "total": COUNT,
                    "coins": COINS,
                    "byKind": {
                        "type": "array",
                        "items": object_schema({"kind": {"type": "string"}, "count": COUNT, "coins": COINS}),
                    },
                }
            ),
            "moderation": object_schema(
                {
                    "total": COUNT,
                    "byKind": {"type": "array", "items": object_schema({"kind": {"type": "string"}, "count": COUNT})},
                }
            ),
            "sameHourPreviousDays": object_schema({"commands": spread, "transactions": spread}),
        }
    )


def error_schema(status: int) -> dict:
    """The JSON error body every non-2xx answer carries, here for `status`."""
    return object_schema({"error": object_schema({"status": {"type": "integer", "const": status}, "message": {"type": "string"}})})


def header(description: str, schema: dict, *, required: bool = True) -> dict:
    return {"description": description, "required": required, "schema": schema}


SECONDS = {"type": "integer", "minimum": 0}
# On every answer of an API route while the rate limit is on (a count never fails: while Redis is
# unreachable it is kept in memory), and on none while it is off.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": header("requests allowed per window", SECONDS),
    "X-RateLimit-Remaining": header("requests left in the current window", SECONDS),
    "X-RateLimit-Reset": header("when the window resets, in Unix seconds", SECONDS),
}
RETRY_AFTER = {"Retry-After": header("seconds until a retry can succeed (sent with 429 and 503 only)", SECONDS)}
NO_STORE = {"Cache-Control": header("never cached", {"type": "string", "const": "no-store"})}


def command_health_schema() -> dict:
    ms = nullable({"type": "integer", "minimum": 0, "description": "ms from the interaction's creation"})
    percent = {"type": "number", "minimum": 0, "maximum": 100}
    command = object_schema(
        {
            "name": {"type": "string", "description": "a registered command, or (buttons), (selects), (modals), (unregistered)"},
            "kind": {"type": "string", "enum": list(INTERACTION_KINDS)},
            "runs": COUNT, "failures": COUNT, "failurePercent": percent,
            "late": {**COUNT, "description": "answers Discord refused as too late (10062) or sent after 3 s"},
            "p50Ms": ms, "p95Ms": ms, "p99Ms": ms,
            "ackP95Ms": {**ms, "description": "to the first answer (ack), 95th percentile"},
        }
    )
    hour = object_schema(
        {"hour": {**TIMESTAMP, "pattern": r"^\d{4}-\d\d-\d\dT\d\d:00:00Z$"}, "runs": COUNT, "p95Ms": ms, "late": COUNT}
    )
    return nullable(
        object_schema(
            {
                "since": {**TIMESTAMP, "description": "where the window starts: 24 h ago, or the bot's start without Redis"},
                "commands": {"type": "array", "items": command},
                "hours": {"type": "array", "items": hour, "minItems": HOURS, "maxItems": HOURS},
                "lateLastHour": COUNT,
                "gateway": object_schema(
                    {
                        "guildsJoined": COUNT, "guildsLeft": COUNT, "reconnects": COUNT, "resumes": COUNT,
                        "connectedPercent": nullable({**percent, "description": "share of the time since the first connection that was connected"}),
                    }
                ),
                "process": object_schema(
                    {"rssBytes": nullable(COUNT), "cpuPercent": nullable({"type": "number", "minimum": 0})}
                ),
            },
            description="The bot's answers per command and its gateway over the last 24 h; null without a bot",
        )
    )
