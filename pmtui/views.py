"""What the tables show: account data joined with health, as rows. Shared by the dashboard and
the headless commands so both say the same thing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from copy import copy
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property

from pmtui.exposure import CoinExposure, NextTier, exposures, next_tier
from pmtui.health import (
    Level,
    Totals,
    Verdict,
    account_level,
    asset_level,
    asset_mm_usage,
    loss_level,
    mm_share,
    share_level,
    totals,
    upnl_level,
    verdict,
)
from pmtui.market import SymbolRules
from pmtui.model import cm_contract_size
from pmtui.models import (
    AdlQuantile,
    Asset,
    Balance,
    CmAccount,
    CmPosition,
    CmPositionRisk,
    PmAccount,
    Position,
    PositionRisk,
    UmAccount,
)
from pmtui.risk import Estimate, Headroom, account_headroom, estimate_account, join, liq_distance, liq_level, risk_map
from pmtui.riskinputs import SymbolBrackets
from pmtui.settings import Thresholds

ZERO = Decimal(0)
#: The two futures markets of a Portfolio Margin account: USD-M (UM) and COIN-M (CM).
UM, CM = "UM", "CM"


def row_key(symbol: str, side: str, venue: str = UM) -> str:
    """A stable row key: one symbol has two rows (LONG, SHORT) in hedge mode. A COIN-M row's key
    starts with "CM:" (a UM key stays "SYMBOL:SIDE", as alerts and saved selections know it)."""
    return f"{symbol}:{side}" if venue == UM else f"{venue}:{symbol}:{side}"


@dataclass(frozen=True, slots=True)
class AssetRow:
    asset: Asset
    usage: Decimal | None  # maintenance margin / margin balance
    level: Level

    @property
    def key(self) -> str:
        return self.asset.asset


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One asset of /papi/v1/balance, judged: what a margin call eats first stands out. A negative
    balance (or a negative wallet) is DANGER: the account already owes it; a cross-margin loan or
    its interest is WARN: a liability that counts against equity and grows."""

    balance: Balance
    level: Level

    @property
    def key(self) -> str:
        return self.balance.asset

    @property
    def borrowed_level(self) -> Level:
        return Level.WARN if self.balance.borrowed else Level.OK

    @property
    def interest_level(self) -> Level:
        return Level.WARN if self.balance.interest else Level.OK

    @property
    def negative_level(self) -> Level:
        return Level.DANGER if self.balance.negative else Level.OK


def balance_level(b: Balance) -> Level:
    if b.negative or (b.totalWalletBalance is not None and b.totalWalletBalance < 0):
        return Level.DANGER
    if b.borrowed or b.interest:
        return Level.WARN
    return Level.OK


def balance_rows(balances: Iterable[Balance], *, include_zero: bool = False) -> tuple[BalanceRow, ...]:
    """The balances as rows, problems first (the worst level, then the most owed), then by asset;
    zero rows only with `include_zero`."""
    rows = [BalanceRow(b, balance_level(b)) for b in balances if include_zero or not b.is_zero]
    rows.sort(key=lambda r: (-r.level, -r.balance.owed, r.key))
    return tuple(rows)


