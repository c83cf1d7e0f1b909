"""The stress ladder: uniMMR after a move of −50 % … +50 %, for the whole book and each underlying
alone (rows), as Deribit's risk matrix lays it out. Every figure is the risk model's own
(`RiskModel.ladder`); this module only draws it. `L` opens it on a screen of its own; on a big
terminal the dashboard shows it in the room under the positions (app.tcss).

A cell is coloured by its level, with the level's mark so it reads without colour; a move at or
past liquidation reads "liquidated" (or "liq." where the column is too narrow, said in the
legend), never a uniMMR below 1.05.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer

from pmtui import fmt
from pmtui.health import Level
from pmtui.model import LADDER_MOVES, RiskModel, Rung
from pmtui.riskview import liquidation_text, off, pct, why_approximate
from pmtui.text import clean
from pmtui.tui.widgets.styles import StyledStatic

#: Rows of underlyings at most (the model's own order: largest gross exposure first).
MAX_ROWS = 10
#: The whole book's row.
ALL = "All"
#: A cell wide enough for the word says "liquidated"; a narrower one "liq." (the legend says so).
WORD, SHORT = "liquidated", "liq."
#: Cell widths: "× liquidated", "✓ 10.34" (from the 7 of "× 9.99" on), and "✓10.3" at 80 columns.
WIDE, MEDIUM, NARROW = len(WORD) + 2, 7, 5


def title(model: RiskModel | None) -> str:
    """The ladder's title: "approximate" when the model does not reconcile or lacks an input."""
    name = "Stress ladder: uniMMR after a price move"
    if model is not None and (off(model) is not None or model.base.approximate):
        name += " (approximate)"
    return name


def cell_width(width: int, label: int) -> int:
    """The widest cell the 11 moves get beside the labels (one space before each)."""
    room = (width - label) // len(LADDER_MOVES) - 1
    return WIDE if room >= WIDE else MEDIUM if room >= MEDIUM else NARROW


def cell_text(rung: Rung, width: int) -> tuple[str, Level]:
    """A rung as drawn in a cell of `width`: "✓ 10.34", "▲ 1.35", "× liquidated" ("× liq."); at
    NARROW "✓10.3": fewer decimals where the figure would not fit, cut toward liquidation like
    every ratio, never cropped; and the level that colours it."""
    gap = "" if width < MEDIUM else " "
    if rung.liquidated:
        return f"{Level.CRITICAL.mark}{gap}{WORD if width >= WIDE else SHORT}", Level.CRITICAL
    level = Level[rung.level]
    ratio = rung.unimmr
    room = width - len(level.mark + gap)
    shown = "999+"
    if ratio is None or ratio < 1000:
        for places in (2, 1, 0):  # fewer decimals rather than a cropped figure
            shown = fmt.ratio(ratio, places)
            if len(shown) <= room:
                break
    return f"{level.mark}{gap}{shown}", level


class LadderMatrix(StyledStatic):
    """The matrix itself. `rows`: how many underlyings below the whole book (0: the book only)."""

    def __init__(self, *args, rows: int = MAX_ROWS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.model: RiskModel | None = None
        self.note: str | None = None
        self._drawn: tuple[object, ...] | None = None
        self._shape: tuple[object, ...] | None = None  # the matrix's rows and columns, as last laid out
        self._cells: tuple[object, ...] | None = None  # the matrix's cells as last drawn

    def show(self, model: RiskModel | None, note: str | None = None) -> None:
        """Draw `model`'s ladder; without one, `note` says why (no redraw for the same model)."""
        self.model, self.note = model, note
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.display or (self.parent is not None and not self.parent.display):
            return  # hidden (no room for the dashboard's panel): drawn when shown (on_resize)
        width = self.content_size.width
        key = (self.model, self.note, width, self.rows)
        if key == self._drawn:
            return
        self._drawn = key
        model = self.model
        if model is None:
            self._shape = self._cells = None
            self.show_text(Text(self.note or "The risk model is not ready yet: waiting for its inputs.",
                                style=self.style("muted")))
            return
        # A new model each refresh, mostly drawing the same cells (two decimals): drawn only when
        # a cell does change (a Rich table of 11 x 11 was a fifth of the process's CPU at 200x50).
        unders = (None, *model.underlyings[: self.rows])
        cell = cell_width(width, max(len(clean(u)) if u else len(ALL) for u in unders)) if width else WIDE
        cells = (width, unders, tuple(cell_text(r, cell) for u in unders for r in model.ladder(u)))
        if cells == self._cells:
            return
        self._cells = cells
        table = self.render_matrix(model, width)
        # A new model each refresh: its figures change, its size only with its rows and label
        # column (the cells are fitted to the width). A layout repaints the whole screen.
        shape = (len(table.rows), table.columns[0].min_width, width)
        self.update(table, layout=shape != self._shape)
        self._shape, self._shown = shape, None  # (a note after it is drawn again, even one as before)

    def render_matrix(self, model: RiskModel, width: int) -> Table:
        names = [ALL, *(clean(u) for u in model.underlyings[: self.rows])]
        label = max(len(n) for n in names)
        cell = cell_width(width, label) if width else WIDE
        table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False, pad_edge=False, expand=False)
        table.add_column("move", justify="left", no_wrap=True, min_width=label)
        for move in LADDER_MOVES:
            table.add_column(pct(move).replace(".0%", "%"), justify="right", no_wrap=True, width=cell,
                             overflow="crop")
        for name, under in zip(names, (None, *model.underlyings[: self.rows]), strict=False):
            cells = []
            for rung in model.ladder(under):
                text, level = cell_text(rung, cell)
                cells.append(Text(text, style=self.level_style(level)))
            table.add_row(Text(name, style="bold" if under is None else ""), *cells)
        return table


