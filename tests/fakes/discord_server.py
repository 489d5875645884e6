"""A fake Discord (REST + Gateway) on 127.0.0.1 that the real, unmodified discord.py client logs in to.

The server runs in its own thread with its own asyncio loop, so synchronous tests can drive it
while the bot under test runs on a third loop. Control methods schedule work onto the fake's loop
and block until it is done. Usage::

    with FakeDiscord(guilds=3) as fake, use_fake(fake):
        ...  # start a discord.Client with fake.token; it connects to the fake

Payload shapes follow the checked facts in the team's fake-discord note (discord.py 2.7.1).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from aiohttp import WSMsgType, web

API = "/api/v10"
T = TypeVar("T")
_BASE_MS = 1_700_000_000_000 - 1_420_070_400_000  # ids look like 2023 snowflakes
_NOW = "2024-01-01T00:00:00+00:00"
_ALL_PERMISSIONS = "1071698660929"
# One timestamp range per id kind keeps every id distinct; consecutive guild ids differ by 1 ms
# in the timestamp part, so (id >> 22) % shards spreads guilds evenly over the shards.
_KIND_OFFSET = {"guild": 0, "user": 1 << 24, "interaction": 2 << 24, "message": 3 << 24, "command": 4 << 24}


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": web.json_response appends "; charset=utf-8" and discord.py
    # then treats the body as text (TypeError: string indices must be integers).
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _frame(op: int, d: Any, s: int | None = None, t: str | None = None) -> str:
    return json.dumps({"op": op, "d": d, "s": s, "t": t})


def _error(status: int, text: str) -> web.Response:
    return _json({"message": f"{status}: {text}", "code": 0}, status)


@dataclass
class _Guild:
    id: int
    name: str
    member_ids: list[int]

    @property
    def channel_id(self) -> int:
        return self.id + 1  # low bits are free: guild ids are built with increment 0


@dataclass
class _Session:
    id: str
    shard: tuple[int, int] | None
    seq: int = 0
    conn: _Conn | None = None
    # Sent dispatches, replayed on RESUME like real Discord, so events sent during a drop survive.
    backlog: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=1000))


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    session: _Session | None = None


class FakeDiscord:
    """Fake Discord REST API (``api_base``) and Gateway (``gateway_url``) on a free loopback port.

    ``guilds`` is a guild count (each with ``members`` members) or a list of member counts; member
    counts include the bot's own user, which is a member of every guild.
    """

    def __init__(self, *, token: str = "fake-token", guilds: int | Sequence[int] = 1, members: int = 3,
                 heartbeat_interval_ms: int = 200, ack_heartbeats: bool = True, shards: int = 1) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_heartbeats = ack_heartbeats  # read on every heartbeat, so settable at runtime
        self.refuse_gateway = False  # settable at runtime: new gateway connections get a 503
        self.shards = shards  # what GET /gateway/bot recommends
        self.identify_count = 0
        self.resume_count = 0
        self.chunk_request_count = 0  # op 8 REQUEST_GUILD_MEMBERS received
        self.port = 0
        self._counters = {kind: itertools.count(1) for kind in _KIND_OFFSET}
        self.bot_user_id = self._new_id("user")
        self.application_id = self._new_id("user")
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._responses: list[dict[str, Any]] = []
        self._followups: list[dict[str, Any]] = []
        # Below: touched only on the fake's loop (control methods hop onto it).
        self._guilds: dict[int, _Guild] = {}
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._interactions: dict[str, dict[str, Any]] = {}  # token -> {id, channel_id, original}
        self._command_ids: dict[str, int] = {}
        for count in [members] * guilds if isinstance(guilds, int) else guilds:
            self._make_guild(count)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("FakeDiscord already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-discord", daemon=True)
        self._thread.start()
        self._call(self._serve())
        return self

    def stop(self) -> None:
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
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    # ----- observations (any thread) -------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every HTTP request seen, as (method, path) without the query string."""
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

    # ----- control (any thread; blocks until done on the fake's loop) ----------------------
    def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway socket with ``code``; discord.py resumes on 4000/1000/1006."""
        self._call(self._close_all(code))

    def abort_connections(self) -> None:
        """Abort every gateway TCP connection without a close frame (the client sees 1006)."""
        self._call(self._abort_all())

    def add_guild(self, members: int = 3) -> int:
        return self._call(self._add_guild(members))

    def remove_guild(self, guild_id: int) -> None:
        self._call(self._remove_guild(guild_id))

    def send_interaction(self, command_name: str, guild_id: int | None = None, user_id: int | None = None,
                         options: list[dict[str, Any]] | None = None) -> int:
        """Dispatch a slash-command INTERACTION_CREATE (type 2); ``guild_id=None`` means a DM."""
        return self._call(self._send_interaction(command_name, guild_id, user_id, options))

    # ----- internals -------------------------------------------------------------------------
    def _call(self, coro: Any, timeout: float = 5.0) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("FakeDiscord is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _new_id(self, kind: str) -> int:
        n = next(self._counters[kind])
        return (_BASE_MS + _KIND_OFFSET[kind] + n) << 22

    def _make_guild(self, members: int) -> _Guild:
        guild_id = self._new_id("guild")
        others = [self._new_id("user") for _ in range(max(members, 1) - 1)]
        guild = _Guild(guild_id, f"Guild {len(self._guilds) + 1}", [self.bot_user_id, *others])
        self._guilds[guild_id] = guild
        return guild

    def _user(self, user_id: int) -> dict[str, Any]:
        bot = user_id == self.bot_user_id
        name = "aurora-test-bot" if bot else f"user{user_id % 1_000_000}"
        return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": None,
                "avatar": None, "bot": bot}

    def _member(self, user_id: int) -> dict[str, Any]:
        return {"user": self._user(user_id), "roles": [], "flags": 0, "joined_at": _NOW, "deaf": False,
                "mute": False}

    def _guild_payload(self, g: _Guild) -> dict[str, Any]:
        # member_count == len(members) marks the guild as chunked: no op 8 request follows.
        return {"id": str(g.id), "name": g.name, "unavailable": False, "owner_id": str(g.member_ids[-1]),
                "member_count": len(g.member_ids), "joined_at": _NOW, "channels": [self._channel(g)],
                "roles": [{"id": str(g.id), "name": "@everyone", "permissions": _ALL_PERMISSIONS}],
                "members": [self._member(uid) for uid in g.member_ids]}

    @staticmethod
    def _channel(g: _Guild) -> dict[str, Any]:
        return {"id": str(g.channel_id), "type": 0, "name": "general", "position": 0, "guild_id": str(g.id),
                "permission_overwrites": []}

    def _message(self, body: dict[str, Any], channel_id: int | str) -> dict[str, Any]:
        return {"id": str(self._new_id("message")), "channel_id": str(channel_id), "type": 0,
                "content": body.get("content") or "", "embeds": body.get("embeds") or [], "attachments": [],
                "flags": body.get("flags") or 0, "timestamp": _NOW, "edited_timestamp": None,
                "author": self._user(self.bot_user_id), "webhook_id": str(self.application_id)}

    def _command_id(self, name: str) -> int:
        if name not in self._command_ids:
            self._command_ids[name] = self._new_id("command")
        return self._command_ids[name]

    @staticmethod
    def _owns(shard: tuple[int, int] | None, guild_id: int) -> bool:
        return shard is None or (guild_id >> 22) % shard[1] == shard[0]  # Discord's shard formula

    async def _dispatch(self, session: _Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = _frame(0, data, session.seq, event)
        session.backlog.append((session.seq, frame))
        if session.conn is not None:
            await self._send(session.conn, frame)

    async def _dispatch_guild(self, guild_id: int, event: str, data: Any) -> None:
        for session in list(self._sessions.values()):
            if self._owns(session.shard, guild_id):
                await self._dispatch(session, event, data)

    @staticmethod
    async def _send(conn: _Conn, frame: str) -> None:
        try:
            await conn.ws.send_str(frame)
        except ConnectionError:  # closing socket: the session backlog replays it on RESUME
            pass

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get(f"{API}/users/@me", self._get_me)
        r.add_get(f"{API}/oauth2/applications/@me", self._get_application)
        r.add_put(f"{API}/applications/{{app_id}}/commands", self._put_commands)
        r.add_put(f"{API}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._put_commands)
        r.add_get(f"{API}/gateway", self._get_gateway)
        r.add_get(f"{API}/gateway/bot", self._get_gateway)
        r.add_post(f"{API}/interactions/{{id}}/{{token}}/callback", self._interaction_callback)
        r.add_post(f"{API}/webhooks/{{app_id}}/{{token}}", self._webhook)
        r.add_route("*", f"{API}/webhooks/{{app_id}}/{{token}}/messages/@original", self._webhook)
        r.add_get("/gw", self._gateway)
        r.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        await self._close_all(1001)
        await self._abort_all()  # anything that did not finish the close handshake
        if self._runner is not None:
            await self._runner.cleanup()

    async def _close_all(self, code: int) -> None:
        tasks = [asyncio.create_task(c.ws.close(code=code)) for c in self._conns]
        if tasks:  # a client that never answers the close frame is aborted by ws timeout=1.0
            await asyncio.wait(tasks, timeout=1.5)

    async def _abort_all(self) -> None:
        for conn in list(self._conns):
            if conn.transport is not None:
                conn.transport.abort()

    async def _add_guild(self, members: int) -> int:
        guild = self._make_guild(members)
        # Discord omits `unavailable` when the bot joins a guild; `false` would mean "available again".
        payload = {key: value for key, value in self._guild_payload(guild).items() if key != "unavailable"}
        await self._dispatch_guild(guild.id, "GUILD_CREATE", payload)
        return guild.id

    async def _remove_guild(self, guild_id: int) -> None:
        del self._guilds[guild_id]
        await self._dispatch_guild(guild_id, "GUILD_DELETE", {"id": str(guild_id)})

    async def _send_interaction(self, name: str, guild_id: int | None, user_id: int | None,
                                options: list[dict[str, Any]] | None) -> int:
        iid, token = self._new_id("interaction"), uuid.uuid4().hex
        data: dict[str, Any] = {"id": str(self._command_id(name)), "name": name, "type": 1}
        if options:
            data["options"] = options
        d: dict[str, Any] = {"id": str(iid), "application_id": str(self.application_id), "type": 2,
                             "token": token, "version": 1, "attachment_size_limit": 10 << 20,
                             "locale": "en-US", "app_permissions": "0", "data": data}
        if guild_id is not None:
            guild = self._guilds[guild_id]
            user_id, channel = user_id or guild.member_ids[-1], self._channel(guild)
            d.update(guild_id=str(guild_id), guild_locale="en-US", context=0,
                     member={**self._member(user_id), "permissions": _ALL_PERMISSIONS})
        else:  # a DM: `user` instead of `member`; the DM channel lets interaction.channel resolve
            user_id = user_id or self.bot_user_id + 1
            channel = {"id": str(user_id + 1), "type": 1, "recipients": [self._user(user_id)]}
            d.update(user=self._user(user_id), context=1)
        d.update(channel=channel, channel_id=channel["id"])
        self._interactions[token] = {"id": iid, "channel_id": channel["id"], "original": None}
        await self._dispatch_guild(guild_id or 0, "INTERACTION_CREATE", d)  # id 0 -> shard 0, like DMs
        return iid

    # ----- HTTP handlers ---------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self._lock:
            self._requests.append((request.method, request.path))
        # Interaction callbacks and webhooks carry the token in the URL, not in Authorization.
        path = request.path
        public = path == "/gw" or path.startswith((f"{API}/interactions/", f"{API}/webhooks/"))
        if not public and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, "Unauthorized")
        return await handler(request)

    async def _not_found(self, _request: web.Request) -> web.Response:
        return _error(404, "Not Found")

    async def _get_me(self, _request: web.Request) -> web.Response:
        return _json(self._user(self.bot_user_id))

    async def _get_application(self, _request: web.Request) -> web.Response:
        return _json({"id": str(self.application_id), "name": "Aurora Test", "description": "", "icon": None,
                      "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                      "owner": self._user(self.bot_user_id + 1), "flags": 0})

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info.get("guild_id")
        echoed = [{**cmd, "id": str(self._command_id(cmd["name"])),
                   "application_id": str(self.application_id), "version": "1",
                   **({"guild_id": guild_id} if guild_id else {})} for cmd in await request.json()]
        return _json(echoed)

    async def _get_gateway(self, _request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url, "shards": self.shards, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if request.content_type == "multipart/form-data":  # messages with files: JSON in payload_json
            form = await request.post()
            return json.loads(str(form.get("payload_json") or "{}"))
        return await request.json() if request.can_read_body else {}

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        iid, token = int(request.match_info["id"]), request.match_info["token"]
        body = await self._body(request)
        with self._lock:
            self._responses.append({"interaction_id": iid, "token": token, "body": body})
        info = self._interactions.get(token)
        if info is None or info["id"] != iid:
            return _error(404, "Unknown interaction")
        # discord.py needs {"interaction": {"id"}}; an empty body fails the command.
        answer: dict[str, Any] = {"interaction": {"id": str(iid), "type": 2,
                                                  "response_message_loading": body.get("type") == 5}}
        if body.get("type") == 4:
            info["original"] = self._message(body.get("data") or {}, info["channel_id"])
            answer["interaction"]["response_message_id"] = info["original"]["id"]
            answer["resource"] = {"type": 4, "message": info["original"]}
        return _json(answer)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        info = self._interactions.get(token)
        if info is None:
            return _error(404, "Unknown Webhook")
        if request.method == "DELETE":
            info["original"] = None
            return web.Response(status=204)
        if request.method == "GET":
            return _json(info["original"]) if info["original"] else _error(404, "Unknown Message")
        body = await self._body(request)
        with self._lock:
            self._followups.append({"interaction_id": info["id"], "token": token, "method": request.method,
                                    "body": body})
        message = self._message(body, info["channel_id"])
        if request.method == "PATCH":
            info["original"] = message = {**(info["original"] or message), **{
                k: v for k, v in body.items() if k in ("content", "embeds", "flags")}}
        return _json(message)

    # ----- Gateway -------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_gateway:  # an outage: the client keeps retrying with backoff
            return _error(503, "Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0, autoping=True)  # 1 s close handshake, not 10 s
        await ws.prepare(request)
        conn = _Conn(ws, request.transport)
        self._conns.add(conn)
        try:
            # Plain JSON text frames: discord.py only decompresses binary frames.
            await self._send(conn, _frame(10, {"heartbeat_interval": self.heartbeat_interval_ms}))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    async def _on_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1 and self.ack_heartbeats:
            await self._send(conn, _frame(11, None))
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif op == 8 and conn.session is not None:
            await self._members_chunk(conn.session, d)

    async def _identify(self, conn: _Conn, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = tuple(d["shard"]) if d.get("shard") else None
        for sid in [sid for sid, s in self._sessions.items() if s.shard == shard]:
            del self._sessions[sid]  # a fresh IDENTIFY replaces that shard's old session
        session = conn.session = _Session(uuid.uuid4().hex, shard, conn=conn)
        self._sessions[session.id] = session
        self.identify_count += 1
        guilds = [g for g in self._guilds.values() if self._owns(shard, g.id)]
        ready: dict[str, Any] = {
            "v": 10, "user": self._user(self.bot_user_id), "session_id": session.id, "session_type": "normal",
            "resume_gateway_url": self.gateway_url,  # reconnects go here, not to DEFAULT_GATEWAY
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [], "relationships": [], "presences": []}
        if shard is not None:
            ready["shard"] = list(shard)  # AutoSharded* clients raise KeyError('shard') without it
        await self._dispatch(session, "READY", ready)
        for guild in guilds:
            await self._dispatch(session, "GUILD_CREATE", self._guild_payload(guild))

    async def _resume(self, conn: _Conn, d: dict[str, Any]) -> None:
        session = self._sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != self.token:
            await self._send(conn, _frame(9, False))
            return
        session.conn, conn.session = conn, session
        self.resume_count += 1
        for seq, frame in list(session.backlog):
            if seq > (d.get("seq") or 0):
                await self._send(conn, frame)
        await self._dispatch(session, "RESUMED", {})

    async def _members_chunk(self, session: _Session, d: dict[str, Any]) -> None:
        self.chunk_request_count += 1
        guild = self._guilds.get(int(d["guild_id"]))
        if guild is None:
            return
        wanted, query = {int(u) for u in d.get("user_ids") or []}, (d.get("query") or "").lower()
        members = [self._member(uid) for uid in guild.member_ids if not wanted or uid in wanted]
        members = [m for m in members if m["user"]["username"].startswith(query)][: d.get("limit") or None]
        await self._dispatch(session, "GUILD_MEMBERS_CHUNK", {
            "guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1,
            "not_found": [], "nonce": d.get("nonce")})


@contextmanager
def use_fake(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at ``fake``; restore both afterwards."""
    import discord.gateway
    import discord.http
    import yarl

    old = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old
