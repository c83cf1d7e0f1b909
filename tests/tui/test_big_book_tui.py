"""A book of hundreds of positions on the dashboard (issue 25): nothing that the screen does not
need holds the event loop."""

from __future__ import annotations

import gc

from pmtui.state import DATA
from tests.support.harness import settled, wait_until


async def test_the_start_up_heap_is_frozen_once_the_first_data_is_on_screen(make_app, monkeypatch):
    """A full garbage collection walked every object of start-up (~100 ms of CPU on the loop at
    1,000 positions): the CLI's dashboard freezes them once its first data is shown, and only
    once. Tests' apps do not (many apps in one process)."""
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    app = make_app()
    assert not app.freeze_heap  # tests' and embedders' apps leave the heap alone
    app.freeze_heap = True  # as pmtui.cli's _dashboard sets it
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: frozen, what="the heap frozen")
        later = app.monitor.publish(DATA)  # another state with data: no second freeze
        await wait_until(pilot, lambda: app.state.seq >= later.seq, what="the next state shown")
        assert frozen == [1] and app.state.view is not None
