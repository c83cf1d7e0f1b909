"""The sort menu (`o`): every column of a table by name, the current one marked; enter sorts by
it (largest first for amounts, A-Z and nearest first for the rest), enter again on the current
one reverses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:  # the table opens this menu: a type only, not an import cycle
    from pmtui.tui.widgets.table import KeyedTable


class SortMenu(ModalScreen[str | None]):
    """Dismisses with the chosen column's key (None: esc)."""

    DEFAULT_CSS = """
    SortMenu { align: center middle; }
    SortMenu > OptionList { width: 44; height: auto; max-height: 80%; border: round $accent; }
    """
    BINDINGS = [Binding("escape,o,q", "dismiss_menu", "Close")]

    def __init__(self, table: KeyedTable) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        table = self.table
        options = []
        for col in table.COLUMNS:
            order = "largest first" if col.largest_first else "A-Z / nearest first"
            mark = ""
            if col.key == table.sort_column:
                mark = " ▼" if table.sort_reverse else " ▲"
            hidden = "" if table.column_span(col.key) is not None else " (off screen)"
            options.append(Option(f"{col.title}{mark}  · {order}{hidden}", id=col.key))
        menu = OptionList(*options)
        menu.border_title = "Sort by"
        yield menu

    def on_mount(self) -> None:
        menu = self.query_one(OptionList)
        keys = [c.key for c in self.table.COLUMNS]
        if self.table.sort_column in keys:
            menu.highlighted = keys.index(self.table.sort_column)
        menu.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_menu(self) -> None:
        self.dismiss(None)
