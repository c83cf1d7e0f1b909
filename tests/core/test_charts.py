"""pmtui.charts: the history panel's points from the recording and the session."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pmtui.charts import ChartData, combine, from_recording, from_session, latest, liq_of_doc, lowest, segments, thin
from pmtui.history import Sample
from pmtui.record import read_states
from pmtui.series import SessionSeries
from tests.tui.test_replay import T0, record


def test_thinning_keeps_the_lowest_unimmr_of_each_stretch():
    points = [(float(t), Decimal("3")) for t in range(100)]
    points[37] = (37.0, Decimal("1.1"))  # a dip of one sample
    kept = thin(points, 0, 100, lowest, buckets=10)
    assert len(kept) == 10 and (37.0, Decimal("1.1")) in kept
    assert thin(points, 0, 100, latest, buckets=10)[3] == (39.0, Decimal("3"))


def test_a_gap_is_not_joined():
    points = [(0.0, Decimal(1)), (10.0, Decimal(1)), (500.0, Decimal(1))]
    assert [len(run) for run in segments(points, 90)] == [2, 1]


def test_the_session_keeps_times_and_the_nearest_liquidation():
    series = SessionSeries()
    series.add(Sample(1000, "p", Decimal("2.5"), Decimal("100"), None, None, "OK"), Decimal("0.12"))
    series.add(Sample(3000, "p", None, Decimal("90"), None, None, "OK"))
    data = from_session(series)
    assert data.unimmr == ((1.0, Decimal("2.5")),) and data.equity[-1] == (3.0, Decimal("90"))
    assert data.liq == ((1.0, Decimal("0.12")),) and series.version == 2
    joined = combine(ChartData(unimmr=((0.5, Decimal("3")), (1.0, Decimal("2.5")))), data)
    assert [p[0] for p in joined.unimmr] == [0.5, 1.0]  # the session's older points are in the recording


def test_from_recording_reads_the_samples_and_the_states(tmp_path):
    path = tmp_path / "h.sqlite3"
    asyncio.run(record(path, refreshes=8))
    states = [r for r in read_states(path, profile="demo") if "assets" in r.doc]
    since, until = int(T0 * 1000) - 1000, int(T0 * 1000) + 60_000
    data = from_recording(path, "demo", since, until)
    assert data.source == "recorded" and len(data.unimmr) == 8
    assert [str(v) for _, v in data.unimmr] == [r.doc["account"]["uniMMR"] for r in states]
    nearest = min(d for r in states if (d := liq_of_doc(r.doc)) is not None)
    assert data.liq and min(v for _, v in data.liq) == nearest
    assert from_recording(path, "someone-else", since, until) == ChartData(source="recorded")
    # Sixteen seconds recorded in a 7-day span: every sample, and the states around them, still read.
    week = from_recording(path, "demo", until - 7 * 86400 * 1000, until)
    assert len(week.unimmr) == 8 and min(v for _, v in week.liq) == nearest


def test_a_long_record_is_probed_around_its_samples(tmp_path, monkeypatch):
    import pmtui.charts as charts

    path = tmp_path / "h.sqlite3"
    asyncio.run(record(path, refreshes=6))
    states = [r for r in read_states(path, profile="demo") if "assets" in r.doc]
    monkeypatch.setattr(charts, "READ_ALL", 0)  # as if it were longer than an hour
    until = int(T0 * 1000) + 60_000
    data = from_recording(path, "demo", until - 86400 * 1000, until)
    # Each probe keeps the nearest of the states within 15 s of its sample: here all of them.
    assert data.liq and {v for _, v in data.liq} == {min(d for r in states if (d := liq_of_doc(r.doc)) is not None)}
