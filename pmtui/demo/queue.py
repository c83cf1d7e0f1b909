"""The demo's ADL queue and trading locks: /papi/v1/um|cm/adlQuantile, /papi/v1/um/accountConfig
and /papi/v1/um/apiTradingStatus, read off the current step (never a new one), in Binance's shapes.

A position's ADL quantile grows with its return on margin, as Binance ranks the queue by profit
and leverage: a loss is 0, and +300% or more on the margin is 4 (the front). The normal book
stays behind that; in the margin-call scenario the one winning leg reaches the front, and
pmtui's alert fires.
The account may trade: canTrade true, and no quantitative rule locks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmtui.demo import DemoExchange


#: Return on margin from which a position is in quantile 2, 3 and 4.
_STEPS = (0.5, 1.5, 3.0)


def _quantile(upnl: float, margin: float) -> int:
    if margin <= 0 or upnl <= 0:
        return 0
    roe = upnl / margin
    return 1 + sum(roe >= step for step in _STEPS)


def _sides(quantile: int, side: str, hedge: bool) -> dict[str, int]:
    """Binance's map: one-way mode fills BOTH; hedge mode LONG and SHORT (the other side 0)."""
    if not hedge:
        return {"LONG": 0, "SHORT": 0, "BOTH": quantile}
    return {"LONG": quantile if side == "LONG" else 0, "SHORT": quantile if side == "SHORT" else 0, "BOTH": 0}


def um_adl(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    rows: dict[str, dict[str, int]] = {}
    for v in ex._current().legs:
        q = _quantile(v.upnl, v.initial)
        held = rows.setdefault(v.leg.symbol.name, {"LONG": 0, "SHORT": 0, "BOTH": 0})
        for side, value in _sides(q, v.leg.side, ex.hedge).items():
            held[side] = max(held[side], value)
    return demo._dumps([{"symbol": s, "adlQuantile": q} for s, q in rows.items()])


def cm_adl(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    cm = ex._current().cm
    if cm is None:
        return b"[]"
    q = _quantile(cm.upnl, cm.initial)
    return demo._dumps([{"symbol": cm.leg.symbol.name, "adlQuantile": _sides(q, cm.leg.side, ex.hedge)}])


def account_config(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    body: dict[str, Any] = {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                            "dualSidePosition": ex.hedge, "updateTime": 0, "multiAssetsMargin": False,
                            "tradeGroupId": -1}
    return demo._dumps(body)


def trading_status(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui import demo

    return demo._dumps({"indicators": {}, "updateTime": int(now * 1000)})


#: path -> (weight, handler), signed like Binance's (weights: pmtui.endpoints).
QUEUE_ROUTES = {
    "/papi/v1/um/adlQuantile": (5, um_adl),
    "/papi/v1/cm/adlQuantile": (5, cm_adl),
    "/papi/v1/um/accountConfig": (5, account_config),
    "/papi/v1/um/apiTradingStatus": (10, trading_status),
}
