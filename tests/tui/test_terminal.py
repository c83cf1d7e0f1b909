"""The real dashboard (`python -m pmtui --demo`) in a real pseudo-terminal: what happens when the
terminal goes away, and on the signals a shell or a supervisor sends.

Every wait is bounded and waits for a condition (output seen, the process gone), never a fixed
sleep; the bounds are generous so a loaded machine passes, while the exits asserted are fast.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")

ROOT = Path(__file__).resolve().parents[2]
DRAWN = b"Positions"  # the positions table's title: the first screen is up
EXIT_WITHIN = 2.0  # the promise of issue 10 (the app's own watchdog fires at 1.5 s)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Pty:
    """pmtui --demo as the session leader of a fresh pty, which is its controlling terminal."""

    def __init__(self, controlling: bool = True) -> None:
        self.master, slave = os.openpty()
        set_size(slave, 24, 80)
        env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT), COLUMNS="80", LINES="24")
        env.pop("TEXTUAL_DRIVER", None)

        def controlling_tty() -> None:  # runs in the child, after setsid
            if controlling:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pmtui", "--demo"], stdin=slave, stdout=slave, stderr=slave,
            env=env, cwd=ROOT, start_new_session=True, preexec_fn=controlling_tty, close_fds=True,
        )
        os.close(slave)
        self.out = bytearray()
        self.reading_paused = False  # True: leave the output unread, so the pty fills up

    def read_until(self, needle: bytes, timeout: float = 20.0, start: int = 0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.out[start:]:
            left = deadline - time.monotonic()
            if left <= 0 or not self.read(min(left, 0.2)) and self.proc.poll() is not None:
                return needle in self.out[start:]
        return True

    def read(self, timeout: float) -> bool:
        if self.master < 0 or not select.select([self.master], [], [], timeout)[0]:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its side
            return False
        self.out += data
        return bool(data)

    def drain(self) -> None:
        while self.read(0.05):
            pass

    def wait_drawn(self) -> None:
        assert self.read_until(DRAWN), f"no first screen; output so far: {bytes(self.out[-2000:])!r}"

    def exit_code(self, timeout: float) -> int | None:
        """The exit code, if the process ends within `timeout` seconds (keeps reading meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.master >= 0 and not self.reading_paused:
                self.read(0.05)
            else:
                time.sleep(0.02)
        return self.proc.poll()

    def close_master(self) -> None:
        os.close(self.master)
        self.master = -1

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.master >= 0:
            self.close_master()


@pytest.fixture
def tty():
    term = Pty()
    yield term
    term.cleanup()


def timed_exit(term: Pty, bound: float = 10.0) -> tuple[int | None, float]:
    started = time.monotonic()
    code = term.exit_code(bound)
    return code, time.monotonic() - started


def test_hangup_closing_the_terminal_exits_at_once(tty):
    """The SSH session drops / the tmux pane is killed: the pty's master side closes."""
    tty.wait_drawn()
    tty.close_master()
    code, took = timed_exit(tty)
    assert code == 128 + signal.SIGHUP and took < EXIT_WITHIN + 1, (code, took)


def test_a_dead_terminal_without_a_hangup_signal_exits_too():
    """Not its controlling terminal (no SIGHUP comes): the failing writes (EIO) alone end it."""
    term = Pty(controlling=False)
    try:
        term.wait_drawn()
        term.close_master()
        code, took = timed_exit(term)  # the 1 s clock tick writes, and fails, soon
        assert code == 128 + signal.SIGHUP and took < EXIT_WITHIN + 1.5, (code, took)
    finally:
        term.cleanup()


def test_sighup_exits_129(tty):
    tty.wait_drawn()
    tty.proc.send_signal(signal.SIGHUP)
    code, took = timed_exit(tty)
    assert code == 128 + signal.SIGHUP and took < EXIT_WITHIN + 1, (code, took)


def fill_the_terminal(term: Pty) -> None:
    """Stop reading and make the app draw whole screens until its writes block on the full pty."""
    term.reading_paused = True
    backlog = 0
    for i in range(60):
        set_size(term.master, 24 + i % 2, 80 + i % 2)  # each resize repaints the whole screen
        term.proc.send_signal(signal.SIGWINCH)
        time.sleep(0.05)
        pending = struct.unpack("i", fcntl.ioctl(term.master, termios.FIONREAD, b"\0\0\0\0"))[0]
        if pending == backlog and pending > 0 and i > 10:
            break  # nothing more gets through: the child's writes are stuck
        backlog = pending
    assert term.proc.poll() is None


def test_sigterm_with_writes_blocked_on_a_full_terminal_exits_143(tty):
    tty.wait_drawn()
    fill_the_terminal(tty)
    tty.proc.send_signal(signal.SIGTERM)
    code, took = timed_exit(tty)
    assert code == 128 + signal.SIGTERM and took < EXIT_WITHIN + 1, (code, took)


def test_sigterm_exits_143_and_restores_the_terminal(tty):
    tty.wait_drawn()
    mark = len(tty.out)
    tty.proc.send_signal(signal.SIGTERM)
    code, took = timed_exit(tty)
    assert code == 128 + signal.SIGTERM and took < EXIT_WITHIN + 1, (code, took)
    tty.drain()
    assert b"\x1b[?1049l" in tty.out[mark:]  # a live terminal gets its normal screen back


def test_sigint_exits_130(tty):
    tty.wait_drawn()
    tty.proc.send_signal(signal.SIGINT)
    code, took = timed_exit(tty)
    assert code == 128 + signal.SIGINT and took < EXIT_WITHIN + 1, (code, took)


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "T"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see a stopped process")
def test_suspend_then_continue_redraws_at_once(tty):
    tty.wait_drawn()
    tty.proc.send_signal(signal.SIGTSTP)
    deadline = time.monotonic() + 10
    while not stopped(tty.proc.pid):
        assert time.monotonic() < deadline, "SIGTSTP did not stop the process"
        tty.read(0.05)
    tty.drain()
    mark = len(tty.out)
    tty.proc.send_signal(signal.SIGCONT)
    # The whole screen comes back (alternate screen, then the table's title), not at the next tick.
    assert tty.read_until(b"\x1b[?1049h", timeout=10, start=mark)
    assert tty.read_until(DRAWN, timeout=10, start=mark), bytes(tty.out[mark:])[-500:]
    assert tty.proc.poll() is None
