"""risk.py and the joined view: join, liquidation distance, headroom, what-if, uniMMR bands."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pmtui.health import Level
from pmtui.models import Asset, PmAccount, Position, PositionRisk, UmAccount
from pmtui.risk import (
    Headroom,
    account_basis,
    account_headroom,
    headroom,
    join,
    liq_distance,
    liq_level,
    shock,
    shock_account,
    status_level,
    unimmr_band,
)
from pmtui.settings import Thresholds
from pmtui.views import build_view

T = Thresholds()


def position(symbol="BTCUSDT", side="BOTH", amt="1", notional="100", mm="0", upnl="0") -> Position:
    return Position.from_wire({
        "symbol": symbol, "positionSide": side, "positionAmt": amt, "notional": notional,
        "unrealizedProfit": upnl, "initialMargin": "0", "maintMargin": mm, "updateTime": 1,
    })


def risk(symbol="BTCUSDT", side="BOTH", amt="1", mark="100", liq="90", entry="95", lev="20") -> PositionRisk:
    return PositionRisk.from_wire({
        "symbol": symbol, "positionSide": side, "positionAmt": amt, "entryPrice": entry,
        "markPrice": mark, "liquidationPrice": liq, "leverage": lev, "unRealizedProfit": "0",
        "notional": "0", "maxNotionalValue": "1000000", "breakEvenPrice": "0",
    })


def usdt(wallet="10000", upnl="0", mm="0") -> Asset:
    return Asset.from_wire({
        "asset": "USDT", "crossWalletBalance": wallet, "crossUnPnl": upnl, "maintMargin": mm,
        "initialMargin": "0", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
        "updateTime": 1,
    })


def pm(unimmr="2", equity="10000", mm="5000", status="NORMAL") -> PmAccount:
    return PmAccount.from_wire({
        "uniMMR": unimmr, "accountEquity": equity, "actualEquity": equity,
        "accountInitialMargin": "0", "accountMaintMargin": mm, "accountStatus": status,
        "virtualMaxWithdrawAmount": "0", "totalAvailableBalance": "0", "totalMarginOpenLoss": "0",
        "updateTime": 1,
    })


# --- join ----------------------------------------------------------------------------------------


def test_join_tolerates_missing_and_extra_rows():
    positions = [position("BTCUSDT"), position("ETHUSDT"), position("SOLUSDT", amt="0")]
    risks = [
        risk("BTCUSDT", mark="101"),
        risk("XRPUSDT"),  # extra: no such position
        risk("ETHUSDT", side="LONG"),  # extra: right symbol, wrong side
        risk("SOLUSDT", amt="0", liq="0"),
    ]
    joined = join(positions, risks)
    assert set(joined) == {("BTCUSDT", "BOTH"), ("SOLUSDT", "BOTH")}
    assert joined[("BTCUSDT", "BOTH")].markPrice == D("101")
    assert ("ETHUSDT", "BOTH") not in joined  # missing: simply none


def test_join_in_hedge_mode_ignores_both_rows_and_prefers_a_held_duplicate():
    positions = [position(side="LONG", amt="2"), position(side="SHORT", amt="-1")]
    risks = [
        risk(side="BOTH", amt="0", liq="0"),  # hedge mode's empty BOTH row
        risk(side="LONG", amt="2", liq="80"),
        risk(side="SHORT", amt="-1", liq="130"),
        risk(side="LONG", amt="0", liq="0"),  # a repeated, empty row does not replace the held one
    ]
    joined = join(positions, risks)
    assert set(joined) == {("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT")}
    assert joined[("BTCUSDT", "LONG")].liquidationPrice == D("80")
    assert joined[("BTCUSDT", "SHORT")].liquidationPrice == D("130")


def test_join_with_no_risk_rows_is_empty():
    assert join([position()], []) == {}


# --- liquidation distance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(amt="1", mark="100", liq="90"), D("0.1")),  # long: 10% above liquidation
        (dict(amt="-2", mark="100", liq="125"), D("0.25")),  # one-way short
        (dict(side="SHORT", amt="-2", mark="80", liq="100"), D("0.25")),
        (dict(side="LONG", amt="3", mark="64000", liq="60800"), D("0.05")),
        # Hedge mode: both legs share the symbol's price, so it may sit on either side of the mark.
        (dict(side="LONG", amt="1", mark="100", liq="105"), D("0.05")),
        (dict(amt="1", mark="100", liq="0"), None),  # Binance: no liquidation price
        (dict(amt="1", mark="0", liq="90"), None),
        (dict(amt="0", mark="100", liq="90"), None),  # no position
    ],
)
def test_liq_distance(kwargs, expected):
    assert liq_distance(risk(**kwargs)) == expected


def test_liq_distance_of_no_row_is_none():
    assert liq_distance(None) is None


@pytest.mark.parametrize(
    "distance, level",
    [
        (None, Level.OK), ("0.5", Level.OK), ("0.20", Level.OK),
        ("0.1999", Level.WARN), ("0.10", Level.WARN),
        ("0.0999", Level.DANGER), ("0.05", Level.DANGER),
        ("0.0499", Level.CRITICAL), ("0", Level.CRITICAL),
    ],
)
def test_liq_level_edges(distance, level):
    assert liq_level(None if distance is None else D(distance), T) == level


def test_liq_level_follows_configured_thresholds():
    t = Thresholds(liq_distance_warn="0.5", liq_distance_danger="0.3", liq_distance_critical="0.2")
    assert liq_level(D("0.4"), t) == Level.WARN and liq_level(D("0.25"), t) == Level.DANGER


# --- headroom ------------------------------------------------------------------------------------


def test_headroom_hand_computed():
    # 10500 - 1.05 * 5000 = 5250, half of equity.
    assert headroom(D("10500"), D("5000")) == Headroom(D("5250.00"), D("0.5"), D("1.05"))
    # Already past liquidation: 1000 - 1050 = -50, -5% of equity.
    h = headroom(D("1000"), D("1000"))
    assert h.amount == D("-50") and h.fraction == D("-0.05") and not h.infinite
    # A configurable level: to uniMMR 1.2, 12000 - 1.2 * 5000 = 6000.
    assert headroom(D("12000"), D("5000"), D("1.2")).amount == D("6000")


def test_headroom_without_maintenance_margin():
    h = headroom(D("10000"), D("0"))
    assert h.infinite and h.fraction == D("Infinity")
    negative = headroom(D("-10"), D("0"))
    assert negative.amount == D("-10") and negative.fraction is None and not negative.infinite
    assert headroom(D("-100"), D("50")).fraction is None


def test_account_headroom_and_basis_use_the_account_object():
    account = pm(equity="21000", mm="10000")
    assert account_headroom(account).amount == D("10500")
    um = UmAccount(assets=(usdt("900", "100", "400"),), positions=())
    assert account_basis(um, account) == (D("21000"), D("10000"))
    assert account_basis(um, None) == (D("1000"), D("400"))  # the UM totals instead


# --- what-if -------------------------------------------------------------------------------------


BOOK = (
    position("BTCUSDT", amt="1.5", notional="100000", mm="1000"),
    position("ETHUSDT", amt="-20", notional="-50000", mm="500"),
    position("SOLUSDT", amt="150", notional="20000", mm="200"),
    position("DOGEUSDT", amt="0", notional="0", mm="0"),
)


def test_shock_all_prices_down_ten_percent():
    # uPnL: 100000*-0.1 + -50000*-0.1 + 20000*-0.1 = -10000 + 5000 - 2000 = -7000
    # mm: 300 not explained by positions stays; 1700 * 0.9 = 1530 -> 1830
    r = shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=D("-0.1"))
    assert r.pnl_change == D("-7000")
    assert r.equity_after == D("3000")
    assert r.maint_after == D("1830")
    assert r.unimmr_after == D("3000") / D("1830")  # 1.639...
    assert r.unimmr_before == D("5")
    assert r.level == Level.OK
    assert [c.symbol for c in r.contributions] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # by |change|
    assert [c.pnl_change for c in r.contributions] == [D("-10000"), D("5000"), D("-2000")]
    assert r.headroom_after.amount == D("3000") - D("1.05") * D("1830")


def test_shock_all_prices_up_and_the_pure_scaling_case():
    r = shock(BOOK, equity=D("10000"), maint_margin=D("1700"), move=D("0.1"))
    assert r.pnl_change == D("7000") and r.equity_after == D("17000")
    assert r.maint_after == D("1700") * D("1.1")  # all of it from positions: mm * |1 + X|
    assert r.unimmr_after == D("17000") / D("1870")


def test_shock_one_symbol_into_liquidation():
    # A short squeezed: ETH +20% costs 50000 * 0.2 = 10000; its mm 500 -> 600.
    r = shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=D("0.2"), symbol="ethusdt")
    assert r.symbol == "ETHUSDT"
    assert r.pnl_change == D("-10000") and r.equity_after == D("0")
    assert r.maint_after == D("2100")
    assert r.unimmr_after == 0 and r.level == Level.CRITICAL
    assert r.headroom_after.amount == D("-2205.00") and r.headroom_after.fraction is None
    assert len(r.contributions) == 1
    # (10000 - 50000 m) / (1500 + 500 (1 + m)) = 1.05 at m = 7900 / 50525: liquidated at +15.6%.
    assert r.liquidation_move == D("7900") / D("50525")
    assert shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=D("0.1"), symbol="ethusdt"
                 ).liquidation_move is None  # +10% stays above 1.05


def test_shock_says_where_liquidation_comes_and_never_a_meaningless_figure():
    # All down: equity 10000 - 7000 m... over 300 + 1700 (1 + m): past 1.05 somewhere below -10%.
    deep = shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=D("-0.5"))
    assert deep.equity_after < 0 and deep.liquidation_move is not None
    m = deep.liquidation_move
    assert D("-0.5") < m < D("-0.1")
    at = shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=m)
    assert abs(at.unimmr_after - D("1.05")) < D("1e-20")  # the crossing is where uniMMR is 1.05
    # Already at or below 1.05: liquidation is now, whatever the move.
    assert shock(BOOK, equity=D("2000"), maint_margin=D("2000"), move=D("0.01")).liquidation_move == 0
    # A move that helps never liquidates.
    assert shock(BOOK, equity=D("10000"), maint_margin=D("2000"), move=D("0.3")).liquidation_move is None


def test_shock_band_levels_and_edges():
    one = (position("BTCUSDT", amt="1", notional="10000", mm="100"),)
    # equity 150 + 10000*X over mm 100*(1+X): X=0 -> 1.5 exactly, which is WARN, not OK.
    assert shock(one, equity=D("150"), maint_margin=D("100"), move=D("0")).level == Level.WARN
    assert shock(one, equity=D("150"), maint_margin=D("100"), move=D("0.0001")).level == Level.OK
    assert shock(one, equity=D("120"), maint_margin=D("100"), move=D("0")).level == Level.DANGER
    assert shock(one, equity=D("105"), maint_margin=D("100"), move=D("0")).level == Level.CRITICAL


def test_shock_hedge_short_rows_lose_when_prices_rise_whatever_the_notional_sign():
    hedge = (
        position(side="LONG", amt="1", notional="1000", mm="10"),
        position(side="SHORT", amt="-3", notional="3000", mm="30"),  # sign dropped by the API
    )
    r = shock(hedge, equity=D("1000"), maint_margin=D("40"), move=D("0.05"))
    assert r.pnl_change == D("50") - D("150")
    assert {c.side: c.notional for c in r.contributions} == {"LONG": D("1000"), "SHORT": D("-3000")}


def test_shock_limits_and_empty_book():
    with pytest.raises(ValueError):
        shock(BOOK, equity=D("1"), maint_margin=D("1"), move=D("-1.01"))
    zero = shock(BOOK, equity=D("10000"), maint_margin=D("1700"), move=D("-1"))
    assert zero.maint_after == 0 and zero.unimmr_after is None and zero.level == Level.OK
    none = shock((), equity=D("10"), maint_margin=D("0"), move=D("0.5"))
    assert none.pnl_change == 0 and none.unimmr_after is None and none.headroom_after.infinite


def test_shock_account_measures_against_the_account_object():
    um = UmAccount(assets=(usdt("9000", "0", "1700"),), positions=BOOK)
    with_pm = shock_account(um, pm(equity="10000", mm="2000"), D("-0.1"))
    assert with_pm.equity_after == D("3000") and with_pm.maint_after == D("1830")
    without = shock_account(um, None, D("-0.1"))
    assert without.equity_before == D("9000") and without.maint_after == D("1530")


# --- uniMMR bands and status in the view -------------------------------------------------------------


def account(*positions: Position) -> UmAccount:
    return UmAccount(assets=(usdt(mm="1000"),), positions=positions)


@pytest.mark.parametrize(
    "unimmr, level, band",
    [
        ("1.50000001", Level.OK, "normal"),
        ("1.5", Level.WARN, "margin call"),
        ("1.20000001", Level.WARN, "margin call"),
        ("1.2", Level.DANGER, "reduce-only"),
        ("1.05000001", Level.DANGER, "reduce-only"),
        ("1.05", Level.CRITICAL, "liquidation"),
        ("0.9", Level.CRITICAL, "liquidation"),
    ],
)
def test_view_level_uses_unimmr_band_edges(unimmr, level, band):
    view = build_view(account(), T, pm=pm(unimmr=unimmr))
    assert view.level == level and view.unimmr == D(unimmr)
    assert unimmr_band(D(unimmr)) == band


def test_view_level_without_pm_is_unchanged_and_status_can_only_worsen_it():
    plain = build_view(account(), T)  # UM ratio 10000 / 1000 = 10
    assert plain.level == Level.OK and plain.pm is None and plain.unimmr is None
    assert plain.headroom is None
    flagged = build_view(account(), T, pm=pm(unimmr="3", status="REDUCE_ONLY"))
    assert flagged.level == Level.DANGER
    assert status_level("ACTIVE_LIQUIDATION") == Level.CRITICAL
    assert status_level("SOMETHING_NEW") == Level.WARN and status_level("NORMAL") == Level.OK


def test_view_rows_carry_the_joined_risk_fields():
    um = account(
        position("BTCUSDT", amt="1", notional="64000"),
        position("ETHUSDT", amt="-2", notional="-6800"),
        position("SOLUSDT", amt="0", notional="0"),
    )
    risks = [
        risk("BTCUSDT", amt="1", mark="64000", liq="60800", entry="63000", lev="25"),  # 5%
        risk("XRPUSDT"),
    ]
    view = build_view(um, T, risks=risks, pm=pm())
    rows = {r.key: r for r in view.positions}
    btc, eth, sol = rows["BTCUSDT:BOTH"], rows["ETHUSDT:BOTH"], rows["SOLUSDT:BOTH"]
    assert (btc.entry_price, btc.mark_price, btc.liquidation_price, btc.leverage) == (
        D("63000"), D("64000"), D("60800"), D("25"))
    assert btc.liq_distance == D("0.05") and btc.liq_level == Level.DANGER
    assert btc.level == Level.DANGER  # the row's level includes how near liquidation it is
    assert eth.risk is None and eth.liq_distance is None and eth.entry_price is None
    assert eth.liq_level == Level.OK
    assert sol.risk is None and sol.level == Level.OK
    # The joined mapping works as well as the raw rows.
    again = build_view(um, T, risks=join(um.positions, risks))
    assert again.positions == view.positions
    assert view.headroom == account_headroom(view.pm)


def test_existing_callers_see_no_risk_fields():
    view = build_view(account(position()), T)
    row = view.positions[0]
    assert row.risk is None and row.liq_distance is None and row.liq_level == Level.OK


# --- what-if with COIN-M ---------------------------------------------------------------------------


def _cm(contracts="-10", entry="87950.1", mark="86480.25", wallet="0.05241969", notional_value="-0.01156333",
        maint="0.00046252"):
    """The local server's open COIN-M account (tests/support/papi_server.py): a BTCUSD_PERP short of 10
    contracts (1,000 USD) margined in BTC, as parsed models."""
    from pmtui.models import parse_cm_account, parse_cm_position_risk
    from tests.support.papi_server import cm_open_account_body, cm_open_position_risk_body

    body = cm_open_account_body(0)
    body["assets"][0]["crossWalletBalance"] = wallet
    row = body["positions"][0]
    row.update(positionAmt=contracts, entryPrice=entry, maintMargin=maint)
    risks = cm_open_position_risk_body(0)
    risks[0].update(positionAmt=contracts, entryPrice=entry, markPrice=mark, notionalValue=notional_value)
    return parse_cm_account(body), parse_cm_position_risk(risks)


def _inverse_usd(contracts_usd: D, entry: D, price: D, wallet: D, long: bool) -> D:
    """What a COIN-M position and its coin wallet are worth in USD at `price`, from first
    principles: PnL in the coin = V (1/entry - 1/price) for a long (the reverse for a short)."""
    pnl_coin = contracts_usd * (1 / entry - 1 / price)
    return (wallet + (pnl_coin if long else -pnl_coin)) * price


@pytest.mark.parametrize("contracts, notional_value", [("-10", "-0.01156333"), ("10", "0.01156333")])
@pytest.mark.parametrize("move", [D("-0.3"), D("-0.05"), D("0.1"), D("0.5")])
def test_a_coin_m_position_and_its_wallet_move_as_an_inverse_contract_does(contracts, notional_value, move):
    from pmtui.risk import coin_m_exposures

    cm, risks = _cm(contracts=contracts, notional_value=notional_value)
    parts = coin_m_exposures(cm, risks)
    assert [c.key for c in parts] == [("BTCUSD_PERP", "BOTH"), ("BTC wallet", "COIN-M")]
    mark, entry, wallet = D("86480.25"), D("87950.1"), D("0.05241969")
    usd = D("0.01156333") * mark  # |notionalValue| at the mark: the contracts' USD (1,000)
    assert abs(usd - 1000) < D("0.01")
    r = shock([], equity=D("10000"), maint_margin=D("500"), move=move, coin_m=parts)
    exact = (_inverse_usd(usd, entry, mark * (1 + move), wallet, contracts == "10")
             - _inverse_usd(usd, entry, mark, wallet, contracts == "10"))
    assert abs(r.pnl_change - exact) < D("1E-6")
    # An inverse contract's USD notional is fixed, so its maintenance margin in USD is too.
    assert r.maint_after == D("500")


def test_the_what_if_finds_where_a_coin_m_short_is_liquidated():
    from pmtui.risk import LIQUIDATION_UNIMMR, coin_m_exposures

    cm, risks = _cm(contracts="-1000", notional_value="-1.15633300", wallet="0")
    parts = coin_m_exposures(cm, risks)
    # A thin account: 1,200 USD of equity against 1,000 of maintenance margin (uniMMR 1.2).
    r = shock([position(mm="400", notional="8000")], equity=D("1200"), maint_margin=D("1000"), move=D("0.5"),
              coin_m=parts)
    assert r.liquidation_move is not None and D(0) < r.liquidation_move < D("0.5")
    at = shock([position(mm="400", notional="8000")], equity=D("1200"), maint_margin=D("1000"),
               move=r.liquidation_move, coin_m=parts)
    assert abs(at.unimmr_after - LIQUIDATION_UNIMMR) < D("1E-9")


def test_one_symbol_moves_only_its_own_market():
    from pmtui.risk import coin_m_exposures

    cm, risks = _cm()
    parts = coin_m_exposures(cm, risks)
    book = [position(symbol="BTCUSDT", notional="5000", mm="50")]
    um_only = shock(book, equity=D("10000"), maint_margin=D("500"), move=D("-0.1"), symbol="btcusdt", coin_m=parts)
    assert [c.symbol for c in um_only.contributions] == ["BTCUSDT"]
    cm_only = shock(book, equity=D("10000"), maint_margin=D("500"), move=D("-0.1"), symbol="btcusd_perp",
                    coin_m=parts)
    assert {c.symbol for c in cm_only.contributions} == {"BTCUSD_PERP", "BTC wallet"}
    assert len(shock(book, equity=D("10000"), maint_margin=D("500"), move=D("-0.1"), coin_m=parts).contributions) == 3


def test_a_coin_m_position_without_a_mark_is_left_out_and_counted():
    from pmtui.risk import coin_m_exposures, coin_m_unpriced

    cm, _ = _cm()
    assert coin_m_exposures(cm, None) == () and coin_m_unpriced(cm, None) == 1
    cm, risks = _cm()
    assert coin_m_unpriced(cm, risks) == 0 and coin_m_unpriced(None, None) == 0


def test_the_whole_accounts_upnl_counts_coin_m_at_its_mark():
    from decimal import Decimal

    from pmtui.models import parse_cm_account, parse_cm_position_risk
    from tests.support.papi_server import cm_open_account_body, cm_open_position_risk_body

    account = UmAccount(assets=(usdt(upnl="-50"),), positions=(position(upnl="-50"),))
    cm, risks = parse_cm_account(cm_open_account_body(0)), parse_cm_position_risk(cm_open_position_risk_body(0))
    view = build_view(account, T, cm=cm, cm_risks=risks)
    # The UM account's -50, and the short's 0.00012345 BTC at the mark 86,480.25.
    assert view.totals.unrealized == D("-50")
    assert view.upnl == D("-50") + Decimal("0.00012345") * Decimal("86480.25")
    assert build_view(account, T).upnl == D("-50")
