"""pmtui.model against Binance's own worked examples (pmtui issue 22).

Each example is quoted verbatim in tests/fixtures/real/risk/ with its source in the `.origin`
file next to it; a test first checks the quoted figures are in the fixture, then builds the
model's inputs from them and asserts the model gives the published result. What the pages do not
quote (where a bracket ends) is chosen so that it cannot change the answer, and said so.

The FAQ's own "Examples of UniMMR Calculation" and the second half of the Portfolio Margin Pro
example are in no copy found (docs/risk-model.md, "Sources"): the PM Pro figures that are quoted
are reproduced in tests/unit/test_model.py."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN
from decimal import Decimal as D
from pathlib import Path

import pytest

from pmtui.model import CmLeg, Inputs, RiskModel, UmLeg
from pmtui.models import Balance
from pmtui.riskinputs import (
    AssetIndexPrice,
    CollateralRate,
    MarginAssetLeverage,
    SymbolBrackets,
    TieredCollateralRate,
    parse_brackets,
)
from tests.core.test_real_payloads import load_body_text

RISK = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "risk"
NOW_MS = 1_760_000_000_000


def quoted(name: str, *figures: str) -> None:
    """The figures a test uses are the page's, as quoted in the fixture."""
    text = (RISK / name).read_text(encoding="utf-8")
    for figure in figures:
        assert figure in text, f"{figure!r} is not in {name}"


def model(*, um: list[UmLeg] | None = None, cm: list[CmLeg] | None = None,
          um_brackets: list[SymbolBrackets] | None = None,
          cm_brackets: list[SymbolBrackets] | None = None, btc: str = "25000") -> RiskModel:
    """Only the futures legs: no balances, full collateral, BTC and USDT index prices."""
    return RiskModel(Inputs(
        um=um or [], cm=cm or [], um_brackets=um_brackets or [], cm_brackets=cm_brackets or [],
        collateral_rates=[CollateralRate.from_wire({"asset": a, "collateralRate": "1"})
                          for a in ("USDT", "BTC")],
        index_prices=[AssetIndexPrice.from_wire({"asset": a, "assetIndexPrice": p, "time": NOW_MS})
                      for a, p in (("USDT", "1"), ("BTC", btc))],
        margin_leverage=[], now_ms=NOW_MS))


# --- USDⓈ-M: the bracket a notional falls in, and its maintenance amount (cum) ------------------

USDM = "usdm_liquidation_faq_maintenance.en.md"


def usdm_brackets() -> list[SymbolBrackets]:
    """BTCUSDT's Level 2 (0.5%, maintenance amount 50 USDT, up to 250,000) and Level 3 (1% from
    250,000, maintenance amount 1,300): the FAQ's figures. Level 3's cap is not quoted; any cap
    above 500,000 (its example of a Level 3 position) gives the same answers, 1,000,000 is used."""
    return [SymbolBrackets.from_wire({"symbol": "BTCUSDT", "brackets": [
        {"bracket": 2, "notionalFloor": 50000, "notionalCap": 250000,
         "maintMarginRatio": D("0.005"), "cum": D("50")},
        {"bracket": 3, "notionalFloor": 250000, "notionalCap": 1000000,
         "maintMarginRatio": D("0.01"), "cum": D("1300")},
    ]})]


def test_usdm_faq_maintenance_amount_of_level_3_is_binances_cum_formula():
    """Binance: "the Maintenance Amount on Level 3 = 250,000 * (1% - 0.5%) + 50 USDT = 1,300 USDT".
    With that cum the maintenance margin is continuous where Level 3 starts: the model's MM of a
    250,000 USDT position is 250,000 × 0.5% − 50 = 250,000 × 1% − 1,300 = 1,200 from either side."""
    quoted(USDM, "= 250,000 * (1% - 0.5%) + 50 USDT", "= 1,300 USDT")
    assert D(250000) * (D("0.01") - D("0.005")) + 50 == 1300
    just_below = model(um=[UmLeg("BTCUSDT", D("2.49999"), D(100000))], um_brackets=usdm_brackets())
    at_floor = model(um=[UmLeg("BTCUSDT", D("2.5"), D(100000))], um_brackets=usdm_brackets())
    assert just_below.base.futures_mm == D("249999") * D("0.005") - 50  # still Level 2
    assert at_floor.base.futures_mm == D("1200") == D(250000) * D("0.005") - 50


