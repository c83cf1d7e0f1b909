"""What the tables show: account data joined with health, as rows. Shared by the dashboard and
the headless commands so both say the same thing."""

from __future__ import annotations

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
)
from pmtui.models import Asset, Position, UmAccount


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
    level: Level

    @property
    def key(self) -> str:
        return row_key(self.position.symbol, self.position.positionSide)


@dataclass(frozen=True, slots=True)
class AccountView:
    account: UmAccount
    totals: Totals
    level: Level
    assets: tuple[AssetRow, ...]
    positions: tuple[PositionRow, ...]  # every row, zero ones included

    @property
    def open_positions(self) -> tuple[PositionRow, ...]:
        return tuple(r for r in self.positions if r.position.is_open)

    def visible_assets(self, include_zero: bool) -> tuple[AssetRow, ...]:
        return self.assets if include_zero else tuple(r for r in self.assets if not r.asset.is_zero)


def build_view(account: UmAccount, t: Thresholds) -> AccountView:
    tot = totals(account)
    balance = tot.margin_balance
    return AccountView(
        account=account,
        totals=tot,
        level=account_level(account, t),
        assets=tuple(AssetRow(a, asset_mm_usage(a), asset_level(a, t)) for a in account.assets),
        positions=tuple(
            PositionRow(p, mm_share(p, tot.maint_margin), position_level(p, tot.maint_margin, balance, t))
            if p.is_open
            else PositionRow(p, Decimal(0), Level.OK)
            for p in account.positions
        ),
    )
