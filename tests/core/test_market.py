"""Tick and step sizes: exchangeInfo's parser (the real body and hostile ones), the public
unsigned request, the private cache, the Monitor's background load, and the prices the table,
detail screen, snapshot and alerts show with them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from decimal import Decimal as D

import pytest
from rich.console import Console

from pmtui.alerts import Alerts, AlertState, Rule
from pmtui.budget import WeightBudget
from pmtui.client import READ_ONLY_PATHS, PapiClient
from pmtui.clock import ManualClock
from pmtui.demo import DemoExchange
from pmtui.market import (
    MAX_AGE,
    MAX_SYMBOLS,
    SymbolRules,
    cache_path,
    load_cache,
    parse_exchange_info,
    save_cache,
)
from pmtui.models import UmAccount
from pmtui.monitor import Monitor
from pmtui.settings import Settings, Thresholds
from pmtui.signing import HmacSigner
from pmtui.tui.widgets.detail import detail_table
from pmtui.views import build_view
from tests.support.papi_server import API_KEY, API_SECRET, EXCHANGE_INFO, PapiServer, exchange_info_body
from tests.unit.test_risk import pm, position, risk, usdt

BTC = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), 2, 3)


def info(*symbols: dict) -> dict:
    return {"timezone": "UTC", "symbols": list(symbols)}


def sym(name="BTCUSDT", tick="0.10", step="0.001", pp=2, qp=3, **extra) -> dict:
    return {"symbol": name, "pricePrecision": pp, "quantityPrecision": qp, "status": "TRADING",
            "filters": [{"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764",
                         "tickSize": tick},
                        {"filterType": "LOT_SIZE", "stepSize": step, "minQty": "0.001", "maxQty": "1000"},
                        {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.01"},
                        {"filterType": "SOMETHING_NEW", "tickSize": "999"}],
            **extra}


# --- the parser -------------------------------------------------------------------------------


def test_the_real_body_as_the_local_server_serves_it():
    assert parse_exchange_info(exchange_info_body(0)) == {
        "BLZUSDT": SymbolRules("BLZUSDT", D("0.0001"), D("1"), 5, 0)}


def test_binance_shape_with_unknown_filters_and_extra_fields():
    markets = parse_exchange_info(info(sym(), sym("1000PEPEUSDT", "0.0000001", "1", 7, 0, newField={"x": 1})))
    assert markets["BTCUSDT"] == BTC  # 0.10 kept as 0.1; LOT_SIZE's step wins over MARKET_LOT_SIZE's
    assert markets["1000PEPEUSDT"].tick_size == D("1E-7")
    # A symbol with a non-ASCII name (Binance lists some) is a symbol like any other.
    assert "币安人生USDT" in parse_exchange_info(info(sym("币安人生USDT")))


@pytest.mark.parametrize("tick", ["", " ", "abc", "0", "-0.1", "NaN", "Infinity", "1e-30", "1e12",
                                  None, True, 0.1, [], {}, "1" * 100])
def test_a_tick_that_is_not_a_tick_is_left_out(tick):
    rules = parse_exchange_info(info(sym(tick=tick, step=tick)))["BTCUSDT"]
    assert rules.tick_size is None and rules.step_size is None


@pytest.mark.parametrize("pp", [-1, 19, True, "2", 2.0, None])
def test_a_precision_that_is_not_one_is_left_out(pp):
    assert parse_exchange_info(info(sym(pp=pp)))["BTCUSDT"].price_precision is None


@pytest.mark.parametrize("name", ["", "X" * 41, "BTC\x1b[31mUSDT", "BTC USDT", "BTC\u202eUSDT", 5, None, ["BTC"]])
def test_a_name_that_is_not_clean_drops_the_symbol(name):
    assert parse_exchange_info(info(sym(name=name), sym("ETHUSDT"))).keys() == {"ETHUSDT"}


@pytest.mark.parametrize("body", [None, [], "x", 5, {}, {"symbols": None}, {"symbols": {"a": 1}},
                                  {"symbols": [None, 1, "x", [], {}]}])
def test_bodies_of_another_shape_are_no_symbols(body):
    assert parse_exchange_info(body) == {}


def test_filters_of_another_shape_give_no_sizes():
    for filters in (None, "x", [None, 5, "PRICE_FILTER"], [{"filterType": ["PRICE_FILTER"], "tickSize": "1"}]):
        row = sym()
        row["filters"] = filters
        assert parse_exchange_info(info(row))["BTCUSDT"] == SymbolRules("BTCUSDT", None, None, 2, 3)


def test_repeats_keep_the_first_and_the_count_is_capped():
    assert parse_exchange_info(info(sym(tick="0.1"), sym(tick="5")))["BTCUSDT"].tick_size == D("0.1")
    many = info(*({"symbol": f"S{i}USDT"} for i in range(MAX_SYMBOLS + 50)))
    assert len(parse_exchange_info(many)) == MAX_SYMBOLS


# --- the request: public, GET, no key, no signature ----------------------------------------------


async def test_exchange_info_is_an_unsigned_get_on_the_time_host(papi_server):
    time_host = PapiServer().start()
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                        time_base_url=time_host.base_url, timeout=2.0)
    try:
        assert EXCHANGE_INFO in READ_ONLY_PATHS
        assert await client.exchange_info() == {"BLZUSDT": SymbolRules("BLZUSDT", D("0.0001"), D("1"), 5, 0)}
        assert papi_server.paths() == []  # not the API host
        (req,) = time_host.requests
        assert (req.method, req.path, req.query) == ("GET", EXCHANGE_INFO, "")  # no timestamp, no signature
        assert "x-mbx-apikey" not in {k.lower() for k in req.headers}
        assert client.budget.sent == 1  # weight 1
        with pytest.raises(ValueError):
            await client._send(client.time_base_url, EXCHANGE_INFO, "", method="POST")
    finally:
        await client.aclose()
        time_host.stop()


# --- the cache ---------------------------------------------------------------------------------


def test_cache_is_private_and_reads_back():
    path = cache_path()
    assert str(path).startswith(os.environ["XDG_CACHE_HOME"])  # conftest's tmp dir, not a real one
    save_cache(path, {"BTCUSDT": BTC}, "https://fapi.binance.com", fetched=1000.0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_cache(path, "https://fapi.binance.com", now=1000.0 + MAX_AGE) == {"BTCUSDT": BTC}
    assert load_cache(path, "https://fapi.binance.com", now=1001.0 + MAX_AGE) is None  # stale
    assert load_cache(path, "https://fapi.binance.com", now=999.0) is None  # from the future
    assert load_cache(path, "http://127.0.0.1:1", now=1000.0) is None  # another source's


@pytest.mark.parametrize("text", ["", "{", "\xff\xfe", "[]", "null", '{"version": 2}',
                                  '{"version":1,"source":"s","fetched":"x","symbols":{}}',
                                  '{"version":1,"source":"s","fetched":true,"symbols":{}}',
                                  '{"version":1,"source":"s","fetched":1000,"symbols":[]}'])
def test_a_corrupt_cache_is_ignored(text):
    path = cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="latin-1")
    assert load_cache(path, "s", now=1000.0) is None


def test_bad_entries_in_a_cache_are_skipped():
    path = cache_path()
    path.parent.mkdir(parents=True)
    symbols = {"BTCUSDT": ["0.1", "0.001", 2, 3], "BAD\x1bUSDT": ["1", "1", 0, 0], "ETHUSDT": "x",
               "XRPUSDT": ["-1", "abc", 99, True], "SOLUSDT": [None, None, None, None]}
    path.write_text(json.dumps({"version": 1, "source": "s", "fetched": 1000, "symbols": symbols}))
    assert load_cache(path, "s", now=1000.0) == {
        "BTCUSDT": BTC, "XRPUSDT": SymbolRules("XRPUSDT"), "SOLUSDT": SymbolRules("SOLUSDT")}


# --- the Monitor ---------------------------------------------------------------------------------


def monitor_on(server: PapiServer, cache=None) -> Monitor:
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=server.base_url,
                        timeout=2.0, budget=WeightBudget(1.0, limit=10**9))
    return Monitor(settings=Settings(), client=client, markets_cache=cache)


async def test_monitor_fetches_once_writes_the_cache_then_reuses_it(papi_server):
    path = cache_path()
    async with monitor_on(papi_server, path) as m:
        assert await m.load_markets() and set(m.markets) == {"BLZUSDT"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with monitor_on(papi_server, path) as m:
        assert await m.load_markets() and set(m.markets) == {"BLZUSDT"}
    assert papi_server.paths().count(EXCHANGE_INFO) == 1  # the second came from the cache


async def test_a_stale_or_corrupt_cache_is_refetched(papi_server):
    path = cache_path()
    save_cache(path, {"OLDUSDT": BTC}, papi_server.base_url, fetched=1.0)  # decades old
    async with monitor_on(papi_server, path) as m:
        assert await m.load_markets() and set(m.markets) == {"BLZUSDT"}
    path.write_bytes(b"\x00garbage")
    async with monitor_on(papi_server, path) as m:
        assert await m.load_markets() and set(m.markets) == {"BLZUSDT"}
    assert papi_server.paths().count(EXCHANGE_INFO) == 2
    assert json.loads(path.read_text())["symbols"].keys() == {"BLZUSDT"}


async def test_a_failed_exchange_info_is_no_fault(papi_server):
    papi_server.set_mode("503", path=EXCHANGE_INFO)
    async with monitor_on(papi_server, cache_path()) as m:
        await m.fetch_once(markets=True)
        assert m.markets == {} and m.state.status.error is None and m.view is not None
    assert not cache_path().exists()


async def test_the_first_data_never_waits_for_exchange_info(papi_server):
    papi_server.inject("slow", path=EXCHANGE_INFO, delay=1.5)
    m = monitor_on(papi_server)
    task = asyncio.get_running_loop().create_task(m.run())
    try:
        async with asyncio.timeout(10):
            while m.view is None:
                await asyncio.sleep(0.01)
            assert m.markets == {}  # data is on screen while exchangeInfo is still on its way
            while not m.markets:
                await asyncio.sleep(0.01)
        assert m.view.markets is m.markets  # and the view was rebuilt with it
    finally:
        await m.aclose()
        task.cancel()


# --- what is shown ----------------------------------------------------------------------------


def btc_view(markets):
    um = UmAccount(assets=(usdt(wallet="100000", mm="1000"),),
                   positions=(position("BTCUSDT", amt="1234.5"),))
    rows = [risk("BTCUSDT", amt="1234.5", mark="64976.63504998", liq="63291.96712477", entry="65001.05")]
    return build_view(um, Thresholds(), risks=rows, pm=pm(), markets=markets)


def test_detail_and_alerts_show_prices_to_the_tick():
    view = btc_view({"BTCUSDT": BTC})
    (row,) = view.open_positions
    console = Console(width=120, color_system=None, markup=False)
    with console.capture() as cap:
        console.print(detail_table(row))
    text = cap.get()
    # Labelled, to the tick, in the quote asset (the exact strings stay in snapshot --json).
    assert re.search(r"Mark price\s+64,976.6 USDT\s+markPrice", text)
    assert re.search(r"Liquidation price\s+63,292.0 USDT\s+liquidationPrice", text)
    alerts = Alerts((Rule("liq", "liq_distance_below", D("0.5"), per_position=True),), thresholds=Thresholds())
    (event,) = alerts.evaluate(AlertState(view), 1.0, mono=1.0)
    assert "liquidation price 63,292.0 " in event.message
    assert re.search(r"Entry price\s+65,001.0 USDT", text)  # 65001.05 half-even: .05 goes to .0
    # Without a tick: 6 significant digits.
    (event,) = Alerts((Rule("liq", "liq_distance_below", D("0.5"), per_position=True),),
                      thresholds=Thresholds()).evaluate(AlertState(btc_view({})), 1.0, mono=1.0)
    assert "liquidation price 63,292 " in event.message


async def test_snapshot_table_shows_prices_and_amounts_to_the_demo_ticks():
    from pmtui import output

    exchange = DemoExchange(seed=1, symbols=40, clock=lambda: 1_750_000_000.0)
    client = PapiClient(api_key="pmtui-demo-key", signer=HmacSigner("pmtui-demo-secret"), transport=exchange,
                        clock=ManualClock(1_750_000_000.0))
    async with Monitor(settings=Settings(), client=client) as m:
        state = await m.fetch_once(markets=True)
    assert m.markets["BTCUSDT"].tick_size == D("0.1") and m.markets["1000PEPEUSDT"].tick_size == D("1E-7")
    text = output.snapshot_table(state.account, Thresholds(), pm=state.pm, risks=state.risks, markets=m.markets)
    lines = [line.rstrip() for line in text.splitlines()]
    btc = next(line for line in lines[lines.index("Liquidation"):] if line.strip().startswith("BTCUSDT"))
    entry, mark = btc.split()[2:4]
    assert re.fullmatch(r"\d{2},\d{3}\.\d", entry) and re.fullmatch(r"\d{2},\d{3}\.\d", mark)
    # JSON keeps the API's strings exactly.
    doc = json.loads(output.snapshot_json(state.account, risks=state.risks))
    raw = next(r for r in doc["positionRisk"] if r["symbol"] == "BTCUSDT")
    assert len(raw["markPrice"].split(".")[1]) == 8
