"""Headline figures that keep up (issue 19): uniMMR's poll at the positions' pace once the account
is at WARN or worse, a pushed event's follow-up fetched when the spacing ends (not a whole interval
later), and between two uniMMR figures an estimate from the live uPnL, marked as one everywhere.

The exchange is the canned transport of tests/cli/test_cli_risk.py; the clock is frozen, so every
cadence here is exact and nothing waits on wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from pmtui import fmt, output
from pmtui.health import Level
from pmtui.monitor import SPACING_MARGIN
from pmtui.risk import Estimate
from pmtui.settings import MIN_ACCOUNT_INTERVAL
from pmtui.state import STATUS
from pmtui.stream import PushStatus
from tests.cli.test_cli_risk import Canned, pm_body, um_body
from tests.core.test_monitor import Change, Published, _until, monitor_on, real_state
from tests.support.harness import rendered

PM = "/papi/v1/account"
BALANCE = "/papi/v1/balance"


def frozen_monitor(canned: Canned, clock, **settings):
    m = monitor_on(canned, clock, **settings)
    return m


async def test_at_warn_or_worse_uniMMR_is_polled_at_the_positions_pace(frozen_clock):
    canned = Canned(pm=(200, pm_body("1.30000000")))  # margin-call band: WARN
    m = frozen_monitor(canned, frozen_clock, interval=5, account_interval=30)
    m.on_push_status(PushStatus(up=True, reason=None, since=0.0, events=0))  # slowed to 90 s otherwise
    await m.refresh()
    assert m.state.verdict.level >= Level.WARN
    for n in (2, 3):
        frozen_clock.advance(5)
        await m.refresh()
        assert canned.seen.count(PM) == n  # every positions refresh brings Binance's own uniMMR
    # Never closer than MIN_ACCOUNT_INTERVAL, however fast the positions go.
    m.set_interval(1)
    frozen_clock.advance(1)
    await m.refresh()
    assert canned.seen.count(PM) == 3
    frozen_clock.advance(MIN_ACCOUNT_INTERVAL - 1)
    await m.refresh()
    assert canned.seen.count(PM) == 4
    # Healthy again: back to its own (pushed, slowed) cadence.
    canned.routes[PM] = (200, pm_body("3.00000000"))
    m.set_interval(5)
    frozen_clock.advance(5)
    await m.refresh()
    assert canned.seen.count(PM) == 5 and m.state.verdict.level == Level.OK
    frozen_clock.advance(5)
    await m.refresh()
    assert canned.seen.count(PM) == 5
    await m.aclose()


async def test_a_pushed_follow_up_inside_the_spacing_goes_when_it_ends(frozen_clock):
    canned = Canned()
    m = frozen_monitor(canned, frozen_clock, interval=30, account_interval=30)
    m.push_debounce = 3600.0  # the test runs the push's refresh itself
    await m.refresh()  # the account and the balances, at t = 0
    assert canned.seen.count(PM) == 1 and canned.seen.count(BALANCE) == 1
    frozen_clock.advance(2)
    m.on_push_event(Change("liabilityChange"))  # a loan moved: uniMMR and the balances did too
    await m.refresh()  # the push's refresh, 2 s after the last: the spacing holds both back
    assert canned.seen.count(PM) == 1 and canned.seen.count(BALANCE) == 1
    seen = Published(m)
    waiting = asyncio.ensure_future(m._sleep_until_due())
    try:
        await _until(lambda: any(STATUS in s.changed for s in seen))
        # The next refresh is planned for when the spacing ends, not 30 s (the interval) away.
        assert abs(seen[-1].status.next_in - (MIN_ACCOUNT_INTERVAL - 2 + SPACING_MARGIN)) < 1e-6
    finally:
        waiting.cancel()
    frozen_clock.advance(MIN_ACCOUNT_INTERVAL - 2 + SPACING_MARGIN)
    await m.refresh()
    assert canned.seen.count(PM) == 2 and canned.seen.count(BALANCE) == 2
    # Nothing held back any more: the plan is the interval again.
    seen.clear()
    waiting = asyncio.ensure_future(m._sleep_until_due())
    try:
        await _until(lambda: any(STATUS in s.changed for s in seen))
        assert seen[-1].status.next_in == 30
    finally:
        waiting.cancel()
    await m.aclose()


async def test_between_uniMMR_fetches_an_estimate_follows_the_upnl_and_binance_replaces_it(frozen_clock):
    canned = Canned(pm=(200, pm_body("3.00000000")))  # equity 3000, maintenance margin 1000
    m = frozen_monitor(canned, frozen_clock, interval=5, account_interval=30)
    await m.refresh()
    assert m.state.estimate is None  # Binance's own figure is the latest
    # The market moves: 500 of loss, and 100 more maintenance margin.
    canned.routes["/papi/v2/um/account"] = (200, um_body(upnl="-500.00000000", mm="1100.00000000"))
    frozen_clock.advance(5)
    await m.refresh()
    assert canned.seen.count(PM) == 1  # not due yet
    state = m.state
    est = state.estimate
    assert est == Estimate(Decimal("2500"), Decimal("1100"))
    assert est.uniMMR == Decimal(2500) / Decimal(1100)
    assert est.headroom.amount == Decimal("2500") - Decimal("1.05") * 1100
    # Binance's figure is untouched, and it alone judges the account.
    assert state.pm.uniMMR == Decimal("3.00000000") and state.view.unimmr == Decimal("3.00000000")
    assert state.verdict.level == Level.OK
    frozen_clock.advance(2)
    state = m.tick()
    assert state.estimate_age == 2 and state.unimmr_age == 7
    doc = json.loads(output.watch_json(state, [], []))["view"]["account"]
    assert doc["uniMMR"] == "3.00000000" and Decimal(doc["headroom"]["amount"]) == 1950
    assert Decimal(doc["uniMMREstimate"]) == est.uniMMR and Decimal(doc["equityEstimate"]) == 2500
    assert Decimal(doc["headroomEstimate"]["amount"]) == 1345 and doc["estimateAge"] == 2
    # Binance's own figure replaces the estimate the moment it comes.
    canned.routes[PM] = (200, pm_body("2.20000000"))
    frozen_clock.advance(30)
    await m.refresh()
    assert canned.seen.count(PM) == 2
    assert m.state.estimate is None and m.state.estimate_age is None
    assert "uniMMREstimate" not in json.loads(output.watch_json(m.state, [], []))["view"]["account"]
    await m.aclose()


async def test_the_account_panel_marks_the_estimate_and_keeps_binances_figure_in_sight():
    from textual.widgets import Digits

    from pmtui.client import PapiClient
    from pmtui.settings import Settings
    from pmtui.signing import HmacSigner
    from pmtui.tui.app import PmtuiApp

    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    app = PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)
    state = real_state()
    pm = state.pm
    estimate = Estimate(pm.accountEquity - 1, pm.accountMaintMargin)
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(seq=2, estimate=estimate, estimate_age=3.0, unimmr_age=12.0))
        await pilot.pause()
        panel = rendered(app.query_one("#unimmr-age")) + rendered(app.query_one("#account-facts"))
        assert app.query_one("#unimmr", Digits).value == fmt.ratio(estimate.uniMMR)
        assert "≈ est. 3s ago" in panel, panel
        assert "headroom ≈" in panel and " est." in panel
        assert "Binance uniMMR" in panel and "12s ago" in panel
        # Binance's figure comes: no estimate, no mark.
        app.receive(real_state(seq=3, unimmr_age=0.0))
        await pilot.pause()
        panel = rendered(app.query_one("#unimmr-age")) + rendered(app.query_one("#account-facts"))
        assert "est." not in panel and "≈" not in panel and "uniMMR 0s ago" in panel
