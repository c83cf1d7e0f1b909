"""Where the account is really exposed: net and gross per underlying coin across USD-M, COIN-M,
collateral and loans; and how far each position is from its next margin tier. Pure, Decimal
throughout; the view (pmtui.views) feeds it and every consumer shows its result.

Net in a coin = USD-M position amounts on it (a "1000PEPEUSDT" amount counts 1000 PEPE each)
+ COIN-M positions in the coin (contracts × contract size ÷ mark, signed, to 1e-8 coin)
+ its crossMarginAsset, umWalletBalance, cmWalletBalance and cmUnrealizedPNL
− its crossMarginBorrowed and crossMarginInterest (all from /papi/v1/balance).
Gross is the same parts by their size, so a hedge shows as large gross and small net.

A symbol's underlying coin is the risk engine's rule (pmtui.model.split_symbol): the symbol's
base, its quote suffix (FDUSD, USDT, USDC, BUSD, USD) and any delivery date cut off and a
"1000"/"1M" multiplier prefix removed. USD stablecoins (pmtui.model.STABLECOINS) are cash, not
exposure, and are left out. A coin is priced in USD by its asset index price when the risk
engine fetched one, else by the mark of a USD-M position on it, else a COIN-M mark; a coin with
none has no USD figures (null), never a guessed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from pmtui import fmt
from pmtui.model import STABLECOINS, cm_contract_size, split_symbol
from pmtui.models import Balance, TradingStatus, UmAccountConfig, coin_of
from pmtui.riskinputs import AssetIndexPrice, SymbolBrackets

ZERO = Decimal(0)
_CENT = Decimal("0.01")
_COIN = Decimal("1e-8")
#: "1000PEPEUSDT" trades 1000 PEPE a unit, "1MBABYDOGEUSDT" a million (pmtui.model's rule).
_MULTIPLIER = re.compile(r"^(1000+|1M)(?=[A-Z])")


def underlying(symbol: str) -> tuple[str, Decimal] | None:
    """(coin, coins per unit of positionAmt) of a USD-M symbol: BTCUSDT -> (BTC, 1),
    1000PEPEUSDT -> (PEPE, 1000); None when it has no known quote."""
    parts = split_symbol(symbol)
    if parts is None:
        return None
    m = _MULTIPLIER.match(symbol)
    unit = Decimal(1) if m is None else Decimal(1_000_000) if m.group(1) == "1M" else Decimal(m.group(1))
    return parts[0], unit


def _signed(amount: Decimal, side: str) -> Decimal:
    """positionAmt with its side's sign: hedge mode's SHORT row is short whatever its sign."""
    return -abs(amount) if side == "SHORT" else abs(amount) if side == "LONG" else amount


@dataclass(frozen=True, slots=True)
class CoinExposure:
    coin: str
    um: Decimal = ZERO  # coins, from USD-M positions
    cm: Decimal = ZERO  # coins, from COIN-M positions
    collateral: Decimal = ZERO  # crossMarginAsset + umWalletBalance + cmWalletBalance + cmUnrealizedPNL
    loans: Decimal = ZERO  # crossMarginBorrowed + crossMarginInterest (what is owed, as a positive amount)
    #: USD per coin (see the module docstring); None: no price known.
    price: Decimal | None = None
    #: Positions left out of `cm` for want of a price to convert their contracts.
    left_out: tuple[str, ...] = field(default=())

    @property
    def net(self) -> Decimal:
        return self.um + self.cm + self.collateral - self.loans

    @property
    def gross(self) -> Decimal:
        return abs(self.um) + abs(self.cm) + abs(self.collateral) + abs(self.loans)

    @property
    def net_usd(self) -> Decimal | None:
        return None if self.price is None else self.net * self.price

    @property
    def gross_usd(self) -> Decimal | None:
        return None if self.price is None else self.gross * self.price

    def to_json(self) -> dict[str, object]:
        """`view.exposure[coin]` of snapshot --json: coin amounts exact, USD to the cent."""

        def cents(v: Decimal | None) -> str | None:
            return None if v is None else f"{v.quantize(_CENT):f}"

        return {
            "net": f"{self.net:f}", "netUsd": cents(self.net_usd), "grossUsd": cents(self.gross_usd),
            "price": None if self.price is None else f"{self.price:f}",
            "parts": {"um": f"{self.um:f}", "cm": f"{self.cm:f}", "collateral": f"{self.collateral:f}",
                      "loans": f"{self.loans:f}"},
            "leftOut": list(self.left_out),
        }


#: One position as exposure reads it: (symbol, positionSide, positionAmt, mark price or None).
Leg = tuple[str, str, Decimal, Decimal | None]


def exposures(um: Iterable[Leg], cm: Iterable[Leg], balances: Iterable[Balance],
              prices: Mapping[str, Decimal] | None = None,
              stable: frozenset[str] = STABLECOINS) -> tuple[CoinExposure, ...]:
    """Every non-stable coin the account holds, owes or trades, largest |net USD| first (then
    gross USD; coins without a price last, by coin amount). `prices`: USD index prices by asset."""
    parts: dict[str, dict[str, Decimal]] = {}
    marks: dict[str, Decimal] = {}
    left_out: dict[str, list[str]] = {}

    def add(coin: str, part: str, amount: Decimal) -> None:
        parts.setdefault(coin, {}).setdefault(part, ZERO)
        parts[coin][part] += amount

    for symbol, side, amount, mark in um:
        found = underlying(symbol)
        if found is None or amount == 0 or found[0] in stable:
            continue
        coin, unit = found
        add(coin, "um", _signed(amount, side) * unit)
        if mark is not None and mark > 0:
            marks.setdefault(coin, mark / unit)
    for symbol, side, contracts, mark in cm:
        cm_coin = coin_of(symbol)
        if cm_coin is None or contracts == 0 or cm_coin in stable:
            continue
        if mark is None or mark <= 0:
            left_out.setdefault(cm_coin, []).append(symbol)
            add(cm_coin, "cm", ZERO)
            continue
        # To 1e-8 of a coin, as Binance writes coin amounts: the division has no exact end.
        add(cm_coin, "cm", (_signed(contracts, side) * cm_contract_size(cm_coin) / mark).quantize(_COIN))
        marks.setdefault(cm_coin, mark)
    for b in balances:
        if b.asset in stable:
            continue
        held = sum((v or ZERO for v in (b.crossMarginAsset, b.umWalletBalance, b.cmWalletBalance,
                                         b.cmUnrealizedPNL)), ZERO)
        owed = (b.crossMarginBorrowed or ZERO) + (b.crossMarginInterest or ZERO)
        if held or owed:
            add(b.asset, "collateral", held)
            add(b.asset, "loans", owed)
    out = []
    index = prices or {}
    for coin, p in parts.items():
        price = index.get(coin)
        if price is None or price <= 0:
            price = marks.get(coin)
        out.append(CoinExposure(coin, p.get("um", ZERO), p.get("cm", ZERO), p.get("collateral", ZERO),
                                p.get("loans", ZERO), price, tuple(left_out.get(coin, ()))))

    def size(e: CoinExposure) -> tuple[int, Decimal, Decimal, str]:
        net, gross = e.net_usd, e.gross_usd
        if net is None or gross is None:
            return (1, -abs(e.net), -e.gross, e.coin)
        return (0, -abs(net), -gross, e.coin)

    out.sort(key=size)
    return tuple(out)


# --- the next margin tier ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextTier:
    """How much more a position may grow before its maintenance margin ratio steps up: `room` in
    the bracket's unit (USD-M: notional in the quote; COIN-M: quantity in the coin), `room_usd`
    in USD (None without a price), and the next tier's ratio beside the current one."""

    room: Decimal
    room_usd: Decimal | None
    mmr: Decimal
    current_mmr: Decimal
    coin_margined: bool = False

    def to_json(self) -> dict[str, str | None]:
        return {"room": f"{self.room:f}",
                "roomUsd": None if self.room_usd is None else f"{self.room_usd.quantize(_CENT):f}",
                "maintMarginRatio": f"{self.mmr:f}", "currentMaintMarginRatio": f"{self.current_mmr:f}"}


