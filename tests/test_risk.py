"""risk.py and the joined view: join, liquidation distance, headroom, what-if, uniMMR bands."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pmtui.settings import Thresholds
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
