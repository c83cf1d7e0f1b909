"""The Accounts overview's rows, as pure data: one per account, from its latest MonitorState (or
the sentence saying why it has none), sorted worst first by pmtui.fleet.rank_key, the order
`pmtui check --all-profiles` ranks them in too. The widget (pmtui/tui/widgets/overview.py) draws them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pmtui.fleet import rank_key
from pmtui.health import Level
from pmtui.risk import Headroom
from pmtui.state import MonitorState
from pmtui.views import position_label


@dataclass(frozen=True)
class AccountRow:
    profile: str
    #: The verdict's level; None when unknown (no data, no uniMMR, or the account failed).
    level: Level | None
    #: The badge: "✓ OK", "▲ WARN"..., "? UNKNOWN", "◌ STALE · last WARN", "! ERROR".
    badge: str
    unimmr: Decimal | None = None
    status: str | None = None  # accountStatus
    equity: Decimal | None = None  # accountEquity
    maint_margin: Decimal | None = None  # accountMaintMargin
    upnl: Decimal | None = None  # UM plus COIN-M at the mark, in USD (the view's)
    headroom: Headroom | None = None
    worst: str | None = None  # the position nearest liquidation, "BTCUSDT" / "ETHUSDT SHORT"
    liq_distance: Decimal | None = None
    liq_level: Level = Level.OK
    #: LIVE, STALE, NO DATA, CONNECTING, PAUSED, ERROR (the status bar's word) or CONFIG.
    data: str = "NO DATA"
    #: One sentence when something is wrong: the fetch's fault, or the profile's ConfigError.
    problem: str | None = None
    stale: bool = False
    #: The public mark price streams: "live" (they reprice every open position), "polling" (they
    #: do not: REST's figures), None (the account does not use them).
    marks: str | None = None

    @property
    def marks_marker(self) -> str:
        """Beside the Data word: ◆ repriced live by the marks, ◇ on polling, nothing without them."""
        return {"live": " ◆", "polling": " ◇"}.get(self.marks or "", "")

    @property
    def key(self) -> tuple[Any, ...]:
        """Worst first: severity (UNKNOWN above WARN, below a known DANGER), then lowest uniMMR."""
        return rank_key(self.level, self.unimmr, self.profile)

    @property
    def style_level(self) -> Level:
        """The level to colour the row by: unknown and failed rows are drawn as DANGER (bad)."""
        return Level.DANGER if self.level is None else self.level


def account_row(profile: str, state: MonitorState | None, error: str | None = None) -> AccountRow:
    """One account's row. `error`: the profile could not be watched at all (its ConfigError)."""
    if error is not None or state is None:
        return AccountRow(profile, None, "! ERROR", data="CONFIG", problem=error or "not watched")
    word = state.status.word
    fault = state.status.error.message if state.status.error is not None else None
    info = state.status
    marks = "live" if info.marks_live else "polling" if info.marks_note is not None else None
    view, verdict = state.view, state.verdict
    if view is None or verdict is None:
        badge = "! ERROR" if fault is not None else "… WAITING"
        return AccountRow(profile, None, badge, data=word, problem=fault, marks=marks)
    near = view.nearest_liquidation
    pm = view.pm
    problem = fault
    if problem is None and (verdict.unknown or state.fallback) and state.account_note:
        problem = state.account_note  # why uniMMR is missing (a refused key, a stale account fetch)
    return AccountRow(
        profile,
        None if verdict.unknown else verdict.level,
        verdict.badge,
        unimmr=view.unimmr,
        status=pm.accountStatus if pm is not None else None,
        equity=pm.accountEquity if pm is not None else None,
        maint_margin=pm.accountMaintMargin if pm is not None else None,
        upnl=view.upnl,
        headroom=view.headroom,
        worst=position_label(near) if near is not None else None,
        liq_distance=near.liq_distance if near is not None else None,
        liq_level=near.liq_level if near is not None else Level.OK,
        data=word,
        problem=problem,
        stale=verdict.stale,
        marks=marks,
    )


@dataclass(frozen=True)
class Totals:
    """Sums across the accounts that have each figure (in USD), and how many had it."""

    equity: Decimal
    maint_margin: Decimal
    upnl: Decimal
    counted: int
    stale: bool


def totals(rows: Iterable[AccountRow]) -> Totals:
    counted = [r for r in rows if r.equity is not None]
    return Totals(
        equity=sum((r.equity for r in counted if r.equity is not None), Decimal(0)),
        maint_margin=sum((r.maint_margin for r in counted if r.maint_margin is not None), Decimal(0)),
        upnl=sum((r.upnl for r in counted if r.upnl is not None), Decimal(0)),
        counted=len(counted),
        stale=any(r.stale for r in counted),
    )


def sorted_rows(rows: Iterable[AccountRow]) -> list[AccountRow]:
    return sorted(rows, key=lambda r: r.key)
