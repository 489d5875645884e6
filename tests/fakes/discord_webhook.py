"""A fake Discord webhook endpoint (`POST /api/webhooks/{id}/{token}`) on a free loopback port.

It records every post (its JSON, the token it was posted to, and the moment on an optional
clock) and answers 204, or what it was told to answer next: `answer_next(429, retry_after=7)`,
`answer_next(503, times=3)`, a redirect `answer_next(302, location="/moved")` (a GET that follows
it is counted in `gets`), or a flood `answer_next(500, flood_bytes=50 * MB)` (`flood_sent`: how
much of it the client took before closing). Runs in its own thread with its own asyncio loop; no
access log (its lines would carry the token)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from aiohttp import web

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "fake-webhook-token-0123456789abcdef"
MB = 1024 * 1024
FLOOD_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Post:
    token: str
    body: dict[str, Any]
    raw: bytes
    at: datetime | None


class FakeWebhook:
    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._answers: list[tuple[int, dict[str, str], bytes, int]] = []
        self.gets = 0
        self.flood_sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._posts)

    def titles(self) -> list[str]:
        return [post.body["embeds"][0]["title"] for post in self.posts]

    def answer_next(
        self, status: int, *, times: int = 1, retry_after: float | None = None, in_body: bool = False,
        location: str | None = None, flood_bytes: int = 0,
    ) -> None:
        """The next `times` posts get `status`; a 429's wait in the `Retry-After` header, or only
        in the JSON body (`retry_after`) when `in_body`; a `Location`; or `flood_bytes` of body."""
        headers, body = {}, b'{"message": "fake failure"}'
        if location is not None:
            headers["Location"] = location
        if retry_after is not None:
            if in_body:
                body = json.dumps(
                    {"message": "You are being rate limited.", "retry_after": retry_after}
                ).encode()
            else:
                headers["Retry-After"] = str(retry_after)
        with self._lock:
            self._answers.extend([(status, headers, body, flood_bytes)] * times)

    def start(self) -> Self:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-webhook", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/api/webhooks/{webhook_id}/{token}", self._post)
        app.router.add_get("/{anywhere:.*}", self._get)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.match_info["webhook_id"] != WEBHOOK_ID or request.content_type != "application/json":
            return web.Response(status=400)
        post = Post(request.match_info["token"], json.loads(raw), raw, self._clock() if self._clock else None)
        with self._lock:
            self._posts.append(post)
            answer = self._answers.pop(0) if self._answers else None
        if answer is None:
            return web.Response(status=204)
        status, headers, body, flood_bytes = answer
        if flood_bytes:
            return await self._flood(request, status, flood_bytes)
        return web.Response(status=status, headers=headers, body=body, content_type="application/json")

    async def _get(self, _request: web.Request) -> web.Response:
        with self._lock:
            self.gets += 1
        return web.Response(status=200, text="followed")

    async def _flood(self, request: web.Request, status: int, size: int) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Length": str(size)})
        await response.prepare(request)
        try:
            for _ in range(size // FLOOD_CHUNK):
                await response.write(b"x" * FLOOD_CHUNK)
                with self._lock:
                    self.flood_sent += FLOOD_CHUNK
        except (ConnectionError, RuntimeError):  # the client closed: the rest is never sent
            pass
        return response


class GarbledWebhook:
    """A loopback endpoint that answers its first `times` posts with raw bytes no HTTP client can
    use (a bad status line, a body shorter than its length, or nothing), or a good answer trickled
    one byte every `byte_seconds`; then 204. Counts posts."""

    def __init__(self, answer: bytes, *, times: int, byte_seconds: float = 0.0) -> None:
        self._answer, self._garbled_left, self._byte_seconds = answer, times, byte_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, name="garbled-webhook", daemon=True)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
        self.posts = 0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
        self._thread.join(timeout=2)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed: done
                return
            with connection:
                read_request(connection)
                self.posts += 1
                garbled, self._garbled_left = self._garbled_left > 0, self._garbled_left - 1
                if garbled and self._byte_seconds:
                    self._trickle(connection)
                else:
                    connection.sendall(self._answer if garbled else b"HTTP/1.1 204 No Content\r\n\r\n")

    def _trickle(self, connection: socket.socket) -> None:
        for index in range(len(self._answer)):
            try:
                connection.sendall(self._answer[index:index + 1])
            except OSError:  # the client gave up
                return
            time.sleep(self._byte_seconds)


def read_request(connection: socket.socket) -> None:
    """Headers, then as many body bytes as they announce."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += connection.recv(4096)
