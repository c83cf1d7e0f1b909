"""Each USD-M symbol's price tick and quantity step, from the public `GET /fapi/v1/exchangeInfo`.

Display only: prices and amounts are shown to the symbol's tick size and step size
(`fmt.price`, `fmt.quantity`); no figure pmtui computes with is rounded. The exchange's answer is
~1-2 MB for some hundreds of symbols, so what is kept is the few fields pmtui uses, and that is
cached in the user cache dir (a private JSON file, refreshed when older than a day). Without it
(no answer yet, a failure, a symbol it does not list) prices show 6 significant digits.

The parser is lenient about Binance's shape (unknown filters and fields, "" for "not given", a
filter object carrying every filter's fields at once as the official SDK's test writes it) and
strict about what it keeps: a symbol name is a short clean string, a size is a positive Decimal
of sane magnitude, a precision a small int; anything else is left out, never a fault.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs

from pmtui.logs import make_private_dir
from pmtui.models import wire_decimal
from pmtui.text import is_clean

log = logging.getLogger(__name__)

#: The cache is refetched when older than this (tick sizes change rarely: a day is plenty).
MAX_AGE = 24 * 3600.0
#: More symbols than this is not an answer Binance gives (it lists a few hundred): the rest is cut.
MAX_SYMBOLS = 10_000
MAX_SYMBOL_LEN = 40
MAX_PRECISION = 18
# A tick or step outside these is nonsense (0, negative, 1e-30, 1e12): left out.
_MIN_SIZE = Decimal("1e-18")
_MAX_SIZE = Decimal("1e9")
_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """What display needs of one symbol: price tick, quantity step, and Binance's precisions."""

    symbol: str
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    price_precision: int | None = None
    quantity_precision: int | None = None


Markets = Mapping[str, SymbolRules]


def _size(value: Any) -> Decimal | None:
    """A positive tick/step as a Decimal; "", absent, junk or absurd magnitudes are None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None
    if isinstance(value, str):
        if not 0 < len(value) <= 40:
            return None
        try:
            value = wire_decimal(value)  # the wire's grammar: "0.1_0" or "٠.١" is junk, not 0.1
        except ValueError:
            return None
    size = Decimal(value)
    if not size.is_finite() or not _MIN_SIZE <= size <= _MAX_SIZE:
        return None
    return size.normalize()


def _precision(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PRECISION:
        return value
    return None


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_SYMBOL_LEN and is_clean(value) and " " not in value:
        return value
    return None


def parse_symbol(row: Any) -> SymbolRules | None:
    """One entry of exchangeInfo's `symbols`; None when it has no usable name."""
    if not isinstance(row, dict):
        return None
    name = _name(row.get("symbol"))
    if name is None:
        return None
    tick = step = None
    filters = row.get("filters")
    for f in filters if isinstance(filters, list) else ():
        if not isinstance(f, dict):
            continue
        kind = f.get("filterType")
        if kind == "PRICE_FILTER" and tick is None:
            tick = _size(f.get("tickSize"))
        # LOT_SIZE's step is the order step; MARKET_LOT_SIZE's is the same or coarser: prefer LOT_SIZE.
        if kind == "LOT_SIZE" and step is None:
            step = _size(f.get("stepSize"))
        if kind == "PRICE_FILTER" and step is None and "stepSize" in f:
            # The official SDK's test body puts every filter's fields in one object.
            step = _size(f.get("stepSize"))
    return SymbolRules(name, tick, step, _precision(row.get("pricePrecision")),
                       _precision(row.get("quantityPrecision")))


def parse_exchange_info(data: Any) -> dict[str, SymbolRules]:
    """exchangeInfo's `symbols` by name (at most MAX_SYMBOLS; the first of a repeated name wins).
    Anything that is not an object with a `symbols` list is no symbols at all."""
    rows = data.get("symbols") if isinstance(data, dict) else None
    out: dict[str, SymbolRules] = {}
    if not isinstance(rows, list):
        return out
    for row in rows:
        if len(out) >= MAX_SYMBOLS:
            break
        rules = parse_symbol(row)
        if rules is not None and rules.symbol not in out:
            out[rules.symbol] = rules
    return out


# --- the cache ------------------------------------------------------------------------------


def cache_path() -> Path:
    return platformdirs.user_cache_path("pmtui") / "exchange-info.json"


def _to_json(markets: Markets, source: str, fetched: float) -> str:
    symbols = {
        s.symbol: [None if s.tick_size is None else str(s.tick_size),
                   None if s.step_size is None else str(s.step_size),
                   s.price_precision, s.quantity_precision]
        for s in markets.values()
    }
    return json.dumps({"version": _CACHE_VERSION, "source": source, "fetched": fetched, "symbols": symbols},
                      separators=(",", ":"))


def save_cache(path: Path, markets: Markets, source: str, fetched: float | None = None) -> None:
    """Write the cache: a private file (0600) in a private dir (0700), replaced atomically."""
    make_private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(_to_json(markets, source, time.time() if fetched is None else fetched))
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)


def load_cache(path: Path, source: str, *, now: float | None = None,
               max_age: float = MAX_AGE) -> dict[str, SymbolRules] | None:
    """The cached symbols if the file is there, readable, from `source` and younger than
    `max_age`; None otherwise (a corrupt or foreign file is ignored, never an error)."""
    try:
        if path.stat().st_size > 8 * 1024 * 1024:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or data.get("source") != source:
        return None
    fetched, symbols = data.get("fetched"), data.get("symbols")
    if isinstance(fetched, bool) or not isinstance(fetched, (int, float)) or not isinstance(symbols, dict):
        return None
    age = (time.time() if now is None else now) - fetched
    if not 0 <= age <= max_age:  # a file from the future is as stale as an old one
        return None
    out: dict[str, SymbolRules] = {}
    for name, fields in list(symbols.items())[:MAX_SYMBOLS]:
        if _name(name) is None or not isinstance(fields, list) or len(fields) != 4:
            continue
        tick, step, pp, qp = fields
        out[name] = SymbolRules(name, _size(tick) if tick is not None else None,
                                _size(step) if step is not None else None, _precision(pp), _precision(qp))
    return out
