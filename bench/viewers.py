"""Viewers scale: the production setup holding the stream cap while slow clients push.

    python -m bench.viewers [--seconds 30] [--streams 100] [--slow 30] [--no-browser]
    python -m bench.viewers --pages N [--seconds 75]    (an audience of open pages: bench/audience.py)

The README's production setup (nginx with deploy/nginx.conf in front of gunicorn with
gunicorn.conf.py, one worker, default settings but AURORA_TRUSTED_PROXY_HOPS=1 and
AURORA_STREAMS_TOTAL=`--streams`) over a fresh SQLite database with demo data. Every client talks
TLS to nginx. On loopback only, for `--seconds`:

- `--streams` live streams, three per source address (the default per-client cap), each read as a
  browser would; every one must get its first stats event. One more, from a fresh address, must get
  429 (the total cap is `--streams`);
- `--slow` slow clients, each from its own address, in three kinds: a request head trickled a line a
  second, a body sent a byte a second, and keep-alive connections left idle; each reconnects
  whenever nginx cuts it off (nginx holds them: the app server never sees them);
- API clients polling `/api/stats` and `/` (the page) once a second from their own addresses, within
  the default rate limit, and the open dashboards' refresh callbacks (100 pages every 30 s);
- with Chromium (unless `--no-browser`), page visits timed to the moment the KPI numbers show.

Printed: latency p50/p99/max of `/api/stats` and `/` under that load and idle before it (same run),
time to each stream's first event, how often slow clients were cut off, and the worker's threads,
resident memory and open files before, during and after. Nothing here is asserted on timings;
tests/e2e/test_viewers.py runs it short and checks that every answer was right.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path

from aurora.web.serving.local_nginx import NginxProxy, nginx_proxy
from bench.common import (
    ROOT,
    ProcessFigures,
    Result,
    child_pids,
    format_table,
    gunicorn,
    process_figures,
    refresh_callback_body,
    wait_for_http,
)

PER_ADDRESS = 3  # AURORA_STREAMS_PER_CLIENT's default
POLLERS = 10
POLL_SECONDS = 1.0  # per poller: within the default 60/minute per address
DASHBOARD_REFRESHES_PER_SECOND = 100 / 30  # 100 open pages, AURORA_REFRESH_SECONDS' default
DRIP_SECONDS = 1.0
PAGE_VISITS = 3
STREAM_READ_SECONDS = 40  # longer than the 15 s between heartbeats
# Settings that would change what is served, set empty (an empty variable counts as unset).
CLEARED = ("DISCORD_TOKEN", "AURORA_ACCESS_TOKEN", "AURORA_ROLE", "REDIS_URL",
           "AURORA_RATE_LIMIT", "AURORA_STREAMS_TOTAL", "AURORA_STREAMS_PER_CLIENT", "AURORA_THREADS",
           "AURORA_MAX_BODY_KB")
APP_THREADS = 8  # AURORA_THREADS' default


def address(block: int, index: int) -> str:
    """A distinct loopback source address per client (the server counts streams and requests by it)."""
    return f"127.0.{block + index // 250}.{index % 250 + 2}"


@dataclass
class StreamClient:
    connection: HTTPConnection | None = None
    status: int | None = None
    events: int = 0
    first_event_seconds: float | None = None
    error: str | None = None


@dataclass
class ViewersRun:
    streams: list[StreamClient]
    extra_stream_status: int | None
    answers: dict[str, list[tuple[int, float]]]  # path -> (status, seconds) of every request
    idle: dict[str, list[float]]  # path -> seconds, before the load
    errors: list[str]
    cut_off: Counter  # slow-client kind -> times the server closed it
    before: ProcessFigures
    during: ProcessFigures
    after: ProcessFigures
    page_ms: list[float] = field(default_factory=list)


def hold_stream(proxy: NginxProxy, source: str, stop: threading.Event, client: StreamClient) -> None:
    client.connection = proxy.http(source, timeout=STREAM_READ_SECONDS)
    started = time.perf_counter()
    try:
        client.connection.request("GET", "/api/stats/realtime", headers={"Accept": "text/event-stream"})
        response = client.connection.getresponse()
        client.status = response.status
        if response.status != 200:
            response.read()
            return
        while not stop.is_set() and (line := response.readline()):
            if line.startswith(b"event: stats"):
                client.events += 1
                if client.first_event_seconds is None:
                    client.first_event_seconds = time.perf_counter() - started
    except (OSError, HTTPException, ValueError) as error:  # ValueError: closed under us at the end
        if not stop.is_set():
            client.error = f"stream from {source}: {error!r}"


def slow_client(proxy: NginxProxy, source: str, kind: str, stop: threading.Event, cut_off: Counter) -> None:
    heads = {
        "head": (b"GET /api/stats HTTP/1.1\r\nHost: aurora\r\n", b"X-Slow: 1\r\n"),
        "body": (b"POST /_dash-update-component HTTP/1.1\r\nHost: aurora\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{", b" "),
        "idle": (b"GET /assets/aurora.css HTTP/1.1\r\nHost: aurora\r\n\r\n", b""),
    }
    start, drip = heads[kind]
    while not stop.is_set():
        try:
            with proxy.connect(source, timeout=5) as sock:
                sock.sendall(start)
                # A read that waits at most DRIP_SECONDS; TLS's own records (session tickets) are not data.
                sock.settimeout(DRIP_SECONDS)
                while not stop.is_set():
                    if drip:
                        sock.sendall(drip)
                    try:
                        data = sock.recv(65536)
                    except TimeoutError:
                        continue
                    # The idle kind's answer arrives first; after it, and for the others, a read means the end.
                    if kind != "idle" or not data:
                        cut_off[kind] += 1
                        break
        except OSError:
            cut_off[kind] += 1
        stop.wait(0.05)


def timed_get(connection: HTTPConnection, path: str, body: bytes | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    if body is None:
        connection.request("GET", path)
    else:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status, time.perf_counter() - started


def poll(proxy: NginxProxy, source: str, requests: list[tuple[str, bytes | None]], pause: float,
         stop: threading.Event, answers: dict, errors: list[str]) -> None:
    connection = None
    while not stop.is_set():
        started = time.monotonic()
        for path, body in requests:
            connection = connection or proxy.http(source)
            try:
                answers.setdefault(path, []).append(timed_get(connection, path, body))
            except (OSError, HTTPException) as error:
                errors.append(f"{path} from {source}: {error!r}")
                connection.close()
                connection = None
        stop.wait(max(0.0, pause - (time.monotonic() - started)))
    if connection is not None:
        connection.close()


def fetch_closed(proxy: NginxProxy, path: str, body: bytes | None = None) -> float:
    """One request on a fresh connection closed right after (leaves no idle keep-alive behind)."""
    connection = proxy.http(timeout=30)
    try:
        return timed_get(connection, path, body)[1]
    finally:
        connection.close()


def warm_up(proxy: NginxProxy, callback_body: bytes) -> dict[str, list[float]]:
    """Every thread the steady state has (the app's two pools, the stream fan-out's) started; idle timings."""
    for _ in range(3):
        workers = [threading.Thread(target=fetch_closed, args=(proxy, "/")) for _ in range(APP_THREADS * 2)]
        workers += [threading.Thread(target=fetch_closed, args=(proxy, "/_dash-update-component", callback_body))
                    for _ in range(APP_THREADS * 2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    stop, client = threading.Event(), StreamClient()
    reader = threading.Thread(target=hold_stream, args=(proxy, "127.0.0.1", stop, client))
    reader.start()
    while client.events == 0 and reader.is_alive():
        time.sleep(0.05)
    stop.set()
    client.connection.sock.shutdown(socket.SHUT_RDWR)
    reader.join()
    return {path: [fetch_closed(proxy, path) for _ in range(20)] for path in ("/api/stats", "/")}


def wait_for_answers(clients: list[StreamClient], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(client.status is None and client.error is None for client in clients) and time.monotonic() < deadline:
        time.sleep(0.05)


def settled_figures(pid: int, baseline: ProcessFigures, seconds: float = 25) -> ProcessFigures:
    """The worker's figures once the connections of the run are gone (or `seconds` passed)."""
    deadline = time.monotonic() + seconds
    figures = process_figures(pid)
    while figures.open_files > baseline.open_files and time.monotonic() < deadline:
        time.sleep(0.25)
        figures = process_figures(pid)
    return figures


