"""A table for live data, on Textual's Line API, updated in place by row key.

Each refresh hands over the wanted rows as {key: cells}. The table keeps one rendered line (a
Strip) per row and, on an update, renders again only the rows whose cells changed and refreshes
only their lines: the header, the borders and the scrollbar are not repainted for a pure data
change, and the terminal receives only those lines. A row is drawn as a handful of segments
(adjacent text of equal style merged), not one segment per cell with its own full SGR code.

It re-sorts only when a sorted value changed or rows came or went, keeping the cursor on the same
row (not the same index) and the scroll where it was; when only values changed, it takes out the
rows that moved and puts each back in its place (a refresh moves a few rows of thousands).

A long table (the positions of a large book) hands over its row objects instead
(`set_lazy_rows`): each row's sort values are read from it, and cells are built only for the rows
on screen, when they come on screen. At 1,000 positions building every row's cells was almost all
of a refresh (~150 ms, the event loop blocked), for rows nobody could see. Its column widths are
then those of the rows built (on screen, or since the last refresh), not of the whole book.

Columns: the first FIXED_COLUMNS stay while the others scroll sideways a whole column at a time
(left/right), so a number is never cut; columns that do not fit are hidden and the header says
how many ("◀ 2 · 5 more ▶"). A column is as wide as its widest current cell or its header, so
widths shrink back when wide rows go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.console import JustifyMethod
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pmtui.tui.widgets.styles import STYLE_CLASSES, Styled


class Cell(Text):
    """Text with the raw value it sorts by (a Decimal sorts as a number, not as text)."""

    __slots__ = ("sort_key",)

    def __init__(self, text: str, sort_key: Any = None, style: Style | str = "",
                 justify: JustifyMethod = "right") -> None:
        # Text.__init__'s work, set directly: a refresh builds a cell per column per row on
        # screen, and Text.__init__ (its keyword handling, its control-code strip run on every
        # string) was half of building them (bench/pipeline.py, issue 25). Text with nothing
        # unprintable has nothing to strip; other text is stripped as Text strips it.
        # tests/tui/test_table.py checks that a Cell is the Text that Text.__init__ makes.
        if not text.isprintable():
            text = strip_control_codes(text)
        self._text = [text]
        self._length = len(text)
        self._spans = []
        self.style = style
        self.justify = justify
        self.overflow = "ellipsis"
        self.no_wrap = True
        self.end = "\n"
        self.tab_size = None
        self.sort_key = text if sort_key is None else sort_key

    def signature(self) -> tuple[str, Any]:
        return (self.plain, self.style)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # the least width of its content
    largest_first: bool = True  # the first press sorts descending (amounts); False: A-Z, nearest first
    name: str = ""  # the full name, for the sort menu and label (a short or empty header needs one)

    @property
    def title(self) -> str:
        return self.name or self.label


def _width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


@lru_cache(maxsize=256)
def _parse_style(style: str) -> Style:
    return Style.parse(style) if style else Style()


def _style_of(cell: Cell) -> Style:
    style = cell.style
    return style if isinstance(style, Style) else _parse_style(style)


GAP = 1  # blank cells before each column's content (so one between columns)
CURSOR_BAR = "▌"  # drawn in the first column's gap on the cursor row


@dataclass(frozen=True)
class _Layout:
    """Which columns are on screen at this width and horizontal scroll, and where."""

    columns: tuple[tuple[int, int, int], ...]  # (column index, x of its content, content width)
    end: int  # x after the last visible column
    hidden_left: int
    hidden_right: int
    indicator: str


TABLE_CLASSES = {
    "table--header", "table--cursor", "table--cursor-bar", "table--even-row", "table--odd-row", "table--more",
}


class ShownWhenDisplayed:
    """For a table the stylesheet hides under 40 lines, where a one-line note stands in for it:
    the rows of a show() while hidden are kept and drawn when the CSS displays the table. Its
    cells built each refresh for nobody were a tenth of a refresh at 80x24 (issue 25)."""

    _hidden_rows: Any = None

    def show(self, rows: Any) -> bool:
        if not self.display:  # type: ignore[attr-defined]
            self._hidden_rows = rows
            return False
        self._hidden_rows = None
        return self.show_rows(rows)

    def show_rows(self, rows: Any) -> bool:
        raise NotImplementedError

    def notify_style_update(self) -> None:
        super().notify_style_update()  # type: ignore[misc]
        if self._hidden_rows is not None and self.display:  # type: ignore[attr-defined]
            rows, self._hidden_rows = self._hidden_rows, None
            self.show_rows(rows)


class KeyedTable(Styled, ScrollView, can_focus=True):
    """Base for the asset and position tables: subclasses declare COLUMNS."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    #: What "now" is for the ages the rows show (a replay's: the recorded moment); None: the time.
    clock: Callable[[], float] | None = None
    DEFAULT_SORT: ClassVar[tuple[str, bool]] = ("", False)  # column key, reverse
    COMPONENT_CLASSES = STYLE_CLASSES | TABLE_CLASSES
    TIE_COLUMN: ClassVar[str] = ""  # sorts rows whose sorted values are equal (stable order)
    #: Keep rows that share the tie column's value together (a symbol's LONG and SHORT rows in
    #: hedge mode), placed by the better of their values.
    GROUP_BY_TIE: ClassVar[bool] = False
    #: The first columns, which stay on screen while the others scroll sideways.
    FIXED_COLUMNS: ClassVar[int] = 1
    #: Draw the cursor row while the table is not focused (False: only with focus, so a small
    #: table's first row, the one that matters most, keeps its level colours).
    BLURRED_CURSOR: ClassVar[bool] = True

    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        overflow-y: auto;
        & > .table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .table--more { color: $text-accent; background: $panel; text-style: bold; }
        & > .table--odd-row { }
        & > .table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .table--even-row { background: $surface-darken-1 40%; }
        /* The cursor is a bar at the row's left edge on a faint band: never a colour over the
           cells', so the row it starts on (the riskiest) keeps its level colours. */
        & > .table--cursor { background: $foreground 8%; }
        &:focus > .table--cursor { background: $primary 15%; }
        & > .table--cursor-bar { color: $foreground-muted; text-style: bold; }
        &:focus > .table--cursor-bar { color: $primary-lighten-1; text-style: bold; }
    }
    """

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("g,home", "scroll_top", "Top", show=False),
        Binding("G,end", "scroll_bottom", "Bottom", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("s", "cycle_sort", "Sort", show=False),  # help lists it: the footer keeps What-if, History
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("o", "sort_menu", "Sort by…", show=False),  # help and the palette list it; ? stays in the footer
    ]

    class RowSelected(Message):
        """Enter (or a click on the cursor row) on a row."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sort_column, self.sort_reverse = self.DEFAULT_SORT
        self._rows: dict[str, list[Cell]] = {}
        self._signatures: dict[str, tuple[tuple[str, Any], ...]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._cursor = 0
        self._first = 0  # the first scrollable column shown (horizontal scroll, in columns)
        # Column widths: a count of each width per column, so a width can shrink back.
        self._width_counts: list[Counter[int]] = [Counter() for _ in self.COLUMNS]
        self._widths: list[int] = [self._header_width(i) for i in range(len(self.COLUMNS))]
        self._justify: list[str] = ["left"] * len(self.COLUMNS)
        self._strips: dict[str, tuple[tuple, Strip]] = {}  # per row key: (stamp, rendered line)
        self._generation = 0  # bumped when every cached line is out of date (styles, layout)
        self._row_styles: dict[tuple[int, int], Style] = {}  # see _row_style
        self._frame_width: int | None = None  # the content width, while render_lines runs
        self._columns_cache: tuple[tuple, _Layout] | None = None
        self.rows_rendered = 0  # rendered lines that were not in the cache (for tests, benchmarks)
        #: set_lazy_rows: every row object by key (None: set_rows hands over every row's cells),
        #: and each row's (sorted value, tie value).
        self._source: dict[str, Any] | None = None
        #: Each row's (sorted value, tie value), set_rows' read from its cells.
        self._sort_values: dict[str, tuple[Any, Any]] = {}
        #: As of the last sort: each row's whole sort key in display order (beside _order), and
        #: under GROUP_BY_TIE the keys of each tie value; None: a full sort is due (see _resort).
        self._sort_keys: list[Any] | None = None
        self._groups: dict[Any, list[str]] = {}
        self.cells_built = 0  # rows whose cells set_lazy_rows had built (for tests, benchmarks)

    # --- public reading API -----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    @property
    def rows(self) -> Mapping[str, list[Cell]]:
        return self._rows if self._source is None else _LazyRows(self)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @cursor_row.setter
    def cursor_row(self, value: int) -> None:
        self.move_cursor(value)

    def cursor_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self._cursor, len(self._order) - 1)]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def get_row(self, key: str) -> list[Cell]:
        return list(self._cells(key))

    def get_cell(self, key: str, column: str) -> Cell:
        return self._cells(key)[self._column_index(column)]  # type: ignore[index]

    def get_cell_at(self, coordinate: tuple[int, int]) -> Cell:
        row, col = coordinate
        return self._cells(self._order[row])[col]

    def _cells(self, key: str) -> list[Cell]:
        """A row's cells (a lazy row's built now if it has none: for a reader, not the screen)."""
        cells = self._rows.get(key)
        if cells is None and self._source is not None:
            return self.row_cells(self._source[key])
        return self._rows[key]

    def column_width(self, column: str) -> int:
        """The content width of a column (its widest current cell or its header)."""
        return self._widths[self._column_index(column)]  # type: ignore[index]

    def column_span(self, column: str) -> tuple[int, int] | None:
        """(x, width) of a column's content on screen, in the widget's content coordinates;
        None when the column is scrolled out of view or does not fit."""
        i = self._column_index(column)
        for index, x, width in self._layout().columns:
            if index == i:
                return x, width
        return None

    @property
    def hidden_columns(self) -> tuple[int, int]:
        """Columns out of view to the left and to the right."""
        layout = self._layout()
        return layout.hidden_left, layout.hidden_right

    def _column_index(self, key: str) -> int | None:
        for i, col in enumerate(self.COLUMNS):
            if col.key == key:
                return i
        return None

    # --- in-place update --------------------------------------------------------------------

    def set_rows(self, rows: dict[str, list[Cell]]) -> bool:
        """Make the table show exactly `rows` (in sorted order). Returns whether anything changed."""
        if self._source is not None:  # from set_lazy_rows: its built rows are not all the rows
            self._forget_all()
        self._source = None
        old_rows, signatures, counts = self._rows, self._signatures, self._width_counts
        values = self._sort_values
        vanished = [k for k in old_rows if k not in rows]
        sort_index = self._column_index(self.sort_column)
        tie_index = self._column_index(self.TIE_COLUMN)
        full = bool(vanished)  # rows came, went or changed groups: sort every row again
        moved: list[str] = []  # rows whose sorted value changed (placed again, see _resort)
        changed_keys: list[str] = []
        for key in vanished:
            for i, cell in enumerate(old_rows.pop(key)):
                counts[i][cell.cell_len] -= 1
            del signatures[key]
            values.pop(key, None)
            self._strips.pop(key, None)
        added = False
        # Only the rows handed over as new lists are looked at (a caller that keeps an
        # unchanged row's list costs nothing for it).
        for key in [k for k, cells in rows.items() if old_rows.get(k) is not cells]:
            cells = rows[key]
            old_rows[key] = cells
            value = (cells[sort_index].sort_key if sort_index is not None else None,
                     cells[tie_index].sort_key if tie_index is not None else None)
            full = _note_value(values, moved, key, value) or full
            sig = tuple([(c.plain, c.style) for c in cells])
            before = signatures.get(key)
            if before == sig:
                continue
            self._count_widths(before, sig, cells)
            if before is None:
                added = True
            else:
                changed_keys.append(key)
            signatures[key] = sig
            self._strips.pop(key, None)
        if not (vanished or added or changed_keys or moved):
            return False
        if added:  # the header is aligned as the column's cells are
            first = next(iter(rows.values()))
            self._justify = [cell.justify or "right" for cell in first]
        widths_changed = self._measure()
        cursor_key = self.cursor_key()
        before_lines = self._visible_keys()
        self._resort(moved, full, cursor_key)
        if len(self._order) + 1 != self.virtual_size.height:
            self.virtual_size = Size(0, len(self._order) + 1)  # a layout (rows came or went)
        if widths_changed:
            self._generation += 1
            self.refresh()
            return True
        # Only the lines whose row changed or moved.
        after_lines = self._visible_keys()
        dirty = set(changed_keys)
        for y, key in enumerate(after_lines):
            if key in dirty or (y >= len(before_lines) or before_lines[y] != key):
                self._refresh_line(y + 1)
        for y in range(len(after_lines), len(before_lines)):
            self._refresh_line(y + 1)
        return True

    def _refresh_line(self, y: int) -> None:
        """Repaint one line of the content area (0 is the header)."""
        self.refresh(Region(0, y, self.scrollable_content_region.width, 1))

    # --- rows built on demand -----------------------------------------------------------------

    def row_cells(self, row: Any) -> list[Cell]:
        """The cells of one row object (a table fed by set_lazy_rows defines it)."""
        raise NotImplementedError

    def row_sort_value(self, row: Any, column: str) -> Any:
        """The value a row sorts by in `column`: its cell's sort_key, without building the cell."""
        raise NotImplementedError

    def set_lazy_rows(self, rows: dict[str, Any]) -> bool:
        """Make the table show exactly `rows` ({key: row object}, in sorted order), building cells
        (row_cells) only for the rows on screen. A row object that is the same one as last time
        is taken as unchanged. Returns whether anything changed."""
        source = self._source
        if source is None:  # from set_rows (or nothing): start afresh
            self._forget_all()
            source = {}
        vanished = [k for k in source if k not in rows]
        changed = [k for k, row in rows.items() if source.get(k) is not row]
        self._source = rows
        if not (vanished or changed):
            return False
        values = self._sort_values
        full = bool(vanished)
        moved: list[str] = []
        for key in vanished:
            del values[key]
            self._forget(key)
        sort_column, tie_column = self.sort_column, self.TIE_COLUMN
        for key in changed:
            row = rows[key]
            value = (self.row_sort_value(row, sort_column) if sort_column else None,
                     self.row_sort_value(row, tie_column) if tie_column else None)
            full = _note_value(values, moved, key, value) or full
        cursor_key = self.cursor_key()
        before_lines = self._visible_keys()
        self._resort(moved, full, cursor_key)
        if len(self._order) + 1 != self.virtual_size.height:
            self.virtual_size = Size(0, len(self._order) + 1)
        after_lines = self._visible_keys()
        on_screen = set(after_lines)
        dirty: set[str] = set()
        for key in changed:
            if key in on_screen:
                if self._put(key, self.row_cells(rows[key])):
                    dirty.add(key)
            else:  # built once, off screen now: its cells are out of date, and not needed
                self._forget(key)
        for key in after_lines:
            if key not in self._rows:
                self._put(key, self.row_cells(rows[key]))
                dirty.add(key)
        if self._measure():
            self._generation += 1
            self.refresh()
            return True
        for y, key in enumerate(after_lines):
            if key in dirty or (y >= len(before_lines) or before_lines[y] != key):
                self._refresh_line(y + 1)
        for y in range(len(after_lines), len(before_lines)):
            self._refresh_line(y + 1)
        return True

    def _count_widths(self, before: Any, sig: Any, cells: list[Cell]) -> None:
        """Count a row's cell widths into its columns': every cell of a new row (`before` None),
        only the changed cells of a row that had `before` as its signature."""
        counts = self._width_counts
        if before is None:
            for i, cell in enumerate(cells):
                counts[i][cell.cell_len] += 1
            return
        for count, (a, _), (b, _) in zip(counts, before, sig, strict=True):
            if a != b:  # _width inline: ~15 calls a changed row, ~200 rows a refresh of 2,000
                wa = len(a) if a.isascii() else cell_len(a)
                wb = len(b) if b.isascii() else cell_len(b)
                if wa != wb:
                    count[wa] -= 1
                    count[wb] += 1

    def _put(self, key: str, cells: list[Cell]) -> bool:
        """Hold a lazy row's cells (its widths counted); whether they differ from what it had."""
        self.cells_built += 1
        sig = tuple([(c.plain, c.style) for c in cells])
        before = self._signatures.get(key)
        self._rows[key] = cells
        if before == sig:
            return False
        if before is None:
            if not self._signatures:  # the header is aligned as the column's cells are
                self._justify = [cell.justify or "right" for cell in cells]
        self._count_widths(before, sig, cells)
        self._signatures[key] = sig
        self._strips.pop(key, None)
        return True

    def _forget(self, key: str) -> None:
        """Drop a row's cells (and their widths) and its rendered line."""
        cells = self._rows.pop(key, None)
        if cells is not None:
            sig = self._signatures.pop(key)
            for i, (text, _style) in enumerate(sig):
                self._width_counts[i][_width(text)] -= 1
        self._strips.pop(key, None)

    def _forget_all(self) -> None:
        self._rows, self._signatures, self._strips = {}, {}, {}
        self._sort_values = {}
        self._sort_keys = None
        self._width_counts = [Counter() for _ in self.COLUMNS]

    def _fill_screen(self) -> None:
        """Build the cells of lazy rows that came on screen (a scroll, a taller table)."""
        source = self._source
        if source is None:
            return
        missing = [k for k in self._visible_keys() if k not in self._rows]
        for key in missing:
            self._put(key, self.row_cells(source[key]))
        if missing and self._measure():
            self._generation += 1
            self.refresh()  # lines outside this frame's crop were drawn at the old widths

    def _visible_keys(self) -> list[str]:
        top = int(self.scroll_y)
        height = max(0, self.scrollable_content_region.height - 1)
        return self._order[top:top + height]

    def _header_width(self, i: int) -> int:
        col = self.COLUMNS[i]
        arrow = 2 if col.key == self.sort_column else 0
        return max(col.width or 0, cell_len(col.label) + arrow)

    def _measure(self) -> bool:
        """Recompute the column widths from the counts; whether any changed."""
        widths = []
        for i, counts in enumerate(self._width_counts):
            widest = max((w for w, n in counts.items() if n > 0), default=0)
            widths.append(max(widest, self._header_width(i)))
        for counts in self._width_counts:  # drop widths no row has any more
            for w in [w for w, n in counts.items() if n <= 0]:
                del counts[w]
        if widths != self._widths:
            self._widths = widths
            return True
        return False

    # --- sorting ----------------------------------------------------------------------------

    def _sort(self, cursor_key: str | None = None, refresh: bool = True) -> None:
        if cursor_key is None:
            cursor_key = self.cursor_key()
        # (sorted value, tie value) of every row: from its cells, or a lazy row's from the row.
        values = self._sort_values
        sorted_ = self._column_index(self.sort_column) is not None
        tied = self._column_index(self.TIE_COLUMN) is not None
        # Start from the current order: a refresh moves few rows, and Python's sort is close to
        # linear on nearly sorted input (and stable: equal rows keep their places).
        index = self._index
        order = [k for k in self._order if k in values] + [k for k in values if k not in index]
        self._sort_keys = None
        if sorted_ and order:
            # The tie-breaker keeps equal values (e.g. hundreds of zero rows) in a stable order.
            best = None
            if self.GROUP_BY_TIE and tied:
                groups: dict[Any, list[str]] = {}
                for k in order:
                    groups.setdefault(values[k][1], []).append(k)
                self._groups = groups
                pick = max if self.sort_reverse else min
                best = {t: pick(values[k][0] for k in keys) for t, keys in groups.items()}
            key = self._sort_key(best)
            sort_keys = [key(k) for k in order]
            pairs = sorted(zip(sort_keys, order, strict=True), key=itemgetter(0), reverse=self.sort_reverse)
            order = [k for _, k in pairs]
            self._sort_keys = [s for s, _ in pairs]
        self._set_order(order, cursor_key)
        if refresh:
            self.refresh()

    def _sort_key(self, best: dict[Any, Any] | None) -> Callable[[str], tuple[Any, ...]]:
        """A row's whole sort key from its (sorted value, tie value); under GROUP_BY_TIE first
        the best value of its group (`best`: by tie value), then the tie value."""
        values = self._sort_values
        if best is not None:
            def key(k: str) -> tuple[Any, ...]:
                v, t = values[k]
                return (best[t], t, v)
            return key
        if self._column_index(self.TIE_COLUMN) is not None:
            return values.__getitem__
        return lambda k: values[k][:1]

    def _set_order(self, order: list[str], cursor_key: str | None) -> None:
        self._order = order
        self._index = dict(zip(order, range(len(order)), strict=True))
        if cursor_key is not None and cursor_key in self._index:
            self._cursor = self._index[cursor_key]
        else:
            self._cursor = max(0, min(self._cursor, len(order) - 1))

    def _resort(self, moved: list[str], full: bool, cursor_key: str | None) -> None:
        """Sort again after an update: every row when rows came, went or changed their tie
        value; else only the rows whose sorted value changed (`moved`, with the other rows of
        their group under GROUP_BY_TIE) are taken out and put back where they now belong, a
        binary search each among the kept sort keys. A refresh moves a few rows of thousands:
        sorting all 2,000 rows again was half of an update (issue 25)."""
        if full or self._sort_keys is None or len(self._sort_keys) != len(self._order):
            self._sort(cursor_key, refresh=False)
            return
        if not moved:
            return
        values, index, reverse = self._sort_values, self._index, self.sort_reverse
        taken, best = moved, None
        if self.GROUP_BY_TIE and self._column_index(self.TIE_COLUMN) is not None:
            groups = self._groups
            pick = max if reverse else min
            best = {t: pick(values[k][0] for k in groups[t]) for t in {values[k][1] for k in moved}}
            taken = [k for t in best for k in groups[t]]
        key = self._sort_key(best)
        # Put back in their old relative order, each after the rows that sort equal to it: what
        # a stable sort of the whole table gives.
        taken.sort(key=index.__getitem__)
        order, sort_keys = self._order, self._sort_keys
        for i in sorted((index[k] for k in taken), reverse=True):
            del order[i]
            del sort_keys[i]
        if len(taken) * 32 > len(order):
            # Many rows: merge them in with one sort of the kept keys (sorted already: a run the
            # sort merges into) and theirs, its comparisons in C, no key computed again.
            pairs = list(zip(sort_keys, order, strict=True))
            pairs += [(key(k), k) for k in taken]
            pairs.sort(key=itemgetter(0), reverse=reverse)
            order, sort_keys = [k for _, k in pairs], [s for s, _ in pairs]
            self._sort_keys = sort_keys
        else:  # a few: a binary search each (~11 comparisons among 2,000 rows)
            for k in taken:
                wanted = key(k)
                lo, hi = 0, len(sort_keys)
                while lo < hi:  # bisect_right, for a list in descending order too
                    mid = (lo + hi) // 2
                    if (sort_keys[mid] < wanted) if reverse else (wanted < sort_keys[mid]):
                        hi = mid
                    else:
                        lo = mid + 1
                order.insert(lo, k)
                sort_keys.insert(lo, wanted)
        self._set_order(order, cursor_key)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        col = self.COLUMNS[self._column_index(column) or 0]
        self.sort_column = col.key
        self.sort_reverse = col.largest_first if reverse is None else reverse
        tie = self.TIE_COLUMN
        if self._source is not None:  # every row's value in the new column
            self._sort_values = {k: (self.row_sort_value(row, col.key),
                                     self.row_sort_value(row, tie) if tie else None)
                                 for k, row in self._source.items()}
        else:
            i, t = self._column_index(col.key), self._column_index(tie)
            self._sort_values = {k: (cells[i].sort_key if i is not None else None,
                                     cells[t].sort_key if t is not None else None)
                                 for k, cells in self._rows.items()}
        self._measure()  # the arrow may widen the header
        self._generation += 1
        self._sort()
        self._scroll_column_into_view(self._column_index(col.key) or 0)
        self._update_sort_labels()  # after the scroll: "(off screen)" is said of this layout

    def action_cycle_sort(self) -> None:
        i = self._column_index(self.sort_column)
        nxt = self.COLUMNS[((i if i is not None else -1) + 1) % len(self.COLUMNS)]
        self.sort_by(nxt.key)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def _update_sort_labels(self) -> None:
        # The border says the sort too; set it here so `s`, `S` and clicks show at once.
        subtitle = f"sort: {self.sort_description}"
        if self.border_subtitle != subtitle:  # each assignment repaints the whole table
            self.border_subtitle = subtitle
        self.refresh()

    @property
    def sort_description(self) -> str:
        """"Maint. margin ▼", and "(off screen)" when that column is scrolled out of view."""
        i = self._column_index(self.sort_column)
        if i is None:
            return ""
        col = self.COLUMNS[i]
        hidden = "" if not self.is_mounted or self.column_span(col.key) is not None else " (off screen)"
        return f"{col.title} {'▼' if self.sort_reverse else '▲'}{hidden}"

    def on_resize(self, _event: events.Resize) -> None:
        self.call_after_refresh(self._update_sort_labels)  # "(off screen)" depends on the width

    def action_sort_menu(self) -> None:
        """`o`: every column by name; the chosen one sorts (the current one again: reversed)."""
        from pmtui.tui.widgets.sortmenu import SortMenu

        def chosen(key: str | None) -> None:
            if key is None:
                return
            if key == self.sort_column:
                self.sort_by(key, not self.sort_reverse)
            else:
                self.sort_by(key)

        self.app.push_screen(SortMenu(self), chosen)

    def on_mount(self) -> None:
        self._measure()
        self._update_sort_labels()
        self.virtual_size = Size(0, len(self._order) + 1)

    # --- the cursor and scrolling -----------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, row: int, scroll: bool = True) -> None:
        if not self._order:
            self._cursor = 0
            return
        row = max(0, min(row, len(self._order) - 1))
        old = self._cursor
        self._cursor = row
        if old != row:
            top = int(self.scroll_y)
            for index in (old, row):
                if top <= index < top + self._page:
                    self._refresh_line(index - top + 1)
        if scroll:
            self.scroll_to_row(row)

    def scroll_to_row(self, row: int) -> None:
        top, page = int(self.scroll_y), self._page
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + page:
            self.scroll_to(y=row - page + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_page_down(self) -> None:
        page = self._page
        self.scroll_to(y=self.scroll_y + page, animate=False, immediate=True)
        self.move_cursor(self._cursor + page)

    def action_page_up(self) -> None:
        page = self._page
        self.scroll_to(y=max(0, self.scroll_y - page), animate=False, immediate=True)
        self.move_cursor(self._cursor - page)

    def action_scroll_top(self) -> None:
        self.move_cursor(0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_scroll_left(self) -> None:
        if self._first > 0:
            self._first -= 1
            self._generation += 1
            self.refresh()
            self._update_sort_labels()  # the sorted column may have come into view

    def action_scroll_right(self) -> None:
        if self._layout().hidden_right > 0:
            self._first += 1
            self._generation += 1
            self.refresh()
            self._update_sort_labels()

    def _scroll_column_into_view(self, index: int) -> None:
        fixed = min(self.FIXED_COLUMNS, len(self.COLUMNS))
        if index < fixed:
            return
        if index - fixed < self._first:
            self._first = index - fixed
            self._generation += 1
            self.refresh()
            return
        while self.column_span(self.COLUMNS[index].key) is None and self._layout().hidden_right > 0:
            self._first += 1
            self._generation += 1
            self.refresh()

    def action_select_cursor(self) -> None:
        key = self.cursor_key()
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        x, y = offset
        if y == 0:
            for index, cx, width in self._layout().columns:
                if cx - GAP <= x < cx + width:
                    key = self.COLUMNS[index].key
                    if key == self.sort_column:
                        self.sort_by(key, not self.sort_reverse)
                    else:
                        self.sort_by(key)
                    return
            return
        row = int(self.scroll_y) + y - 1
        if 0 <= row < len(self._order):
            if row == self._cursor:
                self.action_select_cursor()
            else:
                self.move_cursor(row)

    # --- rendering --------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._generation += 1  # theme, focus, a class (e.g. -stale): colours may differ
        if self._source is not None and self._rows:
            # Lazy rows' cells hold the old colours: built again as they are drawn (set_rows
            # is handed new cells by its caller).
            self._rows, self._signatures, self._strips = {}, {}, {}
            self._width_counts = [Counter() for _ in self.COLUMNS]
            self.refresh()

    def on_focus(self, event: events.Focus) -> None:
        self._generation += 1
        self.refresh()

    def on_blur(self, event: events.Blur) -> None:
        self._generation += 1
        self.refresh()

    def _content_width(self) -> int:
        # scrollable_content_region finds the widget in the screen's map: ~20 us, once a frame
        # (render_lines below), not once a line.
        if self._frame_width is not None:
            return self._frame_width
        return self.scrollable_content_region.width

    def render_lines(self, crop: Region) -> list[Strip]:
        self._fill_screen()
        self._frame_width = self.scrollable_content_region.width
        try:
            return super().render_lines(crop)
        finally:
            self._frame_width = None

    def _layout(self) -> _Layout:
        width = self._content_width()
        stamp = (width, tuple(self._widths), self._first)
        if self._columns_cache is not None and self._columns_cache[0] == stamp:
            return self._columns_cache[1]
        n = len(self.COLUMNS)
        fixed = min(self.FIXED_COLUMNS, n)
        scrollable = n - fixed
        self._first = max(0, min(self._first, max(0, scrollable - 1)))
        first = self._first

        def fit(room: int) -> tuple[list[tuple[int, int, int]], int]:
            shown, x = [], 0
            for i in list(range(fixed)) + list(range(fixed + first, n)):
                w = self._widths[i] + GAP
                if i >= fixed and x + w + 1 > room:  # and one blank before the scrollbar
                    break
                shown.append((i, x + GAP, self._widths[i]))
                x += w
            return shown, x

        shown, end = fit(width)
        hidden_left = first
        hidden_right = n - fixed - first - (len(shown) - fixed)
        indicator = ""
        if hidden_left or hidden_right:
            # Room for the indicator at the header's end: drop columns until it fits.
            while True:
                indicator = self._indicator(hidden_left, hidden_right)
                if width - end >= cell_len(indicator) + 1 or len(shown) <= fixed + 1:
                    break
                i, _, w = shown.pop()
                end -= w + GAP
                hidden_right += 1
        layout = _Layout(tuple(shown), end, hidden_left, hidden_right, indicator)
        self._columns_cache = (stamp, layout)
        return layout

    @staticmethod
    def _indicator(left: int, right: int) -> str:
        if left and right:
            return f"◀ {left} · {right} more ▶"
        if right:
            return f"{right} more ▶"
        return f"◀ {left} more"

    def render_line(self, y: int) -> Strip:
        width = self._content_width()
        if y == 0:
            return self._render_header(width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[index]
        cursor = index == self._cursor and (self.BLURRED_CURSOR or self.has_focus)
        stamp = (self._generation, width, index % 2, cursor, self._first)
        cached = self._strips.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cells = self._rows.get(key)
        if cells is None:  # a lazy row not built yet (render_lines builds those on screen first)
            cells = self._cells(key)
        strip = self._render_row(cells, index, cursor, width)
        self._strips[key] = (stamp, strip)
        self.rows_rendered += 1
        return strip

    def _row_style(self, index: int, cursor: bool) -> Style:
        # Cached per generation (bumped on any style change, see notify_style_update): computing
        # rich_style walks the ancestors and builds Styles, ~40 us, for every line rendered.
        key = (self._generation, 2 if cursor else index % 2)
        style = self._row_styles.get(key)
        if style is None:
            base = self.rich_style
            if cursor:
                style = base + self.get_component_rich_style("table--cursor")
            else:
                name = "table--even-row" if index % 2 == 0 else "table--odd-row"
                style = base + self.get_component_rich_style(name)
            if len(self._row_styles) > 8:
                self._row_styles.clear()
            self._row_styles[key] = style
        return style

    def _render_row(self, cells: list[Cell], index: int, cursor: bool, width: int) -> Strip:
        layout = self._layout()
        row_style = self._row_style(index, cursor)
        parts: list[tuple[str, Style]] = []
        x = 0
        if cursor and layout.columns:
            # The cursor: a bar in the blank before the first column, on the row's faint band; the
            # cells keep their own colours (a level's colour is what the eye looks for).
            parts.append((CURSOR_BAR, row_style + self.get_component_rich_style("table--cursor-bar")))
            x = 1
        for i, cx, w in layout.columns:
            cell = cells[i]
            text = cell.plain
            n = cell_len(text)
            if n > w:  # cannot happen while widths are measured, but never overflow a column
                text = set_cell_size(text, w)
                n = min(cell_len(text), w)
            spare = w - n
            justify = cell.justify
            if justify == "left":
                lead = 0
            elif justify == "center":
                lead = spare // 2
            else:
                lead = spare
            style = row_style + _style_of(cell)
            parts.append((" " * (cx - x + lead), row_style))
            parts.append((text, style))
            x = cx + n + lead
            parts.append((" " * (cx + w - x), row_style))
            x = cx + w
        if width > x:
            parts.append((" " * (width - x), row_style))
        return _strip(parts, width, max(x, width))

    def _render_header(self, width: int) -> Strip:
        layout = self._layout()
        header = self.rich_style + self.get_component_rich_style("table--header")
        parts: list[tuple[str, Style]] = []
        x = 0
        for i, cx, w in layout.columns:
            col = self.COLUMNS[i]
            label = col.label
            if col.key == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"
            n = cell_len(label)
            lead = (w - n) if self._justify[i] == "right" else (w - n) // 2 if self._justify[i] == "center" else 0
            parts.append((" " * (cx - x + lead) + label + " " * (w - n - lead), header))
            x = cx + w
        if layout.indicator:
            more = self.rich_style + self.get_component_rich_style("table--more")
            room = width - x - cell_len(layout.indicator)
            parts.append((" " * max(0, room), header))
            parts.append((layout.indicator, more))
        elif width > x:
            parts.append((" " * (width - x), header))
        return _strip(parts, width)


def _strip(parts: Iterable[tuple[str, Style]], width: int, length: int | None = None) -> Strip:
    """One segment per run of equal style; `length`: their cells, when the caller knows it."""
    segments: list[Segment] = []
    text, style = "", None
    for t, s in parts:
        if not t:
            continue
        if s is style or (style is not None and s == style):
            text += t
        else:
            if text:
                segments.append(Segment(text, style))
            text, style = t, s
    if text:
        segments.append(Segment(text, style))
    if length == width:
        return Strip(segments, width)
    return Strip(segments).crop_extend(0, width, None)


class _LazyRows(Mapping[str, list[Cell]]):
    """KeyedTable.rows of a table fed by set_lazy_rows: every key, cells built when read."""

    def __init__(self, table: KeyedTable) -> None:
        self._table = table

    def __getitem__(self, key: str) -> list[Cell]:
        return self._table._cells(key)

    def __contains__(self, key: object) -> bool:  # without building the row's cells
        return key in (self._table._source or ())

    def __iter__(self) -> Iterator[str]:
        return iter(self._table._source or ())

    def __len__(self) -> int:
        return len(self._table._source or ())


def _note_value(values: dict[str, tuple[Any, Any]], moved: list[str], key: str, value: tuple[Any, Any]) -> bool:
    """Keep a row's (sort, tie) value; a changed sort value alone puts the row in `moved` (placed
    again). True: every row must be sorted again (a new row, or its tie value changed)."""
    old = values.get(key)
    if old == value:
        return False
    values[key] = value
    if old is None or old[1] != value[1]:
        return True
    moved.append(key)
    return False
