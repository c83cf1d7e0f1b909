"""pmtui.model: uniMMR from first principles, the what-if, the ladder and the liquidation search.

Binance's own figures come from tests/fixtures/real/risk/ (quoted with their source there)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmtui.model import (
    CmLeg,
    Inputs,
    RiskModel,
    UmLeg,
    split_symbol,
)
from pmtui.models import Balance
from pmtui.riskinputs import AssetIndexPrice, CollateralRate, MarginAssetLeverage, SymbolBrackets
from tests.support.sentences import assert_sentence

RISK = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "risk"
NOW_MS = 1_760_000_000_000
BIG = 10**12


def bal(asset: str, **fields: str) -> Balance:
    return Balance.from_wire({"asset": asset, **fields})


def rates(**by_asset: str) -> list[CollateralRate]:
    return [CollateralRate.from_wire({"asset": a, "collateralRate": r}) for a, r in by_asset.items()]


def prices(**by_asset: str) -> list[AssetIndexPrice]:
    return [AssetIndexPrice.from_wire({"asset": a, "assetIndexPrice": p, "time": NOW_MS})
            for a, p in by_asset.items()]


def brackets(symbol: str, *rows: tuple, qty: bool = False) -> SymbolBrackets:
    """rows: (cap, mmr, cum), floors implied."""
    cap_key, floor_key = ("qtyCap", "qtyFloor") if qty else ("notionalCap", "notionalFloor")
    out, floor = [], 0
    for i, (cap, mmr, cum) in enumerate(rows, 1):
        out.append({"bracket": i, cap_key: cap, floor_key: floor, "maintMarginRatio": D(mmr),
                    "cum": D(cum)})
        floor = cap
    return SymbolBrackets.from_wire({"symbol": symbol, "brackets": out})


def book(**overrides) -> Inputs:
    """10,000 USDT and 1 BTC (95% collateral), long 2 BTCUSDT at 50,000 in two brackets."""
    base = dict(
        balances=[bal("USDT", umWalletBalance="10000"), bal("BTC", crossMarginAsset="1")],
        um=[UmLeg("BTCUSDT", D(2), D(50000))],
        cm=[],
        um_brackets=[brackets("BTCUSDT", (50000, "0.004", "0"), (250000, "0.005", "50"))],
        cm_brackets=[],
        collateral_rates=rates(USDT="1", BTC="0.95"),
        index_prices=prices(USDT="1", BTC="50000"),
        margin_leverage=[],
        now_ms=NOW_MS,
    )
    base.update(overrides)
    return Inputs(**base)


# --- symbols ------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol, parts", [
    ("BTCUSDT", ("BTC", "USDT")), ("BTCUSDC", ("BTC", "USDC")), ("BTCUSD_PERP", ("BTC", "USD")),
    ("BTCUSD_250627", ("BTC", "USD")), ("BTCUSDT_250627", ("BTC", "USDT")),
    ("1000PEPEUSDT", ("PEPE", "USDT")), ("1MBABYDOGEUSDT", ("BABYDOGE", "USDT")),
    ("1INCHUSDT", ("1INCH", "USDT")), ("ETHFDUSD", ("ETH", "FDUSD")), ("USDT", None), ("XYZ", None),
])
def test_a_symbol_splits_into_its_underlying_and_quote(symbol, parts):
    assert split_symbol(symbol) == parts


# --- Binance's formulas and its worked example --------------------------------------------------


def test_the_model_is_binances_formula_by_hand():
    m = RiskModel(book())
    r = m.base
    # Equity: 10,000 × 1 + 1 BTC × 50,000 × 0.95. MM: 2 × 50,000 = 100,000 notional is in the
    # second bracket: 0.005 × 100,000 − 50 = 450 (FAQ: futuresMM_UM = |MMR × qty × mark| − cum).
    assert r.adjusted_equity == D("57500") and r.maint_margin == D("450")
    assert r.unimmr == D("57500") / D("450")
    assert not r.approximate and r.reasons == () and r.missing == ()


def test_pm_pro_example_equity_and_margin_mm_columns():
    """risk/pm_pro_collateral_example.en.md: Equity = MarginAsset − MarginLoan (1,000 / 0.06 / 5)
    and Margin MM (0 / 0.004 / 1.5), the loans at 3x leverage (MMR 10%, same page)."""
    text = (RISK / "pm_pro_collateral_example.en.md").read_text(encoding="utf-8")
    assert "BTC | 0.1 | 0.04 | 0.06 | 0.004 |" in text and "ETH | 20 | 15 | 5 | 1.5 |" in text
    m = RiskModel(Inputs(
        balances=[bal("USDT", crossMarginAsset="1000"),
                  bal("BTC", crossMarginAsset="0.1", crossMarginBorrowed="0.04"),
                  bal("ETH", crossMarginAsset="20", crossMarginBorrowed="15")],
        collateral_rates=rates(USDT="1", BTC="1", ETH="1"),
        index_prices=prices(USDT="1", BTC="40000", ETH="3000"),
        margin_leverage=[MarginAssetLeverage.from_wire({"asset": a, "leverage": 3})
                         for a in ("BTC", "ETH")],
        um_brackets=[], cm_brackets=[]))
    lines = {a.asset: a for a in m.base.assets}
    assert {a: (lines[a].net, lines[a].margin_mm / lines[a].price) for a in lines} == {
        "USDT": (D("1000"), D(0)), "BTC": (D("0.06"), D("0.004")), "ETH": (D("5"), D("1.5"))}
    assert m.base.margin_mm == D("0.004") * 40000 + D("1.5") * 3000
    assert not m.base.approximate


@pytest.mark.parametrize("amount, entry, mark, upnl", [
    (D("-0.05"), 52000, 40000, D("600")),  # BTCUSDT_PERP: short 0.05 BTC, "600 USDT"
    (D("0.04"), 52350, 42000, D("-414")),  # BTCUSDT_20220624: long 0.04 BTC, "-414 US(DT)"
])
def test_pm_pro_example_upnl_row_is_the_what_if_of_the_entry_price(amount, entry, mark, upnl):
    """A leg opened at its entry price, moved to the example's mark price, carries the example's
    unrealised PnL into its quote asset's net."""
    m = RiskModel(Inputs(balances=[bal("USDT", umWalletBalance="5000")],
                         um=[UmLeg("BTCUSDT", amount, D(entry))],
                         um_brackets=[brackets("BTCUSDT", (BIG, "0.005", "0"))],
                         collateral_rates=rates(USDT="1"), index_prices=prices(USDT="1"),
                         margin_leverage=[], cm_brackets=[]))
    moved = m.scenario(D(mark) / D(entry) - 1, "BTC")
    usdt = next(a for a in moved.assets if a.asset == "USDT")
    assert (usdt.net - 5000).quantize(D("0.01")) == upnl
    # futuresMM_UM = |MMR × qty × mark| − cum at the new mark (0.5% bracket, as in the example).
    assert moved.futures_mm.quantize(D("0.0001")) == (D("0.005") * abs(amount) * mark).quantize(
        D("0.0001"))


