"""Run a program in a pseudo-terminal of a given size and read what it writes, as an SSH
client's terminal would receive it."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path


class Terminal:
    """`argv` running on the slave side of a new pty (its controlling terminal), `cols` x `rows`.
    Everything it writes is read from the master side and counted."""

    def __init__(self, argv: list[str], *, cols: int = 80, rows: int = 24, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True,  # a session of its own, so the pty can be its controlling tty
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            close_fds=True,
        )
        os.close(slave)
        self.output = bytearray()
        self.bytes_read = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within `timeout` seconds (returns early once something arrived and the
        terminal went quiet for a moment)."""
        chunks = []
        deadline = time.perf_counter() + timeout
        while (left := deadline - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05) if chunks else left)
            if not ready:
                if chunks:
                    break
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the program exited and the slave side closed
                break
            if not data:
                break
            chunks.append(data)
        out = b"".join(chunks)
        self.bytes_read += len(out)
        self.output += out
        return out

    def wait_for(self, marker: bytes, timeout: float) -> float | None:
        """Seconds from process start until `marker` first appears in the output; None on timeout.
        Checked after every read from the pty, so the time is that of the write (the frame) that
        carries the marker, not of the quiet moment after it that `read` waits for."""
        deadline = time.perf_counter() + timeout
        searched = 0  # the output before this offset holds no marker
        while (left := deadline - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the program exited and the slave side closed
                data = b""
            if not data:
                return None
            now = time.perf_counter()
            self.bytes_read += len(data)
            self.output += data
            if self.output.find(marker, max(0, searched - len(marker) + 1)) >= 0:
                return now - self.started
            searched = len(self.output)
        return None

    def drain(self, seconds: float) -> int:
        """Read for `seconds`; the number of bytes received."""
        end = time.perf_counter() + seconds
        total = 0
        while (left := end - time.perf_counter()) > 0:
            total += len(self.read(left))
            if self.proc.poll() is not None:
                break
        return total

    def close(self) -> None:
        """Stop the program (SIGTERM, then SIGKILL) and release the pty."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            end = time.perf_counter() + 3
            while self.proc.poll() is None and time.perf_counter() < end:
                self.read(0.1)  # keep reading, or a full pty blocks its exit
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