def prepare_database(folder: str) -> str:
    url = f"sqlite:///{os.path.join(folder, 'aurora.db')}"
    env = {**os.environ, **dict.fromkeys(CLEARED, ""), "DATABASE_URL": url}
    subprocess.run([sys.executable, "app.py", "init-db"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    return url


def visit_pages(url: str, stop: threading.Event, page_ms: list[float]) -> None:
    from playwright.sync_api import sync_playwright

    from bench.page import KPIS_SHOWN, visit

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            for _ in range(PAGE_VISITS):
                if stop.wait(2):
                    return
                page_ms.append(visit(browser, f"{url}/", KPIS_SHOWN))
        finally:
            browser.close()


def load(url: str, proxy: NginxProxy, worker: int, *, seconds: float, streams: int, slow: int, browser: bool) -> ViewersRun:
    callback = [("/_dash-update-component", refresh_callback_body(url))]
    idle = warm_up(proxy, callback[0][1])
    time.sleep(0.5)
    before = process_figures(worker)
    stop, errors, answers, cut_off = threading.Event(), [], {}, Counter()
    clients = [StreamClient() for _ in range(streams)]
    threads = [threading.Thread(target=hold_stream, args=(proxy, address(10, i // PER_ADDRESS), stop, client))
               for i, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    wait_for_answers(clients, 30)
    extra = StreamClient()
    threads.append(threading.Thread(target=hold_stream, args=(proxy, address(20, 0), stop, extra)))
    threads[-1].start()
    wait_for_answers([extra], 10)
    others = [
        *(threading.Thread(target=slow_client, args=(proxy, address(30, i), ("head", "body", "idle")[i % 3], stop, cut_off))
          for i in range(slow)),
        *(threading.Thread(target=poll, args=(proxy, address(40, i), [("/api/stats", None), ("/", None)],
                                              POLL_SECONDS, stop, answers, errors)) for i in range(POLLERS)),
        threading.Thread(target=poll, args=(proxy, address(50, 0), callback, 1 / DASHBOARD_REFRESHES_PER_SECOND,
                                            stop, answers, errors)),
    ]
    page_ms: list[float] = []
    if browser:
        others.append(threading.Thread(target=visit_pages, args=(proxy.url, stop, page_ms)))
    for thread in others:
        thread.start()
    time.sleep(seconds / 2)
    during = process_figures(worker)
    time.sleep(seconds / 2)
    stop.set()
    for client in [*clients, extra]:
        if client.connection is not None and client.connection.sock is not None:
            client.connection.sock.shutdown(socket.SHUT_RDWR)
    for thread in [*threads, *others]:
        thread.join(timeout=30)
    errors += [client.error for client in clients if client.error]
    return ViewersRun(clients, extra.status, answers, idle, errors, cut_off, before, during,
                      settled_figures(worker, before), page_ms)


def run_viewers(*, seconds: float, streams: int, slow: int, browser: bool, database_url: str | None = None) -> ViewersRun:
    with tempfile.TemporaryDirectory(prefix="aurora-viewers-") as folder:
        env = {**dict.fromkeys(CLEARED, ""), "DATABASE_URL": database_url or prepare_database(folder),
               "AURORA_DEMO": "false" if database_url else "true", "AURORA_TRUSTED_PROXY_HOPS": "1",
               "AURORA_STREAMS_TOTAL": str(streams),
               "AURORA_SIMULATED_DISCORD": "false"}  # the web side under load, as in earlier runs
        with gunicorn("app:server", env, workers=1, threads=APP_THREADS) as url:
            wait_for_http(f"{url}/", timeout=60)
            (worker,) = child_pids(url.pid)
            connections = 2 * (streams + slow + POLLERS) + 512  # each client's and its upstream's
            with nginx_proxy(Path(folder) / "nginx", int(url.rsplit(":", 1)[1]), connections=connections) as proxy:
                return load(url, proxy, worker, seconds=seconds, streams=streams, slow=slow, browser=browser)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def results(run: ViewersRun, streams: int, slow: int) -> list[Result]:
    load_name = f"{streams} streams + {slow} slow clients"
    rows = []
    for path, target in (("/api/stats", 1000.0), ("/", 2000.0)):
        seconds = [elapsed for _, elapsed in run.answers.get(path, [])]
        rows += [
            Result(f"{path} p99 with {load_name} vs idle (ms)", percentile(seconds, 0.99) * 1000,
                   percentile(run.idle[path], 0.99) * 1000, "ms", f"<= {target:.0f} ms", limit=target, absolute=True),
            Result(f"   {path} p50, max with the load (ms)", percentile(seconds, 0.5) * 1000, max(seconds) * 1000, "ms", ""),
        ]
    callbacks = [elapsed for _, elapsed in run.answers.get("/_dash-update-component", [])]
    first_events = [client.first_event_seconds for client in run.streams if client.first_event_seconds is not None]
    served = sum(1 for client in run.streams if client.status == 200 and client.events > 0)
    rows += [
        Result("   page refresh callback p99 with the load (ms)", percentile(callbacks, 0.99) * 1000, None, "ms", ""),
        Result(f"streams served with their first event (of {streams}); stream {streams + 1}: {run.extra_stream_status}",
               served, streams, "", f">= {streams}", limit=streams, higher_is_better=True, absolute=True),
        Result("   time to a stream's first event, p50 / max (ms)", percentile(first_events, 0.5) * 1000,
               max(first_events, default=float("nan")) * 1000, "ms", ""),
        Result(f"   slow clients cut off (head {run.cut_off['head']}, body {run.cut_off['body']}, "
               f"idle {run.cut_off['idle']})", sum(run.cut_off.values()), None, "", ""),
    ]
    if run.page_ms:
        rows.append(Result(f"page time to KPI in Chromium with the load, max of {len(run.page_ms)} (ms)",
                           max(run.page_ms), None, "ms", "<= 2000 ms", limit=2000, absolute=True))
    for label, figures in (("before", run.before), ("during", run.during), ("after", run.after)):
        rows.append(Result(f"   worker {label}: threads {figures.threads}, open files {figures.open_files} (RSS MB)",
                           figures.rss_kib / 1024, None, "MB", ""))
    rows.append(Result(f"   errors (should be 0): {'; '.join(run.errors[:3])}", len(run.errors), None, "", ""))
    return rows


def run(seconds: float = 30, streams: int = 100, slow: int = 30, browser: bool = True) -> list[Result]:
    browser = browser and shutil.which("chromium") is not None
    return results(run_viewers(seconds=seconds, streams=streams, slow=slow, browser=browser), streams, slow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.viewers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="30 s; 75 s with --pages")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--pages", type=int, help="open pages all updating together (bench/audience.py)")
    args = parser.parse_args(argv)
    if args.pages:
        from bench.audience import AUDIENCE_SECONDS
        from bench.audience import main as audience

        return audience(args.pages, args.seconds or AUDIENCE_SECONDS)
    print(format_table(run(args.seconds or 30, args.streams, args.slow, args.browser)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
