"""The header line: whose account this is, its worst level, and the clock. The money is in the
account panel below it."""

from __future__ import annotations

import time

from rich.text import Text

from pmtui import fmt
from pmtui.views import AccountView
from pmtui.widgets.styles import StyledStatic


class SummaryBar(StyledStatic):
    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.view: AccountView | None = None

    def on_mount(self) -> None:
        self.show(None)

    def show(self, view: AccountView | None, stale: bool = False) -> None:
        self.view = view
        self.show_text(self.render_text(stale))

    def render_text(self, stale: bool = False) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {self.title} ", style="bold reverse")
        view = self.view
        if view is None:
            line.append("  waiting for the first update…", style=self.style("muted"))
        else:
            line.append("  ")
            line.append(f" {view.level.badge} ", style=self.level_style(view.level))
            if view.unimmr is not None:
                line.append("  uniMMR ")
                line.append(fmt.ratio(view.unimmr), style="bold")
            else:
                line.append("  UM ratio ")
                line.append(fmt.ratio(view.totals.ratio), style="bold")
            line.append("  uPnL ")
            line.append(fmt.money(view.totals.unrealized, sign=True), style=self.pnl_style(view.totals.unrealized))
            line.append(f"  open {len(view.open_positions)}")
        if stale:
            line.append("  STALE ", style=self.style("state--stale"))
        line.append(f"  {fmt.clock_time(time.time())}", style=self.style("muted"))
        return line
