"""The one clock pmtui reads: made once by the Fleet and handed to every Monitor, Poller, client,
stream and alert book, so a test passes a fake one instead of patching modules.

`monotonic` measures intervals (cadences, ages, backoff); `time` is the wall clock (what a person
reads, and the signed timestamps); `perf_counter` times a request's round trip; `sleep` waits
without blocking the loop; `random` jitters backoff, so that many clients do not retry in step.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def perf_counter(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def random(self) -> float: ...


def uniform(clock: Clock, low: float, high: float) -> float:
    """A number in [low, high) from the clock's randomness (as random.uniform draws it)."""
    return low + (high - low) * clock.random()


class SystemClock:
    """The machine's clocks and the process's randomness."""

    def __init__(self) -> None:
        self._random = random.Random()

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def perf_counter(self) -> float:
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def random(self) -> float:
        return self._random.random()


#: The default for anything built without a clock of its own (a one-off client, a bench).
SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """Time that moves only when told (`advance`), for tests: `time` is the wall clock (epoch
    seconds), `monotonic` starts at 1000 and moves with it, randomness is seeded. `sleep` still
    waits on the event loop, so a loop that sleeps on it yields as it would in real life."""

    def __init__(self, wall: float = 1_736_942_400.0, *, seed: int = 0) -> None:
        self.now = wall
        self.start = wall
        self._random = random.Random(seed)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return 1000.0 + self.now - self.start

    def perf_counter(self) -> float:
        return self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def random(self) -> float:
        return self._random.random()

    def advance(self, seconds: float) -> None:
        self.now += seconds
