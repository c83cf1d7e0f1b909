"""Text for the headless commands: the snapshot table, snapshot JSON, the check line, `watch`
lines, history."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from pmtui import fmt
from pmtui.alerts import check_rules
from pmtui.exposure import exposure_text, usd_prices
from pmtui.health import LIQUIDATION, LOCKED, UNIMMR, Level, Verdict, liq_level, ratio_level, worst
from pmtui.history import Sample
from pmtui.market import SymbolRules
from pmtui.models import Balance, CmAccount, CmPositionRisk, PmAccount, PositionRisk, UmAccount
from pmtui.risk import Estimate, account_headroom, unimmr_band
from pmtui.riskview import liq_perfdata, liquidation_text, reconciliation_text
from pmtui.settings import AlertSettings, Thresholds
from pmtui.state import MonitorState
from pmtui.views import AccountView, PositionRow, balance_rows, build_view


def _json_default(value: Any) -> str:
    # Only reached for numbers the API sent unquoted (parsed as Decimal): keep every digit. Past
    # any money's size (a field the models ignore: `1e999999999`), in exponent form: as exact,
    # and not a billion-digit string to build and print.
    if isinstance(value, Decimal):
        return fmt.plain(value) if value.is_finite() and abs(value.adjusted()) <= 100 else str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: For callers that dump the API's rows themselves (`ledger --format json`).
json_default = _json_default


def _dec(value: Decimal | None) -> str | None:
    """A derived figure for JSON: its exact decimal string ("Infinity" when unbounded), or null."""
    return None if value is None else fmt.plain(value) if value.is_finite() else str(value)


def view_json(view: AccountView, verdict: Verdict | None = None, *, include_zero: bool = False,
              estimate: Estimate | None = None, estimate_age: float | None = None) -> dict[str, Any]:
    """What pmtui made of the API's objects (the `view` of `snapshot --json`): the account's verdict
    and headroom, and each position's level, margin share and liquidation distance, decimals as
    exact strings. `verdict` defaults to the data's own (not stale). `estimate` (with how old the
    positions it rests on are, in seconds) adds uniMMR, equity, maintenance margin and headroom as
    they may be now, beside Binance's own figures, never in their place."""
    verdict = verdict if verdict is not None else view.verdict(refused=view.pm is None)
    tot, room = view.totals, view.headroom
    account: dict[str, Any] = {
        "level": verdict.word,
        "reason": verdict.reason,
        "stale": verdict.stale,
        "uniMMR": _dec(view.unimmr),
        "accountStatus": view.pm.accountStatus if view.pm is not None else None,
        "headroom": None if room is None else {
            "target": _dec(room.target), "amount": _dec(room.amount), "fraction": _dec(room.fraction),
        },
        "marginBalance": _dec(tot.margin_balance),
        "maintMargin": _dec(tot.maint_margin),
        "unrealizedProfit": _dec(tot.unrealized),  # the UM account's
        "totalUnrealizedProfit": _dec(view.upnl),  # UM plus COIN-M at the mark, in USD
        "umMarginRatio": _dec(tot.ratio),
    }
    if estimate is not None:
        est = estimate.headroom
        account |= {
            "uniMMREstimate": _dec(estimate.uniMMR),
            "equityEstimate": _dec(estimate.equity),
            "maintMarginEstimate": _dec(estimate.maint_margin),
            "headroomEstimate": {"target": _dec(est.target), "amount": _dec(est.amount),
                                 "fraction": _dec(est.fraction)},
            "estimateAge": None if estimate_age is None else round(estimate_age, 1),
        }
    rows = view.positions if include_zero else view.open_positions
    positions = [{
        "symbol": r.position.symbol,
        "positionSide": r.position.positionSide,
        "level": r.level.name,
        "mmShare": _dec(r.share),
        "liqDistance": _dec(r.liq_distance),
        "liqLevel": r.liq_level.name if r.liq_distance is not None else None,
        "venue": r.venue,
        "adlQuantile": r.adl,
        "nextTier": None if (tier := view.next_tier(r)) is None else tier.to_json(),
    } for r in rows]
    return {"account": account, "positions": positions,
            # Net and gross per underlying coin, largest first (pmtui.exposure); why trading is locked.
            "exposure": {e.coin: e.to_json() for e in view.exposure},
            "locks": list(view.locks)}


