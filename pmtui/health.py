"""Margin health as pure functions: a level for the account, each asset and each position.

The account scale is Binance's uniMMR (equity / maintenance margin) and its bands: above 1.5
normal, down to 1.2 margin call, down to 1.05 reduce-only, below that liquidation. An asset is
judged on the same scale (its margin balance / its maintenance margin), so one set of
thresholds means the same thing everywhere. Collateral is shared across assets in Portfolio
Margin, so an asset's own level says where the margin is used, not whether Binance liquidates:
only the account-wide ratio sets the account's level.

`verdict` is the account's one answer, the same in the header, the big digits and `pmtui check`:
the worst of uniMMR's band, `accountStatus` and the nearest liquidation price, in words, and
whether it can be trusted (stale data, or no uniMMR at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from pmtui import fmt
from pmtui.models import Asset, Position, UmAccount
from pmtui.settings import Thresholds

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

    @property
    def mark(self) -> str:
        """The badge's symbol alone (the positions table's health column)."""
        return _BADGES[self].split(" ", 1)[0]


# Marks every common monospace font draws (DejaVu Sans Mono, Fira Code: Textual's SVG font), so
# a screenshot never shows a missing-glyph box where the level should be.
_BADGES = {
    Level.OK: "✓ OK",
    Level.WARN: "▲ WARN",
    Level.DANGER: "◆ DANGER",
    Level.CRITICAL: "× CRITICAL",
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


def liq_level(distance: Decimal | None, t: Thresholds) -> Level:
    """Level of a liquidation distance: below warn WARN, below danger DANGER, below critical
    CRITICAL (strictly below; exactly at a threshold is the milder level). None is OK."""
    if distance is None or distance >= t.liq_distance_warn:
        return Level.OK
    if distance >= t.liq_distance_danger:
        return Level.WARN
    if distance >= t.liq_distance_critical:
        return Level.DANGER
    return Level.CRITICAL



_STATUS_LEVELS = {
    "NORMAL": Level.OK,
    "MARGIN_CALL": Level.WARN,
    "SUPPLY_MARGIN": Level.WARN,
    "REDUCE_ONLY": Level.DANGER,
    "ACTIVE_LIQUIDATION": Level.CRITICAL,
    "FORCE_LIQUIDATION": Level.CRITICAL,
    "BANKRUPTED": Level.CRITICAL,
}


def status_level(status: str | None) -> Level:
    """The level Binance's `accountStatus` stands for; an unknown status is WARN (look at it)."""
    if status is None:
        return Level.OK
    return _STATUS_LEVELS.get(status.upper(), Level.WARN)


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


def share_level(share: Decimal, t: Thresholds, account: Level = Level.OK) -> Level:
    """Level of a position's share of the maintenance margin. A large share alone is
    concentration, not danger: it reads WARN at most while the account itself (its verdict's
    level, `account`) is OK; once the account is at WARN or worse, a share past danger is DANGER."""
    if share >= t.position_share_danger:
        return Level.DANGER if account >= Level.WARN else Level.WARN
    if share >= t.position_share_warn:
        return Level.WARN
    return Level.OK


def loss_level(position: Position, margin_balance: Decimal, t: Thresholds) -> Level:
    """Level of a position's unrealised loss measured against the account's margin balance. Not
    given: the loss cannot be ruled out, so it never reads as safe (WARN)."""
    return upnl_level(position.unrealizedProfit, position.is_open, margin_balance, t)


def upnl_level(upnl: Decimal | None, is_open: bool, margin_balance: Decimal, t: Thresholds) -> Level:
    """loss_level on a uPnL in USD (a COIN-M position's, converted at its mark price)."""
    if not is_open:
        return Level.OK
    if upnl is None:
        return Level.WARN
    loss = -upnl
    if loss <= 0:
        return Level.OK
    if margin_balance <= 0:
        return Level.CRITICAL
    fraction = loss / margin_balance
    if fraction >= t.position_loss_critical:
        return Level.CRITICAL
    if fraction >= t.position_loss_danger:
        return Level.DANGER
    if fraction >= t.position_loss_warn:
        return Level.WARN
    return Level.OK


