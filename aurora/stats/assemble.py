"""The Stats the page and the API show: the database figures and the newest bot snapshot, combined,
with each KPI's change against its earlier figure."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from aurora.bot.snapshot import MONTH, BotSnapshot
from aurora.stats.model import BASELINE_DAYS, AlertRecord, DatabaseStats, KindTotals, Stats


def percent_change(base: Decimal | int, current: int) -> float | None:
    """(current - base) / base in percent, one decimal rounded half-up; None for a zero base."""
    base = Decimal(base)
    if base == 0:
        return None
    change = (Decimal(current) - base) * 100 / base
    return float(change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def daily_mean_change(current: int, baseline: int) -> float | None:
    """The last 24 hours against the daily mean of the BASELINE_DAYS days before, in percent."""
    return percent_change(Decimal(baseline) / BASELINE_DAYS, current)


def kind_change(totals: KindTotals, *, coins: bool) -> float | None:
    if coins:
        return daily_mean_change(totals.coins, totals.baseline_coins)
    return daily_mean_change(totals.count, totals.baseline_count)


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
