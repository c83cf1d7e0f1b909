"""The demo exchange's ledger (pmtui.ledger): funding every 8 hours on its largest positions and
its COIN-M one, hourly interest on its loan, and, in the margin-call scenario, one partial
liquidation fill once uniMMR has slid to Binance's liquidation band (step LIQUIDATED_AT).

Each row is a function of its time (and the opening book), so a window asked twice answers the
same rows, with the same ids: what pmtui's incremental reads and deduplication rely on. Rows are
oldest first and cut at the request's limit, as Binance's income history is. Handlers read the
current step and never move it; each takes (exchange, params, now) and returns JSON bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmtui.demo import DemoExchange

HOUR_MS = 3_600_000
FUNDING_EVERY_MS = 8 * HOUR_MS
#: A funding rate of 0.01% each 8 hours (Binance's usual base rate): longs pay shorts.
FUNDING_RATE = 0.0001
#: The loan's interest: 10% a year, charged each hour.
HOURLY_RATE = 0.10 / 365 / 24
#: Funding rows go to this many of the largest UM positions.
FUNDED = 3
#: The margin-call slide's step where uniMMR reaches 1.05 (pmtui.demo._MARGIN_CALL's "1.05").
LIQUIDATED_AT = 66
#: The liquidation closes this share of the largest position (a partial liquidation).
LIQUIDATED_SHARE = 0.1
#: How far back the demo has history: a fresh pmtui reads a week.
HISTORY_MS = 90 * 24 * HOUR_MS


def _window(params: dict[str, str], now_ms: int, default_ms: int = 7 * 24 * HOUR_MS) -> tuple[int, int]:
    end = int(params.get("endTime") or now_ms)
    start = int(params.get("startTime") or end - default_ms)
    return max(start, now_ms - HISTORY_MS), min(end, now_ms)


def _limit(params: dict[str, str], name: str, default: int, most: int) -> int:
    return max(1, min(int(params.get(name) or default), most))


def _ticks(start: int, end: int, every: int) -> range:
    first = -(-start // every) * every
    return range(first, end + 1, every)


def _amount(value: float) -> str:
    return f"{value:.8f}"


def _largest(ex: DemoExchange) -> list[Any]:
    snap = ex._current()
    return sorted(snap.legs, key=lambda v: -abs(v.leg.amt) * v.mark)[:FUNDED]


def um_income(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    now_ms = int(now * 1000)
    start, end = _window(params, now_ms)
    limit = _limit(params, "limit", 100, 1000)
    rows = []
    legs = _largest(ex)
    for t in _ticks(start, end, FUNDING_EVERY_MS):
        for i, v in enumerate(legs):
            rows.append({
                "symbol": v.leg.symbol.name, "incomeType": "FUNDING_FEE",
                "income": _amount(-v.leg.amt * v.mark * FUNDING_RATE), "asset": v.leg.symbol.quote,
                "info": "FUNDING_FEE", "time": t, "tranId": str(t // 1000 * 10 + i), "tradeId": "",
            })
            if len(rows) >= limit:
                return json.dumps(rows).encode()
    return json.dumps(rows).encode()


def cm_income(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    now_ms = int(now * 1000)
    start, end = _window(params, now_ms)
    limit = _limit(params, "limit", 100, 1000)
    cm = ex._current().cm
    rows: list[dict[str, Any]] = []
    if cm is None:
        return b"[]"
    contracts = cm.leg.contracts
    from pmtui.demo import _CM_CONTRACT

    for t in _ticks(start, end, FUNDING_EVERY_MS)[:limit]:
        coin = -contracts * _CM_CONTRACT / cm.mark * FUNDING_RATE  # in the coin it is margined in
        rows.append({
            "symbol": cm.leg.symbol.name, "incomeType": "FUNDING_FEE", "income": _amount(coin),
            "asset": cm.leg.symbol.quote, "info": "FUNDING_FEE", "time": t,
            "tranId": str(t // 1000 * 10 + 9), "tradeId": "",
        })
    return json.dumps(rows).encode()


def margin_interest(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    from pmtui.demo import _LOAN_ASSET, _UNIT

    now_ms = int(now * 1000)
    start, end = _window(params, now_ms)
    size = _limit(params, "size", 10, 100)
    principal = ex._loan / _UNIT
    ticks = _ticks(start, end, HOUR_MS)
    page = max(1, int(params.get("current") or 1))
    chosen = ticks[(page - 1) * size: page * size]
    rows = [{
        "txId": t // 1000, "interestAccuredTime": t, "asset": _LOAN_ASSET, "rawAsset": _LOAN_ASSET,
        "principal": _amount(principal), "interest": _amount(principal * HOURLY_RATE),
        "interestRate": f"{HOURLY_RATE:.8f}", "type": "PERIODIC",
    } for t in chosen]
    return json.dumps({"rows": rows, "total": len(ticks)}).encode()


def pm_interest(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    return b"[]"  # the demo's balances never go negative


def negative_exchange(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    return b'{"total": 0, "rows": []}'


def um_force_orders(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    """The margin-call scenario's one partial liquidation, from the first time it is asked after
    the slide reached liquidation (its time then, fixed from then on)."""
    if ex.scenario != "margin-call" or (ex._liquidated_ms is None and ex.step < LIQUIDATED_AT):
        return b"[]"
    now_ms = int(now * 1000)
    if ex._liquidated_ms is None:
        ex._liquidated_ms = now_ms - 1000  # a second before it was first asked about
    at = ex._liquidated_ms
    start, end = _window(params, now_ms)
    if not start <= at <= end:
        return b"[]"
    v = _largest(ex)[0]
    leg = v.leg
    qty = round(abs(leg.amt) * LIQUIDATED_SHARE, leg.symbol.qty_dp) or 10 ** -leg.symbol.qty_dp
    price = round(v.mark, leg.symbol.price_dp)
    row = {
        "orderId": 6071832819, "symbol": leg.symbol.name, "status": "FILLED",
        "clientOrderId": f"autoclose-{at}", "price": f"{price:.{leg.symbol.price_dp}f}",
        "avgPrice": f"{price:.{leg.symbol.price_dp}f}", "origQty": f"{qty:.{leg.symbol.qty_dp}f}",
        "executedQty": f"{qty:.{leg.symbol.qty_dp}f}", "cumQuote": f"{qty * price:.8f}", "timeInForce": "IOC",
        "type": "LIMIT", "reduceOnly": True, "side": "SELL" if leg.amt > 0 else "BUY",
        "positionSide": leg.side, "origType": "LIMIT", "time": at, "updateTime": at,
    }
    return json.dumps([row]).encode()


def cm_force_orders(ex: DemoExchange, params: dict[str, str], now: float) -> bytes:
    return b"[]"


LEDGER_ROUTES = {
    "/papi/v1/um/income": (30, um_income),
    "/papi/v1/cm/income": (30, cm_income),
    "/papi/v1/portfolio/interest-history": (50, pm_interest),
    "/papi/v1/margin/marginInterestHistory": (1, margin_interest),
    "/papi/v1/um/forceOrders": (50, um_force_orders),
    "/papi/v1/cm/forceOrders": (50, cm_force_orders),
    "/papi/v1/portfolio/negative-balance-exchange-record": (100, negative_exchange),
}
