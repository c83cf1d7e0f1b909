"""Leaving when the terminal goes away, and exiting 128+signal on SIGHUP, SIGTERM and SIGINT.

Textual's Linux driver queues output for a writer thread. When the terminal dies, that thread
either dies on EIO/EPIPE (then the bounded queue fills and the next write blocks the event loop
for good) or blocks in write() on a full pty nobody reads (tmux gone, SSH stuck): a clean shutdown
then never finishes, since restoring the terminal is itself a write. So on a hang-up, a
termination signal or a failed write we ask the app to exit, stop writing to a dead terminal, and
arm a watchdog that ends the process with os._exit if the clean exit has not finished in time.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import threading
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

from pmtui.tui.screendiff import ScreenDiff

log = logging.getLogger(__name__)

GRACE_S = 1.5  # a clean shutdown normally takes a few ms; after this, os._exit
EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
# Errors that mean the terminal is gone, not a passing fault.
DEAD_TTY = {errno.EIO, errno.EPIPE, errno.ENXIO, errno.EBADF, errno.ENODEV}


class TerminalGuard:
    """Signal handlers and a shutdown watchdog for one app run in a real terminal."""

    def __init__(self, app: Any, grace: float = GRACE_S) -> None:
        self.app = app
        self.grace = grace
        self.exit_code: int | None = None
        #: The terminal is gone: nothing more is written to it (not even the restore sequence).
        self.dead = False
        self._watchdog: threading.Timer | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        """Before app.run(), in the main thread: plain signal handlers, which run even while the
        event loop is stuck in a blocking write (an asyncio handler would wait for the loop)."""
        for sig in EXIT_SIGNALS:
            self._old[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        """After app.run(): the previous handlers back. A watchdog already armed stays armed:
        the process is on its way out and must not hang on the way (it is a daemon thread)."""
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def run(self) -> int:
        """app.run() with the guard in place; the exit code (128+signal after a signal)."""
        if issubclass(self.app.driver_class, LinuxDriver):
            self.app.driver_class = guarded_driver(self)
        self.install()
        try:
            self.app.run()
        finally:
            self.uninstall()
            if self.dead:
                # Nothing may write to the dead terminal on the way out (a final print or
                # flush would block or fail): point stdin, stdout and stderr at /dev/null.
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
        return self.exit_code if self.exit_code is not None else self.app.return_code or 0

    def _on_signal(self, sig: int, _frame: Any) -> None:
        if self.exit_code is not None:
            os._exit(self.exit_code)  # asked twice: no more patience
        self.stop(128 + sig, dead=sig == signal.SIGHUP)

    def terminal_lost(self) -> None:
        """A write failed with EIO/EPIPE (from the writer thread): as good as a hang-up."""
        if not self.dead:
            self.dead = True
            if self.exit_code is None:
                self.stop(128 + signal.SIGHUP, dead=True)

    def stop(self, code: int, *, dead: bool) -> None:
        """Ask the app to exit with `code`; end the process if that takes longer than the grace."""
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.dead = self.dead or dead
        self._watchdog = threading.Timer(self.grace, os._exit, (code,))
        self._watchdog.daemon = True
        self._watchdog.start()
        loop = getattr(self.app, "_loop", None)
        if loop is not None and not loop.is_closed():
            # Thread-safe and signal-safe: it only queues the call and wakes the loop up.
            loop.call_soon_threadsafe(functools.partial(self.app.exit, return_code=code))


class _GuardedFile:
    """The terminal file the writer thread writes to: a dead terminal stops the app, not the thread."""

    def __init__(self, file: IO[str], guard: TerminalGuard) -> None:
        self._file = file
        self._guard = guard

    def _call(self, method: str, *args: Any) -> None:
        if self._guard.dead:
            return
        try:
            getattr(self._file, method)(*args)
        except OSError as err:
            if err.errno not in DEAD_TTY:
                raise
            self._guard.terminal_lost()

    def write(self, text: str) -> None:
        self._call("write", text)

    def flush(self) -> None:
        self._call("flush")

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()


class _Verbatim:
    """What the screen diff becomes after a failure: frames go out as written."""

    def resize(self, width: int, height: int) -> None:
        pass

    def __call__(self, data: str) -> str:
        return data


def guarded_driver(guard: TerminalGuard) -> type[LinuxDriver]:
    """Textual's Linux driver, with writes that a dead terminal cannot block or break."""

    class GuardedLinuxDriver(LinuxDriver):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Textual types _file as the real stdout; the guard stands in for it (write, flush, fileno,
            # isatty), and the driver only writes to it once started, when it is set.
            self._file = _GuardedFile(self._file, guard)  # type: ignore[assignment,arg-type]

        def write(self, data: str) -> None:
            if not guard.dead:  # else the queue fills behind a dead writer and blocks the loop
                super().write(self._screen_diff(data))

        def _screen_diff(self, data: str) -> str:
            """Only the cells that changed (pmtui.tui.screendiff); PMTUI_SCREEN_DIFF=0 turns it off."""
            diff: ScreenDiff | _Verbatim | None = getattr(self, "_diff", None)
            if diff is None:
                if os.environ.get("PMTUI_SCREEN_DIFF", "1") == "0":
                    return data
                diff = ScreenDiff(*self._get_terminal_size())
                self._diff: ScreenDiff | _Verbatim = diff
            try:
                diff.resize(*self._get_terminal_size())
                return diff(data)
            except Exception:  # never lose a frame to the optimisation: send it as it was
                log.exception("screen diff failed; sending frames unchanged from now on")
                self._diff = _Verbatim()
                return data

        def close(self) -> None:
            if guard.dead and self._writer_thread is not None:
                # The writer may be stuck in write() for good: don't join it (it is a daemon).
                try:
                    self._writer_thread._queue.put_nowait(None)
                except Exception:
                    pass
                return
            super().close()

    return GuardedLinuxDriver
