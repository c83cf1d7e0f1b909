"""Text for the headless commands: the snapshot table, snapshot JSON, and the check line."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pmtui import fmt
from pmtui.config import Thresholds
from pmtui.health import Level
from pmtui.models import UmAccount
from pmtui.views import AccountView, build_view


def _json_default(value: Any) -> str:
    # Only reached for numbers the API sent unquoted (parsed as Decimal): keep every digit.
    if isinstance(value, Decimal):
        return fmt.plain(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def snapshot_json(account: UmAccount, *, include_zero: bool = False, extra: dict | None = None) -> str:
    """The API's own rows (decimal strings untouched); like the table, open positions and
    non-zero assets only unless include_zero."""
    positions = account.positions if include_zero else account.open_positions
    assets = account.assets if include_zero else tuple(a for a in account.assets if not a.is_zero)
    doc: dict[str, Any] = {
        "fetchedAt": int(time.time() * 1000),
        "assets": [a.raw for a in assets],
        "positions": [p.raw for p in positions],
    }
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2, default=_json_default)


def snapshot_table(account: UmAccount, t: Thresholds, *, include_zero: bool = False,
                   width: int = 140) -> str:
    view = build_view(account, t)
    # markup=False: a "[" in a symbol or asset name is text, not Rich markup (a stray "[/]" raised).
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      markup=False, highlight=False)
    tot = view.totals
    console.print(
        f"Account {view.level.badge}  margin balance {fmt.money(tot.margin_balance)}  "
        f"uPnL {fmt.money(tot.unrealized, sign=True)}  maint. margin {fmt.money(tot.maint_margin)}  "
        f"UM margin ratio {fmt.ratio(tot.ratio)}"
    )
    console.print(_assets_table(view, include_zero))
    console.print(_positions_table(view, include_zero))
    return console.file.getvalue().rstrip()


def _assets_table(view: AccountView, include_zero: bool) -> Table:
    table = Table(title="Assets", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("Asset", "Wallet", "uPnL", "Margin bal.", "Maint. margin", "Initial margin",
                 "Pos. IM", "Order IM", "MM used", "Health"):
        table.add_column(name, justify="left" if name in ("Asset", "Health") else "right")
    for row in view.visible_assets(include_zero):
        a = row.asset
        table.add_row(
            a.asset, fmt.money(a.crossWalletBalance), fmt.money(a.crossUnPnl, sign=True),
            fmt.money(a.margin_balance), fmt.money(a.maintMargin), fmt.money(a.initialMargin),
            fmt.money(a.positionInitialMargin), fmt.money(a.openOrderInitialMargin),
            fmt.percent(row.usage), row.level.badge,
        )
    return table


def _positions_table(view: AccountView, include_zero: bool) -> Table:
    rows = view.positions if include_zero else view.open_positions
    rows = sorted(rows, key=lambda r: r.position.maintMargin, reverse=True)
    table = Table(title=f"Positions ({len(rows)})", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("Symbol", "Side", "Amount", "Notional", "uPnL", "Initial margin",
                 "Maint. margin", "MM share", "Health"):
        table.add_column(name, justify="left" if name in ("Symbol", "Side", "Health") else "right")
    for row in rows:
        p = row.position
        side = p.positionSide if p.positionSide != "BOTH" else ("LONG" if p.is_long else "SHORT")
        table.add_row(
            p.symbol, side if p.is_open else "—", fmt.amount(p.positionAmt), fmt.money(p.notional),
            fmt.money(p.unrealizedProfit, sign=True), fmt.money(p.initialMargin),
            fmt.money(p.maintMargin), fmt.percent(row.share), row.level.badge,
        )
    return table


_CHECK_WORD = {Level.OK: "OK", Level.WARN: "WARNING", Level.DANGER: "CRITICAL", Level.CRITICAL: "CRITICAL"}


def check_line(account: UmAccount, t: Thresholds) -> tuple[Level, str]:
    """One monitoring line (Nagios style, with perfdata after '|') and the level it stands for."""
    view = build_view(account, t)
    tot = view.totals
    worst_asset = max(view.assets, key=lambda r: r.level, default=None)
    detail = f"UM margin ratio {fmt.ratio(tot.ratio)}"
    if worst_asset is not None and worst_asset.level > Level.OK:
        detail += f", {worst_asset.asset.asset} maintenance margin at {fmt.percent(worst_asset.usage)} of balance"
    line = (
        f"PMTUI {_CHECK_WORD[view.level]} - {detail}, {len(view.open_positions)} open positions, "
        f"uPnL {fmt.money(tot.unrealized, sign=True)} | "
        f"margin_balance={fmt.plain(tot.margin_balance)} maint_margin={fmt.plain(tot.maint_margin)} "
        f"upnl={fmt.plain(tot.unrealized)}"
    )
    return view.level, line
