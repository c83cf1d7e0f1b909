"""Margin health as pure functions: a level for the account, each asset and each position.

The account scale is Binance's uniMMR (equity / maintenance margin) and its bands: above 1.5
normal, down to 1.2 margin call, down to 1.05 reduce-only, below that liquidation. An asset is
judged on the same scale (its margin balance / its maintenance margin), so one set of
thresholds means the same thing everywhere. Collateral is shared across assets in Portfolio
Margin, so an asset's own level says where the margin is used, not whether Binance liquidates:
only the account-wide ratio sets the account's level.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Iterable

from pmtui.config import Thresholds
from pmtui.models import Asset, Position, UmAccount

ZERO = Decimal(0)


class Level(IntEnum):
    OK = 0
    WARN = 1
    DANGER = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def badge(self) -> str:
        """A word and a symbol, so the level reads without colour."""
        return _BADGES[self]


_BADGES = {
    Level.OK: "✓ OK",
    Level.WARN: "▲ WARN",
    Level.DANGER: "◆ DANGER",
    Level.CRITICAL: "✖ CRITICAL",
}


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, default=Level.OK)


def ratio_level(ratio: Decimal | None, t: Thresholds) -> Level:
    """Level of a uniMMR-like ratio. None means no maintenance margin: nothing at risk."""
    if ratio is None or ratio > t.unimmr_warn:
        return Level.OK
    if ratio > t.unimmr_danger:
        return Level.WARN
    if ratio > t.unimmr_critical:
        return Level.DANGER
    return Level.CRITICAL


def margin_ratio(balance: Decimal, maint_margin: Decimal) -> Decimal | None:
    """balance / maintenance margin; None when there is no maintenance margin."""
    if maint_margin <= 0:
        return None
    return balance / maint_margin


def asset_ratio(asset: Asset) -> Decimal | None:
    return margin_ratio(asset.margin_balance, asset.maintMargin)


def asset_level(asset: Asset, t: Thresholds) -> Level:
    return ratio_level(asset_ratio(asset), t)


def asset_mm_usage(asset: Asset) -> Decimal | None:
    """Maintenance margin / margin balance, as a fraction (1 = fully used); None when no margin."""
    if asset.maintMargin <= 0:
        return None
    if asset.margin_balance <= 0:
        return Decimal("Infinity")
    return asset.maintMargin / asset.margin_balance


def mm_share(position: Position, total_maint_margin: Decimal) -> Decimal:
    """This position's share of the account's maintenance margin (0..1)."""
    if total_maint_margin <= 0:
        return ZERO
    return position.maintMargin / total_maint_margin


def position_level(
    position: Position, total_maint_margin: Decimal, margin_balance: Decimal, t: Thresholds
) -> Level:
    """How much this position drives the account's risk: its share of the maintenance margin,
    and its unrealised loss measured against the account's margin balance."""
    if not position.is_open:
        return Level.OK
    share = mm_share(position, total_maint_margin)
    level = Level.OK
    if share >= t.position_share_danger:
        level = Level.DANGER
    elif share >= t.position_share_warn:
        level = Level.WARN
    if position.unrealizedProfit is None:
        # Not given: the loss cannot be ruled out, so the row never reads as safe on it.
        return max(level, Level.WARN)
    loss = -position.unrealizedProfit
    if loss > 0:
        if margin_balance <= 0:
            return Level.CRITICAL
        fraction = loss / margin_balance
        if fraction >= t.position_loss_critical:
            level = max(level, Level.CRITICAL)
        elif fraction >= t.position_loss_danger:
            level = max(level, Level.DANGER)
        elif fraction >= t.position_loss_warn:
            level = max(level, Level.WARN)
    return level


@dataclass(frozen=True)
class Totals:
    """Sums over the assets. Stablecoin assets (USDT, USDC, FDUSD) are added 1:1 as USD;
    other assets would need prices pmtui does not fetch, so they are left out of the sums."""

    wallet: Decimal
    unrealized: Decimal
    maint_margin: Decimal
    initial_margin: Decimal

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet + self.unrealized

    @property
    def ratio(self) -> Decimal | None:
        return margin_ratio(self.margin_balance, self.maint_margin)


USD_LIKE = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "USD"})


def totals(account: UmAccount) -> Totals:
    usd = [a for a in account.assets if a.asset in USD_LIKE]
    return Totals(
        wallet=sum((a.crossWalletBalance for a in usd), ZERO),
        unrealized=sum((a.crossUnPnl for a in usd), ZERO),
        maint_margin=sum((a.maintMargin for a in usd), ZERO),
        initial_margin=sum((a.initialMargin for a in usd), ZERO),
    )


def account_level(account: UmAccount, t: Thresholds, unimmr: Decimal | None = None) -> Level:
    """The account's level: from uniMMR when known, else from the UM ratio over USD assets.

    Not the worst asset: a USDT balance at 1.0 backed by a large USDC balance is normal in
    Portfolio Margin, and `check` must not page anyone for it."""
    if unimmr is not None:
        return ratio_level(unimmr, t)
    tot = totals(account)
    if tot.margin_balance < 0:
        # Negative equity starts liquidation even with no maintenance margin (no ratio to judge).
        return Level.CRITICAL
    return ratio_level(tot.ratio, t)
