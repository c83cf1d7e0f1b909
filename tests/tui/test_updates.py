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


async def test_a_facts_line_gone_for_a_moment_moves_no_pane():
    """Binance's uniMMR line leaves the account facts for the refresh its figure comes with and is
    back on the next: the panel keeps its height meanwhile (each time, a relayout and a repaint of
    the whole screen), and gives it up only when the shorter text lasts."""
    from rich.text import Text

    from pmtui.tui.widgets.account import HOLD_UPDATES, AccountFacts

    app = hand_app()
    state = real_state()
    async with app.run_test(size=(80, 24)) as pilot:
        app.receive(state)
        await wait_until(pilot, lambda: app.state.view is not None, what="the first state")
        facts = app.query_one(AccountFacts)
        panel, positions = app.query_one("#account"), app.query_one(PositionsTable)
        lines = [6]
        facts.render_facts = lambda *args: Text("\n".join(f"fact {i}" for i in range(lines[0])))  # type: ignore[method-assign]
        seq = [1]

        async def tick() -> None:
            seq[0] += 1
            app.receive(dataclasses.replace(state, seq=seq[0], changed=frozenset({CLOCK}), unimmr_age=float(seq[0])))
            await wait_until(pilot, lambda: app.state.seq == seq[0], what="the tick shown")
            await pilot.pause()

        await tick()
        assert panel.size.height == 6
        top = positions.region.y
        layouts: list[bool] = []
        refresh = facts.refresh
        facts.refresh = lambda *a, **k: layouts.append(k.get("layout", False)) or refresh(*a, **k)  # type: ignore[method-assign]
        lines[0] = 5
        for _ in range(HOLD_UPDATES):
            await tick()
            assert panel.size.height == 6 and positions.region.y == top
        lines[0] = 6
        await tick()
        assert panel.size.height == 6 and positions.region.y == top and True not in layouts
        assert "fact 5" in rendered(facts)
        lines[0] = 5
        for _ in range(HOLD_UPDATES + 1):
            await tick()
        assert panel.size.height == 5 and positions.region.y == top - 1  # it lasted: the room goes back
