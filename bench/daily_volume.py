"""A busy bot's history: N transactions a day for D days, generated inside PostgreSQL.

    python -m bench.generate --per-day 1m            # 35 days at 1M rows a day: 35M transactions
    python -m bench.generate --per-day 100k --days 35

Rows are made by SQL `generate_series` (nothing crosses the wire), one statement per day, into schema
`per_day_<label>` of database `aurora_bench`: transactions spread evenly over each day (ids rise
with `created_at`, as a live bot writes them), 70 % of them `COMMAND_RUN` with 20 command names of
falling popularity; as many users as transactions a day, registered over two years, 80 % active; a
tenth as many moderation cases over the same days. The indexes are built after the load, then
`VACUUM ANALYZE` (index-only scans need the visibility map). A complete data set is reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, event, text

from aurora.storage.tables import init_db, metadata
from bench.common import progress
from bench.datasets import (
    analyze,
    complete_data_end,
    drop_indexes,
    ensure_postgres_database,
    mark_complete,
    reset_schema,
    schema_url,
)

GENERATOR_VERSION = "1"
VOLUMES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "2m": 2_000_000}
DEFAULT_DAYS = 35
USER_BASE = 500_000_000_000_000_000

# One day of transactions; `:day_start` is a timestamptz, `:step` the seconds between rows.
_DAY_OF_TRANSACTIONS = """
INSERT INTO transactions (user_id, amount, type, description, created_at)
SELECT :user_base + floor(random() * :users)::bigint,
       CASE WHEN is_command THEN 0 ELSE 1 + floor(random() * 4999)::int END,
       CASE WHEN is_command THEN 'COMMAND_RUN'
            ELSE (ARRAY['DAILY_REWARD', 'TRANSFER_IN', 'TRANSFER_OUT', 'SHOP_BUY'])[1 + floor(random() * 4)::int]
       END,
       CASE WHEN is_command THEN
            (ARRAY['balance', 'daily', 'ping', 'stats', 'shop', 'buy', 'give', 'leaderboard', 'profile', 'work',
                   'rob', 'deposit', 'withdraw', 'gamble', 'slots', 'coinflip', 'help', 'inventory', 'trade',
                   'quest'])[1 + least(19, floor(20 * power(random(), 2.5))::int)]
       END,
       CAST(:day_start AS timestamptz) + (g + random()) * :step * interval '1 second'
FROM (SELECT g, random() < 0.7 AS is_command FROM generate_series(0, :rows - 1) AS g) AS series
ORDER BY g
"""

_USERS = """
INSERT INTO users (id, username, is_active, balance, created_at)
SELECT :user_base + g, 'user' || g, random() < 0.8, g % 10000,
       CAST(:end AS timestamptz) - interval '730 days' + (g + random()) * :step * interval '1 second'
FROM generate_series(0, :rows - 1) AS g
"""

_CASES = """
INSERT INTO moderation_cases (case_id, type, user_id, username, moderator_id, moderator_name, reason, active,
                              created_at)
SELECT 'CASE-' || lpad((g + 1)::text, 8, '0'),
       (ARRAY['warn', 'mute', 'kick', 'ban'])[1 + floor(random() * 4)::int],
       :user_base + g, 'user' || g, :user_base - 1, 'moderator', 'generated', true,
       CAST(:start AS timestamptz) + (g + random()) * :step * interval '1 second'
FROM generate_series(0, :rows - 1) AS g
"""


@dataclass(frozen=True)
class BusyDataset:
    label: str
    per_day: int
    days: int
    url: str
    data_end: datetime

    @property
    def transactions(self) -> int:
        return self.per_day * self.days


def schema_name(label: str, days: int) -> str:
    return f"per_day_{label}" if days == DEFAULT_DAYS else f"per_day_{label}_{days}d"


def dataset_url(schema: str, base: str) -> str:
    return schema_url(base, schema)


def _load(engine, per_day: int, days: int, data_end: datetime, label: str) -> None:
    start = data_end - timedelta(days=days)
    with engine.begin() as conn:
        metadata.create_all(conn)
        drop_indexes(conn)
    total = per_day * days
    for day in range(days):
        with engine.begin() as conn:
            conn.execute(text(_DAY_OF_TRANSACTIONS), {
                "user_base": USER_BASE, "users": per_day, "rows": per_day, "step": 86_400 / per_day,
                "day_start": start + timedelta(days=day),
            })
        progress(f"generating per-day {label}", (day + 1) * per_day, total)
    with engine.begin() as conn:
        conn.execute(text(_USERS), {"user_base": USER_BASE, "rows": per_day, "end": data_end,
                                    "step": 730 * 86_400 / per_day})
        cases = max(per_day // 10, 1)
        conn.execute(text(_CASES), {"user_base": USER_BASE, "rows": cases, "start": start,
                                    "step": days * 86_400 / cases})


def ensure_busy_dataset(label: str, days: int = DEFAULT_DAYS, *, base_url: str, force: bool = False) -> BusyDataset:
    per_day = VOLUMES[label]
    schema = schema_name(label, days)
    ensure_postgres_database(base_url)
    url = dataset_url(schema, base_url)
    engine = create_engine(url)  # no statement timeout: building the indexes takes minutes

    @event.listens_for(engine, "connect")
    def _more_memory_for_index_builds(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.close()
        dbapi_connection.commit()

    try:
        if not force and (data_end := complete_data_end(engine, GENERATOR_VERSION)) is not None:
            return BusyDataset(label, per_day, days, url, data_end)
        started = time.monotonic()
        engine.dispose()
        reset_schema(base_url, schema)
        # The generator's own moment: a fixed wall-clock reading that the benchmarks then use as "now".
        data_end = datetime.now(UTC).replace(microsecond=0)
        _load(engine, per_day, days, data_end, label)
        print(f"indexing per-day {label} ...", flush=True)
        init_db(engine)
        analyze(engine, sqlite=False)
        mark_complete(engine, GENERATOR_VERSION, data_end)
        print(f"generated per-day {label} x {days} days in {time.monotonic() - started:.0f}s -> {schema}")
        return BusyDataset(label, per_day, days, url, data_end)
    finally:
        engine.dispose()