def position_level(
    position: Position, total_maint_margin: Decimal, margin_balance: Decimal, t: Thresholds,
    account: Level = Level.OK,
) -> Level:
    """How much this position drives the account's risk: the worse of its share of the
    maintenance margin (`share_level`, capped at WARN while the account's level `account` is OK)
    and its unrealised loss measured against the account's margin balance (`loss_level`)."""
    if not position.is_open:
        return Level.OK
    share = mm_share(position, total_maint_margin)
    return max(share_level(share, t, account), loss_level(position, margin_balance, t))


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


# --- the verdict ---------------------------------------------------------------------------------

UNIMMR, STATUS, LIQUIDATION, FALLBACK = "uniMMR", "status", "liquidation", "fallback"
#: The cause of a verdict the account's trading locks set (canTrade false, apiTradingStatus).
LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The account's level with its reason, and whether to trust it.

    `causes` are the parts that set `level`, each with its words: (UNIMMR, "uniMMR 1.92"),
    (LIQUIDATION, "BTCUSDT 2.4% from liquidation")... `unknown`: there is no uniMMR and nothing
    known is bad enough to say so without it, so the level must not read as OK. `stale`: the data
    is not current, so whatever it says was true a while ago."""

    level: Level
    causes: tuple[tuple[str, str], ...]
    stale: bool = False
    unknown: bool = False

    @property
    def reason(self) -> str:
        words = [w for _, w in self.causes]
        if self.unknown:
            words.insert(0, "uniMMR unknown")
        return ", ".join(words)

    def said(self, cause: str) -> str | None:
        """The words of one cause, if it is among those that set the level."""
        return next((w for c, w in self.causes if c == cause), None)

    @property
    def word(self) -> str:
        """OK, WARN, DANGER, CRITICAL or UNKNOWN."""
        return "UNKNOWN" if self.unknown else self.level.name

    @property
    def badge(self) -> str:
        """A mark and words that read without colour, and never as a bare OK when stale."""
        if self.stale:
            return f"◌ STALE · last {self.word}"
        return "? UNKNOWN" if self.unknown else self.level.badge

    @property
    def style(self) -> str:
        """The component class (app.tcss) to draw the badge in: stale or unknown data looks stale,
        unless what is known is already DANGER or worse."""
        if (self.stale or self.unknown) and self.level < Level.DANGER:
            return "state--stale"
        return f"level--{self.level.label}"

    def __str__(self) -> str:
        return f"{self.badge} · {self.reason}"


def verdict(
    t: Thresholds,
    *,
    unimmr: Decimal | None = None,
    status: str | None = None,
    nearest: tuple[str, Decimal] | None = None,
    fallback: tuple[Decimal | None, Level] | None = None,
    stale: bool = False,
    locks: Sequence[str] = (),
) -> Verdict:
    """The account's verdict from its parts: uniMMR (None: not known), `accountStatus`, the
    position nearest its liquidation price as (label, distance), and the UM margin ratio with its
    level as `fallback` (given only when the key cannot read uniMMR at all; it is then named).

    `locks`: why the account cannot trade (canTrade false, a quantitative-rule lock): at least
    WARN, since a locked account cannot de-risk, whatever its ratios say.

    Without uniMMR or fallback, a known DANGER or worse (a position near liquidation) still
    stands; anything milder is UNKNOWN: nothing here may say OK without uniMMR."""
    parts: list[tuple[Level, str, str]] = []
    if unimmr is not None:
        parts.append((ratio_level(unimmr, t), UNIMMR, f"uniMMR {fmt.ratio(unimmr)}"))
    elif fallback is not None:
        ratio, level = fallback
        parts.append((level, FALLBACK, f"UM margin ratio {fmt.ratio(ratio)} (uniMMR unavailable to this key)"))
    if status is not None:
        parts.append((status_level(status), STATUS, f"status {status}"))
    if nearest is not None:
        label, distance = nearest
        parts.append((liq_level(distance, t), LIQUIDATION, f"{label} {fmt.percent(distance)} from liquidation"))
    if locks:
        parts.append((Level.WARN, LOCKED, "trading locked: " + "; ".join(locks)))
    level = worst(p[0] for p in parts)
    blind = unimmr is None and fallback is None
    if level is Level.OK:
        causes = tuple((c, w) for _, c, w in parts[:1] if not blind)  # the ratio says why it is OK
    else:
        causes = tuple((c, w) for lv, c, w in parts if lv == level)
        if blind and level >= Level.DANGER:
            causes += ((UNIMMR, "uniMMR unknown"),)
    return Verdict(level, causes, stale=stale, unknown=blind and level < Level.DANGER)
