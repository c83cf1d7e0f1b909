"""The history panel (`h`): charts of uniMMR (with its band lines), account equity and the nearest
liquidation distance over 1 h, 24 h or 7 d (`H` cycles the span), beside the alert log.

The points come from the recording when the dashboard has one (read in a worker thread, never on
the event loop: pmtui.charts.from_recording), joined to this session's newer ones; without a
recording, from the session alone. A chart is built again (plotext: the costly part) only when
what it shows changes: a point on another dot, the range drawn, the span, its size or colours;
never on a clock tick, nor for a new sample that lands where the last one is drawn, and for new
samples at most every CHART_EVERY seconds of the samples' time (the chart and its title are then
that much behind; the account panel's figures are the current ones).
"""

from __future__ import annotations

import math
import time
from collections import deque
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.widgets import RichLog
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from pmtui import fmt
from pmtui.alerts import AlertEvent
from pmtui.charts import (
    BUCKETS,
    SPANS,
    ChartData,
    Point,
    combine,
    from_recording,
    from_session,
    latest,
    lowest,
    segments,
    thin,
)
from pmtui.errors import PmtuiError
from pmtui.health import Level
from pmtui.series import SessionSeries
from pmtui.tui.widgets.styles import STYLE_CLASSES, Styled

#: Panel widths under this show the uniMMR chart alone (the others would be too narrow to read).
SLIM_BELOW = 110
#: (figure, title)
FIGURES = (("unimmr", "uniMMR"), ("equity", "Equity"), ("liq", "Nearest liq."))
#: Seconds of new samples a chart waits for before it is built again: plotext builds a chart in
#: 10-40 ms, and at 200x50 the three charts built on every 1 s refresh were most of its CPU
#: (issue 25). A trend loses nothing at this step; a new span, recording or account draws at once.
CHART_EVERY = 5.0
#: Time steps the axis is labelled at, the first that leaves room for each label wins.
_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)


def _figure(figure: str, value: Decimal | None) -> str:
    if figure == "unimmr":
        return fmt.ratio(value) if value is not None else "—"
    if figure == "liq":
        return fmt.percent(value, 1)
    return fmt.money(value, 0)


def _tick(figure: str, value: Decimal) -> str:
    """An axis label: shorter than the figure (uniMMR to 2 places, cut toward liquidation)."""
    return fmt.ratio(value, 2) if figure == "unimmr" else _figure(figure, value)


def _rgb(style: Style) -> tuple[int, int, int] | None:
    color = style.color
    if color is None:
        return None
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def frame(first: float, end: float, span: int, dots: int) -> tuple[float, float]:
    """The time range a chart draws: the span, or the time its points cover (a minute at least),
    rounded up to a sixteenth of a power of two (room on the left), with its right edge on a grid
    of `dots` per range. A new sample moves it only a dot at a time, not a few seconds."""
    extent = max(60.0, min(float(span), end - first))
    step = 2.0 ** math.floor(math.log2(extent / 16))
    extent = min(float(span), math.ceil(extent / step) * step)
    dot = extent / dots
    right = math.ceil(end / dot) * dot
    return right - extent, right


