"""Recording every state (pmtui.record): round trip, dedup, retention, failures, kill -9, hostile text."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from pmtui.alerts import AlertEvent
from pmtui.demo import DemoExchange
from pmtui.fleet import FleetOptions, make_monitor
from pmtui.health import Level
from pmtui.history import History, HistoryError
from pmtui.record import (
    MM,
    STORED_DELTA,
    SUM,
    Recorder,
    connect,
    decode_delta,
    diff,
    encode_delta,
    patch,
    prune,
    read_states,
    record_now,
    state_doc,
)
from pmtui.settings import Settings
from pmtui.state import CLOCK, DATA, STATUS
from tests.core.test_monitor import real_state

T0 = 1_750_000_000.0
# How long `close` may wait for the writer to write what was queued: a hang's bound, not a measure
# (its default, 5 s, is what a person quitting waits; with both cores busy 500 states took longer).
CLOSE_S = 120.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(condition, what: str, timeout: float = 60.0) -> None:  # a hang's bound
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def strip(doc: dict) -> dict:
    """A document without the kinds of change (a row carries those of the states it stands for)."""
    return {k: v for k, v in doc.items() if k not in ("changed", "changedPositions")}


def test_diff_and_patch_rebuild_the_document():
    a = {"x": "1.10", "l": [{"p": "1"}, {"p": "2"}], "gone": 1, "n": None}
    b = {"x": "1.1", "l": [{"p": "1"}, {"p": "3"}], "n": {"k": []}, "new": [1, 2]}
    changes = diff(a, b, [], [])
    assert patch(json.loads(json.dumps(a)), changes) == b
    assert [["x"], "1.1"] in changes  # a decimal string is compared as text: 1.10 -> 1.1 is a change
    assert patch({"l": [1]}, diff({"l": [1]}, {"l": [1, 2]}, [], [])) == {"l": [1, 2]}
    # As stored: paths apart, a string that moved as its new tail; decoded from the old document.
    body, paths = encode_delta(a, changes, b"")
    again, _ = encode_delta(b, diff(b, a, [], []), paths)  # the next delta, on this one's paths
    doc, p1 = decode_delta(json.loads(json.dumps(a)), body, b"")
    assert doc == b and p1 == paths
    assert decode_delta(doc, again, p1)[0] == a
    # Rows of the format before (kind STORED_DELTA: paths against the last paths, values on their
    # own, zlib streams) still read.
    old_paths = json.dumps([c[0] for c in changes], separators=(",", ":")).encode()
    old_ops = [[c[1]] if len(c) == 2 else [] for c in changes]
    old_body = (struct.pack(">I", len(zlib.compress(old_paths))) + zlib.compress(old_paths)
                + zlib.compress(json.dumps(old_ops).encode()))
    assert decode_delta(json.loads(json.dumps(a)), old_body, b"", STORED_DELTA) == (b, old_paths)
    assert len(body) < len(old_body)


async def test_every_state_of_a_demo_account_comes_back_exactly(tmp_path):
    clock = Clock()
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=5, symbols=40))
    recorder = Recorder(tmp_path / "h.sqlite3", clock=clock, keyframe_every=3)  # keyframes and deltas both
    recorder.attach(monitor)
    published: list[tuple[frozenset, dict]] = []
    monitor.subscribe(lambda state: published.append((state.changed, strip(state_doc(state)))))
    for _ in range(6):
        await monitor.refresh()
        clock.now += 2
    await monitor.aclose()
    recorder.close(CLOSE_S)
    assert recorder.error is None
    rows = read_states(tmp_path / "h.sqlite3")
    # Every state but those that repeat the last one recorded (a status change alone may move
    # only the estimate's age, which its time tells).
    expected: list[dict] = []
    for changed, doc in published:
        moved = diff(expected[-1], doc, [], []) if expected else [[["new"]]]
        if moved and not (changed <= {CLOCK, STATUS} and all(c[0] == ["view", "account", "estimateAge"]
                                                             for c in moved)):
            expected.append(doc)
    assert [strip(r.doc) for r in rows] == expected and len(rows) >= 6
    last = rows[-1].doc
    raw = monitor._state.risks[0].raw  # type: ignore[union-attr]
    assert last["positionRisk"][0]["markPrice"] == raw["markPrice"]  # the API's string, digit for digit
    assert {r.profile for r in rows} == {"demo"} and rows[0].time_ms == int(T0 * 1000)
    assert "data" in last["changed"] and last["level"] and last["view"]["positions"]
    # Its samples went through the same writer: `pmtui history` reads them as before.
    assert len(History(tmp_path / "h.sqlite3").read()) == 6
    # A reader from a moment on starts at the keyframe before it.
    later = read_states(tmp_path / "h.sqlite3", since_ms=rows[4].time_ms, profile="demo")
    # (every state of that moment: a refresh may record two at one time)
    assert [strip(r.doc) for r in later] == [strip(r.doc) for r in rows if r.time_ms >= rows[4].time_ms]


async def test_the_view_is_derived_exactly_with_its_exposure_next_tiers_and_adl_queue(tmp_path):
    # With the risk model on, the view holds exposure per coin, each position's next margin tier
    # and ADL quantile: derived again on reading from the recorded inputs, never stored whole
    # (a residual in every row was most of the file's bytes).
    clock = Clock()
    monitor = make_monitor(Settings(), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=7, scenario="margin-call"))
    recorder = Recorder(tmp_path / "h.sqlite3", clock=clock)
    recorder.attach(monitor)
    published: list[dict] = []
    monitor.subscribe(lambda state: published.append(strip(state_doc(state))) if DATA in state.changed else None)
    for _ in range(3):
        await monitor.refresh()
        if monitor._risk_task is not None:
            await monitor._risk_task
        clock.now += 2
    await monitor.aclose()
    recorder.close(CLOSE_S)
    rows = [r for r in read_states(tmp_path / "h.sqlite3") if "view" in r.doc]
    assert rows and strip(rows[-1].doc) in published
    view = rows[-1].doc["view"]
    assert view["exposure"] and any(p.get("nextTier") for p in view["positions"])
    assert any(p.get("adlQuantile") is not None for p in view["positions"])
    assert all("view" not in r.stored["~"] for r in rows)  # nothing left over to store
    # A COIN-M position's notional and uPnL, Binance's formulas of its amount and prices, likewise.
    from pmtui.record import CM_NOTIONAL, CM_UPNL

    cm_stored, cm_doc = rows[-1].stored["cm"]["positionRisk"][0], rows[-1].doc["cm"]["positionRisk"][0]
    assert (cm_stored["notionalValue"], cm_stored["unRealizedProfit"]) == (CM_NOTIONAL, CM_UPNL)
    assert cm_doc["notionalValue"][1].isdigit() and cm_doc["unRealizedProfit"][0].isdigit()
    # The charts' nearest liquidation distance: read from the positionRisk rows, as the view has it.
    from pmtui.charts import liq_of_doc
    from pmtui.record import liq_distances

    assert all("liq" not in r.stored["~"] for r in rows)
    fresh = [r for r in read_states(tmp_path / "h.sqlite3") if "assets" in r.top]  # views not derived yet
    nearest = [liq_distances(r) for r in fresh]
    assert all(r.__dict__.get("_doc") is None for r in fresh)  # read without deriving the view
    assert nearest == [[{"liqDistance": str(liq_of_doc(r.doc))}] for r in fresh]
    # A UM asset's margins and uPnL, its positions' sums to the digit, are stored as that.
    usdt = next(a for a in rows[-1].stored["assets"] if a["asset"] == "USDT")
    assert usdt["maintMargin"] == usdt["crossUnPnl"] == usdt["initialMargin"] == SUM
    assert next(a for a in rows[-1].doc["assets"] if a["asset"] == "USDT")["maintMargin"][0].isdigit()
    # A position's maintenance margin, what its recorded brackets make of its notional, likewise.
    assert all(p["maintMargin"] == MM for p in rows[-1].stored["positions"])
    assert all(p["maintMargin"][0].isdigit() for p in rows[-1].doc["positions"])


def test_unchanged_states_cost_nothing(tmp_path):
    path = tmp_path / "h.sqlite3"
    clock = Clock()
    recorder = Recorder(path, clock=clock)
    state = real_state()
    recorder.put("p", state)
    recorder.close(CLOSE_S)
    size = on_disk(path)
    recorder = Recorder(path, clock=clock)
    recorder.put("p", state)  # a new writer starts on a keyframe
    for i in range(500):  # then 500 ticks and repeats of the same data: no row
        clock.now += 1
        recorder.put("p", dataclasses.replace(state, seq=i, changed=frozenset({CLOCK if i % 2 else DATA})))
    moved = dataclasses.replace(state, changed=frozenset({STATUS}),
                                status=dataclasses.replace(state.status, stale=True))
    recorder.put("p", moved)
    recorder.close(CLOSE_S)
    rows = read_states(path)
    assert len(rows) == 3 and rows[2].doc["stale"] is True
    assert set(rows[2].doc["changed"]) == {CLOCK, DATA, STATUS}  # the skipped states' kinds are kept
    grown = on_disk(path) - size
    assert grown < 64 * 1024  # one keyframe and one small delta, not 500 documents (~10 KB each)


def test_retention_deletes_old_rows_and_what_is_left_still_reads(tmp_path):
    path = tmp_path / "h.sqlite3"
    clock = Clock()
    recorder = Recorder(path, clock=clock, keyframe_every=4)
    state = real_state()
    for day in range(10):
        for i in range(6):
            clock.now = T0 + day * 86400 + i
            recorder.put("p", dataclasses.replace(state, status=dataclasses.replace(state.status,
                                                                                    last_ok_wall=clock.now)))
            recorder.put("p", dataclasses.replace(state, status=dataclasses.replace(state.status, stale=i % 2 == 0)))
    recorder.close(CLOSE_S)
    before = read_states(path)
    conn = sqlite3.connect(path)
    deleted = prune(conn, T0 + 9 * 86400 + 100, retention_days=3, max_size_mb=None)
    conn.close()
    after = read_states(path)
    assert deleted > 0 and after
    cut = (T0 + 6 * 86400 + 100) * 1000
    assert min(r.time_ms for r in after) >= cut - 86400 * 1000  # nothing from before the cut's keyframe
    assert all(r.time_ms >= cut for r in after[1:]) or after[0].time_ms < cut
    assert [strip(r.doc) for r in after] == [strip(r.doc) for r in before if r.time_ms >= after[0].time_ms]
    # max_size: the oldest go until the data fits.
    conn = sqlite3.connect(path)
    prune(conn, T0 + 9 * 86400 + 100, retention_days=None, max_size_mb=0.001)
    conn.close()
    assert len(read_states(path)) < len(after)


async def test_a_file_that_cannot_be_written_is_one_sentence_and_watching_goes_on(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=5, symbols=40))
    recorder = Recorder(blocker / "h.sqlite3")
    recorder.attach(monitor)
    notices = []
    monitor.subscribe(lambda state: notices.extend(state.notices))
    await monitor.refresh()
    wait_for(lambda: recorder.error is not None, "the writer to fail")
    for _ in range(3):
        await monitor.refresh()
        await asyncio.sleep(0)  # the notice is published on the loop's next turn
    await monitor.aclose()
    said = [n for n in notices if n.title == "Recording"]
    assert len(said) == 1 and str(blocker) in said[0].message and said[0].message.endswith("Recording stopped.")
    assert monitor._state is not None and monitor._state.view is not None  # still watching


def test_a_disk_that_cannot_keep_up_loses_the_oldest_states_counted():
    recorder = Recorder("/nonexistent/h.sqlite3", queue_size=3)
    recorder._thread = threading.Thread()  # a writer that never drains: the disk is stuck
    states = [dataclasses.replace(real_state(), seq=i) for i in range(5)]
    for state in states:
        recorder.put("p", state)
    assert recorder.dropped == 2 and [item[1][1].seq for item in recorder._queue] == [2, 3, 4]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write in: mode 0500, and immutable too when the tests run as root (root
    ignores the mode)."""
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("root here cannot make a folder read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_folder_is_one_sentence(read_only_folder):
    recorder = Recorder(read_only_folder / "h.sqlite3")
    recorder.put("p", real_state())
    wait_for(lambda: recorder.error is not None, "the writer to fail")
    why = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    file = read_only_folder / "h.sqlite3"
    assert recorder.error == f"Cannot create the history file {file}: {why}. Recording stopped."


def test_a_full_disk_is_one_sentence(tmp_path, monkeypatch):
    import pmtui.record

    def small(path):  # a disk with room for a few pages only
        conn = connect(path)
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages + 3}")
        return conn

    monkeypatch.setattr(pmtui.record, "connect", small)
    recorder = Recorder(tmp_path / "h.sqlite3", keyframe_every=1)  # whole documents: the disk fills fast
    state = real_state()
    for i in range(200):
        recorder.put("p", dataclasses.replace(state, status=dataclasses.replace(state.status, last_ok_wall=T0 + i)))
    wait_for(lambda: recorder.error is not None, "the writer to fail")
    assert recorder.error == f"Cannot record to {tmp_path / 'h.sqlite3'}: database or disk is full. Recording stopped."
    recorder.put("p", state)  # and after that, nothing is queued
    assert not recorder._queue


