"""The positions filter language: space-separated terms, all of which must hold.

    btc            symbol contains "btc" (any case)
    side:long      long positions (side:short, side:both likewise)
    asset:USDC     margined in USDC (the symbol's quote asset; a COIN-M symbol's coin: asset:BTC)
    market:cm      COIN-M positions (market:um the USD-M ones)
    loss / profit  unrealised PnL below / above zero
    level:warn     health at least warn (warn, danger, critical)
    liq:10         within 10% of the liquidation price
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from pmtui.health import Level
from pmtui.text import clean
from pmtui.views import AccountView, PositionRow

Predicate = Callable[[PositionRow], bool]
_LEVELS = {lvl.label: lvl for lvl in Level} | {"crit": Level.CRITICAL}


def _side(value: str) -> Predicate:
    v = value.lower()
    if v in ("long", "l"):
        return lambda r: r.position.is_open and r.position.is_long
    if v in ("short", "s"):
        return lambda r: r.position.is_open and not r.position.is_long
    return lambda r: r.position.positionSide.lower() == v


def _percent(text: str) -> Decimal | None:
    """'10' or '10%' -> Decimal('0.1'); None when it is not a number."""
    try:
        value = Decimal(text.rstrip("%"))
    except InvalidOperation:
        return None
    return value / 100 if value.is_finite() else None


#: Every term, as the filter box's placeholder and the help screen say them.
TERMS = "btc  side:long  asset:USDC  market:cm  level:warn  liq:10  loss  profit"
_KEYS = ("side", "asset", "market", "level", "liq")
_MARKETS = {"um": "UM", "usdm": "UM", "usd-m": "UM", "cm": "CM", "coinm": "CM", "coin-m": "CM"}


class FilterError(ValueError):
    """A term the filter cannot use, in one sentence for the filter box."""


def _term(term: str) -> Predicate:
    lower = term.lower()
    name, sep, value = lower.partition(":")
    if sep:
        if name not in _KEYS:
            raise FilterError(f"unknown filter {clean(name, 20)}: (use side:, asset:, market:, level: or liq:)")
        if not value:
            raise FilterError(f"{name}: needs a value, like {next(t for t in TERMS.split() if t.startswith(name))}")
        if name == "side":
            if value not in ("long", "l", "short", "s", "both"):
                raise FilterError(f"side: takes long, short or both, not {clean(value, 20)!r}")
            return _side(value)
        if name == "asset":
            return lambda r: (r.coin or "").lower() == value if r.is_cm else r.position.symbol.lower().endswith(value)
        if name == "market":
            if value not in _MARKETS:
                raise FilterError(f"market: takes um or cm, not {clean(value, 20)!r}")
            venue = _MARKETS[value]
            return lambda r: r.venue == venue
        if name == "liq":
            limit = _percent(value)
            if limit is None or limit <= 0:
                raise FilterError(f"liq: takes a percentage like liq:10, not {clean(value, 20)!r}")
            return lambda r: r.liq_distance is not None and r.liq_distance < limit
        if value not in _LEVELS:
            raise FilterError(f"level: takes warn, danger or critical, not {clean(value, 20)!r}")
        wanted = _LEVELS[value]
        return lambda r: r.level >= wanted
    # An unknown uPnL (not given) cannot be ruled out as a loss: "loss" keeps it, "profit" not.
    if lower == "loss":
        return lambda r: r.position.unrealizedProfit is None or r.position.unrealizedProfit < 0
    if lower == "profit":
        return lambda r: r.position.unrealizedProfit is not None and r.position.unrealizedProfit > 0
    return lambda r: lower in r.position.symbol.lower()


def parse(text: str) -> Predicate | None:
    """A predicate for the filter text, or None when the text filters nothing. A term it cannot
    use is left out (problem() says which)."""
    terms = []
    for word in text.split():
        try:
            terms.append(_term(word))
        except FilterError:
            continue
    if not terms:
        return None
    return lambda row: all(t(row) for t in terms)


def problem(text: str) -> str | None:
    """The first term the filter cannot use, in one sentence; None when every term is fine."""
    for word in text.split():
        try:
            _term(word)
        except FilterError as err:
            return str(err)
    return None


def select(view: AccountView | None, *, show_all: bool, text: str) -> list[PositionRow]:
    """The position rows a person asked to see: open ones (or all, zero rows too), filtered."""
    if view is None:
        return []
    rows = view.positions if show_all else view.open_positions
    predicate = parse(text)
    return [r for r in rows if predicate(r)] if predicate else list(rows)
