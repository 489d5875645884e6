"""Benchmark data: Aurora's tables filled at a fixed daily volume, in a database of their own.

    python -m bench.generate --size 1m              # PostgreSQL (COPY), database aurora_bench
    python -m bench.generate --size 100k --sqlite   # SQLite file under bench/data/

Every size has the same daily volume (10M transactions over 90 days, ~111k a day), so a bigger
size is a longer history; users are a tenth of the transactions, moderation cases a hundredth.
PostgreSQL data goes into schema `size_<label>` of database `aurora_bench` (created if missing;
never the `test` database the tests use). Re-running reuses a complete data set and rebuilds an
incomplete one. Benchmarks append rows after `data_end` and remove them again.
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
from sqlalchemy import create_engine, make_url, text

from aurora.db import init_db, metadata
from bench.common import progress

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
ROWS_PER_DAY = 10_000_000 / 90
GENERATOR_VERSION = "1"
CHUNK = 250_000
POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/aurora_bench"
SQLITE_FOLDER = Path(__file__).resolve().parent / "data"
COMMAND_NAMES = [
    "balance", "daily", "ping", "stats", "shop", "buy", "give", "leaderboard", "profile", "work",
    "rob", "deposit", "withdraw", "gamble", "slots", "coinflip", "help", "inventory", "trade", "quest",
]
OTHER_KINDS = ["DAILY_REWARD", "TRANSFER_IN", "TRANSFER_OUT", "SHOP_BUY"]
CASE_KINDS = ["warn", "mute", "kick", "ban"]


@dataclass(frozen=True)
class Dataset:
    label: str
    transactions: int
    url: str
    data_end: datetime

    @property
    def days(self) -> float:
        return self.transactions / ROWS_PER_DAY


def postgres_url(label: str, base: str = POSTGRES_URL) -> str:
    return f"{base}?options={quote(f'-csearch_path=size_{label}')}"


def sqlite_url(label: str) -> str:
    return f"sqlite:///{SQLITE_FOLDER / f'aurora-bench-{label}.sqlite'}"


def _ensure_postgres_database(base: str) -> None:
    url = make_url(base)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database})
            if exists.first() is None:
                # An identifier cannot be a bound parameter; the name comes from our own constant/URL.
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def _read_meta(engine) -> dict[str, str]:
    with engine.connect() as conn:
        try:
            return dict(conn.execute(text("SELECT key, value FROM bench_meta")).all())
        except Exception:  # no meta table yet: nothing generated here
            return {}


def _timestamps(microseconds: np.ndarray, sqlite: bool) -> list[str]:
    stamps = np.datetime_as_string(microseconds.astype("datetime64[us]"), unit="us")
    if sqlite:
        # The text form SQLAlchemy writes (a zero fraction is left out, see aurora.db).
        return [stamp.replace("T", " ").removesuffix(".000000") for stamp in stamps.tolist()]
    return [stamp + "+00" for stamp in stamps.tolist()]


def _rows(size: int, data_end: datetime, seed: int, sqlite: bool):
    """Chunks of (transactions, users, cases) rows as tuples, oldest first."""
    rng = np.random.default_rng(seed)
    end_us = int(data_end.timestamp() * 1_000_000)
    span_us = int(size / ROWS_PER_DAY * 86_400_000_000)
    user_count, case_count = max(size // 10, 1), max(size // 100, 1)
    offsets = np.sort(rng.integers(0, span_us, size=size))
    name_weights = 1 / np.arange(1, len(COMMAND_NAMES) + 1)
    name_weights /= name_weights.sum()
    for start in range(0, size, CHUNK):
        chunk = offsets[start:start + CHUNK]
        count = len(chunk)
        stamps = _timestamps(end_us - span_us + chunk, sqlite)
        is_command = rng.random(count) < 0.7
        names = rng.choice(len(COMMAND_NAMES), size=count, p=name_weights)
        kinds = rng.integers(0, len(OTHER_KINDS), size=count)
        amounts = rng.integers(1, 5_000, size=count)
        owners = rng.integers(0, user_count, size=count)
        rows = [
            (
                400_000_000_000_000_000 + int(owners[i]),
                0 if is_command[i] else int(amounts[i]),
                "COMMAND_RUN" if is_command[i] else OTHER_KINDS[kinds[i]],
                COMMAND_NAMES[names[i]] if is_command[i] else None,
                stamps[i],
            )
            for i in range(count)
        ]
        yield "transactions", rows
    # Users registered over two years (a few percent of them in the last month), 80 % active.
    user_us = np.sort(rng.integers(end_us - 730 * 86_400_000_000, end_us, size=user_count))
    user_stamps = _timestamps(user_us, sqlite)
    active = rng.random(user_count) < 0.8
    yield "users", [
        (400_000_000_000_000_000 + i, f"user{i}", bool(active[i]), int(i % 10_000), user_stamps[i])
        for i in range(user_count)
    ]
    case_stamps = _timestamps(np.sort(rng.integers(end_us - span_us, end_us, size=case_count)), sqlite)
    kinds = rng.integers(0, len(CASE_KINDS), size=case_count)
    yield "moderation_cases", [
        (f"CASE-{i + 1:07d}", CASE_KINDS[kinds[i]], 400_000_000_000_000_000 + i, f"user{i}",
         400_000_000_000_000_999, "moderator", "generated", True, case_stamps[i])
        for i in range(case_count)
    ]


COLUMNS = {
    "transactions": ("user_id", "amount", "type", "description", "created_at"),
    "users": ("id", "username", "is_active", "balance", "created_at"),
    "moderation_cases": (
        "case_id", "type", "user_id", "username", "moderator_id", "moderator_name", "reason", "active",
        "created_at",
    ),
}


def _csv(rows) -> io.StringIO:
    def cell(value) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    return io.StringIO("".join(",".join(cell(value) for value in row) + "\n" for row in rows))


def _drop_indexes(conn) -> None:
    # Loading first and indexing after is several times faster than maintaining indexes per row.
    for table in metadata.tables.values():
        for index in table.indexes:
            index.drop(conn, checkfirst=True)


def _total_rows(size: int) -> int:
    return size + max(size // 10, 1) + max(size // 100, 1)


def _load(engine, size: int, data_end: datetime, sqlite: bool, label: str) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn)
        _drop_indexes(conn)
    done, total = 0, _total_rows(size)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, rows in _rows(size, data_end, seed=size, sqlite=sqlite):
            columns = COLUMNS[table]
            if sqlite:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608 (our constants)
            else:
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", _csv(rows))
            done += len(rows)
            progress(f"generating {label}", min(done, total), total)
        raw.commit()
    finally:
        raw.close()


def ensure_dataset(label: str, *, sqlite: bool = False, base_url: str = POSTGRES_URL, force: bool = False) -> Dataset:
    """The data set of this size, generated unless a complete one is already there."""
    size = SIZES[label]
    if sqlite:
        SQLITE_FOLDER.mkdir(exist_ok=True)
        url = sqlite_url(label)
    else:
        _ensure_postgres_database(base_url)
        url = postgres_url(label, base_url)
    # No statement timeout here (unlike the app's engine): indexing 10M rows takes minutes.
    engine = create_engine(url)
    try:
        meta = _read_meta(engine)
        if not force and meta.get("complete") == "yes" and meta.get("version") == GENERATOR_VERSION:
            return Dataset(label, size, url, datetime.fromisoformat(meta["data_end"]))
        started = time.monotonic()
        _reset(engine, sqlite, label, base_url)
        data_end = datetime.now(UTC).replace(microsecond=0)
        _load(engine, size, data_end, sqlite, label)
        with engine.begin() as conn:
            init_db(engine)
            conn.execute(text("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
            meta = {"version": GENERATOR_VERSION, "data_end": data_end.isoformat(), "complete": "yes"}
            conn.execute(text("INSERT INTO bench_meta (key, value) VALUES (:key, :value)"),
                         [{"key": key, "value": value} for key, value in meta.items()])
        _analyze(engine, sqlite)
        print(f"generated {label} in {time.monotonic() - started:.0f}s -> {engine.url.render_as_string()}")
        return Dataset(label, size, url, data_end)
    finally:
        engine.dispose()


def _reset(engine, sqlite: bool, label: str, base_url: str) -> None:
    engine.dispose()
    if sqlite:
        path = Path(engine.url.database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "size_{label}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "size_{label}"'))
    finally:
        admin.dispose()


def _analyze(engine, sqlite: bool) -> None:
    if sqlite:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return
    # VACUUM sets the visibility map, without which PostgreSQL cannot use index-only scans.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))


def remove_appended_rows(engine, dataset: Dataset) -> None:
    """Rows a benchmark added after the generated history (see `data_end`)."""
    with engine.begin() as conn:
        for table in ("transactions", "users", "moderation_cases"):
            conn.execute(text(f"DELETE FROM {table} WHERE created_at > :end"), {"end": _bound(engine, dataset)})  # noqa: S608 (our table names)


def _bound(engine, dataset: Dataset):
    if engine.dialect.name == "sqlite":
        return dataset.data_end.replace(tzinfo=None).isoformat(sep=" ")
    return dataset.data_end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES, key=SIZES.get), default="1m")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete data set exists")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server and database for the data sets")
    args = parser.parse_args(argv)
    dataset = ensure_dataset(args.size, sqlite=args.sqlite, base_url=args.postgres_url, force=args.force)
    print(f"{dataset.label}: {dataset.transactions:,} transactions over {dataset.days:.1f} days "
          f"ending {dataset.data_end.isoformat()} ({dataset.url})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
