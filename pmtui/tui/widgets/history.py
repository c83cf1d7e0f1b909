"""The history panel (`h`): sparklines of uniMMR, equity and uPnL over this session with their
min and max, beside the alert log."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import RichLog, Sparkline

from pmtui import fmt
from pmtui.alerts import AlertEvent
from pmtui.series import Series, SessionSeries
from pmtui.tui.widgets.styles import StyledStatic

# (series attribute, label, decimals; None: a ratio, fmt.ratio's own rule)
LINES = (("unimmr", "uniMMR", None), ("equity", "Equity", 0), ("upnl", "uPnL", 0))


class SeriesLabel(StyledStatic):
    def show(self, label: str, series: Series, places: int | None) -> None:
        def figure(value):
            return fmt.ratio(value) if places is None else fmt.money(value, places)

        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{label:<7}", style="bold")
        text.append(figure(series.last) if series.last is not None else "—")
        lo, hi = series.min, series.max
        if lo is not None and hi is not None:
            text.append(f"  min {figure(lo)} max {figure(hi)}", style=self.style("muted"))
        self.update(text)


class HistoryPanel(Horizontal):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: deque[Text] = deque(maxlen=500)  # the log's lines, to wrap again on a resize
        self._log_width = 0
        self._events: deque[AlertEvent] = deque(maxlen=500)

    def compose(self) -> ComposeResult:
        with Vertical(id="sparklines"):
            for attr, _label, _places in LINES:
                yield SeriesLabel(id=f"label-{attr}", classes="series-label")
                yield Sparkline([], id=f"spark-{attr}", summary_function=max)
        # min_width: RichLog renders a line at no less than 78 columns by default, and a narrower
        # log then cut the middle out of every alert; lines are written again on a resize.
        yield RichLog(id="alert-log", max_lines=500, wrap=True, markup=False, min_width=10)

    def on_mount(self) -> None:
        self.query_one("#sparklines").border_title = "This session"
        self.query_one("#alert-log").border_title = "Alerts"

    def show(self, series: SessionSeries) -> None:
        for attr, label, places in LINES:
            values: Series = getattr(series, attr)
            self.query_one(f"#label-{attr}", SeriesLabel).show(label, values, places)
            self.query_one(f"#spark-{attr}", Sparkline).data = values.floats()

    def log_alert(self, event: AlertEvent, style) -> None:
        self._events.append(event)
        line = self._line(event, style)
        self._lines.append(line)
        self.query_one(RichLog).write(line)

    def clear(self) -> None:
        """Another account's dashboard (the Accounts overview's `enter`): its own log from now."""
        self._events.clear()
        self._lines.clear()
        self.query_one(RichLog).clear()

    @staticmethod
    def _line(event: AlertEvent, style) -> Text:
        line = Text(no_wrap=False)
        line.append(fmt.clock_time(event.time) + " ", style="dim")
        line.append(f"{event.state.upper():<9} ", style=style)
        line.append(event.message)
        return line

    def restyle(self, style_for) -> None:
        """A new theme: every line again in its colours (`style_for(level)` gives the style)."""
        self._lines = deque((self._line(e, style_for(e.level)) for e in self._events), maxlen=500)
        log = self.query_one(RichLog)
        log.clear()
        for line in self._lines:
            log.write(line)

    def on_resize(self) -> None:
        """RichLog wraps a line once, at the width it has then: wrap them all again at this one."""
        log = self.query_one(RichLog)
        width = log.scrollable_content_region.width
        if width > 0 and width != self._log_width and self._lines:
            self._log_width = width
            log.clear()
            for line in self._lines:
                log.write(line)
