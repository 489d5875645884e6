"""The bot's presence as the dashboard sees it: connected, reconnecting, its guilds, its latency.

Connection and guild events update `BotState` and publish a snapshot at once; between events a
ticker publishes one every `tick_seconds` (each snapshot also adds a latency sample and, hourly, a
guild count to the history). Everything here runs on the bot's loop; what leaves it is the frozen
snapshot.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands, tasks

from aurora.bot.cogs.host import CogHost

log = logging.getLogger(__name__)

# Between events a snapshot every 30 s: the latency samples behind the hourly ping averages.
TICK_SECONDS = 30.0


class Presence(commands.Cog):
    def __init__(self, bot: CogHost, *, tick_seconds: float) -> None:
        self.bot = bot
        self.snapshot_ticker.change_interval(seconds=tick_seconds)

    async def cog_load(self) -> None:
        self.snapshot_ticker.start()

    async def cog_unload(self) -> None:
        self.snapshot_ticker.cancel()

    @tasks.loop(seconds=TICK_SECONDS)
    async def snapshot_ticker(self) -> None:
        try:
            self.bot.publish_snapshot()
        except Exception:  # a failed snapshot must not end the ticker for good
            log.exception("could not publish a bot snapshot")

    # --- the whole connection -------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.bot.state.mark_connected(self.bot.clock())
        log.info("bot connected: %d servers", len(self.bot.guilds))
        self.bot.publish_snapshot()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self.bot.state.mark_connected(self.bot.clock())
        self.bot.publish_snapshot()

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        # A deliberate close is not a reconnect: `BotRunner` publishes that last word itself.
        if not self.bot.is_closed():
            self.bot.state.mark_reconnecting()
            self.bot.publish_snapshot()

    # --- one shard of several (ShardedAuroraBot) ------------------------------------------------
    @commands.Cog.listener()
    async def on_shard_ready(self, shard_id: int) -> None:
        self.bot.state.mark_connected(self.bot.clock(), shard_id)
        self.bot.publish_snapshot()

    @commands.Cog.listener()
    async def on_shard_resumed(self, shard_id: int) -> None:
        self.bot.state.mark_connected(self.bot.clock(), shard_id)
        self.bot.publish_snapshot()

    @commands.Cog.listener()
    async def on_shard_disconnect(self, shard_id: int) -> None:
        if not self.bot.is_closed():
            self.bot.state.mark_reconnecting(shard_id)
            self.bot.publish_snapshot()

    # --- guilds: the count moves at once, not at the next tick ----------------------------------
    @commands.Cog.listener("on_guild_join")
    @commands.Cog.listener("on_guild_remove")
    @commands.Cog.listener("on_guild_available")
    @commands.Cog.listener("on_guild_unavailable")
    async def on_guild_change(self, _guild: discord.Guild) -> None:
        self.bot.publish_snapshot()