def test_the_file_is_private_and_in_wal_mode(tmp_path):
    path = tmp_path / "new" / "h.sqlite3"
    record_now(path, "p", real_state())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_hostile_strings_are_stored_as_data(tmp_path):
    path = tmp_path / "h.sqlite3"
    evil = "\x1b[2J[bold red]boom[/] ' OR 1=1; DROP TABLE states; --\u202e"
    event = AlertEvent(rule="unimmr_below", subject=evil, value=None, threshold=None, message=evil,
                       level=Level.DANGER, time=T0)
    state = real_state(alerts=(event,), account_note=evil)
    record_now(path, evil, state)
    (row,) = read_states(path)
    assert row.doc["alerts"][0]["message"] == evil  # the data, exactly, in the JSON document
    assert "\x1b" not in row.profile and "\u202e" not in row.profile  # a name shown is cleaned
    assert read_states(path, profile=evil)  # and found by what it is


def test_old_files_without_states_still_read(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE samples (time_ms INTEGER NOT NULL, profile TEXT NOT NULL, unimmr TEXT,"
                       " account_equity TEXT, maint_margin TEXT, total_upnl TEXT, level TEXT NOT NULL);"
                       "INSERT INTO samples VALUES (1, 'p', '1.5', '2', '3', '-4', 'ok');")
    conn.close()
    assert read_states(path) == []
    assert [s.unimmr for s in History(path).read()] == [pytest.approx(1.5)]
    with pytest.raises(HistoryError):
        read_states(tmp_path / "none.sqlite3")


def test_settings_for_recording():
    assert Settings().records(default=True) and not Settings().records(default=False)
    assert not Settings(record=False).records(default=True) and Settings(record=True).records(default=False)
    with pytest.raises(ValueError, match="retention_days"):
        Settings(retention_days=0)
    with pytest.raises(ValueError, match="max_size"):
        Settings(max_size=float("nan"))


WRITER = """
import asyncio
from pmtui.demo import DemoExchange
from pmtui.fleet import FleetOptions, make_monitor
from pmtui.record import Recorder
from pmtui.settings import Settings

async def main():
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=5, symbols=40))
    Recorder({path!r}).attach(monitor)
    while True:  # a refresh after another, each a state or two to record, until killed
        await monitor.refresh()
        await asyncio.sleep(0)

asyncio.run(main())
"""


def test_kill_9_mid_write_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "h.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(path=str(path)))
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE)
    try:
        def rows() -> int:  # states committed (a row holds a batch of them, rewritten each commit)
            try:
                return len(read_states(path))
            except HistoryError:
                return 0

        wait_for(lambda: rows() >= 10, "the writer to commit 10 states", timeout=30)
        seen = rows()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    back = read_states(path)
    assert len(back) >= seen  # every committed state, up to the last commit before the kill
    assert back[-1].doc["view"]["account"]["uniMMR"] and back[-1].profile == "demo"
    assert b"Traceback" not in (proc.stderr.read() if proc.stderr else b"")


