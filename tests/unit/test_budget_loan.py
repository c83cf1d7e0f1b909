"""The weight budget's start-up loan (WeightBudget.lend): a fleet's first screens go out at once,
and no minute sends more than the budget would without it. ManualClock only."""

from __future__ import annotations

import pytest

from pmtui.budget import FIRST_SCREEN_WEIGHT, MAX_LOAN_SECONDS, REPAY_SHARE, WeightBudget
from pmtui.clock import ManualClock


def spend(budget: WeightBudget, clock: ManualClock, seconds: float, weight: int = 10) -> int:
    """Send `weight` (urgent) whenever it fits: now, then every 0.1 s for `seconds`; the weight sent."""
    sent = 0
    for step in range(round(seconds * 10) + 1):
        if step:
            clock.advance(0.1)
        while budget.wait_for(weight, borrow=True) == 0:
            budget._take(weight)
            sent += weight
    return sent


def test_a_loan_sends_at_once_what_the_bucket_alone_could_not():
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock)  # 50 a second, 100 at once
    assert budget.wait_for(650) > 0
    assert budget.lend(650) == 650
    assert budget.wait_for(650, borrow=True) == 0  # 50 accounts' first screens, now


def test_what_is_lent_is_repaid_before_anything_more_goes_out_so_no_minute_sends_more():
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock)
    budget.lend(650)
    first = spend(budget, clock, 0.0)
    assert first == 750  # the bucket and the loan, at once
    assert budget.wait_for(10) == pytest.approx((10 + 650) / budget.rate)  # the debt first
    # Over the first minute the same most as without the loan: capacity + 60 s of the rate.
    assert first + spend(budget, clock, 60.0) <= budget.capacity + 60 * budget.rate
    assert budget.debt == 0


def test_a_loan_not_spent_lapses_as_it_is_repaid():
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock)
    budget.lend(650)
    clock.advance(30.0)  # nobody asked: the loan is repaid from the refill, and gone
    assert budget.wait_for(budget.capacity + 10) > 0 and budget.debt == 0


def test_only_first_screens_spend_the_loan():
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock)
    budget.lend(650)
    budget._take(100)  # the bucket's own weight is spent: what is left is lent
    assert budget.wait_for(20, borrow=True) == 0 and budget.wait_for(20) > 0


def test_a_loan_is_at_most_max_loan_seconds_of_the_rate():
    budget = WeightBudget(0.5, clock=ManualClock(1000.0))
    assert budget.lend(10**6) == pytest.approx(MAX_LOAN_SECONDS * budget.rate)
    assert budget.lend(10) == 0


def test_while_a_loan_is_repaid_an_account_at_risk_still_gets_part_of_the_refill():
    # 50 accounts' first screens spent the loan: the calm ones wait until it is repaid, one at WARN
    # (it may borrow) gets the refill's unrepaid share at once: not half a minute behind.
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock)
    assert budget.lend(50 * FIRST_SCREEN_WEIGHT) == 1500  # at most MAX_LOAN_SECONDS of the rate
    spend(budget, clock, 0.0)
    assert budget.wait_for(10) == pytest.approx((10 + 1500) / budget.rate)  # calm: after the debt
    assert budget.wait_for(10, borrow=True) == pytest.approx(10 / (budget.rate * (1 - REPAY_SHARE)))
    # A borrower that never stops still leaves the loan repaid within the minute: no minute sends
    # more than the bucket and 60 s of the rate.
    assert spend(budget, clock, 60.0) <= 60 * budget.rate and budget.debt == pytest.approx(0, abs=1e-6)
    assert MAX_LOAN_SECONDS <= 60 * REPAY_SHARE


def test_a_borrower_past_the_repayment_waits_at_the_whole_rate_after_it():
    clock = ManualClock(1000.0)
    budget = WeightBudget(0.5, clock=clock, burst_seconds=10.0)  # 500 at once
    budget.lend(300)
    spend(budget, clock, 0.0)
    # 300 is repaid in 12 s (25 a second); meanwhile the bucket gains 25 a second: 300. 350 takes
    # those 12 s and then 1 s at the whole rate.
    assert budget.wait_for(350, borrow=True) == pytest.approx(13.0)
    clock.advance(13.0)
    assert budget.wait_for(350, borrow=True) == 0 and budget.debt == 0
