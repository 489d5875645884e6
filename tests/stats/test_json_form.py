"""The stats' public shape, defined once: every answer it writes validates against the schema it
publishes, key for key and in the same order, and the other forms (CSV, Redis) agree with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import jsonschema_rs
import pytest

from aurora.bot.command_health.figures import CommandHealth, CommandTiming, GatewayHealth, HealthHour
from aurora.bot.snapshot import BotOffline, BotSnapshot
from aurora.scaleout.codec import dumps, loads
from aurora.stats.combined import combine
from aurora.stats.command_health_form import COMMAND, CSV_COLUMNS, command_health_csv
from aurora.stats.json_form import HOUR_BREAKDOWN, STATS, stats_to_dict, stats_to_json
from aurora.stats.model import (
    ActivityPoint,
    AlertRecord,
    CommandCount,
    DatabaseStats,
    DayAtAGlance,
    HourBreakdown,
    KindCount,
    KindTotals,
    RecentEvent,
    SameHourSpread,
    SameHourTotals,
    Spread,
)
from tests.support import NOW, connected_snapshot

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
HOURS = tuple(HOUR - timedelta(hours=23 - index) for index in range(24))


def command_health() -> CommandHealth:
    return CommandHealth(
        since=NOW - timedelta(hours=24),
        commands=(CommandTiming("balance", "slash", 12, 1, 1, 41.5, 180.5, 950.4, 12.5),
                  CommandTiming("(buttons)", "button", 0, 0, 0, None, None, None, None)),
        hours=tuple(HealthHour(hour, index, None if index % 2 else index * 1.5, 0) for index, hour in enumerate(HOURS)),
        late_last_hour=1,
        gateway=GatewayHealth(guilds_joined=2, connected_share=0.98765),
        rss_bytes=123456, cpu_percent=1.5,
    )


def database(*, glance: bool) -> DatabaseStats:
    return DatabaseStats(
        computed_at=NOW, active_users=10, active_users_month_ago=8, commands_24h=30, commands_previous_30_days=600,
        recent_events=(RecentEvent("success", "a message", NOW - timedelta(minutes=2)),),
        activity=tuple(ActivityPoint(hour, 2, 1) for hour in HOURS),
        top_commands=(CommandCount("ping", 12),),
        glance=DayAtAGlance(
            same_hour=tuple(SameHourTotals(hour, 14, 7) for hour in HOURS),
            transactions=(KindTotals("TRANSFER_IN", 3, 2**70, 30, 2**71), KindTotals("SHOP_BUY", 1, 50, 0, 0)),
            cases=(KindTotals("ban", 1, 0, 60, 0),),
        ) if glance else None,
    )


FILLED = combine(
    database(glance=True),
    connected_snapshot(last_command_at=NOW, offline=BotOffline("discord_error", NOW), command_health=command_health()),
    demo=True, stale=True, stale_since=NOW - timedelta(minutes=1),
    alerts=(AlertRecord("ping_high", NOW), AlertRecord("bot_offline", NOW - timedelta(hours=1), NOW)),
)
EMPTY = combine(database(glance=False), BotSnapshot(status="disabled", taken_at=NOW), demo=False, stale=False,
                stale_since=None)


def keys_in_schema_order(value, schema: dict) -> None:
    """Every object written has exactly its schema's properties, in the schema's order."""
    if isinstance(value, dict):
        assert list(value) == list(schema["properties"])
        for key, item in value.items():
            keys_in_schema_order(item, schema["properties"][key])
    elif isinstance(value, list):
        for item in value:
            keys_in_schema_order(item, schema["items"])


@pytest.mark.parametrize("stats", [FILLED, EMPTY], ids=["every-field-filled", "every-nullable-null"])
def test_the_written_stats_validate_against_the_published_schema(stats):
    schema = STATS.json_schema()
    written = stats_to_dict(stats)
    jsonschema_rs.validator_for(schema, validate_formats=True).validate(written)
    keys_in_schema_order(written, schema)


def test_the_filled_stats_really_fill_the_nullable_fields():
    written = stats_to_dict(FILLED)
    assert written["economy"]["transferred"] == {"coins": 2**70, "changePercentFromDailyMean": 1400.0}
    assert written["moderation"]["total"] == {"count": 1, "changePercentFromDailyMean": -50.0}
    assert written["bot"]["offline"] == {"cause": "discord_error", "since": written["generatedAt"]}
    assert written["commandHealth"]["gateway"]["connectedPercent"] == 98.8
    assert [alert["resolvedAt"] is None for alert in written["alerts"]] == [True, False]
    # Beyond 64 bits the coins stay exact in the bytes too.
    assert str(2**70) in stats_to_json(FILLED).decode()


def test_an_hour_breakdown_validates_against_its_schema():
    breakdown = HourBreakdown(
        hour=HOUR, commands_total=3, commands=(CommandCount("ping", 2),),
        transactions=(KindCount("SHOP_BUY", 2, 70),), cases=(KindCount("warn", 1),),
        same_hour=SameHourSpread(Spread.of([1, 2, 4]), Spread.of([0, 0, 1])),
    )
    schema = HOUR_BREAKDOWN.json_schema()
    written = HOUR_BREAKDOWN.write(breakdown)
    jsonschema_rs.validator_for(schema, validate_formats=True).validate(written)
    keys_in_schema_order(written, schema)
    assert written["sameHourPreviousDays"]["commands"] == {"mean": 2.33, "min": 1, "max": 4}
    assert written["moderation"] == {"total": 1, "byKind": [{"kind": "warn", "count": 1}]}


def test_the_commands_csv_holds_the_json_values_of_each_command():
    health = command_health()
    lines = command_health_csv(health).splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == "balance,slash,12,42,180,950,1,8.3,1"
    assert lines[2] == "(buttons),button,0,,,,0,0.0,0"
    for line, row in zip(lines[1:], health.commands, strict=True):
        written = COMMAND.write(row)
        assert line == ",".join("" if written[key] is None else str(written[key]) for key in CSV_COLUMNS.values())
    assert command_health_csv(None) == lines[0] + "\r\n"


def test_the_redis_form_carries_everything_the_public_form_shows():
    bot = loads(BotSnapshot, dumps(FILLED.bot))
    database_stats = loads(DatabaseStats, dumps(database(glance=True)))
    assert stats_to_json(replace(FILLED, bot=bot, glance=database_stats.glance)) == stats_to_json(FILLED)
