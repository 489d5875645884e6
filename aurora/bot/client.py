"""Aurora's Discord bot: `AuroraBot(commands.Bot)`, its cogs and the snapshots it publishes.

Everything here runs on the bot's own loop (`aurora.bot_runner` owns the thread). The cogs keep
`BotState` current; `publish_snapshot` reads discord.py's caches there and hands a frozen
`BotSnapshot` to the snapshot sink (the in-memory cache, or Redis in role `bot`), so no
discord.py object ever leaves the loop. This module never imports Dash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import discord
import yarl
from discord.ext import commands

from aurora.bot.cogs.command_log import CommandLog
from aurora.bot.cogs.health import Health
from aurora.bot.cogs.presence import TICK_SECONDS, Presence
from aurora.bot.cogs.slash_commands import AuroraCommands, CommandServices
from aurora.bot.command_health.monitor import CommandHealthMonitor
from aurora.bot.recorder import CommandRecorder
from aurora.bot.state import BotState, ShardReading, finite_ms
from aurora.protocols import Clock, SnapshotSink
from aurora.settings import Settings

log = logging.getLogger(__name__)

# Discord allows one IDENTIFY per 5 s per bucket.
IDENTIFY_DELAY_SECONDS = 5.0


def point_discord_at(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured endpoints (Discord, a proxy, or a fake).

    discord.py reads these class attributes whenever it builds a route or opens the gateway;
    they are process-wide, which is why a process runs at most one bot.
    """
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def quiet_voice_warnings() -> None:
    # Aurora never joins voice channels; the missing voice libraries are not worth a warning.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def bot_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True  # cached user count; privileged: enable it in the developer portal
    return intents


@dataclasses.dataclass(frozen=True)
class BotParts:
    """What the bot is built from, the same for the client of every login (`aurora.bot_runner`)."""

    snapshots: SnapshotSink
    recorder: CommandRecorder
    services: CommandServices
    clock: Clock
    tick_seconds: float = TICK_SECONDS
    identify_delay_seconds: float = IDENTIFY_DELAY_SECONDS
    sync_commands: bool = True


class AuroraBot(commands.Bot):
    """One gateway connection. `ShardedAuroraBot` is the same bot over several shards."""

    def __init__(
        self,
        parts: BotParts,
        *,
        state: BotState | None = None,
        health: CommandHealthMonitor | None = None,
        **options,
    ) -> None:
        # Before the client: discord.py takes the HTTP trace that times the answers at construction.
        self.health = health or CommandHealthMonitor(parts.clock)
        super().__init__(
            command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None,
            http_trace=self.health.trace_config(), **options,
        )
        # Handed in by the runner, so what the bot knows about itself outlives a failed login's client.
        self.state = state or BotState()
        self.parts = parts
        self.clock = parts.clock

    async def setup_hook(self) -> None:
        parts = self.parts
        await self.add_cog(AuroraCommands(self, parts.services))
        await self.add_cog(CommandLog(self, parts.recorder))
        await self.add_cog(Presence(self, tick_seconds=parts.tick_seconds))
        await self.add_cog(Health(self, tick_seconds=parts.tick_seconds))
        if parts.sync_commands:
            try:
                await self.tree.sync()
            except discord.HTTPException as error:
                log.warning("could not sync slash commands with Discord: %s", error)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Only reconnects wait (a fresh IDENTIFY after an invalid session); a loopback fake needs none.
        if not initial and self.parts.identify_delay_seconds:
            await asyncio.sleep(self.parts.identify_delay_seconds)

    def shard_readings(self) -> list[ShardReading]:
        return [ShardReading(0, self.latency, self.is_closed())]

    def publish_snapshot(self) -> None:
        """Take a snapshot of the bot (on its loop) and hand it to the snapshot sink."""
        now = self.clock()
        ready = self.is_ready()
        latency = self.latency if ready else None
        shards = self.shard_readings() if ready else []
        self.state.add_ping_sample(now, finite_ms(latency))
        if ready:
            self.state.add_guild_count(now, len(self.guilds))
        snapshot = self.state.snapshot(
            now,
            guild_count=len(self.guilds) if ready else None,
            user_count=len(self.users) if ready else None,
            latency_seconds=latency,
            commands_registered=len(self.tree.get_commands()),
            shards=shards,
        )
        self.parts.snapshots.publish(dataclasses.replace(snapshot, command_health=self.health.summary(now)))


class ShardedAuroraBot(AuroraBot, commands.AutoShardedBot):
    """AuroraBot over DISCORD_SHARD_COUNT shards, each with its own connection and latency."""

    def shard_readings(self) -> list[ShardReading]:
        return [ShardReading(info.id, info.latency, info.is_closed()) for info in self.shards.values()]


def create_bot(settings: Settings, parts: BotParts, *, client_options: dict | None = None, **bot_options) -> AuroraBot:
    """The bot for `settings`, pointed at its Discord endpoints; build it on the loop it runs on.

    `bot_options` are AuroraBot's keyword arguments; `client_options` go to discord.py's client.
    """
    point_discord_at(settings)
    quiet_voice_warnings()
    options = {**(client_options or {}), **bot_options}
    if settings.discord_shard_count is not None:
        return ShardedAuroraBot(parts, shard_count=settings.discord_shard_count, **options)
    return AuroraBot(parts, **options)
