"""A hostile HTTP server on 127.0.0.1, on raw sockets: it can do what no polite server library
lets one do: trickle bytes, send absurd headers, lie about lengths, times and waits.

Test helper only (not shipped). Each route is a function of one connection; it writes whatever
bytes it likes. Routes not set answer 404; the time endpoint answers the true time unless set.

The `hostile` fixture (tests/conftest.py registers it for every test):

    def test_x(hostile):
        hostile.route(UM_ACCOUNT, lambda c: c.trickle(head(200, length=10_000), every=0.1))
        hostile.route(PM_ACCOUNT, lambda c: c.reply(429, {"code": -1003, "msg": "…"},
                                                    headers={"Retry-After": "99999999"}))
        hostile.base_url, hostile.paths()

Every connection is served once and closed (`Connection: close`), so a route's bytes always
reach a fresh reader. stop() wakes every trickle and sleep at once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import pytest

TIME = "/fapi/v1/time"
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           418: "I'm a teapot", 429: "Too Many Requests", 451: "Unavailable For Legal Reasons",
           500: "Internal Server Error", 503: "Service Unavailable"}


def head(status: int, *, length: int | None = None, headers: dict[str, str] | None = None,
         date: float | None = None) -> bytes:
    """A status line and headers (Date from `date`, default now), ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}",
             f"Date: {formatdate(time.time() if date is None else date, usegmt=True)}",
             "Content-Type: application/json", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def body(data: Any) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data).encode()


class Conn:
    """One accepted connection and the request line that came on it."""

    def __init__(self, sock: socket.socket, server: HostileServer, path: str, query: str) -> None:
        self.sock, self.server, self.path, self.query = sock, server, path, query

    def send(self, data: bytes) -> bool:
        """Write all of `data`; False once the client hung up."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def sleep(self, seconds: float) -> bool:
        """Wait, unless the server stops first; False when it does."""
        return not self.server.stopping.wait(seconds)

    def trickle(self, data: bytes, every: float = 0.1, chunk: int = 1) -> None:
        """`chunk` bytes of `data` every `every` seconds, until all are sent or nobody listens."""
        for i in range(0, len(data), chunk):
            if not self.send(data[i:i + chunk]) or not self.sleep(every):
                return

    def reply(self, status: int, data: Any = b"", *, headers: dict[str, str] | None = None,
              date: float | None = None) -> None:
        """A whole answer at once; `data` is JSON-encoded unless it is bytes."""
        raw = body(data)
        self.send(head(status, length=len(raw), headers=headers, date=date) + raw)


Route = Callable[[Conn], None]


def true_time(conn: Conn) -> None:
    conn.reply(200, {"serverTime": int(time.time() * 1000)})


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {TIME: true_time}
        self.requests: list[str] = []  # request paths, in order of arrival
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def paths(self) -> list[str]:
        with self._lock:
            return list(self.requests)

    def start(self) -> HostileServer:
        self._sock.settimeout(0.05)
        thread = threading.Thread(target=self._accept, name="hostile-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(5)
            raw = b""
            try:
                while b"\r\n\r\n" not in raw and len(raw) < 65536:
                    data = sock.recv(4096)
                    if not data:
                        return
                    raw += data
            except OSError:
                return
            target = raw.split(b" ", 2)[1].decode("latin-1") if raw.count(b" ") >= 2 else "/"
            path, _, query = target.partition("?")
            with self._lock:
                self.requests.append(path)
            handler = self.routes.get(path)
            conn = Conn(sock, self, path, query)
            if handler is None:
                conn.reply(404, {"code": -5000, "msg": "Path not found."})
            else:
                handler(conn)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A running hostile server on 127.0.0.1 (ephemeral port); stopped afterwards."""
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()
