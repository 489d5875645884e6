"""The page's figures for one stats version and one view, rendered once however many pages ask.

Every open page gets the stream's event at the same moment and asks for the same figures; what
differs between viewers is only the view (the time zone: everything else on the page is the same
for everyone). So the rendering is memoised by (stats version, zone): a bounded LRU of the last
`MAX_VIEWS` renders (bounded by distinct views, never by pages), and a render being made is waited
for by the requests that want it rather than made again (cachetools' `condition`: single flight).
A new stats version has a new key; the renders of older ones age out of the LRU.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache, cached
from cachetools.keys import hashkey
from dash import no_update
from plotly.utils import PlotlyJSONEncoder

from aurora.api.stream import event_id
from aurora.layouts.zones import ViewZone
from aurora.stats.model import Stats
from aurora.web.context import context_of

# Zones a browser may name are a few hundred; renders of one version are some tens of KB each.
MAX_VIEWS = 256


@dataclass(frozen=True)
class PageRender:
    """What every page showing `version` in one zone is sent: the refresh callback's outputs."""

    page: list


Render = Callable[[Stats, str, ViewZone], PageRender]


def as_sent(values: list) -> list:
    """`values` as the plain JSON data Dash sends (figures and components encoded, `no_update` kept):
    encoded once per render, every request answered from it only re-encodes plain data."""
    return [value if value is no_update else json.loads(json.dumps(value, cls=PlotlyJSONEncoder)) for value in values]


def rendered_once_per_view(render: Render, max_views: int = MAX_VIEWS) -> Render:
    """`render(stats, version, zone)` memoised by (version, zone name): `version` (the stream event id
    of the stats' JSON) says everything `stats` holds, the zone's name everything a view adds."""
    lock = threading.RLock()
    return cached(
        LRUCache(maxsize=max_views),
        key=lambda _stats, version, zone: hashkey(version, zone.name),
        lock=lock,
        condition=threading.Condition(lock),
    )(render)


def current_render(render: Render, zone: ViewZone, *, wait_for_first: bool = True) -> PageRender:
    """The render of the stats the service holds now, in `zone` (StatsUnavailable before the first)."""
    stats, body = context_of().service.current_with_json(wait_for_first=wait_for_first)
    return render(stats, event_id(body), zone)
