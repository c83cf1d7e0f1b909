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

from tests.papi_server import API_KEY, API_SECRET, UM_ACCOUNT, papi_server  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


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
    assert rc == 1 and w.proc.stderr.read() == ""


def test_watch_says_a_fault_once_and_recovers_by_itself(papi_server):  # noqa: F811
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
