"""Lines out of `pmtui watch` that can never stop the Monitor.

A pipe whose reader does not read fills up, and a blocking write into it would stop the event
loop: no more polls, no alerts, no signal handled. So the loop only appends to a bounded queue,
and a thread writes it to the file descriptor. While the reader is behind, the oldest lines are
dropped (the newest state is what matters) and counted; once the pipe drains, one line on stderr
says how many. A reader that goes away (`pmtui watch | head -2`, EPIPE) ends the command
normally, through `on_closed`.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
from collections.abc import Callable

#: Lines kept while the reader is behind: minutes of states at one a second.
BACKLOG = 1000


class LineWriter:
    def __init__(self, fd: int | None = None, *, on_closed: Callable[[], object] = lambda: None,
                 backlog: int = BACKLOG, err_fd: int | None = None) -> None:
        self.fd = sys.stdout.fileno() if fd is None else fd
        self.err_fd = sys.stderr.fileno() if err_fd is None else err_fd
        self.on_closed = on_closed
        self.closed = False  # the reader went away
        self._lines: collections.deque[bytes] = collections.deque(maxlen=backlog)
        self._dropped = 0
        self._writing = False
        self._ready = threading.Condition()
        # A daemon: a thread stuck in write() on a pipe nobody reads must not keep the process.
        self._thread = threading.Thread(target=self._run, name="pmtui-lines", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        """Queue one line; never blocks."""
        with self._ready:
            if self.closed:
                return
            if len(self._lines) == self._lines.maxlen:
                self._dropped += 1  # the deque drops the oldest itself
            self._lines.append((line + "\n").encode("utf-8", "replace"))
            self._ready.notify()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the queue to be written (at a normal end); True if it was."""
        with self._ready:
            return self._ready.wait_for(lambda: not (self._lines or self._writing) or self.closed, timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._lines))
                data, dropped = self._lines.popleft(), self._dropped
                self._dropped, self._writing = 0, True
            try:
                if dropped:
                    _write_all(self.err_fd, f"pmtui: warning: {dropped} lines dropped while the reader "
                                            "of pmtui watch was not reading\n".encode())
                _write_all(self.fd, data)
            except OSError:  # EPIPE: the reader went away (any other write error ends it the same way)
                with self._ready:
                    self.closed = True
                    self._lines.clear()
                    self._ready.notify_all()
                try:
                    self.on_closed()
                except RuntimeError:  # the command's loop has already ended
                    pass
                return
            with self._ready:
                self._writing = False
                self._ready.notify_all()


def notice_line(severity: str, message: str) -> str:
    """A Monitor notice (a toast on the dashboard) as a line for stderr."""
    return f"pmtui: {'note' if severity == 'information' else severity}: {message}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
