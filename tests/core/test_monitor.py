"""The Monitor without a terminal: what it fetches and when, the states it publishes, pushed
events, and the app rendering states built by hand (no exchange at all).

Exchanges here: the canned transport of tests/cli/test_cli_risk.py (hand-made bodies, changeable
between refreshes) and the real payloads of tests/fixtures/real. Clocks are frozen where
cadences matter; nothing waits on wall-clock time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from pmtui.alerts import FIRED
from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.health import Level
from pmtui.models import parse_pm_account, parse_um_account
from pmtui.monitor import PUSH_SLOWDOWN, Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.state import ALERTS, DATA, FAULT, PUSH, STATUS, MonitorState, StatusInfo
from pmtui.stream import AccountChange, PushStatus, RiskLevelChange
from pmtui.views import build_view
from tests.cli.test_cli_risk import Canned, pm_body
from tests.core.test_real_payloads import raw
from tests.support.harness import rendered

PM = "/papi/v1/account"
UM = "/papi/v2/um/account"


def monitor_on(transport, clock=None, **settings) -> Monitor:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), transport=transport,
                        budget=WeightBudget(1.0, limit=10**9),
                        **({"clock": clock} if clock else {}))
    m = Monitor(settings=Settings(**settings), client=client)
    m.refresh_debounce = 0.0
    return m


class Published(list):
    """Every state a monitor publishes, in order."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__()
        monitor.subscribe(self.append)

    def changed(self) -> list[frozenset[str]]:
        return [s.changed for s in self]


def Risk(uniMMR: Decimal, status: str | None = None, event_time: int = 1) -> RiskLevelChange:
    return RiskLevelChange(event_time=event_time, uniMMR=uniMMR, status=status, equity=None,
                           actual_equity=None, maint_margin=None)


def Change(kind: str) -> AccountChange:
    return AccountChange(kind=kind, event_time=1)


async def test_a_refresh_publishes_fetching_then_data_and_states_are_immutable():
    m = monitor_on(Canned())
    seen = Published(m)
    assert await m.refresh()
    assert seen.changed()[0] == {STATUS} and seen[0].status.fetching
    last = seen[-1]
    assert DATA in last.changed and not last.status.fetching
    assert last.view is not None and last.verdict is not None and last.pm is not None
    assert last.seq > seen[0].seq
    with pytest.raises(dataclasses.FrozenInstanceError):
        last.view = None  # type: ignore[misc]
    await m.aclose()


async def test_uniMMR_keeps_its_own_cadence(frozen_clock):
    canned = Canned()
    m = monitor_on(canned, frozen_clock, interval=5, account_interval=30)
    await m.refresh()
    assert canned.seen.count(PM) == 1
    frozen_clock.advance(10)
    await m.refresh()
    assert canned.seen.count(PM) == 1  # 10 s after: not due
    frozen_clock.advance(21)
    await m.refresh()
    assert canned.seen.count(PM) == 2  # 31 s after: due
    await m.aclose()


async def test_a_fault_publishes_once_with_a_notice_and_recovery_says_so():
    canned = Canned()
    m = monitor_on(canned)
    seen = Published(m)
    await m.refresh()
    canned.routes[UM] = (503, {"code": -1001, "msg": "Internal error; unable to process your request."})
    await m.refresh()
    await m.refresh()
    faults = [s for s in seen if FAULT in s.changed]
    assert len(faults) == 2
    assert [n.title for n in faults[0].notices] == ["Refresh failed"] and not faults[1].notices
    assert faults[0].view is not None and faults[0].status.error is not None  # the last data stays
    canned.routes[UM] = Canned().routes[UM]
    await m.refresh()
    assert [n.message for n in seen[-1].notices] == ["Live data again."]
    await m.aclose()


async def test_a_subscriber_that_fails_does_not_stop_the_others():
    m = monitor_on(Canned())
    got: list[MonitorState] = []

    def broken(state):
        raise RuntimeError("bug in a subscriber")

    m.subscribe(broken)
    m.subscribe(got.append)
    await m.refresh()
    assert got and DATA in got[-1].changed
    await m.aclose()


