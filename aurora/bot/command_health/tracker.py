"""One interaction from its creation to its end, counted once into the `HealthWindow`.

Three sources meet here, all on the bot's loop:
- discord.py's `http_trace` (a documented client option: an aiohttp `TraceConfig`) sees the first
  answer to an interaction leave (its callback request) and Discord's reply (status, `Date`);
- the cog's listeners say which command or component it was, and when it completed or failed;
- the interaction id's snowflake says when Discord created it.

Answer times are measured on the stopwatch and put on Discord's clock (`discord_time`), never on
the app's clock, which only places a finished run in its slot of the window.

The id only keys the open interactions here; what leaves is a `Run` of aggregates.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

import aiohttp
from discord.utils import snowflake_time

from aurora.bot.command_health.discord_time import DiscordTime
from aurora.bot.command_health.figures import InteractionKind
from aurora.bot.command_health.slots import Run
from aurora.bot.command_health.window import HealthWindow
from aurora.protocols import Clock

# Discord's limit for the first answer, and how long it keeps an interaction's token.
ANSWER_LIMIT = timedelta(seconds=3)
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_OPEN = 2000
UNKNOWN_INTERACTION_STATUS = 404  # a callback's 404 is 10062 "Unknown interaction"
CALLBACK_PATH = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
COMPONENT_KINDS = ("button", "select", "modal")


def ms_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() * 1000)


@dataclass
class OpenInteraction:
    created: datetime  # Discord's time
    name: str | None = None
    kind: InteractionKind | None = None
    ack_at: float | None = None  # a stopwatch reading
    ack_status: int | None = None
    failed: bool = False


class InteractionTracker:
    def __init__(self, window: HealthWindow, clock: Clock, discord_time: DiscordTime | None = None,
                 stopwatch: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._stopwatch = stopwatch
        self.discord_time = discord_time or DiscordTime()
        self._open: OrderedDict[int, OpenInteraction] = OrderedDict()

    def _discord_at(self, reading: float) -> datetime:
        if (moment := self.discord_time.at(reading)) is not None:
            return moment
        # Discord never answered with a Date (no answer got through): the host's clock is the one guess.
        return self._clock() - timedelta(seconds=self._stopwatch() - reading)

    def _entry(self, interaction_id: int) -> OpenInteraction:
        entry = self._open.get(interaction_id)
        if entry is None:
            entry = self._open[interaction_id] = OpenInteraction(created=snowflake_time(interaction_id))
            while len(self._open) > MAX_OPEN:
                self._finish(*self._open.popitem(last=False))
        return entry

    # --- what the listeners say -----------------------------------------------------------------
    def received(self, interaction_id: int, name: str, kind: InteractionKind) -> None:
        entry = self._entry(interaction_id)
        entry.name, entry.kind = name, kind
        self._finish_answered_component(interaction_id)

    def finished(self, interaction_id: int, *, failed: bool) -> None:
        entry = self._open.pop(interaction_id, None)
        if entry is not None:
            entry.failed = entry.failed or failed
            self._finish(interaction_id, entry)

    # --- what the HTTP trace sees ---------------------------------------------------------------
    def ack_leaving(self, interaction_id: int) -> None:
        entry = self._entry(interaction_id)
        if entry.ack_at is None:  # the first answer is the ack; a second one is Discord's 40060
            entry.ack_at = self._stopwatch()

    def ack_answered(self, interaction_id: int, status: int | None) -> None:
        entry = self._open.get(interaction_id)
        if entry is None:
            return
        if entry.ack_status is None:
            entry.ack_status = status
        if status is None or status >= 400:
            entry.failed = True
        self._finish_answered_component(interaction_id)

    def _finish_answered_component(self, interaction_id: int) -> None:
        # A component's callback has no completion event: its answer is its end.
        entry = self._open.get(interaction_id)
        if entry is not None and entry.kind in COMPONENT_KINDS and entry.ack_status is not None:
            self.finished(interaction_id, failed=False)

    def sweep(self) -> None:
        """Count the interactions whose token expired without an end seen (a hung command)."""
        if not self.discord_time.known:
            return  # how old an interaction is only Discord's clock can tell
        expired = self._discord_at(self._stopwatch()) - TOKEN_LIFETIME
        for interaction_id in [iid for iid, entry in self._open.items() if entry.created < expired]:
            self.finished(interaction_id, failed=True)

    def _finish(self, _interaction_id: int, entry: OpenInteraction) -> None:
        if entry.name is None or entry.kind is None:
            return  # never dispatched to a listener (an autocomplete, say): not a command run
        # Read with the latest estimate of Discord's clock: the ack's own answer has narrowed it.
        end = self._discord_at(self._stopwatch())
        ack_ms = ms_between(entry.created, self._discord_at(entry.ack_at)) if entry.ack_at is not None else None
        late = (
            entry.ack_status == UNKNOWN_INTERACTION_STATUS
            or ack_ms is None
            or ack_ms > ANSWER_LIMIT.total_seconds() * 1000
        )
        run = Run(name=entry.name, kind=entry.kind, end_ms=ms_between(entry.created, end), ack_ms=ack_ms,
                  failed=entry.failed, late=late)
        self.window.add_run(self._clock(), run)

    # --- the trace ------------------------------------------------------------------------------
    def trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_request_start)
        trace.on_request_end.append(self._on_request_end)
        trace.on_request_exception.append(self._on_request_exception)
        return trace

    @staticmethod
    def _callback_id(url) -> int | None:
        match = CALLBACK_PATH.search(url.path)
        return int(match.group(1)) if match else None

    async def _on_request_start(self, _session, context: SimpleNamespace, params) -> None:
        context.aurora_sent = self._stopwatch()
        if (interaction_id := self._callback_id(params.url)) is not None:
            self.ack_leaving(interaction_id)

    async def _on_request_end(self, _session, context: SimpleNamespace, params) -> None:
        sent = getattr(context, "aurora_sent", None)
        if sent is not None:
            self.discord_time.observe(sent, self._stopwatch(), params.response.headers.get("Date"))
        if (interaction_id := self._callback_id(params.url)) is not None:
            self.ack_answered(interaction_id, params.response.status)

    async def _on_request_exception(self, _session, _context: SimpleNamespace, params) -> None:
        if (interaction_id := self._callback_id(params.url)) is not None:
            self.ack_answered(interaction_id, None)
