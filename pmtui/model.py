"""uniMMR from first principles: Binance's formula applied to the account's own inputs, so a price
move can be replayed exactly (haircuts, uPnL, the bracket each position's new notional falls in).

Pure: no I/O, no Textual. docs/risk-model.md gives the formulas with their sources; in short

    uniMMR        = (Σ_a equity_a − OpenLoss) / (Σ futuresMM + Σ marginMM)            (USD)
    equity_a      = min(net_a × P_a × rate_a, net_a × P_a)  (the haircut bites only when net_a > 0)
                    PM Pro's tiered rates: each USD slice of net_a × P_a at its tier's rate
    net_a         = crossMarginAsset − crossMarginBorrowed − crossMarginInterest
                    + umWalletBalance + umUnrealizedPNL + cmWalletBalance + cmUnrealizedPNL
    futuresMM_UM  = (MMR × |qty × mark| − cum) × P_quote        (the bracket of that notional)
    futuresMM_CM  = (MMR × |contracts × contractSize| / mark − cum) × P_coin   (bracket by coin qty)
    marginMM_a    = (crossMarginBorrowed + crossMarginInterest) × MMR(margin leverage) × P_a

A move `m` of an underlying U scales by `s = 1 + m` the index price of U and the marks of every
futures symbol on U (BTCUSDT, BTCUSDC, BTCUSD_PERP, BTCUSDT_250627 move together); stablecoins
never move. The uPnL moves exactly: a UM leg by `qty × mark × m` in its quote asset, a COIN-M leg
by `(contracts × size / mark) × (1 − 1/s)` in its coin. Wallets, loans, OpenLoss and the
collateral rates stay as they are (funding, interest and a rate cut are not price moves).

Every input that is missing, refused, stale or absurd makes the result `approximate`, with one
sentence naming it; the model then takes the conservative side where one exists (a missing haircut
counts the asset at 0, an unknown margin leverage at the strictest MMR), and never raises.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from pmtui.health import Level
from pmtui.models import Balance, CmPositionRisk, PositionRisk, coin_of
from pmtui.risk import LIQUIDATION_UNIMMR
from pmtui.riskinputs import (
    AssetIndexPrice,
    CollateralRate,
    MarginAssetLeverage,
    SymbolBrackets,
    TieredCollateralRate,
)
from pmtui.settings import Thresholds

ZERO = Decimal(0)
ONE = Decimal(1)

#: Assets that do not move in a what-if (a setting can replace this list).
STABLECOINS: frozenset[str] = frozenset(
    {"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "BFUSD", "USD1"}
)
#: Quote suffixes of futures symbols, longest first ("BTCUSDT" is USDT-quoted, not USD).
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "USD")
#: "1000PEPEUSDT" trades 1000 PEPE per unit: its price moves as PEPE's, so it is PEPE's underlying.
#: Only powers of ten from 1000 and "1M" count as a multiplier ("1INCH" is a name, not 1 × INCH).
_MULTIPLIER = re.compile(r"^(?:1000+|1M)(?=[A-Z])")
#: Margin loans' maintenance margin ratio by the asset's margin leverage (Binance's Portfolio
#: Margin Pro page: 3x 10%, 5x 8%, 10x 5%). An unknown leverage takes the strictest.
MARGIN_MMR_BY_LEVERAGE: Mapping[Decimal, Decimal] = {
    Decimal(3): Decimal("0.10"), Decimal(5): Decimal("0.08"), Decimal(10): Decimal("0.05"),
}
_STRICTEST_MARGIN_MMR = max(MARGIN_MMR_BY_LEVERAGE.values())
#: COIN-M contract sizes in USD (Binance: BTC 100, every other coin 10) unless the leg says.
_CM_CONTRACT_SIZE = {"BTC": Decimal(100)}
_CM_DEFAULT_CONTRACT_SIZE = Decimal(10)


def cm_contract_size(coin: str) -> Decimal:
    """USD per COIN-M contract of `coin` (Binance: 100 for BTC, 10 for every other coin)."""
    return _CM_CONTRACT_SIZE.get(coin, _CM_DEFAULT_CONTRACT_SIZE)

LADDER_MOVES: tuple[Decimal, ...] = tuple(Decimal(m) for m in (
    "-0.5", "-0.3", "-0.2", "-0.1", "-0.05", "0", "0.05", "0.1", "0.2", "0.3", "0.5"))
#: Where the liquidation search looks: −99% … +300%, scanned outward on these points, then refined.
_DOWN_GRID = tuple(Decimal(m) for m in (
    "-0.01", "-0.02", "-0.05", "-0.1", "-0.2", "-0.3", "-0.4", "-0.5", "-0.6", "-0.7", "-0.8",
    "-0.9", "-0.95", "-0.99"))
_UP_GRID = tuple(Decimal(m) for m in (
    "0.01", "0.02", "0.05", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1",
    "1.5", "2", "2.5", "3"))
SEARCH_TARGETS = (LIQUIDATION_UNIMMR, Decimal("1.2"), Decimal("1.5"))
#: The search stops when uniMMR is this close to its target (the issue asks for ± 1e-6).
TOLERANCE = Decimal("1e-7")
#: Beyond this relative gap to Binance's own uniMMR the model calls itself approximate.
RECONCILE_GAP = Decimal("0.02")


def reconcile_gap(unimmr: Decimal | None, reported: Decimal | None) -> Decimal | None:
    """How far the model's uniMMR is from Binance's, as a fraction of Binance's (None: unknown)."""
    if unimmr is None or reported is None or reported <= 0:
        return None
    return (unimmr - reported) / reported
_Q4 = Decimal("0.0001")
_Q2 = Decimal("0.01")


