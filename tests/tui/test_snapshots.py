"""Snapshots of the dashboard's main states at 80x24 (pytest-textual-snapshot).

The demo is seeded and every clock the screen shows is frozen (`frozen_clock`), so the SVGs are
identical run to run. After a deliberate UI change: `pytest tests/tui/test_snapshots.py --snapshot-update`,
then look at the new SVGs (tests/tui/__snapshots__/test_snapshots/) before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from pmtui.tui.widgets.detail import DetailScreen
from pmtui.tui.widgets.help import HelpScreen
from tests.support.harness import refresh, settled, wait_until

SIZE = (80, 24)


def test_normal(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        assert pilot.app.query_one("#positions").row_count == 13  # 12 USD-M positions, one COIN-M

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=SIZE, run_before=run_before)


def test_hedge_mode(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        assert "BTCUSDT:SHORT" in pilot.app.query_one("#positions").rows

    assert snap_compare(make_app(clock=frozen_clock, hedge=True), terminal_size=SIZE, run_before=run_before)


def test_stale_after_a_fault(snap_compare, make_app, frozen_clock):
    app = make_app(clock=frozen_clock)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        frozen_clock.advance(14)
        app.client._http._transport.fault = "503"
        await refresh(pilot)
        assert app.monitor.poller.stale

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_filtered_and_sorted(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("slash", *"usdt", "enter")  # filter, then back to the table
        await pilot.press(*"s" * 14)  # MM% -> Maint. -> ... -> ADL -> ... -> uPnL (wraps around), largest first
        await pilot.press("j")
        assert pilot.app.query_one("#positions").sort_column == "upnl"

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=SIZE, run_before=run_before)


def test_detail_panel(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("j", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=SIZE, run_before=run_before)


def test_whole_account_at_120x40(snap_compare, make_app, frozen_clock):
    """Issue 14's done-criterion: the uniMMR panel, assets, margin balances (the demo's USDT loan
    and its interest, WARN) and positions on one screen."""
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        assert pilot.app.query_one("#balances").row_keys[0] == "USDT"

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=(120, 40), run_before=run_before)


def _to_cm_row(pilot: Pilot) -> None:
    table = pilot.app.query_one("#positions")
    table.move_cursor(table.get_row_index("CM:BTCUSD_PERP:BOTH"))


def test_coin_m_row_at_120x40(snap_compare, make_app, frozen_clock):
    """The COIN-M position beside the USD-M ones, the cursor on it: its symbol marked CM, whole
    contracts, margins and uPnL in BTC (8 decimals), notional in USD."""
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        _to_cm_row(pilot)
        await pilot.pause()

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=(120, 40), run_before=run_before)


def test_coin_m_detail_panel(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        _to_cm_row(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))

    assert snap_compare(make_app(clock=frozen_clock), terminal_size=(80, 40), run_before=run_before)


# --- the margin-call scenario at the three sizes, dark and light ----------------------------------

MARGIN_CALL_SIZES = {"80x24": (80, 24), "120x40": (120, 40), "200x50": (200, 50)}


def only_the_test_refreshes(app):
    """No refresh of the app's own between the test's: the demo's pushed events ask for one after a
    debounce in real time, and with both cores busy it could come before the test's next refresh
    (which covers it) and move the demo's market a step further than the picture expects."""
    app.monitor.push_debounce = 1e9
    return app


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("size", list(MARGIN_CALL_SIZES))
def test_margin_call(snap_compare, make_app, frozen_clock, size, theme):
    """Twenty refreshes into the margin-call demo, from step 30 (where it is DANGER): positions
    near liquidation (CRITICAL marks and Liq% cells), large shares on an account in trouble, the
    alert log; at 200x50 the history panel beside the tables."""
    app = only_the_test_refreshes(make_app(clock=frozen_clock, scenario="margin-call", step=30))

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        pilot.app.theme = theme
        for _ in range(20):
            frozen_clock.advance(2)
            await refresh(pilot)
        pilot.app.clear_notifications()  # toasts fade on a real-time timer: the lasting screen
        await pilot.pause()

    assert snap_compare(app, terminal_size=MARGIN_CALL_SIZES[size], run_before=run_before)


# --- the history panel's charts (h) ------------------------------------------------------------------

HISTORY_SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("size", list(HISTORY_SIZES))
def test_history_charts(snap_compare, make_app, frozen_clock, size, theme):
    """`h` on the margin-call demo: uniMMR falling through its bands (1.5 / 1.2 lines), equity and
    the nearest liquidation distance over the session, the time axis in HH:MM (200x50: the side
    column of test_margin_call)."""
    app = only_the_test_refreshes(make_app(clock=frozen_clock, scenario="margin-call", step=20))

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        pilot.app.theme = theme
        for _ in range(30):
            frozen_clock.advance(2)
            await refresh(pilot)
        await pilot.press("h")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=HISTORY_SIZES[size], run_before=run_before)
