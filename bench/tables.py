"""A headless app holding two real PositionsTables, styled by pmtui's own app.tcss.

PositionsTable.cells reads its colours from the mounted widget's component styles, so the rows a
table shows can only be built once it is mounted; this app gives the benchmarks a mounted table
without the dashboard's poller.
"""

from __future__ import annotations

import time

from textual import events
from textual.app import App, ComposeResult

from common import APP_CSS
from pmtui.views import AccountView
from pmtui.widgets.positions import PositionsTable
from pmtui.widgets.table import Cell


class TablesApp(App[None]):
    CSS_PATH = APP_CSS
    CSS = "PositionsTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield PositionsTable(id="positions")
        yield PositionsTable(id="rebuilt")


def rows_of(table: PositionsTable, view: AccountView, everything: bool) -> dict[str, list[Cell]]:
    """The cells the table shows for `view`: open rows, or every row (the `a` key)."""
    now = time.time()
    rows = view.positions if everything else view.open_positions
    return {r.key: table.cells(r, now) for r in rows}


async def settle(table: PositionsTable) -> float:
    """Run the work a DataTable defers to its next idle (column widths, virtual size) now, and
    return its cost in ms. Textual would do this before painting the next frame."""
    start = time.perf_counter()
    await table._on_idle(events.Idle())
    return (time.perf_counter() - start) * 1000


def paint(table: PositionsTable) -> tuple[float, int]:
    """Render the table's visible area from scratch, as the compositor does after a refresh;
    (ms, characters painted)."""
    table._styles_cache.clear()
    region = table.region
    start = time.perf_counter()
    strips = table.render_lines(region.reset_offset)
    ms = (time.perf_counter() - start) * 1000
    return ms, sum(s.cell_length for s in strips)
