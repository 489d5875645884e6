"""The thread and the asyncio loop the Discord bot runs on; the bot itself is `aurora.bot`.

Everything discord.py owns stays on that loop: calls into it go through
`asyncio.run_coroutine_threadsafe`, and what comes out is the frozen `BotSnapshot` the bot
publishes into the snapshot sink (the `SnapshotCache`, or Redis in role `bot`). This module never
imports Dash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading

import discord

from aurora.bot import IDENTIFY_DELAY_SECONDS, AuroraBot, create_bot
from aurora.bot_commands import CommandServices
from aurora.cogs.presence import TICK_SECONDS
from aurora.command_health.monitor import WindowStore
from aurora.config import Settings, SettingsError
from aurora.recorder import CommandRecorder
from aurora.seams import Clock, SnapshotSink

log = logging.getLogger(__name__)


class BotAlreadyRunning(SettingsError):
    """A second bot for the same token in one process would open a second gateway connection."""


def bot_thread_name(token: str) -> str:
    # A fingerprint, never the token: thread names end up in dumps and debuggers.
    return f"aurora-discord-bot-{hashlib.sha256(token.encode()).hexdigest()[:12]}"


class BotRunner:
    """Runs one `AuroraBot` in a daemon thread with its own loop.

    The thread is named after the token, and that name is the process's claim on it: a runner
    refuses to connect while another live thread carries the same name.
    """

    def __init__(
        self,
        settings: Settings,
        snapshots: SnapshotSink,
        recorder: CommandRecorder,
        services: CommandServices,
        *,
        clock: Clock,
        tick_seconds: float = TICK_SECONDS,
        identify_delay_seconds: float = IDENTIFY_DELAY_SECONDS,
        sync_commands: bool = True,
        client_options: dict | None = None,
        health_store: WindowStore | None = None,
    ) -> None:
        if not settings.discord_token:
            raise ValueError("BotRunner needs DISCORD_TOKEN")
        self._settings = settings
        self._recorder = recorder
        self._bot_parts = dict(
            snapshots=snapshots, recorder=recorder, services=services, clock=clock, tick_seconds=tick_seconds,
            identify_delay_seconds=identify_delay_seconds, sync_commands=sync_commands,
            client_options=client_options, health_store=health_store,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: AuroraBot | None = None
        self._stopping = threading.Event()
        self._admitted = threading.Event()
        self._refused = False
        self._loop_ready = threading.Event()
        name = bot_thread_name(settings.discord_token)
        self._thread = threading.Thread(target=self._thread_main, name=name, daemon=True)

    # --- lifecycle, called from other threads -------------------------------------------------
    def start(self) -> None:
        # Started before the check, and held until it passes: two runners started at the same
        # moment see each other (and both refuse) rather than both connecting.
        self._thread.start()
        if any(other.name == self._thread.name for other in threading.enumerate() if other is not self._thread):
            self._refused = True
            self._admitted.set()
            self._thread.join()
            raise BotAlreadyRunning(
                "DISCORD_TOKEN: this process already runs the bot for this token; a second one would "
                "open a duplicate gateway connection"
            )
        self._recorder.start()
        self._admitted.set()
        self._loop_ready.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the gateway connection and stop the thread; safe to call more than once."""
        self._stopping.set()
        loop, bot = self._loop, self._bot
        if loop is not None and bot is not None and self._thread.is_alive() and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(bot.close(), loop).result(timeout)
            except (TimeoutError, RuntimeError, asyncio.CancelledError) as error:
                log.warning("bot did not close cleanly: %s", error.__class__.__name__)
        if self._thread.ident is not None:
            self._thread.join(timeout)
        self._recorder.stop(timeout)

    @property
    def recorder(self) -> CommandRecorder:
        return self._recorder

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # --- the bot thread -----------------------------------------------------------------------
    def _thread_main(self) -> None:
        self._admitted.wait()
        if self._refused:
            return
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

    async def _run_bot(self) -> None:
        bot = create_bot(self._settings, **self._bot_parts)
        self._bot = bot
        bot.publish_snapshot()
        self._loop_ready.set()
        if self._stopping.is_set():
            return
        try:
            async with bot:
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
        except Exception:
            # Stopped while it was still logging in: closing the bot closes its HTTP session and
            # connector under the login's requests ("Session is closed", "Connector is closed").
            # That is the stop asked for, not a failure.
            if not self._stopping.is_set():
                raise
        finally:
            bot.state.mark_disconnected()
            bot.publish_snapshot()
