"""The history panel's charts (h): drawn again on a new sample, never on a tick; H cycles the span."""

from __future__ import annotations

import re
from decimal import Decimal

from pmtui.charts import SPANS
from pmtui.history import Sample
from pmtui.state import CLOCK
from pmtui.tui.widgets.history import CHART_EVERY, Chart, HistoryPanel, frame, time_ticks
from tests.support.harness import refresh, settled, wait_until


async def test_a_chart_is_built_again_only_when_its_data_moves(make_app, frozen_clock):
    app = make_app(clock=frozen_clock, scenario="margin-call", step=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        frozen_clock.advance(2)
        await refresh(pilot)
        await pilot.press("h")
        chart = app.query_one("#chart-unimmr", Chart)
        await wait_until(pilot, lambda: chart.renders > 0, what="the first plot")
        await pilot.pause()
        built = chart.renders
        assert len(chart.points) == 2 and chart.border_title.startswith("uniMMR ")
        # Ticks (the clock, the status bar) and repaints of the same data draw nothing again.
        for _ in range(3):
            frozen_clock.advance(1)
            app.main.show_state(app.state, frozenset({CLOCK}))
            app.query_one(HistoryPanel).show(app.monitor.series)
            chart.refresh()
            await pilot.pause()
        assert chart.renders == built
        frozen_clock.advance(2)
        await refresh(pilot)  # a new sample
        await wait_until(pilot, lambda: chart.renders == built + 1, what="one more plot")
        assert len(chart.points) == 3
        # H: the next span, said under each chart.
        assert chart.border_subtitle == "1 h · session"
        await pilot.press("H")
        await pilot.pause()
        assert app.query_one("#chart-liq", Chart).border_subtitle == "24 h · session"
        await pilot.press("H", "H")
        await pilot.pause()
        assert chart.border_subtitle == "1 h · session"


def test_the_time_axis_is_labelled_in_hours_and_minutes():
    ticks, labels = time_ticks(0.0, 3600.0, 60)  # 1970-01-01 00:00 to 01:00 UTC
    assert len(ticks) >= 2 and all(len(label) == 5 and label[2] == ":" for label in labels)
    _, days = time_ticks(0.0, 7 * 86400.0, 60)  # a week: by the day ("02 Jan")
    assert all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", day) for day in days)


async def test_a_sample_that_lands_on_the_dot_drawn_builds_nothing(make_app, frozen_clock):
    """The costly part of a chart is plotext's build (a tenth of the CPU at 200x50 when it was
    built on every sample): a new sample on the dot the last one is drawn on builds nothing; one on
    another dot builds once."""
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("h")
        chart = app.query_one("#chart-equity", Chart)
        hour = SPANS[0][0]
        points = tuple((1000.0 + 2 * i, Decimal(100 + i % 7)) for i in range(1800))  # an hour, every 2 s

        async def show(shown: tuple) -> int:
            before = chart.renders
            chart.plot(shown, hour, "1 h · session")
            drawn = (chart.size, chart._version)
            await wait_until(pilot, lambda: chart._drawn is not None and chart._drawn[0] == drawn,
                             what="the chart rendered")
            return chart.renders - before

        assert await show(points) == 1
        end = points[-1][0]
        assert await show(points + ((end + 0.5, points[-1][1]),)) == 0  # half a second on, the same value
        assert await show(points + ((end + 0.5, Decimal(90)),)) == 1  # a new low: the line moves


def test_the_time_range_drawn_moves_a_dot_at_a_time():
    # An hour of points (180 dots across, 20 s each): the range stands until the newest point passes a dot.
    assert frame(0.0, 5001.0, 3600, 180) == frame(0.0, 5019.0, 3600, 180) == (1420.0, 5020.0)
    assert frame(0.0, 5021.0, 3600, 180) == (1440.0, 5040.0)
    # A few minutes of session: a minute at least, then rounded up to a sixteenth of a power of two.
    assert frame(100.0, 110.0, 3600, 180)[1] - frame(100.0, 110.0, 3600, 180)[0] == 60.0
    start, end = frame(100.0, 400.0, 3600, 180)
    assert end - start == 304.0 and start <= 100.0 and end >= 400.0


async def test_the_session_is_thinned_on_a_grid_a_new_sample_leaves_alone(make_app, frozen_clock):
    """Twenty minutes of samples (more than a chart has dots): a new one changes only the newest
    stretch, so the older dots, and the chart, stand."""
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        panel = app.query_one(HistoryPanel)
        panel.hold = 0  # every sample drawn (CHART_EVERY has its own test)
        series = app.monitor.series
        series.clear()

        def add(t: float) -> None:
            series.add(Sample(int(t * 1000), "demo", Decimal("5"), Decimal(int(t) % 11), None, None, "ok"))

        for i in range(600):
            add(10_000.0 + 2 * i)
        panel.show(series)
        chart = app.query_one("#chart-equity", Chart)
        before = chart.points
        add(10_000.0 + 1200)
        panel.show(series)
        after = chart.points
        # The oldest sample gone and a new one: only the newest stretch differs (thinned from the
        # first point instead, every stretch would shift by a sample).
        assert len(before) < 600 and after[:len(before) - 1] == before[:-1]


async def test_new_samples_build_the_charts_at_most_every_few_seconds(make_app, frozen_clock):
    """plotext's build of three charts on every 1 s refresh was most of the CPU at 200x50 (issue
    25): samples newer than the drawn ones by less than CHART_EVERY wait for the next; a cleared
    series (another account) draws at once."""
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        panel = app.query_one(HistoryPanel)
        chart = app.query_one("#chart-equity", Chart)
        series = app.monitor.series
        series.clear()

        def add(t: float) -> None:
            series.add(Sample(int(t * 1000), "demo", Decimal("5"), Decimal(int(t) % 11), None, None, "ok"))
            panel.show(series)

        newest = []
        for second in range(11):
            add(10_000.0 + second)
            newest.append(chart.points[-1][0] - 10_000.0)
        assert CHART_EVERY == 5.0
        assert newest == [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 10]
        series.clear()
        add(5_000.0)  # older than the drawn ones: another series
        assert chart.points[-1][0] == 5_000.0
