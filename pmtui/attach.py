"""Viewers attached to `pmtui daemon`: its states, no requests of their own.

`probe` says whether a daemon answers on the socket (and is one to trust: the socket and its
directory private to this user, the demo only for the demo); `attached_fleet` then gives each
account a RemoteMonitor instead of a Monitor, so `watch`, `check` and the dashboard run on it
unchanged: it has what they use of a Monitor (subscribe, state, run, aclose, refresh_now,
set_paused, status_info, series, fetch_once), fed by one connection to the daemon for the whole
fleet. A person's `r` and `p` become requests to the daemon.

When the daemon goes away, each account keeps its last state, marked STALE with the sentence
why and its ages going on; the connection is tried again every RECONNECT seconds and the states
resume when the daemon is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmtui.daemon import ours
from pmtui.errors import PmtuiError
from pmtui.fed import FedMonitor
from pmtui.fleet import Account, Fleet, FleetOptions
from pmtui.history import sample_from_view
from pmtui.series import nearest_liq
from pmtui.state import CLOCK, DATA, FAULT, MonitorState, Notice
from pmtui.text import clean
from pmtui.text import name as shown_name
from pmtui.wire import MAX_LINE, Decoder, WireError, dumps, loads

if TYPE_CHECKING:
    from pmtui.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two tries to reach a daemon that went away (and between two ticks meanwhile).
RECONNECT = 1.0
#: Seconds a viewer waits for the daemon's hello before it polls by itself instead.
PROBE_TIMEOUT = 2.0


class DaemonGone(PmtuiError):
    """The daemon a viewer was attached to went away (its states stay, marked stale)."""

    kind = "daemon"


@dataclass(frozen=True)
class Hello:
    """A daemon's greeting: its version and pid, whether it runs the demo, and its accounts
    (each with the sentence why it cannot be watched, or None)."""

    pmtui: str
    pid: int
    demo: bool
    profiles: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, message: dict[str, Any]) -> Hello:
        if message.get("type") != "hello":
            raise WireError("a first message that is not a hello")
        try:
            profiles = tuple((str(p["profile"]), None if p["error"] is None else str(p["error"]))
                             for p in message["profiles"])
            return cls(str(message["pmtui"]), int(message["pid"]), bool(message["demo"]), profiles)
        except (KeyError, TypeError, ValueError):
            raise WireError("a hello that does not read") from None

    @property
    def watched(self) -> list[str]:
        return [p for p, error in self.profiles if error is None]


def probe(path: Path, timeout: float = PROBE_TIMEOUT) -> tuple[Hello | None, str | None]:
    """The hello of the daemon on `path`, or None and why not in a few words (None: no daemon
    there at all, nothing worth saying)."""
    if not os.path.lexists(path):
        return None, None
    if not ours(path):
        return None, f"{path} is not private to you, so pmtui does not trust it"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            with sock.makefile("rb") as stream:
                line = stream.readline(MAX_LINE)
    except (ConnectionRefusedError, FileNotFoundError):
        return None, f"no pmtui daemon answers on {path} (left by one that stopped)"
    except OSError as err:
        return None, f"the pmtui daemon on {path} did not answer ({type(err).__name__})"
    try:
        return Hello.of(loads(line)), None
    except WireError as err:
        return None, f"the pmtui daemon on {path} said {err}"


def attached_fleet(options: FleetOptions, chosen: Sequence[Account], hello: Hello,
                   path: Path) -> tuple[Fleet | None, str]:
    """The fleet of these accounts on the daemon's states, and the sentence saying so; or None
    and why not (the daemon runs the demo and this is not, or it does not watch an account)."""
    if hello.demo != options.demo:
        return None, f"the pmtui daemon on {path} runs {'the demo' if hello.demo else 'real accounts'}"
    missing = [a.profile for a in chosen if a.settings is not None and a.error is None
               and a.profile not in hello.watched]
    if missing:
        return None, f"the pmtui daemon on {path} does not watch {shown_name(missing[0])}"
    attachment = Attachment(path, demo=options.demo)
    for account in chosen:
        if account.settings is not None and account.error is None:
            account.monitor = RemoteMonitor(account.profile, account.settings, attachment)  # type: ignore[assignment]
    said = f"attached to the pmtui daemon on {path} (pid {hello.pid}): no requests of its own"
    return Fleet(list(chosen), options), said


class RemoteMonitor(FedMonitor):
    """One account of the daemon's, as a Monitor to whoever renders it."""

    remote = True  # the daemon delivers this account's alerts (pmtui.delivery): a viewer must not repeat them

    def __init__(self, profile: str, settings: Settings, attachment: Attachment) -> None:
        super().__init__(profile, settings)
        self.attachment = attachment
        self._received = time.monotonic()  # when the daemon's last state came
        self._gone: str | None = None  # why the daemon is not there, while it is not
        self._before = self._state  # the daemon's last state, while it is away
        self._first = asyncio.Event()
        attachment.monitors[profile] = self

    # --- what the renderers use of a Monitor ---------------------------------------------

    async def run(self) -> None:
        await self.attachment.running()

    async def aclose(self) -> None:
        await self.attachment.aclose()

    def refresh_now(self) -> None:
        self.attachment.send({"op": "refresh", "profile": self.profile})

    def set_paused(self, paused: bool) -> None:
        self.attachment.send({"op": "pause", "profile": self.profile, "paused": paused})

    async def fetch_once(self, **_: Any) -> MonitorState:
        """The daemon's current state, for `check` (and snapshot): the first to come. Its fault,
        or the daemon gone, is the caller's error, as a failed fetch would be."""
        # One connection for every account of the fleet: the fleet closes it, not each account.
        self.attachment.start()
        await self._first.wait()  # the daemon's state, or its absence said (lost)
        state = self._state
        error = state.status.error
        if error is not None:
            raise error
        if state.account is None:
            raise DaemonGone(f"The pmtui daemon has no data for {shown_name(self.profile)} yet.")
        return state

    # --- from the attachment -------------------------------------------------------------------

    def receive(self, state: MonitorState) -> None:
        self._received = time.monotonic()
        self._gone = None
        if DATA in state.changed and state.view is not None:
            self.series.add(sample_from_view(state.view, self.profile), nearest_liq(state.view))
        self._publish(state)
        if state.account is not None or state.status.error is not None:
            self._first.set()  # something to judge: data, or why there is none

    def lost(self, why: str) -> None:
        """The daemon went away: its last state, marked stale with the sentence, ages going on
        (called again each RECONNECT seconds while it stays away)."""
        first = self._gone is None
        if first:
            self._before = self._state
        self._gone = why
        last, since = self._before, time.monotonic() - self._received
        err = DaemonGone(f"The pmtui daemon went away ({why}); showing its last data, reattaching.")
        status = dataclasses.replace(
            last.status, stale=True, error=err, fetching=False, next_in=None, budget_wait=0.0,
            marks_live=False, marks_note=None,  # the daemon is gone: nothing is priced live here
            age=None if last.status.age is None else last.status.age + since)
        self._publish(dataclasses.replace(
            last, changed=frozenset({FAULT} if first else {CLOCK}), status=status,
            verdict=None if last.verdict is None else dataclasses.replace(last.verdict, stale=True),
            unimmr_age=None if last.unimmr_age is None else last.unimmr_age + since,
            balance_stale=last.balances is not None, alerts=(),
            notices=(Notice("Daemon", err.message, "warning", timeout=8),) if first else ()))
        self._first.set()


