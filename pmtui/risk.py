"""Account risk as pure functions: positions joined to their positionRisk rows, distance to
liquidation, headroom before liquidation, and a what-if price shock.

Everything here is arithmetic on Decimal; nothing fetches, nothing formats. The what-if is an
*estimate*: it moves each affected position's notional linearly with price, scales its maintenance
margin by the same factor (so it ignores margin tier changes), and does not model Binance's
collateral haircuts, interest or funding. COIN-M (inverse) positions move too: in USD their value
and their coin wallet's are linear in the price as well, and their maintenance margin stays put in
USD (an inverse contract's USD notional is fixed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol, TypeVar

# Their old home: still importable from here (explicit re-exports, `x as x`).
from pmtui.health import Level as Level
from pmtui.health import Totals as Totals
from pmtui.health import liq_level as liq_level
from pmtui.health import ratio_level as ratio_level
from pmtui.health import status_level as status_level
from pmtui.health import totals as totals
from pmtui.models import CmAccount, CmPositionRisk, PmAccount, Position, PositionRisk, UmAccount
from pmtui.settings import Thresholds

ZERO = Decimal(0)
ONE = Decimal(1)
INFINITY = Decimal("Infinity")
#: Binance liquidates at or below this uniMMR.
LIQUIDATION_UNIMMR = Decimal("1.05")

Key = tuple[str, str]  # (symbol, positionSide)


class _Row(Protocol):
    """A position or risk row of either market (UM or COIN-M): what the join needs."""

    @property
    def key(self) -> Key: ...

    @property
    def positionAmt(self) -> Decimal: ...


R = TypeVar("R", bound=_Row)


# --- the join ------------------------------------------------------------------------------------


def join(positions: Iterable[_Row], risks: Iterable[R]) -> dict[Key, R]:
    """Each position's positionRisk row, by (symbol, positionSide).

    Risk rows for no listed position (zero `BOTH` rows in hedge mode, symbols the UM account left
    out) are ignored; a position with no risk row is simply absent from the result (COIN-M rows
    join the same way, by their own symbols). If the API
    repeats a key, a row with a position beats a zero one, and otherwise the later row wins.
    """
    by_key: dict[Key, R] = {}
    for risk in risks:
        held = by_key.get(risk.key)
        if held is not None and held.positionAmt != 0 and risk.positionAmt == 0:
            continue
        by_key[risk.key] = risk
    return {p.key: by_key[p.key] for p in positions if p.key in by_key}


# --- liquidation distance ------------------------------------------------------------------------


def liq_distance(risk: PositionRisk | CmPositionRisk | None) -> Decimal | None:
    """|mark - liquidation| / mark, as a fraction (0.08 is 8%).

    None when there is no risk row, no position, no liquidation price (Binance sends "0" when the
    account could not be liquidated by this symbol's move alone) or no mark price. The side of
    the mark the price sits on is not checked: in hedge mode both legs of a symbol share one
    liquidation price, so for one of them it lies the "wrong" way.
    """
    if risk is None or risk.positionAmt == 0:
        return None
    mark, liquidation = risk.markPrice, risk.liquidationPrice
    if mark is None or liquidation is None or mark <= 0 or liquidation <= 0:
        return None
    return abs(mark - liquidation) / mark


# --- uniMMR: its band, and a guess at it between fetches ------------------------------------------
# (liq_level and status_level live in health, next to the verdict that uses them.)


def unimmr_band(unimmr: Decimal | None) -> str:
    """Binance's name for the uniMMR band (its fixed edges, not the configured thresholds)."""
    if unimmr is None or unimmr > Decimal("1.5"):
        return "normal"
    if unimmr > Decimal("1.2"):
        return "margin call"
    if unimmr > LIQUIDATION_UNIMMR:
        return "reduce-only"
    return "liquidation"


@dataclass(frozen=True, slots=True)
class Estimate:
    """The account as it may be now: the last `/papi/v1/account` moved by what the positions did
    since. An *estimate*: it keeps that figure's collateral haircuts, index prices, loans and
    interest, and every other moment's part of equity, as they were."""

    equity: Decimal
    maint_margin: Decimal

    @property
    def uniMMR(self) -> Decimal | None:
        """None: no maintenance margin left."""
        return self.equity / self.maint_margin if self.maint_margin > 0 else None

    @property
    def headroom(self) -> Headroom:
        return headroom(self.equity, self.maint_margin)


def estimate_account(pm: PmAccount, equity_change: Decimal, maint_change: Decimal) -> Estimate:
    """`pm`'s accountEquity and accountMaintMargin moved by what changed since it came."""
    return Estimate(pm.accountEquity + equity_change, pm.accountMaintMargin + maint_change)


def estimate_unimmr(pm: PmAccount, um_now: Totals, um_then: Totals) -> Decimal | None:
    """uniMMR as it may be now: the last `/papi/v1/account` moved by what the UM account's USD-like
    margin balance and maintenance margin did since (`um_then` is the UM account when `pm` came).

    Only a guess to decide when to fetch the real one sooner. None: no maintenance margin left."""
    return estimate_account(pm, um_now.margin_balance - um_then.margin_balance,
                            um_now.maint_margin - um_then.maint_margin).uniMMR


# --- headroom ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Headroom:
    """How far equity can fall before uniMMR reaches `target`.

    `amount` = equity - target * maintenance margin (negative: already past it); `fraction` is that
    share of equity. Both are Decimal('Infinity') with no maintenance margin and equity of at
    least zero (nothing to liquidate); `fraction` is None when equity is zero or negative (a
    share of it means nothing), and then negative equity is itself the (negative) amount.
    """

    amount: Decimal
    fraction: Decimal | None
    target: Decimal

    @property
    def infinite(self) -> bool:
        return not self.amount.is_finite()


def headroom(equity: Decimal, maint_margin: Decimal, target: Decimal = LIQUIDATION_UNIMMR) -> Headroom:
    if maint_margin <= 0:
        if equity < 0:  # negative equity is liquidated even with nothing at margin
            return Headroom(equity, None, target)
        return Headroom(INFINITY, INFINITY, target)
    amount = equity - target * maint_margin
    return Headroom(amount, amount / equity if equity > 0 else None, target)


def account_headroom(pm: PmAccount, target: Decimal = LIQUIDATION_UNIMMR) -> Headroom:
    """Headroom of the whole account from `/papi/v1/account` (accountEquity, accountMaintMargin)."""
    return headroom(pm.accountEquity, pm.accountMaintMargin, target)


def account_basis(account: UmAccount, pm: PmAccount | None = None) -> tuple[Decimal, Decimal]:
    """(equity, maintenance margin) to measure against: the account's own figures when known,
    else the UM account's USD-like totals (margin balance, maintenance margin)."""
    if pm is not None:
        return pm.accountEquity, pm.accountMaintMargin
    tot = totals(account)
    return tot.margin_balance, tot.maint_margin


# --- what-if -------------------------------------------------------------------------------------


def signed_notional(position: Position) -> Decimal:
    """Notional with the position's direction: positive long, negative short, whatever sign the
    API put on a hedge-mode SHORT row."""
    size = abs(position.notional)
    return size if position.is_long else -size


@dataclass(frozen=True, slots=True)
class Contribution:
    """One position's part in a shock."""

    key: Key
    notional: Decimal  # signed, before the shock
    pnl_change: Decimal  # notional * move
    maint_before: Decimal
    maint_after: Decimal

    @property
    def symbol(self) -> str:
        return self.key[0]

    @property
    def side(self) -> str:
        return self.key[1]


@dataclass(frozen=True, slots=True)
class ShockResult:
    """An *estimate* of the account after every price (or one symbol's) moves by `move`."""

    move: Decimal  # fraction: -0.1 is every affected price down 10%
    symbol: str | None  # None: every symbol
    equity_before: Decimal
    maint_before: Decimal
    pnl_change: Decimal
    equity_after: Decimal
    maint_after: Decimal
    unimmr_after: Decimal | None  # None: no maintenance margin left
    level: Level
    headroom_after: Headroom
    contributions: tuple[Contribution, ...]  # largest |pnl_change| first
    #: Where, on the way to `move`, the estimate reaches the liquidation uniMMR (0: it is there
    #: already); None when it does not. Past it the linear figures mean nothing: the account
    #: would have been liquidated first.
    liquidation_move: Decimal | None = None

    @property
    def unimmr_before(self) -> Decimal | None:
        return self.equity_before / self.maint_before if self.maint_before > 0 else None


def coin_m_exposures(cm: CmAccount | None, risks: Iterable[CmPositionRisk] | None) -> tuple[Contribution, ...]:
    """The COIN-M account as what-if parts (their pnl_change still 0): per open position, the USD
    its value moves per unit of relative price move, and per coin its wallet's. Without a mark
    or an entry price a position cannot be moved: it is left out (the panel says how many).

    An inverse position of V USD (|notionalValue| * mark) entered at e is worth sign * V * (p/e - 1)
    USD at price p, and a wallet of W coins W * p: both linear in p, so a move m changes them by
    sign * V * p / e * m and W * p * m. Its maintenance margin in USD is fixed (V is)."""
    if cm is None:
        return ()
    by_key = join(cm.open_positions, risks or ())
    parts: list[Contribution] = []
    marks: dict[str, Decimal] = {}
    for p in cm.open_positions:
        r = by_key.get(p.key)
        mark = r.markPrice if r is not None else None
        entry = p.entryPrice or (r.entryPrice if r is not None else None)
        size = r.notionalValue if r is not None else None
        if not mark or not entry or size is None or mark <= 0 or entry <= 0:
            continue
        usd = abs(size) * mark
        sign = ONE if p.is_long else -ONE
        maint = p.maintMargin * mark
        parts.append(Contribution(p.key, sign * usd * mark / entry, ZERO, maint, maint))
        if p.coin is not None:
            marks.setdefault(p.coin, mark)
    for asset in cm.assets:
        if asset.asset in marks and asset.crossWalletBalance != 0:
            wallet = asset.crossWalletBalance * marks[asset.asset]
            parts.append(Contribution((f"{asset.asset} wallet", "COIN-M"), wallet, ZERO, ZERO, ZERO))
    return tuple(parts)


def coin_m_unpriced(cm: CmAccount | None, risks: Iterable[CmPositionRisk] | None) -> int:
    """How many open COIN-M positions coin_m_exposures could not move (no mark or entry price)."""
    if cm is None:
        return 0
    moved = {c.key for c in coin_m_exposures(cm, risks)}
    return sum(1 for p in cm.open_positions if p.key not in moved)


def shock(
    positions: Iterable[Position],
    *,
    equity: Decimal,
    maint_margin: Decimal,
    move: Decimal,
    symbol: str | None = None,
    thresholds: Thresholds | None = None,
    target: Decimal = LIQUIDATION_UNIMMR,
    coin_m: Iterable[Contribution] = (),
) -> ShockResult:
    """Move every open position's price (or only `symbol`'s) by `move` (a fraction, at least -1).

    uPnL change = sum of signed notional * move. Each affected position's maintenance margin
    scales by |1 + move|; the rest of the account's maintenance margin (other symbols, or margin
    the positions do not explain) stays as it is. Estimated uniMMR = new equity / new maintenance
    margin. Collateral haircuts, margin tier changes and funding are not modelled. `coin_m`
    (coin_m_exposures): COIN-M parts, moved the same way, their maintenance margin unchanged; a
    coin's wallet moves with `symbol` when that is one of its COIN-M symbols.
    """
    if not move.is_finite() or move < -1:
        raise ValueError("a price can fall by at most 100% (move must be at least -1)")
    wanted = symbol.upper() if symbol else None
    factor = abs(ONE + move)
    parts = []
    for p in positions:
        if not p.is_open or (wanted is not None and p.symbol.upper() != wanted):
            continue
        notional = signed_notional(p)
        parts.append(Contribution(p.key, notional, notional * move, p.maintMargin, p.maintMargin * factor))
    scaled = list(parts)  # the parts whose maintenance margin moves with the price
    cm_parts = list(coin_m)
    chosen = {c.symbol.upper() for c in cm_parts if c.side != "COIN-M"}
    for c in cm_parts:
        if wanted is not None:
            coin = c.symbol.removesuffix(" wallet").upper() if c.side == "COIN-M" else None
            if c.symbol.upper() != wanted and not (coin and wanted in chosen and wanted.startswith(coin + "USD")):
                continue
        parts.append(replace(c, pnl_change=c.notional * move))
    parts.sort(key=lambda c: (-abs(c.pnl_change), c.key))
    pnl = sum((c.pnl_change for c in parts), ZERO)
    moved_before = sum((c.maint_before for c in scaled), ZERO)
    moved_after = sum((c.maint_after for c in scaled), ZERO)
    maint_after = max(maint_margin - moved_before, ZERO) + moved_after
    equity_after = equity + pnl
    unimmr = equity_after / maint_after if maint_after > 0 else None
    # uniMMR along the way, u(m) = (E + P m) / (Mo + M1 (1 + m)), is a ratio of two linear
    # functions: monotonic, so it crosses the target at most once, at m = (T (Mo + M1) - E) / (P - T M1).
    liquidation_move = None
    before = equity / maint_margin if maint_margin > 0 else None
    if before is not None and before <= target:
        liquidation_move = ZERO
    elif (unimmr is not None and unimmr <= target) or equity_after <= 0:
        per_unit = sum((c.notional for c in parts), ZERO)
        others = max(maint_margin - moved_before, ZERO)
        slope = per_unit - target * moved_before
        liquidation_move = move
        if slope != 0:
            crossing = (target * (others + moved_before) - equity) / slope
            if min(ZERO, move) <= crossing <= max(ZERO, move):
                liquidation_move = crossing
    return ShockResult(
        move=move,
        symbol=wanted,
        equity_before=equity,
        maint_before=maint_margin,
        pnl_change=pnl,
        equity_after=equity_after,
        maint_after=maint_after,
        unimmr_after=unimmr,
        level=ratio_level(unimmr, thresholds or Thresholds()),
        headroom_after=headroom(equity_after, maint_after, target),
        contributions=tuple(parts),
        liquidation_move=liquidation_move,
    )


def shock_account(
    account: UmAccount,
    pm: PmAccount | None,
    move: Decimal,
    *,
    symbol: str | None = None,
    thresholds: Thresholds | None = None,
    cm: CmAccount | None = None,
    cm_risks: Iterable[CmPositionRisk] | None = None,
) -> ShockResult:
    """`shock` on the account's positions (COIN-M's too, given `cm`), measured against
    `account_basis(account, pm)`."""
    equity, maint = account_basis(account, pm)
    return shock(account.positions, equity=equity, maint_margin=maint, move=move, symbol=symbol,
                 thresholds=thresholds, coin_m=coin_m_exposures(cm, cm_risks))


def risk_map(risks: Mapping[Key, PositionRisk] | Iterable[PositionRisk] | None,
             positions: Iterable[Position]) -> dict[Key, PositionRisk]:
    """Accept either a joined mapping or the raw rows; return the join."""
    if risks is None:
        return {}
    if isinstance(risks, Mapping):
        return dict(risks)
    return join(positions, risks)