# --- symbols ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def split_symbol(symbol: str) -> tuple[str, str] | None:
    """(underlying, quote) of a futures symbol: BTCUSDT → (BTC, USDT), BTCUSD_PERP → (BTC, USD),
    BTCUSDT_250627 → (BTC, USDT), 1000PEPEUSDT → (PEPE, USDT). None when it has no known quote."""
    pair = symbol.partition("_")[0]
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            base = _MULTIPLIER.sub("", pair[: -len(quote)])
            return (base, quote) if base.isalnum() else None
    return None


_coin_of = lru_cache(maxsize=4096)(coin_of)


def underlying_of(symbol: str) -> str | None:
    parts = split_symbol(symbol)
    return parts[0] if parts else None


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UmLeg:
    """A USDⓈ-M position: signed quantity in the base asset (positionAmt) and its mark price.
    `maint_margin` (Binance's own figure, in the quote asset) stands in only without a bracket."""

    symbol: str
    amount: Decimal
    mark: Decimal
    maint_margin: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CmLeg:
    """A COIN-M position: signed contracts and the mark. `contract_size` in USD per contract
    (default: Binance's 100 for BTC, 10 for other coins); `maint_margin` in the coin."""

    symbol: str
    contracts: Decimal
    mark: Decimal
    contract_size: Decimal | None = None
    maint_margin: Decimal | None = None


def _signed(amount: Decimal, side: str) -> Decimal:
    """positionAmt with the sign of its side: hedge mode's SHORT row is a short whatever its sign."""
    if side == "SHORT":
        return -abs(amount)
    if side == "LONG":
        return abs(amount)
    return amount


def um_legs(rows: Iterable[PositionRisk],
            maint_margin: Mapping[tuple[str, str], Decimal] | None = None) -> tuple[UmLeg, ...]:
    """The model's UM legs from `/papi/v1/um/positionRisk` rows (open ones); `maint_margin` by
    (symbol, positionSide), e.g. from `/papi/v2/um/account`, stands in where a bracket is missing.
    A row without a mark price keeps mark 0, which the model names and leaves out."""
    mm = maint_margin or {}
    return tuple(UmLeg(r.symbol, _signed(r.positionAmt, r.positionSide), r.markPrice or ZERO,
                       mm.get(r.key)) for r in rows if r.positionAmt != 0)


def cm_legs(rows: Iterable[CmPositionRisk],
            maint_margin: Mapping[tuple[str, str], Decimal] | None = None) -> tuple[CmLeg, ...]:
    """The model's COIN-M legs from `/papi/v1/cm/positionRisk` rows (contracts, mark)."""
    mm = maint_margin or {}
    return tuple(CmLeg(r.symbol, _signed(r.positionAmt, r.positionSide), r.markPrice or ZERO,
                       None, mm.get(r.key)) for r in rows if r.positionAmt != 0)


@dataclass(frozen=True)
class Inputs:
    """What the model reads. A list left as None was not fetched (or was refused): the model says
    so. `problems` are the caller's own sentences (an input it knows is stale or refused)."""

    balances: Sequence[Balance] = ()
    um: Sequence[UmLeg] = ()
    cm: Sequence[CmLeg] = ()
    um_brackets: Sequence[SymbolBrackets] | None = None
    cm_brackets: Sequence[SymbolBrackets] | None = None
    collateral_rates: Sequence[CollateralRate] | None = None
    # Portfolio Margin Pro (/sapi/v2/portfolio/collateralRate): an asset listed here is valued by
    # its tiers (USD floors and caps) instead of its flat rate.
    tiered_collateral_rates: Sequence[TieredCollateralRate] | None = None
    index_prices: Sequence[AssetIndexPrice] | None = None
    margin_leverage: Sequence[MarginAssetLeverage] | None = None
    open_loss: Decimal = ZERO  # USD (/papi/v1/account totalMarginOpenLoss); held in a what-if
    reported_unimmr: Decimal | None = None  # Binance's own, for the reconciliation
    # The model's gap to Binance's uniMMR measured when that figure came, on the positions of the
    # same refresh (pmtui.monitor carries it until the next one). Measured again on positions
    # seconds newer than Binance's figure, a fast market alone would make the model look off.
    # None: measure it on these inputs.
    reconciled_gap: Decimal | None = None
    problems: Sequence[str] = ()
    now_ms: int | None = None  # the (server) clock, injected; None: no staleness check
    max_age_ms: int = 10 * 60_000  # an index price older than this is stale
    stablecoins: frozenset[str] = STABLECOINS


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetLine:
    asset: str
    net: Decimal
    price: Decimal
    rate: Decimal
    equity: Decimal  # USD, after the haircut
    margin_mm: Decimal  # USD


@dataclass(frozen=True, slots=True)
class ModelResult:
    unimmr: Decimal | None  # None: no maintenance margin (nothing to liquidate unless equity < 0)
    adjusted_equity: Decimal
    maint_margin: Decimal
    futures_mm: Decimal
    margin_mm: Decimal
    assets: tuple[AssetLine, ...]
    missing: tuple[str, ...]  # the inputs missing, stale or absurd, by name
    reasons: tuple[str, ...]  # one sentence each

    @property
    def approximate(self) -> bool:
        return bool(self.reasons)

    @property
    def liquidated(self) -> bool:
        if self.unimmr is None:
            return self.adjusted_equity < 0
        return self.unimmr <= LIQUIDATION_UNIMMR


@dataclass(frozen=True, slots=True)
class Rung:
    move: Decimal
    unimmr: Decimal | None
    liquidated: bool
    level: str  # a health Level's name, or "LIQUIDATED"


@dataclass(frozen=True, slots=True)
class Crossing:
    """The smallest move down and up that takes uniMMR to `target`; None where no move in
    −99% … +300% does. 0 when uniMMR is already at or below it."""

    target: Decimal
    down: Decimal | None
    up: Decimal | None