def parts_of(state: MonitorState) -> dict[str, Any]:
    """What snapshot_json and snapshot_table take from a fetched state, besides the UM account
    (one place, so `snapshot` for one account and for many print the same parts)."""
    return dict(pm=state.pm, risks=state.risks, unavailable=state.unavailable, balances=state.balances,
                cm=state.cm, cm_risks=state.cm_risks, risk=state.risk, ledger=state.ledger,
                extra_notes=state.extra_notes, adl=state.adl, locks=state.locks)


def snapshot_json(account: UmAccount, *, include_zero: bool = False, extra: dict[str, Any] | None = None,
                  pm: PmAccount | None = None, risks: Sequence[PositionRisk] | None = None,
                  unavailable: Mapping[str, str] | None = None, view: AccountView | None = None,
                  verdict: Verdict | None = None, balances: Sequence[Balance] | None = None,
                  cm: CmAccount | None = None, cm_risks: Sequence[CmPositionRisk] | None = None,
                  estimate: Estimate | None = None, estimate_age: float | None = None,
                  risk: Any = None, ledger: Any = None, extra_notes: Mapping[str, str] | None = None,
                  adl: Any = None, locks: tuple[str, ...] = ()) -> str:
    """The API's own rows (decimal strings untouched); like the table, open positions and
    non-zero assets only unless include_zero.

    Given `pm`, `risks` or `unavailable`, it adds "account" (the raw /papi/v1/account object, or
    null) and "positionRisk" (raw rows, open ones unless include_zero, or null), and
    "unavailable" saying why a part is null. Given `balances` (or a refused "balance" in
    `unavailable`) it adds "balance": the raw /papi/v1/balance rows (non-zero ones unless
    include_zero; "" kept as sent), or null. Given `cm` (or a reason in unavailable["cm"]), it
    adds "cm": {"account": the /papi/v1/cm/account body, "positionRisk": the
    /papi/v1/cm/positionRisk rows or null}, both exactly as received (zero rows included), or
    null. Given `view`, it adds "view": what pmtui derived (view_json, ADL and locks included);
    the API's objects are never changed. Given `risk` too (pmtui.model.RiskModel), "view"
    holds "risk": its to_json(). Given `ledger` (pmtui.ledger.LedgerView), "ledger": its rows as
    the API sent them (ledger_json)."""
    positions = account.positions if include_zero else account.open_positions
    assets = account.assets if include_zero else tuple(a for a in account.assets if not a.is_zero)
    doc: dict[str, Any] = {
        "fetchedAt": int(time.time() * 1000),
        "assets": [a.raw for a in assets],
        "positions": [p.raw for p in positions],
    }
    if pm is not None or risks is not None or unavailable:
        doc["account"] = pm.raw if pm is not None else None
        if risks is not None:
            rows = risks if include_zero else [r for r in risks if r.positionAmt != 0]
            doc["positionRisk"] = [r.raw for r in rows]
        else:
            doc["positionRisk"] = None
        if unavailable:
            doc["unavailable"] = dict(unavailable)
    if balances is not None or "balance" in (unavailable or {}):
        doc["balance"] = None if balances is None else [
            b.raw for b in balances if include_zero or not b.is_zero]
    if cm is not None or cm_risks is not None or "cm" in (unavailable or {}):
        doc["cm"] = None if cm is None else {
            "account": cm.raw,
            "positionRisk": None if cm_risks is None else [r.raw for r in cm_risks],
        }
    if view is not None:
        doc["view"] = view_json(view, verdict, include_zero=include_zero, estimate=estimate,
                                estimate_age=estimate_age)
        if risk is not None:
            doc["view"]["risk"] = risk.to_json()
        if extra_notes:  # why the ADL queue or the trading locks are not (currently) known
            doc["view"]["notes"] = dict(extra_notes)
    if ledger is not None:
        doc["ledger"] = ledger_json(ledger)
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2, default=_json_default)


