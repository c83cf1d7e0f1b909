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


async def test_a_thousand_coins_build_cells_only_for_the_rows_on_screen():
    """A book of 1,000 positions has as many coins: the pane sorts them all by their figures but
    builds cells only for the rows it shows (every row's cells took ~300 ms a refresh)."""
    from decimal import Decimal

    from textual.app import App, ComposeResult

    from pmtui.exposure import CoinExposure

    built: list[str] = []

    class Counted(ExposureTable):
        def cells(self, e: CoinExposure):  # type: ignore[no-untyped-def]
            built.append(e.coin)
            return super().cells(e)

    class PaneApp(App[None]):
        CSS = "ExposureTable { height: 1fr; }"

        def compose(self) -> ComposeResult:
            yield Counted()

    rows = tuple(CoinExposure(f"C{i:04d}", um=Decimal(i), price=Decimal(2)) for i in range(1000))
    app = PaneApp()
    async with app.run_test(size=(100, 12)) as pilot:  # 10 rows under the header
        table = app.query_one(ExposureTable)
        table.show(rows)
        await pilot.pause()
        assert table.row_count == 1000 and len(built) <= 12
        assert table.row_keys[:2] == ["C0999", "C0998"]  # the largest gross USD first
        assert "C0999" in rendered(table) and "+$1,998" in rendered(table)
        built.clear()
        moved = tuple(CoinExposure(e.coin, um=e.um + 1, price=e.price) for e in rows)  # every coin moved
        table.show(moved)
        await pilot.pause()
        assert len(built) <= 12 and "+$2,000" in rendered(table)
        # The book shrinks below LAZY_FROM to just the rows whose cells were built: only those
        # rows are left (not the 1,000 rows' order with unbuilt rows in it).
        kept = tuple(e for e in moved if e.coin in table._rows)
        table.show(kept)
        await pilot.pause()
        assert table.row_count == len(kept) < 20 and table.row_keys[0] == "C0999"
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
        # Nor its title (a sum over every coin: 1,000 at 1,000 positions), made once it shows.
        assert not str(exposure.border_title or "").startswith("Exposure")
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: exposure.display and exposure.row_count > 0 and balances.row_count > 0,
                         what="the panes shown with their rows")
        assert "BTC" in rendered(exposure)
        assert re.fullmatch(r"Exposure \d+ coins · gross \$[\d,]+", str(exposure.border_title))