@dataclass(slots=True)
class _Scan:
    """One direction of RiskModel.nearest_liquidation: the grid, its next index, the bracket's
    near end and its gap (None: +inf), the root once found."""

    grid: Sequence[Decimal]
    i: int = 0
    a: Decimal = Decimal(0)
    fa: Decimal | None = None
    root: Decimal | None = None


# --- the compiled book --------------------------------------------------------------------------


@dataclass(slots=True)
class _Asset:
    name: str
    underlying: str | None  # None: a stablecoin, never moves
    net0: Decimal
    loan: Decimal
    price: Decimal
    rate: Decimal
    margin_mmr: Decimal
    tiers: tuple[tuple[Decimal, Decimal, Decimal], ...] = ()  # (floor, cap, rate) in USD, sorted
    um_terms: list[tuple[str, Decimal]] = field(default_factory=list)  # (underlying, Σ qty × mark)
    cm_term: Decimal = ZERO  # Σ signed coin notional of the COIN-M legs margined in this coin
    by_under: dict[str, Decimal] = field(default_factory=dict)  # um_terms by underlying
    moving: Decimal = ZERO  # Σ exposure of the um_terms on underlyings that move


@dataclass(slots=True)
class _Leg:
    symbol: str
    underlying: str
    coin_margined: bool
    notional0: Decimal  # UM: |qty × mark| in the quote; CM: |contracts × size| / mark in the coin
    price_asset: _Asset  # what converts its MM to USD: the quote (UM) or the coin (CM)
    caps: list[Decimal]
    mmrs: list[Decimal]
    cums: list[Decimal]
    fallback: Decimal | None  # with no usable bracket: Binance's own MM, moved linearly


