"""The poller's bookkeeping and timing, driven by fake clocks (no sleeping)."""

from __future__ import annotations

import asyncio
import random
import statistics

import pytest

from pmtui.errors import (
    AuthError,
    BadSignature,
    ConfigError,
    IPBanned,
    NetworkError,
    PmtuiError,
    RateLimited,
    ServerError,
)
from pmtui.poller import MAX_BACKOFF, MAX_INTERVAL, STALE_MIN_S, Poller


class Clock:
    """A pmtui.clock.Clock that moves only when a test sets `t` (monotonic); the wall stands still."""

    def __init__(self, t: float = 1000.0, wall: float = 1_700_000_000.0, seed: int = 7) -> None:
        self.t, self.wall = t, wall
        self._random = random.Random(seed)

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return self.wall

    def perf_counter(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    def random(self) -> float:
        return self._random.random()


class Fetch:
    """Answers from a script: values are returned, exceptions raised."""

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def make(*script, interval: float = 2.0, blocked: float = 0.0, seed: int = 7, **kw) -> Poller:
    return Poller(fetch=Fetch(*script), interval=interval, blocked_for=lambda: blocked,
                  clock=Clock(seed=seed), **kw)


# --- bookkeeping -------------------------------------------------------------------------------


async def test_success_keeps_data_and_times():
    p = make("one")
    p.clock.t = 1234.5
    assert await p.poll() is True
    assert p.data == "one"
    assert p.error is None and p.failures == 0 and p.polls == 1
    assert p.last_ok == 1234.5
    assert p.last_ok_wall == 1_700_000_000.0
    assert p.delay() == 2.0


async def test_failures_keep_the_last_good_data_and_count_up():
    err1, err2 = NetworkError("down"), ServerError("500")
    p = make("good", err1, err2, "again")
    await p.poll()
    good_at = p.last_ok
    p.clock.t += 10
    assert await p.poll() is False
    assert p.data == "good" and p.error is err1 and p.failures == 1
    assert await p.poll() is False
    assert p.error is err2 and p.failures == 2 and p.polls == 3
    assert p.last_ok == good_at  # a failure never counts as a good fetch
    assert await p.poll() is True
    assert p.data == "again" and p.error is None and p.failures == 0
    assert p.last_ok == p.clock.t


async def test_failure_before_any_data():
    p = make(NetworkError("down"))
    await p.poll()
    assert p.data is None and p.last_ok is None and p.age() is None
    assert not p.stale  # nothing on screen to call stale yet
    assert p.delay() is not None


async def test_unexpected_exception_becomes_a_plain_retryable_error():
    secret = "sk-leaky-detail-123"
    p = make("good", RuntimeError(f"boom {secret}"), KeyError("x"))
    await p.poll()
    assert await p.poll() is False
    assert isinstance(p.error, PmtuiError)
    assert p.error.retryable and not p.stopped
    assert "RuntimeError" in p.error.message and "--debug" in p.error.message
    assert secret not in p.error.message  # the exception's text may hold anything
    assert p.data == "good" and p.failures == 1
    assert p.delay() is not None
    await p.poll()
    assert "KeyError" in str(p.error) and p.failures == 2


async def test_cancellation_is_not_swallowed():
    p = make(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await p.poll()


# --- delay and backoff -------------------------------------------------------------------------


def test_interval_is_clamped():
    assert make(interval=0.1).interval == 1.0
    assert make(interval=0).interval == 1.0
    assert make(interval=-5).interval == 1.0
    assert make(interval=1.0).interval == 1.0
    assert make(interval=10**9).interval == MAX_INTERVAL
    assert make(interval=0.5, min_interval=0.25).interval == 0.5
    assert make().clamp(0.01) == 1.0


def test_delay_is_the_interval_when_all_is_well():
    assert make(interval=3.0).delay() == 3.0
    assert make(interval=0.2).delay() == 1.0


def _backoff_samples(failures: int, interval: float = 2.0, n: int = 300, **kw) -> list[float]:
    p = make(interval=interval, **kw)
    p.error, p.failures = NetworkError("down"), failures
    return [p.delay() for _ in range(n)]


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5, 6, 7, 10, 50])
def test_backoff_is_exponential_with_jitter_within_bounds(failures):
    interval = 2.0
    base = min(MAX_BACKOFF, interval * 2 ** (failures - 1))
    samples = _backoff_samples(failures, interval)
    low, high = max(interval, 0.8 * base), 1.2 * base
    assert all(low <= s <= high for s in samples), (min(samples), max(samples), low, high)
    assert max(samples) > 1.15 * base  # the jitter really spreads retries
    if 0.8 * base > interval:
        assert min(samples) < 0.85 * base