# Not frozen: a refresh builds one per symbol and side (2000 in hedge mode on 1000 symbols), and a
# frozen dataclass's __init__ costs twice as much. Treat rows as read-only all the same.
@dataclass(slots=True)
class PositionRow:
    #: A UM position (margins in USD-like quote assets), or a COIN-M one (amounts in contracts,
    #: margins and uPnL in the coin): read money through the *_usd properties to compare rows.
    position: Position | CmPosition
    share: Decimal  # of the account's maintenance margin (a COIN-M one converted at its mark)
    level: Level  # the worst of share_level, loss_level and liq_level: the row's health mark
    #: Its positionRisk row (/papi/v1/um/ or /papi/v1/cm/positionRisk), when fetched and present.
    risk: PositionRisk | CmPositionRisk | None = None
    #: |mark - liquidation| / mark (a fraction); None without a risk row or liquidation price.
    liq_distance: Decimal | None = None
    liq_level: Level = Level.OK
    #: The symbol's tick and step size (exchangeInfo), for display; None when not known.
    market: SymbolRules | None = None
    #: The share's own level (health.share_level), which colours the MM% cell.
    share_level: Level = Level.OK
    #: The unrealised loss's own level (health.loss_level).
    loss_level: Level = Level.OK
    #: UM (USD-M) or CM (COIN-M). (`market` is the symbol's tick and step size.)
    venue: str = UM
    #: Its ADL queue position, 0 (back) to 4 (front: deleveraged first); None: not known.
    adl: int | None = None

    @property
    def key(self) -> str:
        return row_key(self.position.symbol, self.position.positionSide, self.venue)

    @property
    def is_cm(self) -> bool:
        return self.venue == CM

    @property
    def coin(self) -> str | None:
        """The coin a COIN-M row's margins and uPnL are in (None for a UM row)."""
        p = self.position
        return p.coin if isinstance(p, CmPosition) else None

    @property
    def coin_price(self) -> Decimal | None:
        """USD per coin for a COIN-M row: its mark price, else its entry price (an estimate: the
        coin's index price is not fetched). None for a UM row or when neither is known."""
        for price in (self.mark_price, self.entry_price):
            if price is not None and price > 0:
                return price
        return None

    def usd(self, value: Decimal | None) -> Decimal | None:
        """A money figure of this row in USD: a UM row's as it is, a COIN-M row's coin amount at
        coin_price (None when unknown)."""
        if value is None or not self.is_cm:
            return value
        price = self.coin_price
        return None if price is None else value * price

    @property
    def notional_usd(self) -> Decimal | None:
        """Signed notional in USD: a UM row's `notional`; a COIN-M row's notionalValue (coin) at
        its mark, signed by direction. None when not known (a COIN-M row without its risk row)."""
        p = self.position
        if isinstance(p, Position):
            return p.notional
        risk = self.risk
        value = risk.notionalValue if isinstance(risk, CmPositionRisk) else None
        mark = self.mark_price
        if value is None or mark is None or mark <= 0:  # "0": no mark, not a worthless position
            return None
        size = abs(value) * mark
        return size if p.is_long else -size

    @property
    def upnl_usd(self) -> Decimal | None:
        return self.usd(self.position.unrealizedProfit)

    @property
    def maint_usd(self) -> Decimal | None:
        return self.usd(self.position.maintMargin)

    @property
    def tick_size(self) -> Decimal | None:
        return self.market.tick_size if self.market is not None else None

    @property
    def step_size(self) -> Decimal | None:
        return self.market.step_size if self.market is not None else None

    @property
    def entry_price(self) -> Decimal | None:
        p = self.position
        if isinstance(p, CmPosition) and (self.risk is None or not self.risk.entryPrice):
            return p.entryPrice  # a COIN-M account row carries its own entry price
        return self.risk.entryPrice if self.risk is not None else None

    @property
    def mark_price(self) -> Decimal | None:
        return self.risk.markPrice if self.risk is not None else None

    @property
    def liquidation_price(self) -> Decimal | None:
        """None without a risk row; Decimal 0 when Binance gives none (cannot be liquidated alone)."""
        return self.risk.liquidationPrice if self.risk is not None else None

    @property
    def leverage(self) -> Decimal | None:
        p = self.position
        if isinstance(p, CmPosition) and (self.risk is None or self.risk.leverage is None):
            return p.leverage
        return self.risk.leverage if self.risk is not None else None


