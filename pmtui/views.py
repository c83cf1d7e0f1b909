"""What the tables show: account data joined with health, as rows. Shared by the dashboard and
the headless commands so both say the same thing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from pmtui.config import Thresholds
from pmtui.health import (
    Level,
    Totals,
    account_level,
    asset_level,
    asset_mm_usage,
    mm_share,
    position_level,
    totals,
    worst,
)
from pmtui.models import Asset, PmAccount, Position, PositionRisk, UmAccount
from pmtui.risk import Headroom, account_headroom, liq_distance, liq_level, risk_map, status_level


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
class PositionRow:
    position: Position
    share: Decimal  # of the account's maintenance margin
    level: Level  # the worst of the margin/loss level and liq_level
    #: Its /papi/v1/um/positionRisk row, when fetched and present.
    risk: PositionRisk | None = None
    #: |mark - liquidation| / mark (a fraction); None without a risk row or liquidation price.
    liq_distance: Decimal | None = None
    liq_level: Level = Level.OK

    @property
    def key(self) -> str:
        return row_key(self.position.symbol, self.position.positionSide)

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


@dataclass(frozen=True, slots=True)
class AccountView:
    account: UmAccount
    totals: Totals
    level: Level
    assets: tuple[AssetRow, ...]
    positions: tuple[PositionRow, ...]  # every row, zero ones included
    #: /papi/v1/account, when fetched: uniMMR, status, account equity and margins.
    pm: PmAccount | None = None

    @property
    def open_positions(self) -> tuple[PositionRow, ...]:
        return tuple(r for r in self.positions if r.position.is_open)

    @property
    def unimmr(self) -> Decimal | None:
        return self.pm.uniMMR if self.pm is not None else None

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
) -> AccountView:
    """Rows with their levels. `risks` (positionRisk rows, or `risk.join`'s mapping) adds entry,
    mark and liquidation prices and liquidation distance to each row; `pm` makes the account
    level the worse of uniMMR's band and `accountStatus`'s."""
    tot = totals(account)
    balance = tot.margin_balance
    joined = risk_map(risks, account.positions)
    level = account_level(account, t, unimmr=pm.uniMMR if pm is not None else None)
    if pm is not None:
        level = worst([level, status_level(pm.accountStatus)])
    return AccountView(
        account=account,
        totals=tot,
        level=level,
        assets=tuple(AssetRow(a, asset_mm_usage(a), asset_level(a, t)) for a in account.assets),
        positions=tuple(_position_row(p, tot.maint_margin, balance, t, joined.get(p.key)) for p in account.positions),
        pm=pm,
    )


def _position_row(
    p: Position, maint: Decimal, balance: Decimal, t: Thresholds, risk: PositionRisk | None
) -> PositionRow:
    if not p.is_open:
        return PositionRow(p, Decimal(0), Level.OK, risk)
    distance = liq_distance(risk)
    near = liq_level(distance, t)
    level = max(position_level(p, maint, balance, t), near)
    return PositionRow(p, mm_share(p, maint), level, risk, distance, near)
