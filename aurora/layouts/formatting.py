"""Stats values -> the text and tone the page shows. Pure functions, tested without a browser."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from aurora.bot.snapshot import BotSnapshot
from aurora.layouts.zones import UTC_VIEW, ViewZone, calendar_date
from aurora.stats.model import Stats

NO_VALUE = "—"
# What a text from the database may not bring onto the page (Unicode categories): control characters,
# format characters (bidirectional controls, which reorder the text around them, e.g. U+202E turning
# "run" into "nur"; zero-width spaces and joiners; soft hyphens), surrogates, line and paragraph
# separators. A break or a tab reads as a space.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
# Longer texts are cut with an ellipsis (the whole is in the element's title); the CSS may cut
# them further to their column.
LONGEST_SHOWN = 120


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


@dataclass(frozen=True)
class ShownText:
    text: str  # cleaned, at most LONGEST_SHOWN characters
    title: str  # cleaned, whole


def shown_text(raw: object) -> ShownText:
    """Any text the page shows from the database (command names, kinds, event messages), as it shows
    it: its visible characters in their own direction, cut with an ellipsis when long."""
    whole = "".join(
        " " if character in BREAKS else character
        for character in str(raw)
        if character in BREAKS or unicodedata.category(character) not in HIDDEN_CATEGORIES
    )
    if len(whole) <= LONGEST_SHOWN:
        return ShownText(whole, whole)
    return ShownText(whole[: LONGEST_SHOWN - 1] + "…", whole)


def clock_time(moment: datetime, zone: ViewZone = UTC_VIEW) -> str:
    local, abbreviation = zone.shown(moment)
    return f"{calendar_date(local)} {local:%H:%M} {abbreviation}"


def change_vs_daily_mean(percent: float | None, *, lower_is_better: bool = False) -> tuple[str, str]:
    """The change line of a figure compared with its 30-day daily mean, and its tone."""
    if percent is None:
        return "no daily mean from the 30 days before", "flat"
    return _signed(percent, "%") + " vs 30-day daily mean", _tone(percent, lower_is_better=lower_is_better)
