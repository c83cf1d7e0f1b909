"""How often each account of a fleet is refreshed by REST: a risk-ranked cadence on one budget.

Binance limits weight per IP, so fifty accounts polled every 2 s ask ten times what the budget
carries; the budget then serves whoever asks first, and every account ends up ~35 s behind,
the one near liquidation as late as the calm ones. Instead each account gets a cadence by how much
it matters and how much else tells pmtui about it:

- an account whose state is fed by pushes (its user data stream is live) and that is calm (OK)
  needs REST only to reconcile: every CALM_CADENCE[0] s, stretched up to CALM_CADENCE[1] s when
  the budget is short;
- an account nothing pushes for is polled at its own interval (`interval`, 2 s by default);
- one at WARN or worse at its interval too, and it is the last to slow down (one not known yet
  is due at once, and planned as calm).

When the sum passes the budget, the calmest tier is stretched first, then the next (STRETCH): an
account at DANGER keeps its pace longest. `plan` is the pure part (standings in, cadences out);
`Pacer` asks every Monitor of a fleet for its standing and answers each its cadence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pmtui.health import Level

#: Seconds between REST reconciles of a calm account whose state is pushed: at least, at most.
CALM_CADENCE = (30.0, 60.0)
#: The share of the budget's rate planned for refreshes: the rest is left for the risk model's
#: inputs, listen keys, exchangeInfo and a person's `r`.
PLANNED_SHARE = 0.85
#: The longest cadence the planner gives an account nothing pushes for (the settings' maximum).
MAX_CADENCE = 3600.0
#: Seconds a plan is kept before it is made again (each Monitor asks after each refresh).
REPLAN_EVERY = 0.5

# Tiers, in the order they give up their pace when the budget is short.
CALM_PUSHED, CALM, WARN, DANGER = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Standing:
    """What the planner needs of one account."""

    key: str
    #: Its level now (the verdict's, or Binance's uniMMR band if worse); None: not known yet.
    level: Level | None
    #: Its state is fed by pushes (its user data stream is live): REST only reconciles.
    pushed: bool
    #: Monotonic time its last refresh started; None: never refreshed.
    last: float | None
    #: Its own refresh interval (settings.interval, or what a person set with +/-).
    interval: float
    #: The weight of one refresh (the UM account and positionRisk, COIN-M when due).
    weight: float
    #: The endpoints that ride along at most every so often: (weight, seconds at least between).
    extras: tuple[tuple[float, float], ...] = ()


def tier(s: Standing) -> int:
    """Not known yet counts as calm: its first refresh is due at once anyway (`due_times`), and
    fifty accounts starting together must not look like fifty at WARN to the plan."""
    if s.level is not None and s.level >= Level.DANGER:
        return DANGER
    if s.level is not None and s.level >= Level.WARN:
        return WARN
    return CALM_PUSHED if s.pushed else CALM


def cost(s: Standing, cadence: float) -> float:
    """Weight per second of refreshing `s` every `cadence` seconds."""
    return s.weight / cadence + sum(w / max(cadence, every) for w, every in s.extras)


#: How far each tier is stretched, in turn, before the next gives anything: a calm pushed account
#: to a minute, a calm one nothing pushes for to 10 s, one at WARN to 4 s (so its REST data is at
#: most ~5 s old, the refresh's own time included); then the calm pushed ones (their stream
#: still tells of every change) to 5 minutes, the calm unpushed to a minute, WARN to 15 s. If that
#: is not enough, every account slows by the same factor (DANGER too), so the budget always
#: holds. (Five accounts at WARN, each fully refreshed every 4 s, spend 50 weight a second: a
#: 3,000-a-minute budget, so the calm pushed ones give more first.)
STRETCH = ((CALM_PUSHED, CALM_CADENCE[1]), (CALM, 10.0), (WARN, 4.0),
           (CALM_PUSHED, 300.0), (CALM, 60.0), (WARN, 15.0))


def plan(standings: Sequence[Standing], rate: float) -> dict[str, float]:
    """Each account's cadence (seconds between REST refreshes) so that together they spend at
    most `rate` weight per second: the tiers of STRETCH in turn, each as little as it takes,
    then all of them together. Within a tier every account slows by the same factor."""
    cadence = {s.key: max(s.interval, CALM_CADENCE[0]) if tier(s) == CALM_PUSHED else s.interval
               for s in standings}

    def total() -> float:
        return sum(cost(s, cadence[s.key]) for s in standings)

    def stretch(group: Sequence[Standing], ceiling: float) -> None:
        """Slow `group` by the least common factor that fits the budget (at most to `ceiling`)."""
        start = {s.key: cadence[s.key] for s in group}

        def at(f: float) -> None:
            for s in group:
                cadence[s.key] = min(start[s.key] * f, max(ceiling, start[s.key]))

        low, high = 1.0, max(ceiling / min(start.values()), 1.0)
        at(high)
        if total() > rate:
            return  # even at its slowest this group leaves the budget short: the next gives too
        for _ in range(40):  # bisection: the cost falls as the factor grows
            mid = (low + high) / 2
            at(mid)
            if total() > rate:
                low = mid
            else:
                high = mid
        at(high)

    for t, ceiling in STRETCH:
        group = [s for s in standings if tier(s) == t]
        if group and total() > rate:
            stretch(group, ceiling)
    if standings and total() > rate:
        stretch(standings, MAX_CADENCE)
    return cadence


def due_times(standings: Sequence[Standing], rate: float, now: float) -> dict[str, float]:
    """When each account's next REST refresh is due: its last refresh plus its cadence (now, if
    it was never refreshed)."""
    cadence = plan(standings, rate)
    return {s.key: now if s.last is None else s.last + cadence[s.key] for s in standings}


class Pacer:
    """The fleet's one planner: every Monitor on one budget asks it for its cadence (after each
    refresh, and when its standing changes). The plan is made from every account's standing at
    most every REPLAN_EVERY seconds, on `rate()` (the budget's weight per second, read each time).
    """

    def __init__(self, standings: Callable[[], Sequence[Standing]], rate: Callable[[], float],
                 monotonic: Callable[[], float]) -> None:
        self._standings = standings
        self._rate = rate
        self._monotonic = monotonic
        self._plan: dict[str, float] = {}
        self._tiers: dict[str, int] = {}
        self._made = float("-inf")
        self._inputs: tuple[Any, ...] | None = None  # what the plan in hand was made from

    def replan(self) -> dict[str, float]:
        standings = self._standings()
        rate = self._rate() * PLANNED_SHARE
        # A plan reads only these (not when each account last refreshed): the same, the same
        # plan. Fifty accounts re-ask after every refresh, and a plan of fifty is a bisection
        # per tier over all of them: at start-up, CPU that their first data waited for.
        inputs = (rate, tuple((s.key, tier(s), s.interval, s.weight, s.extras) for s in standings))
        if inputs != self._inputs:
            self._plan = plan(standings, rate)
            self._inputs = inputs
        self._tiers = {s.key: tier(s) for s in standings}
        self._made = self._monotonic()
        return self._plan

    def cadence(self, standing: Standing, *, fresh: bool = False) -> float | None:
        """This account's cadence (None: not one of this fleet's). Planned again when the plan is
        older than REPLAN_EVERY, when the account's tier changed since (a level rose, a stream
        dropped: its pace must follow at once), or when asked (`fresh`)."""
        if (fresh or self._monotonic() - self._made >= REPLAN_EVERY
                or self._tiers.get(standing.key) != tier(standing)):
            self.replan()
        return self._plan.get(standing.key)
