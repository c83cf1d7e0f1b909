"""The header line: whose account this is, its verdict and why, and the clock. The money is in the
account panel below it. On a terminal too small for the dashboard, `CompactView` stands in for
all of it."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text

from pmtui import fmt
from pmtui.health import UNIMMR, Verdict
from pmtui.tui.widgets.styles import StyledStatic
from pmtui.views import AccountView


class SummaryBar(StyledStatic):
    #: The clock at the right: a replay's (the recorded moment), or None for time.time, looked up
    #: at each call (the tests' frozen time replaces the module's `time`).
    clock: Callable[[], float] | None = None
    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.view: AccountView | None = None
        self.verdict: Verdict | None = None
        self.behind = ""

    def on_mount(self) -> None:
        self.show(None)

    def show(self, view: AccountView | None, verdict: Verdict | None = None, behind: str = "") -> None:
        """`verdict`: the app's (it knows whether the data is stale); default: the view's own.
        `behind`: how old Binance's uniMMR is, when it is older than the positions (the digits
        then show an estimate): the header says its figure with that age, never as current as
        the clock beside it."""
        self.view = view
        self.behind = behind
        self.verdict = verdict if verdict is not None or view is None else view.verdict()
        self.show_text(self.render_text())

    def on_resize(self) -> None:
        self.show_text(self.render_text())  # the clock stays at the right whatever the width

    def render_text(self) -> Text:
        clock = fmt.clock_time(self.clock() if self.clock is not None else time.time())
        width = self.content_size.width
        # At a narrow width what is said elsewhere gives way first (open count, uPnL, uniMMR: the
        # panel and tables show them), each whole, never a figure cut short; the clock always
        # shows, at the right, and the reason is cut last.
        for extras in (3, 2, 1, 0):
            line = self._line(extras)
            if not width or line.cell_len + 2 + len(clock) <= width:
                break
        tail = Text(f"  {clock}", style=self.style("muted"))
        if width and line.cell_len + tail.cell_len > width:
            tail = Text(f" {clock}", style=self.style("muted"))
            if line.cell_len + tail.cell_len > width:
                line.truncate(max(0, width - tail.cell_len), overflow="ellipsis")
        line.append_text(tail)
        return line

    def _line(self, extras: int) -> Text:
        """Everything but the clock; `extras`: how many of uniMMR, uPnL and the open count to add."""
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {self.title} ", style="bold reverse")
        view, verdict = self.view, self.verdict
        if view is None or verdict is None:
            line.append("  waiting for the first update…", style=self.style("muted"))
        else:
            line.append("  ")
            line.append(f" {verdict.badge} ", style=self.style(verdict.style))
            ago = f" ({self.behind} ago)" if self.behind and not verdict.stale else ""
            said = verdict.said(UNIMMR)
            reason = verdict.reason
            if said is not None and ago:
                reason = reason.replace(said, said + ago, 1)
            line.append(f" {reason}")
            if extras >= 1 and view.unimmr is not None and said is None:
                line.append("  uniMMR ")
                line.append(fmt.ratio(view.unimmr), style="bold")
                line.append(ago)
            if extras >= 2:
                line.append("  uPnL ")
                line.append(fmt.money(view.upnl, sign=True), style=self.pnl_style(view.upnl))
            if extras >= 3:
                line.append(f"  open {len(view.open_positions)}")
        return line


class CompactView(StyledStatic):
    """What must stay readable down to 20x10: the account's verdict and why, uniMMR and its age,
    and whether the data is live, with the reason if it is not."""

    # The text of a show() while hidden (app.tcss hides the view on a terminal big enough for the
    # dashboard): updating a widget that is not on screen makes Textual's compositor rebuild its
    # whole map and repaint every widget, once a second. Shown when the CSS displays the view.
    _hidden_text: Text | None = None

    def show(self, title: str, view: AccountView | None, verdict: Verdict | None, unimmr_age: str,
             state: tuple[str, str], data_age: str, problem: str | None) -> None:
        """`state`: the status bar's word and style (LIVE, STALE, ERROR…); `data_age`: how old the
        UM account is; `problem`: why the data is not current, in a sentence."""
        text = Text(overflow="fold")
        text.append(f" {title} ", style="bold reverse")
        if view is None or verdict is None:
            text.append("\nwaiting for the first update…", style=self.style("muted"))
        else:
            text.append("\n")
            text.append(f" {verdict.badge} ", style=self.style(verdict.style))
            if verdict.reason != verdict.said(UNIMMR):  # the uniMMR line below says that one
                text.append(f"\n{verdict.reason}")
            text.append("\nuniMMR ")
            text.append(fmt.ratio(view.unimmr) if view.unimmr is not None else "—", style="bold")
            if view.unimmr is not None and unimmr_age:
                text.append(f" · {unimmr_age}")
        word, style = state
        text.append("\n")
        text.append(f" {word} ", style=self.style(style))
        if data_age:
            text.append(f" {data_age} ago")
        if problem:
            text.append(f"\n{problem}")
        if not self.display:
            self._hidden_text = text
            return
        self._hidden_text = None
        self.show_text(text)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._hidden_text is not None and self.display:
            text, self._hidden_text = self._hidden_text, None
            self.show_text(text)
