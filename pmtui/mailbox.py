"""A bounded hand-over of states from Monitors to a slower reader (`watch`): newest state wins.

A Monitor publishes a state for every event (a flood of pushed events is thousands a second);
a reader printing to a terminal or a pipe may take longer per line. Queued one by one, the states
pile up without end (each holds a whole account view). Here each account has one slot: a newer
state replaces the one waiting, keeping what the reader must still learn from the older one
(what changed, and its alert events and notices, the last MAX_CARRIED of each).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Generic, TypeVar

from pmtui.state import MonitorState

K = TypeVar("K")
#: Alert events (and notices) kept from states a newer one replaced, per account.
MAX_CARRIED = 50


def merge(older: MonitorState, newer: MonitorState) -> MonitorState:
    """`newer`, also saying what `older` said that a reader of only `newer` would miss."""
    return dataclasses.replace(
        newer,
        changed=older.changed | newer.changed,
        alerts=(older.alerts + newer.alerts)[-MAX_CARRIED:],
        notices=(older.notices + newer.notices)[-MAX_CARRIED:],
    )


class Mailbox(Generic[K]):
    """At most one waiting state per key, in the order the keys first got one."""

    def __init__(self) -> None:
        self._waiting: dict[K, MonitorState] = {}
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, key: K, state: MonitorState) -> None:
        older = self._waiting.get(key)
        self._waiting[key] = state if older is None else merge(older, state)
        self._ready.set()

    async def get(self) -> tuple[K, MonitorState]:
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        key = next(iter(self._waiting))
        return key, self._waiting.pop(key)
