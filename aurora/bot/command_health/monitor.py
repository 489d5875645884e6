"""The bot's health parts in one object: the window, the interaction tracker, the process readings
and, with REDIS_URL, the store that keeps the window across restarts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import discord

from aurora.bot.command_health.figures import CommandHealth, InteractionKind
from aurora.bot.command_health.process import ProcessReadings
from aurora.bot.command_health.slots import SlotData
from aurora.bot.command_health.tracker import InteractionTracker
from aurora.bot.command_health.window import HealthWindow
from aurora.protocols import Clock

if TYPE_CHECKING:
    import aiohttp

# The row of interactions for a command the bot does not have (a stale registration): one fixed
# name, so no name from outside the registered set ever reaches an output.
UNREGISTERED = "(unregistered)"
COMMAND_KINDS: dict[int, InteractionKind] = {1: "slash", 2: "user_menu", 3: "message_menu"}


def kind_of(interaction: discord.Interaction) -> InteractionKind | None:
    data = interaction.data or {}
    if interaction.type == discord.InteractionType.application_command:
        return COMMAND_KINDS.get(int(data.get("type", 1)), "slash")
    if interaction.type == discord.InteractionType.component:
        return "button" if data.get("component_type") == discord.ComponentType.button.value else "select"
    if interaction.type == discord.InteractionType.modal_submit:
        return "modal"
    return None


class WindowStore(Protocol):
    """Where the window outlives the process (`aurora.bot.command_health.redis_window.RedisWindowStore`)."""

    def load(self, now: datetime) -> tuple[datetime | None, dict[int, tuple[SlotData, dict[str, InteractionKind]]]]:
        ...

    def save(self, unsaved: dict[int, SlotData], kinds: dict[str, InteractionKind], since: datetime) -> bool:
        ...


class CommandHealthMonitor:
    """Used on the bot's loop only; the store's blocking calls run in the loop's executor and their
    results are applied back on the loop. One monitor outlives the clients of successive logins
    (`aurora.bot_runner`), so the window is not started afresh by a failed login."""

    def __init__(self, clock: Clock, store: WindowStore | None = None) -> None:
        self._clock = clock
        self._store = store
        self._loaded = False
        self.window = HealthWindow(clock())
        self.tracker = InteractionTracker(self.window, clock)
        self._process = ProcessReadings()

    def trace_config(self) -> aiohttp.TraceConfig:
        return self.tracker.trace_config()

    async def load(self) -> None:
        """Add what the store kept of the last 24 h, once: each client of a new login asks again,
        and the store's slots are already in the window (a no-op without a store)."""
        if self._store is None or self._loaded:
            return
        self._loaded = True
        since, slots = await asyncio.get_running_loop().run_in_executor(None, self._store.load, self._clock())
        for slot, (data, kinds) in slots.items():
            self.window.merge(slot, data, kinds)
        if since is not None:
            self.window.since = min(self.window.since, since)

    async def save(self) -> None:
        """Hand what changed since the last save to the store; kept for the next try if it fails."""
        if self._store is None:
            return
        unsaved, kinds = self.window.take_unsaved(), dict(self.window.kinds)
        if not unsaved:
            return
        saved = await asyncio.get_running_loop().run_in_executor(
            None, self._store.save, unsaved, kinds, self.window.since
        )
        if not saved:
            self.window.give_back(unsaved, self._clock())

    def summary(self, now: datetime) -> CommandHealth:
        rss, cpu = self._process.read(now)
        return dataclasses.replace(self.window.summary(now), rss_bytes=rss, cpu_percent=cpu)
