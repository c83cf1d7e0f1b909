"""Driving the dashboard in tests: an app factory on the demo exchange, waits that are bounded,
what is on screen as text, and a frozen clock for snapshots.

The fixtures (frozen_clock, make_app) are registered for every test by tests/conftest.py.
"""

from __future__ import annotations

import io
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rich.console import Console
from textual.geometry import Region
from textual.pilot import Pilot

from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.monitor import Monitor
from pmtui.poller import Poller
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp

SEED = 7
UM_ACCOUNT = "/papi/v2/um/account"
# 2025-01-15 12:00:00 UTC: what a frozen clock reads.
FROZEN_EPOCH = 1_736_942_400.0


class FrozenClock(ManualClock):
    """A pmtui.clock.Clock whose wall and monotonic time move only when told to; `latency` is
    every request's round trip; the backoff's jitter is seeded. Pass it to the client and the
    Monitor (build_app does): their ages, countdowns and latencies are the same on every run.

    The display helpers that still read the `time` module (pmtui.fmt, output, history, market and
    two widgets, for the clock on screen and "3 s ago") are not on the Clock yet: `install()`
    swaps a stand-in `time` module into those, so the screen is the same in every time zone too.
    """

    def __init__(self, epoch: float = FROZEN_EPOCH, latency_ms: float = 42.0) -> None:
        super().__init__(epoch)
        self.latency = latency_ms / 1000
        self._perf = 0.0

    def perf_counter(self) -> float:
        self._perf += self.latency  # consecutive reads (a request's start and end) are `latency` apart
        return self._perf

    def module(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            time=self.time, monotonic=self.monotonic, perf_counter=self.perf_counter,
            localtime=time.gmtime, gmtime=time.gmtime, strftime=time.strftime, sleep=time.sleep,
        )

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = self.module()
        for name, module in list(sys.modules.items()):
            if (name == "pmtui" or name.startswith("pmtui.")) and getattr(module, "time", None) is time:
                monkeypatch.setattr(module, "time", fake)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    clock = FrozenClock()
    clock.install(monkeypatch)
    return clock


class FlakyDemo(DemoExchange):
    """The demo exchange, but the UM account endpoint can be made to fail on demand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fault: str | None = None  # None, "503" or "network"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fault and request.url.path == UM_ACCOUNT:
            if self.fault == "network":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(503, content=b"Service Unavailable", request=request)
        return await super().handle_async_request(request)


def build_app(
    *,
    seed: int = SEED,
    hedge: bool = False,
    scenario: str = "normal",
    step: int = 0,
    interval: float = 60.0,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str | None = None,
    api_key: str = DEMO_API_KEY,
    api_secret: str = DEMO_API_SECRET,
    clock: FrozenClock | None = None,
    title: str = "DEMO",
) -> PmtuiApp:
    """A dashboard on the demo exchange (or on any transport or base URL); `step`: where in its
    scenario the demo market starts."""
    wall = clock.time if clock else time.time
    if transport is None and base_url is None:
        transport = FlakyDemo(seed=seed, hedge=hedge, scenario=scenario, step=step, clock=wall)
    client = PapiClient(
        api_key=api_key,
        signer=HmacSigner(api_secret),
        transport=transport,
        **({"clock": clock} if clock else {}),
        **({"base_url": base_url} if base_url else {}),
    )
    # Tests press `r` far more often than a person: without the debounce and the weight budget
    # (tests/core/test_budget.py proves both), each press would wait for them instead of testing.
    client.budget = WeightBudget(1.0, limit=10**9, clock=client.clock)
    settings = Settings(interval=interval)
    # The Monitor, its pollers and its stream read the client's clock (the frozen one, if given).
    app = PmtuiApp(settings=settings, monitor=Monitor(settings=settings, client=client), title=title)
    app.monitor.refresh_debounce = 0.0
    # The ledger is not read here (tests/tui/test_ledger_screen.py and tests/core/test_ledger_*.py
    # prove it): its background weight would move the status bar's figure by when it lands.
    app.monitor.ledger.first_delay = float("inf")
    return app


def pollers(app: PmtuiApp) -> list[Poller]:
    """Every Poller the app owns (the UM account's, and any slower ones)."""
    return [value for value in vars(app.monitor).values() if isinstance(value, Poller)]


@pytest.fixture
def make_app() -> Callable[..., PmtuiApp]:
    return build_app


# --- waiting ---------------------------------------------------------------------------------


async def wait_until(pilot: Pilot, condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> None:
    """Until `condition` holds. The timeout only bounds a hang: a passing test waits for the
    condition, never for it, so it is wide enough for both cores busy (5 s was not, under load)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(0.01)


async def settled(pilot: Pilot, polls: int = 1) -> PmtuiApp:
    """Wait until `polls` fetches have finished and their result is on screen."""
    app = pilot.app
    await wait_until(pilot, lambda: app.monitor.poller.polls >= polls and not app.monitor.fetching,
                     what=f"{polls} polls")
    # The fetch has ended, but its view may still be building (a large book's, in a thread) and
    # the state it publishes still on its way to the screen: wait for the screen to hold it.
    await wait_until(pilot, lambda: _shown(app), what="the refresh's state on screen")
    await pilot.pause()
    return app


def _shown(app: PmtuiApp) -> bool:
    """The screen shows the monitor's latest state (or the monitor publishes none of its own)."""
    monitor = app.monitor
    if getattr(monitor, "_building", False):
        return False
    latest = getattr(monitor, "_state", None)
    shown = app.main.state
    return latest is None or (shown is not None and shown.seq >= latest.seq)


async def refresh(pilot: Pilot, key: str | None = "r") -> None:
    """One refresh now (by key press, or by the action when key is None), waited for."""
    app = pilot.app
    before = app.monitor.poller.polls
    if key:
        await pilot.press(key)
    else:
        app.main.action_refresh_now()
    await settled(pilot, before + 1)


def timed_clock_syncs(client: PapiClient) -> list[float]:
    """Record the round trip (seconds, outer bound) of each clock sync the client makes.

    The client's offset is the midpoint estimate, off by at most half its trip: tests derive
    their tolerance from this measured latency instead of guessing one.
    """
    trips: list[float] = []
    sync_time = client.sync_time

    async def timed(*args, **kwargs) -> int:
        started = time.time()
        try:
            return await sync_time(*args, **kwargs)
        finally:
            trips.append(time.time() - started)

    client.sync_time = timed  # type: ignore[method-assign]
    return trips


# --- what is on screen -----------------------------------------------------------------------


def rendered(widget) -> str:
    """The widget's lines exactly as drawn (border, title and all)."""
    width, height = widget.outer_size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def screen_text(app: PmtuiApp) -> str:
    """The whole terminal as text, modal screens and toasts included."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system=None, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
