"""Where alert events go: a user command and desktop notifications, run as processes.

`Notifier.send(events)` takes the events `pmtui.alerts.Alerts.evaluate` returned. Outputs: a user
command run without a shell, the event as JSON on stdin, with a timeout (on expiry its whole
process group is killed); and a desktop notification through `notify-send` when it is installed.
Both run as asyncio subprocesses scheduled on the running loop, never block it, and log failures
instead of raising.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import signal
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from pmtui.alerts import CLEARED, AlertEvent
from pmtui.health import Level
from pmtui.settings import Settings

log = logging.getLogger(__name__)

_AUTO = object()


class Notifier:
    """Sends events to a user command and/or the desktop, in the background.

    `send(events)` schedules one task per event and output on the running loop and returns at
    once; `drain()` waits for them (tests, shutdown). Failures are logged (and kept in
    `last_error`), never raised.
    """

    def __init__(
        self,
        *,
        command: Sequence[str] | str | None = None,
        timeout: float = 10.0,
        desktop: bool = False,
        notify_send: Any = _AUTO,
        profile: str | None = None,
        max_running: int = 4,
        on_clear: bool = True,
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else (list(command) if command else None)
        self.timeout = timeout
        program = shutil.which("notify-send") if notify_send is _AUTO else notify_send
        self.notify_send: str | None = program if desktop else None
        self.profile = profile
        #: Desktop notifications for cleared events too (the command always gets every event).
        self.on_clear = on_clear
        self.last_error: str | None = None
        self.failures = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._limit = asyncio.Semaphore(max_running)

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        a = settings.alerts
        return cls(command=a.argv(), timeout=a.command_timeout, desktop=a.desktop, profile=settings.profile,
                   on_clear=a.on_clear)

    @property
    def enabled(self) -> bool:
        return bool(self.argv or self.notify_send)

    def send(self, events: Iterable[AlertEvent]) -> list[asyncio.Task[Any]]:
        """Schedule the outputs for `events`; needs a running event loop. Returns the tasks."""
        started = []
        for event in events:
            if self.argv:
                started.append(self._spawn(self.run_command(event)))
            if self.notify_send and (self.on_clear or event.state != CLEARED):
                started.append(self._spawn(self.notify_desktop(event)))
        return started

    async def drain(self, timeout: float | None = None) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_command(self, event: AlertEvent) -> bool:
        """Run the command with the event as one JSON object (and a newline) on stdin."""
        assert self.argv
        extra = {"profile": self.profile} if self.profile else {}
        payload = (event.to_json(**extra) + "\n").encode()
        async with self._limit:
            return await _run(self, self.argv, payload, self.timeout, "alert command")

    async def notify_desktop(self, event: AlertEvent) -> bool:
        assert self.notify_send
        urgency = "critical" if event.level >= Level.DANGER else "normal"
        title = f"pmtui {event.level.label}" + (f" ({self.profile})" if self.profile else "")
        argv = [self.notify_send, "--app-name=pmtui", f"--urgency={urgency}", title, event.message]
        async with self._limit:
            return await _run(self, argv, None, 5.0, "notify-send")


async def _run(owner: Notifier, argv: Sequence[str], payload: bytes | None, timeout: float, what: str) -> bool:
    program = argv[0]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if payload is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,  # never onto the dashboard's terminal
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except FileNotFoundError:
        return _failed(owner, f"{what} failed: program {program!r} was not found")
    except PermissionError:
        return _failed(owner, f"{what} failed: program {program!r} is not executable")
    except OSError as exc:
        return _failed(owner, f"{what} could not be started: {exc.strerror}")
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(payload), timeout)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        return _failed(owner, f"{what} {program!r} did not finish within {timeout:g} s and was stopped")
    except asyncio.CancelledError:
        _kill(proc)
        raise
    code = proc.returncode  # set once communicate() returned: the process has exited
    if code:
        line = stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        detail = f": {line[0][:200]}" if line else ""
        status = f"was killed by signal {-code}" if code < 0 else f"failed with exit status {code}"
        return _failed(owner, f"{what} {program!r} {status}{detail}")
    return True


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _failed(owner: Notifier, message: str) -> bool:
    owner.failures += 1
    owner.last_error = message + "."
    log.warning("%s", owner.last_error)
    return False
