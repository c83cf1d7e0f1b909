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
from pmtui.monitor import MonitorState
from pmtui.risk import Headroom
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
    headroom: Headroom | None = None
    worst: str | None = None  # the position nearest liquidation, "BTCUSDT" / "ETHUSDT SHORT"
    liq_distance: Decimal | None = None
    liq_level: Level = Level.OK
    #: LIVE, STALE, NO DATA, CONNECTING, PAUSED, ERROR (the status bar's word) or CONFIG.
    data: str = "NO DATA"
    #: One sentence when something is wrong: the fetch's fault, or the profile's ConfigError.
    problem: str | None = None
    stale: bool = False

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
    view, verdict = state.view, state.verdict
    if view is None or verdict is None:
        badge = "! ERROR" if fault is not None else "… WAITING"
        return AccountRow(profile, None, badge, data=word, problem=fault)
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
        headroom=view.headroom,
        worst=position_label(near) if near is not None else None,
        liq_distance=near.liq_distance if near is not None else None,
        liq_level=near.liq_level if near is not None else Level.OK,
        data=word,
        problem=problem,
        stale=verdict.stale,
    )


def sorted_rows(rows: Iterable[AccountRow]) -> list[AccountRow]:
    return sorted(rows, key=lambda r: r.key)
