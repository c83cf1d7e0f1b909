"""The `?` help screen: every key, and what the colours and marks mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from pmtui import filters
from pmtui.tui.widgets.table import KeyedTable

KEYS = [
    ("↑ ↓ j k", "move, page (PgUp PgDn), top / bottom (g G)"),
    ("← →", "scroll the columns (the header counts those hidden)"),
    ("tab", "switch between assets, balances and positions"),
    ("enter", "every field of the position"),
    ("s / S / o", "sort by the next column / reverse / a menu of every column"),
    ("/", "filter positions (esc clears)"),
    ("a", "all rows, zero ones too / only open (non-zero) ones"),
    ("w", "what-if: move prices (all, or BTC -10), uniMMR after"),
    ("L", "stress ladder: uniMMR at -50% … +50%, per underlying"),
    ("h / H", "history charts and alert log / span: 1h, 24h, 7d"),
    ("f", "ledger: funding, fees, interest, liquidation/ADL fills"),
    ("r", "refresh now (also retries after a fixed error)"),
    ("p", "pause / resume refreshing"),
    ("+ / -", "refresh less / more often"),
    ("ctrl+p", "command palette"),
    ("? / q", "this help / quit"),
]

LEVELS = [
    ("✓ OK", "level--ok", "uniMMR-like ratio above 1.5: normal"),
    ("▲ WARN", "level--warn", "1.2 – 1.5: Binance's margin-call band"),
    ("◆ DANGER", "level--danger", "1.05 – 1.2: reduce-only, new orders refused"),
    ("× CRITICAL", "level--critical", "1.05 or below: liquidation"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(id="help-body")
        yield Footer()  # this screen's own keys, not the dashboard's below it

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "pmtui help"
        box.border_subtitle = "esc to close"
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold")
        keys.add_column()
        for key, what in KEYS:
            keys.add_row(key, what)
        table_style = self.app.query_one("PositionsTable", KeyedTable)
        levels = Table.grid(padding=(0, 2))
        levels.add_column()
        levels.add_column()
        for badge, cls, what in LEVELS:
            levels.add_row(Text(f" {badge} ", style=table_style.style(cls)), what)
        body = Table.grid()
        body.add_row(keys)
        body.add_row("")
        body.add_row(Text("Health (uniMMR; assets: balance / maintenance margin)", style="bold"))
        body.add_row(levels)
        body.add_row(Text("Positions: the mark is the worst of their share of maintenance margin "
                          "(MM%: 25% / 50%; alone only WARN while the account is OK), their loss "
                          "against the margin balance (5% / 10% / 25%) and their distance to "
                          "liquidation (Liq%: 20% / 10% / 5%); each cell is coloured by its own. "
                          "The big digits: uniMMR's own band."))
        body.add_row(Text("Balances (/papi/v1/balance; 40 lines or more, else one line under the "
                          "assets): a cross-margin loan and its interest are WARN, a negative balance "
                          "DANGER, each in its cell's colour; they come first, as a margin call takes "
                          "them first."))
        body.add_row("")
        body.add_row(Text("Filter terms", style="bold"))
        body.add_row(Text(filters.__doc__.split("\n", 2)[2].rstrip()))
        self.query_one("#help-body", Static).update(body)