def test_coin_m_leg_moves_by_its_inverse_pnl_and_coin_notional():
    """BTCUSD_PERP long 10,000 USD (100 contracts of 100 USD) from 50,000 to 40,000: uPnL is
    10,000 × (1/50,000 − 1/40,000) = −0.05 BTC; MM 0.5% × 10,000/40,000 BTC, valued in USD."""
    m = RiskModel(Inputs(balances=[bal("BTC", cmWalletBalance="0.1")],
                         cm=[CmLeg("BTCUSD_PERP", D(100), D(50000))],
                         cm_brackets=[brackets("BTCUSD_PERP", (50, "0.005", "0"), qty=True)],
                         collateral_rates=rates(BTC="1"), index_prices=prices(BTC="50000"),
                         margin_leverage=[], um_brackets=[]))
    moved = m.scenario(D("-0.2"), "BTC")
    (btc,) = moved.assets
    assert btc.net == D("0.05") and btc.price == D("40000")
    assert moved.futures_mm == D("0.005") * (D(10000) / D(40000)) * D(40000)


def test_the_haircut_bites_only_a_positive_net():
    m = RiskModel(book(balances=[bal("USDT", umWalletBalance="100000"),
                                 bal("BTC", crossMarginAsset="1", crossMarginBorrowed="3")],
                       margin_leverage=[MarginAssetLeverage.from_wire({"asset": "BTC",
                                                                       "leverage": 5})]))
    btc = next(a for a in m.base.assets if a.asset == "BTC")
    assert btc.net == -2 and btc.equity == D(-100000)  # a debt counts in full, no 95%
    assert btc.margin_mm == 3 * D("0.08") * 50000  # the loan at 5x: MMR 8%


