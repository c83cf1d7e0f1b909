"""pmtui's own weight budget: a token bucket under a share of Binance's 6000/min IP limit, that
yields to other programs on the same IP, and that no key press can break."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from pmtui.budget import BURST_SECONDS, IP_CEILING, WEIGHT_LIMIT, WEIGHTS, WeightBudget
from pmtui.client import PapiClient
from pmtui.monitor import REFRESH_DEBOUNCE
from pmtui.settings import MIN_ACCOUNT_INTERVAL
from pmtui.signing import HmacSigner
from tests.support.harness import settled, wait_until
from tests.support.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, UM_ACCOUNT


class FakeTime:
    """A monotonic clock that only `sleep` moves: waits are recorded, never slept."""

    def __init__(self, wall: float = 1_736_942_400.0) -> None:
        self.now = 0.0
        self.wall0 = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall0 + self.now

    def perf_counter(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def random(self) -> float:
        return 0.5


def budget(t: FakeTime, share: float = 0.5) -> WeightBudget:
    return WeightBudget(share, clock=t)


def test_the_rate_is_the_share_of_binances_limit():
    b = WeightBudget(0.5)
    assert b.rate == 50.0  # 3000 weight per minute
    assert b.capacity == 50.0 * BURST_SECONDS
    with pytest.raises(ValueError):
        WeightBudget(0)
    with pytest.raises(ValueError):
        WeightBudget(1.5)


async def test_a_burst_goes_out_at_once_then_the_steady_rate_holds():
    t = FakeTime()
    b = budget(t)
    for _ in range(10):  # 100 weight: the bucket's capacity
        await b.acquire(10)
    assert t.sleeps == []
    for _ in range(300):  # then 3000 more weight
        await b.acquire(10)
    # 3000 weight at 50/s: one minute, give or take float rounding; never faster.
    assert t.now == pytest.approx(60.0, abs=0.01)
    assert b.sent == 3100


async def test_however_often_it_is_asked_the_weight_per_minute_stays_under_the_share():
    t = FakeTime()
    b = budget(t, share=0.5)
    spent = 0
    while t.now < 120:  # a held key: ask as fast as possible for two minutes
        await b.acquire(WEIGHTS[PM_ACCOUNT])
        spent += WEIGHTS[PM_ACCOUNT]
    assert spent <= b.capacity + b.rate * t.now + WEIGHTS[PM_ACCOUNT]
    assert spent / (t.now / 60) <= WEIGHT_LIMIT * 0.5 * 1.05


async def test_other_programs_near_the_limit_hold_pmtui_until_the_minute_rolls_over():
    t = FakeTime(wall=1_736_942_400.0 + 45)  # 45 s into a minute
    b = budget(t)
    b.observe(5300, server_ms=t.time() * 1000)  # the IP used 5300 of 6000 already
    assert b.wait_for(5) == 0  # 5305 is under the 90% ceiling (5400)
    b.observe(5398, server_ms=t.time() * 1000)
    assert b.wait_for(5) == pytest.approx(15.0)  # until the minute ends
    await b.acquire(5)
    assert t.sleeps == [pytest.approx(15.0)]
    assert b.ip_used is None  # a new minute: the old report no longer applies


def test_what_pmtui_sends_counts_against_the_reported_minute_until_the_next_report():
    t = FakeTime()
    b = budget(t)
    b.observe(int(WEIGHT_LIMIT * IP_CEILING) - 30, server_ms=t.time() * 1000)
    assert b.try_acquire(20) and b.ip_used == int(WEIGHT_LIMIT * IP_CEILING) - 10
    assert not b.try_acquire(20)  # would pass the ceiling


def test_a_request_that_must_go_out_is_counted_and_may_overdraw():
    t = FakeTime()
    b = budget(t)
    b.charge(int(b.capacity) + 20)
    assert b.wait_for(5) > 0


# --- in the client ------------------------------------------------------------------------------


async def test_the_client_waits_for_the_budget_before_signing(papi_server):
    t = FakeTime()
    shared = budget(t)
    async with PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                          budget=shared) as client:
        for _ in range(8):
            await client.pm_account()  # 8 x 20 weight: past the 100 the bucket holds
    assert t.sleeps, "the budget never made the client wait"
    # The timestamps were taken after each wait: the local server checks recvWindow against
    # real time, and a fake wait of seconds would otherwise have been refused (-1021).
    assert papi_server.count(PM_ACCOUNT) == 8


async def test_the_ips_reported_weight_slows_the_client_down(papi_server):
    t = FakeTime()
    papi_server.external_weight = 5390  # another program on this IP
    async with PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                          budget=budget(t)) as client:
        await client.um_account()
        assert client.budget.ip_used is not None and client.budget.ip_used >= 5390
        await client.um_account()
    assert t.sleeps and 0 < t.sleeps[-1] <= 60


# --- on the dashboard ---------------------------------------------------------------------------


async def test_holding_r_cannot_break_the_budget_or_the_account_spacing(make_app, papi_server):
    """Tried: holding `r` for 10 s sent 168 requests, 56 of them to /papi/v1/account."""
    app = make_app(base_url=papi_server.base_url, api_key=API_KEY, api_secret=API_SECRET)
    app.monitor.refresh_debounce = REFRESH_DEBOUNCE  # the harness turns both off for other tests
    app.client.budget = WeightBudget()
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        papi_server.requests.clear()
        started = time.monotonic()
        while time.monotonic() - started < 3.0:  # key repeat: ~30 presses a second
            await pilot.press("r")
            await asyncio.sleep(0.03)
        await wait_until(pilot, lambda: not app.monitor.fetching and not app.monitor.manual_pending, timeout=10)
        elapsed = time.monotonic() - started
    um, account = papi_server.count(UM_ACCOUNT), papi_server.count(PM_ACCOUNT)
    # `r` starts at most one refresh a second (the window's end included) ...
    assert um <= math.ceil(elapsed / REFRESH_DEBOUNCE) + 1, (um, elapsed)
    # ... and the 20-weight account keeps its spacing however often `r` is pressed.
    assert account <= math.ceil(elapsed / MIN_ACCOUNT_INTERVAL) + 1, (account, elapsed)
    assert um >= 2  # the presses were not simply ignored


async def test_the_status_bar_shows_the_ips_weight_from_the_header(make_app, papi_server):
    papi_server.external_weight = 1234
    app = make_app(base_url=papi_server.base_url, api_key=API_KEY, api_secret=API_SECRET)
    async with app.run_test(size=(140, 30)) as pilot:
        await settled(pilot)
        text = app.query_one("#status").render_text(app.status_info()).plain
    used = app.client.used_weight
    assert used is not None and used >= 1234
    assert f"weight {used}/6000" in text and "≈" not in text


def test_weight_share_is_a_setting_with_bounds(tmp_path):
    from pmtui.config import load_settings
    from pmtui.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text("weight_share = 0.25\n")
    assert load_settings(config_path=path).weight_share == 0.25
    for bad in ("0", "1.5", '"half"', "true"):
        path.write_text(f"weight_share = {bad}\n")
        with pytest.raises(ConfigError) as info:
            load_settings(config_path=path)
        assert "weight_share" in str(info.value)


def test_a_one_shot_may_spend_a_minutes_share_at_once_the_dashboard_two_seconds():
    from pmtui.budget import WeightBudget

    assert WeightBudget(0.5).capacity == 100  # 3000 a minute: 2 s of it
    assert WeightBudget(0.5, burst_seconds=60).capacity == 3000


async def test_check_of_several_accounts_with_the_risk_model_does_not_wait_for_the_bucket(capsys):
    """`--demo --all-profiles check` took 9 s (1.3 s of CPU): three accounts' refreshes and the
    risk model's inputs (collateral rates, margin leverage: 50 weight each) waited for a 2 s
    bucket to refill. A Nagios check has 10 s; a one-shot spends its minute's share at once."""
    from pmtui import commands
    from pmtui.fleet import Fleet, FleetOptions

    fleet = Fleet.build(FleetOptions(demo=True, all_profiles=True, one_shot=True))
    await commands.check(fleet)
    capsys.readouterr()
    assert fleet.budget is not None and fleet.budget.waited == 0.0
    # ...while it sent more than the dashboard's 2 s bucket holds (which would have waited).
    assert fleet.budget.sent > fleet.budget.rate * 2


