"""How much of the screen each kind of state redraws: a refresh is one screen update, a clock tick
touches no table (issue 25: each refresh made 3-4 updates, each redrawing every visible widget)."""

from __future__ import annotations

import dataclasses

from pmtui.client import PapiClient
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.state import CLOCK, STATUS
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.status import StatusBar
from tests.core.test_monitor import real_state
from tests.support.harness import rendered, wait_until


def hand_app() -> PmtuiApp:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    return PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)


def fetching(state, seq: int):
    return dataclasses.replace(state, seq=seq, changed=frozenset({STATUS}),
                               status=dataclasses.replace(state.status, fetching=True))


async def test_a_refresh_that_ends_soon_is_one_screen_update_and_a_long_one_says_fetching(monkeypatch):
    import pmtui.tui.app

    monkeypatch.setattr(pmtui.tui.app, "FETCHING_SHOWN_AFTER", 60.0)  # "soon", however loaded the machine
    app = hand_app()
    first = real_state()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(first)
        await wait_until(pilot, lambda: app.state.view is not None, what="the first state")
        shown = []
        show = app.main.show_state
        app.main.show_state = lambda state, changed=None: shown.append(state.seq) or show(state, changed)
        # Fetch started, then its data: only the data is drawn.
        app.receive(fetching(first, 2))
        await pilot.pause()
        app.receive(dataclasses.replace(first, seq=3))
        await wait_until(pilot, lambda: shown, what="the data drawn")
        await pilot.pause()
        assert shown == [3] and app._held is None  # the held state was dropped, not delayed
        # A fetch still running after FETCHING_SHOWN_AFTER says so.
        monkeypatch.setattr(pmtui.tui.app, "FETCHING_SHOWN_AFTER", 0.01)
        app.receive(fetching(first, 4))
        await wait_until(pilot, lambda: "fetching" in rendered(app.query_one(StatusBar)), what="fetching…")
        assert shown == [3, 4]


async def test_a_clock_tick_with_nothing_new_touches_no_table():
    app = hand_app()
    state = real_state()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(state)
        await wait_until(pilot, lambda: app.state.view is not None, what="the first state")
        # One tick first: what the first state scheduled (its layout's repaint) lands before the
        # table is watched (it raced the ticks in a clean-clone run).
        app.receive(dataclasses.replace(state, seq=2, changed=frozenset({CLOCK}), unimmr_age=3.0))
        await wait_until(pilot, lambda: app.state.seq == 2, what="the first tick shown")
        await pilot.pause()
        table = app.query_one(PositionsTable)
        repaints: list[object] = []
        table.refresh = lambda *a, **k: repaints.append(a) or table  # type: ignore[method-assign]
        built = table.cells_built
        for seq in range(3, 6):
            app.receive(dataclasses.replace(state, seq=seq, changed=frozenset({CLOCK}), unimmr_age=2.0 + seq))
            await wait_until(pilot, lambda seq=seq: app.state.seq == seq, what="the tick shown")
        assert repaints == [] and table.cells_built == built