def time_ticks(start: float, end: float, columns: int) -> tuple[list[float], list[str]]:
    """Where the time axis is labelled (whole local minutes, hours or days) and with what: HH:MM,
    or the day under a day's step."""
    offset = time.localtime(end).tm_gmtoff
    room = max(1, columns // 9)  # "HH:MM" and room between
    step = next((s for s in _STEPS if (end - start) / s <= room), _STEPS[-1])
    first = math.ceil((start + offset) / step) * step - offset
    ticks = [float(t) for t in range(int(first), int(end) + 1, step)]
    if len(ticks) < 2:  # a few minutes of data: its two ends, to the second
        return [start, end], [time.strftime("%H:%M:%S", time.localtime(t)) for t in (start, end)]
    form = "%d %b" if step >= 86400 else "%H:%M"
    return ticks, [time.strftime(form, time.localtime(t)) for t in ticks]


class Chart(Styled, PlotextPlot):
    """One figure over the span: braille dots in the theme's primary colour; uniMMR with its band
    lines in the level colours; the time axis in HH:MM. The plot has no colours of its own
    (plotext's "clear" theme): its background and text are the widget's, on dark and light."""

    COMPONENT_CLASSES = STYLE_CLASSES | {"chart--line", "chart--warn", "chart--danger", "chart--critical"}

    def __init__(self, figure: str, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_reactive(PlotextPlot.theme, "clear")
        self.figure = figure
        self.title = title
        self.points: tuple[Point, ...] = ()
        self.span = SPANS[0][0]
        self.bands: tuple[tuple[Decimal, Level], ...] = ()
        self._drawn: tuple[Any, Text] | None = None  # ((size, version), the plot)
        self._plotted: Any = None  # what the plot drawn shows (Chart.render)
        self._version = 0
        self.renders = 0  # plots built: what the tests count to prove a tick draws nothing

    def plot(self, points: tuple[Point, ...], span: int, label: str,
             bands: tuple[tuple[Decimal, Level], ...] = ()) -> None:
        """Show these points (redrawn only if anything changed)."""
        last = points[-1][1] if points else None
        title = f"{self.title} {_figure(self.figure, last)}"
        subtitle = label  # the lowest and highest are on the axis
        if self.border_title != title:
            self.border_title = title
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
        if (points, span, bands) == (self.points, self.span, self.bands):
            return
        self.points, self.span, self.bands = points, span, bands
        self._version += 1
        self.refresh()

    def render(self) -> RenderResult:
        key = (self.size, self._version)
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        width, height = self.size
        if not self.points or width < 12 or height < 4:
            text = Text("no data yet" if not self.points else "", style=self.style("muted"), no_wrap=True)
            self._drawn, self._plotted = (key, text), None
            return text
        # Dots across and down: braille's, two and four a cell, over the whole widget (more than
        # the plot has, so a point on another dot of the plot is on another one here too).
        across, down = 2 * width, 4 * height
        start, end = frame(self.points[0][0], self.points[-1][0], self.span, across)
        points = [p for p in self.points if p[0] >= start]
        line = _rgb(self.style("chart--line"))
        gap = max(3 * self.span / 240, 90.0)  # longer than this without a point: not joined
        values = [p[1] for p in points]
        low, high = min(values), max(values)
        bands = sorted(v for v, _ in self.bands)
        if bands:
            # uniMMR on a banded scale: below the lowest band, each band to the next, and above the
            # highest, each a share of the height, so its bands stay rows apart however high it
            # is (the axis is labelled at each knot).
            knots = [min(low, bands[0] - (bands[1] - bands[0])), *bands, max(high, bands[-1] * 2)]
        else:
            if low == high:
                low, high = low - abs(low) / 100 - Decimal("0.01"), high + abs(high) / 100 + Decimal("0.01")
            knots = [low, high]

        # Where the line is gets twice the room of an empty stretch.
        base = [0.0]
        for i in range(len(knots) - 1):
            base.append(base[-1] + (2.0 if low < knots[i + 1] and high > knots[i] else 1.0))

        def scale(value: Decimal) -> float:
            for i in range(len(knots) - 1):
                if value <= knots[i + 1] or i == len(knots) - 2:
                    share = float((value - knots[i]) / (knots[i + 1] - knots[i]))
                    return base[i] + share * (base[i + 1] - base[i])
            return 0.0

        runs = [[(p[0], scale(p[1])) for p in run] for run in segments(tuple(points), gap)]
        bottom, top = -0.05 * base[-1], base[-1] * 1.02
        ticks = knots if bands else [low, (low + high) / 2, high]
        labels = [fmt.plain(t) if t in bands else _tick(self.figure, t) for t in ticks]
        xs, times = time_ticks(start, self.points[-1][0], width - 8)
        levels = [(scale(v), _rgb(self.style(f"chart--{level.label}"))) for v, level in self.bands]

        # What the plot shows: each run as the dots its points are on (a point on the dot of the
        # one before adds nothing), the axes and the colours. The same: the plot drawn stands.
        def dots(run: list[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
            cells = [(int((t - start) / (end - start) * across), int((y - bottom) / (top - bottom) * down))
                     for t, y in run]
            return tuple(c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1])

        plotted = (self.size, start, end, tuple(dots(run) for run in runs), tuple(labels), tuple(xs), tuple(times),
                   line, tuple(levels), base[-1])
        if self._drawn is not None and plotted == self._plotted:
            self._drawn = (key, self._drawn[1])
            return self._drawn[1]
        self.renders += 1
        plt = self.plt
        plt.clear_figure()
        for run in runs:
            plt.plot([p[0] for p in run], [p[1] for p in run], marker="braille", color=line)
        for y, color in levels:
            plt.hline(y, color)
        plt.xlim(start, end)
        plt.ylim(bottom, top)
        plt.yticks([scale(t) for t in ticks], labels)
        plt.xticks(xs, times)
        plt.frame(False)
        drawn = super().render()  # textual-plotext's: the plot as Text
        assert isinstance(drawn, Text)
        self._drawn, self._plotted = (key, drawn), plotted
        return drawn

    def notify_style_update(self) -> None:
        # Restyled (a theme, a class): built again only if the colours it is drawn in changed.
        self._drawn = None if self._drawn is None else (None, self._drawn[1])
        super().notify_style_update()


def recording_of(monitor: Any) -> tuple[Path, str] | None:
    """The history file the dashboard's Monitor records to (--record), and its profile."""
    recorder = getattr(monitor, "recorder", None)
    history = getattr(monitor, "history", None)
    path = getattr(recorder, "path", None) or getattr(history, "path", None)
    return (Path(path), monitor.profile) if path is not None else None


class HistoryPanel(Horizontal):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: deque[Text] = deque(maxlen=500)  # the log's lines, to wrap again on a resize
        self._log_width = 0
        self._events: deque[AlertEvent] = deque(maxlen=500)
        self.span_index = 0
        self._series: SessionSeries | None = None
        self._seen: tuple[int, int] | None = None  # (series id, version) last charted
        self._recording: tuple[Path, str] | None = None
        self._recorded: ChartData | None = None  # the recording's points for this span
        self._loaded: tuple[tuple[Path, str], int, float] | None = None  # what was read: where, span, until
        self._thresholds: Any = None
        self._drawn_until: float | None = None  # the newest sample's time when the charts were drawn
        self.hold = CHART_EVERY

    def compose(self) -> ComposeResult:
        with Vertical(id="charts"):
            for figure, title in FIGURES:
                yield Chart(figure, title, id=f"chart-{figure}", classes="chart")
        # min_width: RichLog renders a line at no less than 78 columns by default, and a narrower
        # log then cut the middle out of every alert; lines are written again on a resize.
        yield RichLog(id="alert-log", max_lines=500, wrap=True, markup=False, min_width=10)

    def on_mount(self) -> None:
        self.query_one("#alert-log").border_title = "Alerts"

    @property
    def span(self) -> tuple[int, str]:
        return SPANS[self.span_index]

    def show(self, series: SessionSeries) -> None:
        """The charts, current to `series` (the dashboard's Monitor's) and the recording."""
        self._series = series
        monitor = getattr(self.app, "monitor", None)
        self._recording = recording_of(monitor)
        self._thresholds = getattr(getattr(self.app, "settings", None), "thresholds", None)
        seen = (id(series), series.version)
        if self._seen is not None and seen[0] == self._seen[0] and self._recorded_current():
            newest, drawn = (series.times[-1] if series.times else None), self._drawn_until
            if seen == self._seen or (newest is not None and drawn is not None and 0 <= newest - drawn < self.hold):
                return  # nothing new, or new samples to draw with the next ones (CHART_EVERY)
        self._seen = seen
        self._draw()

    def cycle_span(self) -> None:
        """`H`: the next span (1 h, 24 h, 7 d, 1 h...)."""
        self.span_index = (self.span_index + 1) % len(SPANS)
        self._recorded = None
        self._draw()

    def _recorded_current(self) -> bool:
        """The recording's points cover this span up to a tenth of it ago (else: read again)."""
        if self._recording is None:
            return True
        loaded = self._loaded
        return loaded is not None and loaded[0] == self._recording and loaded[1] == self.span[0] \
            and time.time() - loaded[2] < self.span[0] / 10

    def _draw(self) -> None:
        series = self._series
        if series is None:
            return
        seconds, label = self.span
        self._drawn_until = series.times[-1] if series.times else None
        data = from_session(series)
        if self._recording is not None and not self._recorded_current():
            self._read_recording()
        if self._recorded is not None:
            data = combine(self._recorded, data)
        end = data.end
        if end is not None:
            shown = data.window(seconds)
            # Thinned over the time the points cover (a few minutes of session keep every point),
            # in stretches of a power of two seconds from a multiple of it: a new sample leaves
            # the older stretches as they were (and their charts unbuilt, Chart.render).
            start = min((p[0][0] for p in (shown.unimmr, shown.equity, shown.liq) if p), default=end)
            width = 2.0 ** math.ceil(math.log2(max(end - start, 1.0) / BUCKETS))
            start = math.floor(start / width) * width
            buckets = math.floor((end - start) / width) + 1
            end = start + buckets * width
            data = ChartData(thin(shown.unimmr, start, end, lowest, buckets),
                             thin(shown.equity, start, end, latest, buckets),
                             thin(shown.liq, start, end, lowest, buckets), data.source, data.problem)
        where = f"{label} · {data.source}" + (" (recording unread)" if data.problem else "")
        t = self._thresholds
        bands = () if t is None else ((t.unimmr_warn, Level.WARN), (t.unimmr_danger, Level.DANGER),
                                      (t.unimmr_critical, Level.CRITICAL))
        self.query_one("#chart-unimmr", Chart).plot(data.unimmr, seconds, where, bands)
        self.query_one("#chart-equity", Chart).plot(data.equity, seconds, where)
        self.query_one("#chart-liq", Chart).plot(data.liq, seconds, where)

    def _read_recording(self) -> None:
        recording = self._recording
        assert recording is not None
        now = time.time()
        seconds = self.span[0]
        self._loaded = (recording, seconds, now)  # not again until this one is in (or a tenth of the span)
        read = partial(from_recording, recording[0], recording[1], int((now - seconds) * 1000), int(now * 1000))
        self.run_worker(read, thread=True, name="charts-recording", group="charts", exclusive=True,
                        exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "charts-recording":
            return
        event.stop()
        if event.state == WorkerState.SUCCESS:
            self._recorded = event.worker.result
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            sentence = error.message if isinstance(error, PmtuiError) else "the recording could not be read"
            self._recorded = ChartData(problem=sentence)
        else:
            return
        self._draw()

    def on_resize(self) -> None:
        """Narrow: the uniMMR chart alone (app.tcss); RichLog wraps a line once, at the width it
        has then: wrap them all again at this one."""
        self.set_class(self.size.width < SLIM_BELOW, "-slim")
        log = self.query_one(RichLog)
        width = log.scrollable_content_region.width
        if width > 0 and width != self._log_width and self._lines:
            self._log_width = width
            log.clear()
            for line in self._lines:
                log.write(line)

    # --- the alert log -------------------------------------------------------------------------

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
        self._recorded = None
        self._loaded = None
        self._seen = None
        self._drawn_until = None

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
