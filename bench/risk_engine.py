"""7. Risk engine: the uniMMR model of a 200-position book, its stress ladder (11 moves, the whole
book and each of 10 underlyings) and both liquidation searches (down and up, every non-stablecoin
together), from the inputs to the figures, on one core.

Baseline, same run and book: a plain Decimal sum of the book (Σ qty × mark over the legs and
Σ net over the balances), the least any figure about the book costs.

Timed in CPU time of this process (time.process_time: one core, whatever else the shared
machine runs beside it), the engine and the baseline side by side; medians.
Prints risk_engine_ms, risk_view_ms (the whole `view.risk` block, with every underlying's own
liquidation searches), decimal_sum_ms.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

from common import emit, median, parse_args

from pmtui.model import CmLeg, Inputs, RiskModel, UmLeg
from pmtui.models import Balance
from pmtui.riskinputs import AssetIndexPrice, CollateralRate, MarginAssetLeverage, SymbolBrackets

UNDERLYINGS = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "LINK", "AVAX", "DOT")
# Binance's BTCUSDT brackets of 2021 (notional cap, MMR, cum), as public calculators list them.
_TIERS = ((50_000, "0.004", "0"), (250_000, "0.005", "50"), (1_000_000, "0.01", "1300"),
          (10_000_000, "0.025", "16300"), (20_000_000, "0.05", "266300"),
          (50_000_000, "0.1", "1266300"), (100_000_000, "0.125", "2516300"),
          (200_000_000, "0.15", "5016300"), (300_000_000, "0.25", "25016300"),
          (500_000_000, "0.5", "100016300"))


def _brackets(symbol: str, coin: bool, scale: D) -> SymbolBrackets:
    rows, floor = [], D(0)
    for i, (cap, mmr, cum) in enumerate(_TIERS, 1):
        c = D(cap) / scale
        rows.append({"bracket": i, ("qtyCap" if coin else "notionalCap"): c,
                     ("qtyFloor" if coin else "notionalFloor"): floor,
                     "maintMarginRatio": D(mmr), "cum": D(cum) / scale})
        floor = c
    return SymbolBrackets.from_wire({"symbol": symbol, "brackets": rows})


def book() -> Inputs:
    """200 legs: per underlying, hedge-mode long and short on USDT and USDC perpetuals and a
    dated USDT contract, and COIN-M perpetual and quarterly legs (20 legs each)."""
    um, cm, um_b, cm_b = [], [], [], []
    balances = [Balance.from_wire({"asset": "USDT", "umWalletBalance": "-2000000"}),
                Balance.from_wire({"asset": "USDC", "umWalletBalance": "300000",
                                   "crossMarginBorrowed": "0"})]
    prices = {"USDT": D("0.9998"), "USDC": D("1.0001")}
    for k, u in enumerate(UNDERLYINGS):
        mark = D(60000) / D(2 ** k)
        prices[u] = mark
        balances.append(Balance.from_wire({"asset": u, "crossMarginAsset": str(D(3) * 2 ** k),
                                           "crossMarginBorrowed": str(D("0.5") * 2 ** k),
                                           "cmWalletBalance": str(D(1) * 2 ** k)}))
        for j, sym in enumerate((f"{u}USDT", f"{u}USDC", f"{u}USDT_260327")):
            um_b.append(_brackets(sym, False, D(1)))
            for n in range(4 if j < 2 else 2):  # 4 + 4 + 2 = 10 UM legs
                amount = D(2 ** (n % 3)) * D(10) / mark * D(1000) * (1 if n % 2 == 0 else -1)
                um.append(UmLeg(sym, amount.quantize(D("0.001")), mark + n))
        for j, sym in enumerate((f"{u}USD_PERP", f"{u}USD_260327")):
            cm_b.append(_brackets(sym, True, mark))
            for n in range(5):  # 10 COIN-M legs
                cm.append(CmLeg(sym, D(50 + 10 * n) * (1 if (n + j) % 2 == 0 else -1), mark + n))
    assert len(um) + len(cm) == 200
    return Inputs(
        balances=balances, um=um, cm=cm, um_brackets=um_b, cm_brackets=cm_b,
        collateral_rates=[CollateralRate.from_wire({"asset": a, "collateralRate": "0.95"})
                          for a in prices],
        index_prices=[AssetIndexPrice.from_wire({"asset": a, "assetIndexPrice": str(p)})
                      for a, p in prices.items()],
        margin_leverage=[MarginAssetLeverage.from_wire({"asset": a, "leverage": 5}) for a in prices],
    )


def engine(inputs: Inputs) -> RiskModel:
    m = RiskModel(inputs)  # the model (its base result is computed here)
    m.ladder()
    for u in m.underlyings[:10]:
        m.ladder(u)
    m.liquidation_move()  # both searches: down and up
    return m


def decimal_sum(inputs: Inputs) -> D:
    total = D(0)
    for leg in inputs.um:
        total += leg.amount * leg.mark
    for c in inputs.cm:
        total += c.contracts * c.mark
    for b in inputs.balances:
        total += (b.crossMarginAsset or 0) + (b.umWalletBalance or 0)
    return total


def measure(quick: bool) -> dict[str, float]:
    inputs = book()
    reps = 20 if quick else 100
    clock = time.process_time
    eng, view, base = [], [], []
    for _ in range(reps):
        t0 = clock()
        decimal_sum(inputs)
        t1 = clock()
        engine(inputs)
        t2 = clock()
        RiskModel(inputs).to_json()
        t3 = clock()
        base.append(t1 - t0)
        eng.append(t2 - t1)
        view.append(t3 - t2)
    return {"risk_engine_ms": median(eng) * 1000, "risk_view_ms": median(view) * 1000,
            "decimal_sum_ms": median(base) * 1000}


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