@pytest.mark.parametrize("qty, mark, notional, page", [
    # "if the position size of a USDT-margined BTCUSDT contract is 264,000 USDT, then the
    # maintenance margin rate would be 1%": 264,000 × 1% − 1,300 (Level 3's amount).
    (D("2.64"), D(100000), 264000, "is 264,000 USDT, then the maintenance margin rate would be 1%"),
    # "if the position size ... is 500,000 USDT, then the maintenance amount would be 1,300 USDT".
    (D("-10"), D(50000), 500000, "is 500,000 USDT, then the maintenance amount would be 1,300 USDT"),
])
def test_usdm_faq_positions_take_level_3s_rate_and_amount(qty, mark, notional, page):
    """futuresMM_UM = |MMR × Position × MarkPrice| − cum with the FAQ's rate and amount for the
    notional (a short the same as a long); were the model to pick Level 2 it would read
    notional × 0.5% − 50 instead."""
    quoted(USDM, page)
    m = model(um=[UmLeg("BTCUSDT", qty, mark)], um_brackets=usdm_brackets())
    assert m.base.futures_mm == D(notional) * D("0.01") - 1300
    assert m.base.futures_mm != D(notional) * D("0.005") - 50
    assert not m.base.approximate


# --- COIN-M: the notional in the coin, its level and maintenance margin -------------------------

COINM = "coinm_liquidation_faq_maintenance.en.md"


def test_coinm_faq_example_maintenance_margin_is_0_0016_btc():
    """Binance: 100 contracts (of 100 USD) at a mark of 25,000: "100 * 100 / 25,000 = 0.4 BTC,
    which is in margin level 1", "Maintenance Margin = 100 * 100 / 25,000 * 0.4% - 0 = 0.0016 BTC".
    Level 1 is read from Binance's own /papi/v1/cm/leverageBracket example body (BTCUSD_PERP:
    qtyCap 50 BTC, maintMarginRatio 0.004, cum 0: the FAQ's "0.4% - 0"). The model's futures MM
    is in USD: 0.0016 BTC at the BTC index price (25,000 here) is 40 USD."""
    quoted(COINM, "100 * 100 / 25,000 = 0.4 BTC, which is in margin level 1",
           "= 100 * 100 / 25,000 * 0.4% - 0 = 0.0016 BTC")
    text = (RISK / "cm_leverage_bracket.json").read_text(encoding="utf-8")
    table = parse_brackets(load_body_text(text).encode())
    m = model(cm=[CmLeg("BTCUSD_PERP", D(100), D(25000))], cm_brackets=list(table))
    assert m.base.futures_mm / D(25000) == D("0.0016")
    assert m.base.futures_mm == D(40)
    assert not m.base.approximate


def test_coinm_faq_300_btc_position_takes_12_5_percent_and_11_605_btc():
    """Binance: "if the BTCUSD contract position is 300 BTC, the Maintenance Margin Rate would be
    12.5%" and "the Maintenance Amount would be 11.605 BTC". COIN-M levels are by the position's
    quantity in the coin: 75,000 contracts of 100 USD at a mark of 25,000 are 300 BTC. Level 1 as
    above; where the 12.5% level starts and ends is not quoted (any level holding 300 BTC), and
    the levels between are left out: they cannot hold 300 BTC."""
    quoted(COINM, "position is 300 BTC, the Maintenance Margin Rate would be 12.5%",
           "position is 300 BTC, the Maintenance Amount would be 11.605 BTC")
    table = [SymbolBrackets.from_wire({"symbol": "BTCUSD_PERP", "brackets": [
        {"bracket": 1, "qtyFloor": 0, "qtyCap": 50, "maintMarginRatio": D("0.004"), "cum": D(0)},
        {"bracket": 6, "qtyFloor": 200, "qtyCap": 500, "maintMarginRatio": D("0.125"),
         "cum": D("11.605")},
    ]})]
    m = model(cm=[CmLeg("BTCUSD_PERP", D(-75000), D(25000))], cm_brackets=table)
    assert m.base.futures_mm / D(25000) == D(300) * D("0.125") - D("11.605")  # 25.895 BTC


