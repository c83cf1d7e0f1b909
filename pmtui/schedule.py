"""When one endpoint is asked next: the same small object for every endpoint the Monitor polls.

An endpoint is due on its cadence, or sooner when something asks (`ask_now`: a pushed event, a
moving band), never closer than `spacing` to its last request whatever asks, and not at all while
refused (the key may not read it, or the server does not serve it) until a person's `r` (`retry`).
The fetching itself (and its backoff after faults) stays with the Poller; this only says when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pmtui.endpoints import Endpoint


@dataclass
class Schedule:
    endpoint: Endpoint[Any]
    #: Seconds between two requests when nothing asks sooner.
    cadence: float
    #: Seconds between two requests at least, whatever asks (0: no spacing).
    spacing: float = 0.0
    #: Monotonic time it is due; None: not planned (its poller stopped, or never polled).
    due_at: float | None = 0.0
    #: Monotonic time of the last request; None: never asked.
    tried: float | None = None
    #: Why it will not answer until a person acts (one sentence); None: not refused.
    refusal: str | None = None

    def due(self, now: float) -> bool:
        """Its time has come (spacing aside), and it is not refused."""
        return self.refusal is None and self.due_at is not None and now >= self.due_at

    def spaced(self, now: float) -> bool:
        """The spacing since the last request has passed."""
        return self.tried is None or now - self.tried >= self.spacing

    def ready(self, now: float) -> bool:
        """Due and spaced: ask it now."""
        return self.due(now) and self.spaced(now)

    def held_until(self, now: float) -> float | None:
        """When a due request the spacing holds back may go; None: nothing held back."""
        if not self.due(now) or self.spaced(now) or self.tried is None:
            return None
        return self.tried + self.spacing

    def ask_now(self) -> None:
        """Due now (spacing still applies), unless it is not planned at all (stopped)."""
        if self.due_at is not None:
            self.due_at = 0.0

    def retry(self) -> None:
        """A person asked (`r`): due now, a refusal forgotten."""
        self.refusal = None
        self.due_at = 0.0

    def asked(self, now: float) -> None:
        """A request goes out now."""
        self.tried = now

    def plan(self, now: float, delay: float | None) -> None:
        """Next due `delay` seconds from now; None: not planned (wait for a person)."""
        self.due_at = None if delay is None else now + delay
