"""A loopback TCP proxy that tests can cut or stall, to make a real server unreachable."""

from __future__ import annotations

import select
import socket
import threading
import time


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. `cut()` drops every connection and refuses new
    ones; `stall()` accepts but never forwards (a server that stops answering); `restore()`.
    `accepted` counts the connections clients opened (refused ones included): how often a client
    tried the server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._mode = "up"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self._mode
                self.accepted += 1
            if mode == "cut":
                client.close()
                continue
            if mode == "stall":
                with self._lock:
                    self._pairs.append((client, None))
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while True:
                with self._lock:
                    stalled = self._mode == "stall"
                if stalled:  # hold the bytes, answer nothing
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(sockets, [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket closed by cut()
            return
        finally:
            for sock in sockets:
                sock.close()

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()

    def cut(self) -> None:
        with self._lock:
            self._mode = "cut"
        self._drop_all()

    def stall(self) -> None:
        with self._lock:
            self._mode = "stall"

    def restore(self) -> None:
        with self._lock:
            was_stalled = self._mode == "stall"
            self._mode = "up"
        if was_stalled:
            self._drop_all()  # stalled sessions are hopeless; clients reconnect

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._drop_all()
