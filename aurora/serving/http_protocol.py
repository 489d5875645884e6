"""uvicorn's HTTP/1.1 protocol (h11) with the deadlines a public server needs.

uvicorn closes a connection that sends nothing for `timeout_keep_alive`, but every byte restarts
that timer, so a client trickling a request header a byte at a time could hold a connection for
ever; nor does anything stop a client that never reads what it is sent. This subclass adds:

- a request deadline: the head of each request (request line and headers) must be complete within
  `REQUEST_HEAD_SECONDS` of the connection opening or of the previous response ending; a client
  that started one and stalled gets a 408, an idle one is just closed. Armed while waiting for a
  head, disarmed once it is complete (the body has its own deadline in `aurora.serving.asgi`).
- a write deadline: a client whose unread data stays above the transport's high-water mark for
  `WRITE_STALL_SECONDS` is cut off, freeing whatever was waiting to write to it.
- limits on the request head, which h11 enforces only on a head that arrives in pieces: a request
  line over `MAX_REQUEST_LINE` bytes is a 414, a head over `MAX_HEAD_BYTES` or with more than
  `MAX_HEADER_FIELDS` fields a 431, an HTTP version other than 1.0/1.1 a 505.
- the JSON error body of the API for requests too malformed to reach the app (400, or h11's 431).
- a lingering close: closing a connection while the client is still sending (a refused body, an
  oversized head) would make the kernel answer with a reset, and the client would lose our answer;
  instead the sending side is shut first and what still arrives is read and dropped for up to
  `LINGER_SECONDS`.
- at shutdown, open live streams are closed at once (browsers reconnect elsewhere) instead of
  being waited for: they would never end on their own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from aurora.serving.asgi import STREAMING_SCOPE_KEY, error_body

REQUEST_HEAD_SECONDS = 10.0
WRITE_STALL_SECONDS = 30.0
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100
LINGER_SECONDS = 2.0
MALFORMED_STATUSES = (400, 431)
SUPPORTED_VERSIONS = (b"HTTP/1.0", b"HTTP/1.1")
_VERSION = re.compile(rb" (HTTP/\d+(?:\.\d+)?)$")


def head_refusal(received: bytes) -> tuple[int, str] | None:
    """Why a request head (all or the start of it) is refused, as (status, message); None if it is not."""
    end = received.find(b"\r\n\r\n")
    head = received if end < 0 else received[:end]
    line_end = head.find(b"\r\n")
    request_line = head if line_end < 0 else head[:line_end]
    if len(request_line) > MAX_REQUEST_LINE:
        return 414, f"the request line is over {MAX_REQUEST_LINE} bytes"
    if len(head) > MAX_HEAD_BYTES:
        return 431, f"the request head is over {MAX_HEAD_BYTES} bytes"
    if head.count(b"\r\n") > MAX_HEADER_FIELDS:
        return 431, f"the request has over {MAX_HEADER_FIELDS} header fields"
    line_complete = line_end >= 0 or end >= 0
    version = _VERSION.search(request_line) if line_complete else None
    if version is not None and version.group(1) not in SUPPORTED_VERSIONS:
        return 505, "this server speaks HTTP/1.0 and HTTP/1.1"
    return None


def raw_error(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 error response, for when h11 has no request to answer."""
    body = error_body(status, message)
    head = (
        f"HTTP/1.1 {status} {STATUS_PHRASES[status].decode()}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class Deadline:
    """A timer on the event loop that calls `expired` unless cancelled or restarted first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self._loop = loop
        self._expired = expired
        self._timer: asyncio.TimerHandle | None = None

    def start(self, seconds: float) -> None:
        self.cancel()
        self._timer = self._loop.call_later(seconds, self._expire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._expired()


class LingeringTransport:
    """The connection's transport, but `close()` is a lingering close (see the module's doc)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.lingering = False

    def __getattr__(self, name: str):
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        self.lingering = True
        if not self._transport.can_write_eof():  # TLS has no half-close
            self._transport.close()
            return
        try:
            self._transport.write_eof()  # after what is buffered has been sent
        except OSError:  # the client has gone already: nothing to linger for
            self._transport.close()
            return
        self._transport.resume_reading()
        self._loop.call_later(LINGER_SECONDS, self._finish)

    def _finish(self) -> None:
        if self._transport.get_write_buffer_size():
            # Still not delivered: give a slow reader its chance, but not for ever.
            self._loop.call_later(WRITE_STALL_SECONDS, self._transport.abort)
        self._transport.close()


class _HintingConnection(h11.Connection):
    """Remembers the status h11 suggests for the last malformed request (uvicorn drops it)."""

    error_status = 400

    def next_event(self):
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.error_status = error.error_status_hint
            raise


class AuroraH11Protocol(H11Protocol):
    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _HintingConnection(
            h11.SERVER, config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        )
        self._head_deadline = Deadline(self.loop, self._head_too_slow)
        self._head_received = bytearray()  # the head so far, until it is complete and checked
        self._head_checked = False
        self._write_deadline = Deadline(self.loop, self._client_not_reading)

    def connection_made(self, transport) -> None:
        super().connection_made(LingeringTransport(transport, self.loop))
        self._arm_head_deadline()

    def eof_received(self) -> None:
        self._head_deadline.cancel()  # the client sends no more: asyncio closes the connection now

    def connection_lost(self, exc) -> None:
        self._head_deadline.cancel()
        self._write_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            return  # read only so that the close is not a reset
        if not self._head_checked and self.conn.their_state is h11.IDLE:
            self._head_received += data
            if (refusal := head_refusal(self._head_received)) is not None:
                self._refuse(*refusal)
                return
            if b"\r\n\r\n" in self._head_received:
                self._head_checked = True
                self._head_received.clear()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_deadline.cancel()

    def _refuse(self, status: int, message: str) -> None:
        self._head_deadline.cancel()
        self.transport.write(raw_error(status, message))
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already read a pipelined next request
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._head_received.clear()
        self._head_checked = False
        self._head_deadline.start(REQUEST_HEAD_SECONDS)

    def _head_too_slow(self) -> None:
        if self.transport.is_closing():
            return
        if self._head_received:  # a request had begun
            self._refuse(408, f"the request head did not arrive within {REQUEST_HEAD_SECONDS:g} s")
        else:
            self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_deadline.start(WRITE_STALL_SECONDS)

    def resume_writing(self) -> None:
        self._write_deadline.cancel()
        super().resume_writing()

    def _client_not_reading(self) -> None:
        self.transport.abort()  # close() would wait to flush what the client does not read

    def send_400_response(self, msg: str) -> None:
        status = self.conn.error_status if self.conn.error_status in MALFORMED_STATUSES else 400
        message = "request head too large" if status == 431 else "malformed HTTP request"
        body = error_body(status, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.scope.get(STREAMING_SCOPE_KEY):
            self.transport.abort()
            return
        super().shutdown()
