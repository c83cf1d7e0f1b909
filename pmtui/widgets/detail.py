"""The detail panel: every field of one position, as the API sent it, plus what pmtui derives."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pmtui import fmt
from pmtui.views import PositionRow


def detail_table(row: PositionRow) -> Table:
    p = row.position
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, value in p.raw.items():
        shown = fmt.utc_time(int(value)) if name == "updateTime" and value else str(value)
        table.add_row(name, shown)
    table.add_row("", "")
    table.add_row("health", row.level.badge)
    table.add_row("share of maint. margin", fmt.percent(row.share, 2))
    table.add_row("direction", "long" if p.is_long else "short" if p.is_open else "flat")
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

    def on_mount(self) -> None:
        box = self.query_one("#detail-box")
        box.border_title = f"{self.row.position.symbol} {self.row.position.positionSide}"
        box.border_subtitle = "esc to close"
        self.show(self.row)

    def show(self, row: PositionRow | None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("This position is no longer in the account data."))
            return
        self.row = row
        body.update(detail_table(row))
