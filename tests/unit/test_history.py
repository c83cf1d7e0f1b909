"""History: SQLite rows written and read back exactly, exports, --since parsing, session series."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from pmtui.history import (
    History,
    HistoryError,
    Sample,
    default_path,
    export_csv,
    export_json,
    insert,
    parse_when,
    sample_from_view,
)
from pmtui.models import UmAccount
from pmtui.series import Series, SessionSeries
from pmtui.settings import Thresholds
from pmtui.views import build_view
from tests.unit.test_risk import pm, usdt

T0 = 1_750_000_000_000


def sample(t=T0, profile="main", unimmr="1.23456789012345678901", equity="123456.78901234",
           mm="100000.00000000", upnl="-0.00000001", level="warn") -> Sample:
    return Sample(t, profile, None if unimmr is None else D(unimmr), D(equity), D(mm), D(upnl), level)


def test_default_path_is_in_the_user_data_dir(tmp_path_factory):
    path = default_path()
    assert path.name == "history.sqlite3" and path.parent.name == "pmtui"
    assert str(tmp_path_factory.getbasetemp()) in str(path)  # conftest isolates XDG_DATA_HOME
    History().record(sample())
    assert History().read() == [sample()]


def test_written_and_read_back_with_exact_decimals(tmp_path: Path):
    h = History(tmp_path / "sub" / "h.sqlite3")
    rows = [sample(T0), sample(T0 + 1000, unimmr=None, upnl="1E-8", level="ok"),
            sample(T0 + 2000, profile="other", equity="-5.10")]
    for row in rows:
        h.record(row)
    back = h.read()
    assert back == rows
    assert str(back[0].unimmr) == "1.23456789012345678901"  # not a float round trip
    assert str(back[2].account_equity) == "-5.10"  # trailing zero kept
    assert back[1].total_upnl == D("0.00000001") and back[1].unimmr is None


def test_read_filters_by_time_and_profile(tmp_path: Path):
    h = History(tmp_path / "h.sqlite3")
    for i in range(5):
        h.record(sample(T0 + i * 1000, profile="a" if i % 2 else "b"))
    assert [s.time_ms for s in h.read(since_ms=T0 + 1000, until_ms=T0 + 3000)] == [T0 + 1000, T0 + 2000]
    assert [s.time_ms for s in h.read(profile="a")] == [T0 + 1000, T0 + 3000]


#: The samples table as pmtui created it before it was keyed (WITHOUT ROWID): a rowid table and an index.
OLD_SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;
CREATE TABLE samples (time_ms INTEGER NOT NULL, profile TEXT NOT NULL, unimmr TEXT, account_equity TEXT,
                      maint_margin TEXT, total_upnl TEXT, level TEXT NOT NULL);
CREATE INDEX samples_by_time ON samples (time_ms);
"""


def test_a_new_file_keys_samples_by_time_and_profile(tmp_path: Path):
    h = History(tmp_path / "h.sqlite3")
    h.record(sample(T0 + 1000, profile="b"))
    h.record(sample(T0 + 1000, profile="a"))  # two accounts in one millisecond: both kept
    h.record(sample(T0, profile="b", level="ok"))
    h.record(sample(T0, profile="b", level="danger"))  # one account twice in a millisecond: the later
    assert [(s.time_ms, s.profile, s.level) for s in h.read()] == [
        (T0, "b", "danger"), (T0 + 1000, "a", "warn"), (T0 + 1000, "b", "warn")]
    with sqlite3.connect(h.path) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'samples'").fetchone()
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "WITHOUT ROWID" in sql and "samples_by_time" not in names  # the key is the only index


def test_an_old_file_reads_and_records_on(tmp_path: Path):
    from pmtui.record import Recorder

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO samples VALUES (?, 'main', '1.5', '2.50', '3', '-4', 'ok')", (T0,))
    h = History(path)
    h.record(sample(T0 + 1000, level="warn"))
    h.record(sample(T0 + 1000, level="danger"))  # no key here: both kept, in the order written
    recorder = Recorder(path)
    recorder.put_sample(sample(T0 + 2000))
    recorder.close()
    assert recorder.error is None
    back = h.read()
    assert [(s.time_ms, s.level) for s in back] == [(T0, "ok"), (T0 + 1000, "warn"), (T0 + 1000, "danger"),
                                                    (T0 + 2000, "warn")]
    assert str(back[0].account_equity) == "2.50" and back[3] == sample(T0 + 2000)
    with sqlite3.connect(path) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'samples'").fetchone()
    assert "WITHOUT ROWID" not in sql  # left as it was


