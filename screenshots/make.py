"""Render the dashboard screenshots (SVG) from the demo exchange:

    python screenshots/make.py [--out DIR]

Each picture runs the real app headless (`App.run_test`) on a seeded demo account and saves what
the terminal shows. Clocks are pinned to one instant, so re-running gives identical files unless
the dashboard itself changed.

    dashboard.svg  the whole account at 120x40: uniMMR, assets, margin balances (a USDT loan),
                   USD-M and COIN-M positions
    hedge.svg      a hedge-mode account: LONG and SHORT rows of one symbol (100x30, as the rest)
    stale.svg      the network went down after the first refresh: last data kept, marked STALE
    filtered.svg   filtered to losing USDT positions, sorted by the size of the uPnL
    accounts.svg   --demo --all-profiles: the Accounts overview, worst first
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # a checkout works without installing pmtui

import httpx  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from pmtui.budget import WeightBudget  # noqa: E402
from pmtui.client import PapiClient  # noqa: E402
from pmtui.demo import DEMO_ACCOUNTS, DEMO_API_KEY, DEMO_API_SECRET, DemoExchange  # noqa: E402
from pmtui.fleet import Account  # noqa: E402
from pmtui.monitor import Monitor  # noqa: E402
from pmtui.settings import Settings  # noqa: E402
from pmtui.signing import HmacSigner  # noqa: E402
from pmtui.tui.app import PmtuiApp  # noqa: E402

SEED = 7
SIZE = (100, 30)
WHOLE = (120, 40)  # from 40 lines the margin balances get their own table
EPOCH = 1_736_942_400.0  # 2025-01-15 12:00:00 UTC, shown as such whatever the local zone
UM_ACCOUNT = "/papi/v2/um/account"


class PinnedClock:
    """Wall and monotonic time that move only when told to; every request takes `latency_ms`."""

    def __init__(self, latency_ms: float = 38.0) -> None:
        self._latency = latency_ms / 1000
        self.reset()

    def reset(self) -> None:
        self.now = EPOCH
        self._perf = 0.0
        self._random = random.Random(0)  # the backoff's jitter shows in the countdown

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - EPOCH + 1000.0

    def perf_counter(self) -> float:
        self._perf += self._latency
        return self._perf

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def random(self) -> float:
        return self._random.random()

    def pin(self) -> None:
        """Point the `time` of the pmtui modules not yet on the injected Clock (the clock on screen,
    "3 s ago") at this clock; the client, Monitor and pollers get it passed (demo_app)."""
        fake = types.SimpleNamespace(
            time=self.time, monotonic=self.monotonic, perf_counter=self.perf_counter,
            localtime=time.gmtime, gmtime=time.gmtime, strftime=time.strftime, sleep=time.sleep,
        )
        for name, module in list(sys.modules.items()):
            if (name == "pmtui" or name.startswith("pmtui.")) and getattr(module, "time", None) is time:
                module.time = fake


class NetworkDropsAfter(DemoExchange):
    """The demo exchange, until `ok` UM account requests have been served; then no network."""

    def __init__(self, ok: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ok = ok

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == UM_ACCOUNT:
            if self.ok <= 0:
                raise httpx.ConnectError("network is unreachable", request=request)
            self.ok -= 1
        return await super().handle_async_request(request)


CLOCK = PinnedClock()


def demo_app(*, hedge: bool = False, transport: DemoExchange | None = None) -> PmtuiApp:
    clock = CLOCK
    clock.reset()
    transport = transport or DemoExchange(seed=SEED, hedge=hedge, clock=clock.time)
    # The budget keeps real time: on the pinned clock its bucket would never refill.
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=transport,
                        clock=clock, budget=WeightBudget())
    title = "DEMO hedge" if hedge else "DEMO"
    # A 60 s interval: no timed refresh moves prices while a picture is taken.
    app = PmtuiApp(settings=Settings(interval=60.0), client=client, title=title)
    app.remember_theme = False  # the pictures are of the default theme, whatever this user chose
    app.monitor.refresh_debounce = 0.0  # the pictures press r faster than a person
    return app


async def settle(pilot: Pilot, polls: int, timeout: float = 10.0) -> None:
    """Wait for `polls` refreshes, then hold the next one back: the real-time timer must not add
    refreshes (and move prices) depending on how fast this machine is. The countdown still shows."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while app.monitor.poller.polls < polls or app.monitor.fetching:
        if time.monotonic() > deadline:
            raise SystemExit(f"make.py: the dashboard did not finish {polls} refresh(es) in {timeout:g} s")
        await pilot.pause(0.01)
    await pilot.pause()


async def shoot(app: PmtuiApp, path: Path, size: tuple[int, int],
                steps: Callable[[Pilot], Awaitable[None]] | None = None) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 1)
        if steps is not None:
            await steps(pilot)
        app.clear_notifications()  # toasts fade after a few seconds: show the lasting screen
        await pilot.pause()
        app.save_screenshot(path.name, str(path.parent))
    print(f"wrote {path}")


def accounts_app() -> tuple[PmtuiApp, list[Account]]:
    """The three demo accounts of `--demo --all-profiles` on one budget, as the CLI builds them."""
    CLOCK.reset()
    budget, first, accounts = WeightBudget(1.0), None, []
    for name, options in DEMO_ACCOUNTS.items():
        exchange = DemoExchange(same_ip=first, clock=CLOCK.time, **options)
        first = first or exchange
        client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                            clock=CLOCK, budget=budget)
        settings = Settings(interval=60.0)
        accounts.append(Account(name, settings, Monitor(settings=settings, client=client, profile=name)))
    app = PmtuiApp.for_accounts(accounts, demo=True, start=False)
    app.remember_theme = False
    return app, accounts


async def shoot_accounts(path: Path, size: tuple[int, int]) -> None:
    app, accounts = accounts_app()
    async with app.run_test(size=size) as pilot:
        for account in accounts:
            assert account.monitor is not None
            await account.monitor.fetch_once()
        await pilot.pause(0.2)
        app.clear_notifications()
        await pilot.pause()
        app.save_screenshot(path.name, str(path.parent))
    print(f"wrote {path}")


async def make(out: Path, size: tuple[int, int]) -> None:
    out.mkdir(parents=True, exist_ok=True)

    await shoot(demo_app(), out / "dashboard.svg", WHOLE)
    await shoot_accounts(out / "accounts.svg", (100, 16))
    await shoot(demo_app(hedge=True), out / "hedge.svg", size)

    stale = demo_app(transport=NetworkDropsAfter(1, seed=SEED, clock=CLOCK.time))

    async def network_down(pilot: Pilot) -> None:
        for _ in range(3):  # three refreshes fail, 9 s apart
            CLOCK.now += 9
            stale.action_refresh_now()
            await settle(pilot, stale.monitor.poller.polls + 1)

    await shoot(stale, out / "stale.svg", size, network_down)

    async def losers_by_size(pilot: Pilot) -> None:
        await pilot.press("slash", *"usdt loss", "enter")
        await pilot.press(*"s" * 13)  # MM% -> Maint. -> ... -> uPnL (wraps around), largest first
        await pilot.press("j")

    await shoot(demo_app(), out / "filtered.svg", size, losers_by_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the SVGs (default: %(default)s)")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="terminal COLUMNSxROWS (default: %(default)s)")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    CLOCK.pin()
    asyncio.run(make(args.out, (columns, rows)))


if __name__ == "__main__":
    main()