# --- Portfolio Margin Pro's tiered collateral rates ----------------------------------------------

TIERS = "pm_pro_tiered_collateral.en.md"
HAIRCUTS = "cross_margin_collateral_haircuts.en.md"


def tiered(asset: str, *rows: tuple[str, str, str]) -> TieredCollateralRate:
    """rows: (floor, cap, rate) as /sapi/v2/portfolio/collateralRate sends them."""
    return TieredCollateralRate.from_wire({"asset": asset, "collateralInfo": [
        {"tierFloor": f, "tierCap": c, "collateralRate": r, "cum": "0"} for f, c, r in rows]})


def tiered_model(asset: str, amount: str, price: str, tiers: list[TieredCollateralRate],
                 flat: str | None = None) -> RiskModel:
    """One asset held in the margin account, valued at `price`; its flat rate only if given."""
    return RiskModel(Inputs(
        balances=[Balance.from_wire({"asset": asset, "crossMarginAsset": amount})],
        collateral_rates=None if flat is None else [
            CollateralRate.from_wire({"asset": asset, "collateralRate": flat})],
        tiered_collateral_rates=tiers,
        index_prices=[AssetIndexPrice.from_wire({"asset": asset, "assetIndexPrice": price,
                                                 "time": NOW_MS})],
        um_brackets=[], cm_brackets=[], margin_leverage=[], now_ms=NOW_MS))


def test_tiered_collateral_is_binances_slice_by_slice_example_119_500_000():
    """Binance: 6,000 BTC at 20,000 is 120,000,000 USD: "(100,000,000) * 100% + (120,000,000 -
    100,000,000) * 97.5% = 119,500,000". The model values an asset with tiers slice by slice,
    whatever its flat rate says (95% here would give 114,000,000)."""
    quoted(HAIRCUTS, "User A holds 6,000 BTC", "the BTC price is 20,000 USDT",
           "100% | 0 - 100,000,000 |", "97.5% | 100,000,000 - 120,000,000 |",
           "95% | 120,000,000 - 150,000,000 |", "= 119,500,000 USDT")
    btc = tiered("BTC", ("0", "100000000", "1"), ("100000000", "120000000", "0.975"),
                 ("120000000", "150000000", "0.95"), ("150000000", "180000000", "0.90"),
                 ("180000000", "200000000", "0.85"))
    m = tiered_model("BTC", "6000", "20000", [btc], flat="0.95")
    assert m.base.adjusted_equity == D("119500000")
    (line,) = m.base.assets
    assert line.equity == D("119500000") and line.rate == D("119500000") / D("120000000")
    assert not m.base.approximate
    # A 10% fall leaves 108,000,000 USD, all in the first two tiers: 100,000,000 + 8,000,000 × 97.5%.
    assert m.scenario(D("-0.1")).adjusted_equity == D("107800000")


def test_pm_pro_tiers_from_binances_announcement_are_usd_slices():
    """ORDI's PM Pro tiers after 2025-10-24 (Binance's announcement): 0-200,000 100%, 200,000-
    400,000 80%, 400,000-800,000 70%, 800,000-1,000,000 40%, then 20% up to 99,999,999,999 USD.
    500,000 USD of ORDI counts 200,000 + 200,000 × 80% + 100,000 × 70% = 430,000; with no v1 list
    at all the tiers are the rates (no sentence says they were not fetched)."""
    quoted(TIERS, "transition from fixed collateral rates to a tiered-collateral mode",
           "Floor(USD)Cap(USD)Collateral Ratio", "80200,000100%800,0001,200,00095%200,000400,00080%",
           "400,000800,00070%", "800,0001,000,00040%---1,000,00099,999,999,99920%")
    ordi = tiered("ORDI", ("0", "200000", "1"), ("200000", "400000", "0.8"),
                  ("400000", "800000", "0.7"), ("800000", "1000000", "0.4"),
                  ("1000000", "99999999999", "0.2"))
    m = tiered_model("ORDI", "100000", "5", [ordi])
    assert m.base.adjusted_equity == D("430000")
    assert not m.base.approximate and m.base.reasons == ()
    # Up 150%: 1,250,000 USD → 200,000 + 160,000 + 280,000 + 80,000 + 250,000 × 20% = 770,000.
    assert m.scenario(D("1.5")).adjusted_equity == D("770000")


