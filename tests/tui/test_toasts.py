"""Where toasts go: never over the account panel (equity, maintenance margin, uniMMR) nor the
compact view's uniMMR line, at 80x24, 120x40 and 20x10, however many toasts stack up."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widgets._toast import Toast

from pmtui.state import Notice
from tests.support.harness import screen_text, settled

LONG = ("5 positions within 10% of liquidation: BTCUSDT long 0.1%, ETHUSDT long 2.3%, SOLUSDT long 5%"
        " +2 more. (+2 more: h shows the log)")


def toast_cells(app, region) -> list[tuple[int, int]]:
    """The cells of `region` (screen coordinates) where a toast is what is drawn."""
    screen = app.screen
    hits = []
    for y in range(region.y, region.bottom):
        for x in range(region.x, region.right):
            widget, _ = screen.get_widget_at(x, y)
            if any(isinstance(w, Toast) for w in (widget, *widget.ancestors)):
                hits.append((x, y))
    return hits


def any_toast_drawn(app) -> bool:
    return bool(toast_cells(app, app.screen.region))


async def stack_toasts(app, pilot, n: int = 4) -> None:
    for i in range(n):
        app._toast(Notice("Alert", f"{i}: {LONG}", "error", timeout=600))
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (60, 18), (200, 50)])
async def test_toasts_never_cover_the_account_panel(make_app, frozen_clock, size):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settled(pilot)
        await stack_toasts(app, pilot)
        assert any_toast_drawn(app)
        panel = app.query_one("#account").region
        assert panel.height >= 4
        assert toast_cells(app, panel) == []
        # Nor the header above it, nor the status bar's first line (LIVE or STALE, and how old)
        # and the footer below.
        assert toast_cells(app, app.query_one("#summary").region) == []
        status = app.query_one("#status").region
        assert toast_cells(app, Region(0, status.y, size[0], 1)) == []
        assert toast_cells(app, Region(0, size[1] - 1, size[0], 1)) == []


@pytest.mark.parametrize("size", [(20, 10), (40, 12), (59, 30)])
async def test_toasts_never_cover_the_compact_views_unimmr(make_app, frozen_clock, size):
    app = make_app(clock=frozen_clock, scenario="margin-call")
    async with app.run_test(size=size, notifications=True) as pilot:
        await settled(pilot)
        await stack_toasts(app, pilot)
        assert app.query_one("#compact").display and any_toast_drawn(app)
        rows = screen_text(app).splitlines()
        [y] = [y for y, row in enumerate(rows) if row.lstrip().startswith("uniMMR ")]
        line = app.screen.region.intersection(Region(0, y, size[0], 1))
        assert toast_cells(app, line) == []
        # What the compact view says above uniMMR (the account, the verdict and why) too.
        assert toast_cells(app, Region(0, 0, size[0], y)) == []
