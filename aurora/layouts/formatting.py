"""Stats values -> the text and tone the page shows. Pure functions, tested without a browser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.models import BotSnapshot, Stats

NO_VALUE = "—"
# Explicit bidirectional controls (embeddings, overrides, isolates, marks): in a name from the
# database they can only reorder the text around it, e.g. U+202E turning "run" into "nur".
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


@dataclass(frozen=True)
class KpiView:
    value: str
    change: str
    tone: str  # "up", "down", "flat" or "muted": the CSS modifier of the change line


def _tone(delta: float | int | None, *, lower_is_better: bool = False) -> str:
    if delta is None or delta == 0:
        return "flat"
    better = delta < 0 if lower_is_better else delta > 0
    return "up" if better else "down"


def _signed(value: float | int, suffix: str = "") -> str:
    text = f"{value:+,.1f}" if isinstance(value, float) else f"{value:+,d}"
    return (text[1:] if value == 0 else text) + suffix


OFFLINE_CAUSE_TEXT = {
    "rejected_token": "rejected token",
    "intent_refused": "members intent refused",
    "discord_unreachable": "Discord unreachable",
    "discord_error": "Discord login failing",
}


def bot_unavailable_text(bot: BotSnapshot) -> str | None:
    """Why Discord figures are missing, or None when the bot is running."""
    if bot.status == "disabled":
        return "Bot disabled"
    if bot.offline is not None:
        return "Bot offline: " + OFFLINE_CAUSE_TEXT[bot.offline.cause]
    if bot.status == "disconnected":
        return "Bot offline"
    return None


def servers_view(stats: Stats) -> KpiView:
    missing = bot_unavailable_text(stats.bot)
    if missing or stats.guild_count is None:
        return KpiView(NO_VALUE, missing or "Waiting for the bot", "muted")
    change = stats.guild_change_from_last_month
    if change is None:
        return KpiView(f"{stats.guild_count:,}", "no data from a month ago yet", "flat")
    return KpiView(f"{stats.guild_count:,}", _signed(change) + " vs last month", _tone(change))


def users_view(stats: Stats) -> KpiView:
    change = stats.active_users_change_percent
    if change is None:
        return KpiView(f"{stats.active_users:,}", "no users a month ago", "flat")
    return KpiView(f"{stats.active_users:,}", _signed(change, "%") + " vs last month", _tone(change))


def commands_view(stats: Stats) -> KpiView:
    change = stats.commands_change_percent
    if change is None:
        return KpiView(f"{stats.commands_total:,}", "no commands in the previous 30 days", "flat")
    return KpiView(
        f"{stats.commands_total:,}", _signed(change, "%") + " vs 30-day daily mean", _tone(change)
    )


def ping_view(stats: Stats) -> KpiView:
    missing = bot_unavailable_text(stats.bot)
    if missing or stats.ping_avg_ms is None:
        return KpiView(NO_VALUE, missing or "no latency samples yet", "muted")
    change = stats.ping_change_from_last_hour
    value = f"{stats.ping_avg_ms:,} ms"
    if change is None:
        return KpiView(value, "no samples from the hour before", "flat")
    return KpiView(value, _signed(change, " ms") + " vs previous hour", _tone(change, lower_is_better=True))


BOT_STATUS_LABELS = {
    "connected": "Bot connected",
    "connecting": "Bot connecting…",
    "reconnecting": "Bot reconnecting…",
    "disconnected": "Bot offline",
    "disabled": "Bot disabled",
}


def format_duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def bot_status_text(stats: Stats, zone: ViewZone = UTC_VIEW) -> str:
    return bot_snapshot_text(stats.bot, zone, stats.uptime_seconds)


def bot_snapshot_text(bot: BotSnapshot, zone: ViewZone = UTC_VIEW, uptime_seconds: int | None = None) -> str:
    """The header's bot badge: its status, and why it is offline (since when, unless final)."""
    label = BOT_STATUS_LABELS[bot.status]
    if bot.offline is not None:
        reason = OFFLINE_CAUSE_TEXT[bot.offline.cause]
        if bot.offline.cause != "rejected_token":
            reason += f" since {clock_time(bot.offline.since, zone)}"
        return f"{label} · {reason}"
    if uptime_seconds is not None and bot.status == "connected":
        label += f" · up {format_duration(uptime_seconds)}"
    return label


def without_bidi_controls(text: str) -> str:
    """Database text as the page shows it: its letters, in their own direction, minus the
    characters that would reorder what surrounds them."""
    return text.translate(BIDI_CONTROLS)


def clock_time(moment: datetime, zone: ViewZone = UTC_VIEW) -> str:
    return f"{zone.local(moment):%Y-%m-%d %H:%M} {zone.abbreviation(moment)}"


def change_vs_daily_mean(percent: float | None, *, lower_is_better: bool = False) -> tuple[str, str]:
    """The change line of a figure compared with its 30-day daily mean, and its tone."""
    if percent is None:
        return "no daily mean from the 30 days before", "flat"
    return _signed(percent, "%") + " vs 30-day daily mean", _tone(percent, lower_is_better=lower_is_better)