def test_one_shot_records_and_history_states(capsys, exchange, tmp_path):
    from tests.cli.test_cli import run
    from tests.cli.test_cli_risk import pm_body

    file = tmp_path / "h.sqlite3"
    exchange(pm=(200, pm_body("1.40000000")))
    assert run(capsys, "check", "--demo", "--record", "--history-file", str(file))[0] == 1
    exchange(pm=(200, pm_body("2.10000000")))
    code, snapshot, _ = run(capsys, "--record", "--history-file", str(file), "snapshot", "--demo", "--json")
    assert code == 0
    code, out, _ = run(capsys, "history", "--history-file", str(file), "--states", "--format", "json")
    states = json.loads(out)
    assert code == 0 and [s["state"]["account"]["uniMMR"] for s in states] == ["1.40000000", "2.10000000"]
    assert [s["state"]["level"] for s in states] == ["WARN", "OK"] and states[0]["profile"] == "demo"
    shown = json.loads(snapshot)
    for key in ("account", "positions", "assets", "positionRisk"):
        assert states[1]["state"][key] == shown[key]  # what snapshot --json printed, exactly
    # The five figures come out as before.
    code, out, _ = run(capsys, "history", "--history-file", str(file), "--format", "json")
    assert [d["unimmr"] for d in json.loads(out)] == ["1.40000000", "2.10000000"]
    code, _, err = run(capsys, "history", "--history-file", str(file), "--states")
    assert code == 2 and "--format json" in err


