"""Colours are defined once, in app.tcss, as component classes; widgets read them from there
(so themes can change them) instead of naming colours in code."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from pmtui.health import Level

STYLE_CLASSES = {
    "level--ok", "level--warn", "level--danger", "level--critical",
    "pnl--up", "pnl--down", "side--long", "side--short", "muted",
    "state--live", "state--stale", "state--error", "state--paused",
}


class Styled:
    """Mixin for widgets that colour rich Text by health level or meaning. Textual collects
    COMPONENT_CLASSES only from widget classes, so each user sets `COMPONENT_CLASSES = STYLE_CLASSES`."""

    _partial_styles: dict[str, Style] | None = None

    def style(self, name: str) -> Style:
        # Cached until the styles change: Textual's own cache of it is emptied by every refresh()
        # (each table line, each text update), and computing it again also walks the ancestors.
        styles = self._partial_styles
        if styles is None:
            styles = self._partial_styles = {}
        style = styles.get(name)
        if style is None:
            style = styles[name] = self.get_component_rich_style(name, partial=True)  # type: ignore[attr-defined]
        return style

    def notify_style_update(self) -> None:
        # Textual calls this on every restyle (theme, classes, focus), right before it replaces
        # the widget's component styles: the next style() reads the new ones.
        self._partial_styles = None
        super().notify_style_update()  # type: ignore[misc]

    def level_style(self, level: Level) -> Style:
        return self.style(f"level--{level.label}")

    def pnl_style(self, value) -> Style:
        return self.style("pnl--up" if value > 0 else "pnl--down" if value < 0 else "muted")


class StyledStatic(Styled, Static):
    """A Static that colours its text with the classes above (app.tcss styles them once for all)."""

    COMPONENT_CLASSES = STYLE_CLASSES
    _shown: Text | None = None
    _lines = 0

    def show_text(self, text: Text) -> None:
        """Update only when the text changed, and re-layout the screen only when its height (its
        lines as wrapped at this width) did: a layout repaints the whole screen, which over SSH
        is every byte of it."""
        before = self._shown
        if before is not None and before.plain == text.plain and before.spans == text.spans:
            return
        self._shown = text
        width = self.content_size.width
        plain = text.plain
        if width > 0 and plain and "\n" not in plain and "\t" not in plain and cell_len(plain) <= width:
            lines = 1  # what wrapping it would say, without wrapping it (the status bar, each second)
        else:
            lines = len(text.wrap(self.app.console, width)) if width > 0 else plain.count("\n") + 1
        self.update(text, layout=before is None or lines != self._lines)
        self._lines = lines