async def test_r_held_down_is_one_refresh_per_debounce_window():
    canned = Canned()
    m = monitor_on(canned)
    m.refresh_debounce = 0.2
    task = asyncio.ensure_future(m.run())
    try:
        await _until(lambda: canned.seen.count(UM) == 1)
        for _ in range(30):  # key repeat: 30 presses at once
            m.refresh_now()
        await _until(lambda: canned.seen.count(UM) >= 2)
        assert m.manual_pending  # the rest wait for the window's end, coalesced
        await _until(lambda: not m.manual_pending and canned.seen.count(UM) >= 3)
        await asyncio.sleep(0.3)
        assert canned.seen.count(UM) == 3  # 30 presses: the first at once, one at the window's end
    finally:
        task.cancel()
        await m.aclose()


async def test_run_pauses_resumes_and_aclose_stops_it():
    canned = Canned()
    m = monitor_on(canned, interval=1)
    task = asyncio.ensure_future(m.run())
    await _until(lambda: canned.seen.count(UM) == 1)
    m.set_paused(True)
    await _until(lambda: m.state.status.paused and m.state.status.next_in is None)
    assert m.state.status.paused_since is not None
    m.set_paused(False)  # resuming fetches at once
    await _until(lambda: canned.seen.count(UM) == 2)
    await m.aclose()
    await asyncio.wait_for(task, 5)
    assert m.client._http.is_closed


# --- push -------------------------------------------------------------------------------------


async def test_a_risk_level_change_is_on_the_state_at_once_and_alerts():
    m = monitor_on(Canned(pm=(200, pm_body("3.00000000"))))
    await m.refresh()
    seen = Published(m)
    assert m.state.verdict.level == Level.OK
    now = m.client.server_now_ms()  # after the REST uniMMR: news
    m.on_push_event(Risk(uniMMR=Decimal("1.10"), status="REDUCE_ONLY", event_time=now))
    state = seen[-1]  # published synchronously: no fetch in between
    assert {DATA, PUSH} <= state.changed
    assert state.view.unimmr == Decimal("1.10") and state.pm.accountStatus == "REDUCE_ONLY"
    assert state.verdict.level >= Level.DANGER and state.unimmr_age < 1
    assert ALERTS in state.changed and any(e.state == FIRED and e.rule == "unimmr_below" for e in state.alerts)
    assert any(n.bell for n in state.notices)
    # An older event (ordered by E) does not undo the newer one.
    m.on_push_event(Risk(uniMMR=Decimal("1.3"), status="MARGIN_CALL", event_time=now - 1))
    assert m.state.view.unimmr == Decimal("1.10")
    await m.aclose()


async def test_a_risk_level_change_asks_rest_to_confirm_and_account_events_refresh():
    canned = Canned()
    m = monitor_on(canned)
    m.push_debounce = 0.01
    task = asyncio.ensure_future(m.run())
    try:
        await _until(lambda: canned.seen.count(UM) == 1)
        for _ in range(5):  # a burst of events: one refresh
            m.on_push_event(Change("ORDER_TRADE_UPDATE"))
        await _until(lambda: canned.seen.count(UM) == 2)
        await asyncio.sleep(0.1)
        assert canned.seen.count(UM) == 2
        m.on_push_event(Change("SOMETHING_ELSE"))  # not an account change: nothing
        await asyncio.sleep(0.1)
        assert canned.seen.count(UM) == 2
    finally:
        task.cancel()
        await m.aclose()


