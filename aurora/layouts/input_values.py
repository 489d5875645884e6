"""What each input and state of the page's callbacks may hold, as a route declares its parameters.

The page guard (`aurora.layouts.page_guard`) refuses a callback request carrying anything else with
a 400, before Dash runs the callback: a forged `n_clicks = "1"`, a number as the address's hash or a
string as a chart click never reaches the plain functions, which are written for these values only.
Every input and state of a server callback must be declared here: the guard refuses to install
otherwise, so a new callback cannot go unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aurora.layouts import ids


@dataclass(frozen=True)
class ValueKind:
    description: str  # completes "must be …" in the 400's message
    accepts: Callable[[object], bool]


def _count(value: object) -> bool:
    # JSON's true and false are no counts (Python's bool is an int).
    return value is None or (type(value) is int and value >= 0)


def _text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _object(value: object) -> bool:
    return value is None or isinstance(value, dict)


def _chart_click(value: object) -> bool:
    """Plotly's clickData: {"points": [{...}, ...]} (each point is read for its customdata)."""
    if value is None:
        return True
    points = value.get("points") if isinstance(value, dict) else None
    return isinstance(points, list) and all(isinstance(point, dict) for point in points)


COUNT = ValueKind("a whole number from 0, or null", _count)
TEXT = ValueKind("a string, or null", _text)
OBJECT = ValueKind("an object, or null", _object)
CHART_CLICK = ValueKind('a chart click (an object whose "points" is a list of objects), or null', _chart_click)

# The same property means the same thing on every component that has it.
BY_PROPERTY = {"n_clicks": COUNT, "n_intervals": COUNT, "hash": TEXT, "pathname": TEXT, "clickData": CHART_CLICK}
# A store's data is what its callbacks write into it.
BY_COMPONENT = {
    (ids.LIVE_STATS, "data"): TEXT,  # a stream event's id (assets/live.js)
    (ids.RENDERED_STATS, "data"): TEXT,
    (ids.ZONE_CHOICE, "data"): TEXT,  # "utc" or "local"; anything else reads as local
    (ids.BROWSER_ZONE, "data"): OBJECT,  # {"zone": an IANA name} (assets/day.js)
    (ids.BOT_HEALTH_SORT, "value"): TEXT,  # a column of the bot health table; anything else sorts by p95
}


def value_kind(component_id: str, component_property: str) -> ValueKind | None:
    return BY_COMPONENT.get((component_id, component_property)) or BY_PROPERTY.get(component_property)