@dataclass(frozen=True)
class AccountView:
    account: UmAccount
    totals: Totals
    #: The verdict's level, with the UM margin ratio standing in for a missing uniMMR (see verdict).
    level: Level
    assets: tuple[AssetRow, ...]
    open_positions: tuple[PositionRow, ...]  # the rows with a position, judged
    #: /papi/v1/account, when fetched: uniMMR, status, account equity and margins.
    pm: PmAccount | None = None
    #: positionRisk joined by (symbol, side).
    risks: Mapping[tuple[str, str], PositionRisk] = field(default_factory=dict, repr=False)
    thresholds: Thresholds = field(default_factory=Thresholds, repr=False)
    #: Each symbol's tick and step size (exchangeInfo), for display only; empty when not known.
    markets: Mapping[str, SymbolRules] = field(default_factory=dict, repr=False)
    #: /papi/v1/cm/account, when fetched: its open positions are rows of `open_positions` too.
    cm: CmAccount | None = None
    #: /papi/v1/cm/positionRisk joined by (symbol, side).
    cm_risks: Mapping[tuple[str, str], CmPositionRisk] = field(default_factory=dict, repr=False)
    # --- exposure, tiers and locks (pmtui.exposure) ---
    #: /papi/v1/balance (None: not read): collateral and loans per coin for `exposure`.
    balances: tuple[Balance, ...] | None = field(default=None, repr=False)
    #: USD index prices by asset (the risk engine's inputs), when fetched.
    prices: Mapping[str, Decimal] = field(default_factory=dict, repr=False)
    #: The leverage brackets by symbol (the risk engine's inputs), for `next_tier`.
    um_brackets: Mapping[str, SymbolBrackets] = field(default_factory=dict, repr=False)
    cm_brackets: Mapping[str, SymbolBrackets] = field(default_factory=dict, repr=False)
    #: Why the account cannot trade (canTrade false, a quantitative-rule lock), one phrase each.
    locks: tuple[str, ...] = ()

    @cached_property
    def exposure(self) -> tuple[CoinExposure, ...]:
        """Net and gross per underlying coin, largest first (pmtui.exposure)."""
        um = [(r.position.symbol, r.position.positionSide, r.position.positionAmt, r.mark_price)
              for r in self.open_positions if r.venue == UM]
        cm = [(r.position.symbol, r.position.positionSide, r.position.positionAmt, r.mark_price)
              for r in self.open_positions if r.venue == CM]
        return exposures(um, cm, self.balances or (), self.prices)

    def next_tier(self, row: PositionRow) -> NextTier | None:
        """How far `row` is from its next margin tier (None: no brackets, or the top tier)."""
        p = row.position
        if not row.is_cm:
            notional = row.notional_usd
            if notional is None:
                return None
            return next_tier(notional, self.um_brackets.get(p.symbol), Decimal(1))
        mark, coin = row.mark_price, row.coin
        if mark is None or mark <= 0 or coin is None:
            return None
        qty = p.positionAmt * cm_contract_size(coin) / mark
        return next_tier(qty, self.cm_brackets.get(p.symbol), mark, coin_margined=True)

    @cached_property
    def upnl(self) -> Decimal:
        """The whole account's unrealised PnL in USD: the UM account's, plus each open COIN-M
        position's at its mark price (one without a price adds nothing)."""
        cm = [row.upnl_usd for row in self.open_positions if row.venue == "CM"]
        return self.totals.unrealized + sum((u for u in cm if u is not None), ZERO)

    @cached_property
    def maint_margin(self) -> Decimal:
        """The whole account's futures maintenance margin in USD: the UM account's, plus each open
        COIN-M position's at its mark price (one without a price adds nothing)."""
        cm = [row.maint_usd for row in self.open_positions if row.venue == CM]
        return self.totals.maint_margin + sum((m for m in cm if m is not None), ZERO)

    def estimate_since(self, basis: AccountView) -> Estimate | None:
        """uniMMR and headroom as they may be now: Binance's own figure (`pm`, which came with
        `basis`'s positions) moved by what the total uPnL and maintenance margin did since. None
        without the account object."""
        if self.pm is None:
            return None
        return estimate_account(self.pm, self.upnl - basis.upnl, self.maint_margin - basis.maint_margin)

    @cached_property
    def positions(self) -> tuple[PositionRow, ...]:
        """Every row, zero ones included, in the API's order (UM, then COIN-M). Built on first
        use: the hundreds of flat rows matter only to the "all rows" view, and building them was
        most of a refresh."""
        judged = {r.key: r for r in self.open_positions}
        rows = [
            judged.get(row_key(p.symbol, p.positionSide)) or PositionRow(
                p, ZERO, Level.OK, self.risks.get(p.key), market=self.markets.get(p.symbol))
            for p in self.account.positions
        ]
        for c in self.cm.positions if self.cm is not None else ():
            rows.append(judged.get(row_key(c.symbol, c.positionSide, CM))
                        or PositionRow(c, ZERO, Level.OK, self.cm_risks.get(c.key), venue=CM))
        return tuple(rows)

    def row(self, key: str) -> PositionRow | None:
        """The row with this row key; open rows first, so the flat ones are built only if needed."""
        for rows in (self.open_positions, self.positions):
            found = next((r for r in rows if r.key == key), None)
            if found is not None:
                return found
        return None

    @property
    def unimmr(self) -> Decimal | None:
        return self.pm.uniMMR if self.pm is not None else None

    @cached_property
    def nearest_liquidation(self) -> PositionRow | None:
        """The open position nearest its liquidation price (None: no liquidation price known)."""
        return _nearest(self.open_positions)

    @property
    def has_cm(self) -> bool:
        """Whether any open position is a COIN-M one."""
        return any(r.venue == CM for r in self.open_positions)

    def verdict(self, *, stale: bool = False, refused: bool = False) -> Verdict:
        """The account's one verdict (health.verdict) on this data. `refused`: the key cannot read
        /papi/v1/account, so without uniMMR the UM margin ratio judges, and says so; without
        uniMMR for any other reason the verdict is UNKNOWN. `stale`: the data is not current."""
        return _verdict(self.account, self.totals, self.pm, self.nearest_liquidation, self.thresholds,
                        stale=stale, refused=refused, locks=self.locks)

    def with_pm(self, pm: PmAccount) -> AccountView:
        """This view with Binance's account object `pm` (a pushed uniMMR) in place of its own, as
        build_view would make it on the same parts: the rows and figures reused, or, when the
        account's level moves, the rows judged again on it (a large share of the margin is
        DANGER only on an account at WARN or worse). At 1,000 positions building the view anew
        held a pushed margin call back ~20 ms."""
        t = self.thresholds
        level = _verdict(self.account, self.totals, pm, self.nearest_liquidation, t, refused=True,
                         locks=self.locks).level
        if level == self.level:
            view = replace(self, pm=pm)
            parts = _PM_FREE_PARTS
        else:
            rows = tuple(copy(row) for row in self.open_positions)
            balance = self.totals.margin_balance
            for row in rows:
                _judge(row, balance, t, level)
            view = replace(self, pm=pm, level=level, open_positions=rows)
            parts = _ROW_FREE_PARTS
        for part in parts:  # worked out already, and none of them reads what changed
            if part in self.__dict__:
                view.__dict__[part] = self.__dict__[part]
        return view

    @property
    def headroom(self) -> Headroom | None:
        """How far equity can fall before uniMMR reaches 1.05; None without the account object."""
        return account_headroom(self.pm) if self.pm is not None else None

    def visible_assets(self, include_zero: bool) -> tuple[AssetRow, ...]:
        return self.assets if include_zero else tuple(r for r in self.assets if not r.asset.is_zero)


