"""Alerts that reach a person: pmtui.delivery's apprise routes, repeats, heartbeat, `alerts test`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pmtui import cli
from pmtui.alerts import CLEARED, FIRED, AlertEvent
from pmtui.config import load_settings
from pmtui.delivery import INSTALL_HINT, Deliverer, Message, Route
from pmtui.demo import DemoExchange
from pmtui.errors import ConfigError
from pmtui.fleet import Account, FleetOptions, make_monitor
from pmtui.health import Level
from pmtui.monitor import MonitorState, StatusInfo
from pmtui.settings import AlertSettings, Settings

pytest.importorskip("apprise")

TOKEN = "s3cr3tT0kenAbc123"


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it (apprise's json:// plugin)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.bodies.append(json.loads(data))
                    receiver.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[str]:
        with self.lock:
            return [f"{b.get('title')} | {b.get('message')}" for b in self.bodies]

    async def wait_for(self, condition: Callable[[list[str]], bool], timeout: float = 5.0) -> list[str]:
        """Wait (at most `timeout` s) until the messages so far meet `condition`."""
        end = time.monotonic() + timeout
        while not condition(self.messages()):
            if time.monotonic() > end:
                raise AssertionError(f"not received within {timeout} s; got {self.messages()}")
            await asyncio.sleep(0.02)
        return self.messages()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def alerts(**routes: list[str]) -> AlertSettings:
    return AlertSettings(routes=routes, blind_for=None)


def event(level: Level = Level.CRITICAL, message: str = "uniMMR 1.02 is below 1.05.", state: str = FIRED,
          rule: str = "unimmr_below", subject: str = "account") -> AlertEvent:
    return AlertEvent(rule, subject, Decimal("1.02"), Decimal("1.5"), message, level, 1_736_942_400.0, state)


def status(*, age: float | None = 1.0, stale: bool = False, paused: bool = False) -> StatusInfo:
    return StatusInfo(paused=paused, stopped=False, stale=stale, error=None, age=age, last_ok_wall=None,
                      interval=2.0, next_in=None, fetching=False, latency_ms=None, used_weight=None,
                      offset_ms=None)


def state(st: StatusInfo, *events: AlertEvent) -> MonitorState:
    return MonitorState(seq=1, changed=frozenset(), view=None, verdict=None, status=st, alerts=tuple(events))
