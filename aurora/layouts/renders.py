"""The page's figures for one stats version and one view, rendered once however many pages ask.

Every open page gets the stream's event at the same moment and asks for the same figures; what
differs between viewers is only the view (the time zone: everything else on the page is the same
for everyone). So the rendering is memoised by (stats version, zone): a bounded LRU of the last
`MAX_VIEWS` renders (bounded by distinct views, never by pages), and a render being made is waited
for by the requests that want it rather than made again (cachetools' `condition`: single flight).
A new stats version has a new key; the renders of older ones age out of the LRU.

Before the live stream announces a new version, the views pages asked for during the last one are
rendered (`prepare`, for at most `PREPARE_SECONDS`): every open page asks for the new version within
a few seconds of the announcement, and the renders then no longer hold the interpreter during that
burst of requests; a view nobody asked for meanwhile is rendered on demand, once, as before.

A page asks for the version its stream announced, a moment later (pages spread their requests over
a few seconds): if the stats changed meanwhile, it is still answered with the announced version
(the memo keeps the last few versions' stats), so a version the stream skipped is never rendered
for a few early or late pages; the stream announces the newer one at its turn.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import LRUCache, cached
from cachetools.keys import hashkey
from dash import no_update
from plotly.utils import PlotlyJSONEncoder

from aurora.api.stream import event_id
from aurora.layouts.zones import ViewZone
from aurora.stats.model import Stats
from aurora.stats.service import StatsUnavailable
from aurora.web.context import context_of

# Zones a browser may name are a few hundred; renders of one version are some tens of KB each.
MAX_VIEWS = 256
# Versions whose stats are kept to answer pages asking for an announced version after a newer one came.
KEPT_VERSIONS = 4
# How long the views of a new version may be rendered before the stream announces it.
PREPARE_SECONDS = 2.0


@dataclass(frozen=True)
class PageRender:
    """What every page showing `version` in one zone is sent: the refresh callback's outputs, the chart's
    table (sent only to pages showing it) and the bot health section for each sort order."""

    page: list
    table: object = None
    bot_health: dict = field(default_factory=dict)


Render = Callable[[Stats, str, ViewZone], PageRender]


def as_sent(values):
    """`values` (a list of outputs' values, or one value) as the plain JSON data Dash sends (figures and
    components encoded, `no_update` kept): encoded once per render, every request answered from it
    only re-encodes plain data."""
    if isinstance(values, list):
        return [value if value is no_update else _plain(value) for value in values]
    return _plain(values)


def _plain(value):
    return json.loads(json.dumps(value, cls=PlotlyJSONEncoder))


class RenderMemo:
    """`render(stats, version, zone)` memoised by (version, zone name): `version` (the stream event id
    of the stats' JSON) says everything `stats` holds, the zone's name everything a view adds. Also
    keeps the stats of the last `kept_versions` versions it was handed, by version."""

    def __init__(self, render: Render, max_views: int = MAX_VIEWS, kept_versions: int = KEPT_VERSIONS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic  # times `prepare`'s bound
        lock = threading.RLock()
        self._render = cached(
            LRUCache(maxsize=max_views),
            key=lambda _stats, version, zone: hashkey(version, zone.name),
            lock=lock,
            condition=threading.Condition(lock),
        )(render)
        self._versions: OrderedDict[str, Stats] = OrderedDict()
        self._kept = kept_versions
        self._max_views = max_views
        self._asked: OrderedDict[str, ViewZone] = OrderedDict()  # views asked for since the last `prepare`
        self._lock = threading.Lock()

    def __call__(self, stats: Stats, version: str, zone: ViewZone) -> PageRender:
        with self._lock:
            self._asked[zone.name] = zone
            self._asked.move_to_end(zone.name)
            if len(self._asked) > self._max_views:
                self._asked.popitem(last=False)
        return self._render(stats, version, zone)

    def prepare(self, stats: Stats, version: str, seconds: float = PREPARE_SECONDS) -> int:
        """Render `version` in each view asked for since the last call, the latest asked first, for at
        most `seconds`; remembers `version` as the newest. Returns how many views it rendered."""
        self.pinned(stats, version, None)
        with self._lock:
            asked, self._asked = list(reversed(self._asked.values())), OrderedDict()
        deadline = self._monotonic() + seconds
        prepared = 0
        for zone in asked:
            if self._monotonic() >= deadline:
                break
            self._render(stats, version, zone)  # not an ask: a view nobody asks for again is not kept up
            prepared += 1
        return prepared

    def pinned(self, stats: Stats, version: str, wanted: str | None) -> tuple[Stats, str]:
        """The stats of `wanted` if it is among the last versions seen, else (`stats`, `version`), the
        current ones (remembered as the newest)."""
        with self._lock:
            self._versions[version] = stats
            self._versions.move_to_end(version)
            while len(self._versions) > self._kept:
                self._versions.popitem(last=False)
            if wanted is not None and wanted in self._versions:
                return self._versions[wanted], wanted
        return stats, version


def rendered_once_per_view(render: Render, max_views: int = MAX_VIEWS) -> RenderMemo:
    return RenderMemo(render, max_views)


def current_render(memo: RenderMemo, zone: ViewZone, *, wanted: str | None = None,
                   wait_for_first: bool = True) -> PageRender:
    """The render of the stats version `wanted` (a stream event id) if it is still known, else of the
    stats the service holds now, in `zone` (StatsUnavailable before the first)."""
    stats, body = context_of().service.current_with_json(wait_for_first=wait_for_first)
    return memo(*memo.pinned(stats, event_id(body), wanted), zone)


def prepare_current(memo: RenderMemo, service) -> int:
    """`memo.prepare` for the stats the service holds now (nothing before the first)."""
    try:
        stats, body = service.current_with_json(wait_for_first=False)
    except StatsUnavailable:
        return 0
    return memo.prepare(stats, event_id(body))