#: The cached parts of an AccountView that do not depend on its `pm` (with_pm keeps them), and
#: of those the ones that do not hold its rows either.
_PM_FREE_PARTS: tuple[str, ...] = ("exposure", "upnl", "maint_margin", "positions", "nearest_liquidation")
_ROW_FREE_PARTS: tuple[str, ...] = ("exposure", "upnl", "maint_margin")


def build_view(
    account: UmAccount,
    t: Thresholds,
    *,
    risks: Mapping[tuple[str, str], PositionRisk] | Iterable[PositionRisk] | None = None,
    pm: PmAccount | None = None,
    markets: Mapping[str, SymbolRules] | None = None,
    cm: CmAccount | None = None,
    cm_risks: Iterable[CmPositionRisk] | None = None,
    balances: tuple[Balance, ...] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    brackets: tuple[Iterable[SymbolBrackets] | None, Iterable[SymbolBrackets] | None] = (None, None),
    adl: tuple[Iterable[AdlQuantile] | None, Iterable[AdlQuantile] | None] = (None, None),
    locks: tuple[str, ...] = (),
) -> AccountView:
    """Rows with their levels. `risks` (positionRisk rows, or `risk.join`'s mapping) adds entry,
    mark and liquidation prices and liquidation distance to each row; `pm` adds uniMMR and
    `accountStatus`; `markets` (exchangeInfo) each symbol's tick size, for display. The
    account's level is its verdict's (the UM ratio standing in for uniMMR when `pm` is None).

    `cm` (/papi/v1/cm/account) adds its open COIN-M positions as rows (venue CM) and
    `cm_risks` (/papi/v1/cm/positionRisk) their prices. A COIN-M row is judged like a UM one on
    its liquidation distance, and on its margin share and loss converted to USD at its mark price
    (entry price without a mark): the account's margin and equity are USD figures, and a share
    of coin and USD amounts would mean nothing. Its maintenance margin in USD joins the total the
    shares are taken of, so the shares of all rows stay parts of one whole."""
    tot = totals(account)
    balance = tot.margin_balance
    joined = risk_map(risks, account.positions)
    markets = markets or {}
    cm_joined = join(cm.positions, cm_risks) if cm is not None and cm_risks is not None else {}
    cm_rows = [PositionRow(c, ZERO, Level.OK, cm_joined.get(c.key), venue=CM)
               for c in (cm.open_positions if cm is not None else ())]
    maint = tot.maint_margin + sum((m for r in cm_rows if (m := r.maint_usd) is not None), ZERO)
    rows = tuple(_position_row(p, maint, t, joined.get(p.key), markets.get(p.symbol))
                 for p in account.open_positions)
    for row in cm_rows:
        row.liq_distance = liq_distance(row.risk)
        row.liq_level = liq_level(row.liq_distance, t)
        m = row.maint_usd
        row.share = m / maint if m is not None and maint > 0 else ZERO
    rows += tuple(cm_rows)
    _join_adl(rows, adl)
    # The account's level first (it needs only the liquidation distances), then each row's: a
    # large share of the margin is DANGER only on an account that is itself at WARN or worse.
    level = _verdict(account, tot, pm, _nearest(rows), t, refused=True, locks=locks).level
    for row in rows:
        _judge(row, balance, t, level)
    return AccountView(
        account=account,
        totals=tot,
        level=level,
        assets=tuple(AssetRow(a, asset_mm_usage(a), asset_level(a, t)) for a in account.assets),
        open_positions=rows,
        pm=pm,
        risks=joined,
        thresholds=t,
        markets=markets,
        cm=cm,
        cm_risks=cm_joined,
        balances=balances,
        prices=prices or {},
        um_brackets={b.symbol: b for b in brackets[0] or () if b.symbol},
        cm_brackets={b.symbol: b for b in brackets[1] or () if b.symbol},
        locks=locks,
    )


