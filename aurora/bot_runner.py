"""The thread and the asyncio loop the Discord bot runs on; the bot itself is `aurora.bot.client`.

Everything discord.py owns stays on that loop: calls into it go through
`asyncio.run_coroutine_threadsafe`, and what comes out is the frozen `BotSnapshot` the bot
publishes into the snapshot sink (the `SnapshotCache`, or Redis in role `bot`). This module never
imports Dash.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import threading
import time

import aiohttp
import discord

from aurora.background import StoppableThread
from aurora.bot.client import AuroraBot, BotParts, create_bot
from aurora.bot.cogs.slash_commands import CommandServices
from aurora.bot.command_health.monitor import CommandHealthMonitor, WindowStore
from aurora.bot.recorder import CommandRecorder
from aurora.bot.snapshot import OfflineCause
from aurora.bot.state import BotState
from aurora.protocols import Clock, SnapshotSink
from aurora.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# After a failed login the next waits this long, doubling with each further failure up to the cap.
RETRY_SECONDS = 2.0
RETRY_CAP_SECONDS = 120.0
STOP_CHECK_SECONDS = 0.25
# Of a stop's budget, what closing the bot may never take from writing its queued records: a bot
# stuck closing (a silent gateway) must not send a healthy database's records to the spool.
RECORDER_FLOOR_SECONDS = 1.0


class BotAlreadyRunning(SettingsError):
    """A second bot for the same token in one process would open a second gateway connection."""


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


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
        client_options: dict | None = None,
        retry_seconds: float = RETRY_SECONDS,
        retry_cap_seconds: float = RETRY_CAP_SECONDS,
        health_store: WindowStore | None = None,
        **tuning,
    ) -> None:
        """`tuning`: the bot's timers and switches, as `BotParts` names them (tests shorten them)."""
        if not settings.discord_token:
            raise ValueError("BotRunner needs DISCORD_TOKEN")
        self._settings = settings
        self._recorder = recorder
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._retry_cap_seconds = retry_cap_seconds
        # One state and one health window across the clients of successive logins: the offline
        # spell, samples, history, and the commands' timings since the runner started.
        self._state = BotState()
        self._health = CommandHealthMonitor(clock, health_store)
        self._parts = BotParts(snapshots, recorder, services, clock, **tuning)
        self._client_options = client_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: AuroraBot | None = None
        self._admitted = threading.Event()
        self._refused = False
        self._loop_ready = threading.Event()
        name = bot_thread_name(settings.discord_token)
        self._thread = StoppableThread(name, self._thread_main)

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
        """Close the gateway connection, stop the thread, and write the queued command records (or
        keep them for the next start), all within `timeout`; safe to call more than once."""
        deadline = time.monotonic() + timeout
        closing_deadline = deadline - min(RECORDER_FLOOR_SECONDS, timeout / 3)
        self._thread.stopping.set()
        loop, bot = self._loop, self._bot
        if loop is not None and bot is not None and self._thread.is_alive() and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(bot.close(), loop).result(_left(closing_deadline))
            # The loop may end (cancelling the close) while this waits: that is a stop too.
            except (TimeoutError, RuntimeError, asyncio.CancelledError, concurrent.futures.CancelledError) as error:
                log.warning("bot did not close cleanly: %s", error.__class__.__name__)
        self._thread.stop(_left(closing_deadline))
        self._recorder.stop(_left(deadline))

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
        """Log in and stay connected; after a failure, log in again with a new client, waiting
        `retry_seconds` (doubling up to `retry_cap_seconds`), for as long as the process runs. Only a
        token Discord rejects ends it: no retry can make that token work."""
        attempts = 0  # failed attempts since the bot was last connected
        while True:
            bot = create_bot(
                self._settings, self._parts, client_options=self._client_options, state=self._state, health=self._health
            )
            self._bot = bot
            bot.publish_snapshot()
            self._loop_ready.set()
            if self._thread.stopping.is_set():
                return
            offline_before = self._state.offline
            cause = await self._run_once(bot)
            if cause is None or cause == "rejected_token" or self._thread.stopping.is_set():
                return
            # The same offline spell (no connection since the last failure) waits longer each time.
            attempts = attempts + 1 if offline_before is not None and self._state.offline is offline_before else 1
            delay = min(self._retry_cap_seconds, self._retry_seconds * 2 ** min(attempts - 1, 16))
            if await self._stopped_within(delay):
                self._state.mark_disconnected()
                bot.publish_snapshot()
                return

    async def _stopped_within(self, seconds: float) -> bool:
        # Looks at the stop flag a few times a second: on the loop, so a process that exits during a
        # long wait has no thread of it to wait for.
        deadline = time.monotonic() + seconds
        while not self._thread.stopping.is_set() and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(STOP_CHECK_SECONDS, remaining))
        return self._thread.stopping.is_set()

    async def _run_once(self, bot: AuroraBot) -> OfflineCause | None:
        """One client's life: log in, stay connected until closed; why it ended, None for a stop."""
        try:
            async with bot:
                await bot.start(self._settings.discord_token)
            return None
        except Exception as error:
            if self._thread.stopping.is_set():
                # Stopped while it was still logging in: closing the bot closes its HTTP session and
                # connector under the login's requests ("Session is closed"). That is the stop asked for.
                return None
            cause = offline_cause(error)
            retrying = cause != "rejected_token"
            if self._state.mark_offline(cause, self._clock(), retrying=retrying):
                log_offline(cause, error, self._retry_cap_seconds)
            return cause
        finally:
            # The window outlives this client: its connected time ends with it, whatever it said last.
            self._health.window.disconnected(self._clock())
            if self._thread.stopping.is_set() or self._state.offline is None or self._state.offline.cause == "rejected_token":
                self._state.mark_disconnected()
            bot.publish_snapshot()


def offline_cause(error: Exception) -> OfflineCause:
    if isinstance(error, discord.LoginFailure) or (isinstance(error, discord.ConnectionClosed) and error.code == 4004):
        return "rejected_token"
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return "intent_refused"
    unreachable = (OSError, aiohttp.ClientError, asyncio.TimeoutError, discord.GatewayNotFound, discord.DiscordServerError)
    if isinstance(error, unreachable):
        return "discord_unreachable"
    return "discord_error"


def log_offline(cause: OfflineCause, error: Exception, cap_seconds: float) -> None:
    """One line per new cause (not per attempt): what happened and what happens next."""
    retry = f"retrying with backoff (at most every {cap_seconds:g} s); the dashboard keeps running"
    if cause == "rejected_token":
        log.error("Discord rejected DISCORD_TOKEN (401 Unauthorized): the bot stays offline until the token is "
                  "replaced and the process restarted; the dashboard keeps running")
    elif cause == "intent_refused":
        log.error("Discord refused the members intent: enable 'Server Members Intent' for this bot in the "
                  "developer portal; %s", retry)
    elif cause == "discord_unreachable":
        log.error("Discord unreachable (%s: %s): %s", error.__class__.__name__, error, retry)
    else:
        log.error("the bot could not log in or stay connected (%s: %s): %s", error.__class__.__name__, error, retry,
                  exc_info=not isinstance(error, discord.DiscordException))
