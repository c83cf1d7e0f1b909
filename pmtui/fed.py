"""What the renderers use of a Monitor, for one fed from elsewhere: a daemon's states
(pmtui.attach.RemoteMonitor) or a recording's (pmtui.replay.ReplayMonitor)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pmtui.series import SessionSeries
from pmtui.state import MonitorState, StatusInfo

if TYPE_CHECKING:
    from pmtui.settings import Settings

log = logging.getLogger(__name__)


class _Pace:
    """What the dashboard reads of a Monitor's poller: whether it is paused (the feed's word)."""

    def __init__(self, monitor: FedMonitor) -> None:
        self._monitor = monitor

    @property
    def paused(self) -> bool:
        return self._monitor.state.status.paused


class FedMonitor:
    """One account's states from elsewhere, as a Monitor to whoever renders them: subscribe,
    state, status_info, series; no exchange of its own."""

    client = None  # no exchange of its own

    def __init__(self, profile: str, settings: Settings) -> None:
        self.profile = profile
        self.settings = settings
        self.series = SessionSeries()
        self.markets: dict[str, Any] = {}
        self.poller = _Pace(self)
        self._subscribers: list[Callable[[MonitorState], None]] = []
        self._state = MonitorState(seq=0, changed=frozenset(), view=None, verdict=None, status=StatusInfo(
            paused=False, stopped=False, stale=False, error=None, age=None, last_ok_wall=None,
            interval=settings.interval, next_in=None, fetching=True, latency_ms=None, used_weight=None,
            offset_ms=None))

    def subscribe(self, callback: Callable[[MonitorState], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    @property
    def state(self) -> MonitorState:
        return self._state

    def status_info(self) -> StatusInfo:
        return self._state.status

    def step_interval(self, direction: int) -> float:
        """The feed keeps its own pace: unchanged."""
        return self._state.status.interval

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> FedMonitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _publish(self, state: MonitorState) -> None:
        self._state = state
        for callback in list(self._subscribers):
            try:
                callback(state)
            except Exception:  # a subscriber's bug must not stop the others
                log.debug("state subscriber failed", exc_info=True)