async def test_the_fleet_records_every_account_through_one_writer(tmp_path):
    from pmtui.fleet import Account, Fleet

    options = FleetOptions(demo=True, profiles=("alpha", "bravo"), record=True, history_file=tmp_path / "h.sqlite3")
    accounts = [Account(p, Settings(profile=p, risk_model=False)) for p in options.profiles]
    fleet = Fleet.build(options, accounts, history=options.history())
    assert fleet.recorder is not None and all(a.monitor.recorder is fleet.recorder for a in fleet.watched)
    for account in fleet.watched:
        await account.monitor.refresh()
    await fleet.aclose()  # writes what is queued before it returns
    assert {r.profile for r in read_states(tmp_path / "h.sqlite3")} == {"alpha", "bravo"}
    assert {s.profile for s in History(tmp_path / "h.sqlite3").read()} == {"alpha", "bravo"}
    assert FleetOptions().history(wanted=True) is not None and FleetOptions().history() is None


def test_the_writer_enforces_retention_itself(tmp_path):
    path = tmp_path / "h.sqlite3"
    clock = Clock()
    # Every row a keyframe: an old row goes at once (a delta waits for the keyframe after it).
    recorder = Recorder(path, clock=clock, retention_days=1, keyframe_every=1)
    state = real_state()

    def at(seconds: float) -> None:
        clock.now = T0 + seconds
        recorder.put("p", dataclasses.replace(state, status=dataclasses.replace(state.status, last_ok_wall=clock.now)))

    at(0)
    # and its retention pass at that time (a pass at the later time would delete the row still filling)
    wait_for(lambda: recorder.written == 1 and recorder._pruned == T0, "the first state")
    at(3 * 86400)  # three days later: the first state is past retention
    recorder.close(CLOSE_S)
    assert [r.time_ms for r in read_states(path)] == [int((T0 + 3 * 86400) * 1000)]