def snapshot_table(account: UmAccount, t: Thresholds, *, include_zero: bool = False,
                   width: int = 140, pm: PmAccount | None = None,
                   risks: Sequence[PositionRisk] | None = None,
                   unavailable: Mapping[str, str] | None = None,
                   markets: Mapping[str, SymbolRules] | None = None,
                   balances: Sequence[Balance] | None = None, cm: CmAccount | None = None,
                   cm_risks: Sequence[CmPositionRisk] | None = None, risk: Any = None,
                   ledger: Any = None, extra_notes: Mapping[str, str] | None = None, adl: Any = None,
                   locks: tuple[str, ...] = ()) -> str:
    """The snapshot as text tables; `markets` (exchangeInfo) shows prices to each symbol's tick;
    `balances` (/papi/v1/balance) adds a Balances table when any of them is non-zero. COIN-M
    positions (`cm`) are rows of the positions tables, their symbol marked CM."""
    view = build_view(account, t, risks=risks, pm=pm, markets=markets, cm=cm, cm_risks=cm_risks,
                      balances=tuple(balances) if balances is not None else None,
                      adl=adl if adl is not None else (None, None), locks=locks,
                      # The risk engine's prices and brackets, as the dashboard's view has them.
                      prices=usd_prices(risk.inputs.index_prices) if risk is not None else None,
                      brackets=(risk.inputs.um_brackets, risk.inputs.cm_brackets) if risk is not None
                      else (None, None))
    # markup=False: a "[" in a symbol or asset name is text, not Rich markup (a stray "[/]" raised).
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False)
    tot = view.totals
    console.print(
        # USD-M's own totals ("UM"), apart from the portfolio's below: one name per number.
        f"Account {view.level.badge}  UM margin balance {fmt.money(tot.margin_balance)}  "
        f"UM uPnL {fmt.money(tot.unrealized, sign=True)}  UM maint. margin {fmt.money(tot.maint_margin)}  "
        f"UM margin ratio {fmt.ratio(tot.ratio)}  (money in USD)"
    )
    if pm is not None:
        room = account_headroom(pm)
        console.print(
            f"uniMMR {fmt.ratio(pm.uniMMR)} ({unimmr_band(pm.uniMMR)} band)  status {pm.accountStatus or '—'}  "
            f"headroom to {fmt.amount(room.target)} {fmt.money(room.amount)} ({fmt.percent(room.fraction)})"
        )
        console.print(
            f"Account equity {fmt.money(pm.accountEquity)}  actual equity {fmt.money(pm.actualEquity)}  "
            f"account maint. margin {fmt.money(pm.accountMaintMargin)}  account initial margin "
            f"{fmt.money(pm.accountInitialMargin)}  available {fmt.money(pm.totalAvailableBalance)}"
        )
    if risk is not None:  # the risk model beside Binance's figure, and its liquidation move
        console.print(f"Risk {reconciliation_text(risk)}  {liquidation_text(risk) or ''}".rstrip())
    for part, why in (unavailable or {}).items():
        console.print(f"Not shown ({part}): {why}.")
    if locks:  # a locked account cannot de-risk: said before any table
        console.print("Trading locked: " + "; ".join(locks))
    console.print(exposure_text(view.exposure, known_balances=balances is not None))
    for part, why in (extra_notes or {}).items():
        console.print(f"Not current ({part}): {why}")
    console.print(_assets_table(view, include_zero, width))
    if balances is not None and any(not b.is_zero for b in balances):
        console.print(_balances_table(balances, include_zero, width))
    console.print(_positions_table(view, include_zero, width))
    if risks is not None:
        console.print(_risk_table(view, include_zero, width))
    # No trailing spaces (Rich pads titles and cells to the table's width).
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip().splitlines())


#: A table column: (header, left-justified?, priority: lower is dropped first when too narrow).
Col = tuple[str, bool, int]


def _fit(title: str, cols: Sequence[Col], rows: list[list[str]], width: int) -> Table:
    """A table of `rows` that fits `width`: while it does not, the lowest-priority column goes
    (a number is never cut); what was left out is said under the title."""
    # Each column's width, from its widest cell, given to Rich: otherwise Rich measures every cell
    # of every row for each try and again to print (a 300-symbol snapshot took seconds to fit).
    # It is the width Rich would find itself (no_wrap text: its widest line).
    widths = [max(_cells(text) for text in (name, *(row[i] for row in rows))) for i, (name, _, _) in enumerate(cols)]
    keep = list(range(len(cols)))
    while True:
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for i in keep:
            name, left, _ = cols[i]
            table.add_column(name, justify="left" if left else "right", no_wrap=True, width=widths[i])
        for row in rows:
            table.add_row(*(row[i] for i in keep))
        if len(keep) <= 2 or _measure(table) <= width:
            break
        keep.remove(min(keep[1:], key=lambda i: (cols[i][2], -i)))  # never the first (its name)
    dropped = [cols[i][0] for i in range(len(cols)) if i not in keep]
    if dropped:
        table.caption = f"not shown at this width: {', '.join(dropped)}"
        table.caption_justify = "left"
    return table


