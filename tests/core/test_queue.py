"""The ADL queue, trading locks and exposure end to end: the Monitor's cadence and faults on a
canned exchange (frozen clock), the real SDK bodies through the local PAPI imitation into
`snapshot --json`, the table and `check`, and the demo's answers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.endpoints import CM_ADL, UM_ACCOUNT_CONFIG, UM_ADL, UM_TRADING_STATUS
from pmtui.health import LOCKED, Level
from pmtui.models import parse_adl_quantiles, parse_trading_status, parse_um_account_config
from pmtui.monitor import ADL_INTERVAL, Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from tests.cli.test_cli import run
from tests.cli.test_cli_risk import Canned
from tests.core.test_monitor import monitor_on

QUEUE = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "queue"
ADL, CONFIG, STATUS = UM_ADL.path, UM_ACCOUNT_CONFIG.path, UM_TRADING_STATUS.path


def real(name: str):
    """A queue/ fixture: the SDK test's Python literal, verbatim (SOURCES.md)."""
    return ast.literal_eval((QUEUE / name).read_text(encoding="utf-8"))


FRONT = [{"symbol": "BTCUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 4}}]


def test_each_real_body_parses():
    (eth,) = parse_adl_quantiles(real("um_adl_quantile.py.txt"))
    assert eth.symbol == "ETHUSDT" and eth.quantiles == {"LONG": 3, "SHORT": 3, "BOTH": 0}
    (btc,) = parse_adl_quantiles(real("cm_adl_quantile.py.txt"))  # "HEDGE" is a sign, not a side
    assert btc.symbol == "BTCUSD_201225" and btc.for_side("SHORT", False) == 3
    config = parse_um_account_config(real("um_account_config.py.txt"))
    assert config.canTrade is True and config.updateTime == 1724416653850
    status = parse_trading_status(real("um_trading_status.py.txt"))
    assert [(name, i.indicator, i.plannedRecoverTime) for name, i in status.locked] == [
        ("BTCUSDT", "UFR", 1545741270000), ("ACCOUNT", "TMV", 1644919865000)]


async def test_adl_every_30_s_its_front_an_alert_and_a_fault_fails_nothing():
    clock = ManualClock(1_750_000_000.0)
    canned = Canned()
    canned.routes[ADL] = (200, FRONT)
    m = monitor_on(canned, clock, interval=2)
    assert await m.refresh()
    row = m.view.row("BTCUSDT:BOTH")
    assert row is not None and row.adl == 4
    assert ("adl_front", "BTCUSDT:BOTH", Level.WARN) in m.alerts.active()
    for _ in range(14):  # 28 s more of refreshes every 2 s: no second ADL request yet
        clock.advance(2)
        await m.refresh()
    assert canned.seen.count(ADL) == 1 and canned.seen.count(CM_ADL.path) == 0  # no COIN-M position
    clock.advance(ADL_INTERVAL - 28)
    canned.routes[ADL] = (500, {"code": -1000, "msg": "busy"})
    assert await m.refresh()  # the fault fails nothing: the last quantile stays, noted
    assert canned.seen.count(ADL) == 2 and m.view.row("BTCUSDT:BOTH").adl == 4
    assert m.state.extra_notes["adl"].startswith("not current: ")
    canned.routes[ADL] = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    clock.advance(ADL_INTERVAL)
    assert await m.refresh()
    assert m.view.row("BTCUSDT:BOTH").adl is None  # refused: not known, and not asked again until `r`
    assert "adlQuantile (code -2015)" in m.state.extra_notes["adl"] and "adl" not in m.state.unavailable
    clock.advance(ADL_INTERVAL)
    await m.refresh()
    assert canned.seen.count(ADL) == 3
    await m.aclose()


async def test_a_locked_account_is_warn_with_the_reason():
    canned = Canned()
    canned.routes[STATUS] = (200, real("um_trading_status.py.txt"))
    canned.routes[CONFIG] = (200, {**real("um_account_config.py.txt"), "canTrade": False})
    m = monitor_on(canned, ManualClock(1_750_000_000.0))
    await m.refresh()
    v = m.state.verdict
    assert v is not None and v.level >= Level.WARN
    assert v.said(LOCKED) == ("trading locked: UM canTrade is false; BTCUSDT locked by rule UFR until "
                              "2018-12-25 12:34 UTC; the account locked by rule TMV until 2022-02-15 10:11 UTC")
    await m.aclose()


def test_snapshot_json_table_and_check_carry_the_real_bodies(capsys, live):
    live.set_body(ADL, json.dumps(real("um_adl_quantile.py.txt")))
    live.set_body(STATUS, json.dumps(real("um_trading_status.py.txt")))
    live.set_body(CONFIG, json.dumps(real("um_account_config.py.txt")))
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    view = json.loads(out)["view"]
    by = {p["symbol"]: p for p in view["positions"]}
    assert by["ETHUSDT"]["adlQuantile"] == 3 and by["BTCUSDT"]["adlQuantile"] is None  # short: SHORT's 3
    assert view["locks"] == ["BTCUSDT locked by rule UFR until 2018-12-25 12:34 UTC",
                             "the account locked by rule TMV until 2022-02-15 10:11 UTC"]
    assert "trading locked" in view["account"]["reason"]
    # The canned book: 0.2 BTC long, 2.5 ETH short at mark 2889.12; USDT is cash. BTC is priced by
    # the risk engine's index price (Binance's example body: 28251.9136906), not its mark 86732.
    assert list(view["exposure"]) == ["ETH", "BTC"]
    assert view["exposure"]["BTC"]["netUsd"] == "5650.38" and view["exposure"]["BTC"]["price"] == "28251.9136906"
    assert view["exposure"]["ETH"]["net"] == "-2.500" and view["exposure"]["ETH"]["netUsd"] == "-7222.80"
    assert view["exposure"]["ETH"]["parts"] == {"um": "-2.500", "cm": "0", "collateral": "0", "loans": "0"}
    code, table, err = run(capsys, "snapshot")
    assert (code, err) == (0, "")
    assert "Exposure ETH -2.5 ≈ -$7,223 · BTC +0.2 ≈ +$5,650" in table  # the same prices as the JSON
    assert "Trading locked: BTCUSDT locked by rule UFR" in table
    code, line, err = run(capsys, "check")
    assert code == 1 and "trading locked" in line


@pytest.mark.parametrize("body", ["<html>busy</html>", "[", json.dumps({"symbol": "x"})])
def test_garbage_from_the_new_endpoints_never_fails_a_snapshot(capsys, live, body):
    for path in (ADL, STATUS, CONFIG):
        live.set_body(path, body)
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    notes = json.loads(out)["view"]["notes"]
    # An object with none of the fields is a config and a status saying nothing, not a fault.
    assert set(notes) == ({"adl"} if body.startswith("{") else {"adl", "locks"})
    assert all(n.startswith("not current: The ") for n in notes.values())


async def test_the_demo_answers_every_new_endpoint():
    clock = ManualClock(1_750_000_000.0)
    exchange = DemoExchange(seed=1, clock=clock.time)
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                        clock=clock)
    m = Monitor(settings=Settings(), client=client)
    state = await m.fetch_once()
    assert state.extra_notes == {}
    assert state.view is not None and all(r.adl is not None for r in state.view.open_positions)
    assert state.view.locks == () and m.account_config is not None and m.account_config.canTrade
    assert state.view.exposure and state.view.exposure[0].coin == "BTC"  # the demo's largest book
    await m.aclose()


async def test_a_daemon_viewer_gets_the_same_exposure_adl_and_locks():
    from pmtui.wire import Decoder, Encoder, dumps, loads

    canned = Canned()
    canned.routes[ADL] = (200, FRONT)
    canned.routes[STATUS] = (200, real("um_trading_status.py.txt"))
    m = monitor_on(canned, ManualClock(1_750_000_000.0))
    await m.refresh()
    state = m.state
    seen = Decoder().state(loads(dumps(Encoder().state(state))))
    assert seen.view is not None and state.view is not None
    assert seen.view.row("BTCUSDT:BOTH").adl == 4 and seen.locks == state.locks and seen.view.locks
    assert [e.to_json() for e in seen.view.exposure] == [e.to_json() for e in state.view.exposure]
    assert seen.view.verdict().reason == state.view.verdict().reason and seen.adl[0] is not None
    await m.aclose()
