"""Every benchmark in one run, one table: figure, ours, anchor, ratio, target, pass/fail.

    python -m bench            # full: 10M rows (growth against 1M), 1M rows a day, 10-minute memory run (~20 min)
    python -m bench --quick    # smoke run: 100k rows (growth against 10k), 10k a day, short memory run (< 1.5 min)
    python -m bench --only refresh,volume,api

Each benchmark also runs alone: python -m bench.refresh | bench.volume | bench.throughput | bench.page |
bench.memory | bench.viewers.
Data sets are generated on first use (python -m bench.generate) and reused afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from bench import memory, page, refresh, throughput, viewers, volume
from bench.common import Result, format_table, machine_description

FULL = {"size": "10m", "small": "1m", "web_size": "1m", "api_seconds": 10, "page_runs": 10,
        "memory_seconds": 600, "memory_warmup": 30, "refreshes": 19, "plain_runs": 5, "per_day": "1m",
        "viewers": {"seconds": 30, "streams": 100, "slow": 30, "browser": True}}
QUICK = {"size": "100k", "small": "10k", "web_size": "10k", "api_seconds": 2, "page_runs": 3,
         "memory_seconds": 8, "memory_warmup": 4, "refreshes": 8, "plain_runs": 3, "per_day": "10k",
         "viewers": {"seconds": 4, "streams": 30, "slow": 6, "browser": False}}
BENCHMARKS = ("refresh", "volume", "api", "page", "memory", "viewers")


def run(mode: dict, only: tuple[str, ...]) -> list[Result]:
    results: list[Result] = []
    steps = {
        "refresh": lambda: refresh.run(mode["size"], mode["small"], refreshes=mode["refreshes"],
                                       plain_runs=mode["plain_runs"]),
        "volume": lambda: volume.run(mode["per_day"]),
        "api": lambda: throughput.run(mode["web_size"], mode["api_seconds"]),
        "page": lambda: page.run(mode["web_size"], mode["page_runs"]),
        "memory": lambda: memory.run(mode["web_size"], mode["memory_seconds"], mode["memory_warmup"]),
        "viewers": lambda: viewers.run(**mode["viewers"]),
    }
    for name in only:
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results.extend(steps[name]())
        print(f"bench: {name} done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (a smoke test)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    mode = QUICK if args.quick else FULL
    started = time.monotonic()
    results = run(mode, only)
    print(f"Aurora Dashboard benchmarks ({'quick' if args.quick else 'full'}), "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine_description()}")
    print(format_table(results))
    failed = [result.figure for result in results if result.passed is False]
    print(f"{len(results)} figures, {len(failed)} below target, {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