# --- the what-if --------------------------------------------------------------------------------


def _mixed() -> RiskModel:
    legs = [UmLeg("BTCUSDT", D(1), D(50000)), UmLeg("BTCUSDC", D(1), D(50010)),
            UmLeg("ETHUSDT", D(-10), D(3000)), UmLeg("1000PEPEUSDT", D(1000), D("0.01"))]
    return RiskModel(book(
        balances=[bal("USDT", umWalletBalance="20000"), bal("USDC", umWalletBalance="5000"),
                  bal("BTC", crossMarginAsset="1"), bal("PEPE", crossMarginAsset="1000000")],
        um=legs, cm=[CmLeg("BTCUSD_PERP", D(10), D(50000))],
        um_brackets=[brackets(s.symbol, (BIG, "0.01", "0")) for s in legs],
        cm_brackets=[brackets("BTCUSD_PERP", (BIG, "0.01", "0"), qty=True)],
        collateral_rates=rates(USDT="1", USDC="1", BTC="0.95", PEPE="0.5"),
        index_prices=prices(USDT="1", USDC="1", BTC="50000", PEPE="0.00001")))


def test_one_underlying_moves_its_collateral_and_every_symbol_on_it_together():
    m = _mixed()
    base = {a.asset: a for a in m.base.assets}
    moved = {a.asset: a for a in m.scenario(D("-0.1"), "BTC").assets}
    assert moved["BTC"].price == D(45000)  # collateral
    assert moved["USDT"].net - base["USDT"].net == D(-5000)  # BTCUSDT: 1 × 50,000 × −10%
    assert moved["USDC"].net - base["USDC"].net == D(-5001)  # BTCUSDC moved as well
    cm_upnl = D(1000) / D(50000) * (1 - 1 / D("0.9"))  # BTCUSD_PERP, 10 × 100 USD, in BTC
    assert abs(moved["BTC"].net - base["BTC"].net - cm_upnl) < D("1e-25")
    assert moved["PEPE"].price == base["PEPE"].price  # ETH and PEPE stay
    assert moved["USDT"].price == 1 and moved["USDC"].price == 1


def test_a_move_of_everything_leaves_stablecoins_and_moves_1000pepe_with_pepe():
    m = _mixed()
    base = {a.asset: a for a in m.base.assets}
    moved = {a.asset: a for a in m.scenario(D("0.2")).assets}
    assert moved["USDT"].price == 1 and moved["USDC"].price == 1
    assert moved["PEPE"].price == base["PEPE"].price * D("1.2")
    # USDT: +20% of BTCUSDT (+10,000), ETHUSDT short (−6,000), 1000PEPEUSDT (+2).
    assert moved["USDT"].net - base["USDT"].net == D(10000) - D(6000) + D(2)
    assert m.scenario(D(0)) == m.base


def test_a_bigger_notional_moves_into_its_next_bracket():
    m = RiskModel(book(balances=[bal("USDT", umWalletBalance="50000")], um=[
        UmLeg("BTCUSDT", D("0.8"), D(50000))]))  # 40,000: first bracket
    assert m.base.futures_mm == D("0.004") * 40000
    up = m.scenario(D("0.5"))  # 60,000: second bracket, 0.005 × 60,000 − 50
    assert up.futures_mm == D("0.005") * 60000 - 50


# --- ladder and liquidation ---------------------------------------------------------------------


def test_ladder_reads_liquidated_at_or_past_liquidation_never_a_negative_unimmr():
    rungs = {r.move: r for r in RiskModel(book()).ladder()}
    assert len(rungs) == 11
    assert rungs[D("-0.5")].liquidated and rungs[D("-0.5")].level == "LIQUIDATED"
    assert rungs[D("0")].level == "OK" and not rungs[D("0")].liquidated
    out = RiskModel(book()).to_json()
    assert out["ladder"][0] == {"move": "-0.5", "uniMMR": "liquidated", "level": "LIQUIDATED"}
    assert all(not (r["uniMMR"] or "0").startswith("-") for r in out["ladder"])


