"""What the cogs use of the bot that loads them, as a `Protocol`: `AuroraBot` (`aurora.bot.client`)
imports the cogs, so they name its shape here instead of importing it back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import discord
from discord import app_commands

from aurora.bot.command_health.monitor import CommandHealthMonitor
from aurora.bot.state import BotState
from aurora.protocols import Clock


class CogHost(Protocol):
    tree: app_commands.CommandTree
    clock: Clock
    state: BotState
    health: CommandHealthMonitor

    @property
    def guilds(self) -> Sequence[discord.Guild]: ...

    def is_closed(self) -> bool: ...

    def publish_snapshot(self) -> None:
        """Hand a fresh snapshot of the bot to the web side (from the bot's loop)."""
        ...
