"""The what-if panel (`w`): move every non-stablecoin's price, or one underlying's, by X% and see
uniMMR, adjusted equity and maintenance margin after it, and the assets that drive the change.

Exact where the risk model is there (pmtui.model: Binance's formula, with each asset's haircut,
uPnL and the bracket each position's new notional falls in), "approximate" when the model does
not reconcile with Binance's uniMMR. Without the model (risk_model = false, or its inputs not yet
in) the old linear estimate stands in, and says so (README, "The linear what-if estimate").
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
from textual.widgets import Footer, Input

from pmtui import fmt
from pmtui.health import Level
from pmtui.model import RiskModel, underlying_of
from pmtui.models import CmAccount, CmPositionRisk, PmAccount, UmAccount
from pmtui.risk import ShockResult, coin_m_unpriced, shock_account
from pmtui.riskview import nearest_move, off, parse_move, pct, why_approximate
from pmtui.settings import Thresholds
from pmtui.tui.widgets.styles import StyledStatic

HINT = "e.g. -10 (all prices down 10%), or  +5 BTCUSDT  (one symbol)"
MODEL_HINT = "e.g. -10 (every non-stablecoin down 10%), or  BTC -10  (one underlying)"
NOTE = ("An estimate: linear notional scaling (COIN-M in USD, with its coin wallet); collateral haircuts "
        "and margin tiers are not modelled.")
# One line at 80 columns (the box shows one line of note there).
MODEL_NOTE = "Binance's formula: haircuts, uPnL, brackets; stablecoins fixed."
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


def parse_model_move(text: str, model: RiskModel) -> tuple[Decimal, str | None]:
    """'-10' -> (-0.10, None); 'BTC -10', '-10% btc' or 'BTCUSDT -10' -> (-0.10, 'BTC'): a move of
    every non-stablecoin, or of one underlying (a symbol stands for its underlying)."""
    number: str | None = None
    word: str | None = None
    for part in text.replace("%", " % ").split():
        if part == "%":
            continue
        try:
            Decimal(part)
        except InvalidOperation:
            if word is not None:
                raise ValueError("Give at most one underlying, like BTC.") from None
            word = part.upper()
            continue
        if number is not None:
            raise ValueError("Give one percentage, like -10.")
        number = part
    if number is None:
        raise ValueError("Give a percentage, like -10, and an underlying if you like: BTC -10.")
    move = parse_move(number)
    if word is None:
        return move, None
    if word in model.inputs.stablecoins:
        raise ValueError(f"{word} is a stablecoin: the model never moves it.")
    under = word if word in model.underlyings else (underlying_of(word) or word)
    return move, under


class ModelReport(StyledStatic):
    """One scenario of the exact model: before and after, and the assets that change most."""

    def show(self, model: RiskModel, move: Decimal, underlying: str | None) -> None:
        result = model.scenario(move, underlying)
        rung = model.ladder(underlying, (move,))[0]
        base = model.base
        muted = self.style("muted")
        head = Text()
        what = f"{underlying} {pct(move)}" if underlying else f"every non-stablecoin {pct(move)}"
        rough = off(model) is not None or result.approximate
        head.append(f"{'Approximate' if rough else 'Exact'}: {what}", style="bold")
        if underlying is not None and underlying not in model.underlyings:
            head.append(f"\nNothing in this account moves with {underlying}: nothing changes.", style=muted)
        at = nearest_move(model, underlying)
        alone = f"{underlying} alone" if underlying else "every non-stablecoin together"
        head.append(f"\nLiquidation (uniMMR 1.05): {alone} at {pct(at)}" if at is not None
                    else f"\nLiquidation (uniMMR 1.05): no move of {alone} in -99% … +300% reaches it",
                    style=muted)
        level = Level.CRITICAL if rung.liquidated else Level[rung.level]
        if rung.liquidated:
            # The account would not get there: no figures after it as if it did.
            when = "already now" if at == 0 else f"on the way, at {pct(at)}" if at is not None else "on the way"
            head.append(f"\nLiquidated before this move: uniMMR reaches 1.05 {when}.", style=self.level_style(level))
        facts = Table.grid(padding=(0, 2))
        for _ in range(3):
            facts.add_column(justify="right")
        facts.add_row("", Text("now (model)", style="bold"), Text("after", style="bold"))
        after = "liquidated" if rung.liquidated else fmt.ratio(result.unimmr)
        facts.add_row("uniMMR", fmt.ratio(base.unimmr), Text(f"{after} {level.badge}", style=self.level_style(level)))
        reported = model.inputs.reported_unimmr
        if reported is not None:
            facts.add_row("Binance's uniMMR", fmt.ratio(reported), "")
        gone = rung.liquidated
        facts.add_row("adjusted equity", fmt.money(base.adjusted_equity),
                      "—" if gone else fmt.money(result.adjusted_equity))
        facts.add_row("maint. margin", fmt.money(base.maint_margin), "—" if gone else fmt.money(result.maint_margin))
        facts.add_row("  futures", fmt.money(base.futures_mm), "—" if gone else fmt.money(result.futures_mm))
        facts.add_row("  margin loans", fmt.money(base.margin_mm), "—" if gone else fmt.money(result.margin_mm))
        before = {a.asset: a for a in base.assets}
        changes = sorted(((a, a.equity - before[a.asset].equity if a.asset in before else a.equity)
                          for a in result.assets), key=lambda x: (-abs(x[1]), x[0].asset))
        drivers = Table(box=None, padding=(0, 1), title="What drives it (USD)", title_justify="left")
        for name in ("Asset", "Price after", "Haircut", "Equity after", "Change"):
            drivers.add_column(name, justify="left" if name == "Asset" else "right")
        for line, change in [c for c in changes if c[1] and not gone][:TOP]:
            drivers.add_row(Text(line.asset), fmt.money(line.price, 2 if line.price >= 100 else 6),
                            fmt.percent(line.rate, 1),
                            fmt.money(line.equity),
                            Text(fmt.money(change, sign=True), style=self.pnl_style(change)))
        body = Table.grid()
        body.add_row(head)
        body.add_row(facts)
        body.add_row("")
        body.add_row(drivers)
        self.update(body)


class WhatIfScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, account: UmAccount, pm: PmAccount | None, thresholds: Thresholds, *,
                 cm: CmAccount | None = None, cm_risks: Sequence[CmPositionRisk] | None = None,
                 model: RiskModel | None = None, model_note: str | None = None) -> None:
        """`model`: the risk model (the exact what-if); None: the linear estimate, `model_note`
        saying why the model is not used."""
        super().__init__()
        self.account, self.pm, self.thresholds = account, pm, thresholds
        self.cm, self.cm_risks = cm, cm_risks
        self.model, self.model_note = model, model_note

    def compose(self) -> ComposeResult:
        with Vertical(id="whatif-box"):
            yield Input(placeholder=MODEL_HINT if self.model is not None else HINT, id="shock")
            with VerticalScroll(id="shock-scroll"):
                yield ModelReport(id="model-report")
                yield ShockReport(id="shock-report")
            # Below the scrolling part: the caveat is on screen whatever the list's length.
            yield StyledStatic(id="shock-note")
        yield Footer()  # this screen's own keys, not the dashboard's below it

    def on_mount(self) -> None:
        box = self.query_one("#whatif-box")
        box.border_subtitle = "enter to compute · esc to close"
        self.query_one(ModelReport).display = False
        note = self.query_one("#shock-note", StyledStatic)
        model = self.model
        if model is not None:
            why = why_approximate(model)
            box.border_title = "What-if: price move (approximate)" if why else "What-if: price move (exact model)"
            said = Text()
            if why is not None:  # first: it must be in sight at 80x24
                said.append("approximate: ", style=note.level_style(Level.WARN))
                said.append(why + "\n")  # may carry an exchange's words: plain text, never markup
            said.append(MODEL_NOTE)
            note.show_text(said)
            self.query_one(ShockReport).say("Type a move and press enter: the risk model replays it exactly.")
            return
        box.border_title = "What-if: price shock (linear estimate)"
        note.show_text(Text(NOTE + (f"\n{self.model_note}" if self.model_note else "")))
        basis = "uniMMR from /papi/v1/account" if self.pm else "the UM account only (no uniMMR yet)"
        text = f"Type a move and press enter. Measured against {basis}."
        if unpriced := coin_m_unpriced(self.cm, self.cm_risks):
            text += f" {unpriced} COIN-M position(s) without a mark or entry price are not moved."
        self.query_one(ShockReport).say(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        report = self.query_one(ShockReport)
        if self.model is not None:
            try:
                move, under = parse_model_move(event.value, self.model)
            except ValueError as err:
                report.display = True
                self.query_one(ModelReport).display = False
                report.say(str(err))
                return
            report.display = False
            exact = self.query_one(ModelReport)
            exact.display = True
            exact.show(self.model, move, under)
            return
        try:
            move, symbol = parse_shock(event.value)
        except ValueError as err:
            report.say(str(err))
            return
        report.show(shock_account(self.account, self.pm, move, symbol=symbol, thresholds=self.thresholds,
                                  cm=self.cm, cm_risks=self.cm_risks))
