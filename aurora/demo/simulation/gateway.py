"""The gateway half of the simulated Discord: HELLO, heartbeats (acknowledged after a chosen
delay: the latency the bot measures), IDENTIFY with READY and one GUILD_CREATE per guild, RESUME
with the missed dispatches replayed, member chunks; and the dispatches the control methods send
(guilds joining and leaving, slash-command interactions).

A mixin of `SimulatedDiscord`: the handlers read and write its state (`server_state`) on its loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from aurora.demo.simulation import payloads
from aurora.demo.simulation.payloads import error_response, frame, owns
from aurora.demo.simulation.server_state import Connection, ServerState, Session

OPEN_INTERACTIONS = 1_000  # interactions whose callbacks are still accepted (oldest forgotten first)


class GatewayHandlers(ServerState):
    async def _dispatch(self, session: Session, event: str, data: Any) -> None:
        session.seq += 1
        message = frame(0, data, session.seq, event)
        session.backlog.append((session.seq, message))
        if session.conn is not None:
            await self._send(session.conn, message)

    async def _dispatch_guild(self, guild_id: int, event: str, data: Any) -> None:
        for session in list(self._sessions.values()):
            if owns(session.shard, guild_id):
                await self._dispatch(session, event, data)

    @staticmethod
    async def _send(conn: Connection, message: str) -> None:
        try:
            await conn.ws.send_str(message)
        except ConnectionError:  # closing socket: the session backlog replays it on RESUME
            pass

    async def _send_all(self, message: str) -> None:
        for conn in list(self._conns):
            await self._send(conn, message)

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
        payload = {key: value for key, value in self.shapes.guild(guild).items() if key != "unavailable"}
        await self._dispatch_guild(guild.id, "GUILD_CREATE", payload)
        return guild.id

    async def _remove_guild(self, guild_id: int) -> None:
        del self._guilds[guild_id]
        await self._dispatch_guild(guild_id, "GUILD_DELETE", {"id": str(guild_id)})

    async def _send_interaction(self, name: str, guild_id: int | None, user_id: int | None,
                                options: list[dict[str, Any]] | None, age_seconds: float) -> int:
        created = time.time() - age_seconds  # Discord's own clock, not the app's
        iid, token = self._ids.at(created), uuid.uuid4().hex
        d = payloads.interaction(iid, token, self.application_id, self._command_id(name), name, options)
        if guild_id is not None:
            guild = self._guilds[guild_id]
            user_id, channel = user_id or guild.member_ids[-1], payloads.channel(guild)
            d.update(guild_id=str(guild_id), guild_locale="en-US", context=0,
                     member={**self.shapes.member(user_id), "permissions": payloads.ALL_PERMISSIONS})
        else:  # a DM: `user` instead of `member`
            user_id = user_id or self.bot_user_id + 1
            channel = self.shapes.dm_channel(user_id)
            d.update(user=self.shapes.user(user_id), context=1)
        d.update(channel=channel, channel_id=channel["id"])
        self._interactions[token] = {"id": iid, "channel_id": channel["id"], "original": None, "created": created,
                                     "acked": False}
        while len(self._interactions) > OPEN_INTERACTIONS:
            self._interactions.popitem(last=False)
        await self._dispatch_guild(guild_id or 0, "INTERACTION_CREATE", d)  # id 0 -> shard 0, like DMs
        return iid

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_gateway:  # an outage: the client keeps retrying with backoff
            return error_response(503, "Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0, autoping=True)  # 1 s close handshake, not 10 s
        await ws.prepare(request)
        conn = Connection(ws, request.transport)
        self._conns.add(conn)
        try:
            # Plain JSON text frames: discord.py only decompresses binary frames.
            await self._send(conn, frame(10, {"heartbeat_interval": self.heartbeat_interval_ms}))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, msg.json())
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    async def _on_frame(self, conn: Connection, message: dict[str, Any]) -> None:
        op, d = message.get("op"), message.get("d")
        if op == 1 and self.ack_heartbeats:
            delay = self.ack_delay() if self.ack_delay is not None else 0
            if delay > 0:  # answered later, without holding up the frames behind it
                task = asyncio.create_task(self._ack_after(conn, delay))
                self._delayed_acks.add(task)
                task.add_done_callback(self._delayed_acks.discard)
            else:
                await self._send(conn, frame(11, None))
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif op == 8 and conn.session is not None:
            await self._members_chunk(conn.session, d)

    async def _ack_after(self, conn: Connection, delay: float) -> None:
        await asyncio.sleep(delay)
        if not conn.ws.closed:
            await self._send(conn, frame(11, None))

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = tuple(d["shard"]) if d.get("shard") else None
        for sid in [sid for sid, s in self._sessions.items() if s.shard == shard]:
            del self._sessions[sid]  # a fresh IDENTIFY replaces that shard's old session
        session = conn.session = Session(uuid.uuid4().hex, shard, conn=conn)
        self._sessions[session.id] = session
        self.identify_count += 1
        guilds = [g for g in self._guilds.values() if owns(shard, g.id)]
        ready: dict[str, Any] = {
            "v": 10, "user": self.shapes.user(self.bot_user_id), "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,  # reconnects go here, not to DEFAULT_GATEWAY
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [], "relationships": [], "presences": []}
        if shard is not None:
            ready["shard"] = list(shard)  # AutoSharded* clients raise KeyError('shard') without it
        await self._dispatch(session, "READY", ready)
        for guild in guilds:
            await self._dispatch(session, "GUILD_CREATE", self.shapes.guild(guild))

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        session = self._sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != self.token:
            await self._send(conn, frame(9, False))
            return
        session.conn, conn.session = conn, session
        self.resume_count += 1
        for seq, message in list(session.backlog):
            if seq > (d.get("seq") or 0):
                await self._send(conn, message)
        await self._dispatch(session, "RESUMED", {})

    async def _members_chunk(self, session: Session, d: dict[str, Any]) -> None:
        self.chunk_request_count += 1
        guild = self._guilds.get(int(d["guild_id"]))
        if guild is None:
            return
        wanted, query = {int(u) for u in d.get("user_ids") or []}, (d.get("query") or "").lower()
        members = [self.shapes.member(uid) for uid in guild.member_ids if not wanted or uid in wanted]
        members = [m for m in members if m["user"]["username"].startswith(query)][: d.get("limit") or None]
        await self._dispatch(session, "GUILD_MEMBERS_CHUNK", {
            "guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1,
            "not_found": [], "nonce": d.get("nonce")})

