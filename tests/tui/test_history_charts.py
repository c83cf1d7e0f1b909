"""The history panel's charts (h): drawn again on a new sample, never on a tick; H cycles the span."""

from __future__ import annotations

import re

from pmtui.state import CLOCK
from pmtui.tui.widgets.history import Chart, HistoryPanel, time_ticks
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