def next_tier(size: Decimal, brackets: SymbolBrackets | None, usd_per_unit: Decimal | None = None,
              *, coin_margined: bool = False) -> NextTier | None:
    """The next tier above a position of `size` (its notional, or coin quantity for COIN-M, by
    its size), from its symbol's brackets. None: no brackets, absurd ones, or already in the
    top tier. `usd_per_unit` converts the room to USD (1 for a USD-quoted notional)."""
    if brackets is None:
        return None
    tiers = []
    for b in brackets.brackets:
        cap, mmr = b.cap, b.maintMarginRatio
        if cap is None or mmr is None or cap <= 0 or not ZERO <= mmr < 1:
            return None  # one absurd bracket and the table cannot be trusted
        tiers.append((cap, mmr))
    tiers.sort()
    size = abs(size)
    for i, (cap, mmr) in enumerate(tiers[:-1]):
        if size < cap:
            room = cap - size
            usd = None if usd_per_unit is None else room * usd_per_unit
            return NextTier(room, usd, tiers[i + 1][1], mmr, coin_margined)
    return None


# --- trading locks -------------------------------------------------------------------------------


def lock_reasons(config: UmAccountConfig | None, status: TradingStatus | None) -> tuple[str, ...]:
    """Why the account cannot trade (and so cannot de-risk), one phrase each: `canTrade` false
    in /papi/v1/um/accountConfig, and every quantitative rule /papi/v1/um/apiTradingStatus says
    has locked it, with its planned recovery time (UTC). Empty: nothing says it is locked."""
    reasons = []
    if config is not None and config.canTrade is False:
        reasons.append("UM canTrade is false")
    for name, ind in status.locked if status is not None else ():
        rule = f" by rule {ind.indicator}" if ind.indicator else ""
        until = ""
        if ind.plannedRecoverTime:
            when = datetime.fromtimestamp(ind.plannedRecoverTime / 1000, UTC)
            until = f" until {when:%Y-%m-%d %H:%M} UTC"
        reasons.append(f"{'the account' if name == 'ACCOUNT' else name} locked{rule}{until}")
    return tuple(reasons)


