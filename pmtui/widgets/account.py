"""The account panel: uniMMR shown large, coloured by Binance's bands, with the account-wide
figures of `/papi/v1/account` and the headroom left before liquidation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Digits

from pmtui import fmt
from pmtui.health import Level
from pmtui.risk import unimmr_band
from pmtui.views import AccountView
from pmtui.widgets.styles import StyledStatic

LEVEL_CLASSES = tuple(f"-{level.label}" for level in Level)


class AccountFacts(StyledStatic):
    def render_facts(self, view: AccountView | None, note: str | None) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        muted = self.style("muted")
        if view is None:
            text.append("waiting for the first update…", style=muted)
            return text
        pm = view.pm
        if pm is None:
            # Only the UM account is known: say why uniMMR is missing, show what we have.
            t = view.totals
            text.append("uniMMR ", style="bold")
            text.append(note or "waiting for /papi/v1/account…", style=muted)
            text.append("\nUM margin bal. ")
            text.append(fmt.money(t.margin_balance), style="bold")
            text.append("  ratio ")
            text.append(fmt.ratio(t.ratio), style=self.level_style(view.level))
            text.append("\nMaint. ")
            text.append(fmt.money(t.maint_margin), style="bold")
            text.append("  uPnL ")
            text.append(fmt.money(t.unrealized, sign=True), style=self.pnl_style(t.unrealized))
            return text
        level = view.level
        text.append(f" {level.badge} ", style=self.level_style(level))
        text.append(f" {unimmr_band(pm.uniMMR)} · ")
        if pm.accountStatus is None:  # not given: uniMMR's band above still judges the account
            text.append("status —", style=muted)
        else:
            status_style = "bold" if pm.accountStatus == "NORMAL" else self.level_style(max(level, Level.WARN))
            text.append(pm.accountStatus, style=status_style)
        room = view.headroom
        if room is not None:
            text.append("  headroom ")
            if room.infinite:
                text.append("∞", style="bold")
            else:
                text.append(fmt.money(room.amount), style=self.level_style(level) if room.amount <= 0 else "bold")
                if room.fraction is not None:
                    text.append(f" ({fmt.percent(room.fraction)})")
                text.append(f" to {fmt.ratio(room.target)}", style=muted)
        text.append("\nEquity ")
        text.append(fmt.money(pm.accountEquity), style="bold")
        text.append("  actual ")
        text.append(fmt.money(pm.actualEquity))
        text.append("  avail. ")
        text.append(fmt.money(pm.totalAvailableBalance))
        text.append("\nMaint. ")
        text.append(fmt.money(pm.accountMaintMargin), style="bold")
        text.append("  initial ")
        text.append(fmt.money(pm.accountInitialMargin))
        if note:
            text.append(f"  ({note})", style=muted)
        return text


class AccountPanel(Horizontal):
    """Left: uniMMR in large digits. Right: the account's figures."""

    def compose(self) -> ComposeResult:
        yield Digits("-.--", id="unimmr")
        yield AccountFacts(id="account-facts")

    def show(self, view: AccountView | None, note: str | None = None) -> None:
        digits = self.query_one(Digits)
        unimmr = view.unimmr if view is not None else None
        if unimmr is None:
            shown = "-.--"
        else:  # an account with almost no margin in use has a huge ratio: cap what is drawn
            shown = f"{unimmr:.2f}" if unimmr < 1000 else "999+"
        if digits.value != shown:
            digits.update(shown)
        level = f"-{view.level.label}" if view is not None and unimmr is not None else None
        digits.update_classes({cls: cls == level for cls in LEVEL_CLASSES})  # restyles only on a change
        facts = self.query_one(AccountFacts)
        facts.show_text(facts.render_facts(view, note))