async def test_rows_hold_no_derived_view_and_rows_of_the_first_format_still_read(tmp_path):
    """The view (what pmtui derived) is not in the file but comes back exactly; a row written
    as the whole document (the first format) reads as it was."""
    from pmtui.record import BATCH_KEY, KEYFRAME, _batch_text, _pack

    path = tmp_path / "h.sqlite3"
    clock = Clock()
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=5, symbols=40))
    recorder = Recorder(path, clock=clock)
    recorder.attach(monitor)
    published: list[dict] = []
    monitor.subscribe(lambda state: published.append(state_doc(state)))
    for _ in range(3):
        await monitor.refresh()
        clock.now += 2
    await monitor.aclose()
    recorder.close(CLOSE_S)
    conn = sqlite3.connect(path)
    bodies = [_batch_text(b, BATCH_KEY, b"") for (b,) in conn.execute("SELECT body FROM states WHERE kind = ?",
                                                                       (BATCH_KEY,))]
    assert bodies and not any(b"mmShare" in b for b in bodies)  # the view is derived, never stored
    rows = [r for r in read_states(path) if "view" in r.doc]
    assert rows and rows[-1].doc["view"] in [d.get("view") for d in published]
    old = {"fetchedAt": 1, "assets": [], "positions": [], "view": {"account": {"uniMMR": "9"}}, "level": "OK"}
    with conn:
        conn.execute("INSERT INTO states (time_ms, profile, level, unimmr, kind, body) VALUES (?, ?, ?, ?, ?, ?)",
                     (10**13, "old", "OK", "9", KEYFRAME, _pack(old)))
    conn.close()
    (again,) = read_states(path, profile="old")
    assert again.doc == old