def test_liquidation_move_lands_on_the_target_and_is_the_smallest():
    m = RiskModel(book())
    c = m.liquidation_move()
    assert c.up is None and c.down is not None and D("-0.39") < c.down < D("-0.38")
    assert abs(m.scenario(c.down).unimmr - D("1.05")) <= D("1e-6")
    # Smallest: every rung of a finer ladder above it is above the target.
    assert all(r.unimmr > D("1.05") for r in m.ladder(moves=[D(i) / 1000 for i in range(0, -380, -5)]))
    for target in (D("1.2"), D("1.5")):
        down = m.liquidation_move(target).down
        assert abs(m.scenario(down).unimmr - target) <= D("1e-6")


def test_a_book_already_past_the_target_reads_zero_and_an_unreachable_one_null():
    already = RiskModel(book(balances=[bal("USDT", umWalletBalance="-99300")]))
    assert already.base.liquidated and already.liquidation_move().down == 0
    safe = RiskModel(book(balances=[bal("USDT", umWalletBalance="1000000")], um=[
        UmLeg("BTCUSDT", D("0.001"), D(50000))]))
    assert safe.liquidation_move().down is None and safe.liquidation_move().up is None


def test_short_book_liquidates_going_up():
    m = RiskModel(book(balances=[bal("USDT", umWalletBalance="20000")],
                       um=[UmLeg("BTCUSDT", D(-2), D(50000))]))
    c = m.liquidation_move()
    assert c.down is None and c.up is not None and c.up > 0
    assert abs(m.scenario(c.up).unimmr - D("1.05")) <= D("1e-6")


# --- reconciliation and faults ------------------------------------------------------------------


def test_reconciliation_within_two_percent_is_exact_and_beyond_is_approximate():
    model = D(57500) / D(450)
    close = RiskModel(book(reported_unimmr=model * D("1.01")))
    assert not close.base.approximate
    far = RiskModel(book(reported_unimmr=D("100.5")))
    assert far.base.approximate
    (reason,) = far.base.reasons
    assert_sentence(reason)
    assert "2%" in reason and "100.5" in reason


