"""An audience: N open pages, each doing what the real page does, all updating together.

    python -m bench.viewers --pages 100 [--seconds 75]

The README's production setup, nginx with deploy/nginx.conf (TLS) in front of its production command
(one worker, default settings except AURORA_STREAMS_TOTAL raised to the number of pages where its
default holds fewer, and both rate limits off), over a fresh demo database. Each page has its own
loopback address and a time zone (24 zones, spread round the clock), holds the live stream and
answers every stats event (and, while its stream brings none, every tick of its refresh interval: the
page turns the interval off once its stream brought stats) with the callbacks the page sends,
replayed from bench/page_requests.json (recorded from Chromium by `python -m bench.record_page`): a
callback goes out when one of its inputs changed, with the page's current values, and its answer's
outputs set off the callbacks that depend on them, as Dash's renderer does. Ten pollers ask
`/api/stats` once a second each beside them.

Printed: `/api/stats` and page-request latency, failed requests, the worker's resident memory, the
time until every page's figures updated after each refresh, requests per page per refresh, and the
renders per stats version the server counted (`aurora_page_renders_total` on /metrics).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from aurora.api.stream import RETRY_MILLISECONDS
from aurora.settings import Settings
from aurora.web.serving.local_nginx import client_tls, nginx_proxy
from bench.common import ROOT, child_pids, gunicorn, process_figures, wait_for_http

RECORDING = ROOT / "bench" / "page_requests.json"
UPDATE_PATH = "/_dash-update-component"
LIVE_INPUT = "live-stats.data"
TICK_INPUT = "refresh-interval.n_intervals"
ZONE_INPUT = "browser-zone.data"
ZONES = (
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
    "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Paris",
    "Europe/Helsinki", "Europe/Moscow", "Asia/Tehran", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney",
    "Pacific/Auckland", "UTC",
)
POLLERS = 10
AUDIENCE_SECONDS = 75  # two refreshes at AURORA_REFRESH_SECONDS' default
POLL_SECONDS = 1.0
REQUEST_TIMEOUT = 30
# A page keeps its connection from one update to the next, as a browser does (over HTTP/2 its one
# connection carries the stream and the updates; over HTTP/1.1 it reuses the idle one): below nginx's
# keep-alive (65 s, deploy/nginx.conf), so a connection nginx is closing is not reused (a browser
# would retry such a request on a fresh connection; this client would count it as failed).
CLIENT_KEEP_ALIVE_SECONDS = 60
STREAM_RETRY_SECONDS = RETRY_MILLISECONDS / 1000  # live.js reopens an ended stream after this pause


def address(index: int, block: int = 100) -> str:
    return f"127.{block + index // 62500}.{index // 250 % 250}.{index % 250 + 2}"


@dataclass
class Figures:
    page_seconds: list[float] = field(default_factory=list)
    api_seconds: list[float] = field(default_factory=list)
    # each poller's first answer: it pays the new TLS connection, which a poller then keeps
    api_first_seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    streams_reopened: int = 0
    # stats event id -> when the first page got it, and when each page had every answer for it
    event_seen: dict[str, float] = field(default_factory=dict)
    event_done: dict[str, list[float]] = field(default_factory=dict)
    requests_sent: dict[str, list[int]] = field(default_factory=dict)  # stats event id -> per page
    rss_kib: list[int] = field(default_factory=list)
    # as nginx timed them (its access log): path -> [(request_time, upstream_response_time)]
    nginx_seconds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    renders: float = 0.0


def spread_seconds() -> float:
    """The random wait live.js puts between a stream event and the page's request."""
    from aurora.layouts.page import SPREAD_MILLISECONDS

    return SPREAD_MILLISECONDS / 1000


def load_recording() -> list[dict]:
    return json.loads(RECORDING.read_text())["callbacks"]


def key(item: dict) -> str:
    return f"{item['id']}.{item['property']}"


