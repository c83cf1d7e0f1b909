"""Several accounts on one weight budget, refreshed at the fleet's risk-ranked cadence
(pmtui.cadence): each account on a local test exchange of its own (127.0.0.1, one IP), a
ManualClock, and the refreshes driven step by step the way Monitor.run's wait would."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from pmtui.cadence import CALM_CADENCE
from pmtui.clock import ManualClock
from pmtui.fleet import Account, Fleet, FleetOptions
from pmtui.health import Level
from pmtui.markstream import AccountMarks, MarkFeed
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.stream import PushStatus, RiskLevelChange
from tests.support.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, PapiServer, pm_account_body

NAMES = ("calm0", "calm1", "calm2", "warn")
STEP = 1.0
UP = PushStatus(up=True, reason=None, since=0.0, events=0)
DOWN = PushStatus(up=False, reason="no event or pong for 40 s", since=0.0, events=0)


class LiveMarks(AccountMarks):
    """The public mark price stream as the cadence sees it: pricing the account, or not, as the
    test says (pmtui.markstream's own tests prove when it is)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(MarkFeed("ws://127.0.0.1:9", clock=clock))
        self.live, self.note = True, None

    def news(self, account, risks=None, cm=None, cm_risks=None) -> bool:
        return False

    def apply(self, account, risks, brackets, cm=None, cm_risks=None):
        return None  # REST's figures stand; `live` stays what the test set


def streamed(m: Monitor) -> None:
    """Both streams up: the user data stream (positions, balances, risk level) and the marks."""
    m.marks = LiveMarks(m.clock)  # type: ignore[arg-type]
    m.on_push_status(UP)


def pm_body(unimmr: str) -> dict:
    body = pm_account_body(0)
    body["uniMMR"] = unimmr
    return body


@pytest.fixture
def exchanges():
    servers = {name: PapiServer().start() for name in NAMES}
    servers["warn"].set_body(PM_ACCOUNT, pm_body("1.35"))  # under unimmr_warn (1.5)
    yield servers
    for server in servers.values():
        server.stop()


def every(gaps: list[float], seconds: float) -> bool:
    """Refreshed at least twice, `seconds` apart (give or take a step: a wait for the budget moves
    the clock a little)."""
    return bool(gaps) and all(seconds <= g < seconds + STEP for g in gaps)


class SteppingClock(ManualClock):
    """A ManualClock whose sleep moves it: a wait for the weight budget takes no real time."""

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.001))  # (a tiny wait added to an epoch-sized float is lost)
        await asyncio.sleep(0)


class Driver:
    """Monitor.run's decisions without its real-time waits: every STEP seconds of the clock, each
    account whose refresh is due (its cadence ran out, or something asked) refreshes."""

    def __init__(self, fleet: Fleet, clock: ManualClock, servers: dict[str, PapiServer]) -> None:
        self.fleet, self.clock, self.servers = fleet, clock, servers
        self.monitors: dict[str, Monitor] = {a.profile: a.monitor for a in fleet.watched}
        for m in self.monitors.values():
            # The ledger's background reads would sleep on this clock and so move it (tests of the
            # ledger: tests/core/test_ledger_monitor.py); the cadence is about the account's refreshes.
            m.ledger.first_delay = float("inf")
        self.times: dict[str, list[float]] = {name: [] for name in self.monitors}
        #: Accounts seen stale, or alerted "No fresh data", at a step's tick.
        self.stale: set[str] = set()
        self.no_fresh_data: set[str] = set()

    async def refresh(self, name: str) -> None:
        m = self.monitors[name]
        m._due = False
        self.times[name].append(self.clock.monotonic())
        assert await asyncio.wait_for(m.refresh(), 10), m.poller.error

    async def first(self, name: str) -> None:
        """An account's first data: its first screen (positions only), then at once the rest."""
        await self.refresh(name)
        assert self.monitors[name]._due  # the rest of the first refresh is asked for at once
        await self.refresh(name)

    def advance(self, seconds: float) -> None:
        """The test's clock moves, and the exchanges' with it (signed timestamps stay valid)."""
        self.clock.advance(seconds)
        for server in self.servers.values():
            server.clock_offset_ms += round(seconds * 1000)

    async def run(self, seconds: float) -> None:
        for _ in range(int(seconds / STEP)):
            self.advance(STEP)
            for name, m in self.monitors.items():
                if m._due or m._rest_delay() == 0:
                    await self.refresh(name)
                state = m.tick()  # the once-a-second state: its staleness and the rules
                if state.stale:
                    self.stale.add(name)
                if any(e.rule == "stale_for" for e in state.alerts):
                    self.no_fresh_data.add(name)

    def gaps(self, name: str, since: float) -> list[float]:
        t = [x for x in self.times[name] if x >= since]
        return [round(b - a, 3) for a, b in zip(t, t[1:], strict=False)]


