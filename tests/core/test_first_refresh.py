"""Start-up to first data (issue 25): the first refresh sends its parts at once.

Once the UM account has answered (it syncs the clock), positionRisk and the COIN-M account, then
uniMMR, balances, the ADL queue and the trading locks each go out together, so first data waits
for a few round trips, not one per endpoint. Later refreshes send one request after another, as
the weight budget serves them. Requests are counted in flight at the exchange (the demo's)."""

from __future__ import annotations

import asyncio

import httpx

from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.endpoints import BALANCE, CM_ACCOUNT, PM_ACCOUNT, UM_ACCOUNT, UM_POSITION_RISK
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner


class Counting(DemoExchange):
    """The demo exchange, noting which paths were in flight together. Each answer waits for the
    loop to run everything else ready first, as a network would."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.in_flight: set[str] = set()
        self.together: list[frozenset[str]] = []  # the paths in flight as each request arrived

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.in_flight.add(path)
        self.together.append(frozenset(self.in_flight))
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().handle_async_request(request)
        finally:
            self.in_flight.discard(path)


def monitor_on(exchange: Counting) -> Monitor:
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                        budget=WeightBudget(1.0, limit=10**9))
    monitor = Monitor(settings=Settings(), client=client)
    monitor.refresh_debounce = 0.0
    return monitor


def largest(together: list[frozenset[str]]) -> frozenset[str]:
    return max(together, key=len, default=frozenset())


async def test_the_first_refresh_sends_its_parts_at_once():
    exchange = Counting()
    monitor = monitor_on(exchange)
    try:
        assert await monitor.refresh()
    finally:
        await monitor.aclose()
    assert monitor.state.view is not None and monitor.account_poller.data is not None
    paths = [p for s in exchange.together for p in s]
    assert UM_ACCOUNT.path in paths
    # Nothing goes with the UM account: it syncs the clock the others are signed with.
    assert all(s == {UM_ACCOUNT.path} for s in exchange.together if UM_ACCOUNT.path in s)
    assert any({UM_POSITION_RISK.path, CM_ACCOUNT.path} <= s for s in exchange.together)
    assert any({PM_ACCOUNT.path, BALANCE.path} <= s for s in exchange.together)
    assert len(largest(exchange.together)) >= 3  # uniMMR, balances and the extras together


async def test_later_refreshes_send_one_request_at_a_time():
    exchange = Counting()
    monitor = monitor_on(exchange)
    try:
        assert await monitor.refresh()
        exchange.together.clear()
        monitor.balance_schedule.due_at = 0.0  # balances due again: more than one part to send
        assert await monitor.refresh()
    finally:
        await monitor.aclose()
    assert len(exchange.together) >= 2
    assert all(len(s) == 1 for s in exchange.together)
