"""The account panel: uniMMR shown large, coloured by the account's verdict, with its age under it,
the account-wide figures of `/papi/v1/account`, the headroom left before liquidation, and the risk
model's own uniMMR beside Binance's (how far apart) with the move that liquidates."""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits

from pmtui import fmt
from pmtui.health import LIQUIDATION, Level, Verdict, ratio_level, status_level
from pmtui.model import RiskModel
from pmtui.risk import Estimate, Headroom, unimmr_band
from pmtui.riskview import liquidation_text, reconciliation_head, why_approximate
from pmtui.tui.widgets.styles import StyledStatic
from pmtui.views import AccountView

LEVEL_CLASSES = tuple(f"-{level.label}" for level in Level)
#: Lines at most for why the model is approximate (the ladder's note and `snapshot --json` say it all).
WHY_LINES = 2


#: Updates (ticks and refreshes) for which a shorter text keeps the facts' height, blank lines
#: under it. Binance's uniMMR line goes for the refresh its figure comes with the positions and is
#: back on the next one: at 80 columns a panel one line shorter for a second moved every pane
#: under it, each time a relayout and a repaint of the whole screen (issue 25: idle CPU).
HOLD_UPDATES = 6


class AccountFacts(StyledStatic):
    _args: tuple | None = None
    _height = 0  # the lines the facts hold: the text's, or more while a shorter one is held
    _short = 0  # updates in a row the text had fewer lines than that

    def show_facts(self, *args) -> None:
        """render_facts(*args), shown; again on each resize (the lines are fitted to the width,
        which the digits beside them change as well as the terminal)."""
        self._args = args
        self.show_text(self._held(self.render_facts(*args)))

    def on_resize(self) -> None:
        if self._args is not None:
            self.show_text(self._held(self.render_facts(*self._args)))

    def _held(self, text: Text) -> Text:
        """`text`, with blank lines to the height it held while it is shorter for a moment: a
        longer text shows at once, a shorter one after HOLD_UPDATES updates."""
        lines = text.plain.count("\n") + 1
        if lines >= self._height or self._short >= HOLD_UPDATES:
            self._height, self._short = lines, 0
        else:
            self._short += 1
            text.append("\n" * (self._height - lines))
        return text

    def render_facts(self, view: AccountView | None, note: str | None, verdict: Verdict | None = None,
                     estimate: Estimate | None = None, age: str = "", risk: RiskModel | None = None) -> Text:
        """`estimate`: uniMMR and headroom as they may be now (the headroom shows it, marked);
        then Binance's own uniMMR is said with its `age`. `risk`: the risk model, said beside
        Binance's uniMMR with the move that liquidates."""
        text = Text(no_wrap=True, overflow="ellipsis")
        muted = self.style("muted")
        if view is None:
            text.append("waiting for the first update…", style=muted)
            return text
        verdict = verdict or view.verdict()
        pm = view.pm
        if pm is None:
            # Only the UM account is known: say why uniMMR is missing, show what we have.
            t = view.totals
            text.append(f" {verdict.badge} ", style=self.style(verdict.style))
            text.append(" uniMMR ", style="bold")
            text.append(note or "waiting for /papi/v1/account…", style=muted)
            text.append("\nUM margin bal. ")
            text.append(fmt.money(t.margin_balance), style="bold")
            text.append("  ratio ")
            text.append(fmt.ratio(t.ratio), style=self.style(verdict.style))
            text.append("\nMaint. ")
            text.append(fmt.money(t.maint_margin), style="bold")
            text.append("  uPnL ")
            text.append(fmt.money(t.unrealized, sign=True), style=self.pnl_style(t.unrealized))
            self._liquidation(text, verdict)
            return text
        # The first line must fit one line (the panel has four): at a narrow width, what is said
        # elsewhere gives way first (the target 1.05, then the band the digits already show).
        width = self.content_size.width
        for target, band in ((True, True), (False, True), (False, False)):
            first = self._first_line(view, verdict, estimate, target=target, band=band)
            if not width or first.cell_len <= width:
                break
        text.append_text(first)
        text.append("\nEquity ")
        text.append(fmt.money(pm.accountEquity), style="bold")
        text.append("  actual ")
        text.append(fmt.money(pm.actualEquity))
        text.append("  avail. ")
        text.append(fmt.money(pm.totalAvailableBalance))
        # The digits show the estimate: Binance's own figure, and how old it is, stays in sight
        # (beside the model's when there is one). Shorter words where narrow, never a cut figure.
        binance = [f"{word} {fmt.ratio(pm.uniMMR)}" + (f" {age} ago" if age else "")
                   for word in ("Binance uniMMR", "Binance")] if estimate is not None and not note else []
        variants = [(i, b) for i in ("initial ", "init. ") for b in binance] + [("initial ", None)]
        for initial, extra in variants:
            line = Text("Maint. ")
            line.append(fmt.money(pm.accountMaintMargin), style="bold")
            line.append(f"  {initial}")
            line.append(fmt.money(pm.accountInitialMargin))
            if note:
                line.append(f"  ({note})", style=muted)  # the one line that may be cut: a sentence
            elif extra is not None:
                line.append(f"  {extra}", style=muted)
            if not width or line.cell_len <= width:
                break
        text.append("\n")
        text.append_text(line)
        if binance and extra is None:
            text.append(f"\n{binance[-1]}", style=muted)  # too narrow beside the margins: its own line
        if risk is not None:
            self._risk(text, risk, width, age)
        self._liquidation(text, verdict)
        return text

    def _risk(self, text: Text, model: RiskModel, width: int, age: str = "") -> None:
        """Under Binance's uniMMR (the digits, or the line above with an estimate): "model 2.0100 ·
        Δ +0.4% · liquidation at -10.2% (BTC -10.0%)", on one line where it fits, else over two;
        beyond 2% apart (or an input missing) "approximate" and why, wrapped (it may carry an
        exchange's words: plain text, never markup)."""
        muted = self.style("muted")
        head = reconciliation_head(model, age)
        why = why_approximate(model)
        move = liquidation_text(model)
        lines: list[Text] = []
        line = Text()
        line.append(head, style=self.style("muted") if why is None else self.level_style(Level.WARN))
        if why is not None:
            line.append(" · approximate", style=self.level_style(Level.WARN))
        if move is not None:
            if not width or line.cell_len + 3 + len(move) <= width:
                line.append(" · ")
            else:
                lines.append(line)
                line = Text()
            line.append(move, style="bold")
        lines.append(line)
        if why is not None:
            wrapped = textwrap.wrap(why, width) if width > 8 else [why]
            if len(wrapped) > WHY_LINES:
                wrapped = [*wrapped[: WHY_LINES - 1], textwrap.shorten(" ".join(wrapped[WHY_LINES - 1:]),
                                                                      max(width, 10), placeholder=" …")]
            lines.extend(Text(w, style=muted) for w in wrapped)
        for one in lines:
            text.append("\n")
            text.append_text(one)

    def _first_line(self, view: AccountView, verdict: Verdict, estimate: Estimate | None, *, target: bool,
                    band: bool) -> Text:
        """The verdict's badge, uniMMR's band, `accountStatus` and the headroom."""
        pm = view.pm
        assert pm is not None
        text = Text(no_wrap=True, overflow="ellipsis")
        muted = self.style("muted")
        level = verdict.level
        text.append(f" {verdict.badge} ", style=self.style(verdict.style))
        text.append(f" {unimmr_band(pm.uniMMR)} · " if band else " ")
        if pm.accountStatus is None:  # not given: uniMMR's band above still judges the account
            text.append("status —", style=muted)
        else:
            # By its own level (MARGIN_CALL is WARN), even when a liquidation makes the verdict worse.
            status_style = ("bold" if pm.accountStatus == "NORMAL"
                            else self.level_style(max(status_level(pm.accountStatus), Level.WARN)))
            text.append(pm.accountStatus, style=status_style)
        room: Headroom | None = estimate.headroom if estimate is not None else view.headroom
        if room is not None:
            text.append("  headroom ")
            mark = "≈" if estimate is not None else ""  # an estimate never reads as Binance's figure
            if room.infinite:
                text.append(f"{mark}∞", style="bold")
            else:
                text.append(mark + fmt.money(room.amount),
                            style=self.level_style(level) if room.amount <= 0 else "bold")
                if room.fraction is not None:
                    text.append(f" ({fmt.percent(room.fraction)})")
            if estimate is not None:
                text.append(" est.", style=muted)
            if target and not room.infinite:
                text.append(f" to {fmt.ratio(room.target, 2)}", style=muted)
        return text

    def _liquidation(self, text: Text, verdict: Verdict) -> None:
        """A position near its liquidation price sets the level: name it where uniMMR is."""
        near = verdict.said(LIQUIDATION)
        if near is not None:
            text.append("\n")
            text.append(near, style=self.style(verdict.style))