async def test_calm_pushed_accounts_slow_down_warn_keeps_pace_a_dropped_stream_polls_fast_again(exchanges):
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       interval=5.0, base_url=exchanges[name].base_url)) for name in NAMES]
    fleet = Fleet.build(FleetOptions(profiles=NAMES), accounts, clock=clock)
    try:
        d = Driver(fleet, clock, exchanges)
        budget = fleet.budget
        assert budget is not None
        for name, m in d.monitors.items():  # first data, one account at a time
            streamed(m)
            await d.first(name)
            d.advance(2.5)
        warn = d.monitors["warn"]
        assert warn.level() == Level.WARN and d.monitors["calm0"].level() == Level.OK

        start, sent = clock.monotonic(), budget.sent
        await d.run(65)
        for name in ("calm0", "calm1", "calm2"):
            assert every(d.gaps(name, start), CALM_CADENCE[0]), d.times[name]
        assert every(d.gaps("warn", start), 5.0)  # its own interval
        # Calm and pushed on a 30 s cadence: never "stale" nor "No fresh data" (alert after 30 s).
        assert not d.stale and not d.no_fresh_data
        calm = d.monitors["calm0"]
        assert budget.sent - sent <= budget.rate * (clock.monotonic() - start) + budget.capacity

        # The stream drops: REST reconciles at once and polls at the account's own pace again.
        d.advance(10)  # 10 s into a 30 s wait
        calm.on_push_status(DOWN)
        assert calm._due
        dropped = clock.monotonic()
        await d.run(16)
        assert [t for t in d.times["calm0"] if t > dropped][0] == dropped + STEP  # the first step after
        assert every(d.gaps("calm0", dropped), 5.0)

        # A pushed all-clear is not announced until REST confirms it, and REST comes at once.
        exchanges["warn"].set_body(PM_ACCOUNT, pm_body("5.2"))
        warn.on_push_event(RiskLevelChange(event_time=warn.client.server_now_ms() + 1, uniMMR=Decimal("5.2"),
                                           status="NORMAL", equity=None, actual_equity=None, maint_margin=None))
        assert warn.level() == Level.WARN and warn.account_schedule.due(clock.monotonic())
        await d.run(6)  # the follow-up, once /papi/v1/account's 5 s spacing allows
        assert warn.level() == Level.OK
        assert budget.sent - sent <= budget.rate * (clock.monotonic() - start) + budget.capacity
    finally:
        await fleet.aclose()


async def test_a_stale_judgement_still_holds_for_a_pushed_account_past_its_cadence(exchanges):
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       base_url=exchanges[name].base_url)) for name in NAMES[:2]]
    fleet = Fleet.build(FleetOptions(profiles=NAMES[:2]), accounts, clock=clock)
    try:
        m = fleet.watched[0].monitor
        assert m is not None
        streamed(m)
        assert await m.refresh() and await m.refresh()  # the first screen, then the rest
        # (The rest waited for the start-up loan to be repaid, after its positions came: the clock moved.)
        waited = m.poller.age() or 0.0
        clock.advance(CALM_CADENCE[0] + 3)  # past the poller's 15 s, within the slow cadence's slack
        state = m.tick()
        assert not state.stale and state.status.age == pytest.approx(CALM_CADENCE[0] + 3 + waited, abs=0.5)
        assert not state.balance_stale and state.verdict is not None and not state.verdict.stale
        assert m._late_age() == pytest.approx(5.0 + waited, abs=0.5)
        clock.advance(40)  # REST is now late past its slow cadence too: stale, pushed or not
        state = m.tick()
        assert state.stale and any(e.rule == "stale_for" for e in state.alerts)
        m.on_push_status(DOWN)
        assert m.state.stale and m._late_age() == pytest.approx(CALM_CADENCE[0] + 43 + waited, abs=0.5)
    finally:
        await fleet.aclose()