def test_an_urgent_request_goes_before_the_calm_ones_waiting_on_a_shared_budget():
    """Fifty accounts on one budget: a burst of calm accounts' reconciles must not hold back the
    refresh of the one at WARN (pmtui.cadence sets PapiClient.urgent)."""
    from pmtui.budget import WeightBudget
    from pmtui.clock import ManualClock

    clock = ManualClock()
    budget = WeightBudget(0.5, clock=clock)  # 50 a second, 100 at most, 50 held back by the calm
    assert budget.try_acquire(90)
    clock.advance(1.0)  # 60 in the bucket
    assert budget.wait_for(20) == 0.0
    assert budget.wait_for(20, urgent=False) == pytest.approx((20 + 50 - 60) / 50)  # 0.2 s


async def test_clients_on_one_budget_measure_the_exchanges_clock_once(papi_server):
    """Fifty accounts of a fleet on one exchange: one /fapi/v1/time at start, not fifty in front of
    their first data; a client on a budget of its own still measures it itself."""
    shared = WeightBudget(1.0, limit=10**9)
    clients = [PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                          budget=shared) for _ in range(5)]
    alone = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                       budget=WeightBudget(1.0, limit=10**9))
    try:
        await asyncio.gather(*(c.um_account() for c in clients))
        assert papi_server.count("/fapi/v1/time") == 1
        assert len({c.time_offset_ms for c in clients}) == 1 and clients[0].time_offset_ms is not None
        await alone.um_account()
        assert papi_server.count("/fapi/v1/time") == 2
    finally:
        for c in (*clients, alone):
            await c.aclose()
