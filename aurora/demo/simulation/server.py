"""A simulated Discord (REST + gateway) on 127.0.0.1 that the real, unmodified discord.py client logs in to.

The server runs in its own thread with its own asyncio loop, so synchronous callers (the director,
tests) drive it while the bot runs on a loop of its own. Control methods schedule work onto the
server's loop and block until it is done. Usage::

    with SimulatedDiscord(guilds=3) as discord_server:
        ...  # a bot with token discord_server.token, REST at .api_base and gateway at .gateway_url

Everything it keeps is bounded (request logs, interactions, replay backlogs), so it can run for
days behind the demo. Payload shapes are in `aurora.demo.simulation.payloads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any, Self, TypeVar

from aiohttp import web

from aurora.demo.simulation.answer_times import AnswerTimes
from aurora.demo.simulation.gateway import GatewayHandlers
from aurora.demo.simulation.payloads import API, Guild, Shapes, Snowflakes, error_response, frame
from aurora.demo.simulation.rest import RestHandlers
from aurora.demo.simulation.server_state import Connection, Session

T = TypeVar("T")
LOG_LENGTH = 10_000  # requests, interaction answers and follow-ups remembered for observers


class SimulatedDiscord(RestHandlers, GatewayHandlers):
    """Discord's REST API (``api_base``) and gateway (``gateway_url``) on a free loopback port.

    ``guilds`` is a guild count (each with ``members`` members) or a list of member counts; member
    counts include the bot's own user, which is a member of every guild. ``ack_delay`` (settable at
    runtime) returns the seconds to wait before each HEARTBEAT_ACK: the latency the bot measures.
    """

    def __init__(self, *, token: str = "fake-token", guilds: int | Sequence[int] = 1, members: int = 3,
                 heartbeat_interval_ms: int = 200, ack_heartbeats: bool = True, shards: int = 1,
                 bot_name: str = "aurora-test-bot", ack_delay: Callable[[], float] | None = None,
                 thread_name: str = "simulated-discord", answer_times: AnswerTimes | None = None) -> None:
        self.token = token
        self.answer_times = answer_times  # None: every answer at once, none refused but by the rules
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_heartbeats = ack_heartbeats  # read on every heartbeat, so settable at runtime
        self.ack_delay = ack_delay
        self.refuse_gateway = False  # settable at runtime: new gateway connections get a 503
        self.shards = shards  # what GET /gateway/bot recommends
        self.identify_count = 0
        self.resume_count = 0
        self.chunk_request_count = 0  # op 8 REQUEST_GUILD_MEMBERS received
        self.port = 0
        self._thread_name = thread_name
        self._ids = Snowflakes()
        self.bot_user_id = self._ids.new("user")
        self.application_id = self._ids.new("user")
        self.shapes = Shapes(self.bot_user_id, self.application_id, bot_name)
        self._lock = threading.Lock()
        self._requests: deque[tuple[str, str]] = deque(maxlen=LOG_LENGTH)
        self._responses: deque[dict[str, Any]] = deque(maxlen=LOG_LENGTH)
        self._followups: deque[dict[str, Any]] = deque(maxlen=LOG_LENGTH)
        self._synced_commands: tuple[str, ...] = ()
        # Below: touched only on the server's loop (control methods hop onto it).
        self._guilds: dict[int, Guild] = {}
        self._sessions: dict[str, Session] = {}
        self._conns: set[Connection] = set()
        self._interactions: OrderedDict[str, dict[str, Any]] = OrderedDict()  # token -> {id, channel_id, original}
        self._command_ids: dict[str, int] = {}
        self._delayed_acks: set[asyncio.Task] = set()
        for count in [members] * guilds if isinstance(guilds, int) else guilds:
            self._make_guild(count)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("SimulatedDiscord already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self._thread_name, daemon=True)
        self._thread.start()
        try:
            self._call(self._serve())
        except BaseException:
            # A server that could not come up leaves no loop thread (or half-set-up site) behind.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every connection, free the port and end the thread; safe to call more than once."""
        if self._loop is None or self._thread is None:
            return
        try:
            self._call(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=2)
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    # ----- observations (any thread) -------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str]]:
        """The HTTP requests seen (the latest LOG_LENGTH), as (method, path) without the query string."""
        with self._lock:
            return list(self._requests)

    @property
    def interaction_responses(self) -> list[dict[str, Any]]:
        """Interaction callbacks: ``{"interaction_id": int, "token": str, "body": {...}}``."""
        with self._lock:
            return list(self._responses)

    @property
    def followups(self) -> list[dict[str, Any]]:
        """Webhook follow-ups (POST) and original-message edits (PATCH), same shape plus "method"."""
        with self._lock:
            return list(self._followups)

    def interaction_token(self, interaction_id: int) -> str | None:
        """The token of an interaction still open here (the latest OPEN_INTERACTIONS), else None."""
        async def token() -> str | None:  # read on the server's loop, which owns the interactions
            return next((t for t, info in self._interactions.items() if info["id"] == interaction_id), None)
        return self._call(token())

    @property
    def synced_commands(self) -> tuple[str, ...]:
        """The global slash commands the bot last registered (PUT /applications/{id}/commands)."""
        with self._lock:
            return self._synced_commands

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    @property
    def guild_ids(self) -> list[int]:
        return list(self._guilds)

    def member_ids(self, guild_id: int) -> list[int]:
        return list(self._guilds[guild_id].member_ids)

    @staticmethod
    def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll ``predicate`` in the calling thread until it returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s: {predicate!r}")
            time.sleep(interval)
        return result

    # ----- control (any thread; blocks until done on the server's loop) --------------------
    def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway socket with ``code``; discord.py resumes on 4000/1000/1006."""
        self._call(self._close_all(code))

    def abort_connections(self) -> None:
        """Abort every gateway TCP connection without a close frame (the client sees 1006)."""
        self._call(self._abort_all())

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every gateway socket, as Discord does now and then; clients resume."""
        self._call(self._send_all(frame(7, None)))

    def add_guild(self, members: int = 3) -> int:
        return self._call(self._add_guild(members))

    def remove_guild(self, guild_id: int) -> None:
        self._call(self._remove_guild(guild_id))

    def send_interaction(self, command_name: str, guild_id: int | None = None, user_id: int | None = None,
                         options: list[dict[str, Any]] | None = None, *, age_seconds: float | None = None) -> int:
        """Dispatch a slash-command INTERACTION_CREATE (type 2); ``guild_id=None`` means a DM.

        ``age_seconds``: how long ago Discord created it (its id says when) as the bot receives it;
        answers more than ANSWER_LIMIT_SECONDS after creation get 10062, as from Discord."""
        if age_seconds is None:
            age_seconds = self.answer_times.delivery_age() if self.answer_times else 0.0
        return self._call(self._send_interaction(command_name, guild_id, user_id, options, age_seconds))

    # ----- internals -------------------------------------------------------------------------
    def _call(self, coro: Any, timeout: float = 5.0) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("SimulatedDiscord is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _make_guild(self, members: int) -> Guild:
        guild_id = self._ids.new("guild")
        others = [self._ids.new("user") for _ in range(max(members, 1) - 1)]
        guild = Guild(guild_id, f"Guild {len(self._guilds) + 1}", [self.bot_user_id, *others])
        self._guilds[guild_id] = guild
        return guild

    def _command_id(self, name: str) -> int:
        if name not in self._command_ids:
            self._command_ids[name] = self._ids.new("command")
        return self._command_ids[name]

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self.add_rest_routes(app.router)
        app.router.add_get("/gw", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        for task in list(self._delayed_acks):
            task.cancel()
        await self._close_all(1001)
        await self._abort_all()  # anything that did not finish the close handshake
        if self._runner is not None:
            await self._runner.cleanup()

    async def _not_found(self, _request: web.Request) -> web.Response:
        return error_response(404, "Not Found")
