"""The risk model's inputs: the client's five endpoints on two hosts (a real local server each),
and the shared, cached feed (its cadences, refusals, staleness) with a frozen clock."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from pmtui.budget import WeightBudget
from pmtui.client import SAPI_PATHS, PapiClient
from pmtui.errors import AuthError, ServerError
from pmtui.monitor import Monitor
from pmtui.riskfeed import HOURLY, INDEX_ALL_INTERVAL, RETRY, RiskFeed, weight_per_minute
from pmtui.riskinputs import AssetIndexPrice, CollateralRate
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from tests.support.papi_server import (
    API_KEY,
    API_SECRET,
    CM_BRACKETS,
    COLLATERAL_RATE,
    INDEX_PRICE,
    MARGIN_LEVERAGE,
    TIME,
    UM_BRACKETS,
    PapiServer,
)


@pytest.fixture
def sapi_server():
    server = PapiServer().start()
    try:
        yield server
    finally:
        server.stop()


def client_on(papi: PapiServer, sapi: PapiServer | None = None) -> PapiClient:
    return PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi.base_url,
                      sapi_url=sapi.base_url if sapi is not None else None, timeout=2.0,
                      budget=WeightBudget(1.0))


# --- the client -------------------------------------------------------------------------------


async def test_sapi_paths_go_to_the_sapi_host_signed_and_counted(papi_server, sapi_server):
    async with client_on(papi_server, sapi_server) as client:
        rates = await client.collateral_rates()
        prices = await client.asset_index_prices("BTC")
        leverage = await client.margin_asset_leverage()
        um = await client.um_brackets()
        cm = await client.cm_brackets()
        sent = client.budget.sent
    assert rates[0].asset == "USDC" and rates[0].collateralRate == Decimal("1.0000")
    assert prices[0].assetIndexPrice == Decimal("28251.9136906")
    assert leverage[0].leverage == Decimal(10)
    assert um[0].symbol == "ETHUSDT" and cm[0].brackets[0].maintMarginRatio == Decimal("0.004")
    # The spot host saw exactly the three /sapi/ paths, the PAPI host never one of them.
    assert set(sapi_server.paths()) == {COLLATERAL_RATE, INDEX_PRICE, MARGIN_LEVERAGE} == SAPI_PATHS
    assert set(papi_server.paths()) == {TIME, UM_BRACKETS, CM_BRACKETS}
    # The asset goes before timestamp and signature (the server checked the signature).
    index = next(r for r in sapi_server.requests if r.path == INDEX_PRICE)
    assert [name for name, _ in index.params] == ["asset", "timestamp", "recvWindow", "signature"]
    assert {r.method for r in sapi_server.requests + papi_server.requests} == {"GET"}
    assert sent == 50 + 1 + 50 + 1 + 1 + 1  # + the clock sync


async def test_every_index_price_at_once_costs_50(papi_server):
    async with client_on(papi_server) as client:
        await client.asset_index_prices()
        assert client.budget.sent == 50 + 1
    assert [n for n, _ in papi_server.requests[-1].params][0] == "timestamp"


async def test_a_refusal_on_the_sapi_host_is_an_auth_error(papi_server, sapi_server):
    sapi_server.revoke()
    async with client_on(papi_server, sapi_server) as client:
        with pytest.raises(AuthError) as info:
            await client.collateral_rates()
    assert info.value.code == -2015


def test_sapi_url_defaults_to_binance_only_for_binance():
    assert PapiClient(api_key="k", signer=None).sapi_url == "https://api.binance.com"
    custom = PapiClient(api_key="k", signer=None, base_url="http://127.0.0.1:9")
    assert custom.sapi_url == "http://127.0.0.1:9"


# --- the feed -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class FakeClient:
    """The feed's view of a client: counts calls, fails on request."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}

    async def _call(self, name: str, result):
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]
        return result

    async def collateral_rates(self):
        return await self._call("rates", (CollateralRate(asset="BTC", collateralRate=Decimal("0.95")),))

    async def margin_asset_leverage(self):
        return await self._call("leverage", ())

    async def um_brackets(self):
        return await self._call("um", ())

    async def cm_brackets(self):
        return await self._call("cm", ())

    async def asset_index_prices(self, asset=None):
        rows = (AssetIndexPrice(asset=asset or "ALL", assetIndexPrice=Decimal(1), time=1),)
        return await self._call(f"index:{asset or '*'}", rows)


