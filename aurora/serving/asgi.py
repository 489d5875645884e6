"""The served application: the Flask/Dash app behind an asyncio front (ASGI).

Why: under a thread-per-request server every open live stream and every slow client held a thread,
so eight open pages or eight half-sent requests stopped the dashboard. Here the event loop does all
the waiting on clients, and the Flask app runs in a bounded pool of threads (a2wsgi's
`WSGIMiddleware`) only once a request is complete:

- the request body is read here, asynchronously, up to `max_body_bytes` (413 before reading when
  `Content-Length` says more; 413 as soon as a chunked body passes it) and within
  `BODY_SECONDS` (408), then handed to Flask whole;
- `/api/stats/realtime` is decided by its Flask view (token, methods, parameters, Accept, rate
  limit, stream slot), which hands the stream back (`aurora.api.stream.hand_off`); the events are then
  written from here, from the process's one `StatsFanOut`, and the slot is given back the moment
  the client disconnects (ASGI `http.disconnect`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from a2wsgi import WSGIMiddleware

from aurora.api.stream import HANDOFF_SCOPE_KEY, HandOffBox, StatsFanOut, StreamHandOff
from aurora.config import Settings
from aurora.context import context_of

BODY_SECONDS = 30.0
# Marks a request whose answer is a live stream: the HTTP protocol closes those at shutdown.
STREAMING_SCOPE_KEY = "aurora.streaming"

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def error_body(status: int, message: str) -> bytes:
    """The API's JSON error body, for answers given before the app sees a request."""
    return json.dumps({"error": {"status": status, "message": message}}).encode()


def json_error_response(status: int, message: str) -> tuple[Message, Message]:
    """The API's JSON error as the two ASGI messages of a response that ends the connection."""
    body = error_body(status, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class BodyRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


def has_body(scope: Scope) -> bool:
    """Whether the request carries a body at all (HTTP/1.1: Content-Length or Transfer-Encoding)."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The HTTP parser has already refused a Content-Length that is not a number.
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, or BodyRefused (413 over `limit`, 408 too slow) / ClientGone."""
    length = declared_length(scope)
    if length is not None and length > limit:
        raise BodyRefused(413, f"the request body ({length} bytes) is over the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"the request body is over the limit of {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyRefused(408, f"the request body did not arrive within {BODY_SECONDS:g} s") from None


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then what the client does next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive_again() -> Message:
        return pending.pop() if pending else await receive()

    return receive_again


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class AuroraASGI:
    """The ASGI application `app:server` names (gunicorn's uvicorn worker, `python app.py`)."""

    def __init__(
        self,
        wsgi_app,
        settings: Settings,
        fan_out: StatsFanOut,
        *,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self._app = WSGIMiddleware(wsgi_app, workers=settings.app_threads)
        self._settings = settings
        self._fan_out = fan_out
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Off the loop: stopping the bot waits for its thread and flushes its records.
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        """Stop the app's threads and run the shutdown the entry point asked for (once)."""
        self._app.executor.shutdown(wait=False, cancel_futures=True)
        on_shutdown, self._on_shutdown = self._on_shutdown, None
        if on_shutdown is not None:
            on_shutdown()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(scope, receive, self._settings.max_body_bytes) if has_body(scope) else b""
        except BodyRefused as refused:
            for message in json_error_response(refused.status, refused.message):
                await send(message)
            return
        except ClientGone:
            return
        box = HandOffBox()
        scope[HANDOFF_SCOPE_KEY] = box
        held: list[Message] = []

        async def send_or_hold(message: Message) -> None:
            # Once the view has offered a stream, its answer is held back: it is either the stream's
            # start (the events below are the body) or, should a later step have turned it into an
            # error, sent as it is afterwards.
            if box.handoff is not None:
                held.append(message)
            else:
                await send(message)

        try:
            await self._app(scope, replay(body, receive), send_or_hold)
        except BaseException:
            if box.handoff is not None:
                box.handoff.release()
            raise
        if box.handoff is None:
            return
        if held[0]["status"] == 200:
            await self._stream(scope, held[0], box.handoff, receive, send)
            return
        box.handoff.release()
        for message in held:
            await send(message)

    async def _stream(self, scope: Scope, start: Message, handoff: StreamHandOff, receive: Receive, send: Send) -> None:
        scope[STREAMING_SCOPE_KEY] = True
        headers = [(name, value) for name, value in start["headers"] if name != b"content-length"]
        writer = asyncio.ensure_future(self._write_events(scope, {**start, "headers": headers}, handoff, send))
        watcher = asyncio.ensure_future(until_disconnect(receive))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer, watcher):
                task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            handoff.release()

    async def _write_events(self, scope: Scope, start: Message, handoff: StreamHandOff, send: Send) -> None:
        await send(start)
        if scope["method"] != "HEAD":
            settings = self._settings
            events = self._fan_out.events(
                last_event_id=handoff.last_event_id,
                min_gap_seconds=settings.refresh_seconds,
                heartbeat_seconds=settings.stream_heartbeat_seconds,
                max_seconds=settings.stream_max_seconds,
            )
            async with aclosing(events):
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def asgi_app(app, *, on_shutdown: Callable[[], None] | None = None) -> AuroraASGI:
    """The served application for a Dash app made by `create_app`."""
    context = context_of(app)
    return AuroraASGI(app.server, context.settings, StatsFanOut(context.service), on_shutdown=on_shutdown)
