"""The served application: the Flask/Dash app (through a2wsgi) with live streams written by asyncio.

Why: a live stream held open by a WSGI view would hold one of the app's threads for as long as the
page stays open. So the Flask view of `/api/stats/realtime` makes every decision (token, method,
parameters, Accept, rate limit, room for a stream) and answers 200 with the `STREAM_HEADER`
naming the client, much as an upstream hands a download to nginx with `X-Accel-Redirect`. This
layer strips that header, takes the client's stream slot (429 if another stream took the last one
meanwhile) and writes the events from the process's one `StatsFanOut` until the client
disconnects: an open stream costs a connection and a small task, not a thread.

The open pages' own requests (their callbacks and live streams) run in a pool of their own: every
open page asks for its update at about the same moment (a burst of one request per page after each
stats event; after a restart every page reopens its stream at once), and in one shared pool the
API's, the health check's and the page loads' requests waited in the queue behind such a burst.

Slow or silent clients, header and body sizes are the reverse proxy's job (deploy/nginx.conf):
this layer and uvicorn have no deadlines for them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from a2wsgi import WSGIMiddleware

from aurora.api.errors import error_body
from aurora.api.stream import STREAM_HEADER, STREAM_PATH, StatsFanOut, StreamSlots, TooManyStreams
from aurora.settings import Settings
from aurora.web.context import context_of
from aurora.web.dash_routes import CALLBACK_ROUTE

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STREAM_HEADER_BYTES = STREAM_HEADER.lower().encode()
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CALLBACK_PATH = "/" + CALLBACK_ROUTE


def json_error_messages(status: int, message: str, headers: list[tuple[bytes, bytes]]) -> tuple[Message, Message]:
    """The API's JSON error body as the two ASGI messages of a response."""
    body = json.dumps(error_body(status, message)).encode()
    headers = [*headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body, "more_body": False}


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in headers if key.lower() == name), None)


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
        slots: StreamSlots,
        *,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self._app = WSGIMiddleware(wsgi_app, workers=settings.app_threads)
        self._pages = WSGIMiddleware(wsgi_app, workers=settings.app_threads)
        self._settings = settings
        self._fan_out = fan_out
        self._slots = slots
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
                self._end_streams_on_stop_signals()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Off the loop: stopping the bot waits for its thread and flushes its records.
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _end_streams_on_stop_signals(self) -> None:
        """At a stop signal uvicorn waits for every response in progress (up to its graceful timeout);
        a live stream never ends on its own, so streams end at the signal, before uvicorn's own
        handler runs (chained, not replaced). Only the main thread can set handlers: elsewhere
        (a server in a test's thread) nothing is installed."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for stop in STOP_SIGNALS:
            server_handler = signal.getsignal(stop)
            if not callable(server_handler):
                continue

            def end_streams_then(signum, frame, server_handler=server_handler) -> None:
                loop.call_soon_threadsafe(self._fan_out.close)
                server_handler(signum, frame)

            signal.signal(stop, end_streams_then)

    def close(self) -> None:
        """Stop the app's threads and run the shutdown the entry point asked for (once)."""
        for pool in (self._app, self._pages):
            pool.executor.shutdown(wait=False, cancel_futures=True)
        on_shutdown, self._on_shutdown = self._on_shutdown, None
        if on_shutdown is not None:
            on_shutdown()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream_start: Message | None = None

        async def send_unless_stream(message: Message) -> None:
            nonlocal stream_start
            if message["type"] == "http.response.start" and header_value(message["headers"], STREAM_HEADER_BYTES):
                stream_start = message
            elif stream_start is None:
                await send(message)
            # else: the view's empty body; the events below take its place

        path = scope["path"]
        app = self._pages if path.endswith(CALLBACK_PATH) or path == STREAM_PATH else self._app
        await app(scope, receive, send_unless_stream)
        if stream_start is not None:
            await self._stream(scope, stream_start, receive, send)

    async def _stream(self, scope: Scope, start: Message, receive: Receive, send: Send) -> None:
        client = header_value(start["headers"], STREAM_HEADER_BYTES)
        headers = [(name, value) for name, value in start["headers"]
                   if name.lower() not in (STREAM_HEADER_BYTES, b"content-length")]
        if scope["method"] == "HEAD":
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        try:
            release = self._slots.acquire(client)
        except TooManyStreams as refused:
            kept = [(name, value) for name, value in headers if name.lower() != b"content-type"]
            for message in json_error_messages(429, refused.message, [*kept, (b"retry-after", str(refused.retry_after).encode())]):
                await send(message)
            return
        last_event_id = header_value(scope["headers"], b"last-event-id")
        writer = asyncio.ensure_future(self._write_events({**start, "headers": headers}, last_event_id, send))
        watcher = asyncio.ensure_future(until_disconnect(receive))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer, watcher):
                task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            release()

    async def _write_events(self, start: Message, last_event_id: str | None, send: Send) -> None:
        await send(start)
        settings = self._settings
        events = self._fan_out.events(
            last_event_id=last_event_id,
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
    fan_out = StatsFanOut(context.service, min_gap_seconds=context.settings.refresh_seconds,
                          prepare=context.prepare_views)
    return AuroraASGI(app.server, context.settings, fan_out, context.streams, on_shutdown=on_shutdown)