@pytest.mark.parametrize("rows", [
    (),                                                    # no tiers at all
    (("0", "1000", "1"), ("1000", "500", "0.9")),          # a cap below its floor
    (("0", "1000", "1.2"),),                               # a rate above 1
    ((None, "1000", "1"),),                                # a missing bound
    (("0", "1000", "1"), ("500", "2000", "0.9")),          # overlapping tiers
])
def test_absurd_tiers_keep_the_flat_rate_and_say_so(rows):
    m = tiered_model("BTC", "1", "20000", [tiered("BTC", *rows)], flat="0.95")
    assert m.base.adjusted_equity == D("19000")  # 1 × 20,000 × 95%
    assert m.base.approximate
    assert m.base.reasons == ("The collateral tiers of BTC are empty or absurd, so its flat "
                              "collateral rate is used.",)


def test_with_only_the_tiers_an_asset_they_do_not_list_counts_at_0_and_is_named():
    m = RiskModel(Inputs(
        balances=[Balance.from_wire({"asset": "ORDI", "crossMarginAsset": "10"}),
                  Balance.from_wire({"asset": "XYZ", "crossMarginAsset": "10"})],
        tiered_collateral_rates=[tiered("ORDI", ("0", "200000", "1"))],
        index_prices=[AssetIndexPrice.from_wire({"asset": a, "assetIndexPrice": "5", "time": NOW_MS})
                      for a in ("ORDI", "XYZ")],
        um_brackets=[], cm_brackets=[], margin_leverage=[], now_ms=NOW_MS))
    assert m.base.adjusted_equity == D("50")
    assert m.base.reasons == ("No collateral rate for XYZ: it counts at 0 in the model.",)


# --- uniMMR = adjusted equity / maintenance margin, as Binance's own account body sends it -------


def test_binances_pm_pro_account_body_is_the_models_ratio_cut_to_8_places():
    """/sapi/v1/portfolio/account's docs example: accountEquity 122607.35137903 (after collateral
    rates), actualEquity 142607.35137903 (before), accountMaintMargin 23.72469206, uniMMR
    5167.92171923 = 122607.35137903 / 23.72469206 = 5167.92171923474… cut to 8 places. A book
    with those totals: 102,607.35137903 USDT, 1 BTC at 40,000 at a 50% rate (20,000 of haircut),
    and a 474.4938412 USDT loan at 10x (MMR 5%: 23.72469206 of MM). The model gives Binance's
    figure and its reconciliation finds no gap."""
    text = (RISK / "pro_account.docs.zh-CN.json").read_text(encoding="utf-8")
    body = json.loads(load_body_text(text))
    equity, actual = D(body["accountEquity"]), D(body["actualEquity"])
    mm, reported = D(body["accountMaintMargin"]), D(body["uniMMR"])
    loan = mm / D("0.05")
    m = RiskModel(Inputs(
        balances=[Balance.from_wire({"asset": "USDT", "crossMarginAsset": str(equity - 20000 + loan),
                                     "crossMarginBorrowed": str(loan)}),
                  Balance.from_wire({"asset": "BTC", "crossMarginAsset": "1"})],
        collateral_rates=[CollateralRate.from_wire({"asset": a, "collateralRate": r})
                          for a, r in (("USDT", "1"), ("BTC", "0.5"))],
        index_prices=[AssetIndexPrice.from_wire({"asset": a, "assetIndexPrice": p, "time": NOW_MS})
                      for a, p in (("USDT", "1"), ("BTC", "40000"))],
        margin_leverage=[MarginAssetLeverage.from_wire({"asset": "USDT", "leverage": 10})],
        um_brackets=[], cm_brackets=[], reported_unimmr=reported, now_ms=NOW_MS))
    r = m.base
    assert (r.adjusted_equity, r.maint_margin) == (equity, mm)
    assert sum((a.net * a.price for a in r.assets), D(0)) == actual
    assert r.unimmr is not None and r.unimmr.quantize(D("1e-8"), ROUND_DOWN) == reported
    assert not r.approximate
