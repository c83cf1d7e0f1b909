"""Net exposure per coin, the next margin tier and trading locks (pmtui.exposure): pure figures."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pmtui.exposure import exposures, lock_reasons, next_tier, underlying
from pmtui.health import LOCKED, Level, verdict
from pmtui.models import (
    Balance,
    TradingStatus,
    UmAccountConfig,
    parse_adl_quantiles,
    parse_trading_status,
    parse_um_account_config,
)
from pmtui.riskinputs import parse_brackets
from pmtui.settings import Thresholds


def bal(asset: str, **fields: str) -> Balance:
    return Balance.from_wire({"asset": asset, **fields})


def test_the_issue_example_btc_net_one_coin_is_sixty_thousand_dollars():
    # +1.2 BTC on USD-M, -0.5 BTC on COIN-M (300 contracts of 100 USD short at 60000), +0.3 BTC held.
    um = [("BTCUSDT", "BOTH", D("1.2"), D("60010"))]
    cm = [("BTCUSD_PERP", "BOTH", D("-300"), D("60000"))]
    balances = [bal("BTC", crossMarginAsset="0.1", umWalletBalance="0.1", cmWalletBalance="0.05",
                    cmUnrealizedPNL="0.05", crossMarginBorrowed="0", crossMarginInterest="0"),
                bal("USDT", crossMarginAsset="5000", umWalletBalance="20000")]
    (btc,) = exposures(um, cm, balances, {"BTC": D("60000")})
    assert btc.coin == "BTC" and btc.net == D("1.0")
    assert btc.to_json() == {
        "net": "1.00000000", "netUsd": "60000.00", "grossUsd": "120000.00", "price": "60000",
        "parts": {"um": "1.2", "cm": "-0.50000000", "collateral": "0.30", "loans": "0"}, "leftOut": [],
    }


def test_loans_and_interest_count_against_the_coin():
    (eth,) = exposures([], [], [bal("ETH", crossMarginAsset="2", crossMarginBorrowed="1.5",
                                    crossMarginInterest="0.01")], {"ETH": D("3000")})
    assert (eth.net, eth.loans, eth.gross) == (D("0.49"), D("1.51"), D("3.51"))
    assert eth.to_json()["netUsd"] == "1470.00"


def test_hedge_short_multiplier_and_stablecoins():
    um = [("ETHUSDT", "LONG", D("3"), D("3000")), ("ETHUSDT", "SHORT", D("2"), D("3000")),  # SHORT > 0 is short
          ("1000PEPEUSDT", "BOTH", D("5"), D("0.012")), ("USDCUSDT", "BOTH", D("100"), D("1"))]
    by = {e.coin: e for e in exposures(um, [], [bal("USDT", umWalletBalance="1000")])}
    assert set(by) == {"ETH", "PEPE"}  # stablecoins are cash, not exposure
    assert by["ETH"].net == D(1) and by["ETH"].gross == D(1)  # gross of the parts (3 - 2 in one part)
    assert by["PEPE"].net == D(5000) and by["PEPE"].price == D("0.000012")  # the mark is per 1000
    assert underlying("1MBABYDOGEUSDT") == ("BABYDOGE", D(1_000_000)) and underlying("1INCHUSDT") == ("1INCH", D(1))
    assert underlying("BTCUSDT_250627") == ("BTC", D(1)) and underlying("NOQUOTE") is None


def test_sorted_by_net_usd_and_a_coin_without_a_price_is_last_with_no_usd():
    um = [("ETHUSDT", "BOTH", D("-10"), D("3000")), ("BTCUSDT", "BOTH", D("0.1"), D("60000"))]
    cm = [("SOLUSD_PERP", "BOTH", D("5"), None)]  # no mark: its contracts cannot be converted
    rows = exposures(um, cm, [bal("XYZ", crossMarginAsset="7")])
    assert [e.coin for e in rows] == ["ETH", "BTC", "XYZ", "SOL"]
    assert rows[0].net_usd == D("-30000") and rows[2].net_usd is None
    assert rows[3].left_out == ("SOLUSD_PERP",) and rows[3].to_json()["netUsd"] is None


def test_absurd_amounts_stay_exact_and_never_raise():
    huge = "9" * 30
    (e,) = exposures([("BTCUSDT", "BOTH", D(huge), D("1e-20"))], [], [bal("BTC", crossMarginBorrowed=huge)])
    assert e.net == 0 and e.gross == 2 * D(huge)


# --- the next margin tier ------------------------------------------------------------------------

BRACKETS = parse_brackets([{"symbol": "BTCUSDT", "brackets": [
    {"bracket": 1, "notionalCap": 50000, "notionalFloor": 0, "maintMarginRatio": D("0.004"), "cum": 0},
    {"bracket": 2, "notionalCap": 250000, "notionalFloor": 50000, "maintMarginRatio": D("0.005"), "cum": 50},
    {"bracket": 3, "notionalCap": 1000000, "notionalFloor": 250000, "maintMarginRatio": D("0.01"), "cum": 1300},
]}])[0]


def test_next_tier_is_the_room_to_the_bracket_cap():
    tier = next_tier(D("-130000"), BRACKETS, D(1))  # a short's notional counts by its size
    assert tier is not None and (tier.room, tier.mmr, tier.current_mmr) == (D(120000), D("0.01"), D("0.005"))
    assert tier.to_json() == {"room": "120000", "roomUsd": "120000.00", "maintMarginRatio": "0.01",
                              "currentMaintMarginRatio": "0.005"}
    assert next_tier(D("500000"), BRACKETS) is None  # the top tier: nothing above
    assert next_tier(D("1"), None) is None


def test_an_absurd_bracket_gives_no_tier():
    bad = parse_brackets([{"symbol": "X", "brackets": [{"notionalCap": 10, "maintMarginRatio": 2},
                                                       {"notionalCap": 20, "maintMarginRatio": D("0.1")}]}])[0]
    assert next_tier(D(1), bad) is None


# --- trading locks ---------------------------------------------------------------------------


def test_lock_reasons_name_each_lock_and_its_recovery_time():
    status = parse_trading_status({"indicators": {
        "BTCUSDT": [{"isLocked": True, "plannedRecoverTime": 1545741270000, "indicator": "UFR"}],
        "ETHUSDT": [{"isLocked": False, "indicator": "IFER"}],
        "ACCOUNT": [{"indicator": "TMV", "isLocked": True, "plannedRecoverTime": 1644919865000}]}})
    assert lock_reasons(parse_um_account_config({"canTrade": False}), status) == (
        "UM canTrade is false", "BTCUSDT locked by rule UFR until 2018-12-25 12:34 UTC",
        "the account locked by rule TMV until 2022-02-15 10:11 UTC")
    assert lock_reasons(UmAccountConfig(canTrade=True), TradingStatus()) == ()
    assert lock_reasons(None, None) == ()


def test_a_lock_makes_the_verdict_warn_with_its_reason():
    v = verdict(Thresholds(), unimmr=D("5"), status="NORMAL", locks=("UM canTrade is false",))
    assert v.level is Level.WARN and v.said(LOCKED) == "trading locked: UM canTrade is false"
    assert verdict(Thresholds(), unimmr=D("5"), status="NORMAL").level is Level.OK


@pytest.mark.parametrize("body", [
    {"indicators": {"\x1b[2JBTCUSDT": [{"isLocked": True, "indicator": "UFR\x07"}]}},
    {"indicators": {"BTCUSDT": [{"isLocked": "yes"}, 7, None]}},
    {"indicators": ["not", "a", "map"]}, {}, {"indicators": {"": [{"isLocked": True}]}},
])
def test_hostile_trading_status_is_data_or_left_out(body):
    reasons = lock_reasons(None, parse_trading_status(body))
    assert all("\x1b" not in r and "\x07" not in r for r in reasons)
    assert reasons in ((), ("BTCUSDT\ufffd locked by rule UFR\ufffd",))


# --- ADL quantiles ---------------------------------------------------------------------------


def test_adl_rows_keep_only_quantiles_zero_to_four():
    rows = parse_adl_quantiles([
        {"symbol": "BTCUSDT", "adlQuantile": {"LONG": 4, "SHORT": 7, "BOTH": "3", "HEDGE": 0}},
        {"symbol": "ETHUSDT", "adlQuantile": {"BOTH": True, "LONG": -1, "SHORT": D("2")}},
        {"symbol": "", "adlQuantile": {"BOTH": 1}}, {"symbol": "X"}, "junk",
        {"symbol": "SOL\x1b]0;pwn\x07USDT", "adlQuantile": {"BOTH": 2}},
    ])
    assert [(r.symbol, r.quantiles) for r in rows] == [
        ("BTCUSDT", {"LONG": 4}), ("ETHUSDT", {"SHORT": 2}), ("SOLUSDT\ufffd", {"BOTH": 2})]
    assert rows[0].for_side("LONG", True) == 4 and rows[0].for_side("SHORT", False) is None
    # One-way: the higher of BOTH and the direction's side (Binance's page does not say which).
    assert parse_adl_quantiles([{"symbol": "A", "adlQuantile": {"LONG": 3, "BOTH": 1}}])[0].for_side("BOTH", True) == 3


def test_an_adl_answer_that_is_not_a_list_is_one_sentence():
    from pmtui.errors import SchemaError

    with pytest.raises(SchemaError, match=r"^The ADL quantile response is not a list\.$"):
        parse_adl_quantiles({"symbol": "BTCUSDT"})
