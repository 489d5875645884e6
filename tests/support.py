"""Helpers shared by the tests: a settable clock and row builders at known times."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine, insert

from aurora.bot.snapshot import BotSnapshot, CommandCount, ShardSnapshot
from aurora.stats.model import FiguresPreparing
from aurora.stats.service import StatsService
from aurora.storage.tables import COMMAND_RUN, moderation_cases, transactions, users
from aurora.web.context import context_of, install_context
from aurora.web.install import dash_app, install_app

# A fixed moment with a non-zero minute, so "now" and "start of the hour" differ. Nothing may
# depend on the date the suite runs on: `dev.py test` also runs the suite's clock-driven part
# with this moment moved a year back and a year forward (AURORA_TEST_SHIFT_DAYS).
NOW = datetime(2026, 11, 27, 14, 37, 12, 500000, tzinfo=UTC) + timedelta(
    days=int(os.environ.get("AURORA_TEST_SHIFT_DAYS", "0"))
)
_user_ids = itertools.count(400_000_000_000_000_001)
_case_numbers = itertools.count(1)


def iso_z(moment: datetime) -> str:
    """How the API writes a moment (written independently of the code under test)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FrozenClock:
    """A clock tests move by hand; thread-safe because the service reads it from threads."""

    def __init__(self, now: datetime = NOW) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta) -> None:
        with self._lock:
            self._now += timedelta(**delta)


def preparing_forever(share: float):
    """A stats compute stuck preparing the first figures at `share` (like a large database's first
    counts), to put in place of an app's service through `serve_preparing`."""

    def compute(engine, now):
        raise FiguresPreparing(share)

    return compute


def serve_preparing(app, engine, clock, share: float):
    """An app with `app`'s parts but a stats service whose first figures stay `share` prepared;
    `app`'s shutdown closes that service (its context names it too)."""
    context = context_of(app)
    service = StatsService(engine, context.snapshots, refresh_seconds=30, demo=False, clock=clock,
                           compute=preparing_forever(share))
    preparing = replace(context, service=service)
    install_context(app.server, preparing)
    served = dash_app()
    install_app(served, preparing)
    return served


def user(created_at: datetime, *, active: bool = True, username: str | None = None) -> dict:
    user_id = next(_user_ids)
    return {
        "id": user_id,
        "username": username or f"user{user_id}",
        "is_active": active,
        "balance": 100,
        "created_at": created_at,
    }


def command(created_at: datetime, name: str = "ping", user_id: int | None = None) -> dict:
    return {"user_id": user_id, "amount": 0, "type": COMMAND_RUN, "description": name, "created_at": created_at}


def transaction(created_at: datetime, kind: str = "DAILY_REWARD", amount: int = 250, **extra) -> dict:
    row = {"user_id": None, "amount": amount, "type": kind, "description": None, "created_at": created_at}
    row.update(extra)
    return row


def case(created_at: datetime, kind: str = "warn", **extra) -> dict:
    row = {
        "case_id": f"CASE-{next(_case_numbers):04d}",
        "type": kind,
        "user_id": 400_000_000_000_000_999,
        "username": "offender",
        "moderator_id": 400_000_000_000_000_998,
        "moderator_name": "moderator",
        "reason": "spamming",
        "created_at": created_at,
    }
    row.update(extra)
    return row


def insert_rows(engine: Engine, *, user_rows=(), transaction_rows=(), case_rows=()) -> None:
    with engine.begin() as conn:
        for table, rows in ((users, user_rows), (transactions, transaction_rows), (moderation_cases, case_rows)):
            if rows:
                conn.execute(insert(table), list(rows))


# The bot's timers, shortened for a loopback fake Discord (no 5 s identify wait, fast snapshots).
FAST_BOT_OPTIONS = {"tick_seconds": 0.05, "identify_delay_seconds": 0, "client_options": {"guild_ready_timeout": 0.05}}


def with_fake_discord(fake, **bot_options) -> dict:
    """make_app() overrides that connect the app's bot to `fake` (and lift the rate limit for polling)."""
    return {
        "discord_token": fake.token,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "rate_limit": "100000/minute",
        "bot_options": {**FAST_BOT_OPTIONS, **bot_options},
    }


class Stream:
    """A raw SSE client: reads events line by line with a timeout."""

    def __init__(self, base_url: str, headers: dict | None = None, timeout: float = 5.0, tls=None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme == "https":  # `tls`: the client's ssl.SSLContext
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=tls)
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.connection.request("GET", "/api/stats/realtime", headers=headers or {})
        self.response = self.connection.getresponse()

    def next_block(self) -> list[str]:
        """The lines of the next event or comment (up to a blank line)."""
        lines = []
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("stream ended")
            if line == "\n":
                if lines:
                    return lines
                continue
            lines.append(line.rstrip("\n"))

    def next_event(self) -> dict:
        while True:
            block = self.next_block()
            if block[0].startswith(":") or block[0].startswith("retry:"):
                continue
            fields = dict(line.split(": ", 1) for line in block)
            return {"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])}

    def close(self) -> None:
        # The response's file object keeps the socket open until it is closed too.
        self.response.close()
        self.connection.close()


def connected_snapshot(**changes) -> BotSnapshot:
    snapshot = BotSnapshot(
        status="connected", taken_at=NOW, guild_count=7, user_count=41, latency_ms=38.4,
        commands_registered=3, started_at=NOW - timedelta(hours=2),
        shards=(ShardSnapshot(0, "connected", 37.6), ShardSnapshot(1, "reconnecting", None)),
        ping_avg_ms=42.4, ping_previous_hour_avg_ms=50.0, guild_count_month_ago=5,
        command_failures=(CommandCount("balance", 2),),
    )
    return replace(snapshot, **changes)


def run_in_own_loop(coroutine):
    """`asyncio.run(coroutine)` in a thread of its own: in a process that ran a browser test first,
    Playwright's loop is running in the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