HOSTILE = {
    "rate above 1": dict(collateral_rates=rates(USDT="1", BTC="1.5")),
    "negative price": dict(index_prices=prices(USDT="1", BTC="-50000")),
    "empty brackets": dict(um_brackets=[SymbolBrackets.from_wire({"symbol": "BTCUSDT",
                                                                   "brackets": []})]),
    "absurd bracket": dict(um_brackets=[brackets("BTCUSDT", (BIG, "1.5", "0"))]),
    "no bracket for the symbol": dict(um_brackets=[brackets("ETHUSDT", (BIG, "0.01", "0"))]),
    "brackets not fetched": dict(um_brackets=None),
    "rates not fetched": dict(collateral_rates=None),
    "prices not fetched": dict(index_prices=None),
    "no rate for BTC": dict(collateral_rates=rates(USDT="1")),
    "no price for BTC": dict(index_prices=prices(USDT="1")),
    "stale price": dict(index_prices=[AssetIndexPrice.from_wire(
        {"asset": "BTC", "assetIndexPrice": "50000", "time": NOW_MS - 3_600_000})]
        + prices(USDT="1")),
    "loan with unknown leverage": dict(balances=[bal("USDT", umWalletBalance="10000"),
                                                 bal("BTC", crossMarginAsset="1",
                                                     crossMarginBorrowed="0.5")]),
    "zero mark": dict(um=[UmLeg("BTCUSDT", D(2), D(0))]),
    "caller's refusal": dict(problems=["Binance refused the margin leverages (HTTP 403)."]),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_bad_input_makes_the_model_approximate_with_one_sentence(case):
    m = RiskModel(book(**HOSTILE[case]))
    assert m.base.approximate, case
    for reason in m.base.reasons:
        assert_sentence(reason)
    out = m.to_json()  # the whole view still builds
    assert out["model"]["approximate"] is True and out["model"]["reasons"]
    json.dumps(out)


def test_hostile_inputs_err_on_the_safe_side():
    exact = RiskModel(book()).base.unimmr
    assert RiskModel(book(**HOSTILE["rate above 1"])).base.unimmr == D(60000) / D(450)  # rate 1
    assert RiskModel(book(**HOSTILE["no rate for BTC"])).base.unimmr < exact  # BTC counts at 0
    loan = RiskModel(book(**HOSTILE["loan with unknown leverage"])).base
    assert loan.margin_mm == D("0.5") * D("0.10") * 50000  # the strictest margin ratio
    assert "margin leverage BTC" in loan.missing


# --- view.risk ----------------------------------------------------------------------------------


def test_to_json_has_the_view_risk_layout_with_exact_decimal_strings():
    out = RiskModel(book(reported_unimmr=D("127.77777"))).to_json()
    assert out["model"] == {"uniMMR": "127.7778", "adjustedEquity": "57500.00",
                            "maintMargin": "450.00", "reportedUniMMR": "127.77777",
                            "difference": "0.0000", "approximate": False, "reasons": []}
    assert out["liquidationMove"] == {"down": "-0.3880", "up": None}
    assert set(out["moves"]) == {"1.05", "1.2", "1.5"}
    assert list(out["underlyings"]) == ["BTC"]
    assert out["underlyings"]["BTC"]["down"] == "-0.3880"
    assert [r["move"] for r in out["ladder"]] == ["-0.5", "-0.3", "-0.2", "-0.1", "-0.05", "0",
                                                  "0.05", "0.1", "0.2", "0.3", "0.5"]
    assert out["ladder"][3] == {"move": "-0.1", "uniMMR": "106.8750", "level": "OK"}


# --- properties ---------------------------------------------------------------------------------

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_money = st.integers(min_value=1, max_value=10**6).map(D)
_qty = st.integers(min_value=1, max_value=10**4).map(lambda i: D(i) / 100)
_price = st.integers(min_value=1, max_value=10**5).map(D)
_mmr = st.sampled_from(["0.004", "0.005", "0.01", "0.025", "0.05"])
_move = st.integers(min_value=-90, max_value=300).map(lambda i: D(i) / 100)


@st.composite
def long_books(draw, one_bracket: bool, haircut: bool):
    n = draw(st.integers(min_value=1, max_value=4))
    names = ["BTC", "ETH", "SOL", "XRP"][:n]
    legs = [UmLeg(f"{u}USDT", draw(_qty), draw(_price)) for u in names]
    spot = {u: draw(_qty) for u in names}
    hair = {u: (draw(st.sampled_from(["0.5", "0.9", "0.95"])) if haircut else "1") for u in names}
    if one_bracket:
        table = [brackets(leg.symbol, (BIG, draw(_mmr), "0")) for leg in legs]
    else:
        table = [brackets(leg.symbol, (50000, "0.004", "0"), (250000, "0.005", "50"),
                          (BIG, "0.01", "1300")) for leg in legs]
    return Inputs(
        balances=[bal("USDT", umWalletBalance=str(draw(_money)))]
        + [bal(u, crossMarginAsset=str(q)) for u, q in spot.items()],
        um=legs, um_brackets=table, cm_brackets=[], margin_leverage=[],
        collateral_rates=rates(USDT="1", **hair),
        index_prices=prices(USDT="1", **{leg.symbol[:-4]: str(leg.mark) for leg in legs}))


@PROPS
@given(long_books(one_bracket=True, haircut=False), _move)
def test_with_haircut_1_and_one_bracket_the_model_is_the_linear_estimate(inp, move):
    m = RiskModel(inp)
    base, moved = m.base, m.scenario(move)
    exposure = sum((leg.amount * leg.mark for leg in inp.um), D(0))
    spot = sum((b.crossMarginAsset * leg.mark for b in inp.balances for leg in inp.um
                if b.asset == leg.symbol[:-4]), D(0))
    assert moved.adjusted_equity == base.adjusted_equity + (exposure + spot) * move
    assert abs(moved.maint_margin - base.maint_margin * (1 + move)) <= D("1e-18") * base.maint_margin


@PROPS
@given(long_books(one_bracket=True, haircut=True))
def test_the_ladder_of_a_long_only_book_is_monotone(inp):
    m = RiskModel(inp)
    ratios = [r.unimmr for r in m.ladder()]
    equities = [m.scenario(r.move).adjusted_equity for r in m.ladder()]
    assert equities == sorted(equities)  # more price, more equity: always
    # uniMMR = A/(1+m) + B on one bracket: monotone, one way or the other.
    assert ratios == sorted(ratios) or ratios == sorted(ratios, reverse=True)


@PROPS
@given(long_books(one_bracket=False, haircut=True), st.sampled_from(["1.05", "1.2", "1.5"]))
def test_the_liquidation_move_found_gives_the_target_within_1e_6(inp, target):
    m = RiskModel(inp)
    for under in (None, *m.underlyings):
        c = m.liquidation_move(D(target), under)
        for move in (c.down, c.up):
            if move is not None and move != 0:
                got = m.scenario(move, under).unimmr
                assert got is not None and abs(got - D(target)) <= D("1e-6")
                assert D("-0.99") <= move <= 3


# --- the fast paths agree with the formula, leg by leg ------------------------------------------

_TIERS = ((50000, "0.004", "0"), (250000, "0.005", "50"), (1000000, "0.01", "1300"),
          (10000000, "0.025", "16300"))


def reference_unimmr(inp: Inputs, move: D, under: str | None) -> D:
    """Binance's FAQ formula, written out naively (no caches, no segments)."""
    stable = inp.stablecoins

    def s_of(u: str) -> D:
        return 1 + move if u not in stable and (under is None or u == under) else D(1)

    price = {p.asset: p.assetIndexPrice for p in inp.index_prices}
    rate = {r.asset: r.collateralRate for r in inp.collateral_rates}
    lev = {x.asset: x.leverage for x in inp.margin_leverage}
    table = {b.symbol: b.brackets for b in [*inp.um_brackets, *inp.cm_brackets]}
    net = {b.asset: (b.crossMarginAsset or 0) - (b.crossMarginBorrowed or 0) + (b.umWalletBalance or 0)
           + (b.cmWalletBalance or 0) for b in inp.balances}
    loan = {b.asset: b.crossMarginBorrowed or D(0) for b in inp.balances}

    def mm_of(symbol: str, notional: D) -> D:
        rows = table[symbol]
        row = next((r for r in rows if notional < r.cap), rows[-1])
        return row.maintMarginRatio * notional - row.cum

    futures = D(0)
    for leg in inp.um:
        u, q = split_symbol(leg.symbol)
        net[q] = net.get(q, D(0)) + leg.amount * leg.mark * (s_of(u) - 1)
        futures += mm_of(leg.symbol, abs(leg.amount * leg.mark * s_of(u))) * price[q]
    for c in inp.cm:
        coin = split_symbol(c.symbol)[0]
        usd = c.contracts * (100 if coin == "BTC" else 10)
        net[coin] += usd * (1 / c.mark - 1 / (c.mark * s_of(coin)))
        futures += mm_of(c.symbol, abs(usd) / (c.mark * s_of(coin))) * price[coin] * s_of(coin)
    equity, margin = D(0), D(0)
    for a, n in net.items():
        p = price[a] * s_of(a)
        equity += min(n * p * rate[a], n * p)
        margin += loan[a] * {3: D("0.1"), 5: D("0.08"), 10: D("0.05")}.get(lev.get(a), 0) * p
    return equity / (futures + margin)


@st.composite
def mixed_books(draw):
    names = draw(st.lists(st.sampled_from(["BTC", "ETH", "SOL"]), min_size=1, max_size=3,
                          unique=True))
    marks = {u: draw(_price) for u in names}
    um, cm = [], []
    for u in names:
        for quote in draw(st.lists(st.sampled_from(["USDT", "USDC"]), min_size=1, unique=True)):
            for sign in draw(st.lists(st.sampled_from([1, -1]), min_size=1, max_size=2)):
                um.append(UmLeg(f"{u}{quote}", sign * draw(_qty) * 10, marks[u]))
        if draw(st.booleans()):
            cm.append(CmLeg(f"{u}USD_PERP", D(draw(st.integers(-5000, 5000).filter(bool))),
                            marks[u]))
    symbols = {leg.symbol for leg in um}
    balances = [bal("USDT", umWalletBalance=str(draw(_money) * 10)), bal("USDC", umWalletBalance="0")]
    balances += [bal(u, crossMarginAsset=str(draw(_qty)), crossMarginBorrowed=str(draw(_qty) / 4))
                 for u in names]
    return Inputs(
        balances=balances, um=um, cm=cm,
        um_brackets=[brackets(s, *_TIERS) for s in symbols],
        cm_brackets=[brackets(f"{u}USD_PERP", *((D(cap) / marks[u], mmr, D(cum) / marks[u])
                                                  for cap, mmr, cum in _TIERS), qty=True)
                     for u in names],
        collateral_rates=rates(USDT="1", USDC="0.99", **{u: "0.9" for u in names}),
        index_prices=prices(USDT="1", USDC="1", **{u: str(marks[u]) for u in names}),
        margin_leverage=[MarginAssetLeverage.from_wire({"asset": u, "leverage": 5}) for u in names],
    )


@PROPS
@given(mixed_books(), _move, st.sampled_from([None, "BTC", "ETH", "SOL"]))
def test_every_path_of_the_model_agrees_with_the_formula_leg_by_leg(inp, move, under):
    m = RiskModel(inp)
    expected = reference_unimmr(inp, move, under)
    equity, mm = m.unimmr_at(move, under)  # the fast path: segments, touched assets only
    full = m.scenario(move, under)  # the detailed path
    for got in (equity / mm, full.unimmr):
        assert abs(got - expected) <= D("1e-18") * (1 + abs(expected)), (got, expected)


_wild = st.one_of(st.just(""), st.just("0"), st.just("-1"), st.just("1e-30"), st.just("1e40"),
                  st.just("abc"), st.integers(-10**9, 10**9).map(str), st.just(None))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["USDT", "BTC", "ETH", "X"]), _wild, _wild), max_size=4),
       st.lists(st.tuples(st.sampled_from(["BTCUSDT", "ETHUSDC", "1000XUSDT", "NOPE"]),
                          st.integers(-10**6, 10**6), st.integers(0, 10**6)), max_size=4),
       _wild, _wild, _wild, st.booleans())
