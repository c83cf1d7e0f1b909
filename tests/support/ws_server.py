"""A real WebSocket server on 127.0.0.1 that plays scripted user-data-stream connections.

Test helper only (not shipped). Use the `ws_server` fixture (tests/conftest.py registers it for every test):

    async def test_x(ws_server):
        ws_server.script(("refuse", 403))                   # the next connection: HTTP 403
        ws_server.script(("send", frame), ("hold",))        # the one after: a frame, then stay open
        ws_server.url                                       # ws://127.0.0.1:PORT/pm/ws
        ws_server.paths                                     # request paths seen, in order

Actions, run in order for one connection (a connection with no script left just holds):
    ("send", text_or_bytes)     a frame (or a function returning one, called at send time)
    ("flood", n, fn)            n frames fn(0) … fn(n-1), as fast as the socket takes them
    ("sleep", seconds)
    ("call", fn)                fn() (e.g. expire the listen key on the REST server)
    ("wait", asyncio.Event)     wait until the test sets it (send when the test is ready)
    ("close", code)             a proper close handshake with that code
    ("drop_mid_message",)       half a frame, then the TCP connection is aborted
    ("deaf",)                   stop reading: pings are never answered, so the client's ping
                                timeout fires; the connection is aborted after 10 s at the latest
    ("hold",)                   stay open until the client goes away or the server stops
    ("refuse", status)          (first action only) refuse the handshake with that HTTP status
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class WsServer:
    def __init__(self) -> None:
        self.paths: list[str] = []
        #: Connections whose handshake succeeded.
        self.accepted = 0
        self._scripts: deque[tuple[tuple[Any, ...], ...]] = deque()
        self._pending: dict[int, tuple[tuple[Any, ...], ...]] = {}
        self._stop = asyncio.Event()
        self._server: Any = None
        self.closed_by_client = 0

    async def start(self) -> WsServer:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._process_request,
            ping_interval=None, compression=None, close_timeout=0.5,
        )
        return self

    async def stop(self) -> None:
        self._stop.set()
        self._server.close()
        try:
            async with asyncio.timeout(5):
                await self._server.wait_closed()
        except TimeoutError:
            pass

    @property
    def url(self) -> str:
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/pm/ws"

    def script(self, *actions: tuple[Any, ...]) -> None:
        """Queue the actions of the next connection that has none yet."""
        self._scripts.append(actions)

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        self.paths.append(request.path)
        actions = self._scripts.popleft() if self._scripts else (("hold",),)
        if actions and actions[0][0] == "refuse":
            status = HTTPStatus(actions[0][1])
            return connection.respond(status, f"{status.phrase}\n")
        self._pending[id(connection)] = actions
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self.accepted += 1
        actions = self._pending.pop(id(connection), (("hold",),))
        try:
            await self._play(connection, actions)
        except ConnectionClosed:
            pass  # the client went away mid-script (it reconnects, or the test ended)

    async def _play(self, connection: ServerConnection, actions: tuple[tuple[Any, ...], ...]) -> None:
        for action in actions:
            kind = action[0]
            if kind == "send":
                await connection.send(action[1]() if callable(action[1]) else action[1])
            elif kind == "flood":
                for i in range(action[1]):
                    await connection.send(action[2](i))
                    await asyncio.sleep(0)  # the client shares this loop: let it read as it goes
            elif kind == "sleep":
                await asyncio.sleep(action[1])
            elif kind == "call":
                action[1]()
            elif kind == "wait":
                await action[1].wait()
            elif kind == "close":
                await connection.close(action[1])
                return
            elif kind == "drop_mid_message":
                # A text frame announcing 256 bytes, of which 10 arrive; then the TCP reset.
                connection.transport.write(b"\x81\x7e\x01\x00" + b'{"e":"ACCO')
                connection.transport.abort()
                return
            elif kind == "deaf":
                connection.transport.pause_reading()
                await self._until_stopped(connection, 10.0)
                connection.transport.abort()
                return
            elif kind == "hold":
                break
            else:
                raise AssertionError(f"unknown action {kind!r}")
        await self._until_stopped(connection, None)

    async def _until_stopped(self, connection: ServerConnection, timeout: float | None) -> None:
        closed = asyncio.ensure_future(connection.wait_closed())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({closed, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if closed.done():
                self.closed_by_client += 1
            closed.cancel()
            stopped.cancel()


@pytest.fixture
async def ws_server() -> AsyncIterator[WsServer]:
    """A running scripted WebSocket server on 127.0.0.1 (ephemeral port); stopped afterwards."""
    server = await WsServer().start()
    try:
        yield server
    finally:
        await server.stop()