def _cells(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _measure(table: Table) -> int:
    console = Console(file=io.StringIO(), width=10_000, color_system=None, markup=False, highlight=False)
    return console.measure(table).maximum


_ASSET_COLS: tuple[Col, ...] = (
    ("Asset", True, 9), ("Wallet", False, 5), ("uPnL", False, 6), ("Margin bal.", False, 8),
    ("Maint. margin", False, 7), ("Initial margin", False, 3), ("Pos. IM", False, 1), ("Order IM", False, 0),
    ("MM used", False, 6), ("Health", True, 9),
)


def _assets_table(view: AccountView, include_zero: bool, width: int) -> Table:
    rows = []
    for row in view.visible_assets(include_zero):
        a = row.asset
        rows.append([
            a.asset, fmt.money(a.crossWalletBalance), fmt.money(a.crossUnPnl, sign=True),
            fmt.money(a.margin_balance), fmt.money(a.maintMargin), fmt.money(a.initialMargin),
            fmt.money(a.positionInitialMargin), fmt.money(a.openOrderInitialMargin),
            fmt.percent(row.usage), row.level.badge,
        ])
    return _fit("Assets", _ASSET_COLS, rows, width)


_BALANCE_COLS: tuple[Col, ...] = (
    ("Asset", True, 9), ("Borrowed", False, 8), ("Interest", False, 8), ("Negative", False, 8),
    ("Wallet", False, 7), ("Margin free", False, 4), ("Margin locked", False, 2), ("UM wallet", False, 5),
    ("UM uPnL", False, 3), ("CM wallet", False, 1), ("CM uPnL", False, 0), ("Health", True, 9),
)


def _balances_table(balances: Sequence[Balance], include_zero: bool, width: int) -> Table:
    """/papi/v1/balance: loans, interest and negative balances first (what a margin call eats
    first), "—" where Binance gave no figure."""
    rows = []
    for row in balance_rows(balances, include_zero=include_zero):
        b = row.balance
        rows.append([
            b.asset, fmt.balance(b.crossMarginBorrowed), fmt.balance(b.crossMarginInterest),
            fmt.balance(b.negativeBalance), fmt.balance(b.totalWalletBalance), fmt.balance(b.crossMarginFree),
            fmt.balance(b.crossMarginLocked), fmt.balance(b.umWalletBalance), fmt.balance(b.umUnrealizedPNL, sign=True),
            fmt.balance(b.cmWalletBalance), fmt.balance(b.cmUnrealizedPNL, sign=True),
            row.level.badge,
        ])
    return _fit("Balances", _BALANCE_COLS, rows, width)


def _price(value: Decimal | None, tick: Decimal | None) -> str:
    return "—" if value is None or value == 0 else fmt.price(value, tick)


_POSITION_COLS: tuple[Col, ...] = (
    ("Symbol", True, 9), ("Side", True, 8), ("Amount", False, 4), ("Notional", False, 6), ("uPnL", False, 7),
    ("Initial margin", False, 2), ("Maint. margin", False, 5), ("MM share", False, 6), ("Health", True, 9),
)


def _positions_table(view: AccountView, include_zero: bool, width: int) -> Table:
    # Largest maintenance margin first, a COIN-M one by its USD value at the mark.
    rows = sorted(view.positions if include_zero else view.open_positions,
                  key=lambda r: r.maint_usd or Decimal(0), reverse=True)
    cells = []
    for row in rows:
        p = row.position
        if row.is_cm:  # contracts, and money in USD at the mark like every row (its coin without a price;
            # the coin figures are in --json)
            def usd(value: Decimal | None, sign: bool = False, row: PositionRow = row) -> str:
                at_mark = row.usd(value) if value is not None else None
                return fmt.money(at_mark, sign=sign) if at_mark is not None else fmt.coin(value, row.coin, sign=sign)

            money = [usd(p.unrealizedProfit, sign=True), usd(p.initialMargin), usd(p.maintMargin)]
            amount = fmt.quantity(p.positionAmt, Decimal(1))
        else:
            money = [fmt.money(p.unrealizedProfit, sign=True), fmt.money(p.initialMargin), fmt.money(p.maintMargin)]
            amount = fmt.quantity(p.positionAmt, row.step_size)
        cells.append([
            _symbol(row), _side(row), amount, fmt.money(row.notional_usd), *money,
            fmt.percent(row.share), row.level.badge,
        ])
    return _fit(f"Positions ({len(rows)}) · money in USD", _POSITION_COLS, cells, width)


def _symbol(row: PositionRow) -> str:
    """The symbol, marked CM for a COIN-M position (the text table has no colour to say it)."""
    return f"{row.position.symbol} CM" if row.is_cm else row.position.symbol


def _side(row: PositionRow) -> str:
    p = row.position
    if not p.is_open:
        return "—"
    return p.positionSide if p.positionSide != "BOTH" else ("LONG" if p.is_long else "SHORT")


_RISK_COLS: tuple[Col, ...] = (
    ("Symbol", True, 9), ("Side", True, 8), ("Entry", False, 2), ("Mark", False, 5), ("Liq. price", False, 6),
    ("Liq. dist.", False, 8), ("Leverage", False, 1), ("Liq. level", True, 7),
)


def _risk_table(view: AccountView, include_zero: bool, width: int) -> Table:
    """positionRisk joined to the positions: nearest to liquidation first."""
    far = Decimal("Infinity")
    rows = sorted(view.positions if include_zero else view.open_positions,
                  key=lambda r: (r.liq_distance if r.liq_distance is not None else far, r.key))
    cells = []
    for row in rows:
        cells.append([
            _symbol(row), _side(row), _price(row.entry_price, row.tick_size),
            _price(row.mark_price, row.tick_size), _price(row.liquidation_price, row.tick_size),
            fmt.percent(row.liq_distance, 2),
            f"{fmt.amount(row.leverage)}x" if row.leverage is not None else "—",
            row.liq_level.badge if row.risk is not None else "—",
        ])
    return _fit("Liquidation", _RISK_COLS, cells, width)


_CHECK_WORD = {Level.OK: "OK", Level.WARN: "WARNING", Level.DANGER: "CRITICAL", Level.CRITICAL: "CRITICAL"}


def check_word(level: Level | None) -> str:
    """The monitoring word for a verdict level (None: UNKNOWN): the dashboard's DANGER and
    CRITICAL are both Nagios CRITICAL."""
    return "UNKNOWN" if level is None else _CHECK_WORD[level]


def check_line(
    account: UmAccount,
    t: Thresholds,
    *,
    pm: PmAccount | None = None,
    risks: Sequence[PositionRisk] | None = None,
    alerts: AlertSettings | None = None,
    unavailable: Mapping[str, str] | None = None,
    cm: CmAccount | None = None,
    cm_risks: Sequence[CmPositionRisk] | None = None,
    risk: Any = None,
    ledger: Any = None,
    adl: Any = None,
    locks: tuple[str, ...] = (),
) -> tuple[Level | None, str]:
    """One monitoring line (Nagios style, with perfdata after '|') and the level it stands for,
    None for UNKNOWN.

    The level is the account's verdict (health.verdict, as on the dashboard): the worst of
    uniMMR's band, accountStatus and the nearest liquidation price. Without `pm` it is UNKNOWN,
    unless `unavailable` says the key may not read /papi/v1/account: then the UM margin ratio
    judges and the line says so. With `alerts`, the alert rules apply as well (the same ones the
    dashboard uses): one that holds makes the line at least WARNING, a critical one CRITICAL;
    their messages follow the summary. COIN-M positions (`cm`, `cm_risks`) count as positions
    do: the nearest liquidation over both markets decides. With `risk` (pmtui.model.RiskModel) it
    says the liquidation move ("liquidation at -10.2% (BTC -10.0%)") and adds it as perfdata
    (liq_move_down, liq_move_up); Binance's own uniMMR still judges. `adl` (the UM and COIN-M
    adlQuantile rows) lets the adl_front rule apply; `locks` (why the account cannot trade)
    make it at least WARNING and are said first."""
    unavailable = unavailable or {}
    view = build_view(account, t, risks=risks, pm=pm, cm=cm, cm_risks=cm_risks,
                      adl=adl if adl is not None else (None, None), locks=locks)
    tot = view.totals
    verdict = view.verdict(refused="account" in unavailable)
    level = verdict.level
    if pm is not None:
        room = account_headroom(pm)
        detail = (
            f"uniMMR {fmt.ratio(pm.uniMMR)}{_fired_unimmr(pm.uniMMR, t)}"
            f" ({unimmr_band(pm.uniMMR)} band, status {pm.accountStatus}), "
            f"headroom to {fmt.amount(room.target)} {fmt.money(room.amount)} ({fmt.percent(room.fraction)})"
        )
    else:
        if "account" in unavailable:
            fired = _fired_unimmr(tot.ratio, t) if tot.ratio is not None else ""
            detail = (f"UM margin ratio {fmt.ratio(tot.ratio)}{fired}"
                      f" (uniMMR unavailable to this key: {unavailable['account']})")
        else:
            detail = f"uniMMR unknown (/papi/v1/account was not read), UM margin ratio {fmt.ratio(tot.ratio)}"
        worst_asset = max(view.assets, key=lambda r: r.level, default=None)
        if worst_asset is not None and worst_asset.level > Level.OK:
            detail += f", {worst_asset.asset.asset} maintenance margin at {fmt.percent(worst_asset.usage)} of balance"
    if (locked := verdict.said(LOCKED)) is not None:  # a locked account cannot de-risk
        detail = f"{locked}; {detail}"
    near = verdict.said(LIQUIDATION)
    if near is not None:  # what sets the level comes first; uniMMR and status are said below anyway
        detail = f"{near}{_fired_liq(view, t)}; {detail}"
    detail += f", {len(view.open_positions)} open positions, uPnL {fmt.money(view.upnl, sign=True)}"
    if alerts is not None:
        result = check_rules(view, alerts=alerts, thresholds=t, risk=risk, ledger=ledger)
        # A rule that holds is a WARNING, a critical one (within liq_distance_critical of a
        # liquidation price, uniMMR or status in liquidation) CRITICAL; uniMMR's own bands above
        # already make reduce-only CRITICAL.
        level = worst([level, *(Level.CRITICAL if e.level >= Level.CRITICAL else Level.WARN
                                for e in result.events)])
        # uniMMR and status are in the summary already; the others say what else holds, and so
        # does the uniMMR rule when it alone fired (its threshold above the check's warning level).
        judged = pm.uniMMR if pm is not None else tot.ratio if "account" in unavailable else None
        named = judged is not None and ratio_level(judged, t) > Level.OK
        said = [e.message.rstrip(".") for e in result.events
                if e.rule != "status_not_normal" and not (e.rule == "unimmr_below" and named)]
        if len(said) > 3:
            said = [*said[:3], f"and {len(said) - 3} more alerts"]
        detail += "".join(f"; {m}" for m in said)
    if risk is not None:
        if (move_said := liquidation_text(risk)) is not None:  # nothing when the model does not reconcile
            detail += f"; {move_said}"
    if "positionRisk" in unavailable:
        detail += "; liquidation distances unavailable"
    if "cm" in unavailable:
        detail += "; COIN-M positions unavailable" if cm is None else "; COIN-M liquidation distances unavailable"
    perf = (
        f"margin_balance={fmt.plain(tot.margin_balance)} maint_margin={fmt.plain(tot.maint_margin)} "
        f"upnl={fmt.plain(view.upnl)}"  # the text's uPnL: UM plus COIN-M at mark, in USD
    )
    if pm is not None:
        # Nagios perfdata: value;warn;crit, the thresholds this line was judged by.
        perf += (f" uniMMR={fmt.plain(pm.uniMMR)};{fmt.plain(t.unimmr_warn)};{fmt.plain(t.unimmr_danger)}"
                 f" account_equity={fmt.plain(pm.accountEquity)}"
                 f" account_maint_margin={fmt.plain(pm.accountMaintMargin)}")
    if risk is not None and (liq := liq_perfdata(risk)):
        perf += f" {liq}"
    unknown = verdict.unknown and level < Level.DANGER  # a known CRITICAL alert says enough
    word = check_word(None if unknown else level)
    line = f"PMTUI {word} - {detail.replace('|', '/')} | {perf}"
    return (None if unknown else level), line


def _fired_unimmr(unimmr: Decimal, t: Thresholds) -> str:
    """Which uniMMR threshold the value is at or below, in the check's words (`-w` is the warning
    level, `-c` the critical one), or nothing when none is."""
    level = ratio_level(unimmr, t)
    if level is Level.OK:
        return ""
    name, x = {Level.WARN: ("warning", t.unimmr_warn), Level.DANGER: ("critical", t.unimmr_danger),
               Level.CRITICAL: ("liquidation", t.unimmr_critical)}[level]
    return f" at or below the {name} level {fmt.amount(x)}"


def _fired_liq(view: AccountView, t: Thresholds) -> str:
    """Which liquidation-distance threshold the nearest position is under, named as in
    [thresholds] (liq_distance_warn, _danger, _critical)."""
    near = view.nearest_liquidation
    level = liq_level(near.liq_distance if near is not None else None, t)
    if level is Level.OK:
        return ""
    name, x = {Level.WARN: ("warning", t.liq_distance_warn), Level.DANGER: ("danger", t.liq_distance_danger),
               Level.CRITICAL: ("critical", t.liq_distance_critical)}[level]
    return f", under the {name} distance {fmt.amount(x.scaleb(2))}%"


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def changed_positions(before: AccountView | None, after: AccountView | None) -> list[str]:
    """Row keys ("SYMBOL:SIDE") of open positions that opened, closed or changed any field."""
    old = {r.key: r.position.raw for r in before.open_positions} if before is not None else {}
    new = {r.key: r.position.raw for r in after.open_positions} if after is not None else {}
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def watch_line(state: MonitorState) -> str:
    """One line per state for `pmtui watch`: time, verdict and reason, uniMMR, freshness, fault."""
    info, verdict, view = state.status, state.verdict, state.view
    word = info.word  # the status bar's: never LIVE before data (CONNECTING)
    parts = [_utc(info.last_ok_wall if info.error is None else time.time())]
    if verdict is not None:
        # uniMMR is said once, in full, below; the other causes (a liquidation, the status) here.
        others = [w for cause, w in verdict.causes if cause != UNIMMR]
        parts.append(" ".join([verdict.word, *others]))
    if view is not None:
        pm = view.pm
        parts.append(f"uniMMR {fmt.ratio(pm.uniMMR)}" if pm is not None else "uniMMR —")
        parts.append(f"{len(view.open_positions)} open positions, uPnL {fmt.money(view.upnl, sign=True)}")
    parts.append(word)
    if info.push is not None:
        down = f"push down ({info.push.reason})" if info.push.reason else "push down"
        parts.append("push ✓" if info.push.up else down)
    line = " · ".join(parts)
    if info.error is not None:
        line += f" · {info.error.message}"
    for event in state.alerts:
        line += f" · alert: {event.message}"
    return line


def watch_json(state: MonitorState, changed: Iterable[str], positions: list[str]) -> str:
    """One JSON object per state for `pmtui watch --json`: the fields of `snapshot --json` (the
    API's objects unchanged), then what pmtui made of them and what changed. Compact: one line."""
    doc: dict[str, Any] = {}
    if state.account is not None:
        doc = json.loads(snapshot_json(state.account, pm=state.pm, risks=state.risks,
                                       unavailable=state.unavailable or None, view=state.view,
                                       verdict=state.verdict, balances=state.balances, cm=state.cm,
                                       cm_risks=state.cm_risks, estimate=state.estimate,
                                       estimate_age=state.estimate_age, risk=state.risk))
        doc["fetchedAt"] = int(state.status.last_ok_wall * 1000) if state.status.last_ok_wall else None
    info, verdict = state.status, state.verdict
    doc["changed"] = sorted(changed)
    doc["changedPositions"] = positions
    doc["level"] = verdict.word if verdict is not None else None
    doc["reason"] = verdict.reason if verdict is not None else None
    doc["stale"] = info.stale
    doc["error"] = info.error.message if info.error is not None else None
    if info.push is not None:
        doc["push"] = {"up": info.push.up, "reason": info.push.reason}
    doc["alerts"] = [e.to_dict() for e in state.alerts]
    return json.dumps(doc, separators=(",", ":"), default=_json_default)


def history_table(rows: Iterable[Sample], *, width: int = 140) -> str:
    """The recorded samples as a table, local times, oldest first."""
    rows = list(rows)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False)
    table = Table(title=f"History ({len(rows)} samples)", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("Time", "Profile", "uniMMR", "Account equity", "Maint. margin", "uPnL", "Level"):
        table.add_column(name, justify="left" if name in ("Time", "Profile", "Level") else "right")
    for r in rows:
        table.add_row(
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time_ms / 1000)), r.profile,
            fmt.ratio(r.unimmr) if r.unimmr is not None else "—",
            fmt.money(r.account_equity), fmt.money(r.maint_margin),
            fmt.money(r.total_upnl, sign=True) if r.total_upnl is not None else "—",
            r.level.upper(),
        )
    console.print(table)
    return buffer.getvalue().rstrip()