async def test_the_feed_fetches_each_input_on_its_own_cadence():
    clock, client = Clock(), FakeClient()
    feed = RiskFeed(account_interval=10.0, clock=clock)
    await feed.update(client, ["BTC", "USDT"])
    assert sorted(client.calls) == ["cm", "index:BTC", "index:USDT", "leverage", "rates", "um"]
    client.calls.clear()
    await feed.update(client, ["BTC"])  # another Monitor, at once: everything is fresh
    assert client.calls == []
    clock.now += 10
    await feed.update(client, ["USDT"])
    assert client.calls == ["index:BTC", "index:USDT"]  # only the prices, each asset at weight 1
    client.calls.clear()
    clock.now += HOURLY
    await feed.update(client, ["BTC"])
    assert {"rates", "leverage", "um", "cm"} <= set(client.calls)
    assert feed.problems() == []
    assert feed.inputs()["collateral_rates"][0].collateralRate == Decimal("0.95")


async def test_many_assets_are_priced_all_at_once_at_most_once_a_minute():
    clock, client = Clock(), FakeClient()
    feed = RiskFeed(account_interval=10.0, clock=clock)
    await feed.update(client, [f"C{i}" for i in range(9)])
    assert [c for c in client.calls if c.startswith("index")] == ["index:*"]
    client.calls.clear()
    clock.now += 10
    await feed.update(client, ["BTC"])
    assert client.calls == []
    clock.now += INDEX_ALL_INTERVAL
    await feed.update(client, ["BTC"])
    assert client.calls == ["index:*"]
    # The README's figure: at most ~60 weight a minute either way.
    assert weight_per_minute(10.0, 8) <= 60 and weight_per_minute(10.0, 300) <= 60


async def test_a_refused_input_is_one_sentence_and_not_asked_again_until_r():
    clock, client = Clock(), FakeClient()
    client.fail["rates"] = AuthError("refused", status=401, code=-2015)
    feed = RiskFeed(clock=clock)
    await feed.update(client, ["BTC"])
    (problem,) = feed.problems()
    assert problem == ("The model has no collateral rates: Binance refused "
                       "/sapi/v1/portfolio/collateralRate (-2015); the API key may lack access to "
                       "it (r asks again).")
    assert feed.inputs()["collateral_rates"] is None
    clock.now += 2 * HOURLY
    client.calls.clear()
    await feed.update(client, ["BTC"])
    assert "rates" not in client.calls
    del client.fail["rates"]
    feed.refresh_now()
    await feed.update(client, ["BTC"])
    assert "rates" in client.calls and feed.problems() == []


async def test_a_failing_input_keeps_its_last_data_marked_old_and_is_retried():
    clock, client = Clock(), FakeClient()
    feed = RiskFeed(clock=clock)
    await feed.update(client, ["BTC"])
    clock.now += HOURLY
    client.fail["rates"] = ServerError(
        "The exchange had an internal error (HTTP 503); this usually passes within minutes.")
    await feed.update(client, ["BTC"])
    (problem,) = feed.problems()
    assert problem == ("The model's collateral rates are 60 min old: The exchange had an internal error "
                       "(HTTP 503); this usually passes within minutes (pmtui tries again in a minute).")
    assert feed.inputs()["collateral_rates"] is not None  # the last good rates stay
    client.calls.clear()
    clock.now += RETRY - 1
    await feed.update(client, ["BTC"])
    assert "rates" not in client.calls
    clock.now += 1
    del client.fail["rates"]
    await feed.update(client, ["BTC"])
    assert "rates" in client.calls and feed.problems() == []