async def test_open_states_decodes_only_what_is_asked_and_reads_the_same_documents(tmp_path):
    from pmtui.record import open_states
    from pmtui.replay import events

    path = tmp_path / "h.sqlite3"
    clock = Clock()
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=DemoExchange(seed=5, symbols=40, scenario="margin-call", step=14))
    recorder = Recorder(path, clock=clock, keyframe_every=3)  # several stretches
    recorder.attach(monitor)
    for _ in range(8):
        await monitor.refresh()
        clock.now += 2
    await monitor.aclose()
    recorder.close(CLOSE_S)
    eager = [r for r in read_states(path, profile="demo") if "assets" in r.doc or r.doc.get("error")]
    lazy = open_states(path, "demo")
    assert len(lazy) == len(eager) and lazy.times == [r.time_ms for r in eager]
    assert not lazy._kept  # opened: nothing decoded
    assert lazy[len(lazy) - 1].doc == eager[-1].doc and len(lazy._kept) == 1  # one stretch
    assert [r.doc for r in lazy] == [r.doc for r in eager]
    assert events(lazy) == events(eager)  # from the rows' columns, as from the documents
def test_the_states_the_mark_stream_publishes_each_second_are_not_recorded(tmp_path):
    """A fleet of 50 on the public mark stream would write 50 rows a second: its repriced states
    are the screen's; what is recorded is each REST refresh (and any alert the marks raise)."""
    from pmtui.state import MARKS

    class Source:
        profile = "a"
        history = recorder = None

        def __init__(self) -> None:
            self.callbacks: list = []

        def subscribe(self, callback):
            self.callbacks.append(callback)
            return lambda: None

    recorder = Recorder(tmp_path / "h.sqlite3", clock=Clock())
    source = Source()
    recorder.attach(source)
    seen: list = []
    recorder.put = lambda profile, state: seen.append(state.changed)  # type: ignore[method-assign]
    base = real_state()
    source.callbacks[0](dataclasses.replace(base, changed=frozenset({DATA, MARKS})))
    source.callbacks[0](dataclasses.replace(base, changed=frozenset({DATA})))
    recorder.close(CLOSE_S)
    assert seen == [frozenset({DATA})]


FIXTURES = Path(__file__).parent.parent / "fixtures" / "record"