class Page:
    """One open page: its values of every callback input and state, as Dash's renderer holds them."""

    def __init__(self, callbacks: list[dict], zone: str, session: aiohttp.ClientSession, base: str,
                 figures: Figures) -> None:
        self.callbacks, self.session, self.base, self.figures = callbacks, session, base, figures
        self.values = {key(item): item["value"] for callback in callbacks
                       for item in (*callback["inputs"], *callback.get("state", []))}
        offset = datetime.now(UTC).astimezone(ZoneInfo(zone)).utcoffset()
        self.values[ZONE_INPUT] = {"offsetMinutes": int(offset.total_seconds() // 60), "zone": zone}
        self.lock = asyncio.Lock()  # the renderer answers one change after another
        self.spread_seconds = spread_seconds()
        self.streaming = False  # live.js turns the refresh interval off once the stream brought stats

    def body(self, callback: dict, changed: set[str]) -> bytes:
        with_values = {
            **callback,
            "inputs": [{**item, "value": self.values.get(key(item))} for item in callback["inputs"]],
            "state": [{**item, "value": self.values.get(key(item))} for item in callback.get("state", [])],
            "changedPropIds": sorted(changed & {key(item) for item in callback["inputs"]}),
        }
        with_values["parsedChangedPropsIds"] = with_values["changedPropIds"]
        return json.dumps(with_values).encode()

    async def call(self, callback: dict, changed: set[str]) -> set[str]:
        started = time.perf_counter()
        try:
            async with self.session.post(f"{self.base}{UPDATE_PATH}", data=self.body(callback, changed),
                                         headers={"Content-Type": "application/json"}) as response:
                text = await response.read()
                self.figures.page_seconds.append(time.perf_counter() - started)
                if response.status == 204:
                    return set()
                if response.status != 200:
                    self.figures.failures.append(f"{UPDATE_PATH}: {response.status}")
                    return set()
        except (aiohttp.ClientError, TimeoutError) as error:
            self.figures.failures.append(f"{UPDATE_PATH}: {error!r}")
            return set()
        answered = set()
        for component, props in json.loads(text).get("response", {}).items():
            for prop, value in props.items():
                self.values[f"{component}.{prop}"] = value
                answered.add(f"{component}.{prop}")
        return answered

    async def change(self, changed: dict[str, object]) -> int:
        """Set `changed`, then send every callback it sets off, wave after wave; returns the requests sent."""
        async with self.lock:
            self.values.update(changed)
            props, sent = set(changed), 0
            while props:
                due = [c for c in self.callbacks if props & {key(item) for item in c["inputs"]}]
                sent += len(due)
                answers = await asyncio.gather(*(self.call(callback, props) for callback in due))
                props = set().union(*answers)
            return sent

    async def stream(self, stop: asyncio.Event) -> None:
        """The page's EventSource: reopened after a pause whenever it ends, as live.js does."""
        while not stop.is_set():
            await self.read_stream(stop)
            if not stop.is_set():
                self.figures.streams_reopened += 1
                await asyncio.sleep(STREAM_RETRY_SECONDS)

    async def read_stream(self, stop: asyncio.Event) -> None:
        try:
            async with self.session.get(f"{self.base}/api/stats/realtime", timeout=aiohttp.ClientTimeout(None),
                                        headers={"Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    self.figures.failures.append(f"stream: {response.status}")
                    return
                event_id = None
                async for line in response.content:
                    if line.startswith(b"id: "):
                        event_id = line[4:].strip().decode()
                    elif line.startswith(b"event: stats") and event_id is not None:
                        self.figures.event_seen.setdefault(event_id, time.monotonic())
                        self.streaming = True
                        await asyncio.sleep(random.uniform(0, self.spread_seconds))
                        sent = await self.change({LIVE_INPUT: event_id})
                        self.figures.requests_sent.setdefault(event_id, []).append(sent)
                        self.figures.event_done.setdefault(event_id, []).append(time.monotonic())
                    if stop.is_set():
                        return
        except (aiohttp.ClientError, TimeoutError):
            pass  # counted as reopened by the caller
        finally:
            self.streaming = False

    async def tick(self, every: float, stop: asyncio.Event, phase: float) -> None:
        await asyncio.sleep(phase)
        while not stop.is_set():
            if not self.streaming:
                self.values[TICK_INPUT] = (self.values.get(TICK_INPUT) or 0) + 1
                await self.change({TICK_INPUT: self.values[TICK_INPUT]})
            await asyncio.sleep(every)


async def poll_api(base: str, source: str, stop: asyncio.Event, figures: Figures) -> None:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), keepalive_timeout=CLIENT_KEEP_ALIVE_SECONDS,
                                     ssl=client_tls())
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(REQUEST_TIMEOUT)) as session:
        timings = figures.api_first_seconds
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(f"{base}/api/stats") as response:
                    await response.read()
                    if response.status != 200:
                        figures.failures.append(f"/api/stats: {response.status}")
                    timings.append(time.perf_counter() - started)
                    timings = figures.api_seconds
            except (aiohttp.ClientError, TimeoutError) as error:
                figures.failures.append(f"/api/stats: {error!r}")
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.perf_counter() - started)))