async def test_an_account_whose_refresh_failed_retries_on_its_backoff_not_its_slow_cadence(exchanges):
    """A first request that timed out under load left one account of 50 without data for good:
    the wait's re-check took the backoff (counted from now) for a cadence that had not run out."""
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       interval=1.0, base_url=exchanges[name].base_url)) for name in NAMES[:2]]
    fleet = Fleet.build(FleetOptions(profiles=NAMES[:2]), accounts, clock=clock)
    try:
        m = fleet.watched[0].monitor
        assert m is not None
        exchanges[NAMES[0]].set_mode("503")
        assert not await m.refresh()
        await asyncio.wait_for(m._sleep_until_due(), 5)  # the backoff (about a second) ran out: retry
    finally:
        await fleet.aclose()


async def test_a_sleeping_account_follows_a_faster_plan_without_being_woken(exchanges, monkeypatch):
    """At start every account's plan is slow (no stream up yet, nothing known, all on one budget);
    one that went to sleep on it must take the faster plan once the fleet settles, not sleep on."""
    import pmtui.cadence
    import pmtui.monitor

    monkeypatch.setattr(pmtui.monitor, "PACE_RECHECK", 0.05)
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       base_url=exchanges[name].base_url)) for name in NAMES[:2]]
    fleet = Fleet.build(FleetOptions(profiles=NAMES[:2]), accounts, clock=clock)
    try:
        m = fleet.watched[0].monitor
        assert m is not None
        streamed(m)
        assert await m.refresh() and await m.refresh()  # the first screen, then the rest
        m._due = False
        sleeping = asyncio.ensure_future(m._sleep_until_due())
        await asyncio.sleep(0.2)
        assert not sleeping.done()  # calm and pushed: 30 s
        monkeypatch.setattr(pmtui.cadence, "CALM_CADENCE", (3.0, 60.0))  # the plan changes, nobody wakes it
        m.pacer._inputs = None  # (the Pacer re-plans when its inputs change; here its constants did)
        clock.advance(3.5)
        await asyncio.wait_for(sleeping, 2)
    finally:
        await fleet.aclose()


async def test_check_all_profiles_fetches_every_account_at_once_without_waiting_for_the_budget(exchanges, capsys):
    """`check --all-profiles` on local exchanges: every account answered, concurrently, within the
    one-shot's burst (nothing waited for the bucket), and no pacer on a one-shot."""
    from pmtui import commands

    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET,
                                       base_url=exchanges[name].base_url)) for name in NAMES]
    fleet = Fleet.build(FleetOptions(profiles=NAMES, one_shot=True), accounts)
    try:
        code = await commands.check(fleet)
    finally:
        await fleet.aclose()
    out = capsys.readouterr().out
    assert code == 1 and "warn WARNING" in out and "4 accounts checked" in out  # WARNING: uniMMR 1.35
    assert fleet.budget is not None and fleet.budget.waited == 0.0 and fleet.budget.sent > fleet.budget.rate * 2
    assert all(a.monitor is not None and a.monitor.pacer is None for a in fleet.accounts)


async def test_marks_that_stop_pricing_a_calm_account_put_it_back_on_its_own_pace(exchanges):
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       interval=5.0, base_url=exchanges[name].base_url)) for name in NAMES[:2]]
    fleet = Fleet.build(FleetOptions(profiles=NAMES[:2]), accounts, clock=clock)
    try:
        d = Driver(fleet, clock, exchanges)
        for name, m in d.monitors.items():
            streamed(m)
            await d.first(name)
        calm = d.monitors["calm0"]
        assert calm.pushed
        start = clock.monotonic()
        await d.run(70)  # the first slow reconcile comes at a random point of the cadence
        assert every(d.gaps("calm0", start), CALM_CADENCE[0]), d.times["calm0"]
        # The user stream is still up, but the marks no longer price the account: REST again.
        calm.marks.live = False  # type: ignore[union-attr]
        calm.tick()
        assert not calm.pushed and calm._due
        stopped = clock.monotonic()
        await d.run(16)
        assert every(d.gaps("calm0", stopped), 5.0), d.times["calm0"]
    finally:
        await fleet.aclose()


