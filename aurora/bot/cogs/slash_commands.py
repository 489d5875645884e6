"""Aurora's slash commands. The cog gets plain callables: it never touches SQL or the web side.

Blocking work (the database, the stats service) runs in the loop's executor so a slow database
never stalls the gateway heartbeat.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from aurora.stats.model import Stats


@dataclass(frozen=True)
class CommandServices:
    stats: Callable[[], Stats]
    balance_of: Callable[[int], int | None]


def stats_message(stats: Stats) -> str:
    def optional(value, suffix=""):
        return "n/a" if value is None else f"{value:,}{suffix}"

    lines = [
        f"Servers: {optional(stats.guild_count)}",
        f"Active users: {stats.active_users:,}",
        f"Commands (24 h): {stats.commands_total:,}",
        f"Avg ping: {optional(stats.ping_avg_ms, ' ms')}",
    ]
    if stats.stale:
        lines.append("(database figures are delayed)")
    return "\n".join(lines)


class AuroraCommands(commands.Cog):
    def __init__(self, bot: commands.Bot, services: CommandServices) -> None:
        self.bot = bot
        self.services = services

    async def _off_loop(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    @app_commands.command(name="ping", description="Show the bot's gateway latency")
    async def ping(self, interaction: discord.Interaction) -> None:
        latency = self.bot.latency
        text = f"Pong! {round(latency * 1000)} ms" if math.isfinite(latency) else "Pong! (no latency sample yet)"
        await interaction.response.send_message(text)

    @app_commands.command(name="stats", description="Aurora's numbers, as on the dashboard")
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        stats = await self._off_loop(self.services.stats)
        await interaction.followup.send(stats_message(stats))

    @app_commands.command(name="balance", description="Your coin balance")
    async def balance(self, interaction: discord.Interaction) -> None:
        balance = await self._off_loop(self.services.balance_of, interaction.user.id)
        if balance is None:
            await interaction.response.send_message("You are not registered with Aurora yet.", ephemeral=True)
        else:
            await interaction.response.send_message(f"Your balance: {balance:,} coins", ephemeral=True)
