"""The one bridge from the Monitor to Textual (pmtui/tui/bridge.py): a burst of states waiting in a
queue is handled once, the newest wins, and nothing an intermediate state said is lost."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pmtui.alerts import AlertEvent
from pmtui.client import PapiClient
from pmtui.health import Level
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.state import ALERTS, CLOCK, DATA, MonitorState, Notice
from pmtui.tui.app import PmtuiApp
from pmtui.tui.bridge import StateChanged
from pmtui.tui.widgets.history import HistoryPanel
from pmtui.tui.widgets.overview import OverviewScreen
from tests.core.test_monitor import real_state
from tests.support.harness import wait_until
from tests.tui.test_accounts import demo_accounts, overview_app

N = 8


def toasts(app: PmtuiApp) -> list[tuple[str, str]]:
    """(title, message) of every toast from now on (the rack may expire the oldest that do not fit)."""
    told: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message, *, title="", **kwargs):
        told.append((title, message))
        notify(message, title=title, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return told


def hand_app() -> PmtuiApp:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    app = PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)
    app.remember_theme = False
    return app


def alert(i: int) -> AlertEvent:
    return AlertEvent(rule="unimmr_below", subject="account", value=Decimal(i), threshold=Decimal(2),
                      message=f"alert {i}", level=Level.WARN, time=1_736_942_400.0 + i)


def burst(base: MonitorState) -> list[MonitorState]:
    """N states: the first changes the data, each carries its own alert and notice, the rest only
    move the clock (a merge that kept the last state's `changed` would not redraw the tables)."""
    return [dataclasses.replace(base, seq=base.seq + i, changed=frozenset({DATA if i == 0 else CLOCK, ALERTS}),
                                alerts=(alert(i),), notices=(Notice("Alert", f"notice {i}"),))
            for i in range(N)]


def test_a_newer_state_of_the_same_account_replaces_an_older_one_and_carries_what_it_said():
    old, new = burst(real_state())[:2]
    first, second = StateChanged("alpha", old), StateChanged("alpha", new)
    assert first.can_replace(second)
    assert second.state.seq == new.seq and second.states == 2
    assert second.changed == {DATA, CLOCK, ALERTS}
    assert [a.message for a in second.state.alerts] == ["alert 0", "alert 1"]
    assert [n.message for n in second.state.notices] == ["notice 0", "notice 1"]
    # Another account's state, or another message, is never merged into this one.
    assert not StateChanged("bravo", old).can_replace(StateChanged("alpha", new))
    assert not first.can_replace(OverviewScreen.Opened("alpha"))


async def test_a_burst_posted_while_the_app_is_busy_is_drawn_once_and_loses_nothing():
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        renders: list[int] = []
        shown = app.show_state

        def counting(state, changed=None):
            renders.append(state.seq)
            shown(state, changed)

        app.show_state = counting  # type: ignore[method-assign]
        draws = 0
        draw = app.main._render_view

        def counting_draw():
            nonlocal draws
            draws += 1
            draw()

        app.main._render_view = counting_draw  # type: ignore[method-assign]
        told = toasts(app)
        states = burst(real_state())
        for state in states:  # no await between: the app's loop cannot run, as when it is busy
            app.receive(state)
        await wait_until(pilot, lambda: renders, what="the burst handled")
        await pilot.pause()
        assert renders == [states[-1].seq]  # one render, of the newest state
        assert app.state.seq == states[-1].seq
        assert draws == 1  # the first state's DATA was kept: the tables were redrawn
        logged = [e.message for e in app.query_one(HistoryPanel)._events]
        assert logged == [f"alert {i}" for i in range(N)]  # every intermediate alert in the log
        assert [m for _, m in told] == [f"notice {i}" for i in range(N)]  # and every notice toasted


async def test_several_accounts_a_burst_redraws_the_overview_once_and_toasts_every_notice():
    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        # The overview is on top, and the app listens (it shows the first state once the dashboard
        # below is mounted; states published by hand before that would reach nobody).
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.state is not None)
        overview = app.screen
        draws = 0
        draw = overview.draw

        def counting():
            nonlocal draws
            draws += 1
            draw()

        overview.draw = counting  # type: ignore[method-assign]
        told = toasts(app)
        other = next(a.monitor for a in accounts if a.monitor is not app.monitor)
        for state in burst(other.state):  # not the dashboard's account: its notices are toasts
            other.publish(*state.changed, notices=state.notices)
        await wait_until(pilot, lambda: draws and len(told) == N, what="the burst handled")
        await pilot.pause()
        assert draws == 1
        assert told == [(f"{other.profile} · Alert", f"notice {i}") for i in range(N)]


# --- the dashboard is the app's default screen ------------------------------------------------------


async def test_the_dashboards_keys_live_on_its_screen_and_act_only_there():
    from pmtui.tui.app import MainScreen
    from pmtui.tui.widgets.help import HelpScreen

    assert {b.action for b in PmtuiApp.BINDINGS} == {"help", "quit"}  # only what holds everywhere
    app = hand_app()
    asked: list[str] = []
    app.monitor.refresh_now = lambda: asked.append("r")  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.screen is app.main
        await pilot.press("r")
        await wait_until(pilot, lambda: asked == ["r"], what="r refreshes on the dashboard")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("r")  # help is on top: the dashboard's key does nothing there
        await pilot.pause()
        assert asked == ["r"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main)
        await pilot.press("r")
        await wait_until(pilot, lambda: asked == ["r", "r"], what="r refreshes again")
