"""The DataTable-based KeyedTable as it was before issue 12 (pmtui/tui/widgets/table.py at b44d38a),
kept only as the baseline bench/term_bytes.py measures the new table against. Not used by pmtui."""


from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from pmtui.tui.widgets.styles import STYLE_CLASSES, Styled


class Cell(Text):
    """Text with the raw value it sorts by (a Decimal sorts as a number, not as text)."""

    __slots__ = ("sort_key",)

    def __init__(self, text: str, sort_key: Any = None, style: Style | str = "", justify: str = "right") -> None:
        super().__init__(text, style=style, justify=justify, no_wrap=True, overflow="ellipsis")
        self.sort_key = text if sort_key is None else sort_key

    def signature(self) -> tuple[str, str]:
        return (self.plain, str(self.style))


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None
    largest_first: bool = True  # the first press sorts descending (amounts); False: A-Z, nearest first


class KeyedTable(Styled, DataTable):
    """Base for the asset and position tables: subclasses declare COLUMNS."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DEFAULT_SORT: ClassVar[tuple[str, bool]] = ("", False)  # column key, reverse
    COMPONENT_CLASSES = STYLE_CLASSES
    TIE_COLUMN: ClassVar[str] = ""  # sorts rows whose sorted values are equal (stable order)
    #: Keep rows that share the tie column's value together (a symbol's LONG and SHORT rows in
    #: hedge mode), placed by the better of their values.
    GROUP_BY_TIE: ClassVar[bool] = False
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_column, self.sort_reverse = self.DEFAULT_SORT
        self._signatures: dict[str, tuple[tuple[str, str], ...]] = {}
        # DataTable keys its render caches by a counter every update bumps, so entries from
        # earlier refreshes are never read again; at their default sizes (10,000 cells, 1,000
        # rows and lines) they fill over ~1000 refreshes and hold ~35 MB (bench/memory.py).
        # A few screens' worth is all a refresh can reuse.
        for name, size in (("_cell_render_cache", 2000), ("_row_render_cache", 300),
                           ("_row_renderable_cache", 300), ("_line_cache", 300)):
            cache = getattr(self, name, None)
            if cache is not None and hasattr(cache, "maxsize"):
                cache.maxsize = size

    def on_mount(self) -> None:
        for col in self.COLUMNS:
            self.add_column(col.label, key=col.key, width=col.width)
        self._update_sort_labels()

    # --- in-place update --------------------------------------------------------------------

    def set_rows(self, rows: dict[str, list[Cell]]) -> bool:
        """Make the table show exactly `rows` (in sorted order). Returns whether anything changed."""
        wanted = rows.keys()
        vanished = [k for k in self._signatures if k not in rows]
        changed = bool(vanished)
        resort = bool(vanished)
        sort_index = self._column_index(self.sort_column)
        with self.app.batch_update():
            cursor_key = self.cursor_key()
            if vanished and len(vanished) > len(self._signatures) // 2:
                # Removing rows one by one costs O(rows) each: when most go, start over.
                self.clear()
                self._signatures.clear()
            else:
                for key in vanished:
                    self.remove_row(key)
                    del self._signatures[key]
            for key in wanted:
                cells = rows[key]
                sig = tuple(c.signature() for c in cells)
                old = self._signatures.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                    changed = resort = True
                elif old != sig:
                    for col, cell, before, now in zip(self.COLUMNS, cells, old, sig, strict=True):
                        if before != now:
                            # Only a wider cell needs the column re-measured: DataTable re-measures
                            # the whole column for each narrower one (O(rows) per cell; 2 s for a
                            # 2000-row refresh). Columns keep their widest width instead.
                            wider = cell.cell_len > self.columns[col.key].content_width
                            self.update_cell(key, col.key, cell, update_width=wider)
                    changed = True
                    if sort_index is not None and old[sort_index] != sig[sort_index]:
                        resort = True
                self._signatures[key] = sig
            if resort:
                self._sort(cursor_key)
        return changed

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # no valid cursor (e.g. an empty table)
            return None

    def _column_index(self, key: str) -> int | None:
        for i, col in enumerate(self.COLUMNS):
            if col.key == key:
                return i
        return None

    # --- sorting ----------------------------------------------------------------------------

    def _sort(self, cursor_key: str | None = None) -> None:
        if cursor_key is None:
            cursor_key = self.cursor_key()
        if self.sort_column and self.row_count:
            # The tie-breaker keeps equal values (e.g. hundreds of zero rows) in a stable order.
            if self.GROUP_BY_TIE:
                best = self._group_best()
                key = lambda cells: (best[cells[1].sort_key], cells[1].sort_key, cells[0].sort_key)  # noqa: E731
            else:
                key = lambda cells: (cells[0].sort_key, cells[1].sort_key)  # noqa: E731
            self.sort(self.sort_column, self.TIE_COLUMN, key=key, reverse=self.sort_reverse)
        if cursor_key is not None and cursor_key in self.rows:
            self.move_cursor(row=self.get_row_index(cursor_key), scroll=False)

    def _group_best(self) -> dict:
        """Per tie value, the sort value that comes first in the current direction."""
        pick = max if self.sort_reverse else min
        best: dict = {}
        for value, tie in zip(self.get_column(self.sort_column), self.get_column(self.TIE_COLUMN), strict=True):
            seen = best.get(tie.sort_key)
            best[tie.sort_key] = value.sort_key if seen is None else pick(seen, value.sort_key)
        return best

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        col = self.COLUMNS[self._column_index(column) or 0]
        self.sort_column = col.key
        self.sort_reverse = col.largest_first if reverse is None else reverse
        self._update_sort_labels()
        self._sort()

    def action_cycle_sort(self) -> None:
        i = self._column_index(self.sort_column)
        nxt = self.COLUMNS[((i if i is not None else -1) + 1) % len(self.COLUMNS)]
        self.sort_by(nxt.key)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key == self.sort_column:
            self.sort_by(key, not self.sort_reverse)
        else:
            self.sort_by(key)

    def _update_sort_labels(self) -> None:
        for col in self.COLUMNS:
            arrow = (" ▼" if self.sort_reverse else " ▲") if col.key == self.sort_column else ""
            column = self.columns.get(col.key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(col.label + arrow)
        # The border says the sort too; set it here so `s`, `S` and clicks show at once.
        subtitle = f"sort: {self.sort_description}"
        if self.border_subtitle != subtitle:  # each assignment repaints the whole table
            self.border_subtitle = subtitle
        self.refresh()

    @property
    def sort_description(self) -> str:
        i = self._column_index(self.sort_column)
        if i is None:
            return ""
        return f"{self.COLUMNS[i].label} {'▼' if self.sort_reverse else '▲'}"