def test_backoff_grows_then_caps():
    medians = [statistics.median(_backoff_samples(n, 2.0, 51)) for n in range(1, 10)]
    assert medians == sorted(medians)
    assert medians[0] == pytest.approx(2.0, rel=0.25) and medians[2] == pytest.approx(8.0, rel=0.25)
    assert medians[-1] == pytest.approx(MAX_BACKOFF, rel=0.25)
    assert max(_backoff_samples(10**6, 2.0, 50)) <= 1.2 * MAX_BACKOFF


def test_backoff_survives_thousands_of_failures():
    # 2 ** 1100 no longer fits a float: a long outage must not crash the refresh loop.
    assert all(0.8 * MAX_BACKOFF <= s <= 1.2 * MAX_BACKOFF for s in _backoff_samples(5000, 2.0, 20))


def test_first_failure_never_retries_faster_than_the_interval():
    assert min(_backoff_samples(1, 5.0)) == 5.0


def test_backoff_of_a_long_interval_is_the_interval():
    assert set(_backoff_samples(3, 600.0, 20)) == {600.0}


def test_server_retry_after_is_honoured():
    p = make()
    p.error, p.failures = RateLimited("slow down", retry_after=30.0), 1
    assert all(d == 30.0 for d in (p.delay() for _ in range(50)))
    p.error = IPBanned("banned", retry_after=7200.0)
    assert p.delay() == 7200.0
    p.error = RateLimited("slow down", retry_after=0.5)  # shorter than the backoff: backoff wins
    assert p.delay() >= 2.0


def test_client_block_is_honoured():
    p = make(blocked=95.0)
    assert p.delay() == 2.0  # no error: the client's wait is for the next failure to report
    p.error, p.failures = NetworkError("down"), 1
    assert p.delay() == 95.0
    p.error = RateLimited("x", retry_after=120.0)
    assert p.delay() == 120.0


def test_paused_means_no_delay():
    p = make()
    p.paused = True
    assert p.delay() is None
    p.error, p.failures = NetworkError("down"), 3
    assert p.delay() is None
    p.paused = False
    assert p.delay() is not None


@pytest.mark.parametrize("err", [AuthError("bad key"), BadSignature("bad sig"), ConfigError("conf")])
async def test_non_retryable_error_stops_until_reset(err):
    p = make("good", err, "again")
    await p.poll()
    await p.poll()
    assert p.stopped and p.delay() is None
    assert p.data == "good"
    p.reset_stop()
    assert not p.stopped and p.error is None and p.failures == 0
    assert p.delay() == 2.0
    assert await p.poll() is True


async def test_reset_stop_leaves_a_retryable_error_and_its_backoff_alone():
    err = NetworkError("down")
    p = make(err, err, err)
    for _ in range(3):
        await p.poll()
    p.reset_stop()
    assert p.error is err and p.failures == 3
    assert p.delay() >= 0.8 * 8.0


# --- staleness ---------------------------------------------------------------------------------


async def test_stale_after_a_few_intervals_without_good_data():
    p = make("a", interval=2.0)
    await p.poll()
    assert p.stale_after() == max(STALE_MIN_S, 6.0)
    p.clock.t += 6.0
    assert p.age() == 6.0 and not p.stale
    p.clock.t += 0.01
    assert p.stale


async def test_stale_floor_for_short_intervals():
    p = make("a", interval=1.0)
    await p.poll()
    assert p.stale_after() == STALE_MIN_S
    p.clock.t += 4.9
    assert not p.stale
    p.clock.t += 0.2
    assert p.stale


async def test_long_interval_scales_the_stale_limit():
    p = make("a", interval=60.0)
    await p.poll()
    p.clock.t += 179
    assert not p.stale
    p.clock.t += 2
    assert p.stale


async def test_any_error_marks_kept_data_stale_and_recovery_clears_it():
    p = make("a", NetworkError("down"), "b")
    await p.poll()
    p.clock.t += 0.5
    await p.poll()
    assert p.age() == 0.5 and p.stale
    await p.poll()
    assert not p.stale and p.age() == 0
