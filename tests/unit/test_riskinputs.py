"""The risk engine's input endpoints: Binance's own example bodies parse exactly, and what Binance
leaves out ("", null, a missing key, a typo'd key, one object for a list) parses without a fuss."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pmtui.riskinputs import (
    parse_brackets,
    parse_collateral_rates,
    parse_index_prices,
    parse_margin_leverage,
    parse_tiered_collateral_rates,
)
from tests.core.test_real_payloads import load_body_text

RISK = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "risk"


def body(name: str) -> bytes:
    return load_body_text((RISK / name).read_text(encoding="utf-8")).encode()


def test_collateral_rate_body_parses_exactly():
    (row,) = parse_collateral_rates(body("pro_collateral_rate.json"))
    assert row.asset == "USDC" and row.collateralRate == Decimal("1.0000")
    assert row.raw == {"asset": "USDC", "collateralRate": "1.0000"}


def test_tiered_collateral_rate_body_parses_exactly():
    (row,) = parse_tiered_collateral_rates(body("pro_tiered_collateral_rate.json"))
    (tier,) = row.collateralInfo
    assert row.asset == "BNB"
    assert (tier.tierFloor, tier.tierCap, tier.collateralRate, tier.cum) == (
        Decimal("0.0000"), Decimal("1000.0000"), Decimal("1.0000"), Decimal("0.0000"))


def test_asset_index_price_body_parses_exactly():
    (row,) = parse_index_prices(body("pro_asset_index_price.json"))
    assert row.asset == "BTC" and row.assetIndexPrice == Decimal("28251.9136906")
    assert row.time == 1683518338121
    assert str(row.assetIndexPrice) == "28251.9136906"  # the API's digits, none lost to a float


def test_margin_asset_leverage_body_parses_exactly():
    (row,) = parse_margin_leverage(body("pro_margin_asset_leverage.json"))
    assert row.asset == "USDC" and row.leverage == Decimal(10)


def test_um_leverage_bracket_bodies_parse_exactly():
    for name in ("um_leverage_bracket.json", "um_leverage_bracket.docs.zh-CN.json"):
        (row,) = parse_brackets(body(name))
        (b,) = row.brackets
        assert row.symbol == "ETHUSDT" and row.notionalCoef == Decimal("4.0"), name
        assert (b.bracket, b.initialLeverage, b.notionalCap, b.notionalFloor) == (1, 75, 10000, 0)
        # A JSON number read as Decimal: 0.0065 exactly, not the float 0.006500000000000000117...
        assert b.maintMarginRatio == Decimal("0.0065") and b.cum == 0
        assert (b.cap, b.floor) == (Decimal(10000), Decimal(0))


def test_cm_leverage_bracket_body_parses_exactly():
    (row,) = parse_brackets(body("cm_leverage_bracket.json"))
    (b,) = row.brackets
    assert row.symbol == "BTCUSD_PERP" and row.notionalCoef is None  # not sent: no adjustment
    assert (b.qtyCap, b.qtyFloor, b.maintMarginRatio, b.cum) == (50, 0, Decimal("0.004"), 0)
    assert (b.cap, b.floor) == (Decimal(50), Decimal(0))  # by coin quantity, not notional


def test_empty_strings_missing_keys_and_typos_parse_as_not_given():
    # "qtylFloor" (sic) is how Binance's COIN-M docs page prints qtyFloor.
    (row,) = parse_brackets(b'[{"symbol": "BTCUSD_PERP", "brackets": [{"qtyCap": 50, '
                            b'"qtylFloor": 0, "maintMarginRatio": "", "cum": null}]}]')
    (b,) = row.brackets
    assert b.cap == 50 and b.floor is None and b.maintMarginRatio is None and b.cum is None
    (rate,) = parse_collateral_rates(b'[{"asset": "BTC", "collateralRate": ""}]')
    assert rate.collateralRate is None
    (price,) = parse_index_prices(b'[{"asset": "ETH"}]')
    assert price.assetIndexPrice is None and price.time is None
    (lev,) = parse_margin_leverage(b'[{"asset": "BTC", "leverage": "abc"}]')
    assert lev.leverage is None


def test_one_bad_row_never_refuses_the_others():
    rows = parse_brackets(b'[{"symbol": "A", "brackets": "x"}, 7, {"symbol": "B", "brackets": []}]')
    assert [r.symbol for r in rows] == ["B"]
    assert parse_collateral_rates(b'{"code": 0}') != ()  # one object: read as a list of one
    assert parse_index_prices(b'"nope"') == ()