async def renders_so_far(base: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    match = re.search(r"^aurora_page_renders_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def refresh_seconds_of(base: str) -> float:
    """The page's refresh interval, from its layout (what every page ticks at)."""
    import urllib.request

    with urllib.request.urlopen(f"{base}/_dash-layout") as response:
        found = re.search(r'"interval":\s*(\d+)[^{}]*"id":\s*"refresh-interval"|"id":\s*"refresh-interval"[^{}]*'
                          r'"interval":\s*(\d+)', response.read().decode())
    return int(next(group for group in found.groups() if group)) / 1000


def nginx_timings(access_log: Path, offset: int) -> dict[str, list[tuple[float, float]]]:
    """(request time, the app server's time) of each request nginx logged after `offset`, by path: the
    server side's share of a request, without the load generator's own delays."""
    timings: dict[str, list[tuple[float, float]]] = {}
    with access_log.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            found = re.search(r'"\w+ (\S+) [^"]*" \d+ \d+ ([\d.]+) ([\d.]+)$', line)
            if found:
                path = found.group(1).split("?")[0]
                timings.setdefault(path, []).append((float(found.group(2)), float(found.group(3))))
    return timings


async def audience(base: str, pages: int, seconds: float, worker: int, server: str, access_log: Path) -> Figures:
    """Pages and pollers ask `base` (nginx); the layout and /metrics are read from `server` directly."""
    figures, stop, callbacks = Figures(), asyncio.Event(), load_recording()
    every = refresh_seconds_of(server)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        local_addr=(address(index), 0), limit=6, keepalive_timeout=CLIENT_KEEP_ALIVE_SECONDS, ssl=client_tls()),
                                      timeout=aiohttp.ClientTimeout(REQUEST_TIMEOUT)) for index in range(pages)]
    page_list = [Page(callbacks, ZONES[index % len(ZONES)], session, base, figures)
                 for index, session in enumerate(sessions)]
    # Each page first shows what it was served (its first stream event is then already shown).
    await asyncio.gather(*(page.change({ZONE_INPUT: page.values[ZONE_INPUT]}) for page in page_list))
    figures.page_seconds.clear()
    log_offset = access_log.stat().st_size
    renders_before = await renders_so_far(server)
    tasks = [asyncio.create_task(coroutine) for coroutine in (
        *(page.stream(stop) for page in page_list),
        *(page.tick(every, stop, every * index / pages) for index, page in enumerate(page_list)),
        *(poll_api(base, address(index, 200), stop, figures) for index in range(POLLERS)),
    )]
    shown_at_start = {page.values.get("rendered-stats.data") for page in page_list}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        figures.rss_kib.append(process_figures(worker).rss_kib)
        await asyncio.sleep(1)
    # The refreshes under way finish before the end (a page still waiting would otherwise not count).
    finishing = time.monotonic() + REQUEST_TIMEOUT
    while time.monotonic() < finishing and any(
            len(figures.event_done.get(event, [])) < pages for event in set(figures.event_seen) - shown_at_start):
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.sleep(1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    figures.renders = await renders_so_far(server) - renders_before
    figures.nginx_seconds = nginx_timings(access_log, log_offset)
    for session in sessions:
        await session.close()
    for event in shown_at_start:  # what every page showed already: not a refresh
        figures.event_seen.pop(event, None)
        figures.event_done.pop(event, None)
    return figures


def run_audience(pages: int, seconds: float) -> Figures:
    from bench.viewers import APP_THREADS, CLEARED, prepare_database

    with tempfile.TemporaryDirectory(prefix="aurora-audience-") as folder:
        env = {**dict.fromkeys(CLEARED, ""), "DATABASE_URL": prepare_database(folder), "AURORA_DEMO": "true",
               "AURORA_SIMULATED_DISCORD": "false", "AURORA_STREAMS_TOTAL": str(max(pages, Settings.stream_max_total)),
               "AURORA_RATE_LIMIT": "off", "AURORA_PAGE_RATE_LIMIT": "off", "AURORA_TRUSTED_PROXY_HOPS": "1"}
        with gunicorn("app:server", env, workers=1, threads=APP_THREADS) as url:
            wait_for_http(f"{url}/api/stats", timeout=60)
            (worker,) = child_pids(url.pid)
            # Each page's connections (a stream and up to 6 more) and their upstreams, with room.
            connections = 2 * (pages * 7 + POLLERS) + 512
            with nginx_proxy(Path(folder) / "nginx", int(url.rsplit(":", 1)[1]), connections=connections) as proxy:
                return asyncio.run(audience(proxy.url, pages, seconds, worker, url, proxy.prefix / "access.log"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def nginx_lines(timings: dict[str, list[tuple[float, float]]]) -> list[str]:
    def ms(values: list[float]) -> str:
        return f"{percentile(values, 0.5) * 1000:,.0f} / {percentile(values, 0.99) * 1000:,.0f} ms"

    lines = ["", "As nginx timed them (its `$request_time`: TLS and the app server, not the load generator's "
             "own delays; and `$upstream_response_time`: the app server's share), p50 / p99:"]
    for label, path in (("`/api/stats`", "/api/stats"), ("page requests", UPDATE_PATH)):
        pairs = timings.get(path, [])
        lines.append(f"- {label}: {ms([total for total, _ in pairs])}; app server {ms([app for _, app in pairs])} "
                     f"({len(pairs):,} requests)")
    return lines


def report(pages: int, figures: Figures) -> str:
    def ms(values: list[float]) -> str:
        return f"{percentile(values, 0.5) * 1000:,.0f} ms / {percentile(values, 0.99) * 1000:,.0f} ms"

    refreshes = sorted(figures.event_seen)
    updated = [max(figures.event_done.get(event, [float("nan")])) - figures.event_seen[event] for event in refreshes]
    complete = [len(figures.event_done.get(event, [])) for event in refreshes]
    lines = [
        "| open pages | `/api/stats` p50 / p99 | page requests p50 / p99 |",
        "| --- | --- | --- |",
        f"| {pages:,} | {ms(figures.api_seconds)} | {ms(figures.page_seconds)} |",
        "",
        *nginx_lines(figures.nginx_seconds),
        "",
        "`/api/stats` first answer of each poller (a new TLS connection, not in the p99 above): "
        + (f"median {percentile(figures.api_first_seconds, 0.5) * 1000:,.0f} ms, "
           f"max {max(figures.api_first_seconds) * 1000:,.0f} ms" if figures.api_first_seconds else "-"),
        f"failed requests: {len(figures.failures)} {sorted(set(figures.failures))[:3]}; "
        f"streams ended by the server and reopened: {figures.streams_reopened}",
        f"worker memory (RSS): max {max(figures.rss_kib, default=0) / 1024:,.0f} MB",
        f"refreshes (new stats versions): {len(refreshes)}; pages updated per refresh: {complete} of {pages}",
        "every page's figures updated, seconds after each refresh: "
        + (", ".join(f"{value:.2f}" for value in updated) or "-"),
        "requests per page per refresh (median): "
        + f"{percentile([n for event in refreshes for n in figures.requests_sent.get(event, [])], 0.5):.0f}",
        f"renders on the server during the run: {figures.renders:.0f}; per new stats version: "
        + (f"{figures.renders / len(refreshes):.1f}" if refreshes else "-")
        + f" (distinct views in the run: {min(pages, len(ZONES))} zones)",
    ]
    return "\n".join(lines)


def main(pages: int, seconds: float) -> int:
    print(report(pages, run_audience(pages, seconds)))
    return 0
