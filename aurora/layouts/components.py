"""Stats -> Dash components for the parts of the page that change."""

from __future__ import annotations

from dash import html

from aurora.bot.snapshot import CommandCount, ShardSnapshot
from aurora.layouts.formatting import clock_time, shown_text
from aurora.layouts.zones import UTC_VIEW, ViewZone
from aurora.stats.model import RecentEvent

EVENT_ICONS = {"success": "●", "error": "▲", "info": "◆"}


def event_items(events: tuple[RecentEvent, ...], zone: ViewZone = UTC_VIEW) -> list[html.Li]:
    if not events:
        return [html.Li("No events yet", className="event muted")]
    return [event_item(event, zone) for event in events]


def event_item(event: RecentEvent, zone: ViewZone = UTC_VIEW) -> html.Li:
    # Text goes in as children, which React renders as text: database strings are never HTML.
    # A message can carry a command name or a kind of any length: it is cut, the title has it all.
    message = shown_text(event.message)
    return html.Li(
        className=f"event {event.kind}",
        children=[
            html.Span(EVENT_ICONS[event.kind], className="event-icon"),
            html.Span(message.text, className="event-message", title=message.title),
            html.Time(clock_time(event.timestamp, zone), className="event-time"),
        ],
    )


def top_command_items(
    commands: tuple[CommandCount, ...], failures: tuple[CommandCount, ...] = ()
) -> list[html.Li]:
    if not commands:
        return [html.Li("No commands in the last 24 hours", className="muted")]
    failed = {item.name: item.count for item in failures}
    items = []
    for item in commands:
        count = f"{item.count:,}"
        if failed.get(item.name):
            count += f" · {failed[item.name]:,} failed"
        name = shown_text(item.name)
        # Isolated (<bdi>), so a right-to-left name keeps its own order without moving the "/";
        # cut to the column's width with an ellipsis, the whole name in the title.
        items.append(
            html.Li([
                html.Span(["/", html.Bdi(name.text)], className="command-name", title=f"/{name.title}"),
                html.Span(count, className="command-count"),
            ])
        )
    return items


def shard_items(shards: tuple[ShardSnapshot, ...]) -> list:
    if len(shards) < 2:
        return []
    rows = [
        html.Li(
            className=f"shard {shard.status}",
            children=f"Shard {shard.shard_id}: {shard.status}"
            + (f", {round(shard.latency_ms)} ms" if shard.latency_ms is not None else ""),
        )
        for shard in shards
    ]
    return [html.H3("Shards"), html.Ul(rows)]

