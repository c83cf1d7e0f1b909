"""`pmtui watch`: the Monitor headless, one line per new state, as a real process.

Each test starts `python -m pmtui watch ...` on the demo or on the local PAPI server (127.0.0.1),
reads lines as they come (bounded waits, never a sleep), and ends it the way a person or a
supervisor would: Ctrl-C, SIGTERM, a hang-up, or a reader that goes away.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.papi_server import API_KEY, API_SECRET, UM_ACCOUNT

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Watch:
    """A running `pmtui watch`, its stdout read line by line on a thread."""

    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pmtui", "watch", *argv], cwd=REPO, env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))
        except (ValueError, OSError):  # the test closed the pipe itself
            pass
        self.lines.put(None)

    def line(self, timeout: float = 30) -> str:
        got = self.lines.get(timeout=timeout)
        assert got is not None, f"watch ended: {self.proc.wait(5)} {self.proc.stderr.read()}"
        self.seen.append(got)
        return got

    def until(self, predicate, limit: int = 40) -> str:
        for _ in range(limit):
            line = self.line()
            if predicate(line):
                return line
        raise AssertionError(f"no such line in {limit}")

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=15)
        return rc, self.proc.stderr.read()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_watch_prints_a_line_per_refresh_and_ends_cleanly_on_a_signal(sig, code):
    w = Watch("--demo", "--interval", "1")
    first, second = w.line(), w.line()
    for line in (first, second):
        assert " · OK" in line or " · WARN" in line or " · DANGER" in line or " · CRITICAL" in line, line
        assert "uniMMR " in line and "open positions" in line and " · LIVE" in line
    rc, err = w.stop(sig)
    assert rc == code and err == ""


def test_watch_json_lines_keep_the_api_strings_and_say_what_changed():
    w = Watch("--demo", "--json", "--interval", "1")
    lines = [json.loads(w.until(lambda line: '"data"' in line.split('"changed"')[1][:40])) for _ in range(2)]
    pushed = [json.loads(line) for line in w.seen if json.loads(line)["changed"] == ["push"]]
    docs = lines
    rc, err = w.stop(signal.SIGTERM)
    # The demo streams: its push state changes are lines too, saying so.
    assert all(doc["push"]["up"] in (True, False) for doc in pushed)
    assert rc == 143 and err == ""
    for doc in docs:
        assert "data" in doc["changed"] and doc["level"] in ("OK", "WARN", "DANGER", "CRITICAL")
        assert doc["stale"] is False and doc["error"] is None and doc["alerts"] == []
        # The API's objects, decimal strings untouched, as snapshot --json prints them.
        assert all(isinstance(a["crossWalletBalance"], str) for a in doc["assets"])
        assert all(isinstance(p["positionAmt"], str) for p in doc["positions"])
        assert isinstance(doc["account"]["uniMMR"], str)
        assert isinstance(doc["fetchedAt"], int)
        # What pmtui derived, beside the API's objects: the same verdict the line's level says.
        assert doc["view"]["account"]["level"] == doc["level"]
        um_rows = [p for p in doc["view"]["positions"] if p["venue"] == "UM"]
        assert len(um_rows) == len(doc["positions"])
        cm_open = [p for p in doc["cm"]["account"]["positions"] if p["positionAmt"] != "0"]
        assert len(doc["view"]["positions"]) - len(um_rows) == len(cm_open) == 1  # the demo's COIN-M one
    # The first line has no earlier one: every open position is new. Then only those that moved.
    assert sorted(docs[0]["changedPositions"]) == sorted(
        [f"{p['symbol']}:{p['positionSide']}" for p in docs[0]["positions"]]
        + [f"CM:{p['symbol']}:{p['positionSide']}" for p in docs[0]["cm"]["account"]["positions"]
           if p["positionAmt"] != "0"])
    assert set(docs[1]["changedPositions"]) <= set(docs[0]["changedPositions"])


def test_watch_ends_quietly_when_its_reader_goes_away():
    w = Watch("--demo", "--interval", "1")
    w.line()
    w.proc.stdout.close()  # like `pmtui watch | head -1`
    rc = w.proc.wait(timeout=15)
    assert rc == 0 and w.proc.stderr.read() == ""  # a reader that went away is a normal end


def test_watch_into_head_ends_quietly_with_exit_0():
    proc = subprocess.run(f"{sys.executable} -m pmtui watch --demo --interval 1 | head -2; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert len(proc.stdout.splitlines()) == 2


def test_watch_says_the_first_picture_once():
    # At start the account, positionRisk and exchangeInfo each publish within a second: the same
    # line three times said nothing new.
    w = Watch("--demo", "--interval", "1")
    lines = [w.line() for _ in range(3)]
    w.stop(signal.SIGTERM)
    assert all(a != b for a, b in zip(lines, lines[1:], strict=False)), lines


def history_rows(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.Error:  # not created yet, or being written
        return 0


def test_a_reader_that_does_not_read_never_stops_the_monitor_or_a_signal(tmp_path):
    import fcntl

    history = tmp_path / "h.sqlite3"
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 4096)  # the smallest pipe: one JSON line fills it
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmtui", "watch", "--demo", "--json", "--interval", "1", "--record",
         "--history-file", str(history)],
        cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        def queued() -> int:
            import array
            import termios

            n = array.array("i", [0])
            fcntl.ioctl(read_end, termios.FIONREAD, n)
            return n[0]

        wait_for(lambda: queued() >= 4096, "the pipe to fill up")
        # Nobody reads, and the Monitor goes on: refreshes are still recorded...
        before = history_rows(history)
        wait_for(lambda: history_rows(history) >= before + 2, "two more refreshes recorded")
        # ...and a signal still ends it, at once.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(read_end)
    assert b"Traceback" not in proc.stderr.read()


def test_recording_that_cannot_be_written_is_said_once_and_watching_goes_on(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    w = Watch("--demo", "--interval", "1", "--record", "--history-file", str(blocker / "h.sqlite3"))
    for _ in range(3):  # refreshes go on
        assert " · LIVE" in w.line()
    rc, err = w.stop(signal.SIGTERM)
    assert rc == 143
    assert err.count("\n") == 1 and "Recording stopped." in err and str(blocker) in err, err
    assert err.startswith("pmtui: warning: Cannot create the history file")


def test_watch_says_a_fault_once_and_recovers_by_itself(papi_server):
    env = {"PMTUI_BASE_URL": papi_server.base_url, "PMTUI_API_KEY": API_KEY, "PMTUI_API_SECRET": API_SECRET}
    w = Watch("--interval", "1", env=env)
    assert " · LIVE" in w.line()
    papi_server.set_mode("503", path=UM_ACCOUNT)
    fault = w.until(lambda line: "STALE" in line or "NO DATA" in line)
    failed = papi_server.count(UM_ACCOUNT)
    wait_for(lambda: papi_server.count(UM_ACCOUNT) >= failed + 2, "two more failed retries")
    assert "HTTP 503" in fault or "503" in fault, fault
    retries_before = papi_server.count(UM_ACCOUNT)
    papi_server.clear_mode()
    back = w.until(lambda line: " · LIVE" in line)
    assert "uniMMR" in back and papi_server.count(UM_ACCOUNT) > retries_before
    # However many retries failed, the fault was said once (each retry is not news).
    assert sum("503" in line for line in w.seen) == 1, w.seen
    rc, err = w.stop(signal.SIGTERM)
    assert rc == 143 and err == ""
    assert API_SECRET not in fault + back
