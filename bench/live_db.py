"""A live Aurora database that Aurora Dashboard does not own, for `bench.init_db`.

    python -m bench.live_db --size 10m     # schema live_10m of database aurora_bench

It is a copy of the `bench.generate` data set of that size (generated first if missing) whose
indexes someone else made, under their own names, the way an existing Aurora database looks:
`transactions_created_at_idx`, `transactions_type_created_at_idx`, `moderation_cases_created_at_idx`
and `users_is_active_idx` — and no `users(created_at, is_active)`. A copy, so that benchmarks
dropping and building indexes here never disturb the data sets other benchmarks read. Re-running
reuses a complete copy.
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import create_engine, make_url, text

from aurora.storage.tables import metadata
from bench.datasets import analyze, drop_indexes, read_meta, reset_schema, schema_url, write_meta
from bench.generate import POSTGRES_URL, Dataset, ensure_dataset

FOREIGN_INDEXES = {
    "transactions_created_at_idx": ("transactions", ("created_at",)),
    "transactions_type_created_at_idx": ("transactions", ("type", "created_at")),
    "moderation_cases_created_at_idx": ("moderation_cases", ("created_at",)),
    "users_is_active_idx": ("users", ("is_active",)),
}
LIVE_VERSION = "1"


def live_schema(label: str) -> str:
    return f"live_{label}"


def live_url(label: str, base: str = POSTGRES_URL) -> str:
    return schema_url(base, live_schema(label))


def ensure_live_dataset(label: str, *, base_url: str = POSTGRES_URL, force: bool = False) -> Dataset:
    """The live copy of data set `label`, made unless a complete one is already there."""
    source = ensure_dataset(label, base_url=base_url)
    url = live_url(label, base_url)
    engine = create_engine(url)
    try:
        meta = {} if force else read_meta(engine)
        if meta.get("version") == LIVE_VERSION and meta.get("source_end") == source.data_end.isoformat():
            return Dataset(label, source.transactions, url, source.data_end)
        started = time.monotonic()
        source_engine = create_engine(source.url)
        with source_engine.connect() as conn:
            source_schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        source_engine.dispose()
        reset_schema(base_url, live_schema(label))
        engine.dispose()
        with engine.begin() as conn:
            metadata.create_all(conn)
            drop_indexes(conn)
        with engine.connect() as conn:
            preparer = conn.dialect.identifier_preparer
            live, origin = preparer.quote(live_schema(label)), preparer.quote(source_schema)
            conn.execute(text("SET statement_timeout = 0"))
            for name in metadata.tables:
                table = preparer.quote(name)
                print(f"copying {source_schema}.{name} -> {live_schema(label)}.{name} ...", flush=True)
                conn.execute(text(f"INSERT INTO {live}.{table} SELECT * FROM {origin}.{table}"))  # noqa: S608 (our names)
            for name in ("transactions", "moderation_cases"):
                table = preparer.quote(name)
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence(:table, 'id'), (SELECT max(id) FROM {table}))"),  # noqa: S608
                    {"table": name},
                )
            for name, (table, columns) in FOREIGN_INDEXES.items():
                keys = ", ".join(preparer.quote(column) for column in columns)
                conn.execute(text(f"CREATE INDEX {preparer.quote(name)} ON {preparer.quote(table)} ({keys})"))
            write_meta(conn, {"version": LIVE_VERSION, "source_end": source.data_end.isoformat()})
            conn.commit()
        analyze(engine, sqlite=False)
        print(f"prepared {live_schema(label)} in {time.monotonic() - started:.0f}s "
              f"({make_url(url).render_as_string()})", flush=True)
        return Dataset(label, source.transactions, url, source.data_end)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10m")
    parser.add_argument("--force", action="store_true", help="copy again even if a complete copy exists")
    args = parser.parse_args(argv)
    dataset = ensure_live_dataset(args.size, force=args.force)
    print(f"{dataset.label}: {dataset.transactions:,} transactions ending {dataset.data_end.isoformat()} "
          f"({dataset.url})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