# --- the ledger (pmtui.ledger): `ledger --format table|csv|json` and snapshot's "ledger" --------

LEDGER_KIND_NAMES = {"funding": "funding", "commission": "commission", "interest": "interest",
                     "realized": "realized PnL", "other": "other"}
#: How the totals are in USD, said under them.
LEDGER_USD_NOTE = ("USD: stablecoins at 1 USD, other assets at Binance's index price now (not at "
                   "the event's time); an asset with no price is listed apart in its own coin. "
                   "Transfers are not counted.")


def ledger_json(view: Any, since_ms: int | None = None) -> dict[str, Any]:
    """The API's rows unchanged, by endpoint path (oldest first), with what the ledger covers and
    its sentences; `since_ms`: only rows from then on."""
    doc: dict[str, Any] = {
        "since": since_ms if since_ms is not None else view.since_ms,
        "readTo": view.read_to_ms,
        "rows": view.raw_rows(since_ms),
    }
    if view.notes:
        doc["notes"] = list(view.notes)
    if view.unavailable:
        doc["unavailable"] = dict(view.unavailable)
    return doc


def ledger_total_text(total: Any) -> str:
    """A kind's total: "-12.34" (USD), with unpriced coins apart ("-12.34, -0.0001 BTC"), "0.00" for none."""
    parts = [] if total.usd is None else [fmt.money(total.usd, sign=True)]
    parts += [f"{fmt.amount(v)} {coin}" for coin, v in sorted(total.unpriced.items())]
    return ", ".join(parts) if parts else "0.00"


