"""What every benchmark shares: the result row, the table, servers started as child processes, and
the HTTP load put on them."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from aurora.web.dash_routes import refresh_body_from
from aurora.web.serving.local_nginx import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"


@dataclass(frozen=True)
class Result:
    """One figure: ours against the anchor measured in the same run."""

    figure: str
    ours: float
    anchor: float | None
    unit: str
    target: str  # e.g. "<= 0.05"; "" for figures shown for information
    limit: float | None = None
    higher_is_better: bool = False
    ratio_override: float | None = None  # for figures whose ratio is not ours / anchor
    absolute: bool = False  # the target bounds `ours` itself; the anchor is shown for comparison

    @property
    def ratio(self) -> float | None:
        if self.ratio_override is not None:
            return self.ratio_override
        if self.anchor in (None, 0):
            return None
        return self.ours / self.anchor

    @property
    def passed(self) -> bool | None:
        if self.limit is None:
            return None
        value = self.ours if self.absolute or self.ratio is None else self.ratio
        return value >= self.limit if self.higher_is_better else value <= self.limit


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def format_table(results: list[Result]) -> str:
    rows = [("figure", "ours", "anchor", "ratio", "target", "pass/fail")]
    for result in results:
        verdict = {None: "info", True: "PASS", False: "FAIL"}[result.passed]
        rows.append(
            (
                result.figure,
                _number(result.ours, result.unit),
                _number(result.anchor, result.unit),
                "-" if result.ratio is None else f"{result.ratio:.3f}",
                result.target or "-",
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def wait_for_http(url: str, timeout: float = 30.0, *, ok_statuses=(200,)) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok_statuses:
                    return
        except OSError as error:  # refused while starting, 503 before the first refresh
            last = error
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s ({last})")


class Server(str):
    """A running server's base URL (a str, so it formats like one) that also knows its pid."""

    pid: int

    def __new__(cls, url: str, pid: int) -> Server:
        server = super().__new__(cls, url)
        server.pid = pid
        return server


@contextmanager
def gunicorn(app: str, env: dict[str, str], *, workers: int, threads: int, gthread: bool = False) -> Iterator[Server]:
    """`gunicorn app` with the project's gunicorn.conf.py on a free loopback port; `threads` run the
    app in each worker (AURORA_THREADS). `gthread`: gunicorn's own thread-per-request workers and
    none of the project's settings instead (for a WSGI app: the serving model before the asyncio one)."""
    port = free_port()
    if gthread:
        # An empty config file: otherwise gunicorn reads the project's from the working directory.
        config = ["-c", os.devnull, "--worker-class", "gthread", "--threads", str(threads), "--no-control-socket"]
    else:
        config = ["-c", str(GUNICORN_CONFIG)]
    command = [sys.executable, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), app]
    env = {**env, "AURORA_THREADS": str(threads)}
    # The server log goes to a file (a pipe nobody reads would block the server once full).
    log = tempfile.NamedTemporaryFile(prefix="aurora-bench-", suffix=".log", delete=False)
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,
    )
    try:
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        # The whole session: master and workers, started by us and nothing else.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        lines = Path(log.name).read_text(errors="replace").splitlines()
        Path(log.name).unlink()
        if any("Traceback" in line or "[ERROR]" in line for line in lines):
            print(f"bench: {app} logged errors; its log ends:\n  " + "\n  ".join(lines[-25:]), file=sys.stderr)


def wrk(url: str, *, connections: int, seconds: float, threads: int) -> tuple[float, dict[str, float]]:
    """`wrk` (Debian package `wrk`) against one URL: requests per second and the p50/p99 latency in ms."""
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    if errors := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise RuntimeError(f"{url}: {errors.group(1)} responses were errors")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {}
    for label, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE):
        percentiles[f"p{label}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, percentiles


def _keep_alive_client(url: str, connections: int, deadline: float, results: multiprocessing.Queue) -> None:
    parts = urlsplit(url)
    pool = [HTTPConnection(parts.hostname, parts.port, timeout=10) for _ in range(connections)]
    done = 0
    while time.monotonic() < deadline:
        for conn in pool:
            conn.request("GET", parts.path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            done += 1
    results.put(done)


def python_load(urls: list[str], connections: int, seconds: float) -> float:
    """The load generator for machines without wrk: one process per entry of `urls` (the same URL
    may stand more than once), each cycling over `connections` keep-alive connections (no
    pipelining) for `seconds`. Returns the requests per second of all of them together."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    deadline = time.monotonic() + seconds
    clients = [multiprocessing.Process(target=_keep_alive_client, args=(url, connections, deadline, results))
               for url in urls]
    started = time.monotonic()
    for client in clients:
        client.start()
    total = sum(results.get(timeout=seconds + 30) for _ in clients)
    for client in clients:
        client.join(timeout=10)
    return total / (time.monotonic() - started)


def print_results(parser: argparse.ArgumentParser, argv: list[str] | None,
                  run: Callable[..., list[Result]]) -> int:
    """A benchmark run on its own: its options go to `run` by name, and its table is printed."""
    print(format_table(run(**vars(parser.parse_args(argv)))))
    return 0


def process_tree_sum(pid: int, reading: Callable[[int], float]) -> float:
    """`reading` of a process and of all its descendants, summed (Linux /proc); a process gone
    meanwhile counts for nothing."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += reading(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        pending.extend(int(child) for child in children)
    return total


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) one process used so far (Linux /proc)."""
    # Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    return int(process_tree_sum(pid, rss_bytes))


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and all its descendants."""
    return process_tree_sum(pid, cpu_seconds)


def drop_redis_keys(client, prefix: str) -> None:
    """Delete every key a run left in Redis under its own `prefix`."""
    stale = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if stale:
        client.delete(*stale)


def refresh_callback_body(base: str) -> bytes:
    """The body Dash's renderer posts for the page's interval-driven refresh, built from its dependencies."""
    with urllib.request.urlopen(f"{base}/_dash-dependencies") as response:
        return refresh_body_from(json.load(response))


@dataclass(frozen=True)
class ProcessFigures:
    threads: int
    rss_kib: int
    open_files: int


def process_figures(pid: int) -> ProcessFigures:
    """Threads, resident memory and open file descriptors of one process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    open_files = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return ProcessFigures(int(fields["Threads"]), int(fields["VmRSS"].split()[0]), open_files)


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory_gb:.0f} GB RAM, Python {sys.version.split()[0]}"


def progress(label: str, done: int, total: int) -> None:
    """A one-line progress bar on stderr (redrawn in place)."""
    width = 30
    filled = int(width * done / total) if total else width
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}{end}")
    sys.stderr.flush()
