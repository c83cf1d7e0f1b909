"""The dashboard's exposure pane (or line), ADL column and the detail's next margin tier, on the demo."""

from __future__ import annotations

import re

from pmtui.riskfeed import RiskFeed
from pmtui.tui.widgets.detail import DetailScreen
from pmtui.tui.widgets.exposure import ExposureNote, ExposureTable
from pmtui.tui.widgets.positions import PositionsTable
from tests.support.harness import rendered, screen_text, settled, wait_until


async def test_a_pane_from_40_lines_and_a_line_below(make_app, frozen_clock):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        pane = app.main.query_one("#exposure", ExposureTable)
        assert pane.display and not app.main.query_one("#exposure-note", ExposureNote).display
        text = rendered(pane)
        assert "Exposure" in text and "Net USD" in text and "BTC" in text
        # The largest first: the demo's BTC book (UM, COIN-M and the coin's CM wallet together).
        assert app.monitor.view.exposure[0].coin == "BTC"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        note = app.main.query_one("#exposure-note", ExposureNote)
        assert note.display and not pane.display
        assert "Exposure BTC " in rendered(note) and "≈ " in rendered(note)


async def test_the_adl_column_and_the_next_tier_in_the_detail(make_app):
    app = make_app()
    app.monitor.risk_feed = RiskFeed(account_interval=app.settings.account_interval)  # the brackets
    async with app.run_test(size=(200, 50)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.state is not None and app.state.view is not None
                         and bool(app.state.view.um_brackets), what="the leverage brackets")
        await pilot.pause()
        table = app.main.query_one(PositionsTable)
        assert "ADL" in rendered(table)
        view = app.monitor.view
        top = view.row(table.cursor_key())
        assert top is not None and top.adl is not None
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause()
        shown = screen_text(app)
        assert re.search(rf"ADL quantile +{top.adl} of 4 ", shown)
        tier = view.next_tier(top)
        assert tier is not None and re.search(r"Next margin tier +[0-9,.]+ USD to the [0-9.]+% tier \(now ", shown)


async def test_the_panes_a_small_terminal_hides_build_no_cells_until_shown(make_app, frozen_clock):
    """Under 40 lines one line stands in for the exposure and balances panes: their cells built
    each refresh for nobody were a tenth of a refresh at 80x24. Made taller, they show at once."""
    from pmtui.tui.widgets.balances import BalancesTable

    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.state.balances is not None and app.monitor.view.exposure,
                         what="balances and exposure")
        app.main._render_view()
        exposure, balances = app.main.query_one("#exposure", ExposureTable), app.main.query_one(BalancesTable)
        assert not exposure.display and exposure.row_count == 0
        assert not balances.display and balances.row_count == 0
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: exposure.display and exposure.row_count > 0 and balances.row_count > 0,
                         what="the panes shown with their rows")
        assert "BTC" in rendered(exposure)
