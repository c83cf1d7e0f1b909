"""11. A book of 1,000 open positions on the real dashboard (PmtuiApp under `run_test`, 80x24).

The demo exchange holds about a dozen positions; `BigBook` answers the UM account and
positionRisk with 1,000 of its 1,000 symbols open instead (bodies made before the run, cycled, so
the exchange's own work is not what is measured). The Monitor refreshes every second.

Two figures, each beside its 12-position figure measured in the same run:
  big_block_max_ms      the longest single event-loop step (one callback or task step, timed
                        around asyncio's Handle._run) while refreshes arrive: what a keypress or
                        a frame waits behind at worst (target: under 16 ms, one frame);
  big_push_latency_ms   a pushed riskLevelChange -> the frame that shows its uniMMR is painted
                        (as bench/push.py measures it), median and max (target: within 100 ms).

Prints big_* and small_* lines.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from asyncio import events

from common import emit, parse_args
from payload import with_open_rows

from pmtui.demo import DemoExchange

OPEN = 1000
SYMBOLS = 1000


class BigBook(DemoExchange):
    """The demo account with `open_rows` open positions (prices move between the few bodies)."""

    def __init__(self, open_rows: int, variants: int = 4, **kwargs) -> None:
        super().__init__(symbols=SYMBOLS, **kwargs)
        self._bodies: list[bytes] = []
        self._risk_bodies: list[bytes] = []
        self._open = open_rows
        self._variants = variants
        self._served = 0

    def _prepare(self, body: bytes) -> None:
        for tick in range(self._variants):
            account = with_open_rows(body, self._open, tick=tick)
            self._bodies.append(account)
            rows = []
            for p in json.loads(account)["positions"]:
                amt = float(p["positionAmt"])
                if not amt:
                    continue
                mark = abs(float(p["notional"]) / amt)
                rows.append({"symbol": p["symbol"], "positionSide": p["positionSide"],
                             "positionAmt": p["positionAmt"], "entryPrice": f"{mark * 1.01:.8f}",
                             "breakEvenPrice": f"{mark * 1.01:.8f}", "markPrice": f"{mark:.8f}",
                             "unRealizedProfit": p["unrealizedProfit"], "notional": p["notional"],
                             "liquidationPrice": f"{mark * (0.5 if amt > 0 else 1.5):.8f}",
                             "leverage": "20", "maxNotionalValue": "1000000", "updateTime": p["updateTime"]})
            self._risk_bodies.append(json.dumps(rows, separators=(",", ":")).encode())

    def _um_account(self, snap, params, now):  # type: ignore[no-untyped-def]
        if not self._bodies:
            self._prepare(super()._um_account(snap, params, now))
        self._served += 1
        return self._bodies[self._served % len(self._bodies)]

    def _position_risk(self, snap, params, now):  # type: ignore[no-untyped-def]
        if not self._bodies:
            self._prepare(super()._um_account(snap, params, now))
        return self._risk_bodies[self._served % len(self._risk_bodies)]


class StepTimer:
    """The longest event-loop step since the last `take()` (asyncio runs every callback and every
    task step through Handle._run)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._run = events.Handle._run

    def __enter__(self) -> StepTimer:
        timer, run = self, self._run

        def timed(handle: events.Handle) -> None:
            t0 = time.perf_counter()
            try:
                run(handle)
            finally:
                timer.longest = max(timer.longest, time.perf_counter() - t0)

        events.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        events.Handle._run = self._run  # type: ignore[method-assign]

    def take(self) -> float:
        longest, self.longest = self.longest, 0.0
        return longest * 1000


async def block(open_rows: int, refreshes: int) -> list[float]:
    """The longest loop step during each of `refreshes` one-second refreshes."""
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.config import Settings
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET
    from pmtui.monitor import Monitor
    from pmtui.signing import HmacSigner
    from pmtui.state import DATA
    from pmtui.tui.app import PmtuiApp

    exchange = BigBook(open_rows, seed=7) if open_rows > 20 else DemoExchange(seed=7)
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                        budget=WeightBudget(1.0, limit=10**9))
    monitor = Monitor(settings=Settings(interval=1), client=client)
    app = PmtuiApp(settings=monitor.settings, monitor=monitor, title="BENCH")
    app.remember_theme = False
    app.freeze_heap = True  # as the CLI's
    data = asyncio.Event()
    monitor.subscribe(lambda s: data.set() if DATA in s.changed and s.view is not None else None)
    blocks: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(data.wait(), 30)
        await pilot.pause(0.5)  # start-up (the first layout, the CSS) is not a refresh
        with StepTimer() as timer:
            for _ in range(refreshes):
                data.clear()
                timer.take()
                await asyncio.wait_for(data.wait(), 30)
                await pilot.pause(0.3)  # the frame that shows it
                blocks.append(timer.take())
    return blocks


async def measure(quick: bool) -> dict[str, float]:
    import push

    refreshes = 4 if quick else 12
    small = await block(12, refreshes)
    big = await block(OPEN, refreshes)
    rounds = 8 if quick else 30
    small_push = await push.latencies(rounds, exchange=DemoExchange(seed=7))
    big_push = await push.latencies(rounds, exchange=BigBook(OPEN, seed=7))
    return {
        "big_block_max_ms": max(big),
        "big_block_median_ms": statistics.median(big),
        "small_block_max_ms": max(small),
        "big_push_latency_ms": statistics.median(big_push),
        "big_push_latency_max_ms": max(big_push),
        "small_push_latency_ms": statistics.median(small_push),
        "small_push_latency_max_ms": max(small_push),
        "big_open_positions": OPEN,
    }


if __name__ == "__main__":
    emit(asyncio.run(measure(parse_args(__doc__).quick)))
