"""The detail panel: every field of one position, as the API sent it, plus what pmtui derives."""

from __future__ import annotations

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

    for name, value in p.raw.items():
        add(name, fmt.utc_time(int(p.updateTime)) if name == "updateTime" and p.updateTime else value)
    if row.risk is not None:
        table.add_row("", "")
        for name, value in row.risk.raw.items():
            if name not in p.raw:
                add(name, value)
    table.add_row("", "")
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
        box.border_title = Text(f"{self.row.position.symbol} {self.row.position.positionSide}")
        box.border_subtitle = "esc to close"
        self.show(self.row)

    def show(self, row: PositionRow | None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("This position is no longer in the account data."))
            return
        self.row = row
        body.update(detail_table(row))
