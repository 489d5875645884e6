"""The REST half of the simulated Discord: what discord.py calls over HTTP (log-in, the
application, command sync, the gateway's address, interaction callbacks and webhooks).

A mixin of `SimulatedDiscord`: the handlers read and write its state (`server_state`) on its loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from aurora.demo.simulation.payloads import API, error_response, json_response
from aurora.demo.simulation.server_state import ServerState

# Discord takes the first answer to an interaction within 3 s of its creation, and one answer only.
ANSWER_LIMIT_SECONDS = 3.0
UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060


class RestHandlers(ServerState):
    def add_rest_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get(f"{API}/users/@me", self._get_me)
        r.add_get(f"{API}/oauth2/applications/@me", self._get_application)
        r.add_put(f"{API}/applications/{{app_id}}/commands", self._put_commands)
        r.add_put(f"{API}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._put_commands)
        r.add_get(f"{API}/gateway", self._get_gateway)
        r.add_get(f"{API}/gateway/bot", self._get_gateway)
        r.add_post(f"{API}/interactions/{{id}}/{{token}}/callback", self._interaction_callback)
        r.add_post(f"{API}/webhooks/{{app_id}}/{{token}}", self._webhook)
        r.add_route("*", f"{API}/webhooks/{{app_id}}/{{token}}/messages/@original", self._webhook)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self._lock:
            self._requests.append((request.method, request.path))
        # Interaction callbacks and webhooks carry the token in the URL, not in Authorization.
        path = request.path
        public = path == "/gw" or path.startswith((f"{API}/interactions/", f"{API}/webhooks/"))
        if not public and request.headers.get("Authorization") != f"Bot {self.token}":
            return error_response(401, "Unauthorized")
        return await handler(request)

    async def _get_me(self, _request: web.Request) -> web.Response:
        return json_response(self.shapes.user(self.bot_user_id))

    async def _get_application(self, _request: web.Request) -> web.Response:
        return json_response(self.shapes.application())

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info.get("guild_id")
        commands = await request.json()
        if guild_id is None:
            with self._lock:
                self._synced_commands = tuple(cmd["name"] for cmd in commands)
        echoed = [{**cmd, "id": str(self._command_id(cmd["name"])),
                   "application_id": str(self.application_id), "version": "1",
                   **({"guild_id": guild_id} if guild_id else {})} for cmd in commands]
        return json_response(echoed)

    async def _get_gateway(self, _request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url, "shards": self.shards, "session_start_limit": {
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
        if info is None or info["id"] != iid or time.time() - info["created"] > ANSWER_LIMIT_SECONDS:
            return error_response(404, "Unknown interaction", UNKNOWN_INTERACTION)
        if info["acked"]:
            return error_response(400, "Interaction has already been acknowledged.", ALREADY_ACKNOWLEDGED)
        if self.answer_times is not None:
            await asyncio.sleep(self.answer_times.callback_delay())
            if self.answer_times.callback_fails():
                return error_response(500, "Internal Server Error")  # not taken: a retry may answer
        info["acked"] = True
        # discord.py needs {"interaction": {"id"}}; an empty body fails the command.
        answer: dict[str, Any] = {"interaction": {"id": str(iid), "type": 2,
                                                  "response_message_loading": body.get("type") == 5}}
        if body.get("type") == 4:
            info["original"] = self.shapes.message(self._ids.new("message"), body.get("data") or {},
                                                   info["channel_id"])
            answer["interaction"]["response_message_id"] = info["original"]["id"]
            answer["resource"] = {"type": 4, "message": info["original"]}
        return json_response(answer)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        info = self._interactions.get(token)
        if info is None:
            return error_response(404, "Unknown Webhook")
        if request.method == "DELETE":
            info["original"] = None
            return web.Response(status=204)
        if request.method == "GET":
            return json_response(info["original"]) if info["original"] else error_response(404, "Unknown Message")
        body = await self._body(request)
        if self.answer_times is not None and request.method == "POST":
            await asyncio.sleep(self.answer_times.followup_delay())
        with self._lock:
            self._followups.append({"interaction_id": info["id"], "token": token, "method": request.method,
                                    "body": body})
        message = self.shapes.message(self._ids.new("message"), body, info["channel_id"])
        if request.method == "PATCH":
            info["original"] = message = {**(info["original"] or message), **{
                k: v for k, v in body.items() if k in ("content", "embeds", "flags")}}
        return json_response(message)
