"""What the deadline on PostgreSQL calls costs (`aurora.storage.deadline`): a query's round trip through
the app's engine with it and through the same engine's settings without it, side by side.

    python -m bench.call_deadline [--url postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--queries 2000] [--rounds 10]

With the deadline, psycopg2 runs every call asynchronously and waits in Python (`poll()` in 0.1 s
slices); without it, libpq waits in C. Each round runs `--queries` times `SELECT 1` on one checked-out
connection (no pool work in the loop), alternating the two engines; the best round of each counts
(the machine is shared: the best is the least disturbed), as wall time and this process's CPU time.
"""

from __future__ import annotations

import argparse
import time

import psycopg2.extensions
from sqlalchemy import create_engine, text

from aurora.storage.engine import create_db_engine


def one_round(engine, queries: int) -> tuple[float, float]:
    with engine.connect() as conn:
        statement = text("SELECT 1")
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(queries):
            conn.execute(statement).scalar()
        return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with_deadline = create_db_engine(args.url)
    # The same connection settings, but libpq waits itself: the wait callback is taken away while
    # this engine runs (it is process-wide in psycopg2).
    plain = create_engine(args.url, connect_args={"connect_timeout": 5})
    results: dict[str, list[tuple[float, float]]] = {"with the deadline": [], "without (libpq waits)": []}
    try:
        for _ in range(args.rounds):
            results["with the deadline"].append(one_round(with_deadline, args.queries))
            callback = psycopg2.extensions.get_wait_callback()
            psycopg2.extensions.set_wait_callback(None)
            try:
                results["without (libpq waits)"].append(one_round(plain, args.queries))
            finally:
                psycopg2.extensions.set_wait_callback(callback)
    finally:
        with_deadline.dispose()
        plain.dispose()
    print(f"{args.queries} x SELECT 1 on one connection, best of {args.rounds} rounds")
    for name, rounds in results.items():
        wall, cpu = min(rounds)
        print(f"  {name:24} {wall * 1e6 / args.queries:7.1f} µs per query (wall), "
              f"{cpu * 1e6 / args.queries:7.1f} µs CPU")


if __name__ == "__main__":
    main()
