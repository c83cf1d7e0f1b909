"""The one bridge from a Monitor to Textual: each published state becomes a `StateChanged` message.

A Monitor publishes a state for every event (its loop, a pushed risk level, the clock's tick);
the screen may draw slower than that. Textual merges a burst for us: before it handles a message
it asks that message whether the next one waiting in the queue supersedes it (`can_replace`, in
textual/message_pump.py `_process_messages_loop`), as it does for its own Resize and Layout. A
newer state of the same account does, once it carries what the older one said that a reader of
only the newer would miss (what changed, its alert events and notices, the last MAX_CARRIED of
each: pmtui.mailbox.merge). So a burst posted while the app is busy is handled, and drawn, once.
Textual only compares neighbours: states of two accounts that alternate in one queue are each
handled (the Monitor spaces its own publishes, so that stays a few a second per account).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump

from pmtui.mailbox import merge
from pmtui.monitor import Monitor
from pmtui.state import MonitorState


# bubble=False: for the pump it was posted to (the overview's copy must not reach the app too).
class StateChanged(Message, bubble=False):
    """`profile`'s Monitor published `state` (and, merged into it, the states it replaced)."""

    def __init__(self, profile: str, state: MonitorState) -> None:
        super().__init__()
        self.profile = profile
        self.state = state
        #: How many published states this message stands for (1 + the ones it replaced).
        self.states = 1

    @property
    def changed(self) -> frozenset[str]:
        """Every kind of change (DATA, ALERTS, CLOCK…) since the last state handled."""
        return self.state.changed

    def can_replace(self, message: Message) -> bool:
        """Textual asks the older message about the newer one right behind it; True drops the
        older, so first hand the newer what it would otherwise lose."""
        if not isinstance(message, StateChanged) or message.profile != self.profile:
            return False
        message.state = merge(self.state, message.state)
        message.states += self.states
        return True


def forward(monitor: Monitor, pump: MessagePump) -> Callable[[], None]:
    """Post each state `monitor` publishes to `pump` as a StateChanged; returns the unsubscribe."""
    profile = monitor.profile

    def post(state: MonitorState) -> None:
        pump.post_message(StateChanged(profile, state))

    return monitor.subscribe(post)
