"""pmtui.lines: watch's output queue, which a stuck reader can fill but never block."""

from __future__ import annotations

import array
import fcntl
import os
import select
import sys
import termios
import threading
import time

import pytest

from pmtui.lines import LineWriter

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")


def queued(fd: int) -> int:
    n = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, n)
    return n[0]


def read_until(fd: int, end: bytes, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(end):
        assert time.monotonic() < deadline, f"timed out; got {data[-200:]!r}"
        if select.select([fd], [], [], 0.1)[0]:
            data += os.read(fd, 65536)
    return data


def test_a_stuck_reader_costs_the_oldest_lines_and_a_count_never_a_blocked_caller():
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fcntl.fcntl(out_r, fcntl.F_SETPIPE_SZ, 4096)
    writer = LineWriter(out_w, err_fd=err_w, backlog=10)
    try:
        writer.write("x" * 8000)  # more than the pipe holds: the writer thread is stuck in it
        deadline = time.monotonic() + 10
        while queued(out_r) < 4096:
            assert time.monotonic() < deadline, "the pipe never filled"
            time.sleep(0.01)
        caller = threading.Thread(target=lambda: [writer.write(f"line {i}") for i in range(30)])
        caller.start()
        caller.join(10)
        assert not caller.is_alive()  # the caller (the event loop) was never blocked
        # The reader comes back: the newest ten lines, and one line on stderr for the others.
        data = read_until(out_r, b"line 29\n")
        assert data == b"x" * 8000 + b"\n" + b"".join(f"line {i}\n".encode() for i in range(20, 30))
        assert read_until(err_r, b"\n") == (b"pmtui: warning: 20 lines dropped while the reader of "
                                            b"pmtui watch was not reading\n")
    finally:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)


def test_a_reader_gone_calls_on_closed_once():
    out_r, out_w = os.pipe()
    closed: list[bool] = []
    writer = LineWriter(out_w, on_closed=lambda: closed.append(True))
    os.close(out_r)
    writer.write("nobody reads this")
    assert writer.drain(10)
    assert writer.closed and closed == [True]
    writer.write("nor this")  # dropped quietly
    os.close(out_w)
