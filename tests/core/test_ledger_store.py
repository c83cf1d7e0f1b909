"""The ledger kept in the history file (--record): rows keyed by (profile, endpoint, id), and how
far each endpoint was read, so a new session reads on from there; a file that fails is a sentence."""

from __future__ import annotations

import os
import sqlite3

from pmtui.clock import ManualClock
from pmtui.ledger import LOOKBACK_MS, OVERLAP_MS, Ledger
from pmtui.ledgerstore import LedgerStore
from tests.unit.test_ledger import NOW_MS, UM, FakeClient, income


async def test_a_second_session_has_the_first_ones_rows_and_reads_on_from_where_it_ended(tmp_path):
    path = tmp_path / "history.sqlite3"
    rows = [income(NOW_MS - 3_600_000, 1), income(NOW_MS - 60_000, 2)]
    first = Ledger(clock=ManualClock(NOW_MS / 1000))
    store = LedgerStore(path, "main")
    await first.update(FakeClient({UM: lambda p: rows}))
    await first.save(store, NOW_MS)
    assert os.stat(path).st_mode & 0o777 == 0o600  # account data: private
    later = NOW_MS + 3_600_000
    second = Ledger(clock=ManualClock(later / 1000))
    client = FakeClient({UM: lambda p: rows + [income(later - 1000, 3)]}, now_ms=later)
    await second.load(store, later)
    assert [e.id for e in second.view().entries] == ["FUNDING_FEE:1", "FUNDING_FEE:2"]
    await second.update(client)
    assert client.windows_of(UM) == [(NOW_MS - 2 * OVERLAP_MS, later)]  # not a week back again
    assert [e.id for e in second.view().entries] == ["FUNDING_FEE:1", "FUNDING_FEE:2", "FUNDING_FEE:3"]
    await second.save(store, later)
    with sqlite3.connect(path) as conn:  # each row once, however often it was read
        assert conn.execute("SELECT COUNT(*) FROM ledger_rows WHERE profile = 'main'").fetchone() == (3,)
    other = Ledger(clock=ManualClock(later / 1000))
    await other.load(LedgerStore(path, "other"), later)  # another profile's rows are its own
    assert other.view().entries == ()
    assert LOOKBACK_MS > 2 * OVERLAP_MS


async def test_a_history_file_that_cannot_be_written_is_one_sentence_and_the_ledger_goes_on(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # (chmod would not stop root; a file in the way stops anyone)
    ledger = Ledger(clock=ManualClock(NOW_MS / 1000))
    store = LedgerStore(blocked / "history.sqlite3", "main")
    await ledger.load(store, NOW_MS)
    await ledger.update(FakeClient({UM: lambda p: [income(NOW_MS - 5, 1)]}))
    await ledger.save(store, NOW_MS)
    view = ledger.view()
    assert len(view.entries) == 1
    note = next(n for n in view.notes if "history file" in n)
    assert note.startswith("Cannot create the history file ") and note.endswith(".")


async def test_the_monitor_keeps_its_ledger_in_the_history_file_it_records_to(tmp_path):
    from tests.core.test_ledger_monitor import _refresh_and_read, demo_monitor

    path = tmp_path / "history.sqlite3"
    monitor, _, _ = demo_monitor("normal")
    monitor.ledger_store = LedgerStore(path, "demo")  # what Fleet.build sets with --record
    async with monitor:
        await _refresh_and_read(monitor)
        read = len(monitor.state.ledger.entries)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ledger_rows").fetchone() == (read,) and read > 100
        assert conn.execute("SELECT COUNT(*) FROM ledger_read").fetchone() == (7,)
