"""Colours are defined once, in app.tcss, as component classes; widgets read them from there
(so themes can change them) instead of naming colours in code."""

from __future__ import annotations

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

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)  # type: ignore[attr-defined]

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
        lines = len(text.wrap(self.app.console, width)) if width > 0 else text.plain.count("\n") + 1
        self.update(text, layout=before is None or lines != self._lines)
        self._lines = lines
