"""The public JSON/CSV shape of `Stats` (camelCase, the original dashboard's contract)."""

from __future__ import annotations

import csv
import io
import json

from aurora.api.command_health_contract import command_health_to_dict
from aurora.stats.kpi_changes import daily_mean_change, kind_change
from aurora.stats.model import COIN_FLOWS, AlertRecord, HourBreakdown, Spread, Stats, iso_utc


def _iso_or_none(moment) -> str | None:
    return iso_utc(moment) if moment is not None else None


def alerts_to_list(alerts: tuple[AlertRecord, ...]) -> list[dict]:
    return [
        {"condition": alert.condition, "since": iso_utc(alert.since), "resolvedAt": _iso_or_none(alert.resolved_at)}
        for alert in alerts
    ]


def stats_to_dict(stats: Stats) -> dict:
    bot = stats.bot
    return {
        "generatedAt": iso_utc(stats.generated_at),
        "demo": stats.demo,
        "stale": stats.stale,
        "staleSince": _iso_or_none(stats.stale_since),
        "bot": {
            "status": bot.status,
            "simulated": stats.simulated,
            "commandsRegistered": bot.commands_registered,
            "cachedUsers": bot.user_count,
            "lastCommandAt": _iso_or_none(bot.last_command_at),
            "uptimeSeconds": stats.uptime_seconds,
            "commandFailures": [{"name": item.name, "count": item.count} for item in bot.command_failures],
            "offline": (
                {"cause": bot.offline.cause, "since": iso_utc(bot.offline.since)} if bot.offline is not None else None
            ),
            "shards": [
                {
                    "id": shard.shard_id,
                    "status": shard.status,
                    "latency": round(shard.latency_ms) if shard.latency_ms is not None else None,
                }
                for shard in bot.shards
            ],
        },
        "guilds": {
            "count": stats.guild_count,
            "changeFromLastMonth": stats.guild_change_from_last_month,
        },
        "users": {
            "active": stats.active_users,
            "changePercentFromLastMonth": stats.active_users_change_percent,
        },
        "commands": {
            "total": stats.commands_total,
            "changePercentFromLastMonth": stats.commands_change_percent,
            "top": [{"name": item.name, "count": item.count} for item in stats.top_commands],
        },
        "ping": {"avg": stats.ping_avg_ms, "changeFromLastHour": stats.ping_change_from_last_hour},
        "recentEvents": [
            {"type": event.kind, "message": event.message, "timestamp": iso_utc(event.timestamp)}
            for event in stats.recent_events
        ],
        "activityOverview": [
            {"hour": iso_utc(point.hour), "commands": point.commands, "transactions": point.transactions}
            for point in stats.activity
        ],
        "alerts": alerts_to_list(stats.alerts),
        **glance_to_dict(stats),
        "commandHealth": command_health_to_dict(bot.command_health),
    }


def glance_to_dict(stats: Stats) -> dict:
    """`economy` and `moderation`: the chart's 24 hours by kind against the 30-day daily mean; null
    while their hours are still being counted."""
    glance = stats.glance
    if glance is None:
        return {"economy": None, "moderation": None}
    by_kind = {totals.kind: totals for totals in glance.transactions}
    economy: dict = {}
    for flow, kind in COIN_FLOWS:
        totals = by_kind.get(kind)
        coins, baseline = (totals.coins, totals.baseline_coins) if totals else (0, 0)
        economy[flow] = {"coins": coins, "changePercentFromDailyMean": daily_mean_change(coins, baseline)}
    economy["byKind"] = [
        {"kind": totals.kind, "count": totals.count, "coins": totals.coins,
         "changePercentFromDailyMean": kind_change(totals, coins=True)}
        for totals in glance.transactions
    ]
    cases = glance.cases
    moderation = {
        "total": {
            "count": sum(totals.count for totals in cases),
            "changePercentFromDailyMean": daily_mean_change(
                sum(totals.count for totals in cases), sum(totals.baseline_count for totals in cases)
            ),
        },
        "byKind": [
            {"kind": totals.kind, "count": totals.count, "changePercentFromDailyMean": kind_change(totals, coins=False)}
            for totals in cases
        ],
    }
    return {"economy": economy, "moderation": moderation}


def _spread(spread: Spread) -> dict:
    return {"mean": round(spread.mean, 2), "min": spread.min, "max": spread.max}


def hour_breakdown_to_dict(breakdown: HourBreakdown) -> dict:
    """The JSON of `/api/activity/hours/<hour>`: counts only, no names but command names."""
    return {
        "hour": iso_utc(breakdown.hour),
        "commands": {
            "total": breakdown.commands_total,
            "byName": [{"name": item.name, "count": item.count} for item in breakdown.commands],
        },
        "transactions": {
            "total": sum(item.count for item in breakdown.transactions),
            "coins": sum(item.coins for item in breakdown.transactions),
            "byKind": [{"kind": item.kind, "count": item.count, "coins": item.coins} for item in breakdown.transactions],
        },
        "moderation": {
            "total": sum(item.count for item in breakdown.cases),
            "byKind": [{"kind": item.kind, "count": item.count} for item in breakdown.cases],
        },
        # The earlier days in summary only: a list per day would let a client rebuild their hourly series.
        "sameHourPreviousDays": {
            "commands": _spread(breakdown.same_hour.commands),
            "transactions": _spread(breakdown.same_hour.transactions),
        },
    }


def stats_to_json(stats: Stats) -> bytes:
    # allow_nan=False: a NaN/Infinity would be invalid JSON; fail loudly rather than emit it.
    return json.dumps(stats_to_dict(stats), allow_nan=False, separators=(",", ":")).encode()


def activity_to_csv(stats: Stats) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["hour", "commands", "transactions"])
    for point in stats.activity:
        writer.writerow([iso_utc(point.hour), point.commands, point.transactions])
    return buffer.getvalue()