async def test_an_unexpected_error_costs_the_input_not_the_refresh():
    client = FakeClient()
    client.fail["um"] = ZeroDivisionError("bug")
    feed = RiskFeed(clock=Clock())
    await feed.update(client, ["BTC"])
    (problem,) = feed.problems()
    assert "unexpected internal error (ZeroDivisionError)" in problem


# --- the Monitor ------------------------------------------------------------------------------


async def test_monitors_share_one_feed_and_publish_the_model(papi_server):
    feed = RiskFeed()
    monitors = [Monitor(settings=Settings(base_url=papi_server.base_url), client=client_on(papi_server),
                        risk_feed=feed) for _ in range(2)]
    states = []
    for m in monitors:
        async with m:
            states.append(await m.fetch_once())
    assert papi_server.count(COLLATERAL_RATE) == 1 and papi_server.count(UM_BRACKETS) == 1
    for state in states:
        assert state.risk is not None and state.risk.base.unimmr is not None
        assert state.risk.inputs.reported_unimmr == state.pm.uniMMR


async def test_a_refused_sapi_makes_the_model_approximate_never_the_snapshot_fail(papi_server, sapi_server):
    sapi_server.revoke()
    m = Monitor(settings=Settings(base_url=papi_server.base_url), client=client_on(papi_server, sapi_server),
                risk_feed=RiskFeed())
    async with m:
        state = await m.fetch_once()
    assert state.view is not None and state.risk is not None and state.risk.base.approximate
    assert any("Binance refused /sapi/v1/portfolio/collateralRate (-2015)" in r for r in state.risk.base.reasons)


async def test_without_a_feed_the_monitor_asks_nothing_of_the_model(papi_server):
    m = Monitor(settings=Settings(base_url=papi_server.base_url), client=client_on(papi_server))
    async with m:
        state = await m.fetch_once()
    assert state.risk is None and not any(p.startswith("/sapi/") for p in papi_server.paths())


async def test_in_the_margin_call_demo_the_model_reconciles_at_every_refresh_between_binances_figures():
    """The demo computes uniMMR by the model's formula, so the model reconciles with it exactly,
    but Binance's figure comes every 10 s and the market moves every refresh: re-measured on
    newer positions (and on balances polled more slowly still) the model looked "approximate"
    for seconds at a time. The model takes the UM/COIN-M wallet and uPnL of the positions'
    refresh, and the gap measured on the refresh that brought Binance's figure is carried."""
    from pmtui.clock import ManualClock
    from pmtui.demo import DemoExchange
    from pmtui.fleet import FleetOptions, make_monitor
    from pmtui.model import RiskModel
    from pmtui.riskview import off

    class Clock(ManualClock):
        async def sleep(self, seconds: float) -> None:
            # A wait (the weight budget's, should a pushed event ask for a refresh in between)
            # moves this clock as time would: on a clock that never moves it would wait for ever.
            self.advance(seconds)
            await asyncio.sleep(0)

    clock = Clock()
    exchange = DemoExchange(scenario="margin-call", clock=clock.time, step=44)
    m = make_monitor(Settings(), FleetOptions(demo=True), profile="demo", transport=exchange, clock=clock,
                     budget=WeightBudget(1.0, clock=clock))
    carried, remeasured = [], []
    async with m:
        for _ in range(25):
            await m.refresh()
            while m._risk_task is not None:  # the feed's first inputs
                await m._risk_task
            if m.risk is not None and m.risk.base.unimmr is not None:
                carried.append(off(m.risk))
                again = RiskModel(dataclasses.replace(m.risk.inputs, reconciled_gap=None))
                remeasured.append(off(again))
            clock.advance(2.0)
    assert len(carried) >= 20
    assert carried == [None] * len(carried)
    assert any(r is not None for r in remeasured)  # what the panel said before
