"""The Ledger screen (`f`): what the account paid and received today, in 24 hours and in 7 days,
by kind, and every event newest first; a liquidation or ADL fill stands out as CRITICAL. It only
draws the LedgerView each state carries (pmtui.ledger); it never fetches. Text from the exchange
(symbols, `info`) was cleaned when it was read and is drawn as Text, never markup.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer

from pmtui import fmt
from pmtui.health import Level
from pmtui.ledger import TOTAL_KINDS, LedgerView, totals, windows
from pmtui.output import LEDGER_KIND_NAMES, LEDGER_USD_NOTE, ledger_total_text
from pmtui.tui.widgets.styles import StyledStatic

#: Events drawn at most (newest first); the rest are said in a line (`pmtui ledger` has them all).
MAX_EVENTS = 300
WINDOW_NAMES = {"today": "today (UTC)", "24h": "24 h", "7d": "7 d"}


class LedgerTotals(StyledStatic):
    def show(self, view: LedgerView | None, now_ms: int, prices: dict[str, Decimal]) -> None:
        if view is None:
            self.show_text(Text("The ledger has not been read yet: it is read in the background after the "
                                "first refresh (its first read takes a week back), then every few minutes.",
                                style=self.style("muted")))
            return
        text = Text()
        forced = [e for e in view.forced if e.time >= now_ms - 7 * 86_400_000]
        if forced:
            kinds = {e.kind for e in forced}
            what = " and ".join(k.upper() if k == "adl" else "liquidation" for k in sorted(kinds))
            text.append(f"{Level.CRITICAL.mark} {len(forced)} {what} fill{'s' if len(forced) != 1 else ''} "
                        "in the last 7 days (below, marked ×)\n", style=self.level_style(Level.CRITICAL))
        table = Table(box=None, padding=(0, 0, 0, 2), pad_edge=False, show_edge=False)
        table.add_column("USD", no_wrap=True)
        spans = windows(now_ms)
        sums = {name: totals(view.between(start), prices) for name, start in spans.items()}
        for name in spans:
            table.add_column(WINDOW_NAMES[name], justify="right", no_wrap=True)
        for kind in (*TOTAL_KINDS, "other"):
            cells = []
            for name in spans:
                total = sums[name][kind]
                cells.append(Text(ledger_total_text(total), style=self.pnl_style(total.usd or 0)))
            table.add_row(LEDGER_KIND_NAMES[kind], *cells)
        self._shown = None  # drawn as a table: the next show_text must not think it is unchanged
        self.update(_stack(text, table) if forced else table)


def _stack(text: Text, table: Table) -> Any:
    from rich.console import Group

    return Group(text, table)


class LedgerEvents(StyledStatic):
    def show(self, view: LedgerView | None) -> None:
        if view is None:
            self.show_text(Text(""))
            return
        entries = view.entries[::-1][:MAX_EVENTS]
        if not entries:
            self.show_text(Text("No funding, commission, interest or forced fills in the ledger's window.",
                                style=self.style("muted")))
            return
        table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False, expand=True)
        for name in ("", "time (UTC)", "kind", "symbol", "amount", "asset", "info"):
            table.add_column(name, justify="right" if name == "amount" else "left",
                             no_wrap=name != "info", overflow="fold")
        critical = self.level_style(Level.CRITICAL)
        for e in entries:
            style = critical if e.forced else None
            mark = Level.CRITICAL.mark if e.forced else "?" if e.implausible else ""
            amount = Text("" if e.amount is None else fmt.plain(e.amount),
                          style=style or (self.pnl_style(e.amount) if e.amount is not None else ""))
            kind = e.kind.upper() if e.forced else e.kind if e.kind != "other" else e.type
            table.add_row(Text(mark, style=style or ""),
                          Text(time.strftime("%m-%d %H:%M:%S", time.gmtime(e.time / 1000)), style=style or ""),
                          Text(kind, style=style or ""), Text(e.symbol or "", style=style or ""), amount,
                          Text(e.asset or "", style=style or ""), Text(e.info, style=style or self.style("muted")))
        more = len(view.entries) - len(entries)
        self._shown = None
        if more > 0:
            self.update(_stack(Text(f"{more} older events not drawn: `pmtui ledger --since 7d` lists them all.",
                                    style=self.style("muted")), table))
        else:
            self.update(table)


class LedgerNote(StyledStatic):
    def show(self, view: LedgerView | None) -> None:
        text = Text(LEDGER_USD_NOTE, style=self.style("muted"))
        if view is not None:
            for note in (*view.notes, *view.unavailable.values()):
                text.append("\n" + note, style=self.level_style(Level.WARN))
        self.show_text(text)


class LedgerScreen(ModalScreen[None]):
    """`f`: the ledger; it follows the states as they come."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("f", "dismiss", "Close", show=False)]

    def __init__(self, view: LedgerView | None, now_ms: int, prices: dict[str, Decimal] | None = None) -> None:
        super().__init__()
        self._args = (view, now_ms, prices or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="ledger-box"):
            yield LedgerTotals(id="ledger-totals")
            with VerticalScroll(id="ledger-scroll"):
                yield LedgerEvents(id="ledger-events")
            yield LedgerNote(id="ledger-note")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#ledger-box")
        box.border_title = "Ledger: funding, commission, interest, realized PnL, forced fills"
        box.border_subtitle = "esc to close"
        self.show(*self._args)

    def show(self, view: LedgerView | None, now_ms: int, prices: dict[str, Decimal] | None = None) -> None:
        self._args = (view, now_ms, prices or {})
        self.query_one(LedgerTotals).show(view, now_ms, prices or {})
        self.query_one(LedgerEvents).show(view)
        self.query_one(LedgerNote).show(view)