class RiskModel:
    """The account's uniMMR as Binance computes it, and what a price move does to it."""

    def __init__(self, inputs: Inputs, thresholds: Thresholds | None = None) -> None:
        self.inputs = inputs
        self.thresholds = thresholds or Thresholds()
        self._missing: dict[str, str] = {}  # input name -> sentence (ordered, deduplicated)
        self._priced: set[str] = set()  # assets with a usable index price
        self._unrated: set[str] = set()  # assets counted at rate 0 for want of a rate
        self._arrays: dict[tuple[bool, str], Any] = {}  # (COIN-M?, symbol) -> its brackets as arrays, read once
        self._stable = inputs.stablecoins
        self._rates_fetched = (inputs.collateral_rates is not None
                               or inputs.tiered_collateral_rates is not None)
        self._assets: dict[str, _Asset] = {}
        self._legs: list[_Leg] = []
        self._compile()
        self._by_underlying: dict[str, list[_Leg]] = {}
        for leg in self._legs:
            self._by_underlying.setdefault(leg.underlying, []).append(leg)
        self._segments = {u: _segments(legs) for u, legs in self._by_underlying.items()
                          if u not in self._stable}
        self._mm_base = {u: self._under_mm(u, ONE) if u in self._segments else
                         self._legs_mm(legs, ONE) for u, legs in self._by_underlying.items()}
        self._moving_mm_base = sum((self._mm_base[u] for u in self._segments), ZERO)
        # What a move of one underlying touches: its own asset and the quotes of its legs.
        self._touched: dict[str, list[_Asset]] = {}
        for a in self._assets_list:
            for under in {a.underlying, *a.by_under} - {None}:
                self._touched.setdefault(under, []).append(a)  # type: ignore[arg-type]
        t = self.thresholds
        self._levels = (t.unimmr_warn, t.unimmr_danger, t.unimmr_critical)
        self._cache: dict[tuple[str | None, Decimal], tuple[Decimal, Decimal]] = {}
        self._crossings: dict[tuple[Decimal, str | None], Crossing] = {}
        self._nearest: dict[tuple[Decimal, str | None, Decimal], Decimal | None] = {}
        self._base_lines: dict[str, tuple[Decimal, Decimal]] = {}  # asset -> (equity, margin MM)
        self.base = self.scenario(ZERO)
        self._base_equity = self.base.adjusted_equity
        self._base_margin = self.base.margin_mm

    # -- compiling the inputs once ---------------------------------------------------------------

    def _note(self, name: str, sentence: str) -> None:
        self._missing.setdefault(name, sentence)

    def _compile(self) -> None:
        inp = self.inputs
        rates = self._rates()
        tiers = self._tiers()
        prices = self._prices()
        leverage = self._leverage()
        nets: dict[str, tuple[Decimal, Decimal]] = {}
        for b in inp.balances:
            net = ((b.crossMarginAsset or ZERO) - (b.crossMarginBorrowed or ZERO)
                   - (b.crossMarginInterest or ZERO) + (b.umWalletBalance or ZERO)
                   + (b.umUnrealizedPNL or ZERO) + (b.cmWalletBalance or ZERO)
                   + (b.cmUnrealizedPNL or ZERO))
            loan = abs(b.crossMarginBorrowed or ZERO) + abs(b.crossMarginInterest or ZERO)
            old = nets.get(b.asset, (ZERO, ZERO))
            nets[b.asset] = (old[0] + net, old[1] + loan)
        marks = self._marks_by_underlying()

        def asset(name: str) -> _Asset:
            found = self._assets.get(name)
            if found is None:
                net, loan = nets.get(name, (ZERO, ZERO))
                own = tiers.get(name, ())
                found = _Asset(name, None if name in self._stable else name, net, loan,
                               self._price(name, prices, marks, net, loan),
                               own[0][2] if own else self._rate(name, rates, net),
                               self._margin_mmr(name, leverage, loan), own)
                self._assets[name] = found
            return found

        for name in nets:
            asset(name)
        um_brackets = self._brackets(inp.um_brackets, "UM")
        cm_brackets = self._brackets(inp.cm_brackets, "COIN-M")
        for leg in inp.um:
            parts = split_symbol(leg.symbol)
            if leg.amount == 0:
                continue
            if parts is None or parts[1] == "USD" or not leg.mark.is_finite() or leg.mark <= 0:
                self._note(f"position {leg.symbol}", f"The position {leg.symbol} has no usable "
                           "quote asset or mark price, so it is left out of the model.")
                continue
            under, quote = parts
            quote_asset = asset(quote)
            exposure = leg.amount * leg.mark
            quote_asset.um_terms.append((under, exposure))
            self._add_leg(leg.symbol, under, False, abs(exposure), quote_asset,
                          um_brackets, leg.maint_margin)
        for cm in inp.cm:
            coin = _coin_of(cm.symbol)
            if cm.contracts == 0:
                continue
            if coin is None or not cm.mark.is_finite() or cm.mark <= 0:
                self._note(f"position {cm.symbol}", f"The position {cm.symbol} has no usable "
                           "coin or mark price, so it is left out of the model.")
                continue
            size = cm.contract_size or cm_contract_size(coin)
            coin_notional = cm.contracts * size / cm.mark  # signed, in the coin
            coin_asset = asset(coin)
            coin_asset.cm_term += coin_notional
            self._add_leg(cm.symbol, coin, True, abs(coin_notional), coin_asset,
                          cm_brackets, cm.maint_margin)
        for a in self._assets.values():
            # A move can turn a net positive: an asset futures settle in needs its rate too.
            if a.name in self._unrated and (a.um_terms or a.cm_term) and self._rates_fetched:
                self._note(f"collateral rate {a.name}", f"No collateral rate for {a.name}: "
                           "it counts at 0 in the model.")
            a.um_terms = _merge(a.um_terms)
            a.by_under = dict(a.um_terms)
            a.moving = sum((e for u, e in a.um_terms if u not in self._stable), ZERO)
        self._assets_list = list(self._assets.values())

    def _rates(self) -> dict[str, Decimal | None]:
        if self.inputs.collateral_rates is None:
            if self._rates_fetched:  # PM Pro: the tiers alone
                return {}
            self._note("collateral rates", "The collateral rates were not fetched, so every "
                       "asset other than a stablecoin counts at 0.")
            return {}
        return {r.asset: r.collateralRate for r in self.inputs.collateral_rates if r.asset}

    def _rate(self, name: str, rates: Mapping[str, Decimal | None], net: Decimal) -> Decimal:
        rate = rates.get(name)
        if rate is None:
            if name in rates or (self._rates_fetched and net > 0):
                self._note(f"collateral rate {name}",
                           f"No collateral rate for {name}: it counts at 0 in the model.")
            # Without the list at all, stablecoins keep full value (their rate is 1 in practice).
            if not self._rates_fetched and name in self._stable:
                return ONE
            self._unrated.add(name)
            return ZERO
        if not ZERO <= rate <= ONE:
            self._note(f"collateral rate {name}", f"The collateral rate of {name} is {rate}, "
                       "outside 0 to 1: it is taken as " + ("1." if rate > ONE else "0."))
            return min(max(rate, ZERO), ONE)
        return rate

    def _tiers(self) -> dict[str, tuple[tuple[Decimal, Decimal, Decimal], ...]]:
        """Each asset's collateral tiers as (floor, cap, rate), sorted; an asset whose tiers are
        empty or absurd (a missing bound, cap ≤ floor, overlapping tiers, a rate outside 0 … 1)
        keeps its flat rate."""
        out: dict[str, tuple[tuple[Decimal, Decimal, Decimal], ...]] = {}
        for row in self.inputs.tiered_collateral_rates or ():
            if not row.asset:
                continue
            tiers: list[tuple[Decimal, Decimal, Decimal]] = []
            for t in row.collateralInfo:
                f, c, r = t.tierFloor, t.tierCap, t.collateralRate
                if f is None or c is None or r is None or not (ZERO <= f < c and ZERO <= r <= ONE):
                    tiers = []
                    break
                tiers.append((f, c, r))
            tiers.sort()
            if tiers and all(tiers[i][0] >= tiers[i - 1][1] for i in range(1, len(tiers))):
                out[row.asset] = tuple(tiers)
                continue
            self._note(f"collateral tiers {row.asset}", f"The collateral tiers of {row.asset} "
                       "are empty or absurd, so its flat collateral rate is used.")
        return out

    def _prices(self) -> dict[str, AssetIndexPrice]:
        if self.inputs.index_prices is None:
            self._note("index prices", "The asset index prices were not fetched, so the model "
                       "values assets by futures marks where it can.")
            return {}
        return {p.asset: p for p in self.inputs.index_prices if p.asset}

    def _marks_by_underlying(self) -> dict[str, Decimal]:
        marks: dict[str, Decimal] = {}
        for leg in self.inputs.um:
            parts = split_symbol(leg.symbol)
            if parts and parts[1] in self._stable and leg.mark.is_finite() and leg.mark > 0 \
                    and not _MULTIPLIER.match(leg.symbol):
                marks.setdefault(parts[0], leg.mark)
        for cm in self.inputs.cm:
            coin = _coin_of(cm.symbol)
            if coin and cm.mark.is_finite() and cm.mark > 0:
                marks.setdefault(coin, cm.mark)
        return marks

    def _price(self, name: str, prices: Mapping[str, AssetIndexPrice],
               marks: Mapping[str, Decimal], net: Decimal, loan: Decimal) -> Decimal:
        row = prices.get(name)
        price = row.assetIndexPrice if row is not None else None
        if row is not None and price is not None and price > 0:
            now, when = self.inputs.now_ms, row.time
            if now is not None and when is not None and now - when > self.inputs.max_age_ms:
                self._note(f"index price {name}", f"The index price of {name} is "
                           f"{(now - when) // 60_000} min old, so the model may lag the market.")
            self._priced.add(name)
            return price
        if name in self._stable:
            fallback, value = "counts at 1 USD", ONE
        elif name in marks:
            fallback, value = "is valued at its futures mark", marks[name]
        else:
            fallback, value = "counts at 0", ZERO
        if price is not None:
            self._note(f"index price {name}", f"The index price of {name} is {price}, not a "
                       f"price, so {name} {fallback} in the model.")
        elif self.inputs.index_prices is not None and (net != 0 or loan != 0):
            self._note(f"index price {name}", f"No index price for {name}, so it {fallback} "
                       "in the model.")
        elif self.inputs.index_prices is None and value == 0 and (net != 0 or loan != 0):
            self._note(f"index price {name}", f"No price for {name}: it counts at 0 in the model.")
        return value

    def _leverage(self) -> dict[str, Decimal | None]:
        rows = self.inputs.margin_leverage
        return {} if rows is None else {r.asset: r.leverage for r in rows if r.asset}

    def _margin_mmr(self, name: str, leverage: Mapping[str, Decimal | None], loan: Decimal) -> Decimal:
        if loan == 0:
            return ZERO
        mmr = MARGIN_MMR_BY_LEVERAGE.get(leverage.get(name) or ZERO)
        if mmr is None:
            what = ("the margin leverages were not fetched" if self.inputs.margin_leverage is None
                    else f"{name}'s margin leverage is not one Binance lists")
            self._note(f"margin leverage {name}", f"{name} has a loan but {what}, so its loan "
                       f"counts at the strictest margin ratio ({_STRICTEST_MARGIN_MMR:.0%}).")
            return _STRICTEST_MARGIN_MMR
        return mmr

    def _brackets(self, rows: Sequence[SymbolBrackets] | None, market: str) -> dict[str, Any] | None:
        """Each symbol's brackets as (caps, MMRs, cums) sorted by cap, or None where they are
        empty or absurd (an MMR outside [0, 1), a negative cum, a cap that is not above 0)."""
        if rows is None:
            return None
        table: dict[str, Any] = {}
        for row in rows:
            if row.symbol:
                table[row.symbol] = row
        return table

    @staticmethod
    def _bracket_arrays(row: SymbolBrackets) -> tuple[list[Decimal], list[Decimal], list[Decimal]] | None:
        caps, mmrs, cums = [], [], []
        for b in row.brackets:
            cap = b.notionalCap if b.notionalCap is not None else b.qtyCap
            mmr, cum = b.maintMarginRatio, b.cum if b.cum is not None else ZERO
            if cap is None or cap <= 0 or mmr is None or not ZERO <= mmr < ONE or cum < 0:
                return None
            caps.append(cap)
            mmrs.append(mmr)
            cums.append(cum)
        if not caps:
            return None
        if any(a >= b for a, b in zip(caps, caps[1:], strict=False)):  # Binance sends them sorted
            order = sorted(range(len(caps)), key=caps.__getitem__)
            caps, mmrs, cums = ([xs[i] for i in order] for xs in (caps, mmrs, cums))
        return caps, mmrs, cums

    def _add_leg(self, symbol: str, under: str, coin_margined: bool, notional: Decimal,
                 price_asset: _Asset, table: dict[str, Any] | None, fallback: Decimal | None) -> None:
        row = table.get(symbol) if table is not None else None
        entry = None
        if row is not None:  # hedge mode: two legs a symbol, one reading of its brackets
            entry = self._arrays.get((coin_margined, symbol), False)
            if entry is False:
                entry = self._arrays[(coin_margined, symbol)] = self._bracket_arrays(row)
        if entry is None:
            market = "COIN-M" if coin_margined else "UM"
            if table is None:
                why = f"the {market} leverage brackets were not fetched"
            elif symbol in table:
                why = f"its {market} leverage brackets are empty or absurd"
            else:
                why = f"it has no {market} leverage bracket"
            self._note(f"brackets {symbol}", f"The maintenance margin of {symbol} is "
                       f"{'Binance’s own figure' if fallback is not None else 'left out'}: {why}.")
            caps: list[Decimal] = []
            mmrs: list[Decimal] = []
            cums: list[Decimal] = []
        else:
            caps, mmrs, cums = entry
        if price_asset.name not in self._priced and self.inputs.index_prices is not None:
            self._note(f"index price {price_asset.name}", f"No index price for "
                       f"{price_asset.name}, which values the margin of {symbol}, so the model "
                       "uses " + ("1 USD." if price_asset.price == ONE else "a futures mark."))
        self._legs.append(_Leg(symbol, under, coin_margined, notional, price_asset, caps, mmrs,
                               cums, abs(fallback) if fallback is not None else None))

    # -- evaluating a move -----------------------------------------------------------------------

    def _legs_mm(self, legs: Iterable[_Leg], scale: Decimal) -> Decimal:
        """The futures MM (USD) of legs on one underlying, its prices scaled by `scale`."""
        total = ZERO
        for leg in legs:
            if leg.coin_margined:
                notional = leg.notional0 / scale  # a USD-fixed contract is worth fewer coins
                usd = leg.price_asset.price * scale
            else:
                notional = leg.notional0 * scale
                usd = leg.price_asset.price  # the quote: a stablecoin in practice
            if leg.caps:
                i = bisect_right(leg.caps, notional)
                if i == len(leg.caps):
                    i -= 1  # beyond the last cap: the last bracket still applies
                mm = leg.mmrs[i] * notional - leg.cums[i]
            elif leg.fallback is not None:
                mm = leg.fallback * (ONE / scale if leg.coin_margined else scale)
            else:
                mm = ZERO
            total += mm * usd
        return total

    def _under_mm(self, under: str, s: Decimal) -> Decimal:
        """The futures MM (USD) of one underlying's legs at price factor `s`: α + β·s on the
        segment `s` falls in (see _segments), or leg by leg outside the precomputed range."""
        if _S_LO <= s <= _S_HI:
            breaks, alphas, betas = self._segments[under]
            j = bisect_right(breaks, s)
            return alphas[j] + betas[j] * s
        return self._legs_mm(self._by_underlying[under], s)

    def _asset_at(self, a: _Asset, s: Decimal, underlying: str | None) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """(net, price, equity, margin MM) of one asset after the move (s = 1 + move)."""
        moved = a.underlying is not None and (underlying is None or a.underlying == underlying)
        sa = s if moved else ONE
        net = a.net0
        if s != ONE:
            exposure = a.moving if underlying is None else a.by_under.get(underlying)
            if exposure:
                net += exposure * (s - ONE)
            if a.cm_term and sa != ONE:
                net += a.cm_term * (ONE - ONE / sa)
        price = a.price * sa
        value = net * price
        if net > 0:
            value = _tiered(value, a.tiers) if a.tiers else value * a.rate
        return net, price, value, a.loan * a.margin_mmr * price

    def _totals(self, move: Decimal, underlying: str | None,
                lines: list[AssetLine] | None = None) -> tuple[Decimal, Decimal, Decimal]:
        """(adjusted equity, futures MM, margin MM) in USD after `move` of every non-stablecoin
        (underlying None) or of one underlying; a stablecoin never moves."""
        s = ONE + move
        if underlying in self._stable:
            s = ONE
        if lines is None and underlying is not None:  # only what this underlying touches
            equity, margin_mm = self._base_equity, self._base_margin
            if s != ONE:
                for a in self._touched.get(underlying, ()):
                    _, _, value, mm = self._asset_at(a, s, underlying)
                    old_value, old_mm = self._base_lines[a.name]
                    equity += value - old_value
                    margin_mm += mm - old_mm
        else:
            equity, margin_mm = -self.inputs.open_loss, ZERO
            for a in self._assets_list:
                net, price, value, mm = self._asset_at(a, s, underlying)
                equity += value
                margin_mm += mm
                if s == ONE:
                    self._base_lines[a.name] = (value, mm)
                if lines is not None and (net or a.loan):
                    rate = value / (net * price) if a.tiers and net > 0 and price > 0 else a.rate
                    lines.append(AssetLine(a.name, net, price, rate, value, mm))
        futures_mm = sum(self._mm_base.values(), ZERO)
        if s != ONE:  # an unmoved underlying keeps its cached MM
            if underlying is None:
                futures_mm -= self._moving_mm_base
                for under in self._segments:
                    futures_mm += self._under_mm(under, s)
            elif underlying in self._segments:
                futures_mm += self._under_mm(underlying, s) - self._mm_base[underlying]
        return equity, futures_mm, margin_mm

    def unimmr_at(self, move: Decimal, underlying: str | None = None) -> tuple[Decimal, Decimal]:
        """(adjusted equity, MM) after the move: the fast path the ladder and the search use."""
        key = (underlying, move)
        hit = self._cache.get(key)
        if hit is None:
            equity, fmm, mmm = self._totals(move, underlying)
            hit = self._cache[key] = (equity, fmm + mmm)
        return hit

    def scenario(self, move: Decimal, underlying: str | None = None) -> ModelResult:
        """The whole model after a move of every non-stablecoin price (underlying None) or of one
        underlying's: `scenario(Decimal("-0.1"), "BTC")` is "BTC −10%"."""
        lines: list[AssetLine] = []
        equity, fmm, mmm = self._totals(move, underlying, lines)
        mm = fmm + mmm
        reasons = list(dict.fromkeys([*self.inputs.problems, *self._missing.values()]))
        unimmr = equity / mm if mm > 0 else None
        reported = self.inputs.reported_unimmr
        gap = None if move != 0 else (self.inputs.reconciled_gap if self.inputs.reconciled_gap is not None
                                      else reconcile_gap(unimmr, reported))
        if unimmr is not None and gap is not None and abs(gap) > RECONCILE_GAP:
            # The last reason, so what is missing reads first (pmtui.riskview.off names that one).
            reasons.append(f"The model's uniMMR {_fixed(unimmr, _Q4)} is more than 2% from "
                           f"Binance's {reported}: an input is missing or out of date.")
        return ModelResult(unimmr, equity, mm, fmm, mmm, tuple(lines), tuple(self._missing),
                           tuple(reasons))

    # -- what the user reads ---------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Every input there and usable: its gap to Binance's figure says how right it is."""
        return not self.inputs.problems and not self._missing

    @property
    def gap(self) -> Decimal | None:
        """How far the model is from Binance's uniMMR, as a fraction of it (None: either is
        unknown): as measured when Binance's figure came, when the Monitor says so."""
        if self.inputs.reconciled_gap is not None:
            return self.inputs.reconciled_gap
        return reconcile_gap(self.base.unimmr, self.inputs.reported_unimmr)

    @cached_property
    def underlyings(self) -> tuple[str, ...]:
        """Underlyings that move something, largest gross exposure (USD) first."""
        gross: dict[str, Decimal] = {}
        for a in self._assets.values():
            if a.underlying is not None and (a.net0 or a.loan):
                gross[a.underlying] = gross.get(a.underlying, ZERO) + abs(a.net0 * a.price)
        for leg in self._legs:
            if leg.underlying not in self._stable:  # USDCUSDT does not move: nothing to ladder
                usd = leg.notional0 * leg.price_asset.price
                gross[leg.underlying] = gross.get(leg.underlying, ZERO) + usd
        return tuple(sorted(gross, key=lambda u: (-gross[u], u)))

    def _ratio(self, move: Decimal, underlying: str | None) -> tuple[Decimal | None, bool]:
        equity, mm = self.unimmr_at(move, underlying)
        if mm <= 0:
            return None, equity < 0
        ratio = equity / mm
        return ratio, ratio <= LIQUIDATION_UNIMMR

    def ladder(self, underlying: str | None = None,
               moves: Sequence[Decimal] = LADDER_MOVES) -> tuple[Rung, ...]:
        rungs = []
        for move in moves:
            ratio, gone = self._ratio(move, underlying)
            level = "LIQUIDATED" if gone else self._level(ratio)
            rungs.append(Rung(move, ratio, gone, level))
        return tuple(rungs)

    def _level(self, ratio: Decimal | None) -> str:
        """health.ratio_level's name, on thresholds read once (it runs 121 times a ladder)."""
        warn, danger, critical = self._levels
        if ratio is None or ratio > warn:
            return Level.OK.name
        if ratio > danger:
            return Level.WARN.name
        return Level.DANGER.name if ratio > critical else Level.CRITICAL.name

    def _gap(self, move: Decimal, underlying: str | None, target: Decimal) -> Decimal | None:
        """uniMMR − target; None stands for +∞ (no MM and equity ≥ 0: nothing to liquidate)."""
        equity, mm = self.unimmr_at(move, underlying)
        if mm <= 0:
            return None if equity >= 0 else Decimal("-Infinity")
        return equity / mm - target

    def liquidation_move(self, target: Decimal = LIQUIDATION_UNIMMR,
                         underlying: str | None = None) -> Crossing:
        """The smallest move down and up taking uniMMR to `target` (± 1e-7), by scanning
        −99% … +300% outward and refining the first bracket that crosses over the exact model.
        Kept: the model never changes, and the panel, the ladder, check and the metrics each ask."""
        key = (target, underlying)
        if (found := self._crossings.get(key)) is not None:
            return found
        now = self._gap(ZERO, underlying, target)
        if now is not None and now <= 0:
            found = Crossing(target, ZERO, ZERO)
        else:
            found = Crossing(target, self._search(_DOWN_GRID, underlying, target),
                             self._search(_UP_GRID, underlying, target))
        self._crossings[key] = found
        return found

    def nearest_liquidation(self, underlying: str | None = None, within: Decimal | None = None,
                            target: Decimal = LIQUIDATION_UNIMMR) -> Decimal | None:
        """The nearer of liquidation_move's down and up moves (down on a tie), or None where
        neither exists; with `within`, also None where the nearer is farther than |within|. Then
        each direction is scanned only as far out as a move that near could lie, to the same
        bracket and root as liquidation_move: the nearest underlying of ten, found each refresh,
        asked the others for their whole −99% … +300% for nothing. Kept, as the model never changes."""
        if within is None or (target, underlying) in self._crossings:
            c = self.liquidation_move(target, underlying)
            found = [m for m in (c.down, c.up) if m is not None]
            near = min(found, key=abs) if found else None
            return near if near is None or within is None or abs(near) <= abs(within) else None
        key = (target, underlying, abs(within))
        if key in self._nearest:
            return self._nearest[key]
        bound = abs(within)
        now = self._gap(ZERO, underlying, target)
        if now is not None and now <= 0:
            self._nearest[key] = ZERO
            return ZERO
        scans = [_Scan(_DOWN_GRID, fa=now), _Scan(_UP_GRID, fa=now)]
        while True:
            # A root in (a, b] is farther than |a|: a direction whose a is as far as the bound
            # (or as a root found) cannot give the nearer one.
            open_ = [sc for sc in scans if sc.root is None and sc.i < len(sc.grid) and abs(sc.a) < bound]
            if not open_:
                break
            sc = min(open_, key=lambda sc: abs(sc.grid[sc.i]))  # outward on both sides at once
            b = sc.grid[sc.i]
            fb = self._gap(b, underlying, target)
            if fb is not None and fb <= 0:
                sc.root = self._refine(sc.a, sc.fa, b, fb, underlying, target)
                bound = min(bound, abs(sc.root))
            sc.i, sc.a, sc.fa = sc.i + 1, b, fb
        found = [sc.root for sc in scans if sc.root is not None]
        near = min(found, key=abs) if found else None  # down first: liquidation_move's tie
        result = near if near is not None and abs(near) <= abs(within) else None
        self._nearest[key] = result
        return result

    def _search(self, grid: Sequence[Decimal], underlying: str | None,
                target: Decimal) -> Decimal | None:
        a, fa = ZERO, self._gap(ZERO, underlying, target)
        for b in grid:
            fb = self._gap(b, underlying, target)
            if fb is not None and fb <= 0:
                return self._refine(a, fa, b, fb, underlying, target)
            a, fa = b, fb
        return None

    def _refine(self, a: Decimal, fa: Decimal | None, b: Decimal, fb: Decimal,
                underlying: str | None, target: Decimal) -> Decimal:
        """A root of the gap in (a, b] with fa > 0 ≥ fb: regula falsi (Illinois) while both ends
        are finite, bisection otherwise; stops at |gap| ≤ TOLERANCE. The gap is continuous (cum
        makes the MM continuous across brackets; the haircut's min is continuous)."""
        if -TOLERANCE <= fb:
            return b
        side = 0
        for _ in range(200):
            finite = fa is not None and fb.is_finite()
            x = (a * fb - b * fa) / (fb - fa) if finite else (a + b) / 2  # type: ignore[operator]
            if x == a or x == b:
                x = (a + b) / 2
            fx = self._gap(x, underlying, target)
            if fx is not None and abs(fx) <= TOLERANCE:
                return x
            if fx is None or fx > 0:
                a, fa = x, fx
                if side == 1 and fb.is_finite():
                    fb /= 2  # Illinois: halve the stale end so the bracket shrinks on both sides
                side = 1
            else:
                b, fb = x, fx
                if side == -1 and fa is not None:
                    fa /= 2
                side = -1
            if abs(b - a) < Decimal("1e-20"):
                break
        return b

    def to_json(self, max_underlyings: int = 10) -> dict[str, Any]:
        """The `view.risk` block of `snapshot --json`: decimals as strings, moves as fractions."""
        base = self.base
        reported = self.inputs.reported_unimmr
        diff = _fixed(base.unimmr - reported, _Q4) if (
            base.unimmr is not None and reported is not None) else None

        def move_str(m: Decimal | None) -> str | None:
            return None if m is None else _fixed(m, _Q4)

        def crossing(c: Crossing) -> dict[str, str | None]:
            return {"down": move_str(c.down), "up": move_str(c.up)}

        def rungs(rs: Sequence[Rung]) -> list[dict[str, str | None]]:
            return [{"move": str(r.move),
                     "uniMMR": "liquidated" if r.liquidated else (
                         None if r.unimmr is None else _fixed(r.unimmr, _Q4)),
                     "level": r.level} for r in rs]

        underlyings = {}
        for u in self.underlyings[:max_underlyings]:
            underlyings[u] = {**crossing(self.liquidation_move(underlying=u)),
                              "ladder": rungs(self.ladder(u))}
        return {
            "model": {
                "uniMMR": None if base.unimmr is None else _fixed(base.unimmr, _Q4),
                "adjustedEquity": _fixed(base.adjusted_equity, _Q2),
                "maintMargin": _fixed(base.maint_margin, _Q2),
                "reportedUniMMR": None if reported is None else str(reported),
                "difference": diff,
                "approximate": base.approximate,
                "reasons": list(base.reasons),
            },
            "liquidationMove": crossing(self.liquidation_move()),
            "moves": {str(t): crossing(self.liquidation_move(t)) for t in SEARCH_TARGETS},
            "underlyings": underlyings,
            "ladder": rungs(self.ladder()),
        }


