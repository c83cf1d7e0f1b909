"""The detail panel: every field of one position by a person's name, its value formatted with its
unit (`pmtui snapshot --json` keeps the exchange's exact strings), the field's own name beside it,
then what pmtui derives."""

from __future__ import annotations

import re
from decimal import Decimal

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from pmtui import fmt
from pmtui.exposure import NextTier
from pmtui.models import ADL_MAX
from pmtui.text import clean
from pmtui.views import PositionRow

#: positionRisk's price fields: shown to the symbol's tick size.
_PRICES = frozenset({"entryPrice", "markPrice", "liquidationPrice", "breakEvenPrice"})
#: A COIN-M row's fields in the coin, and in contracts: their unit is said beside the value.
_IN_COIN = frozenset({"initialMargin", "maintMargin", "unrealizedProfit", "unRealizedProfit",
                      "positionInitialMargin", "openOrderInitialMargin", "notionalValue"})
_IN_CONTRACTS = frozenset({"positionAmt", "maxQty"})


#: A person's name for each field Binance sends (positionRisk and the account's positions);
#: a field not listed is named from its camelCase ("maxNotionalValue" -> "Max notional value").
LABELS = {
    "symbol": "Symbol", "positionSide": "Position side", "positionAmt": "Amount",
    "entryPrice": "Entry price", "markPrice": "Mark price", "liquidationPrice": "Liquidation price",
    "breakEvenPrice": "Break-even price", "notional": "Notional", "notionalValue": "Notional",
    "unrealizedProfit": "Unrealized PnL", "unRealizedProfit": "Unrealized PnL",
    "initialMargin": "Initial margin", "maintMargin": "Maint. margin",
    "positionInitialMargin": "Position initial margin", "openOrderInitialMargin": "Open orders' initial margin",
    "leverage": "Leverage", "maxNotionalValue": "Max notional", "maxQty": "Max amount",
    "updateTime": "Updated", "isolatedMargin": "Isolated margin", "isolatedWallet": "Isolated wallet",
    "marginAsset": "Margin asset", "askNotional": "Open sell orders' notional",
    "bidNotional": "Open buy orders' notional", "adl": "ADL quantile",
}
#: USD-M money fields: in the symbol's quote (margin) asset.
_MONEY = frozenset({"notional", "unrealizedProfit", "unRealizedProfit", "initialMargin", "maintMargin",
                    "positionInitialMargin", "openOrderInitialMargin", "maxNotionalValue", "isolatedMargin",
                    "isolatedWallet", "askNotional", "bidNotional"})
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")


def label(name: str) -> str:
    """The field's name for a person: from LABELS, else its camelCase split into words."""
    if name in LABELS:
        return LABELS[name]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", clean(name)).split(" ")
    return " ".join([words[0][:1].upper() + words[0][1:]] + [w.lower() for w in words[1:]])


def _quote(symbol: str) -> str | None:
    return next((q for q in _QUOTES if symbol.endswith(q)), None)


def detail_table(row: PositionRow, tier: NextTier | None = None) -> Table:
    """Every field of the position as sent, then what pmtui made of it; `tier`: the room to its
    next margin tier (AccountView.next_tier)."""
    p = row.position
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim", no_wrap=True, overflow="ellipsis")

    def add(name: str, value: object, source: str = "") -> None:
        # The raw dicts hold field names and values exactly as the exchange sent them: cleaned of
        # control sequences, and shown as Text, never markup ("[/]" included). "" and null are
        # Binance's "not given": shown as "—" like every absent figure.
        shown = "—" if value is None or value == "" else clean(value)
        table.add_row(Text(name), Text(shown), Text(source))

    coin = row.coin if row.is_cm else None
    quote = None if row.is_cm else _quote(p.symbol)

    def figure(name: str, value: object) -> object:
        """The value for a person, with its unit: a price to the symbol's tick size, money to
        the cent (a COIN-M coin figure to 8 decimals), contracts, leverage; else as sent."""
        if not isinstance(value, (str, int, Decimal)) or isinstance(value, bool) or value == "":
            return value
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return value
        if not number.is_finite():
            return value
        if name == "leverage":
            return f"{fmt.amount(number)}x"
        if name in _PRICES:
            shown = fmt.price(number, row.tick_size) if number else "—"
            return f"{shown} {quote}" if quote and number else shown
        if row.is_cm and name in _IN_COIN:
            return fmt.coin(number, coin)
        if row.is_cm and name in _IN_CONTRACTS:
            return f"{fmt.quantity(number)} contracts"
        if not row.is_cm and name in _MONEY:
            return f"{fmt.money(number)} {quote}" if quote else fmt.money(number)
        if name == "positionAmt":
            return fmt.quantity(number, row.step_size)
        return value

    def field(name: str, value: object) -> None:
        shown = fmt.utc_time(int(p.updateTime)) if name == "updateTime" and p.updateTime else figure(name, value)
        add(label(name), shown, clean(name))  # beside it, dimmed, the field as Binance names it

    for name, value in p.raw.items():
        field(name, value)
    if row.risk is not None:
        table.add_row("", "", "")
        for name, value in row.risk.raw.items():
            if name not in p.raw and label(name) not in {label(n) for n in p.raw}:
                field(name, value)
    table.add_row("", "", "")
    if row.is_cm:
        add("Market", f"COIN-M (margined in {coin})" if coin else "COIN-M")
        add("Notional", f"{fmt.money(row.notional_usd)} USD", "at mark")
        add("Unrealized PnL", f"{fmt.money(row.upnl_usd, sign=True)} USD", "at mark")
        add("Maint. margin", f"{fmt.money(row.maint_usd)} USD", "at mark")
    add("Health", row.level.badge)
    add("Share of maint. margin", fmt.percent(row.share, 2), "MM%")
    add("Distance to liquidation", fmt.percent(row.liq_distance, 2), "Liq%")
    add("Direction", "long" if p.is_long else "short" if p.is_open else "flat")
    add("ADL quantile", "—" if row.adl is None else f"{row.adl} of {ADL_MAX}" + (
        " (front of the queue: deleveraged first)" if row.adl == ADL_MAX else ""), "adlQuantile")
    if tier is not None:
        room = (f"{fmt.money(tier.room_usd)} USD" if tier.room_usd is not None
                else fmt.coin(tier.room, row.coin) if tier.coin_margined else fmt.money(tier.room))
        add("Next margin tier", f"{room} to the {fmt.percent(tier.mmr, 2)} tier "
            f"(now {fmt.percent(tier.current_mmr, 2)})", "leverage brackets")
    return table


class DetailScreen(ModalScreen[None]):
    """Opened with enter on a position; follows the same row across refreshes."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Close"),
    ]

    def __init__(self, key: str, row: PositionRow, tier: NextTier | None = None) -> None:
        super().__init__()
        self.key = key
        self.row = row
        self.tier = tier

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-box"):
            yield Static(id="detail-body")
        yield Footer()  # this screen's own keys, not the dashboard's below it

    def on_mount(self) -> None:
        box = self.query_one("#detail-box")
        cm = " · COIN-M" if self.row.is_cm else ""
        box.border_title = Text(f"{self.row.position.symbol} {self.row.position.positionSide}{cm}")
        box.border_subtitle = "esc to close"
        self.show(self.row, self.tier)

    def show(self, row: PositionRow | None, tier: NextTier | None = None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("This position is no longer in the account data."))
            return
        self.row = row
        body.update(detail_table(row, tier))
