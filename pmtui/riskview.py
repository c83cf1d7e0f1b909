"""What people read of the risk model (pmtui.model): the reconciliation with Binance's uniMMR,
the liquidation move, one what-if scenario. Pure text and JSON; shared by the account panel,
`check`, the alert rule and `pmtui whatif`, so they always say the same.

Moves are shown to one decimal of a percent, rounded toward zero: a distance to liquidation is
never shown larger than it is.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from pmtui import fmt
from pmtui.model import RECONCILE_GAP, RiskModel

_ONE_DP = Decimal("0.1")
#: "Any distance" for RiskModel.nearest_liquidation: scanned only as far as the nearer side needs.
_ANY = Decimal("Infinity")


def pct(move: Decimal) -> str:
    """A move (a fraction) as a signed percent, one decimal, toward zero: -0.10258 -> "-10.2%"."""
    value = (move * 100).quantize(_ONE_DP, rounding=ROUND_DOWN)
    return f"{'+' if value > 0 else ''}{value}%" if value != 0 else "0.0%"


def nearest_move(model: RiskModel, underlying: str | None = None) -> Decimal | None:
    """The smaller move, down or up, that takes uniMMR to liquidation (None: none in range)."""
    c = model.liquidation_move(underlying=underlying)
    found = [m for m in (c.down, c.up) if m is not None]
    return min(found, key=abs) if found else None


def nearest_underlying(model: RiskModel) -> tuple[str, Decimal] | None:
    """The underlying whose move alone liquidates soonest, and that move (None: none does); on a
    tie, the first by name. Past the first, each is asked only for a move as near as the best."""
    best: tuple[str, Decimal] | None = None
    for u in model.underlyings[:10]:
        m = model.nearest_liquidation(u, within=best[1] if best is not None else _ANY)
        if m is not None and (best is None or (abs(m), u) < (abs(best[1]), best[0])):
            best = (u, m)
    return best


def off(model: RiskModel) -> str | None:
    """Why the model's moves must not be used, or None: it does not reconcile with the uniMMR
    Binance reports (more than RECONCILE_GAP apart), or it has no maintenance margin at all. A
    model that does not reproduce Binance's own figure is no basis for "what move liquidates
    me": a missing input (collateral rates refused, say) would read as "liquidation: now"."""
    base = model.base
    if base.unimmr is None:
        return "the risk model has no maintenance margin"
    gap = model.gap
    if gap is not None and abs(gap) > RECONCILE_GAP:
        why = base.reasons[0] if len(base.reasons) > 1 else None  # the last one is the gap itself
        return f"the risk model is {pct(gap)} from Binance's uniMMR" + (f" ({why.rstrip('.')})" if why else "")
    return None


def why_approximate(model: RiskModel) -> str | None:
    """The one sentence that says why the model's figures are approximate (`off`'s first, as a
    sentence), or None when they are not."""
    if (reason := off(model)) is not None:
        return reason[0].upper() + reason[1:] + "."
    if model.base.approximate:
        return model.base.reasons[0]
    return None


def liquidation_text(model: RiskModel) -> str | None:
    """"liquidation at -10.2% (BTC -10.0%)": the move of every non-stablecoin (down or up,
    whichever is nearer) that takes uniMMR to 1.05, and the one underlying that gets there
    alone soonest. None when the model is `off` (nothing to say that could be trusted)."""
    if off(model) is not None:
        return None
    move = model.nearest_liquidation(within=_ANY)  # nearest_move's, scanning only as far as it needs
    rough = " (approximate)" if model.base.approximate else ""
    if move == 0:
        return "liquidation: now (uniMMR at or below 1.05)" + rough
    nearest = nearest_underlying(model)
    alone = f" ({nearest[0]} {pct(nearest[1])})" if nearest is not None else ""
    if move is None:
        text = "liquidation: no move of everything in -99% … +300% reaches it" + alone
    else:
        text = f"liquidation at {pct(move)}{alone}"
    return text + rough