def test_no_input_makes_the_model_raise(rows, legs, rate, price, mmr, fetched):
    inp = Inputs(
        balances=[Balance.from_wire({"asset": a, "crossMarginAsset": x, "crossMarginBorrowed": y})
                  for a, x, y in rows],
        um=[UmLeg(s, D(q), D(p)) for s, q, p in legs],
        um_brackets=[SymbolBrackets.from_wire({"symbol": "BTCUSDT", "brackets": [
            {"notionalCap": price, "maintMarginRatio": mmr, "cum": rate}]})] if fetched else None,
        collateral_rates=[CollateralRate.from_wire({"asset": "BTC", "collateralRate": rate})],
        index_prices=[AssetIndexPrice.from_wire({"asset": "BTC", "assetIndexPrice": price})],
        margin_leverage=[MarginAssetLeverage.from_wire({"asset": "BTC", "leverage": mmr})],
        cm_brackets=[])
    out = RiskModel(inp).to_json()
    json.dumps(out)
    for reason in out["model"]["reasons"]:
        assert_sentence(reason)


def test_legs_from_binances_position_risk_bodies():
    """Binance's hedge-mode positionRisk examples become legs (open rows only, with the mark)."""
    from pmtui.model import cm_legs, um_legs
    from tests.core.test_real_payloads import parsed

    um = parsed("docs/position_risk_hedge.en.json")  # BTCUSDT LONG 0.001, SHORT 0.000
    (leg,) = um_legs(um, {("BTCUSDT", "LONG"): D("1.5")})
    assert leg == UmLeg("BTCUSDT", D("0.001"), D("21123.05052574"), D("1.5"))
    (cm, _) = cm_legs(parsed("docs/cm_position_risk_hedge.en.json"))  # the page prints one row twice
    assert cm == CmLeg("BTCUSD_201225", D(1), D("11788.66626667"))
    # A SHORT row is a short whatever the sign it is sent with.
    short = um[0].model_copy(update={"positionSide": "SHORT"})
    assert um_legs([short])[0].amount == D("-0.001")


def test_an_asset_futures_settle_in_needs_a_rate_even_at_a_negative_net():
    m = RiskModel(book(balances=[bal("USDT", umWalletBalance="-10"), bal("BTC", crossMarginAsset="1")],
                       collateral_rates=rates(BTC="0.95")))
    assert "collateral rate USDT" in m.base.missing


def test_the_model_is_pure_no_terminal_and_no_network_code():
    import subprocess
    import sys

    code = ("import sys, pmtui.model, pmtui.riskinputs; "
            "print(sorted(m for m in ('textual', 'httpx', 'websockets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stablecoin_pair_never_moves_and_is_no_underlying():
    m = RiskModel(book(um=[UmLeg("BTCUSDT", D(2), D(50000)), UmLeg("USDCUSDT", D(1000), D(1))],
                       um_brackets=[brackets("BTCUSDT", (BIG, "0.01", "0")),
                                    brackets("USDCUSDT", (BIG, "0.01", "0"))]))
    assert m.underlyings == ("BTC",)
    assert m.scenario(D("-0.5"), "USDC") == m.base
    moved = m.scenario(D("-0.5"))
    assert moved.futures_mm == D("0.01") * 50000 + D("0.01") * 1000  # USDCUSDT's MM stays
