"""--kiosk (a wall screen, a served page anyone may click) and the served page's title."""

from __future__ import annotations

import re

import pytest

from pmtui.tui.app import title_of
from tests.support.harness import settled

SIZE = (100, 30)


async def test_kiosk_keys_that_would_end_or_freeze_the_view_do_nothing(make_app):
    app = make_app()
    app.kiosk = True
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        for key in ("q", "ctrl+q", "ctrl+c", "p", "ctrl+p", "ctrl+z"):
            await pilot.press(key)
            await pilot.pause()
            assert app.is_running and app.return_code is None, key
        assert not app.monitor.poller.paused
        assert app.screen is app.screen_stack[0]  # no command palette (it can quit)
        shown = [b.binding.description for b in app.active_bindings.values() if b.enabled and b.binding.show]
        assert "Quit" not in shown and "Pause" not in shown, shown
        await pilot.press("r")  # the view's own keys still work
        await pilot.pause()
        assert app.is_running


async def test_without_kiosk_q_still_quits(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


@pytest.fixture
def written(monkeypatch) -> list[str]:
    """What the app writes to its (headless) terminal."""
    from textual.drivers.headless_driver import HeadlessDriver

    seen: list[str] = []
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: seen.append(data))
    return seen


async def test_a_served_dashboard_puts_its_verdict_in_the_terminal_title(make_app, written):
    app = make_app()
    app.page_title = True
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await settled(pilot, 2)
        titles = [t for t in written if t.startswith("\x1b]2;")]
        assert titles, written[:3]
        assert re.fullmatch(r"\x1b]2;pmtui ✓ OK \d+\.\d\x07", titles[-1]), titles[-1]
        assert titles[-1] == f"\x1b]2;{title_of(app.state)}\x07"


async def test_an_unserved_dashboard_leaves_the_terminal_title_alone(make_app, written):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await settled(pilot, 2)
    assert not [t for t in written if "\x1b]2;" in t]


async def test_a_stale_title_shows_no_figure(make_app):
    from dataclasses import replace

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        state = app.state
        assert title_of(state).startswith("pmtui ✓ OK ")
        stale = replace(state, status=replace(state.status, stale=True),
                        verdict=replace(state.verdict, stale=True))
        assert title_of(stale) == "pmtui ◌ STALE · last OK"