async def test_a_fleet_sends_every_first_screen_at_once_on_a_loan_then_the_rest(exchanges):
    """50 accounts' full first refreshes are ~2,750 weight, a minute of the budget: each account's
    first refresh asks for its positions and uniMMR only (so the fleet knows at once which are at
    WARN), on a start-up loan every first screen fits in at once, and balances and COIN-M come
    with the next refresh, once the loan is repaid."""
    from pmtui.budget import FIRST_SCREEN_WEIGHT

    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       base_url=exchanges[name].base_url)) for name in NAMES]
    fleet = Fleet.build(FleetOptions(profiles=NAMES), accounts, clock=clock)
    try:
        d = Driver(fleet, clock, exchanges)
        budget = fleet.budget
        assert budget is not None and budget.debt == len(NAMES) * FIRST_SCREEN_WEIGHT
        start = clock.monotonic()
        for name in NAMES:
            await d.refresh(name)
        assert clock.monotonic() == start and budget.waited == 0.0  # every first screen at once
        for name, server in exchanges.items():
            assert server.count("/papi/v2/um/account") == server.count("/papi/v1/um/positionRisk") == 1
            assert server.count("/papi/v1/account") == 1 and server.count("/papi/v1/balance") == 0, name
            assert server.count("/papi/v1/cm/account") == 0
        calm, warn = d.monitors["calm0"], d.monitors["warn"]
        assert calm.view is not None and calm.level() == Level.OK and calm._due
        assert warn.level() == Level.WARN
        # With data: the rest never spends the loan (WeightBudget.lend), that is for first screens
        # and for accounts at risk.
        calm.cadence()
        warn.cadence()
        assert not calm.client.first_screen and not calm.client.at_risk and warn.client.at_risk
        await d.refresh("calm0")
        assert exchanges["calm0"].count("/papi/v1/balance") == 1 and calm.level() == Level.OK
    finally:
        await fleet.aclose()


async def test_in_a_fleet_the_listen_key_and_exchange_info_wait_for_the_first_screen(exchanges):
    """50 listen keys and exchangeInfo requests at start would stand in front of 50 first screens
    at the exchange: a fleet's account asks for them once its positions came."""
    from pmtui.stream import UserStream

    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       base_url=exchanges[name].base_url, stream_url="ws://127.0.0.1:9/pm/ws"))
                for name in NAMES[:2]]
    fleet = Fleet.build(FleetOptions(profiles=NAMES[:2]), accounts, stream=True)
    m = fleet.watched[0].monitor
    assert m is not None and isinstance(m.stream, UserStream) and m.pacer is not None
    server = exchanges[NAMES[0]]
    server.inject("slow", delay=0.3, path="/papi/v2/um/account")
    task = asyncio.ensure_future(m.run())
    try:
        await asyncio.wait_for(until(lambda: server.count("/papi/v2/um/account") >= 1), 5)
        assert server.count("/papi/v1/listenKey") == server.count("/fapi/v1/exchangeInfo") == 0
        await asyncio.wait_for(until(lambda: server.count("/papi/v1/listenKey") >= 1), 5)
        assert m.poller.data is not None  # only once the first screen was there
    finally:
        task.cancel()
        await fleet.aclose()


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_an_account_at_warn_is_not_held_behind_the_start_up_loan(exchanges):
    """Fifty accounts' first screens spend a loan the budget repays over the next half minute; the
    calm ones wait for it, and an account at WARN (known at its first screen, by its uniMMR) keeps
    being refreshed meanwhile, on part of the refill: its data is seconds old, not 40-86 s."""
    clock = SteppingClock(time.time())
    accounts = [Account(name, Settings(profile=name, api_key=API_KEY, api_secret=API_SECRET, risk_model=False,
                                       base_url=exchanges[name].base_url)) for name in NAMES]
    fleet = Fleet.build(FleetOptions(profiles=NAMES), accounts, clock=clock)
    try:
        d = Driver(fleet, clock, exchanges)
        budget = fleet.budget
        assert budget is not None
        for name in NAMES:
            await d.refresh(name)  # each first screen, on the loan
        budget.lend(1500)  # ... and 46 more accounts' (a minute to repay)
        budget._take(round(budget._tokens))
        warn, calm = d.monitors["warn"], d.monitors["calm0"]
        assert warn.level() == Level.WARN and calm.level() == Level.OK
        warn.cadence()
        calm.cadence()
        start = clock.monotonic()
        await d.refresh("warn")  # the rest of its first refresh: balances, the ADL queue, the locks
        await d.refresh("warn")  # and its next refresh
        assert clock.monotonic() - start < 10.0  # ~105 weight at 25 a second (REPAY_SHARE 0.5)
        await d.refresh("calm0")  # the calm account's waits for the repayment
        assert clock.monotonic() - start > 25.0
    finally:
        await fleet.aclose()
