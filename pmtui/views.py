"""What the tables show: account data joined with health, as rows. Shared by the dashboard and
the headless commands so both say the same thing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

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
    verdict,
)
from pmtui.market import SymbolRules
from pmtui.models import Asset, Balance, PmAccount, Position, PositionRisk, UmAccount
from pmtui.risk import Headroom, account_headroom, liq_distance, liq_level, risk_map
from pmtui.settings import Thresholds

ZERO = Decimal(0)


def row_key(symbol: str, side: str) -> str:
    """A stable row key: one symbol has two rows (LONG, SHORT) in hedge mode."""
    return f"{symbol}:{side}"


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
    position: Position
    share: Decimal  # of the account's maintenance margin
    level: Level  # the worst of share_level, loss_level and liq_level: the row's health mark
    #: Its /papi/v1/um/positionRisk row, when fetched and present.
    risk: PositionRisk | None = None
    #: |mark - liquidation| / mark (a fraction); None without a risk row or liquidation price.
    liq_distance: Decimal | None = None
    liq_level: Level = Level.OK
    #: The symbol's tick and step size (exchangeInfo), for display; None when not known.
    market: SymbolRules | None = None
    #: The share's own level (health.share_level), which colours the MM% cell.
    share_level: Level = Level.OK
    #: The unrealised loss's own level (health.loss_level).
    loss_level: Level = Level.OK

    @property
    def key(self) -> str:
        return row_key(self.position.symbol, self.position.positionSide)

    @property
    def tick_size(self) -> Decimal | None:
        return self.market.tick_size if self.market is not None else None

    @property
    def step_size(self) -> Decimal | None:
        return self.market.step_size if self.market is not None else None

    @property
    def entry_price(self) -> Decimal | None:
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

    @cached_property
    def positions(self) -> tuple[PositionRow, ...]:
        """Every row, zero ones included, in the API's order. Built on first use: the hundreds of
        flat rows matter only to the "all rows" view, and building them was most of a refresh."""
        judged = {r.position.key: r for r in self.open_positions}
        return tuple(
            judged.get(p.key) or PositionRow(p, ZERO, Level.OK, self.risks.get(p.key),
                                             market=self.markets.get(p.symbol))
            for p in self.account.positions
        )

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

    def verdict(self, *, stale: bool = False, refused: bool = False) -> Verdict:
        """The account's one verdict (health.verdict) on this data. `refused`: the key cannot read
        /papi/v1/account, so without uniMMR the UM margin ratio judges, and says so; without
        uniMMR for any other reason the verdict is UNKNOWN. `stale`: the data is not current."""
        return _verdict(self.account, self.totals, self.pm, self.nearest_liquidation, self.thresholds,
                        stale=stale, refused=refused)

    @property
    def headroom(self) -> Headroom | None:
        """How far equity can fall before uniMMR reaches 1.05; None without the account object."""
        return account_headroom(self.pm) if self.pm is not None else None

    def visible_assets(self, include_zero: bool) -> tuple[AssetRow, ...]:
        return self.assets if include_zero else tuple(r for r in self.assets if not r.asset.is_zero)


def build_view(
    account: UmAccount,
    t: Thresholds,
    *,
    risks: Mapping[tuple[str, str], PositionRisk] | Iterable[PositionRisk] | None = None,
    pm: PmAccount | None = None,
    markets: Mapping[str, SymbolRules] | None = None,
) -> AccountView:
    """Rows with their levels. `risks` (positionRisk rows, or `risk.join`'s mapping) adds entry,
    mark and liquidation prices and liquidation distance to each row; `pm` adds uniMMR and
    `accountStatus`; `markets` (exchangeInfo) each symbol's tick size, for display. The
    account's level is its verdict's (the UM ratio standing in for uniMMR when `pm` is None)."""
    tot = totals(account)
    balance = tot.margin_balance
    joined = risk_map(risks, account.positions)
    markets = markets or {}
    rows = tuple(_position_row(p, tot.maint_margin, t, joined.get(p.key), markets.get(p.symbol))
                 for p in account.open_positions)
    # The account's level first (it needs only the liquidation distances), then each row's: a
    # large share of the margin is DANGER only on an account that is itself at WARN or worse.
    level = _verdict(account, tot, pm, _nearest(rows), t, refused=True).level
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
    )


def _nearest(rows: Iterable[PositionRow]) -> PositionRow | None:
    near = [r for r in rows if r.liq_distance is not None]
    return min(near, key=lambda r: (r.liq_distance, r.key), default=None)


def _verdict(account: UmAccount, tot: Totals, pm: PmAccount | None, near: PositionRow | None,
             t: Thresholds, *, stale: bool = False, refused: bool = False) -> Verdict:
    fallback = (tot.ratio, account_level(account, t)) if pm is None and refused else None
    return verdict(
        t,
        unimmr=pm.uniMMR if pm is not None else None,
        status=pm.accountStatus if pm is not None else None,
        nearest=None if near is None or near.liq_distance is None else (position_label(near), near.liq_distance),
        fallback=fallback,
        stale=stale,
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
    row.loss_level = loss_level(row.position, balance, t)
    row.level = max(row.share_level, row.loss_level, row.liq_level)
