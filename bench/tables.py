"""A headless app holding a real PositionsTable, styled by pmtui's own app.tcss, and a Textual
DataTable with the same columns (what PositionsTable was built on before issue 12: the baseline).

PositionsTable.cells reads its colours from the mounted widget's component styles, so the rows a
table shows can only be built once it is mounted; this app gives the benchmarks a mounted table
without the dashboard's poller.
"""

from __future__ import annotations

import time

from common import APP_CSS
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.styles import level_variables
from pmtui.tui.widgets.table import Cell
from pmtui.views import AccountView


class TablesApp(App[None]):
    CSS_PATH = APP_CSS
    CSS = "PositionsTable, DataTable { height: 1fr; }"

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        variables.update(level_variables(variables))  # app.tcss uses pmtui's level colours
        return variables

    def compose(self) -> ComposeResult:
        yield PositionsTable(id="positions")
        yield DataTable(id="rebuilt", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        rebuilt = self.query_one("#rebuilt", DataTable)
        for col in PositionsTable.COLUMNS:
            rebuilt.add_column(col.label, key=col.key, width=col.width)


def rows_of(table: PositionsTable, view: AccountView, everything: bool) -> dict[str, list[Cell]]:
    """The cells the table shows for `view`: open rows, or every row (the `a` key)."""
    now = time.time()
    rows = view.positions if everything else view.open_positions
    return {r.key: table.cells(r, now) for r in rows}


async def settle(table) -> float:
    """Run the work a DataTable defers to its next idle (column widths, virtual size) now, and
    return its cost in ms. Textual would do this before painting the next frame. (KeyedTable
    defers nothing.)"""
    start = time.perf_counter()
    if isinstance(table, DataTable):
        await table._on_idle(events.Idle())
    return (time.perf_counter() - start) * 1000


def paint(table) -> tuple[float, int]:
    """Render the table's whole visible area, as the compositor would after a full refresh (its
    border and styles from scratch; KeyedTable reuses the lines of rows that did not change, as
    it does in a real frame, where it is asked for the changed lines only); (ms, characters)."""
    table._styles_cache.clear()
    region = table.region
    start = time.perf_counter()
    strips = table.render_lines(region.reset_offset)
    ms = (time.perf_counter() - start) * 1000
    return ms, sum(s.cell_length for s in strips)
