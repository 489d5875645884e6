"""The Stats the page and the API show: the database figures and the newest bot snapshot, combined,
with each KPI's change against its earlier figure (`aurora.stats.kpi_changes`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from aurora.bot.snapshot import MONTH, BotSnapshot
from aurora.stats.kpi_changes import percent_change
from aurora.stats.model import AlertRecord, DatabaseStats, Stats


def combine(
    database: DatabaseStats,
    bot: BotSnapshot,
    *,
    demo: bool,
    stale: bool,
    stale_since: datetime | None,
    alerts: tuple[AlertRecord, ...] = (),
    simulated: bool = False,
) -> Stats:
    bot_running = bot.running
    ping_avg = round(bot.ping_avg_ms) if bot.ping_avg_ms is not None else None
    ping_change = None
    if ping_avg is not None and bot.ping_previous_hour_avg_ms is not None:
        ping_change = round(bot.ping_avg_ms - bot.ping_previous_hour_avg_ms)
    guild_change = None
    if bot.guild_count is not None and bot.guild_count_month_ago is not None:
        guild_change = bot.guild_count - bot.guild_count_month_ago
    return Stats(
        generated_at=max(database.computed_at, bot.taken_at),
        demo=demo,
        stale=stale,
        stale_since=stale_since,
        bot=bot,
        guild_count=bot.guild_count if bot_running else None,
        guild_change_from_last_month=guild_change if bot_running else None,
        active_users=database.active_users,
        active_users_change_percent=percent_change(
            database.active_users_month_ago, database.active_users
        ),
        commands_total=database.commands_24h,
        commands_change_percent=percent_change(
            # The baseline window is a month: its daily mean against the last day.
            Decimal(database.commands_previous_30_days) / MONTH.days, database.commands_24h
        ),
        ping_avg_ms=ping_avg if bot_running else None,
        ping_change_from_last_hour=ping_change if bot_running else None,
        recent_events=database.recent_events,
        activity=database.activity,
        top_commands=database.top_commands,
        glance=database.glance,
        alerts=alerts,
        simulated=simulated,
    )
