"""The detail panel: every field of one position, as the API sent it, plus what pmtui derives."""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from pmtui import fmt
from pmtui.text import clean
from pmtui.views import PositionRow

#: positionRisk's price fields: shown to the symbol's tick size.
_PRICES = frozenset({"entryPrice", "markPrice", "liquidationPrice", "breakEvenPrice"})
#: A COIN-M row's fields in the coin, and in contracts: their unit is said beside the value.
_IN_COIN = frozenset({"initialMargin", "maintMargin", "unrealizedProfit", "unRealizedProfit",
                      "positionInitialMargin", "openOrderInitialMargin", "notionalValue"})
_IN_CONTRACTS = frozenset({"positionAmt", "maxQty"})


def detail_table(row: PositionRow) -> Table:
    p = row.position
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    def add(name: str, value: object) -> None:
        # The raw dicts hold field names and values exactly as the exchange sent them: cleaned of
        # control sequences, and shown as Text, never markup ("[/]" included). "" and null are
        # Binance's "not given": shown as "—" like every absent figure.
        shown = "—" if value is None or value == "" else clean(value)
        table.add_row(Text(clean(name)), Text(shown))

    def price(name: str, value: object) -> object:
        # A price field shows to the symbol's tick size, with the exchange's own string beside it
        # when rounding changed it: nothing the exchange sent is hidden.
        if name not in _PRICES or value is None or value == "":
            return value
        number = getattr(row.risk, name, None)
        if not isinstance(number, Decimal) or not number.is_finite() or number == 0:
            return value
        shown = fmt.price(number, row.tick_size)
        return shown if shown == clean(value) else f"{shown} ({clean(value, 40)})"

    coin = row.coin if row.is_cm else None

    def unit(name: str, value: object) -> object:
        # COIN-M: amounts are contracts, margins and uPnL the coin's; the value stays as sent.
        if not row.is_cm or value is None or value == "":
            return value
        if name in _IN_COIN and coin:
            return f"{clean(value)} {coin}"
        if name in _IN_CONTRACTS:
            return f"{clean(value)} contracts"
        return value

    for name, value in p.raw.items():
        add(name, fmt.utc_time(int(p.updateTime)) if name == "updateTime" and p.updateTime
            else unit(name, price(name, value)))
    if row.risk is not None:
        table.add_row("", "")
        for name, value in row.risk.raw.items():
            if name not in p.raw:
                add(name, unit(name, price(name, value)))
    table.add_row("", "")
    if row.is_cm:
        add("market", f"COIN-M (margined in {coin})" if coin else "COIN-M")
        add("notional in USD", fmt.money(row.notional_usd))
        add("uPnL in USD (at mark)", fmt.money(row.upnl_usd, sign=True))
        add("maint. margin in USD (at mark)", fmt.money(row.maint_usd))
    add("health", row.level.badge)
    add("share of maint. margin", fmt.percent(row.share, 2))
    add("distance to liquidation", fmt.percent(row.liq_distance, 2))
    add("direction", "long" if p.is_long else "short" if p.is_open else "flat")
    return table


class DetailScreen(ModalScreen[None]):
    """Opened with enter on a position; follows the same row across refreshes."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Close"),
    ]

    def __init__(self, key: str, row: PositionRow) -> None:
        super().__init__()
        self.key = key
        self.row = row

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-box"):
            yield Static(id="detail-body")
        yield Footer()  # this screen's own keys, not the dashboard's below it

    def on_mount(self) -> None:
        box = self.query_one("#detail-box")
        cm = " · COIN-M" if self.row.is_cm else ""
        box.border_title = Text(f"{self.row.position.symbol} {self.row.position.positionSide}{cm}")
        box.border_subtitle = "esc to close"
        self.show(self.row)

    def show(self, row: PositionRow | None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("This position is no longer in the account data."))
            return
        self.row = row
        body.update(detail_table(row))
