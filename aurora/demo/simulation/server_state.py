"""What the simulated Discord keeps, as its gateway and REST halves (`gateway`, `rest`) see it.

`SimulatedDiscord` (`server`) is built from those halves, so they name its state here, as a
`Protocol` they subclass, instead of importing the server back. Everything below is touched on the
server's loop, except the request logs (under `_lock`: observers read them from other threads).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from aurora.demo.simulation.answer_times import AnswerTimes
from aurora.demo.simulation.payloads import Guild, Shapes, Snowflakes


@dataclass
class Session:
    id: str
    shard: tuple[int, int] | None
    seq: int = 0
    conn: Connection | None = None
    # Sent dispatches, replayed on RESUME like real Discord, so events sent during a drop survive.
    backlog: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=1000))


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    session: Session | None = None


class ServerState(Protocol):
    token: str
    answer_times: AnswerTimes | None
    heartbeat_interval_ms: int
    ack_heartbeats: bool
    ack_delay: Callable[[], float] | None
    refuse_gateway: bool
    shards: int
    identify_count: int
    resume_count: int
    chunk_request_count: int
    bot_user_id: int
    application_id: int
    shapes: Shapes
    _ids: Snowflakes
    _lock: threading.Lock
    _requests: deque[tuple[str, str]]
    _responses: deque[dict[str, Any]]
    _followups: deque[dict[str, Any]]
    _synced_commands: tuple[str, ...]
    _guilds: dict[int, Guild]
    _sessions: dict[str, Session]
    _conns: set[Connection]
    _interactions: OrderedDict[str, dict[str, Any]]
    _delayed_acks: set[asyncio.Task]

    @property
    def gateway_url(self) -> str: ...

    def _make_guild(self, members: int) -> Guild:
        """A new guild of `members` members (the bot among them), kept."""
        ...

    def _command_id(self, name: str) -> int:
        """The id of the command called `name`, the same each time."""
        ...