#: The price factors (1 + move) the piecewise-linear MM covers; beyond them, leg by leg.
_S_LO, _S_HI = Decimal("0.001"), Decimal(10)


def _segments(legs: Sequence[_Leg]) -> tuple[list[Decimal], list[Decimal], list[Decimal]]:
    """One underlying's futures MM (USD) as a function of its price factor s, precomputed.

    Within a bracket a leg's MM is linear in s: a UM leg's (MMR·N₀·s − cum)·P_quote is β·s + α,
    and a COIN-M leg's (MMR·N₀/s − cum)·P_coin·s (its coin notional shrinks as the coin's USD
    price grows) is α + β·s too. So the sum is α + β·s between the points where some leg changes
    bracket: `breaks` (sorted) with α, β after each (index 0: below the first break). The exact
    same Decimal terms as leg by leg, summed in another order."""
    alpha = beta = ZERO
    events: list[tuple[Decimal, Decimal, Decimal]] = []  # (s, Δα, Δβ)
    for leg in legs:
        usd = leg.price_asset.price
        if not leg.caps:
            if leg.fallback is not None:
                if leg.coin_margined:
                    alpha += leg.fallback * usd
                else:
                    beta += leg.fallback * usd
            continue
        caps, mmrs, cums, n0 = leg.caps, leg.mmrs, leg.cums, leg.notional0
        last = len(caps) - 1
        if leg.coin_margined:  # notional n0/s falls as s rises: brackets step down
            i = min(bisect_right(caps, n0 / _S_LO), last)
            alpha += mmrs[i] * n0 * usd
            beta -= cums[i] * usd
            for k in range(i, 0, -1):
                at = n0 / caps[k - 1]
                if at > _S_HI:
                    break
                events.append((at, (mmrs[k - 1] - mmrs[k]) * n0 * usd, (cums[k] - cums[k - 1]) * usd))
        else:  # notional n0·s rises with s: brackets step up
            i = min(bisect_right(caps, n0 * _S_LO), last)
            beta += mmrs[i] * n0 * usd
            alpha -= cums[i] * usd
            for k in range(i, last):
                at = caps[k] / n0
                if at > _S_HI:
                    break
                events.append((at, (cums[k] - cums[k + 1]) * usd, (mmrs[k + 1] - mmrs[k]) * n0 * usd))
    events.sort(key=lambda e: e[0])
    breaks, alphas, betas = [], [alpha], [beta]
    for at, d_alpha, d_beta in events:
        alpha += d_alpha
        beta += d_beta
        breaks.append(at)
        alphas.append(alpha)
        betas.append(beta)
    return breaks, alphas, betas