def reconciliation_head(model: RiskModel, age: str = "") -> str:
    """"model 2.0100 · Δ +0.4%": the model's uniMMR and how far from Binance's (the gap only
    when Binance's is known). A gap measured when Binance's figure came and carried since says
    that figure's `age` ("Δ 0.0% 14s ago"): the model has moved with the market since, and its
    uniMMR beside an older Binance figure must not read as a gap of now."""
    base = model.base
    if base.unimmr is None:
        return "model: no maintenance margin"
    shown = f"model {fmt.ratio(base.unimmr)}"
    if (gap := model.gap) is not None:
        shown += f" · Δ {pct(gap)}"
        if model.inputs.reconciled_gap is not None and age and age != "—":
            shown += f" {age} ago"
    return shown


def reconciliation_text(model: RiskModel) -> str:
    """"model 2.01 · Δ +0.4%" beside Binance's uniMMR, or what makes the model approximate."""
    base = model.base
    shown = reconciliation_head(model)
    if base.unimmr is None:
        return shown
    if base.approximate:
        shown += " · approximate: " + base.reasons[0]
    return shown


def liq_perfdata(model: RiskModel) -> str:
    """Nagios perfdata of the liquidation move: liq_move_down=-10.2% liq_move_up=+35.0% (each
    only when some move in the searched range reaches it, and the model is not `off`)."""
    if off(model) is not None:
        return ""
    move = model.liquidation_move()
    parts = []
    for name, value in (("liq_move_down", move.down), ("liq_move_up", move.up)):
        if value is not None:
            parts.append(f"{name}={pct(value).lstrip('+')}")
    return " ".join(parts)


def parse_move(text: str) -> Decimal:
    """"-10", "-10%", "+5.5" -> the fraction (-0.1); a ValueError with a sentence otherwise."""
    raw = text.strip().removesuffix("%").strip()
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or not Decimal(-99) <= value <= Decimal(300):
        raise ValueError(f"MOVE must be a percent from -99 to +300, such as -10 (got {text!r}).")
    return value / 100


def scenario_json(model: RiskModel, move: Decimal, underlying: str | None = None) -> dict[str, Any]:
    """One what-if, JSON-ready: decimals as strings."""
    result = model.scenario(move, underlying)
    rung = model.ladder(underlying, (move,))[0]
    base = model.base

    def ratio(v: Decimal | None) -> str | None:
        return None if v is None else str(v.quantize(Decimal("0.0001")))

    return {
        "move": str(move),
        "underlying": underlying,
        "uniMMR": "liquidated" if rung.liquidated else ratio(result.unimmr),
        "level": rung.level,
        "adjustedEquity": str(result.adjusted_equity.quantize(Decimal("0.01"))),
        "maintMargin": str(result.maint_margin.quantize(Decimal("0.01"))),
        "before": {"uniMMR": ratio(base.unimmr),
                   "reportedUniMMR": None if model.inputs.reported_unimmr is None
                   else str(model.inputs.reported_unimmr)},
        "approximate": result.approximate,
        "reasons": list(result.reasons),
    }


def scenario_line(model: RiskModel, move: Decimal, underlying: str | None = None) -> str:
    """"BTC -10.0%: uniMMR 2.0100 -> 1.4500 (WARN), adjusted equity …, maintenance margin …"."""
    doc = scenario_json(model, move, underlying)
    what = f"{underlying} {pct(move)}" if underlying else f"every non-stablecoin {pct(move)}"
    after = "liquidated" if doc["uniMMR"] == "liquidated" else (
        f"{doc['uniMMR']} ({doc['level']})" if doc["uniMMR"] is not None else "no maintenance margin")
    line = (f"{what}: uniMMR {doc['before']['uniMMR'] or '—'} -> {after}; adjusted equity "
            f"{fmt.money(Decimal(doc['adjustedEquity']))}, maintenance margin "
            f"{fmt.money(Decimal(doc['maintMargin']))}")
    if doc["approximate"]:
        reasons = doc["reasons"]
        more = f" (and {len(reasons) - 3} more: --json lists them)" if len(reasons) > 3 else ""
        line += "\napproximate: " + " ".join(reasons[:3]) + more
    return line
