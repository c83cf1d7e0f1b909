"""Formatting at the edge: Decimal in, text out. Nothing here rounds the data itself."""

from __future__ import annotations

import math
import time
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, getcontext, localcontext
from functools import lru_cache

_QUANTS = {n: Decimal(1).scaleb(-n) for n in range(0, 13)}


def _round(value: Decimal, places: int) -> Decimal:
    """Half-even to `places`, exact however many digits (the default context stops at 28)."""
    if value.adjusted() + places + 2 <= getcontext().prec:  # fits: no context copy (~1.5 us)
        q = value.quantize(_QUANTS[places], rounding=ROUND_HALF_EVEN)
    else:
        with localcontext() as ctx:
            ctx.prec = value.adjusted() + places + 2
            q = value.quantize(_QUANTS[places], rounding=ROUND_HALF_EVEN)
    return abs(q) if q == 0 else q  # no "-0.00"


def money(value: Decimal | None, places: int = 2, *, sign: bool = False) -> str:
    """1234567.891 -> '1,234,567.89' (rounded half-even for display only)."""
    if value is None or value.is_nan():
        return "—"
    if not value.is_finite():
        return "∞" if value > 0 else "-∞"
    q = _round(value, places)
    return f"{q:+,.{places}f}" if sign else f"{q:,.{places}f}"


#: Assets counted in dollars: two decimals. Any other (a coin) reads to COIN_PLACES, as Binance's
#: coin figures do, so a coin's wallet and its uPnL beside it have the same decimals.
USD_ASSETS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD", "TUSD", "USDP", "DAI"})


def balance(value: Decimal | None, *, sign: bool = False, asset: str | None = None) -> str:
    """An amount in any asset (a BTC loan's interest is 0.00001234): two decimals from 1 up, below
    that four significant digits (at most 8 decimals), so a small non-zero amount never reads
    as 0.00. `asset` a coin (not in USD_ASSETS): every non-zero amount to 8 decimals."""
    if asset is not None and asset not in USD_ASSETS and value is not None and value.is_finite() and value != 0:
        return money(value, COIN_PLACES, sign=sign)
    if value is None or not value.is_finite() or abs(value) >= 1 or value == 0:
        return money(value, sign=sign)
    places = min(8, max(2, 3 - value.adjusted()))
    return money(value, places, sign=sign)


#: Decimals of a coin amount (a COIN-M margin or uPnL): Binance's 8, so 0.00241969 BTC is not 0.00.
COIN_PLACES = 8


def coin(value: Decimal | None, coin: str | None, *, sign: bool = False) -> str:
    """A COIN-M money figure in its coin: '-0.00123400 BTC' (8 decimals); a dash when unknown."""
    text = money(value, COIN_PLACES, sign=sign)
    return text if value is None or not coin else f"{text} {coin}"


def amount(value: Decimal) -> str:
    """A quantity as the exchange wrote it, without trailing zeros: '-0.0200' -> '-0.02'."""
    if value == 0:
        return "0"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


#: Significant digits of a price whose symbol's tick size is unknown.
PRICE_DIGITS = 6
_MAX_PLACES = 18


@lru_cache(maxsize=1024)
def _step_facts(step: Decimal) -> tuple[int, Decimal, int]:
    """(decimals, the quantum 10**-decimals, digits beyond the decimals) of a step: the same few
    tick and step sizes come for every price and amount drawn, each refresh."""
    # Of the normalized step: 0.10 and 0.1 are one key to the cache, and must get one answer.
    normal = step.normalize()
    digits, exponent = normal.as_tuple()[1:]
    assert isinstance(exponent, int)  # callers pass a finite step
    places = min(_MAX_PLACES, max(0, -exponent))
    return places, Decimal(1).scaleb(-places), len(digits) - normal.adjusted()