def test_a_new_file_is_smaller_than_the_old_schema(tmp_path: Path):
    """The rowid and the index on time cost more than the key's B-tree leaves pages short."""
    sizes = {}
    for name in ("old", "new"):
        path = tmp_path / f"{name}.sqlite3"
        if name == "old":
            with sqlite3.connect(path) as conn:
                conn.executescript(OLD_SCHEMA)
        conn = History(path)._connect(create=True)
        with conn:
            for i in range(2000):
                insert(conn, sample(T0 + 2000 * i, profile="demo", unimmr="9.66563957", equity="703832.02355200",
                                    mm="72817.94637215", upnl=f"-13018.40028119{i:08d}", level="ok"))
        (sizes[name],) = conn.execute("PRAGMA page_count").fetchone()
        conn.close()
    assert sizes["new"] < sizes["old"], sizes  # 52 pages against 56 here


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_history_file_is_private(tmp_path: Path):
    h = History(tmp_path / "new" / "h.sqlite3")
    h.record(sample())
    assert stat.S_IMODE(h.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(h.path.parent.stat().st_mode) == 0o700


def test_missing_or_broken_file_is_one_sentence(tmp_path: Path):
    with pytest.raises(HistoryError) as info:
        History(tmp_path / "none.sqlite3").read()
    assert "no history file" in info.value.message and "--record" in info.value.message
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError) as info:
        History(junk).record(sample())
    assert str(junk) in info.value.message


async def test_async_wrappers_run_off_the_loop(tmp_path: Path):
    h = History(tmp_path / "h.sqlite3")
    await h.arecord(sample())
    assert await h.aread(since_ms=T0) == [sample()]


def test_export_csv_and_json_keep_decimal_strings():
    rows = [sample(), sample(T0 + 1500, unimmr=None)]
    buf = io.StringIO()
    export_csv(rows, buf)
    parsed = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert parsed[0]["unimmr"] == "1.23456789012345678901" and parsed[0]["total_upnl"] == "-0.00000001"
    assert parsed[0]["time"] == "2025-06-15T15:06:40.000Z" and parsed[1]["time"].endswith("41.500Z")
    assert parsed[1]["unimmr"] == ""
    buf = io.StringIO()
    export_json(rows, buf)
    data = json.loads(buf.getvalue())
    assert data[0]["account_equity"] == "123456.78901234" and data[1]["unimmr"] is None
    assert data[0]["time_ms"] == T0 and data[0]["level"] == "warn"


def test_sample_from_view_prefers_the_account_object():
    um = UmAccount(assets=(usdt(wallet="9000", upnl="-250.5", mm="1000"),), positions=())
    with_pm = sample_from_view(build_view(um, Thresholds(), pm=pm("1.4", "9100", "6500")), "p", T0)
    assert with_pm == Sample(T0, "p", D("1.4"), D("9100"), D("6500"), D("-250.5"), "warn")
    without = sample_from_view(build_view(um, Thresholds()), "p", T0)
    assert without == Sample(T0, "p", None, D("8749.5"), D("1000"), D("-250.5"), "ok")


def test_parse_when():
    now = 1_750_000_000.0
    assert parse_when("12h", now) == int((now - 12 * 3600) * 1000)
    assert parse_when("30m", now) == int((now - 1800) * 1000)
    assert parse_when("1.5d", now) == int((now - 1.5 * 86400) * 1000)
    assert parse_when("2025-06-01T08:00:00+00:00", now) == 1_748_764_800_000
    local = datetime(2025, 6, 1, 8, 0).timestamp()
    assert parse_when("2025-06-01T08:00", now) == int(local * 1000)
    with pytest.raises(ValueError, match="not a time"):
        parse_when("yesterday", now)


def test_series_is_a_ring_buffer_with_min_and_max():
    s = Series(3)
    assert s.min is None and s.max is None and s.last is None and s.floats() == []
    for v in ("5", "1", None, "3", "4"):
        s.append(None if v is None else D(v))
    assert s.values == [None, D("3"), D("4")] and len(s) == 3 and s.maxlen == 3
    assert (s.min, s.max, s.last) == (D("3"), D("4"), D("4"))
    assert s.floats() == [3.0, 4.0]
    with pytest.raises(ValueError):
        Series(0)


def test_session_series():
    session = SessionSeries(maxlen=2)
    for i in range(3):
        session.add(sample(T0 + i, unimmr=str(2 + i), upnl=str(-i)))
    assert session.unimmr.values == [D(3), D(4)] and session.upnl.min == D(-2)
    assert session.equity.max == D("123456.78901234")
