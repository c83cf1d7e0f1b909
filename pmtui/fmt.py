"""Formatting at the edge: Decimal in, text out. Nothing here rounds the data itself."""

from __future__ import annotations

import math
import time
from decimal import ROUND_HALF_EVEN, Decimal, getcontext, localcontext

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


def amount(value: Decimal) -> str:
    """A quantity as the exchange wrote it, without trailing zeros: '-0.0200' -> '-0.02'."""
    if value == 0:
        return "0"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def plain(value: Decimal) -> str:
    """Exact, non-scientific: Decimal('0E-8') -> '0.00000000'."""
    return f"{value:f}"


def percent(fraction: Decimal | None, places: int = 1) -> str:
    if fraction is None or fraction.is_nan():
        return "—"
    if not fraction.is_finite():
        return "∞%" if fraction > 0 else "-∞%"
    return f"{_round(fraction.scaleb(2), places):,.{places}f}%"


def ratio(value: Decimal | None, places: int = 2) -> str:
    """A uniMMR-like ratio; None (no maintenance margin) reads as infinite headroom."""
    if value is None:
        return "∞"
    return money(value, places)


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