def _join_adl(rows: Iterable[PositionRow],
              adl: tuple[Iterable[AdlQuantile] | None, Iterable[AdlQuantile] | None]) -> None:
    """Each open row's ADL quantile from its market's adlQuantile rows (by symbol)."""
    by_venue = {UM: {a.symbol: a for a in adl[0] or ()}, CM: {a.symbol: a for a in adl[1] or ()}}
    for row in rows:
        found = by_venue[row.venue].get(row.position.symbol)
        if found is not None:
            row.adl = found.for_side(row.position.positionSide, row.position.is_long)


def _nearest(rows: Iterable[PositionRow]) -> PositionRow | None:
    near = [r for r in rows if r.liq_distance is not None]
    return min(near, key=lambda r: (r.liq_distance, r.key), default=None)


def _verdict(account: UmAccount, tot: Totals, pm: PmAccount | None, near: PositionRow | None,
             t: Thresholds, *, stale: bool = False, refused: bool = False,
             locks: tuple[str, ...] = ()) -> Verdict:
    fallback = (tot.ratio, account_level(account, t)) if pm is None and refused else None
    return verdict(
        t,
        unimmr=pm.uniMMR if pm is not None else None,
        status=pm.accountStatus if pm is not None else None,
        nearest=None if near is None or near.liq_distance is None else (position_label(near), near.liq_distance),
        fallback=fallback,
        stale=stale,
        locks=locks,
    )


def position_label(row: PositionRow) -> str:
    """"BTCUSDT" for a one-way position, "BTCUSDT SHORT" for one leg in hedge mode."""
    p = row.position
    return p.symbol if p.positionSide == "BOTH" else f"{p.symbol} {p.positionSide}"


def _position_row(p: Position, maint: Decimal, t: Thresholds, risk: PositionRisk | None,
                  market: SymbolRules | None = None) -> PositionRow:
    """An open position with its share of maintenance margin and liquidation distance; `_judge`
    sets its levels."""
    distance = liq_distance(risk)
    return PositionRow(p, mm_share(p, maint), Level.OK, risk, distance, liq_level(distance, t), market)


def _judge(row: PositionRow, balance: Decimal, t: Thresholds, account: Level) -> None:
    """Each part's own level (share, loss, liquidation distance), and the row's: the worst."""
    row.share_level = share_level(row.share, t, account)
    p = row.position
    if isinstance(p, Position):
        row.loss_level = loss_level(p, balance, t)
    else:
        # In USD at the mark; a gain (or none) needs no price to be no loss.
        pnl = row.upnl_usd
        if pnl is None and p.unrealizedProfit is not None and p.unrealizedProfit >= 0:
            pnl = ZERO
        row.loss_level = upnl_level(pnl, p.is_open, balance, t)
    row.level = max(row.share_level, row.loss_level, row.liq_level)