def dollars(value: Decimal | None, *, sign: bool = False) -> str:
    """USD to the dollar, the sign before the "$": "+$60,000", "-$7,223", "$1,200"; None: "—"."""
    if value is None:
        return "—"
    text = fmt.money(value, 0, sign=sign)
    return text[0] + "$" + text[1:] if text[:1] in "+-" else "$" + text


def exposure_text(rows: tuple[CoinExposure, ...], *, known_balances: bool = True, most: int = 6) -> str:
    """One line of the largest nets: "Exposure BTC +1 ≈ +$60,000 · ETH -2.5 ≈ -$7,500" (coin
    amounts to 4 places, USD to the dollar: the figures rest on marks)."""
    parts = []
    for e in rows[:most]:
        net = fmt.money(e.net, 4, sign=True).rstrip("0").rstrip(".")
        usd = f" ≈ {dollars(e.net_usd, sign=True)}" if e.net_usd is not None else " (no price)"
        parts.append(f"{e.coin} {net}{usd}")
    text = "Exposure " + (" · ".join(parts) if parts else "none beside stablecoins")
    if len(rows) > most:
        text += f" (+{len(rows) - most} more)"
    return text if known_balances else text + " (positions only: balances not read)"


def usd_prices(index_prices: Iterable[AssetIndexPrice] | None) -> dict[str, Decimal]:
    """The risk engine's asset index prices (/sapi/v1/portfolio/asset-index-price) by asset."""
    return {p.asset: p.assetIndexPrice for p in index_prices or () if p.asset and p.assetIndexPrice is not None}
