"""Snapshots of the dashboard's main states at 80x24 (pytest-textual-snapshot).

The demo is seeded and every clock the screen shows is frozen (`frozen_clock`), so the SVGs are
identical run to run. After a deliberate UI change: `pytest tests/test_snapshots.py --snapshot-update`,
then look at the new SVGs (tests/__snapshots__/test_snapshots/) before committing them.
"""

from __future__ import annotations

from textual.pilot import Pilot

from pmtui.widgets.detail import DetailScreen
from pmtui.widgets.help import HelpScreen
from tests.harness import frozen_clock, make_app, refresh, settled, wait_until  # noqa: F401

SIZE = (80, 24)


def test_normal(snap_compare, make_app, frozen_clock):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        assert pilot.app.query_one("#positions").row_count == 12

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
        await pilot.press(*"s" * 12)  # Maint. -> ... -> uPnL (wraps around), largest first
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