def _to_step(value: Decimal, step: Decimal) -> tuple[Decimal, int]:
    """`value` rounded half-even to a multiple of `step`, and the decimals `step` has."""
    places, quantum, extra = _step_facts(step)
    # Enough digits for the whole quotient and the product, however small the step.
    need = value.adjusted() + extra + places + 4
    if getcontext().prec >= need:  # the usual case: no context to set up
        q = ((value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step).quantize(quantum)
    else:
        with localcontext() as ctx:
            ctx.prec = need
            q = ((value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step).quantize(quantum)
    return (abs(q) if q == 0 else q), places


def _stepped(value: Decimal | None, step: Decimal | None) -> str | None:
    """What price() and quantity() share: a dash, infinity, or the value to a known step (with
    thousands separators); None when the caller must format it by its own rule."""
    if value is None or value.is_nan():
        return "—"
    if not value.is_finite():
        return "∞" if value > 0 else "-∞"
    if step is not None and step.is_finite() and step > 0:
        q, places = _to_step(value, step)
        return f"{q:,.{places}f}"
    return None


def price(value: Decimal | None, tick: Decimal | None = None) -> str:
    """A price for display: to the symbol's tick size when known (64976.63504998 at tick 0.10 ->
    '64,976.6'), else to at most PRICE_DIGITS significant digits; thousands separators. Rounded half-even
    for display only. None (and NaN) read as a dash."""
    if (done := _stepped(value, tick)) is not None:
        return done
    assert value is not None
    if value == 0:
        return "0"
    places = min(_MAX_PLACES, max(0, PRICE_DIGITS - 1 - value.adjusted()))
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + places + 4)
        q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if q == 0:
        return "0"
    text = f"{q:,.{places}f}"
    # At most PRICE_DIGITS: trailing zeros would claim a precision nobody gave ("92" stays "92").
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity(value: Decimal | None, step: Decimal | None = None) -> str:
    """An amount for display with thousands separators: to the symbol's step size when known
    ('-1,234.5' at step 0.1), else as the exchange wrote it without trailing zeros."""
    if (done := _stepped(value, step)) is not None:
        return done
    assert value is not None
    text = amount(value)
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or 0):,}{dot}{frac}"


def plain(value: Decimal) -> str:
    """Exact, non-scientific: Decimal('0E-8') -> '0.00000000'."""
    return f"{value:f}"


def percent(fraction: Decimal | None, places: int = 1) -> str:
    if fraction is None or fraction.is_nan():
        return "—"
    if not fraction.is_finite():
        return "∞%" if fraction > 0 else "-∞%"
    return f"{_round(fraction.scaleb(2), places):,.{places}f}%"


#: Decimals of uniMMR (and of any margin ratio judged by its bands), everywhere it is shown.
RATIO_PLACES = 4


def ratio(value: Decimal | None, places: int = RATIO_PLACES) -> str:
    """A uniMMR-like ratio, cut toward liquidation (down) to RATIO_PLACES decimals: a figure is
    never shown safer than it is, and never rounds up onto a band's edge (1.0549 is '1.0549', not
    '1.05', which the legend reads as liquidation). None (no maintenance margin): infinite headroom."""
    if value is None:
        return "∞"
    if not value.is_finite():
        return money(value)
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + places + 2)
        q = value.quantize(_QUANTS[places], rounding=ROUND_FLOOR)
    return f"{abs(q) if q == 0 else q:,.{places}f}"


def age(seconds: float | None) -> str:
    """3.2 -> '3s', 125 -> '2m05s', 7300 -> '2h01m', 200000 -> '2d07h'."""
    if seconds is None or math.isnan(seconds):
        return "—"
    if math.isinf(seconds):
        return "∞" if seconds > 0 else "0s"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def since_ms(update_ms: int | None, now: float | None = None) -> str:
    """An API updateTime (ms) as an age; 0 (or not given) means never."""
    if not update_ms:
        return "—"
    return age((now if now is not None else time.time()) - update_ms / 1000)


def clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def utc_time(ms: int) -> str:
    if not ms:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + " UTC"
