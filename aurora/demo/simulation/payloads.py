"""The JSON shapes the simulated Discord speaks: snowflake ids, users, members, guilds, messages,
gateway frames and REST answers, as discord.py 2.7 reads them (docs/bot.md, "The simulated Discord").

Plain functions and data; the server (`aurora.demo.simulation.server`) holds the state.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

API = "/api/v10"
_BASE_MS = 1_700_000_000_000 - 1_420_070_400_000  # ids look like 2023 snowflakes
TIMESTAMP = "2024-01-01T00:00:00+00:00"
ALL_PERMISSIONS = "1071698660929"
# One timestamp range per id kind keeps every id distinct; consecutive guild ids differ by 1 ms
# in the timestamp part, so (id >> 22) % shards spreads guilds evenly over the shards.
_KIND_OFFSET = {"guild": 0, "user": 1 << 24, "interaction": 2 << 24, "message": 3 << 24, "command": 4 << 24}


DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Distinct Discord-style ids, one counter per kind of object."""

    def __init__(self) -> None:
        self._counters = {kind: itertools.count(1) for kind in _KIND_OFFSET}
        self._increment = itertools.count()

    def new(self, kind: str) -> int:
        return (_BASE_MS + _KIND_OFFSET[kind] + next(self._counters[kind])) << 22

    def at(self, unix_seconds: float) -> int:
        """An id whose timestamp is `unix_seconds`, as Discord gives interactions: the bot reads
        their creation time from it."""
        return (int(unix_seconds * 1000) - DISCORD_EPOCH_MS) << 22 | next(self._increment) % (1 << 22)


@dataclass
class Guild:
    id: int
    name: str
    member_ids: list[int]

    @property
    def channel_id(self) -> int:
        return self.id + 1  # low bits are free: guild ids are built with increment 0


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": web.json_response appends "; charset=utf-8" and discord.py
    # then treats the body as text (TypeError: string indices must be integers).
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def error_response(status: int, text: str, code: int = 0) -> web.Response:
    return json_response({"message": f"{status}: {text}", "code": code}, status)


def frame(op: int, d: Any, s: int | None = None, t: str | None = None) -> str:
    return json.dumps({"op": op, "d": d, "s": s, "t": t})


class Shapes:
    """Payload builders that need to know which user is the bot."""

    def __init__(self, bot_user_id: int, application_id: int, bot_name: str) -> None:
        self.bot_user_id = bot_user_id
        self.application_id = application_id
        self.bot_name = bot_name

    def user(self, user_id: int) -> dict[str, Any]:
        bot = user_id == self.bot_user_id
        name = self.bot_name if bot else f"user{user_id % 1_000_000}"
        return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": None,
                "avatar": None, "bot": bot}

    def member(self, user_id: int) -> dict[str, Any]:
        return {"user": self.user(user_id), "roles": [], "flags": 0, "joined_at": TIMESTAMP, "deaf": False,
                "mute": False}

    def guild(self, g: Guild) -> dict[str, Any]:
        # member_count == len(members) marks the guild as chunked: no op 8 request follows.
        return {"id": str(g.id), "name": g.name, "unavailable": False, "owner_id": str(g.member_ids[-1]),
                "member_count": len(g.member_ids), "joined_at": TIMESTAMP, "channels": [channel(g)],
                "roles": [{"id": str(g.id), "name": "@everyone", "permissions": ALL_PERMISSIONS}],
                "members": [self.member(uid) for uid in g.member_ids]}

    def application(self) -> dict[str, Any]:
        return {"id": str(self.application_id), "name": self.bot_name, "description": "", "icon": None,
                "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                "owner": self.user(self.bot_user_id + 1), "flags": 0}

    def message(self, message_id: int, body: dict[str, Any], channel_id: int | str) -> dict[str, Any]:
        return {"id": str(message_id), "channel_id": str(channel_id), "type": 0,
                "content": body.get("content") or "", "embeds": body.get("embeds") or [], "attachments": [],
                "flags": body.get("flags") or 0, "timestamp": TIMESTAMP, "edited_timestamp": None,
                "author": self.user(self.bot_user_id), "webhook_id": str(self.application_id)}

    def dm_channel(self, user_id: int) -> dict[str, Any]:
        # A DM channel lets interaction.channel resolve.
        return {"id": str(user_id + 1), "type": 1, "recipients": [self.user(user_id)]}


def channel(g: Guild) -> dict[str, Any]:
    return {"id": str(g.channel_id), "type": 0, "name": "general", "position": 0, "guild_id": str(g.id),
            "permission_overwrites": []}


def interaction(iid: int, token: str, application_id: int, command_id: int, name: str,
                options: list[dict[str, Any]] | None) -> dict[str, Any]:
    """An INTERACTION_CREATE for a slash command (type 2), before its guild or DM parts."""
    data: dict[str, Any] = {"id": str(command_id), "name": name, "type": 1}
    if options:
        data["options"] = options
    return {"id": str(iid), "application_id": str(application_id), "type": 2, "token": token, "version": 1,
            "attachment_size_limit": 10 << 20, "locale": "en-US", "app_permissions": "0", "data": data}


def owns(shard: tuple[int, int] | None, guild_id: int) -> bool:
    return shard is None or (guild_id >> 22) % shard[1] == shard[0]  # Discord's shard formula
