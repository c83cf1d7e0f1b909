"""Colours are defined once, in app.tcss, as component classes; widgets read them from there
(so themes can change them) instead of naming colours in code."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.color import Color
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


# --- legible level colours on any theme ----------------------------------------------------------

#: WCAG AA for normal text; pmtui aims a little above it so blends (zebra rows) stay above 4.5.
AA = 4.5
_TARGET = 4.7


def luminance(color: Color) -> float:
    """WCAG relative luminance of an opaque colour."""
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a: Color, b: Color) -> float:
    """WCAG contrast ratio of two opaque colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def legible(color: Color, backgrounds: list[Color], target: float = _TARGET) -> Color:
    """`color`, darkened on light backgrounds (lightened on dark ones) just enough to reach
    `target` contrast against every one of `backgrounds`: the theme's hue, readable."""
    light = sum(luminance(b) for b in backgrounds) / len(backgrounds) > 0.18
    for step in range(51):
        candidate = color.darken(step / 50) if light else color.lighten(step / 50)
        if all(contrast(candidate, b) >= target for b in backgrounds):
            return candidate
    return Color(0, 0, 0) if light else Color(255, 255, 255)


def level_variables(variables: dict[str, str]) -> dict[str, str]:
    """pmtui's own CSS variables for the current theme (App.get_css_variables adds them):
    `$pm-ok`, `$pm-warn`, `$pm-danger` (text on the panels and tables), and `$pm-critical` /
    `$pm-critical-text` (the CRITICAL block), `$pm-stale` / `$pm-stale-text` (the STALE block;
    LIVE and PAUSED likewise), each at least 4.5:1 against what it is drawn on."""
    def parse(name: str, default: str) -> Color:
        try:
            color = Color.parse(variables.get(name, default))
        except Exception:
            color = Color.parse(default)
        return color
    base = parse("background", "#121212")
    # Everything pmtui draws text on: the screen, panels, tables, zebra rows, the filter box.
    grounds = [base.blend(parse(name, "#1e1e1e"), parse(name, "#1e1e1e").a) for name in
               ("background", "surface", "panel", "surface-lighten-1", "surface-darken-1", "boost")]
    ok = legible(parse("success", "#4EBF71"), grounds)
    warn = legible(parse("warning", "#FEA62B"), grounds)
    danger = legible(parse("error", "#B93C5B"), grounds)
    critical, critical_text = _block(parse("error", "#B93C5B"))
    stale, stale_text = _block(parse("warning", "#FEA62B"))
    live, live_text = _block(parse("success", "#4EBF71"))
    paused, paused_text = _block(parse("primary", "#0178D4"))
    return {
        "pm-ok": ok.hex, "pm-warn": warn.hex, "pm-danger": danger.hex,
        "pm-critical": critical.hex, "pm-critical-text": critical_text.hex,
        "pm-stale": stale.hex, "pm-stale-text": stale_text.hex,
        "pm-live": live.hex, "pm-live-text": live_text.hex,
        "pm-paused": paused.hex, "pm-paused-text": paused_text.hex,
    }


def _block(color: Color) -> tuple[Color, Color]:
    """A background in `color`'s hue and the text for it (white or black, whichever reads better),
    the background shaded just enough for the pair to reach the target contrast."""
    white, black = Color(255, 255, 255), Color(0, 0, 0)
    text = white if contrast(white, color) >= contrast(black, color) else black
    shaded = color
    for step in range(51):
        shaded = color.darken(step / 50) if text is white else color.lighten(step / 50)
        if contrast(text, shaded) >= _TARGET:
            break
    return shaded, text
