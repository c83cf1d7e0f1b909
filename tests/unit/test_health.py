"""Health levels: band edges exactly where Binance puts them, and what each input does."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pmtui.health import (
    FALLBACK,
    LIQUIDATION,
    STATUS,
    UNIMMR,
    Level,
    Verdict,
    account_level,
    asset_level,
    asset_mm_usage,
    asset_ratio,
    margin_ratio,
    mm_share,
    position_level,
    ratio_level,
    share_level,
    totals,
    verdict,
    worst,
)
from pmtui.models import Asset, Position, UmAccount, parse_um_account
from pmtui.settings import Thresholds
from pmtui.views import build_view
from tests.unit.test_risk import pm, risk

T = Thresholds()


def asset(name: str = "USDT", wallet="1000", upnl="0", mm="0", im="0") -> Asset:
    return Asset.from_wire({
        "asset": name, "crossWalletBalance": wallet, "crossUnPnl": upnl, "maintMargin": mm,
        "initialMargin": im, "positionInitialMargin": im, "openOrderInitialMargin": "0",
        "updateTime": 1,
    })


def position(symbol="BTCUSDT", amt="1", mm="0", upnl="0", side="BOTH") -> Position:
    return Position.from_wire({
        "symbol": symbol, "positionSide": side, "positionAmt": amt, "notional": "100",
        "unrealizedProfit": upnl, "initialMargin": "0", "maintMargin": mm, "updateTime": 1,
    })


def acct(*assets: Asset, positions: tuple[Position, ...] = ()) -> UmAccount:
    return UmAccount(assets=assets, positions=positions)


# --- the uniMMR scale ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ratio, level",
    [
        (None, Level.OK),
        ("1000", Level.OK),
        ("1.50000001", Level.OK),
        ("1.5", Level.WARN),  # 1.2 - 1.5: margin-call reminder, 1.5 itself included
        ("1.50", Level.WARN),
        ("1.20000001", Level.WARN),
        ("1.2", Level.DANGER),  # 1.05 - 1.2: reduce-only
        ("1.05000001", Level.DANGER),
        ("1.05", Level.CRITICAL),  # <= 1.05: liquidation
        ("1.0", Level.CRITICAL),
        ("0", Level.CRITICAL),
        ("-3", Level.CRITICAL),
    ],
)
def test_ratio_level_band_edges(ratio, level):
    assert ratio_level(None if ratio is None else D(ratio), T) is level


def test_custom_thresholds_move_the_edges():
    strict = Thresholds(unimmr_warn=3, unimmr_danger=2, unimmr_critical="1.5")
    assert ratio_level(D("2.5"), T) is Level.OK
    assert ratio_level(D("2.5"), strict) is Level.WARN
    assert ratio_level(D("2"), strict) is Level.DANGER
    assert ratio_level(D("1.5"), strict) is Level.CRITICAL
    assert ratio_level(D("1.6"), strict) is Level.DANGER
    assert ratio_level(D("1.6"), T) is Level.OK


def test_margin_ratio():
    assert margin_ratio(D(150), D(100)) == D("1.5")
    assert margin_ratio(D(150), D(0)) is None
    assert margin_ratio(D(-5), D(0)) is None
    assert margin_ratio(D(-50), D(100)) == D("-0.5")


# --- assets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wallet, upnl, mm, level",
    [
        ("150", "0", "100", Level.WARN),
        ("150.00000001", "0", "100", Level.OK),
        ("200", "-50", "100", Level.WARN),  # unrealised PnL counts: margin balance 150
        ("100", "50.00000001", "100", Level.OK),
        ("120", "0", "100", Level.DANGER),
        ("105", "0", "100", Level.CRITICAL),
        ("105.00000001", "0", "100", Level.DANGER),
        ("-10", "0", "100", Level.CRITICAL),  # negative margin balance with margin to keep
        ("10", "-20", "100", Level.CRITICAL),
        ("1000", "0", "0", Level.OK),  # no maintenance margin: nothing at risk
    ],
)
def test_asset_level_from_margin_balance_and_maint_margin(wallet, upnl, mm, level):
    assert asset_level(asset(wallet=wallet, upnl=upnl, mm=mm), T) is level


def test_asset_ratio_and_usage():
    a = asset(wallet="300", upnl="-100", mm="50")
    assert asset_ratio(a) == D(4)
    assert asset_mm_usage(a) == D("0.25")
    assert asset_mm_usage(asset(mm="0")) is None
    assert asset_mm_usage(asset(wallet="0", mm="5")) == D("Infinity")
    assert asset_mm_usage(asset(wallet="-1", mm="5")) == D("Infinity")


# --- positions ---------------------------------------------------------------------------------


def test_mm_share():
    assert mm_share(position(mm="25"), D(100)) == D("0.25")
    assert mm_share(position(mm="25"), D(0)) == 0
    assert mm_share(position(mm="100"), D(100)) == 1


@pytest.mark.parametrize(
    "mm, level",
    [("0", Level.OK), ("24.99999999", Level.OK), ("25", Level.WARN), ("49.99", Level.WARN),
     ("50", Level.DANGER), ("100", Level.DANGER)],
)
def test_position_level_from_share_of_maint_margin_on_an_account_at_warn(mm, level):
    assert position_level(position(mm=mm), D(100), D(10_000), T, Level.WARN) is level


@pytest.mark.parametrize("mm", ["50", "100"])
def test_a_large_share_alone_is_concentration_not_danger_on_a_healthy_account(mm):
    # uniMMR 10.5 with 90% headroom: one position holding most of the margin is worth a look
    # (WARN), not a red DANGER on top of an OK account.
    assert position_level(position(mm=mm), D(100), D(10_000), T) is Level.WARN
    assert position_level(position(mm=mm), D(100), D(10_000), T, Level.OK) is Level.WARN
    assert position_level(position(mm=mm), D(100), D(10_000), T, Level.DANGER) is Level.DANGER
    assert share_level(D(mm) / 100, T) is Level.WARN
    assert share_level(D(mm) / 100, T, Level.CRITICAL) is Level.DANGER


@pytest.mark.parametrize(
    "upnl, level",
    [("0", Level.OK), ("1000", Level.OK), ("-49.99", Level.OK), ("-50", Level.WARN),
     ("-99.99", Level.WARN), ("-100", Level.DANGER), ("-249.99", Level.DANGER),
     ("-250", Level.CRITICAL), ("-5000", Level.CRITICAL)],
)
def test_position_level_from_loss_against_margin_balance(upnl, level):
    # Margin balance 1000: warn at 5% loss, danger at 10%, critical at 25%.
    assert position_level(position(upnl=upnl), D(100), D(1000), T) is level


def test_position_level_takes_the_worse_of_share_and_loss():
    p = position(mm="60", upnl="-60")  # share 0.6 -> DANGER (account at WARN), loss 6% -> WARN
    assert position_level(p, D(100), D(1000), T, Level.WARN) is Level.DANGER
    assert position_level(p, D(100), D(1000), T) is Level.WARN  # healthy account: share caps at WARN
    p = position(mm="30", upnl="-300")  # share WARN, loss 30% -> CRITICAL
    assert position_level(p, D(100), D(1000), T) is Level.CRITICAL


def test_position_losing_against_non_positive_balance_is_critical():
    assert position_level(position(upnl="-1"), D(0), D(0), T) is Level.CRITICAL
    assert position_level(position(upnl="-1"), D(0), D(-5), T) is Level.CRITICAL
    assert position_level(position(upnl="1"), D(0), D(-5), T) is Level.OK


def test_flat_position_is_ok_whatever_its_numbers():
    flat = position(amt="0", mm="100", upnl="-1000")
    assert position_level(flat, D(100), D(10), T) is Level.OK


def test_custom_position_thresholds():
    t = Thresholds(position_share_warn="0.1", position_share_danger="0.2",
                   position_loss_warn="0.01", position_loss_danger="0.02", position_loss_critical="0.03")
    assert position_level(position(mm="15"), D(100), D(1000), T) is Level.OK
    assert position_level(position(mm="15"), D(100), D(1000), t) is Level.WARN
    assert position_level(position(upnl="-30"), D(100), D(1000), T) is Level.OK
    assert position_level(position(upnl="-30"), D(100), D(1000), t) is Level.CRITICAL


# --- totals and the account --------------------------------------------------------------------


def test_totals_add_usdt_and_usdc_and_leave_other_assets_out():
    tot = totals(acct(
        asset("USDT", wallet="1000.5", upnl="-100.25", mm="10", im="100"),
        asset("USDC", wallet="500", upnl="0.25", mm="5.5", im="50"),
        asset("BNB", wallet="3", upnl="1", mm="2", im="9"),
        asset("BTC", wallet="1", upnl="0", mm="0", im="0"),
    ))
    assert tot.wallet == D("1500.5")
    assert tot.unrealized == D("-100.00")
    assert tot.margin_balance == D("1400.50")
    assert tot.maint_margin == D("15.5")
    assert tot.initial_margin == D(150)
    assert tot.ratio == D("1400.5") / D("15.5")


def test_totals_of_nothing():
    tot = totals(acct())
    assert (tot.wallet, tot.unrealized, tot.maint_margin, tot.initial_margin) == (0, 0, 0, 0)
    assert tot.ratio is None


def test_zero_positions_and_no_margin_is_ok():
    acc = parse_um_account({
        "assets": [asset().raw],
        "positions": [position(amt="0").raw],
    })
    assert account_level(acc, T) is Level.OK
    view = build_view(acc, T)
    assert view.level is Level.OK and view.open_positions == ()
    assert [r.level for r in view.positions] == [Level.OK]


@pytest.mark.parametrize(
    "usdt_wallet, level",
    [("1600", Level.OK), ("1500", Level.WARN), ("1200", Level.DANGER), ("1050", Level.CRITICAL)],
)
def test_account_level_follows_the_um_ratio(usdt_wallet, level):
    assert account_level(acct(asset("USDT", wallet=usdt_wallet, mm="1000")), T) is level


def test_one_asset_low_on_its_own_does_not_set_the_account_level():
    # Collateral is shared: USDC backs USDT's positions. USDT alone is at 1.0 (its own row says
    # critical), the account at 2100 / 1010 is normal, as Binance's uniMMR would say.
    acc = acct(asset("USDT", wallet="1000", mm="1000"), asset("USDC", wallet="1100", mm="10"))
    assert totals(acc).ratio > D("1.5")
    assert asset_level(acc.assets[0], T) is Level.CRITICAL
    assert account_level(acc, T) is Level.OK
    assert build_view(acc, T).level is Level.OK
    assert build_view(acc, T).assets[0].level is Level.CRITICAL


def test_non_usd_assets_stay_out_of_the_account_ratio():
    acc = acct(asset("USDT", wallet="1000", mm="10"), asset("BNB", wallet="1", mm="0.9"))
    assert totals(acc).maint_margin == 10
    assert account_level(acc, T) is Level.OK
    assert asset_level(acc.assets[1], T) is Level.DANGER  # BNB on its own: 1 / 0.9 = 1.11


def test_negative_equity_without_maint_margin_is_critical():
    # Binance: liquidation can start with no positions if equity goes negative.
    acc = acct(asset("USDT", wallet="-50", mm="0"), asset("USDC", wallet="20", mm="0"))
    assert totals(acc).ratio is None
    assert account_level(acc, T) is Level.CRITICAL


def test_one_negative_asset_covered_by_another_is_not_critical():
    acc = acct(asset("USDT", wallet="-50", mm="0"), asset("USDC", wallet="5000", mm="0"))
    assert account_level(acc, T) is Level.OK


def test_unimmr_when_known_decides():
    acc = acct(asset("USDT", wallet="1050", mm="1000"))
    assert account_level(acc, T) is Level.CRITICAL
    assert account_level(acc, T, unimmr=D("3")) is Level.OK
    assert account_level(acct(), T, unimmr=D("1.3")) is Level.WARN


def test_worst_and_badges():
    assert worst([]) is Level.OK
    assert worst([Level.WARN, Level.CRITICAL, Level.OK]) is Level.CRITICAL
    assert Level.DANGER.label == "danger"
    # Every badge carries a word, so it reads without colour; all four differ.
    badges = [lvl.badge for lvl in Level]
    assert len(set(badges)) == 4
    assert all(lvl.name in lvl.badge for lvl in Level)


def test_view_rows_carry_share_and_level():
    acc = acct(
        asset("USDT", wallet="10000", mm="100"),
        positions=(position("BTCUSDT", mm="60"), position("ETHUSDT", mm="40", upnl="-600"),
                   position("SOLUSDT", amt="0")),
    )
    view = build_view(acc, T)
    rows = {r.key: r for r in view.positions}
    # The account is OK (ratio 94), so a 60% share is concentration: WARN, not DANGER.
    assert view.level is Level.OK
    assert rows["BTCUSDT:BOTH"].share == D("0.6") and rows["BTCUSDT:BOTH"].level is Level.WARN
    assert rows["BTCUSDT:BOTH"].share_level is Level.WARN
    assert rows["ETHUSDT:BOTH"].level is Level.WARN  # share 0.4 WARN, loss 6% WARN
    assert rows["ETHUSDT:BOTH"].loss_level is Level.WARN
    assert rows["SOLUSDT:BOTH"].share == 0 and rows["SOLUSDT:BOTH"].level is Level.OK
    assert [r.key for r in view.open_positions] == ["BTCUSDT:BOTH", "ETHUSDT:BOTH"]
    assert view.assets[0].usage == D("0.01")


def test_a_large_share_is_danger_once_the_account_is_at_warn():
    # Margin balance 130 against 100 of maintenance margin: ratio 1.3, a margin call (WARN).
    acc = acct(asset("USDT", wallet="130", mm="100"), positions=(position("BTCUSDT", mm="60"),))
    view = build_view(acc, T)
    assert view.level is Level.WARN
    row = view.open_positions[0]
    assert row.share_level is Level.DANGER and row.level is Level.DANGER


# --- the verdict: one answer for the header, the digits and `check` ---------------------------------


def liq_view(unimmr="1.92", status="NORMAL", liq="97.6", side="BOTH", with_pm=True, wallet="1400"):
    """BTCUSDT at mark 100 with its liquidation price at `liq` (97.6: 2.4% away)."""
    um = acct(asset("USDT", wallet=wallet, mm="1000"), positions=(position(side=side, mm="1000"),))
    return build_view(um, T, risks=[risk(side=side, mark="100", liq=liq)],
                      pm=pm(unimmr=unimmr, status=status) if with_pm else None)


def test_verdict_is_the_worst_of_unimmr_status_and_liquidation_with_the_reason():
    v = liq_view().verdict()
    assert v.level is Level.CRITICAL and not v.unknown and not v.stale
    assert v.causes == ((LIQUIDATION, "BTCUSDT 2.4% from liquidation"),)
    assert str(v) == "× CRITICAL · BTCUSDT 2.4% from liquidation"
    assert liq_view().level is Level.CRITICAL  # the view's own level is the verdict's
    # Each part alone can set it; parts at the same level are all named.
    assert str(liq_view(liq="50").verdict()) == "✓ OK · uniMMR 1.9200"
    assert str(liq_view(unimmr="1.4", status="MARGIN_CALL", liq="50").verdict()) == (
        "▲ WARN · uniMMR 1.4000, status MARGIN_CALL")
    assert str(liq_view(unimmr="3", status="REDUCE_ONLY", liq="50").verdict()) == "◆ DANGER · status REDUCE_ONLY"
    assert liq_view(unimmr="1.0", liq="96").verdict().causes == (
        (UNIMMR, "uniMMR 1.0000"), (LIQUIDATION, "BTCUSDT 4.0% from liquidation"))


def test_verdict_names_the_leg_in_hedge_mode():
    assert liq_view(side="SHORT", liq="103").verdict().reason == "BTCUSDT SHORT 3.0% from liquidation"


def test_stale_verdict_never_reads_as_current():
    v = liq_view(liq="50").verdict(stale=True)
    assert v.level is Level.OK and v.badge == "◌ STALE · last OK" and v.style == "state--stale"
    assert "✓" not in str(v)
    critical = liq_view().verdict(stale=True)
    assert critical.badge == "◌ STALE · last CRITICAL" and critical.style == "level--critical"


def test_no_unimmr_is_unknown_unless_the_key_cannot_read_it():
    blind = liq_view(with_pm=False, liq="50").verdict()
    assert blind.unknown and blind.word == "UNKNOWN" and blind.badge == "? UNKNOWN"
    assert blind.reason == "uniMMR unknown" and blind.style == "state--stale"
    # A WARN known without uniMMR is still UNKNOWN overall (uniMMR could be anywhere)...
    warn = liq_view(with_pm=False, liq="85").verdict()
    assert warn.unknown and warn.level is Level.WARN
    assert warn.reason == "uniMMR unknown, BTCUSDT 15.0% from liquidation"
    # ...but DANGER or worse is known enough to say so.
    near = liq_view(with_pm=False).verdict()
    assert not near.unknown and near.level is Level.CRITICAL
    assert near.reason == "BTCUSDT 2.4% from liquidation, uniMMR unknown"
    # Refused: the UM margin ratio (1400 / 1000) judges, and the reason says so.
    refused = liq_view(with_pm=False, liq="50").verdict(refused=True)
    assert not refused.unknown and refused.level is Level.WARN
    assert refused.causes == ((FALLBACK, "UM margin ratio 1.4000 (uniMMR unavailable to this key)"),)


def test_verdict_from_parts_alone():
    v = verdict(T, unimmr=D("1.1"), status="REDUCE_ONLY", nearest=("ETHUSDT", D("0.3")))
    assert v == Verdict(Level.DANGER, ((UNIMMR, "uniMMR 1.1000"), (STATUS, "status REDUCE_ONLY")))
    assert v.said(STATUS) == "status REDUCE_ONLY" and v.said(LIQUIDATION) is None
    assert verdict(T).unknown and verdict(T, fallback=(None, Level.OK)).reason.startswith("UM margin ratio ∞")