async def test_push_up_slows_the_uniMMR_poll_and_push_down_restores_it(frozen_clock):
    canned = Canned()
    m = monitor_on(canned, frozen_clock, interval=5, account_interval=30)
    m.on_push_status(PushStatus(up=True, reason=None, since=0.0, events=0))
    assert m.state.status.push.up
    await m.refresh()
    frozen_clock.advance(31)
    await m.refresh()
    assert canned.seen.count(PM) == 1  # slowed: due after 30 * PUSH_SLOWDOWN s
    m.on_push_status(PushStatus(up=False, reason="no event or pong for 40 s", since=1.0, events=0))
    assert m.state.status.push.reason == "no event or pong for 40 s"
    await m.refresh()
    assert canned.seen.count(PM) == 2  # back on its own cadence: 31 s since the last is due
    assert PUSH_SLOWDOWN > 1
    await m.aclose()


# --- the app renders states, with no exchange -------------------------------------------------


def real_state(**overrides) -> MonitorState:
    """A state built by hand from Binance's own example payloads (docs pages)."""
    um = parse_um_account(raw("docs/um_account_v2.en.json"))
    pm = parse_pm_account(raw("connector_tests/account_information.json"))
    view = build_view(um, Settings().thresholds, pm=pm)
    status = StatusInfo(paused=False, stopped=False, stale=False, error=None, age=2.0,
                        last_ok_wall=1_736_942_400.0, interval=2.0, next_in=1.0, fetching=False,
                        latency_ms=40.0, used_weight=30, offset_ms=5,
                        push=PushStatus(up=True, reason=None, since=0.0, events=3))
    fields = dict(seq=1, changed=frozenset({DATA}), view=view, verdict=view.verdict(), status=status,
                  account=um, pm=pm, unimmr_age=2.0)
    return MonitorState(**(fields | overrides))


async def test_the_app_shows_a_hand_built_state():
    from pmtui.tui.app import PmtuiApp
    from pmtui.tui.widgets.status import StatusBar
    from pmtui.tui.widgets.summary import SummaryBar

    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    app = PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)
    state = real_state()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(state)
        await pilot.pause()
        header = rendered(app.query_one(SummaryBar))
        assert state.verdict.word in header and "HAND" in header
        bar = rendered(app.query_one(StatusBar))
        assert "LIVE" in bar and "push ✓" in bar and "weight 30/6000" in bar
        assert app.query_one("#positions").row_count == len(state.view.open_positions)
        refused = PushStatus(up=False, reason="the exchange refused the stream", since=1.0, events=3)
        down = dataclasses.replace(state.status, push=refused, stale=True, error=None)
        app.receive(real_state(seq=2, changed=frozenset({PUSH}), status=down))
        await pilot.pause()
        bar = rendered(app.query_one(StatusBar))
        assert "push down · polling" in bar and "the exchange refused the stream" in bar
        assert "STALE" in bar and app.query_one("#positions").has_class("-stale")
    assert client._http.is_closed  # the app closes what it was given


async def _until(condition, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


async def test_the_clock_ticks_a_second_after_the_last_state_and_not_just_before_a_refresh():
    """Every state carries the ages: a tick a second after the last one, never beside it, and a
    refresh under way or due by then comes instead (at a 1 s interval each second was a tick and a
    refresh, two screen updates for one second's change)."""
    from pmtui.clock import ManualClock
    from pmtui.monitor import TICK, TICK_HOLD

    clock = ManualClock()
    m = monitor_on(Canned(), clock=clock, interval=5)
    assert await m.refresh()
    assert m._tick_wait() == pytest.approx(TICK)
    clock.advance(0.6)
    assert m._tick_wait() == pytest.approx(TICK - 0.6)
    m.publish(STATUS)  # any state: its ages are on screen now
    assert m._tick_wait() == pytest.approx(TICK)
    m.next_at = clock.monotonic() + TICK + TICK_HOLD / 2  # the next refresh lands about when the tick would
    assert m._tick_wait() == pytest.approx(TICK + TICK_HOLD)
    m.next_at = clock.monotonic() + 3 * TICK
    assert m._tick_wait() == pytest.approx(TICK)
    m.fetching = True  # a refresh under way
    assert m._tick_wait() == pytest.approx(TICK + TICK_HOLD)