def _csv_safe(text: str) -> str:
    """Text a spreadsheet would read as a formula gets a leading quote (it came from the network)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def ledger_csv(entries: Sequence[Any]) -> str:
    import csv

    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["time_ms", "time_utc", "endpoint", "id", "kind", "type", "symbol", "asset", "amount", "info"])
    for e in entries:
        out.writerow([e.time, fmt.utc_time(e.time), e.source, _csv_safe(e.id), e.kind, _csv_safe(e.type),
                      _csv_safe(e.symbol or ""), _csv_safe(e.asset or ""),
                      "" if e.amount is None else fmt.plain(e.amount), _csv_safe(e.info)])
    return buffer.getvalue()


def ledger_table(view: Any, now_ms: int, *, since_ms: int, prices: Mapping[str, Decimal] | None = None,
                 width: int = 140) -> str:
    """Totals by kind (today, 24 h, 7 d and since `since_ms`) and every event since then."""
    from pmtui.ledger import TOTAL_KINDS, totals, windows

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False)
    # Only the windows the read covers: `--since 24h` has no 7-day total to show (it would be 24 h's).
    spans = {**{k: v for k, v in windows(now_ms).items() if v >= since_ms}, "since": since_ms}
    sums = {name: totals(view.between(start), prices or {}) for name, start in spans.items()}
    head = Table(title="Ledger totals (USD)", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    head.add_column("kind")
    for name in spans:
        head.add_column({"today": "today (UTC)", "24h": "24 h", "7d": "7 d",
                         "since": f"since {fmt.utc_time(since_ms)}"}[name], justify="right")
    for kind in (*TOTAL_KINDS, "other"):
        head.add_row(LEDGER_KIND_NAMES[kind], *(ledger_total_text(sums[name][kind]) for name in spans))
    console.print(head)
    console.print(LEDGER_USD_NOTE)
    entries = view.between(since_ms)
    events = Table(title=f"Events ({len(entries)})", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for name in ("time (UTC)", "kind", "type", "symbol", "amount", "asset", "info"):
        events.add_column(name, justify="right" if name == "amount" else "left", overflow="fold")
    for e in entries:
        mark = "!! " if e.forced else ""
        events.add_row(mark + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.time / 1000)),
                       e.kind.upper() if e.forced else e.kind, e.type, e.symbol or "",
                       "" if e.amount is None else fmt.plain(e.amount), e.asset or "", e.info)
    console.print(events)
    for note in (*view.notes, *view.unavailable.values()):
        console.print(f"note: {note}")
    return buffer.getvalue().rstrip("\n")
