"""The "Alerts" strip: the active alerts and the last few resolved ones, built from the contract's
`alerts` list (the same dicts /api/stats answers). Plain functions, tested without a browser."""

from __future__ import annotations

from datetime import datetime

from dash import html

from aurora.alerts.messages import TITLES, duration_text
from aurora.layouts.formatting import clock_time


def alert_item(alert: dict) -> html.Li:
    since = datetime.fromisoformat(alert["since"])
    title = TITLES.get(alert["condition"], alert["condition"])
    if alert["resolvedAt"] is None:
        text = f"{title} since {clock_time(since)}"
        return html.Li([html.Span("▲", className="alert-icon"), text], className="alert active")
    resolved = datetime.fromisoformat(alert["resolvedAt"])
    text = f"{title}: resolved {clock_time(resolved)} after {duration_text(resolved - since)}"
    return html.Li([html.Span("✓", className="alert-icon"), text], className="alert resolved")


def alert_strip(alerts: list[dict]) -> tuple[list, bool]:
    """(the strip's children, hidden): hidden while there is nothing to show."""
    if not alerts:
        return [], True
    return [
        html.H2("Alerts"),
        html.Ul([alert_item(alert) for alert in alerts], className="alert-list"),
    ], False
