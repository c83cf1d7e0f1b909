"""`pmtui report` (pmtui.report): the post-mortem of a recorded demo margin call."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal

import pytest

from pmtui import fmt
from pmtui.record import Recorded, read_states
from pmtui.replay import state_of
from pmtui.report import GAP_INTERVALS, ReportError, build, html_page, markdown, sparkline
from pmtui.settings import Settings, Thresholds
from tests.tui.test_replay import record

SETTINGS = Settings(risk_model=False)
HOSTILE = "<script>alert(1)</script>|\x1b[2J"


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[Recorded]:
    """The demo's margin call, 20 refreshes 2 s apart on a ManualClock (OK, WARN, DANGER), recorded
    by a Recorder and read back."""
    path = tmp_path_factory.mktemp("report") / "h.sqlite3"
    asyncio.run(record(path, refreshes=20))
    return read_states(path, profile="demo")


def data_rows(rows: list[Recorded]) -> list[Recorded]:
    return [r for r in rows if "assets" in r.doc]


def test_each_level_change_names_the_position_whose_maintenance_margin_moved_most(rows):
    report = build("demo", rows, SETTINGS)
    data = data_rows(rows)
    levels = [r.doc["level"] for r in data]
    moments = [i for i in range(1, len(data)) if levels[i] != levels[i - 1]]
    assert [(c.before, c.after) for c in report.changes] == [(levels[i - 1], levels[i]) for i in moments]
    assert len(moments) >= 2
    text = markdown(report)
    for change, i in zip(report.changes, moments, strict=True):
        # From the data itself: every position's MM in the state before and the state after.
        was, now = (state_of(data[k].doc, data[k].time_ms, SETTINGS).view for k in (i - 1, i))
        before = {r.key: r for r in was.open_positions}
        moved = {r.key: (before[r.key].maint_usd, r.maint_usd) for r in now.open_positions}
        top = max(moved, key=lambda k: abs(moved[k][1] - moved[k][0]))
        least = min(moved, key=lambda k: abs(moved[k][1] - moved[k][0]))
        a, b = moved[top]
        symbol = now.row(top).position.symbol
        assert change.by_maint[0].name == symbol and change.by_maint[0].maint_change == b - a
        assert change.time_ms == data[i].time_ms
        # The level change's row names it, with its figure and the change.
        line = next(line for line in text.splitlines() if line.startswith(f"| {fmt.utc_time(data[i].time_ms)} |"))
        assert f"{change.before} → {change.after}" in line
        assert f"{symbol}: MM {fmt.money(a)} → {fmt.money(b)} ({fmt.money(b - a, sign=True)})" in line
        assert now.row(least).position.symbol not in line  # the ranking chose: not every position is named
        assert fmt.ratio(Decimal(data[i].doc["view"]["account"]["uniMMR"])) in line
        assert data[i].doc["reason"] in line


def test_the_report_lists_every_alert_with_its_time_and_message(rows):
    recorded = [a for r in rows for a in r.doc.get("alerts", ())]
    assert recorded, "the margin call fires an alert in 20 refreshes"
    report = build("demo", rows, SETTINGS)
    assert [(a.time_ms, a.state, a.message) for a in report.alerts] == \
        [(a["time_ms"], a["state"], a["message"]) for a in recorded]
    text, page = markdown(report), html_page(report)
    for a in recorded:
        start = f"| {fmt.utc_time(a['time_ms'])} | {a['state']}"
        row = next(line for line in text.splitlines() if line.startswith(start))
        assert a["message"] in row and a["level"] in row
        assert a["message"] in page
    assert "## Faults and data gaps\n\nNone:" in text  # the demo ran without one


def test_the_chart_has_the_band_lines_from_the_settings(rows):
    settings = Settings(risk_model=False, thresholds=Thresholds(unimmr_warn="3", unimmr_danger="2.5",
                                                                unimmr_critical="2.2"))
    page = html_page(build("demo", rows, settings))
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'\"" in page  # no script, nothing fetched
    assert page.count("<svg") == 1 and "<polyline" in page
    for words in ("warn 3", "danger 2.5", "critical 2.2"):
        assert f">{words}</text>" in page
    text = markdown(build("demo", rows, settings))
    assert "Bands: warn 3, danger 2.5, critical 2.2." in text
    spark = text.split("## uniMMR\n\n`")[1].split("`")[0]
    assert spark[0] == "█" and spark[-1] == "▁"  # the ratio fell through the period


def test_faults_stale_stretches_and_gaps_are_listed(rows):
    data = data_rows(rows)
    gap = GAP_INTERVALS * 2 * 1000 + 30_000  # longer than five 2 s intervals
    faulty = []
    for i, r in enumerate(data):
        doc, t = dict(r.doc), r.time_ms + (gap if i >= 10 else 0)
        if i in (4, 5):
            doc = {**doc, "error": "The exchange timed out.", "stale": True}
        if i == 7:
            doc = {**doc, "stale": True}
        faulty.append(Recorded(t, r.profile, doc))
    report = build("demo", faulty, SETTINGS)
    assert [(o.kind, o.start_ms, o.end_ms) for o in report.outages] == [
        ("fault", faulty[4].time_ms, faulty[6].time_ms),
        ("stale", faulty[7].time_ms, faulty[8].time_ms),
        ("gap", faulty[9].time_ms, faulty[10].time_ms),
    ]
    text = markdown(report)
    assert "| fault: The exchange timed out. |" in text
    assert f"gap: nothing recorded for {fmt.age((faulty[10].time_ms - faulty[9].time_ms) / 1000)}" in text


def test_text_from_the_network_comes_out_as_data(rows):
    # Every symbol, reason, subject and message that said BTCUSDT now says something hostile.
    as_json = json.dumps(HOSTILE)[1:-1]
    hostile = [Recorded(r.time_ms, r.profile, json.loads(json.dumps(r.doc).replace("BTCUSDT", as_json))) for r in rows]
    hostile[-1] = Recorded(hostile[-1].time_ms, "demo", {**hostile[-1].doc, "error": HOSTILE, "stale": True})
    report = build(HOSTILE, hostile, SETTINGS)
    assert any("<script>" in m.name for c in report.changes for m in c.moves)  # it got this far as data
    page = html_page(report)
    assert "<script" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|\\x1b[2J" in page
    text = markdown(report)
    assert re.search(r"(?<!\\)<", text) is None and "\x1b" not in text  # every < escaped: no HTML in it
    assert "\\<script\\>alert(1)\\</script\\>\\|\\\\x1b\\[2J" in text
    # No table cell broken by the | in a symbol: each row of the level changes has its 5 cells.
    rows_of_changes = text.split("## Level changes")[1].split("###")[0].splitlines()[4:]
    assert rows_of_changes and all(len(re.findall(r"(?<!\\)\|", line)) == 6 for line in rows_of_changes if line)


def test_a_period_of_nothing_but_connecting_is_one_sentence():
    with pytest.raises(ReportError, match="Nothing but connecting was recorded for profile demo"):
        build("demo", [Recorded(1, "demo", {"level": None})], SETTINGS)


def test_the_sparkline_shows_each_slice_at_its_lowest():
    from pmtui.report import Point

    points = [Point(i, Decimal(v), "OK") for i, v in enumerate(["3", "1", "3", "3", "2", "2"])]
    assert sparkline(points, width=3) == "▁█▄"
    assert sparkline([Point(0, None, "")]) == ""
    assert sparkline([Point(0, Decimal("2"), "OK"), Point(1, None, "")], width=2) == "▁ "


def test_one_state_is_a_report_too(rows):
    first = next(r for r in rows if "assets" in r.doc)
    report = build("demo", [first], SETTINGS)
    assert not report.changes and not report.outages
    assert "None: the level stayed the same through the period." in markdown(report)
    page = html_page(report)
    assert "<circle" in page and "<polyline" not in page  # one point, drawn as a dot