class Attachment:
    """One connection to the daemon for every RemoteMonitor of a fleet: reads its states, sends
    the person's requests, and reconnects when it goes away."""

    def __init__(self, path: Path, *, demo: bool, reconnect: float = RECONNECT) -> None:
        self.path = path
        self.demo = demo
        self.reconnect = reconnect
        self.monitors: dict[str, RemoteMonitor] = {}
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closed = False

    def start(self) -> asyncio.Task[None]:
        """The connection's task, started on first use."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return self._task

    def running(self) -> asyncio.Future[None]:
        """The connection's task; awaiting it (a Monitor's run) never cancels it."""
        return asyncio.shield(self.start())

    async def aclose(self) -> None:
        self._closed = True
        for monitor in self.monitors.values():
            monitor._first.set()  # nobody waits for a state any more
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def send(self, request: dict[str, Any]) -> None:
        """A person's request (refresh, pause) to the daemon; while it is away, nothing to send it to."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(dumps(request))

    async def _run(self) -> None:
        while not self._closed:
            why = await self._attached()
            for monitor in self.monitors.values():
                monitor.lost(why)
            await asyncio.sleep(self.reconnect)

    async def _attached(self) -> str:
        """Read the daemon's states until it goes away; why it did, in a few words."""
        if not os.path.lexists(self.path):
            return "its socket is gone"
        if not ours(self.path):
            return f"{self.path} is no longer private to you"
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.path), limit=MAX_LINE)
        except OSError:
            return "it does not answer"
        self._writer = writer
        try:
            hello = Hello.of(loads(await reader.readline()))
            if hello.demo != self.demo:
                return f"what answers on {self.path} runs {'the demo' if hello.demo else 'real accounts'}"
            decoders = {profile: Decoder() for profile in self.monitors}
            while line := await reader.readline():
                message = loads(line)
                profile = message.get("profile")
                if message.get("type") == "state" and profile in self.monitors:
                    self.monitors[profile].receive(decoders[profile].state(message["state"]))
            return "it closed the connection"
        except WireError as err:
            log.debug("daemon message unreadable: %s", err)
            return f"it sent {err}"
        except (OSError, ValueError) as err:  # ValueError: a line over MAX_LINE
            return f"the connection failed ({clean(type(err).__name__, 40)})"
        finally:
            self._writer = None
            writer.close()


def say(line: str) -> None:
    """One line on stderr about how this viewer gets its states."""
    import sys

    print(f"pmtui: {line}", file=sys.stderr, flush=True)

