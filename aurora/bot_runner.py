"""The Discord bot, run in a background thread with its own asyncio loop.

Everything discord.py owns stays on that loop. What crosses to the web side is a frozen
`BotSnapshot`, built on the loop and published into the `SnapshotCache`: on a timer and at once
on connect, disconnect, resume and guild join/leave. This module never imports Dash.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from aurora.bot_commands import AuroraCommands, CommandServices
from aurora.bot_state import BotState, ShardReading, finite_ms
from aurora.cache import SnapshotCache
from aurora.config import Settings, SettingsError
from aurora.recorder import CommandRecord, CommandRecorder

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_running_tokens: set[str] = set()
_running_lock = threading.Lock()


class BotAlreadyRunning(SettingsError):
    """A second bot for the same token in one process would open a second gateway connection."""


def point_discord_at(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured endpoints (Discord, a proxy, or a fake).

    discord.py reads these class attributes whenever it builds a route or opens the gateway;
    they are process-wide, which is why a process runs at most one bot.
    """
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def _quiet_voice_warnings() -> None:
    # Aurora never joins voice channels; the missing voice libraries are not worth a warning.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def bot_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True  # cached user count; privileged: enable it in the developer portal
    return intents


class BotRunner:
    def __init__(
        self,
        settings: Settings,
        snapshots: SnapshotCache,
        recorder: CommandRecorder,
        services: CommandServices,
        *,
        clock: Clock,
        tick_seconds: float = 30.0,
        identify_delay_seconds: float = 5.0,
        sync_commands: bool = True,
        client_options: dict | None = None,
        simulated: bool = False,
    ) -> None:
        if not settings.discord_token:
            raise ValueError("BotRunner needs DISCORD_TOKEN")
        self._settings = settings
        self._snapshots = snapshots
        self._recorder = recorder
        self._services = services
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._identify_delay = identify_delay_seconds
        self._sync_commands = sync_commands
        self._client_options = client_options or {}
        self.state = BotState(simulated=simulated)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: commands.Bot | None = None
        self._closing = False
        self._tick_task: asyncio.Task | None = None
        self._loop_ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="aurora-discord-bot", daemon=True)

    # --- lifecycle, called from other threads -------------------------------------------------
    def start(self) -> None:
        token = self._settings.discord_token
        with _running_lock:
            if token in _running_tokens:
                raise BotAlreadyRunning(
                    "DISCORD_TOKEN: this process already runs the bot for this token; a second one would "
                    "open a duplicate gateway connection"
                )
            _running_tokens.add(token)
        self._recorder.start()
        self._thread.start()
        self._loop_ready.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the gateway connection and stop the thread; safe to call more than once."""
        self._closing = True
        loop, bot = self._loop, self._bot
        if loop is not None and bot is not None and self._thread.is_alive() and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(bot.close(), loop).result(timeout)
            except (TimeoutError, RuntimeError, asyncio.CancelledError) as error:
                log.warning("bot did not close cleanly: %s", error.__class__.__name__)
        self._thread.join(timeout)
        self._recorder.stop(timeout)
        with _running_lock:
            _running_tokens.discard(self._settings.discord_token)

    @property
    def recorder(self) -> CommandRecorder:
        return self._recorder

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # --- the bot thread -----------------------------------------------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._run_bot())
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _build_bot(self) -> commands.Bot:
        _quiet_voice_warnings()
        options = dict(self._client_options)
        bot_class: type[commands.Bot] = commands.Bot
        if self._settings.discord_shard_count is not None:
            bot_class = commands.AutoShardedBot
            options["shard_count"] = self._settings.discord_shard_count
        bot = bot_class(command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None, **options)
        self._attach_events(bot)
        return bot

    async def _run_bot(self) -> None:
        point_discord_at(self._settings)
        bot = self._build_bot()
        self._bot = bot
        self._publish()
        self._loop_ready.set()
        if self._closing:
            return
        try:
            async with bot:
                await bot.add_cog(AuroraCommands(bot, self._services))
                await bot.start(self._settings.discord_token)
        except discord.LoginFailure:
            log.error("Discord rejected DISCORD_TOKEN (401 Unauthorized): the bot is offline, the dashboard keeps running")
        except discord.PrivilegedIntentsRequired:
            log.error(
                "Discord refused the members intent: enable 'Server Members Intent' for this bot in the "
                "developer portal; the bot is offline"
            )
        except discord.ConnectionClosed as error:
            log.error("Discord closed the gateway connection (code %s): the bot is offline", error.code)
        except (discord.DiscordException, OSError) as error:
            log.error("the bot stopped: %s: %s", error.__class__.__name__, error)
        finally:
            self.state.mark_disconnected()
            self._publish()

    # --- events, on the bot loop --------------------------------------------------------------
    def _attach_events(self, bot: commands.Bot) -> None:
        runner = self

        async def setup_hook() -> None:
            # Keep a reference: asyncio holds tasks weakly, and a collected ticker stops publishing.
            runner._tick_task = bot.loop.create_task(runner._tick(bot))
            if runner._sync_commands:
                try:
                    await bot.tree.sync()
                except discord.HTTPException as error:
                    log.warning("could not sync slash commands with Discord: %s", error)

        async def on_ready() -> None:
            runner.state.mark_connected(runner._clock())
            log.info("bot connected: %d servers", len(bot.guilds))
            runner._publish()

        async def on_resumed() -> None:
            runner.state.mark_connected(runner._clock())
            runner._publish()

        async def on_disconnect() -> None:
            if not runner._closing and not bot.is_closed():
                runner.state.mark_reconnecting()
                runner._publish()

        async def on_shard_ready(shard_id: int) -> None:
            runner.state.mark_connected(runner._clock(), shard_id)
            runner._publish()

        async def on_shard_resumed(shard_id: int) -> None:
            runner.state.mark_connected(runner._clock(), shard_id)
            runner._publish()

        async def on_shard_disconnect(shard_id: int) -> None:
            if not runner._closing:
                runner.state.mark_reconnecting(shard_id)
                runner._publish()

        async def on_guild_change(_guild: discord.Guild) -> None:
            runner._publish()

        async def on_app_command_completion(interaction: discord.Interaction, command) -> None:
            runner._record(command.qualified_name, interaction.user.id)

        async def on_command_completion(context: commands.Context) -> None:
            runner._record(context.command.qualified_name, context.author.id)

        async def on_tree_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
            name = interaction.command.qualified_name if interaction.command else "unknown"
            runner.state.command_failed(name)
            log.warning("command /%s failed: %s", name, error.__class__.__name__)
            if not interaction.response.is_done():
                await interaction.response.send_message("Sorry, that command failed.", ephemeral=True)

        async def on_command_error(context: commands.Context, error: commands.CommandError) -> None:
            if context.command is not None:
                runner.state.command_failed(context.command.qualified_name)

        async def before_identify_hook(_shard_id: int | None, *, initial: bool = False) -> None:
            # Discord allows one IDENTIFY per 5 s per bucket; a loopback fake needs no wait.
            if not initial and runner._identify_delay:
                await asyncio.sleep(runner._identify_delay)

        bot.setup_hook = setup_hook
        bot.before_identify_hook = before_identify_hook
        bot.tree.on_error = on_tree_error
        for handler in (
            on_ready, on_resumed, on_disconnect, on_shard_ready, on_shard_resumed, on_shard_disconnect,
            on_app_command_completion, on_command_completion, on_command_error,
        ):
            bot.add_listener(handler)
        for event in ("on_guild_join", "on_guild_remove", "on_guild_available", "on_guild_unavailable"):
            bot.add_listener(on_guild_change, event)

    def _record(self, command_name: str, user_id: int) -> None:
        now = self._clock()
        self.state.command_completed(now)
        self._recorder.record(CommandRecord(command_name=command_name, invoker_id=user_id, ran_at=now))

    async def _tick(self, bot: commands.Bot) -> None:
        while not bot.is_closed():
            try:
                self._publish()
            except Exception:  # a failed snapshot must not end the ticker for good
                log.exception("could not publish a bot snapshot")
            await asyncio.sleep(self._tick_seconds)

    def _publish(self) -> None:
        """Take a snapshot of the bot (on its loop) and hand it to the cache."""
        bot, now = self._bot, self._clock()
        if bot is None:
            return
        ready = bot.is_ready()
        latency = bot.latency if ready else None
        shards = self._shard_readings(bot) if ready else []
        self.state.add_ping_sample(now, finite_ms(latency))
        if ready:
            self.state.add_guild_count(now, len(bot.guilds))
        self._snapshots.publish(
            self.state.snapshot(
                now,
                guild_count=len(bot.guilds) if ready else None,
                user_count=len(bot.users) if ready else None,
                latency_seconds=latency,
                commands_registered=len(bot.tree.get_commands()),
                shards=shards,
            )
        )

    @staticmethod
    def _shard_readings(bot: commands.Bot) -> list[ShardReading]:
        if isinstance(bot, commands.AutoShardedBot):
            return [ShardReading(info.id, info.latency, info.is_closed()) for info in bot.shards.values()]
        return [ShardReading(0, bot.latency, bot.is_closed())]
