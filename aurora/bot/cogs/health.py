"""Bot health, measured where it happens: every interaction's kind and command, when it completed,
and the gateway's joins, leaves, reconnects, resumes and connected time (`aurora.bot.command_health`).

The answers' timing comes from the HTTP trace the bot hands discord.py (`CommandHealthMonitor`);
failed slash commands are reported by `CommandLog`, which owns the tree's error handler. Saving the
window to Redis runs in the loop's executor, never blocking the loop.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands, tasks

from aurora.bot.cogs.host import CogHost
from aurora.bot.command_health.figures import InteractionKind
from aurora.bot.command_health.monitor import UNREGISTERED, kind_of

log = logging.getLogger(__name__)

COMPONENT_NAMES: dict[InteractionKind, str] = {"button": "(buttons)", "select": "(selects)", "modal": "(modals)"}


class Health(commands.Cog):
    def __init__(self, bot: CogHost, *, tick_seconds: float) -> None:
        self.bot = bot
        self.health = bot.health
        self.health_ticker.change_interval(seconds=tick_seconds)

    async def cog_load(self) -> None:
        await self.health.load()
        self.health_ticker.start()

    async def cog_unload(self) -> None:
        self.health_ticker.cancel()
        await self.health.save()

    @tasks.loop(seconds=30)
    async def health_ticker(self) -> None:
        try:
            self.health.tracker.sweep()
            await self.health.save()
        except Exception:  # a failed save must not end the ticker for good
            log.exception("could not save the bot health window")

    # --- interactions ---------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        kind = kind_of(interaction)
        if kind is None:
            return  # autocomplete and pings are not answers a user waits for
        if kind in COMPONENT_NAMES:
            name = COMPONENT_NAMES[kind]
        else:
            # Only the tree's own commands name a row: any other name stays out of every output.
            command = interaction.command
            name = command.qualified_name if command is not None else UNREGISTERED
        self.health.tracker.received(interaction.id, name, kind)

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: discord.Interaction, _command) -> None:
        self.health.tracker.finished(interaction.id, failed=False)

    # --- the gateway ----------------------------------------------------------------------------
    @commands.Cog.listener("on_ready")
    @commands.Cog.listener("on_resumed")
    async def on_connected(self) -> None:
        self.health.window.connected(self.bot.clock())

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self.health.window.count(self.bot.clock(), "resumes")

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        now = self.bot.clock()
        self.health.window.disconnected(now)
        if not self.bot.is_closed():
            self.health.window.count(now, "reconnects")

    @commands.Cog.listener()
    async def on_guild_join(self, _guild: discord.Guild) -> None:
        self.health.window.count(self.bot.clock(), "guilds_joined")

    @commands.Cog.listener()
    async def on_guild_remove(self, _guild: discord.Guild) -> None:
        self.health.window.count(self.bot.clock(), "guilds_left")
