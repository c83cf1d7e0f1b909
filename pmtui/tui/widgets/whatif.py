"""The what-if panel (`w`): shock all prices, or one symbol's, by X% and see the estimated
uniMMR, equity, maintenance margin, and which positions drive the change.

An estimate: linear notional scaling; Binance's collateral haircuts and margin tiers are not
modelled (README, "What-if").
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from pmtui import fmt
from pmtui.models import CmAccount, CmPositionRisk, PmAccount, UmAccount
from pmtui.risk import ShockResult, coin_m_unpriced, shock_account
from pmtui.settings import Thresholds
from pmtui.tui.widgets.styles import StyledStatic

HINT = "e.g. -10 (all prices down 10%), or  +5 BTCUSDT  (one symbol)"
NOTE = ("An estimate: linear notional scaling (COIN-M in USD, with its coin wallet); collateral haircuts "
        "and margin tiers are not modelled.")
TOP = 8  # positions listed as drivers


def parse_shock(text: str) -> tuple[Decimal, str | None]:
    """'-10' -> (-0.10, None); '5 btcusdt' or 'BTCUSDT -5%' -> (0.05 / -0.05, 'BTCUSDT')."""
    move: Decimal | None = None
    symbol: str | None = None
    for word in text.replace("%", " ").split():
        try:
            value = Decimal(word)
        except InvalidOperation:
            if symbol is not None:
                raise ValueError("Give at most one symbol.") from None
            symbol = word.upper()
            continue
        if move is not None or not value.is_finite():
            raise ValueError("Give one percentage, like -10.")
        move = value / 100
    if move is None:
        raise ValueError("Give a percentage, like -10.")
    if move < -1:
        raise ValueError("A price cannot fall by more than 100%.")
    return move, symbol


class ShockReport(StyledStatic):
    def show(self, result: ShockResult) -> None:
        what = result.symbol or "all prices"
        head = Text()
        head.append(f"Estimate: {what} {fmt.percent(result.move, 1)}", style="bold")
        liquidated = result.liquidation_move is not None
        if liquidated:
            # Past the liquidation uniMMR the linear figures mean nothing: say where it comes.
            at = result.liquidation_move
            when = "already now" if at == 0 else f"at about {fmt.percent(at, 1)}"
            head.append(f"\nLiquidated before this move: uniMMR reaches 1.05 {when}.",
                        style=self.level_style(result.level))
        if result.symbol and not result.contributions:
            head.append(f"\nNo open position in {result.symbol}: nothing changes.", style=self.style("muted"))
        facts = Table.grid(padding=(0, 2))
        for _ in range(3):
            facts.add_column(justify="right")
        facts.add_row("", Text("now", style="bold"), Text("after", style="bold"))
        after = "liquidated" if liquidated else fmt.ratio(result.unimmr_after)
        facts.add_row("uniMMR", fmt.ratio(result.unimmr_before),
                      Text(f"{after} {result.level.badge}", style=self.level_style(result.level)))
        facts.add_row("equity", fmt.money(result.equity_before), "—" if liquidated else fmt.money(result.equity_after))
        facts.add_row("maint. margin", fmt.money(result.maint_before),
                      "—" if liquidated else fmt.money(result.maint_after))
        facts.add_row("uPnL change", "", Text(fmt.money(result.pnl_change, sign=True),
                                              style=self.pnl_style(result.pnl_change)))
        room = result.headroom_after
        facts.add_row("headroom to 1.05", "", "—" if liquidated else "∞" if room.infinite else fmt.money(room.amount))
        drivers = Table(box=None, padding=(0, 1), title="What drives it", title_justify="left")
        for name in ("Symbol", "Side", "Notional", "uPnL change", "Maint. after"):
            drivers.add_column(name, justify="left" if name in ("Symbol", "Side") else "right")
        for c in result.contributions[:TOP]:
            drivers.add_row(Text(c.symbol), "LONG" if c.notional > 0 else "SHORT", fmt.money(abs(c.notional)),
                            Text(fmt.money(c.pnl_change, sign=True), style=self.pnl_style(c.pnl_change)),
                            fmt.money(c.maint_after))
        body = Table.grid()
        body.add_row(head)
        body.add_row(facts)
        body.add_row("")
        body.add_row(drivers)
        self.update(body)

    def say(self, message: str) -> None:
        self.update(Text(message, style=self.style("muted")))


class WhatIfScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, account: UmAccount, pm: PmAccount | None, thresholds: Thresholds, *,
                 cm: CmAccount | None = None, cm_risks: Sequence[CmPositionRisk] | None = None) -> None:
        super().__init__()
        self.account, self.pm, self.thresholds = account, pm, thresholds
        self.cm, self.cm_risks = cm, cm_risks

    def compose(self) -> ComposeResult:
        with Vertical(id="whatif-box"):
            yield Input(placeholder=HINT, id="shock")
            with VerticalScroll(id="shock-scroll"):
                yield ShockReport(id="shock-report")
            # Below the scrolling part: the caveat is on screen whatever the list's length.
            yield Static(NOTE, id="shock-note")
        yield Footer()  # this screen's own keys, not the dashboard's below it

    def on_mount(self) -> None:
        box = self.query_one("#whatif-box")
        box.border_title = "What-if: price shock (estimate)"
        box.border_subtitle = "enter to compute · esc to close"
        basis = "uniMMR from /papi/v1/account" if self.pm else "the UM account only (no uniMMR yet)"
        text = f"Type a move and press enter. Measured against {basis}."
        if unpriced := coin_m_unpriced(self.cm, self.cm_risks):
            text += f" {unpriced} COIN-M position(s) without a mark or entry price are not moved."
        self.query_one(ShockReport).say(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        report = self.query_one(ShockReport)
        try:
            move, symbol = parse_shock(event.value)
        except ValueError as err:
            report.say(str(err))
            return
        report.show(shock_account(self.account, self.pm, move, symbol=symbol, thresholds=self.thresholds,
                                  cm=self.cm, cm_risks=self.cm_risks))
