"""The Discord webhook payloads: one embed per start or recovery, naming the condition, its figure,
since when, and how long it lasted. Aggregates only: no id, name, reason, token or URL of
anyone's (the link is the dashboard's own AURORA_PUBLIC_URL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aurora.alerts.state import AlertEvent
from aurora.stats.model import AlertCondition, iso_utc

TITLES: dict[AlertCondition, str] = {
    "bot_offline": "Bot offline",
    "data_stale": "Database figures stale",
    "ping_high": "High gateway latency",
    "command_failures": "Commands failing",
    "shard_down": "Shard down",
    "command_slow": "Command slow",
    "late_answers": "Answers too late for Discord",
}
STARTED_COLOUR = 0xE5484D
RESOLVED_COLOUR = 0x30A46C
SENDER_NAME = "Aurora Dashboard"


def duration_text(length: timedelta) -> str:
    """'14 min', '2 h 5 min', '45 s': how long a condition lasted, to the minute past one."""
    seconds = max(0, int(length.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _discord_time(moment: datetime) -> str:
    # Discord shows <t:unix:f> in each reader's own time zone.
    return f"<t:{int(moment.timestamp())}:f>"


def alert_payload(event: AlertEvent, public_url: str | None = None) -> dict:
    title = TITLES[event.condition]
    if event.kind == "started":
        embed = {
            "title": title,
            "description": event.figure,
            "color": STARTED_COLOUR,
            "fields": [{"name": "Since", "value": _discord_time(event.since), "inline": True}],
        }
    else:
        embed = {
            "title": f"Resolved: {title}",
            "description": f"Resolved after {duration_text(event.at - event.since)}.",
            "color": RESOLVED_COLOUR,
            "fields": [
                {"name": "Since", "value": _discord_time(event.since), "inline": True},
                {"name": "Resolved", "value": _discord_time(event.at), "inline": True},
            ],
        }
    embed["timestamp"] = iso_utc(event.at)
    embed["footer"] = {"text": f"{SENDER_NAME} · {event.condition}"}
    if public_url:
        embed["url"] = public_url
    # No mentions, whatever a text says: an alert never pings anyone by itself.
    return {"username": SENDER_NAME, "embeds": [embed], "allowed_mentions": {"parse": []}}
