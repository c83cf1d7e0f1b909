"""The table of endpoints (pmtui.endpoints), the schedule every polled endpoint keeps
(pmtui.schedule), and the one clock a Fleet hands down (pmtui.clock)."""

from __future__ import annotations

import pytest

from pmtui.budget import WEIGHTS
from pmtui.client import READ_ONLY_PATHS, SAPI_PATHS
from pmtui.clock import ManualClock
from pmtui.endpoints import BALANCE, BY_PATH, CM_ACCOUNT, ENDPOINTS, LISTEN_KEY, PM_ACCOUNT
from pmtui.errors import ApiError, AuthError, ServerError
from pmtui.fleet import Fleet, FleetOptions
from pmtui.schedule import Schedule


def test_every_endpoint_is_one_row_the_client_and_the_budget_read():
    assert len(BY_PATH) == len(ENDPOINTS)  # one row a path
    assert READ_ONLY_PATHS == {e.path for e in ENDPOINTS} - {LISTEN_KEY.path}
    assert SAPI_PATHS == {e.path for e in ENDPOINTS if e.host == "sapi"}
    assert WEIGHTS == {e.path: e.weight for e in ENDPOINTS}
    for e in ENDPOINTS:
        assert e.path.startswith(f"/{e.host}/"), e  # the host the path is documented on
        assert e.methods == {"GET"} or e is LISTEN_KEY  # nothing else may change anything
        assert not e.absent_ok or e.optional, e  # a 404 may only leave out an optional part


def test_what_a_refusal_or_a_404_means_is_the_tables():
    refused = AuthError("no", status=401, code=-2015)
    assert BALANCE.unavailable(refused) == ("the exchange refused /papi/v1/balance (code -2015); "
                                            "the API key may lack access to it")
    missing = ApiError("gone", status=404, code=-5000)
    assert BALANCE.unavailable(missing) == "the exchange does not serve /papi/v1/balance (HTTP 404)"
    assert CM_ACCOUNT.unavailable(missing) == "the exchange does not serve /papi/v1/cm/account (HTTP 404)"
    # uniMMR's endpoint missing is a fault to show, not a part to leave out; a 500 may pass.
    assert PM_ACCOUNT.unavailable(missing) is None
    assert BALANCE.unavailable(ServerError("busy", status=503)) is None


def test_a_schedule_is_due_on_its_cadence_spaced_whatever_asks_and_held_while_refused():
    s = Schedule(PM_ACCOUNT, cadence=30.0, spacing=5.0)
    assert s.ready(0.0)
    s.asked(100.0)
    s.plan(100.0, 30.0)
    assert not s.due(129.0) and s.ready(130.0)
    s.ask_now()  # a push: due at once, but not inside the spacing
    assert s.due(102.0) and not s.ready(102.0) and s.held_until(102.0) == 105.0
    assert s.ready(105.0) and s.held_until(105.0) is None
    s.refusal = "refused"
    s.ask_now()
    assert not s.due(200.0) and s.held_until(102.0) is None  # refused: only `r` asks again
    s.retry()
    assert s.refusal is None and s.ready(200.0)
    s.plan(200.0, None)  # its poller stopped: a push does not revive it
    s.ask_now()
    assert not s.due(1e9)


@pytest.mark.parametrize("many", [False, True])
async def test_a_fleet_hands_its_one_clock_to_every_client_monitor_poller_and_budget(many):
    clock = ManualClock()
    options = FleetOptions(demo=True, all_profiles=many)
    fleet = Fleet.build(options, clock=clock)
    monitors = [a.monitor for a in fleet.accounts if a.monitor is not None]
    assert monitors and fleet.clock is clock
    for m in monitors:
        assert m.clock is m.client.clock is clock
        assert all(p.clock is clock for p in (m.poller, m.account_poller, m.balance_poller))
        assert m.client.budget._clock is clock
    await fleet.aclose()