class AccountPanel(Horizontal):
    """Left: uniMMR in large digits with its age under them. Right: the account's figures."""

    def compose(self) -> ComposeResult:
        with Vertical(id="unimmr-box"):
            yield Digits("-.--", id="unimmr")
            yield StyledStatic(id="unimmr-age")
        yield AccountFacts(id="account-facts")

    def show(self, view: AccountView | None, note: str | None = None, verdict: Verdict | None = None,
             age: str = "", fallback: bool = False, estimate: Estimate | None = None,
             estimate_age: str = "", risk: RiskModel | None = None) -> None:
        """`verdict`: the app's (stale or not); `age`: how old Binance's uniMMR is; `fallback`: the
        key may not read uniMMR, so the digits show the UM margin ratio; `estimate`: uniMMR as it
        may be now (the digits show it, the caption says it is an estimate and `estimate_age`);
        `risk`: the risk model (None: off or not ready), said beside Binance's uniMMR."""
        if view is not None and verdict is None:
            verdict = view.verdict(refused=fallback)
        fallback = fallback and view is not None and view.pm is None
        if view is None or view.pm is None or fallback or (verdict is not None and verdict.stale):
            estimate = None  # stale: the last good figures, Binance's own, marked so
        digits = self.query_one("#unimmr", Digits)
        level: str | None = None
        if view is None or (view.pm is None and not fallback):
            shown = "-.--"
        else:
            if estimate is not None:
                ratio = estimate.uniMMR
            else:
                ratio = view.pm.uniMMR if view.pm is not None and not fallback else view.totals.ratio
            # No maintenance margin (None), or almost none in use: a huge ratio, capped as drawn.
            shown = "999+" if ratio is None or ratio >= 1000 else fmt.ratio(ratio)
            # The digits by their own band; the badge beside them carries the verdict.
            level = f"-{ratio_level(ratio, view.thresholds).label}"
        if digits.value != shown:
            digits.update(shown)
        classes = {cls: cls == level for cls in LEVEL_CLASSES}
        classes["-stale"] = verdict is not None and verdict.stale
        digits.update_classes(classes)  # restyles only on a change
        caption = self.query_one("#unimmr-age", StyledStatic)
        if estimate is not None:
            caption.show_text(self._caption(caption, verdict, "≈ est.", estimate_age))
        else:
            caption.show_text(self._caption(caption, verdict, "UM ratio" if fallback else "uniMMR", age))
        facts = self.query_one("#account-facts", AccountFacts)
        if view is None or view.pm is None or fallback or (verdict is not None and verdict.stale):
            risk = None  # nothing current to reconcile it with
        facts.show_facts(view, note, verdict, estimate, age, risk)

    @staticmethod
    def _caption(widget: StyledStatic, verdict: Verdict | None, name: str, age: str) -> Text:
        """Under the digits: what they are and how old, or that they are not current."""
        if verdict is None:
            return Text("")
        if verdict.stale:
            return Text(f" ◌ STALE {age} " if age else " ◌ STALE ", style=widget.style("state--stale"))
        if verdict.unknown:
            return Text(" ? UNKNOWN ", style=widget.style("state--stale"))
        return Text(f"{name} {age} ago" if age else name)  # not muted: it must read on any theme
