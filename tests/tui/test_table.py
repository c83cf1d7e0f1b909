"""KeyedTable on its own: what a refresh repaints, the cursor, columns that scroll or hide."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App, ComposeResult

from pmtui.tui.widgets.table import Cell, Column, KeyedTable
from tests.support.harness import rendered, wait_until


class Table(KeyedTable):
    COLUMNS = (
        Column("name", "Name", largest_first=False),
        Column("side", "Side", largest_first=False),
        Column("value", "Value"),
        Column("a", "Alpha"),
        Column("b", "Beta"),
        Column("c", "Gamma"),
        Column("d", "Delta"),
    )
    DEFAULT_SORT = ("value", True)
    TIE_COLUMN = "name"
    FIXED_COLUMNS = 2


def row(name: str, value: int, side: str = "L", extra: str = "x") -> list[Cell]:
    return [Cell(name, justify="left"), Cell(side, justify="left"), Cell(f"{value:,}", sort_key=Decimal(value))] + [
        Cell(f"{extra}{i}") for i in range(4)
    ]


class TableApp(App[None]):
    CSS = "Table { height: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Table(id="t")

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.selected.append(event.key)


def book(n: int, bump: dict[str, int] | None = None) -> dict[str, list[Cell]]:
    bump = bump or {}
    return {f"S{i:04d}": row(f"S{i:04d}", 1000 * (n - i) + bump.get(f"S{i:04d}", 0)) for i in range(n)}


def lines_painted(table: Table) -> list[int]:
    """Wrap render_line to record which lines the compositor asks for."""
    asked: list[int] = []
    original = table.render_line

    def spy(y: int):
        asked.append(y)
        return original(y)

    table.render_line = spy  # type: ignore[method-assign]
    return asked


async def test_an_update_re_renders_and_repaints_only_the_changed_rows():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(Table)
        table.focus()
        table.set_rows(book(20))
        await pilot.pause()
        asked = lines_painted(table)
        before = table.rows_rendered
        rows = book(20)
        rows["S0003"] = row("S0003", 17000, extra="y")  # same sorted value: no move
        assert table.set_rows(rows)
        await pilot.pause()
        assert table.rows_rendered - before == 1  # one strip rendered again, the rest cached
        assert asked == [4]  # only its line: not the header (0), not the other rows
        assert "y0" in rendered(table)
        # The same rows again: nothing changes, nothing is painted.
        asked.clear()
        assert not table.set_rows(book(20) | {"S0003": row("S0003", 17000, extra="y")})
        await pilot.pause()
        assert asked == [] and table.rows_rendered - before == 1


async def test_cursor_follows_its_key_across_a_re_sort_and_scroll_stays():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(Table)
        table.focus()
        table.set_rows(book(50))
        await pilot.pause()
        await pilot.press("pagedown", "j", "j")
        key, scroll = table.cursor_key(), table.scroll_y
        assert scroll > 0
        table.set_rows(book(50, bump={key: 10**6}))  # it jumps to the top
        await pilot.pause()
        assert table.cursor_key() == key and table.cursor_row == 0 == table.get_row_index(key)
        assert table.scroll_y == scroll
        table.sort_by("name")
        assert table.cursor_key() == key and table.row_keys == sorted(table.row_keys)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.selected == [key], what="RowSelected")


async def test_fixed_columns_stay_while_the_others_scroll_and_hidden_ones_are_counted():
    app = TableApp()
    async with app.run_test(size=(34, 10)) as pilot:
        table = app.query_one(Table)
        table.focus()
        table.set_rows(book(5))
        await pilot.pause()
        left, right = table.hidden_columns
        assert left == 0 and right > 0
        header = rendered(table).splitlines()[0]
        assert f"{right} more ▶" in header
        name, value = table.column_span("name"), table.column_span("value")
        assert value is not None
        await pilot.press("right")
        await pilot.pause()
        assert table.hidden_columns[0] == 1
        assert table.column_span("name") == name  # fixed: same place
        assert table.column_span("value") is None  # scrolled out
        header = rendered(table).splitlines()[0]
        assert "Name" in header and "Side" in header and "Value" not in header and "◀ 1" in header
        for _ in range(10):
            await pilot.press("right")
        assert table.hidden_columns[1] == 0  # stops at the last column
        await pilot.press(*["left"] * 10)
        assert table.hidden_columns[0] == 0
        # No number is ever cut: each shown cell is drawn whole.
        text = rendered(table)
        for key in table.row_keys:
            for i, cell in enumerate(table.get_row(key)):
                if table.column_span(Table.COLUMNS[i].key) is not None:
                    assert cell.plain in text


async def test_column_widths_shrink_back_when_the_wide_rows_go():
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(Table)
        table.set_rows(book(3))
        await pilot.pause()
        narrow = table.column_width("value")
        table.set_rows(book(3) | {"WIDE": row("WIDE", 10**12)})
        assert table.column_width("value") == len("1,000,000,000,000") > narrow
        table.set_rows(book(3))
        assert table.column_width("value") == narrow
        # A cell that narrows in place shrinks its column too.
        table.set_rows(book(3) | {"WIDE": row("WIDE", 10**12)})
        table.set_rows(book(3) | {"WIDE": row("WIDE", 1)})
        assert table.column_width("value") == narrow


async def test_header_click_sorts_and_row_click_moves_the_cursor():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(Table)
        table.set_rows(book(6))
        await pilot.pause()
        x, _ = table.column_span("name")
        assert await pilot.click(Table, offset=(x, 0))
        assert (table.sort_column, table.sort_reverse) == ("name", False)
        assert "Name ▲" in rendered(table)
        assert await pilot.click(Table, offset=(x, 0))
        assert table.sort_reverse is True
        assert await pilot.click(Table, offset=(x, 3))  # the third row
        assert table.cursor_row == 2
        assert await pilot.click(Table, offset=(x, 3))  # again: selects it
        await wait_until(pilot, lambda: app.selected == [table.row_keys[2]], what="RowSelected")


async def test_2000_rows_render_only_what_is_visible():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(Table)
        table.focus()
        table.set_rows(book(2000))
        await pilot.pause()
        assert table.row_count == 2000
        assert table.rows_rendered <= 19  # the visible rows, not 2000
        # 5% of the rows change (every 20th): only the visible ones among them are rendered.
        before = table.rows_rendered
        table.set_rows(book(2000) | {f"S{i:04d}": row(f"S{i:04d}", 1000 * (2000 - i), extra="z")
                                      for i in range(0, 2000, 20)})
        await pilot.pause()
        assert table.rows_rendered - before == 1  # S0000 is the only changed row on screen
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor_row == 1999 and table.scroll_y == table.max_scroll_y
        assert table.row_keys[-1] in rendered(table)


async def test_the_cursor_row_keeps_its_cells_colours_and_shows_a_bar():
    """The cursor starts on the first row, the riskiest: a bar marks it, its colours stay (issue 19)."""
    from rich.color import Color as RichColor

    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(Table)
        table.focus()
        rows = book(3)
        first = next(iter(rows))
        rows[first][0] = Cell(first, style="bold #ff0000", justify="left")  # a level colour
        rows[first][1] = Cell("L", style="#ffffff on #aa0000", justify="left")  # CRITICAL's badge
        table.set_rows(rows)
        await pilot.pause()
        assert table.cursor_key() == first
        for focused in (True, False):
            segments = list(table.render_line(1))  # the cursor row
            assert segments[0].text.startswith("▌")
            name = next(s for s in segments if first in s.text)
            assert name.style.color == RichColor.parse("#ff0000"), focused
            badge = next(s for s in segments if s.text.strip() == "L")
            assert badge.style.bgcolor == RichColor.parse("#aa0000"), focused
            other = list(table.render_line(2))
            assert not other[0].text.startswith("▌")  # only the cursor row has the bar
            table.blur()
            await pilot.pause()


class LazyTable(Table):
    """Rows handed over as (name, value) objects: cells built on demand, counted."""

    def row_cells(self, item: tuple[str, int]) -> list[Cell]:
        self.app.built.append(item[0])  # type: ignore[attr-defined]
        return row(*item)

    def row_sort_value(self, item: tuple[str, int], column: str) -> object:
        return {"name": item[0], "value": Decimal(item[1])}[column]


class LazyApp(TableApp):
    def __init__(self) -> None:
        super().__init__()
        self.built: list[str] = []

    def compose(self) -> ComposeResult:
        yield LazyTable(id="t")


def items(n: int, moved: int = 0) -> dict[str, tuple[str, int]]:
    """n rows, S0000 the largest; `moved` shifts every value (a refresh where every price moved)."""
    return {f"S{i:04d}": (f"S{i:04d}", 1000 * (n - i) + moved) for i in range(n)}


async def test_1000_lazy_rows_build_cells_only_for_the_rows_on_screen():
    app = LazyApp()
    async with app.run_test(size=(60, 12)) as pilot:  # 10 rows under the header
        table = app.query_one(LazyTable)
        table.focus()
        table.set_lazy_rows(items(1000))
        await pilot.pause()
        on_screen = [f"S{i:04d}" for i in range(10)]
        assert table.row_count == 1000 and table.row_keys[:10] == on_screen
        assert set(on_screen) <= set(app.built) and len(app.built) <= 12  # not 1,000 rows' cells
        assert "S0000" in rendered(table) and table.get_cell("S0999", "value").plain == "1,000"
        app.built.clear()
        table.set_lazy_rows(items(1000, moved=1))  # every row changed: still only the screen's
        await pilot.pause()
        assert set(on_screen) <= set(app.built) and len(app.built) <= 12
        assert "1,000,001" in rendered(table)
        app.built.clear()
        await pilot.press("pagedown")  # rows that come on screen are built as they come
        await pilot.pause()
        assert app.built and set(app.built) <= {f"S{i:04d}" for i in range(10, 30)}
        assert "S0012" in rendered(table)
        # Sorted the other way on all 1,000 rows, by values read without building their cells.
        app.built.clear()
        table.sort_by("value", reverse=False)
        await pilot.pause()
        assert table.row_keys[0] == "S0999" and len(app.built) <= 20


class Counted:
    """A sort value that counts how often it is compared."""

    compared = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted) and self.value == other.value

    def __lt__(self, other: Counted) -> bool:
        Counted.compared += 1
        return self.value < other.value

    __hash__ = None  # type: ignore[assignment]


def counted_book(n: int, bump: dict[str, int]) -> dict[str, list[Cell]]:
    rows = {}
    for i in range(n):
        key = f"S{i:04d}"
        value = 1000 * (n - i) + bump.get(key, 0)
        rows[key] = [Cell(key, justify="left"), Cell("L", justify="left"), Cell(f"{value:,}", sort_key=Counted(value))]
        rows[key] += [Cell(f"x{j}") for j in range(4)]
    return rows


async def test_a_refresh_that_moves_a_few_of_2000_rows_places_only_those():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(Table)
        first = counted_book(2000, {})
        table.set_rows(first)
        await pilot.pause()
        moved = {"S0005": 1_500_500, "S1999": 10_000_000, "S0700": -10**8}  # three rows move
        rows = first | {k: cells for k, cells in counted_book(2000, moved).items() if k in moved}
        Counted.compared = 0
        assert table.set_rows(rows)
        # A binary search each, not a sort of all 2,000 rows (which compares each row at least once).
        assert Counted.compared < 200
        values = {k: cells[2].sort_key.value for k, cells in rows.items()}
        assert table.row_keys == sorted(values, key=lambda k: (values[k], k), reverse=True)
        assert table.row_keys[0] == "S1999" and table.row_keys[-1] == "S0700"


class GroupTable(Table):
    GROUP_BY_TIE = True


class GroupApp(TableApp):
    def compose(self) -> ComposeResult:
        yield GroupTable(id="t")


def hedge_book(values: dict[str, int]) -> dict[str, list[Cell]]:
    return {key: row(key[:5], value, side=key[-1]) for key, value in values.items()}


async def test_rows_placed_again_land_where_a_whole_sort_puts_them_their_group_with_them():
    import random

    app = GroupApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(GroupTable)
        rng = random.Random(7)
        values = {f"S{i:04d}:{side}": rng.randrange(10**6) for i in range(300) for side in "LS"}
        table.set_rows(hedge_book(values))
        await pilot.pause()
        # Few rows moved (a binary search each), then many (merged in one sort), each way round.
        for share, reverse in ((3, True), (60, True), (3, False), (150, False)):
            if table.sort_reverse != reverse:
                table.sort_by("value", reverse)
            for key in rng.sample(sorted(values), share):
                values[key] = rng.randrange(10**6)
            table.set_rows(hedge_book(values))
            pick = max if reverse else min
            best = {name: pick(v for k, v in values.items() if k[:5] == name) for name in {k[:5] for k in values}}
            wanted = sorted(values, key=lambda k: (best[k[:5]], k[:5], values[k]), reverse=reverse)
            assert table.row_keys == wanted, (share, reverse)
            assert table.cursor_row == table.get_row_index(table.cursor_key())


def test_a_cell_is_the_text_that_text_makes_and_strips_control_codes_only_when_there_are_some(monkeypatch):
    import rich.control
    import rich.text

    from pmtui.tui.widgets import table

    for text, style, justify in (("12,345.67", "", "right"), ("BTCUSDT", "bold red", "left"),
                                 ("a\rb\x07c\x08", "", "center"), ("ünï €", "", "right"), ("", "", "right")):
        cell = Cell(text, style=style, justify=justify)  # type: ignore[arg-type]
        made = rich.text.Text(text, style=style, justify=justify, no_wrap=True, overflow="ellipsis")  # type: ignore[arg-type]
        slots = [s for cls in type(made).__mro__ for s in getattr(cls, "__slots__", ())]
        assert {s: getattr(cell, s) for s in slots} == {s: getattr(made, s) for s in slots}, text
    assert Cell("a\rb\x07c").plain == "abc"
    # The strip runs only for a string with something unprintable in it.
    calls: list[str] = []

    def counted(text: str, *args: object) -> str:
        calls.append(text)
        return rich.control.strip_control_codes(text)

    monkeypatch.setattr(rich.text, "strip_control_codes", counted)
    monkeypatch.setattr(table, "strip_control_codes", counted, raising=False)
    cells = [Cell(f"{i:,}.00") for i in range(100)] + [Cell("x\ry")]
    assert calls == ["x\ry"] and cells[-1].plain == "xy"
