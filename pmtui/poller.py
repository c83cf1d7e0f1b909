"""When to fetch: interval, backoff after faults, staleness. No Textual here.

A Poller wraps one fetch function. The caller (the app's timer, or a headless loop) awaits
`poll()`, then sleeps `delay()` before the next one, so fetches never overlap. The last good
result is kept through any number of failures.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pmtui.clock import SYSTEM_CLOCK, Clock, uniform
from pmtui.errors import PmtuiError
from pmtui.settings import MAX_INTERVAL, MIN_INTERVAL

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# Data is stale once this many intervals pass without a good fetch (at least STALE_MIN_S).
STALE_INTERVALS = 3
STALE_MIN_S = 5.0


@dataclass
class Poller(Generic[T]):
    fetch: Callable[[], Awaitable[T]]
    interval: float = 2.0
    min_interval: float = MIN_INTERVAL
    #: Seconds the client still refuses to send (a ban or Retry-After), if it can tell.
    blocked_for: Callable[[], float] = lambda: 0.0
    #: Ages and backoff read it (monotonic, wall), and the backoff's jitter (random).
    clock: Clock = SYSTEM_CLOCK

    data: T | None = None
    last_ok: float | None = None  # monotonic time of the last good fetch
    last_ok_wall: float | None = None
    error: PmtuiError | None = None  # the last fetch's error; None after a good one
    failures: int = 0  # consecutive failed fetches
    paused: bool = False
    polls: int = 0
    #: Seconds of age that are deliberate, not late: an account whose state is pushed is
    #: reconciled by REST on a slow cadence (pmtui.cadence), and is stale only past that.
    slack: float = 0.0

    def __post_init__(self) -> None:
        self.interval = self.clamp(self.interval)

    def clamp(self, interval: float) -> float:
        return min(MAX_INTERVAL, max(self.min_interval, interval))

    @property
    def stopped(self) -> bool:
        """A fault a person must fix (bad key, bad signature): don't keep knocking."""
        return self.error is not None and not self.error.retryable

    async def poll(self) -> bool:
        """Fetch once; remember the result or the error. Never raises PmtuiError."""
        self.polls += 1
        try:
            result = await self.fetch()
        except PmtuiError as err:
            self.error = err
            self.failures += 1
            return False
        except Exception as err:  # a bug, not a fault: keep the data and say so plainly
            log.debug("unexpected error while fetching", exc_info=True)
            self.error = PmtuiError(
                f"Unexpected internal error while fetching ({type(err).__name__}); "
                "retrying. Run with --debug for details."
            )
            self.failures += 1
            return False
        self.data = result
        self.error = None
        self.failures = 0
        self.last_ok = self.clock.monotonic()
        self.last_ok_wall = self.clock.time()
        return True

    def accept(self, data: T) -> None:
        """A current value that arrived another way (pushed by the stream, or fetched once by a
        headless command): kept as if this poller had fetched it."""
        self.data = data
        self.error = None
        self.failures = 0
        self.last_ok = self.clock.monotonic()
        self.last_ok_wall = self.clock.time()

    def delay(self) -> float | None:
        """Seconds until the next fetch; None while paused or stopped (wait for a person)."""
        if self.paused or self.stopped:
            return None
        if self.error is None:
            return self.interval
        if self.error.retry_after is not None:
            # The wait the error states (the server's, as bounded by the client) is the one
            # applied: a person reads "pausing for 7 s", so the next try comes then, not later.
            return max(self.interval, float(self.error.retry_after), self.blocked_for())
        # Exponential backoff with jitter, never shorter than the interval or the client's block.
        # The exponent is capped: past ~1000 failures (17 h offline) 2**n overflows a float.
        backoff = min(MAX_BACKOFF, self.interval * 2 ** min(self.failures - 1, 32))
        backoff *= uniform(self.clock, 0.8, 1.2)
        return float(max(self.interval, backoff, self.blocked_for()))

    def age(self) -> float | None:
        """Seconds since the last good fetch."""
        return None if self.last_ok is None else self.clock.monotonic() - self.last_ok

    def stale_after(self) -> float:
        return max(STALE_MIN_S, STALE_INTERVALS * self.interval)

    @property
    def stale(self) -> bool:
        age = self.age()
        return age is not None and (self.error is not None or age - self.slack > self.stale_after())

    def reset_stop(self) -> None:
        """After a person fixed the cause (or pressed refresh), try again."""
        if self.stopped:
            self.error = None
            self.failures = 0