class LadderNote(StyledStatic):
    """Under the matrix: why it is approximate, the liquidation move, and the legend."""

    def show(self, model: RiskModel | None, narrow: bool) -> None:
        text = Text()
        muted = self.style("muted")
        if model is not None:
            if (why := why_approximate(model)) is not None:
                text.append("approximate: ", style=self.level_style(Level.WARN))
                text.append(why + "\n")  # may carry an exchange's words: plain text, never markup
            if (move := liquidation_text(model)) is not None:
                text.append(move + "\n", style="bold")
        for level in Level:
            text.append(f"{level.mark} {level.name}", style=self.level_style(level))
            text.append("  ")
        said = f"{SHORT} = {WORD}" if narrow else WORD
        text.append(f"{said}: uniMMR at or below 1.05 · each row moves its underlying alone, "
                    "'All' every non-stablecoin together; stablecoins never move", style=muted)
        self.show_text(text)


class LadderScreen(ModalScreen[None]):
    """`L`: the ladder for the whole book and each underlying; it follows the states as they come."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("L", "dismiss", "Close", show=False)]

    def __init__(self, model: RiskModel | None, note: str | None = None) -> None:
        super().__init__()
        self._model, self._note = model, note

    def compose(self) -> ComposeResult:
        with Vertical(id="ladder-box"):
            with VerticalScroll(id="ladder-scroll"):
                yield LadderMatrix(id="ladder-matrix")
            yield LadderNote(id="ladder-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ladder-box").border_subtitle = "esc to close"
        self.show(self._model, self._note)

    def show(self, model: RiskModel | None, note: str | None = None) -> None:
        self._model, self._note = model, note
        self.query_one("#ladder-box").border_title = title(model)
        matrix = self.query_one(LadderMatrix)
        matrix.show(model, note)
        self.call_after_refresh(self._note_again)

    def _note_again(self) -> None:
        matrix = self.query_one(LadderMatrix)
        model = self._model
        label = max([len(ALL), *(len(u) for u in model.underlyings[:MAX_ROWS])]) if model is not None else 0
        narrow = cell_width(matrix.content_size.width, label) < WIDE
        self.query_one(LadderNote).show(model, narrow)

    def on_resize(self) -> None:
        self.call_after_refresh(self._note_again)


class LadderPanel(Vertical):
    """The whole book's ladder (and the underlyings' where there is room) in the dashboard's own
    free space on a big terminal (app.tcss shows it from 200x50)."""

    def compose(self) -> ComposeResult:
        yield LadderMatrix(id="ladder-panel-matrix", rows=MAX_ROWS)

    _latest: tuple[RiskModel | None, str | None] = (None, None)

    def show(self, model: RiskModel | None, note: str | None = None) -> None:
        self._latest = (model, note)
        # No model (risk_model = false, or its inputs not in yet): the positions keep the room.
        if self.has_class("-no-model") != (model is None):
            self.set_class(model is None, "-no-model")
            self.call_after_refresh(self._draw_latest)  # once the stylesheet has said whether it shows
            return
        self._draw_latest()

    def _draw_latest(self) -> None:
        model, note = self._latest
        if not self.display:
            return
        self.border_title = title(model)
        if model is not None and why_approximate(model) is not None:
            self.border_subtitle = "approximate: see L"
        else:
            self.border_subtitle = "L: full screen"
        self.query_one(LadderMatrix).show(model, note)


def unavailable(risk_model_setting: bool) -> str:
    """Why there is no ladder: the setting turned the model off, or its inputs have not come."""
    if not risk_model_setting:
        return "The risk model is off (risk_model = false in the config file): no ladder."
    return "The risk model is not ready yet: waiting for its inputs (collateral rates, index prices, brackets)."