def test_a_file_of_the_one_state_a_row_format_reads_as_before_and_records_on(tmp_path):
    """format-4.sqlite3 was written before batch rows (tests/fixtures/record/README.md): read
    eagerly or lazily, it is what that code read from it; recording on adds batch rows after."""
    import gzip
    import shutil

    from pmtui.record import open_states

    path = tmp_path / "h.sqlite3"
    shutil.copy(FIXTURES / "format-4.sqlite3", path)
    expected = json.loads(gzip.decompress((FIXTURES / "format-4.json.gz").read_bytes()))

    def seen(rows) -> list[dict]:
        return [{"time_ms": r.time_ms, "profile": r.profile, "stored": r.stored,
                 "uniMMR": ((r.doc.get("view") or {}).get("account") or {}).get("uniMMR")} for r in rows]

    assert seen(read_states(path)) == expected and len(expected) == 8
    lazy = open_states(path, "demo")
    assert seen(lazy) == expected[1:]  # not the first (connecting: no data)
    assert lazy[len(lazy) - 1].risk_model() is not None  # the ladder's inputs, as recorded
    recorder = Recorder(path, clock=Clock(T0 + 3600))
    recorder.put("demo", real_state())
    recorder.close(CLOSE_S)
    after = read_states(path)
    assert seen(after[:8]) == expected and len(after) == 9 and after[8].time_ms == int((T0 + 3600) * 1000)


def test_a_batch_of_states_is_one_row_written_at_each_commit(tmp_path):
    """BATCH_SIZE states a row (SQLite's cost per row and index entry paid once), the row being
    filled rewritten at each commit (what kill -9 may lose stays the last second's)."""
    from pmtui.record import BATCH, BATCH_KEY, BATCH_SIZE, DEFLATED, LZMA, open_states

    path = tmp_path / "h.sqlite3"
    clock = Clock()
    recorder = Recorder(path, clock=clock, keyframe_every=1000)  # rows that go on from the one before
    state = real_state()
    sent = []

    def put(i: int) -> None:
        clock.now = T0 + 2 * i
        moved = dataclasses.replace(state, status=dataclasses.replace(state.status, last_ok_wall=clock.now))
        sent.append(strip(state_doc(moved)))
        recorder.put("p", moved)

    for i in range(2):  # each committed state is in the file before the next one comes
        put(i)
        wait_for(lambda: path.exists() and len(read_states(path)) == len(sent), "the state committed")

    def bodies() -> list[bytes]:
        conn = sqlite3.connect(path)
        try:
            return [b[:1] for (b,) in conn.execute("SELECT body FROM states ORDER BY id")]
        finally:
            conn.close()

    assert bodies() == [DEFLATED]  # while it fills: deflate, fast enough to redo each second
    for i in range(2, 2 * BATCH_SIZE + 5):
        put(i)
    recorder.close(CLOSE_S)
    conn = sqlite3.connect(path)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM states ORDER BY id")]
    conn.close()
    assert kinds == [BATCH_KEY, BATCH, BATCH] and bodies() == [LZMA] * 3  # full or closed: sealed, smaller
    back = read_states(path)
    assert [strip(r.doc) for r in back] == sent
    assert [r.time_ms for r in back] == [int((T0 + 2 * i) * 1000) for i in range(len(sent))]
    # From a moment inside a row on: decoded from the keyframe before it, shown from that moment.
    lazy = open_states(path, "p", since_ms=back[40].time_ms, until_ms=back[50].time_ms)
    assert lazy.times == [r.time_ms for r in back[40:50]] and [strip(r.doc) for r in lazy] == sent[40:50]


def test_a_row_being_filled_that_retention_deleted_is_written_again(tmp_path):
    path = tmp_path / "h.sqlite3"
    clock = Clock()
    recorder = Recorder(path, clock=clock)
    state = real_state()
    recorder.put("p", state)
    wait_for(lambda: path.exists() and len(read_states(path)) == 1, "the first state committed")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM states")  # as max_size may, from another process
    conn.close()
    clock.now += 2
    recorder.put("p", dataclasses.replace(state, status=dataclasses.replace(state.status, stale=True)))
    recorder.close(CLOSE_S)
    assert [r.doc["stale"] for r in read_states(path)] == [False, True]
