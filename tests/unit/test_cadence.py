"""The fleet's REST cadence ranking (pmtui.cadence.plan): standings in, cadences and due times out."""

from __future__ import annotations

import pytest

from pmtui.cadence import CALM_CADENCE, Pacer, Standing, cost, due_times, plan
from pmtui.health import Level

RATE = 3000 / 60 * 0.85  # a 3,000-a-minute budget, as planned (PLANNED_SHARE)
EXTRAS = ((20.0, 30.0), (20.0, 10.0))  # /papi/v1/account and /papi/v1/balance, as a Monitor says


def st(key: str, level: Level | None = Level.OK, pushed: bool = True, last: float | None = 100.0,
       interval: float = 2.0) -> Standing:
    return Standing(key, level, pushed, last, interval, 10.0, EXTRAS)


def spend(standings: list[Standing], cadence: dict[str, float]) -> float:
    return sum(cost(s, cadence[s.key]) for s in standings)


def test_a_calm_pushed_account_is_reconciled_every_30_s_and_an_unpushed_one_at_its_interval():
    c = plan([st("calm"), st("blind", pushed=False), st("warn", Level.WARN), st("new", None, pushed=False)], RATE)
    assert c == {"calm": CALM_CADENCE[0], "blind": 2.0, "warn": 2.0, "new": 2.0}


def test_fifty_accounts_not_known_yet_do_not_plan_like_fifty_at_warn():
    """At start nothing is known: counted as WARN, the plan stretched every account to ~8 min."""
    c = plan([st(f"a{i}", None) for i in range(50)], RATE)
    assert max(c.values()) <= CALM_CADENCE[1]


def test_a_person_slower_interval_is_kept():
    assert plan([st("slow", pushed=False, interval=45.0)], RATE) == {"slow": 45.0}


def test_fifty_calm_pushed_accounts_stretch_towards_60_s_to_fit_the_budget():
    fleet = [st(f"a{i}") for i in range(50)]
    c = plan(fleet, RATE)
    assert spend(fleet, c) <= RATE + 1e-6
    assert all(CALM_CADENCE[0] < v <= CALM_CADENCE[1] for v in c.values())
    assert len(set(c.values())) == 1  # a tier stretches together


def test_the_calm_give_way_before_the_warn_and_the_warn_before_the_danger():
    fleet = ([st(f"calm{i}") for i in range(44)] + [st(f"warn{i}", Level.WARN) for i in range(4)]
             + [st("danger", Level.DANGER), st("blind", pushed=False)])
    c = plan(fleet, RATE)
    assert spend(fleet, c) <= RATE + 1e-6
    assert c["calm0"] >= CALM_CADENCE[1]  # stretched all the way first (then all together)
    assert c["danger"] < c["warn0"] < c["blind"] < c["calm0"]


def test_the_one_near_liquidation_keeps_its_pace_while_others_can_give():
    fleet = [st(f"calm{i}") for i in range(36)] + [st("warn", Level.WARN), st("danger", Level.CRITICAL)]
    c = plan(fleet, RATE)
    assert spend(fleet, c) <= RATE + 1e-6
    assert c["danger"] == 2.0 and 2.0 < c["warn"] <= 4.0


def test_when_nothing_fits_every_tier_slows_and_the_budget_still_holds():
    fleet = [st(f"d{i}", Level.DANGER, pushed=False) for i in range(50)]
    c = plan(fleet, RATE)
    assert spend(fleet, c) == pytest.approx(RATE, rel=1e-3)
    assert min(c.values()) > 2.0


def test_a_dropped_stream_puts_a_calm_account_back_on_its_interval():
    fleet = [st(f"a{i}") for i in range(10)]
    assert plan(fleet, RATE)["a0"] == CALM_CADENCE[0]
    fleet[0] = st("a0", pushed=False)
    assert plan(fleet, RATE)["a0"] == 2.0


def test_due_times_count_from_the_last_refresh_and_a_new_account_is_due_now():
    due = due_times([st("calm", last=100.0), st("warn", Level.WARN, last=100.0), st("new", last=None)], RATE, 105.0)
    assert due == {"calm": 130.0, "warn": 102.0, "new": 105.0}


def test_the_pacer_plans_again_at_once_when_an_account_changes_tier():
    now = [0.0]
    fleet = [st("a"), st("b")]
    pacer = Pacer(lambda: fleet, lambda: 50.0, lambda: now[0])
    assert pacer.cadence(fleet[0]) == CALM_CADENCE[0]
    fleet[0] = st("a", Level.WARN)  # same instant: the cached plan must not answer
    assert pacer.cadence(fleet[0]) == 2.0


def test_calm_pushed_accounts_give_up_to_5_minutes_before_warn_ones_go_past_4_s():
    fleet = [st(f"calm{i}") for i in range(45)] + [st(f"warn{i}", Level.WARN) for i in range(4)]
    c = plan(fleet, RATE)
    assert spend(fleet, c) <= RATE + 1e-6
    assert c["warn0"] == 4.0 and CALM_CADENCE[1] < c["calm0"] <= 300.0


def test_the_pacer_makes_a_plan_again_only_when_what_it_reads_changed(monkeypatch):
    """Fifty accounts ask after every refresh: a plan made again from the same tiers, intervals,
    weights and rate (only the last refreshes moved) is the plan in hand, not another bisection."""
    import pmtui.cadence as cadence

    made = []
    monkeypatch.setattr(cadence, "plan", lambda standings, rate: made.append(rate) or plan(standings, rate))
    now = [0.0]
    fleet = [st(f"a{i}") for i in range(50)] + [st("w", Level.WARN)]
    pacer = Pacer(lambda: fleet, lambda: 50.0, lambda: now[0])
    first = pacer.cadence(fleet[0], fresh=True)
    for step in range(1, 6):
        now[0] = step * 10.0
        fleet[1] = st("a1", last=now[0])  # refreshed: only `last` moved
        assert pacer.cadence(fleet[0], fresh=True) == first
    assert len(made) == 1
    fleet[2] = st("a2", interval=5.0)  # an interval changed: planned again, and the plan follows
    pacer.cadence(fleet[0], fresh=True)
    fleet[3] = st("a3", Level.WARN)  # a tier changed
    assert pacer.cadence(fleet[3]) == plan(fleet, 50.0 * cadence.PLANNED_SHARE)["a3"]
    assert len(made) == 3
