"""The demo exchange's answers to the risk model's five inputs (pmtui.riskfeed), computed from the
demo book's current state so that the model, fed them, reproduces the demo's own uniMMR.

The demo counts every asset at full value and prices its COIN-M coin at the contract's mark, so:
collateral rates 1; index prices 1 for the stablecoins and the mark for the coin; the demo's own
maintenance tiers as every symbol's UM brackets; the COIN-M contract's USD tier as one coin
bracket at the current mark. The loan's margin leverage is 10x (a 5% maintenance ratio), which
the demo's maintenance margin carries too (MARGIN_MMR).

Handlers read the current market step and never move it (the demo moves a step when an account
endpoint is asked twice within one). Each takes (exchange, params, now) and returns JSON bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmtui.demo import DemoExchange

#: The demo loan asset's margin leverage, and the maintenance ratio Binance gives it.
MARGIN_LEVERAGE = 10
MARGIN_MMR_PERCENT = 5
#: Wide enough for any demo COIN-M position, in coins.
_CM_QTY_CAP = 1_000_000


def margin_mm(loan: int, interest: int) -> int:
    """The loan's maintenance margin in units of 1e-8: (principal + interest) x 5%."""
    return (loan + interest) * MARGIN_MMR_PERCENT // 100


def _assets(ex: DemoExchange) -> list[str]:
    from pmtui import demo

    snap = ex._current()
    return [*demo._ASSETS, *([snap.cm.leg.symbol.quote] if snap.cm is not None else [])]


def _prices(ex: DemoExchange, now: float) -> dict[str, str]:
    from pmtui import demo

    snap = ex._current()
    prices = {asset: "1.00000000" for asset in demo._ASSETS}
    if snap.cm is not None:
        prices[snap.cm.leg.symbol.quote] = demo._fixed(snap.cm.mark, 8)
    return prices


def collateral_rates(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    return demo._dumps([{"asset": a, "collateralRate": "1.0000"} for a in _assets(ex)])


def index_prices(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    time_ms = int(now * 1000)
    rows = [{"asset": a, "assetIndexPrice": p, "time": time_ms} for a, p in _prices(ex, now).items()]
    wanted = params.get("asset")
    if wanted is not None:
        rows = [r for r in rows if r["asset"] == wanted]
    return demo._dumps(rows)


def margin_leverage(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    return demo._dumps([{"asset": a, "leverage": MARGIN_LEVERAGE} for a in _assets(ex)])


def _um_brackets() -> list[dict[str, Any]]:
    from pmtui import demo

    rows, floor = [], 0
    for i, (cap, rate, cum, leverage) in enumerate(demo._TIERS, 1):
        rows.append({"bracket": i, "initialLeverage": leverage, "notionalCap": cap,
                     "notionalFloor": floor, "maintMarginRatio": rate, "cum": cum})
        floor = cap
    return rows


def um_brackets(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    brackets = _um_brackets()
    return demo._dumps([{"symbol": s.name, "brackets": brackets} for s in ex._market])


def cm_brackets(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    """The COIN-M contract's maintenance as the demo computes it (its USD tier, a constant USD
    amount off), as a bracket in coins at the current mark: MM = rate x coins - cum / mark."""
    from pmtui import demo

    cm = ex._current().cm
    if cm is None:
        return b"[]"
    rate, cum = demo._tier(abs(cm.leg.contracts) * demo._CM_CONTRACT)
    bracket = {"bracket": 1, "initialLeverage": demo._CM_LEVERAGE, "qtyCap": _CM_QTY_CAP,
               "qtyFloor": 0, "maintMarginRatio": rate, "cum": demo._fixed(cum / cm.mark, 8)}
    return demo._dumps([{"symbol": cm.leg.symbol.name, "brackets": [bracket]}])


#: path -> (weight, handler): the demo's routes for the model's inputs (signed, like Binance's).
RISK_ROUTES = {
    "/sapi/v1/portfolio/collateralRate": (50, collateral_rates),
    "/sapi/v1/portfolio/asset-index-price": (1, index_prices),
    "/sapi/v1/portfolio/margin-asset-leverage": (50, margin_leverage),
    "/papi/v1/um/leverageBracket": (1, um_brackets),
    "/papi/v1/cm/leverageBracket": (1, cm_brackets),
}