def _tiered(value: Decimal, tiers: Sequence[tuple[Decimal, Decimal, Decimal]]) -> Decimal:
    """A positive USD value after tiered haircuts: each slice between a tier's floor and cap at
    that tier's rate (Binance's worked example: 100,000,000 × 100% + 20,000,000 × 97.5%). Beyond
    the last cap (99,999,999,999 USD in Binance's tables) nothing more counts. Computed from the
    bounds rather than the `cum` Binance also sends, which its own example body leaves at 0 where
    the tiers say it cannot be."""
    return sum(((min(value, cap) - floor) * rate for floor, cap, rate in tiers if value > floor),
               ZERO)


def _fixed(value: Decimal, places: Decimal) -> str:
    """`value` to `places` as a plain decimal string; a figure too long for the context's 28
    digits (an absurd input's uniMMR of 1e40) is written in full rather than raising."""
    try:
        return str(value.quantize(places))
    except InvalidOperation:
        return format(value, "f")


def _merge(terms: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    merged: dict[str, Decimal] = {}
    for under, exposure in terms:
        merged[under] = merged.get(under, ZERO) + exposure
    return [(u, e) for u, e in merged.items() if e]


__all__ = [
    "LADDER_MOVES", "MARGIN_MMR_BY_LEVERAGE", "STABLECOINS", "AssetLine", "CmLeg", "Crossing",
    "Inputs", "Level", "ModelResult", "RiskModel", "Rung", "UmLeg", "cm_legs", "split_symbol",
    "um_legs", "underlying_of",
]
