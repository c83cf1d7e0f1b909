"""COIN-M positions in the Portfolio Margin account: the client and the Monitor against the local
server and canned answers (cadence, refusal, faults), the rows the view makes of them (levels,
liquidation distance, the nearest over both markets), the filter, `snapshot --json`, `check`, and
hostile symbol strings shown as data.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from pmtui import filters, fmt, output
from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.health import Level
from pmtui.models import CLEANED_MARK, parse_cm_account, parse_cm_position_risk, parse_um_account
from pmtui.monitor import CM_IDLE_INTERVAL, Monitor
from pmtui.settings import Settings, Thresholds
from pmtui.signing import HmacSigner
from pmtui.text import clean
from pmtui.views import CM, UM, build_view
from tests.cli.test_cli import run
from tests.cli.test_cli_risk import REFUSED, Canned, risk_body, um_body
from tests.support.papi_server import (
    API_KEY,
    API_SECRET,
    CM_ACCOUNT,
    CM_POSITION_RISK,
    cm_open_account_body,
    cm_open_position_risk_body,
)
from tests.support.sentences import assert_sentence

NOW = 1_750_000_000_000


def open_cm(liq: str = "171025.70213315", mark: str = "86480.25000000") -> tuple[dict, list]:
    risks = cm_open_position_risk_body(NOW, liquidation=liq)
    risks[0]["markPrice"] = mark
    return cm_open_account_body(NOW), risks


def monitor_on(canned: Canned, clock=None) -> Monitor:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), transport=canned,
                        budget=WeightBudget(1.0, limit=10**9), **({"clock": clock} if clock else {}))
    m = Monitor(settings=Settings(interval=5), client=client)
    m.refresh_debounce = 0.0
    return m


# --- the client ---------------------------------------------------------------------------------


async def test_the_client_reads_both_cm_endpoints_signed(papi_server):
    account, risks = open_cm()
    papi_server.set_body(CM_ACCOUNT, account)
    papi_server.set_body(CM_POSITION_RISK, risks)
    async with PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                          timeout=5) as client:
        cm = await client.cm_account()
        rows = await client.cm_position_risk()
    (p,) = cm.open_positions
    assert (p.symbol, p.positionAmt, p.maintMargin, p.coin) == ("BTCUSD_PERP", -10, Decimal("0.00046252"), "BTC")
    assert rows[0].notionalValue == Decimal("-0.01156333") and rows[0].liquidationPrice == Decimal("171025.70213315")
    assert cm.raw == account  # the body itself, for snapshot --json
    sent = [r for r in papi_server.requests if r.path in (CM_ACCOUNT, CM_POSITION_RISK)]
    assert [r.method for r in sent] == ["GET", "GET"] and all(r.query.rpartition("&signature=")[2] for r in sent)


# --- the Monitor: cadence, refusal, faults -------------------------------------------------------


async def test_without_a_cm_position_cm_is_asked_once_a_minute_and_never_its_position_risk(frozen_clock):
    canned = Canned()
    m = monitor_on(canned, frozen_clock)
    await m.refresh()
    frozen_clock.advance(10)
    await m.refresh()
    assert canned.seen.count(CM_ACCOUNT) == 1 and CM_POSITION_RISK not in canned.seen
    assert m.refresh_weight == 10  # the UM parts only while COIN-M is not due
    frozen_clock.advance(CM_IDLE_INTERVAL)
    await m.refresh()
    assert canned.seen.count(CM_ACCOUNT) == 2
    await m.aclose()


async def test_with_a_cm_position_both_are_asked_every_refresh(frozen_clock):
    account, risks = open_cm()
    canned = Canned()
    canned.routes[CM_ACCOUNT], canned.routes[CM_POSITION_RISK] = (200, account), (200, risks)
    m = monitor_on(canned, frozen_clock)
    for _ in range(3):
        await m.refresh()
        frozen_clock.advance(5)
    assert canned.seen.count(CM_ACCOUNT) == canned.seen.count(CM_POSITION_RISK) == 3
    assert m.refresh_weight == 10 + 6
    state = m.state
    assert state.cm is not None and state.cm.raw == account and [r.raw for r in state.cm_risks] == risks
    (row,) = [r for r in state.view.open_positions if r.venue == CM]
    assert row.key == "CM:BTCUSD_PERP:BOTH" and row.liq_distance is not None
    await m.aclose()


async def test_a_key_that_may_not_read_cm_gets_one_sentence_and_the_rest_works():
    canned = Canned(cm=REFUSED)
    m = monitor_on(canned)
    assert await m.refresh()
    state = m.state
    why = state.unavailable["cm"]
    assert why == "the exchange refused /papi/v1/cm/account (code -2015); the API key may lack access to it"
    assert_sentence(why[:1].upper() + why[1:] + ".")
    assert state.view is not None and [r.key for r in state.view.open_positions] == ["BTCUSDT:BOTH"]
    assert not state.stale and state.verdict.level == Level.OK
    await m.refresh()
    assert canned.seen.count(CM_ACCOUNT) == 1  # remembered: not asked again
    canned.routes[CM_ACCOUNT] = (200, open_cm()[0])
    canned.routes[CM_POSITION_RISK] = (200, open_cm()[1])
    m.refresh_now()  # `r` retries the refused endpoint
    assert m._due
    await m.refresh()
    assert canned.seen.count(CM_ACCOUNT) == 2 and "cm" not in m.state.unavailable
    assert any(r.venue == CM for r in m.state.view.open_positions)
    await m.aclose()


async def test_a_cm_server_error_makes_the_data_stale_then_it_recovers(frozen_clock):
    account, risks = open_cm()
    canned = Canned()
    canned.routes[CM_ACCOUNT], canned.routes[CM_POSITION_RISK] = (200, account), (200, risks)
    m = monitor_on(canned, frozen_clock)
    assert await m.refresh()
    canned.routes[CM_POSITION_RISK] = (500, {"code": -1000, "msg": "An unknown error occurred."})
    frozen_clock.advance(20)
    assert not await m.refresh()
    state = m.state
    assert state.stale and "internal error" in state.status.error.message
    assert state.view is not None and any(r.venue == CM for r in state.view.open_positions)  # last good data stays
    canned.routes[CM_POSITION_RISK] = (200, risks)
    frozen_clock.advance(20)
    assert await m.refresh()
    assert not m.state.stale and m.state.status.error is None
    await m.aclose()


async def test_a_server_without_the_cm_paths_is_said_once_not_a_fault():
    canned = Canned()
    del canned.routes[CM_ACCOUNT]  # Binance's unknown-path answer (a proxy that does not pass it on)
    m = monitor_on(canned)
    assert await m.refresh()
    assert m.state.unavailable["cm"] == "the exchange does not serve /papi/v1/cm/account (HTTP 404)"
    await m.refresh()
    assert canned.seen.count(CM_ACCOUNT) == 1
    await m.aclose()


# --- the view ------------------------------------------------------------------------------------


def view_with(liq: str, um_liq: str = "25000.00000000", mark: str = "86480.25000000"):
    account, risks = open_cm(liq=liq, mark=mark)
    um = parse_um_account(um_body())
    from pmtui.models import parse_position_risk

    return build_view(um, Thresholds(), risks=parse_position_risk(risk_body(liq=um_liq)),
                      cm=parse_cm_account(account), cm_risks=parse_cm_position_risk(risks))


def test_a_cm_row_is_judged_on_its_liquidation_distance_and_its_margin_in_usd():
    view = view_with(liq="92533.87000000")  # 7% above the mark: a short this near is DANGER
    (row,) = [r for r in view.open_positions if r.venue == CM]
    assert row.liq_distance == (Decimal("92533.87") - Decimal("86480.25")) / Decimal("86480.25")
    assert row.liq_level == Level.DANGER and row.level == Level.DANGER
    # Coin figures at the mark: 0.00046252 BTC of maintenance margin, 10 contracts of 100 USD.
    mark = Decimal("86480.25")
    assert row.maint_usd == Decimal("0.00046252") * mark
    assert row.share == row.maint_usd / (Decimal(1000) + row.maint_usd)  # of UM and CM together
    assert row.notional_usd == -(Decimal("0.01156333") * mark)
    assert row.upnl_usd == Decimal("0.00012345") * mark and row.loss_level == Level.OK
    um_row = view.row("BTCUSDT:BOTH")
    assert um_row is not None and um_row.venue == UM and um_row.share == Decimal(1000) / (Decimal(1000) + row.maint_usd)


def test_the_nearest_liquidation_is_the_nearest_over_both_markets():
    far = view_with(liq="171025.70213315")  # UM BTCUSDT is 50% away, CM ~98%
    assert far.nearest_liquidation.venue == UM
    near = view_with(liq="86912.00000000")  # CM 0.5% away: it decides the verdict
    assert near.nearest_liquidation.key == "CM:BTCUSD_PERP:BOTH"
    verdict = near.verdict(refused=True)
    assert verdict.level == Level.CRITICAL and "BTCUSD_PERP 0.5% from liquidation" in verdict.reason


def test_rows_of_both_markets_never_share_a_key_and_zero_rows_are_listed_too():
    view = view_with(liq="171025.70213315")
    keys = [r.key for r in view.positions]
    assert len(keys) == len(set(keys))
    assert {"BTCUSDT:BOTH", "CM:BTCUSD_PERP:BOTH", "CM:BTCUSD_250627:BOTH"} <= set(keys)


def test_market_and_asset_filters_pick_a_market():
    view = view_with(liq="171025.70213315")
    rows = view.open_positions

    def picked(text):
        return [r.key for r in filters.select(view, show_all=False, text=text)]

    assert picked("market:cm") == ["CM:BTCUSD_PERP:BOTH"]
    assert picked("market:um") == [r.key for r in rows if r.venue == UM]
    assert picked("asset:btc") == ["CM:BTCUSD_PERP:BOTH"]  # the coin it is margined in
    assert picked("asset:usdt") == ["BTCUSDT:BOTH"]
    assert picked("btc market:cm") == ["CM:BTCUSD_PERP:BOTH"]
    assert filters.problem("market:spot") == "market: takes um or cm, not 'spot'"
    assert filters.problem("market:") == "market: needs a value, like market:cm"
    assert "market:cm" in filters.TERMS


# --- snapshot, check -----------------------------------------------------------------------------


def test_snapshot_json_repeats_the_cm_bodies_exactly(capsys, live):
    account, risks = open_cm()
    live.set_body(CM_ACCOUNT, account)
    live.set_body(CM_POSITION_RISK, risks)
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["cm"] == {"account": account, "positionRisk": risks}  # zero rows included, as sent
    for text in ('"maintMargin": "0.00046252"', '"notionalValue": "-0.01156333"', '"entryPrice": "87950.1"'):
        assert text in out
    cm_rows = [p for p in doc["view"]["positions"] if p["venue"] == "CM"]
    # WARN: 40 USD of the canned account's ~101 USD maintenance margin is a large share.
    assert Decimal(cm_rows[0]["mmShare"]) > Decimal("0.39")
    assert cm_rows == [{"symbol": "BTCUSD_PERP", "positionSide": "BOTH", "level": "WARN",
                        "mmShare": cm_rows[0]["mmShare"], "liqDistance": cm_rows[0]["liqDistance"],
                        "liqLevel": "OK", "venue": "CM", "adlQuantile": None, "nextTier": None}]
    mark = Decimal("86480.25")
    assert Decimal(cm_rows[0]["liqDistance"]) == (Decimal("171025.70213315") - mark) / mark
    code, table, err = run(capsys, "snapshot")
    assert (code, err) == (0, "")
    line = next(x for x in table.splitlines() if x.strip().startswith("BTCUSD_PERP CM"))
    # Contracts, and the margin in USD at the mark like every row (issue 19; the BTC is in --json).
    usd = fmt.money(Decimal("0.00046252") * Decimal("86480.25"))
    assert "-10" in line and usd in line and "BTC" not in line.split(" CM ", 1)[1]


def test_snapshot_json_says_why_cm_is_missing(capsys, live):
    live.set_body(CM_ACCOUNT, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["cm"] is None and "/papi/v1/cm/account" in doc["unavailable"]["cm"]


def test_check_is_critical_when_a_cm_position_nears_liquidation(capsys, live):
    account, risks = open_cm(liq="86912.00000000")  # 0.5% from the mark
    live.set_body(CM_ACCOUNT, account)
    live.set_body(CM_POSITION_RISK, risks)
    code, out, err = run(capsys, "check")
    assert (code, err) == (2, ""), out
    assert out.startswith("PMTUI CRITICAL - BTCUSD_PERP 0.5% from liquidation, under the critical distance 5%;"
                          " uniMMR 166.1085")
    # The same account with the COIN-M position far from it: the UM verdict stands (OK).
    live.set_body(CM_POSITION_RISK, open_cm()[1])
    code, out, _ = run(capsys, "check")
    assert code == 0 and out.startswith("PMTUI OK - ")


def test_check_text_and_perfdata_give_one_upnl(capsys, live):
    """The text said uPnL with the COIN-M position's at its mark, the perfdata without it: one
    figure, one definition (the dashboard's: UM plus COIN-M at mark, in USD) in both places."""
    def both() -> tuple[Decimal, Decimal]:
        code, out, _ = run(capsys, "check")
        text, perf = out.split(" | ")
        shown = re.search(r"uPnL ([+-][\d,]+\.\d\d)", text).group(1)
        return Decimal(shown.replace(",", "")), Decimal(re.search(r"\bupnl=(-?[\d.]+)", perf).group(1))

    _, um_only = both()
    account, risks = open_cm()
    live.set_body(CM_ACCOUNT, account)
    live.set_body(CM_POSITION_RISK, risks)
    shown, upnl = both()
    assert upnl != um_only  # the COIN-M position's uPnL is in it
    assert shown == upnl.quantize(Decimal("0.01"))


def test_check_says_when_cm_is_unavailable(capsys, live):
    live.set_body(CM_ACCOUNT, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    code, out, _ = run(capsys, "check")
    assert code == 0 and "; COIN-M positions unavailable |" in out


# --- hostile names --------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSD_PERP\x1b[2J\x07", "[red]x[/]", "[bold]BTCUSD_PERP"])
def test_hostile_cm_symbols_are_data_everywhere(symbol):
    from rich.console import Console

    from pmtui.tui.widgets.detail import detail_table
    from pmtui.tui.widgets.positions import PositionsTable

    account, risks = open_cm()
    account["positions"][0]["symbol"] = risks[0]["symbol"] = symbol
    view = build_view(parse_um_account(um_body()), Thresholds(), cm=parse_cm_account(account),
                      cm_risks=parse_cm_position_risk(risks))
    (row,) = [r for r in view.open_positions if r.venue == CM]
    shown = row.position.symbol
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown.endswith(CLEANED_MARK) == (symbol != shown.removesuffix(CLEANED_MARK))
    table = PositionsTable()
    table.style = lambda name: ""  # no app: component styles are not needed here
    cells = table.cells(row, 0.0)
    assert cells[1].plain == f"{shown} CM" and not cells[1].spans  # text, never markup
    text = output.snapshot_table(parse_um_account(um_body()), Thresholds(), cm=parse_cm_account(account),
                                 cm_risks=parse_cm_position_risk(risks))
    assert f"{shown} CM" in text and "\x1b" not in text
    console = Console(width=120, record=True, color_system=None)
    console.print(detail_table(row))
    detail = console.export_text()
    assert "\x1b" not in detail and "\x07" not in detail
    assert clean(symbol) in detail and "Market" in detail and "COIN-M" in detail


# --- the demo --------------------------------------------------------------------------------------


async def test_the_demo_holds_one_cm_position_with_a_sensible_liquidation_price():
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange

    for hedge in (False, True):
        exchange = DemoExchange(seed=7, hedge=hedge)
        async with PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange) as c:
            um, cm, risks = await c.um_account(), await c.cm_account(), await c.cm_position_risk()
            um_risks = await c.position_risk()  # the same market step: every endpoint once
        (p,) = cm.open_positions
        assert p.symbol == "BTCUSD_PERP" and p.positionSide == ("SHORT" if hedge else "BOTH")
        view = build_view(um, Thresholds(), cm=cm, cm_risks=risks)
        (row,) = [r for r in view.open_positions if r.venue == CM]
        # A short's liquidation price is above its mark, and not absurdly far (the book is large).
        assert row.liquidation_price > row.mark_price and Decimal("0.05") < row.liq_distance < 5
        # It moves with the demo's BTC price: its mark is BTCUSDT's.
        btc = next(r for r in um_risks if r.symbol == "BTCUSDT")
        assert row.mark_price == btc.markPrice


async def test_the_positions_title_says_when_cm_is_unavailable(make_app):
    from tests.support.harness import rendered, settled

    app = make_app(transport=Canned(cm=REFUSED))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        table = app.query_one("#positions")
        assert "Positions 1 (open) · COIN-M unavailable" in rendered(table)


def test_weight_per_minute_counts_cm_at_its_cadence():
    from pmtui.budget import CM_WEIGHT, weight_per_minute

    assert CM_WEIGHT == 6
    assert weight_per_minute(2, 10, 2, cm_interval=2) == 420 + 180
    assert weight_per_minute(2, 10, 2, cm_interval=None) == 420


async def test_against_the_local_server_a_500_is_stale_then_recovers_and_a_refusal_is_one_sentence(papi_server):
    account, risks = open_cm()
    papi_server.set_body(CM_ACCOUNT, account)
    papi_server.set_body(CM_POSITION_RISK, risks)
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url, timeout=5,
                        budget=WeightBudget(1.0, limit=10**9))
    m = Monitor(settings=Settings(interval=5), client=client)
    m.refresh_debounce = 0.0
    assert await m.refresh() and any(r.venue == CM for r in m.state.view.open_positions)
    papi_server.inject("500", path=CM_ACCOUNT)
    assert not await m.refresh()
    assert m.state.stale and any(r.venue == CM for r in m.state.view.open_positions)  # the last good rows stay
    assert await m.refresh() and not m.state.stale  # the fault passed: live again, COIN-M included
    papi_server.set_body(CM_ACCOUNT, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    assert await m.refresh()  # the rest works
    assert m.state.unavailable["cm"].startswith("the exchange refused /papi/v1/cm/account (code -2015)")
    assert not any(r.venue == CM for r in m.state.view.open_positions)
    asked = papi_server.count(CM_ACCOUNT)
    await m.refresh()
    assert papi_server.count(CM_ACCOUNT) == asked  # not hammered
    await m.aclose()


async def test_the_table_shows_a_coin_m_rows_money_in_usd_at_its_mark(make_app):
    from pmtui import fmt
    from tests.support.harness import settled

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        row = next(r for r in app.view.open_positions if r.venue == CM)
        table = app.query_one("#positions")
        # One unit per column: the row's uPnL and margins in USD like its neighbours'; the coin
        # figures Binance sent are the detail panel's.
        assert table.get_cell(row.key, "upnl").plain == fmt.money(row.upnl_usd, sign=True)
        assert table.get_cell(row.key, "mm").plain == fmt.money(row.maint_usd)
        assert "BTC" not in table.get_cell(row.key, "upnl").plain
