"""The web server of `pmtui serve`: textual-serve's, with pmtui's page, checks and shutdown.

textual-serve (the `serve` extra) imports aiohttp; only `pmtui serve` imports this module. What
it answers and why is in pmtui/tui/serve.py; this is the plumbing. It overrides textual-serve 1.1.3's
request handlers (pyproject pins the minor version for that).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.app_service import AppService
from textual_serve.server import Server

from pmtui.tui.serve import (
    DEFAULT_MAX_TABS,
    EXIT_SIGNALS,
    SERVER_PID_ENV,
    TABS_ENV,
    is_loopback,
    refusal,
    tab_limit_message,
    to_int,
    url_of,
)

STOP_GRACE_S = 3.0  # a dashboard quits in milliseconds; after this it is killed
# aiohttp's wait for open connections when the server stops: time for each tab's dashboard to
# quit or be killed.
SHUTDOWN_S = STOP_GRACE_S + 2.0

log = logging.getLogger("pmtui.tui.serve")


class Session(AppService):
    """One browser tab's dashboard process: stopping it asks it to quit, then kills it if it has
    not within the grace (a stuck child must not keep the server from stopping)."""

    _stopped = False
    #: How many tabs share the server's weight budget (pmtui.tui.serve.served_tabs).
    tabs = DEFAULT_MAX_TABS

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        # The dashboard dies with this server (pmtui.tui.serve.die_with_server) and keeps to its part
        # of the weight budget.
        return super()._build_environment(width, height) | {
            SERVER_PID_ENV: str(os.getpid()), TABS_ENV: str(self.tabs)}

    async def stop(self) -> None:
        if self._stopped:  # textual-serve's handler stops it twice
            return
        self._stopped = True
        process = self._process
        if process is not None:
            # Not by cancelling textual-serve's stop(): its reader task swallows the cancel.
            try:
                await self.send_meta({"type": "quit"})
                await asyncio.wait_for(process.wait(), STOP_GRACE_S)
            except TimeoutError:
                log.warning("a dashboard did not quit within %s s: killed", STOP_GRACE_S)
            except Exception:
                log.debug("a dashboard could not be asked to quit", exc_info=True)
            finally:  # also when the server's shutdown cancels this
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        # Its downloads cancelled, and its output read to the end (the process is gone).
        await super().stop()


class DashboardServer(Server):
    def __init__(self, command: str, *, host: str, port: int, title: str = "pmtui",
                 max_tabs: int = DEFAULT_MAX_TABS) -> None:
        super().__init__(command, host=host, port=port, title=title,
                         templates_path=Path(__file__).parent / "templates")
        self.loopback_only = is_loopback(host)
        self.sockets: set[web.WebSocketResponse] = set()
        self.max_tabs = max_tabs
        self.sessions = 0  # dashboards running (or starting)

    def initialize_logging(self) -> None:
        """textual-serve's and aiohttp's complaints as one line each on stderr, no traceback."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        handler.setLevel(logging.WARNING)
        for name in ("textual-serve", "aiohttp", "pmtui.tui.serve"):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.propagate = name.startswith("pmtui")  # pmtui's go to the --debug log too

    def _refused(self, request: web.Request, *, websocket: bool) -> None:
        why = refusal(request.headers.get("Host"), request.headers.get("Origin"),
                      loopback_only=self.loopback_only, websocket=websocket)
        if why is not None:
            log.warning("refused %s from %s: %s", request.path, request.remote, why)
            raise web.HTTPForbidden(text=f"pmtui serve: refused ({why}).\n")

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        self._refused(request, websocket=False)
        if self.sessions >= self.max_tabs:
            # Each tab is a dashboard process polling the exchange: a cap on memory and weight.
            return web.Response(status=503, text=tab_limit_message(self.max_tabs) + "\n")
        return await self._index(request)

    @aiohttp_jinja2.template("serve_index.html")
    async def _index(self, request: web.Request) -> dict[str, Any]:
        # Every URL on the page from the Host the browser used (checked): an SSH forward to
        # another local port, or a server on 0.0.0.0, still gets a page that connects.
        websocket = "wss" if request.scheme == "https" else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{websocket}://{request.host}/ws",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with the checks, a Session, and the socket tracked so that
        stopping the server closes it (and so stops its dashboard)."""
        self._refused(request, websocket=True)
        websocket = web.WebSocketResponse(heartbeat=15)
        width = max(1, to_int(request.query.get("width", "80"), 80))
        height = max(1, to_int(request.query.get("height", "24"), 24))
        session: Session | None = None

        async def close() -> None:  # the dashboard quit (q): the page says "Session ended"
            await websocket.close()

        self.sockets.add(websocket)
        full = self.sessions >= self.max_tabs
        if not full:
            self.sessions += 1
        try:
            await websocket.prepare(request)
            if full:  # a page opened before the others: the terminal says why it stays empty
                await websocket.send_bytes(tab_limit_message(self.max_tabs).encode() + b"\r\n")
                await websocket.close()
                return websocket
            session = Session(
                self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                close=close, download_manager=self.download_manager, debug=False,
            )
            session.tabs = self.max_tabs
            await session.start(width, height)
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as err:
            log.warning("a browser session failed (%s)", type(err).__name__)
        finally:
            self.sockets.discard(websocket)
            try:
                if session is not None:
                    await session.stop()
            finally:
                if not full:
                    self.sessions -= 1
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        pass  # no logo: run() prints one line, with the address really bound

    async def on_shutdown(self, app: web.Application) -> None:
        # Each page's websocket closed, all at once (a dead client's close waits for its reply):
        # its handler then stops that page's dashboard.
        closing = [asyncio.ensure_future(ws.close(code=1001, message=b"pmtui serve stopped"))
                   for ws in self.sockets]
        if closing:
            await asyncio.wait(closing, timeout=STOP_GRACE_S)

    def run(self, sock: socket.socket, out: Callable[[str], None] = print) -> int:
        """Serve on `sock` until SIGINT, SIGTERM or SIGHUP; 128 + that signal."""
        self.initialize_logging()
        host, port = sock.getsockname()[:2]
        loop = asyncio.new_event_loop()
        stopped_by: list[int] = []

        def stop(signum: int) -> None:
            if not stopped_by:
                stopped_by.append(signum)
                raise GracefulExit()  # a SystemExit: it ends run_app's loop, which then cleans up

        for sig in EXIT_SIGNALS:
            loop.add_signal_handler(sig, stop, sig)
        where = url_of(host, port)
        if ipaddress.ip_address(host).is_unspecified:  # 0.0.0.0, ::: no address to open
            where = f"port {port} of every address of this machine, {url_of('127.0.0.1', port)} here"
        out(f"pmtui: serving the dashboard on {where} (a dashboard per browser tab; Ctrl-C stops it)")
        try:
            web.run_app(self._make_app(), sock=sock, shutdown_timeout=SHUTDOWN_S, print=None,
                        access_log=None, handle_signals=False, loop=loop)
        finally:
            sock.close()
        return 128 + stopped_by[0] if stopped_by else 0


class _OneLine(logging.Formatter):
    """One line, never a traceback (details go to the --debug log through pmtui's logger)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"pmtui: serve: {record.getMessage()}"
