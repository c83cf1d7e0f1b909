"""`pmtui replay` (pmtui.replay, pmtui.tui.replay): the dashboard on recorded states, read-only."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx
import pytest

from pmtui import fmt
from pmtui.cli import main
from pmtui.clock import ManualClock
from pmtui.demo import DemoExchange
from pmtui.fleet import FleetOptions, make_monitor
from pmtui.record import Recorder, read_states
from pmtui.replay import GAP, ReplayMonitor, events, load, nearest, state_of
from pmtui.settings import Settings
from pmtui.state import ALERTS
from pmtui.tui.replay import NO_LADDER, ReplayApp
from pmtui.tui.widgets.ladder import LadderScreen
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.summary import SummaryBar

T0 = 1_796_600_000.0  # 2026-12-06


async def record(path: Path, refreshes: int = 8) -> DemoExchange:
    """A demo margin-call stretch (OK, then WARN), 2 s apart on a fake clock, recorded."""
    clock = ManualClock(T0)
    exchange = DemoExchange(seed=5, symbols=40, scenario="margin-call", clock=clock.time, step=14)
    monitor = make_monitor(Settings(risk_model=False), FleetOptions(demo=True), profile="demo",
                           transport=exchange, clock=clock)
    recorder = Recorder(path, clock=clock.time)
    recorder.attach(monitor)
    for _ in range(refreshes):
        await monitor.refresh()
        clock.advance(2)
    await monitor.aclose()
    await asyncio.to_thread(recorder.close)
    assert recorder.error is None
    return exchange


class Ticks:
    """The replay's injected clock: moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def recorded(tmp_path):
    path = tmp_path / "h.sqlite3"
    exchange = await record(path)
    return path, exchange


async def test_a_recorded_state_reads_back_as_the_state_it_was(recorded):
    path, _ = recorded
    rows = [r for r in read_states(path) if "assets" in r.doc]
    for row in rows:
        state = state_of(row.doc, row.time_ms, Settings())
        doc_account = row.doc["view"]["account"]
        assert state.pm is not None and str(state.pm.uniMMR) == row.doc["account"]["uniMMR"]
        assert state.verdict is not None and state.verdict.word == row.doc["level"]
        assert state.verdict.reason == row.doc["reason"]
        assert state.view is not None and len(state.view.open_positions) == len(row.doc["view"]["positions"])
        assert str(state.view.totals.maint_margin) == doc_account["maintMargin"]
        assert state.status.word == "REPLAY"  # never LIVE


async def test_replay_steps_jumps_plays_and_never_says_live(recorded, monkeypatch):
    path, exchange = recorded

    def no_requests(*_: object, **__: object) -> None:
        raise AssertionError("a replay made an HTTP request")

    monkeypatch.setattr(httpx.AsyncClient, "send", no_requests)
    requests = exchange.requests
    rows = read_states(path, profile="demo")
    data = [r for r in rows if "assets" in r.doc]
    levels = [r.doc["level"] for r in data]
    change = next(i for i in range(1, len(levels)) if levels[i] != levels[i - 1])
    ticks = Ticks()
    monitor = ReplayMonitor("demo", Settings(risk_model=False), rows, clock=ticks)
    app = ReplayApp(settings=Settings(risk_model=False), monitor=monitor, title="DEMO demo", start=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = data[0].doc["account"]["uniMMR"]
        status = app.query_one("#status", StatusBar)

        def shown() -> str:
            return app.export_screenshot()

        assert monitor.cursor == 0 and app.state is not None and str(app.state.pm.uniMMR) == first
        text = shown()
        assert "8.11" in text and "REPLAY" in text and "LIVE" not in text
        assert "state 1 of" in str(status.render())
        await pilot.press("L")  # the ladder says why it has nothing, not "waiting for its inputs"
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen) and app.screen._note == NO_LADDER
        await pilot.press("escape")
        await pilot.pause()
        # Where room is short the key hints go, never the time: the bar stays one line.
        narrow = status.render_text(app.state.status, 70).plain
        assert "\n" not in narrow and "2026-12-0" in narrow and "[/] event" not in narrow
        # The header's clock is the recorded moment's, not today's.
        assert fmt.clock_time(data[0].time_ms / 1000) in str(app.query_one(SummaryBar).render())
        await pilot.press("right")
        await pilot.pause()
        assert monitor.cursor == 1 and app.state.seq == monitor.state_at(1).seq
        await pilot.press("left", "right_square_bracket")
        await pilot.pause()
        assert monitor.cursor == change and app.state.verdict.word == levels[change] != levels[change - 1]
        await pilot.press("left_square_bracket")  # the first level change is the first event
        await pilot.pause()
        assert monitor.cursor == change
        assert any("No earlier event" in n.message for n in app._notifications)
        await pilot.press("left")
        await pilot.pause()
        assert monitor.cursor == change - 1
        # space: 1x, then 10x; 10 s of wall time at 10x is 100 s recorded: the end, and it stops.
        await pilot.press("space")
        assert monitor.speed == 1
        ticks.now += 2.0
        monitor.tick()
        await pilot.pause()
        assert monitor.cursor > 0
        await pilot.press("space")
        assert monitor.speed == 10
        ticks.now += 10.0
        monitor.tick()
        await pilot.pause()
        assert monitor.cursor == len(data) - 1 and monitor.speed == 0
        # r and p fetch nothing and say so.
        await pilot.press("r", "p")
        await pilot.pause()
        assert any("read-only" in n.message for n in app._notifications)
        bar = str(status.render())
        assert bar.startswith(" REPLAY ") and "LIVE" not in bar and f"state {len(data)} of {len(data)}" in bar
    assert exchange.requests == requests  # not one request: the replay has no client at all
    assert monitor.client is None


async def test_at_picks_the_nearest_state_and_nothing_recorded_is_one_sentence(recorded, capsys, tmp_path):
    path, _ = recorded
    rows = [r for r in read_states(path) if "assets" in r.doc]
    target = rows[3].time_ms + 700  # nearer the 4th state than the 5th (2 s apart)
    options = FleetOptions(demo=True, history_file=path)
    profile, _, records, start = load(options, at_ms=target, now=T0 + 60)
    assert profile == "demo" and records[start].time_ms == rows[3].time_ms
    assert nearest(records, rows[4].time_ms - 600) == start + 1
    _, _, _, start = load(options, since_ms=int(T0 * 1000), now=T0 + 60)
    assert start == 0
    # Nothing recorded: one sentence, exit 1.
    empty = tmp_path / "empty.sqlite3"
    assert main(["replay", "--demo", "--history-file", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Nothing recorded for profile demo" in err and str(empty) in err
    assert "record with --record or run the daemon" in err
    assert main(["replay", "--demo", "--profile", "alpha", "--history-file", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Nothing recorded for profile alpha in the last 24 hours in the history file" in err


async def test_events_are_alerts_level_changes_and_faults_and_a_play_skips_long_gaps(recorded):
    path, _ = recorded
    rows = [r for r in read_states(path) if "assets" in r.doc]
    alert = {"rule": "unimmr_below", "subject": "account", "state": "fired", "level": "danger", "value": "1.4",
             "threshold": "1.5", "message": "uniMMR 1.4 is below 1.5.", "time_ms": rows[1].time_ms,
             "time": "", "items": []}
    hours = 3 * 3600 * 1000
    edited = [rows[0],
              dataclasses.replace(rows[1], doc={**rows[1].doc, "alerts": [alert]}),
              dataclasses.replace(rows[2], doc={**rows[2].doc, "error": "The exchange did not answer."}),
              rows[3]]
    # Hours later (a gap while nothing was recorded), the same data again.
    edited += [dataclasses.replace(r, time_ms=r.time_ms + hours) for r in rows[3:5]]
    assert events(edited) == [1, 2, 3]  # the alert, the fault, its recovery
    ticks = Ticks()
    published = []
    monitor = ReplayMonitor("demo", Settings(risk_model=False), edited, clock=ticks)
    monitor.subscribe(published.append)
    monitor.jump(1)
    assert monitor.cursor == 1 and published[-1].alerts[0].message == "uniMMR 1.4 is below 1.5."
    assert published[-1].notices[0].message == "uniMMR 1.4 is below 1.5." and ALERTS in published[-1].changed
    monitor.jump(1)
    state = published[-1]
    assert state.status.error is not None and state.status.word == "REPLAY"
    assert "The exchange did not answer." in state.status.error.message
    monitor.step(1)
    monitor.toggle_play()  # 1x: the three hours are skipped after GAP seconds, not waited out
    for _ in range(2):
        ticks.now += GAP / 2
        monitor.tick()
    assert monitor.cursor == 3  # 30 s of the gap played
    ticks.now += GAP / 2
    monitor.tick()
    assert monitor.cursor == 4 and monitor.speed == 1  # then the rest of its three hours skipped
    hours_on = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(edited[4].time_ms / 1000))
    assert hours_on in (monitor.state.status.replay or "")  # the recorded time, three hours on
    ticks.now += GAP / 2
    monitor.tick()
    assert monitor.cursor == 5 and monitor.speed == 0 and published[-1].notices[-1].message == "End of the recording."


async def test_a_margin_call_replays_with_the_risk_model_and_ladder_the_live_one_had(tmp_path):
    """The risk model's inputs are recorded: the replayed moment's model (its model line and
    ladder) is the one the live dashboard had, and every document reads back as recorded."""
    from pmtui.budget import WeightBudget
    from pmtui.record import state_doc

    path = tmp_path / "h.sqlite3"
    clock = ManualClock(T0)
    exchange = DemoExchange(seed=5, scenario="margin-call", clock=clock.time, step=14)
    monitor = make_monitor(Settings(), FleetOptions(demo=True), profile="demo", transport=exchange, clock=clock,
                           budget=WeightBudget(1.0, limit=10**9, clock=clock))  # never waits on the frozen clock
    recorder = Recorder(path, clock=clock.time)
    recorder.attach(monitor)
    live: list[tuple[dict, object]] = []
    monitor.subscribe(lambda s: live.append((state_doc(s), s.risk)))
    for _ in range(5):
        await monitor.refresh()
        while monitor._risk_task is not None:  # the model's inputs
            await monitor._risk_task
        clock.advance(2)
    await monitor.aclose()
    await asyncio.to_thread(recorder.close)
    assert recorder.error is None
    rows = [r for r in read_states(path, profile="demo") if "assets" in r.doc]
    with_risk = [(d, m) for d, m in live if m is not None]
    assert rows and with_risk
    docs = [d for d, _ in live]
    strip = lambda d: {k: v for k, v in d.items() if k not in ("changed", "changedPositions")}  # noqa: E731
    for row in rows:  # every recorded document, view and risk block included, is one the live one printed
        assert strip(row.doc) in [strip(d) for d in docs]
    last_doc, last_model = with_risk[-1]
    replay = ReplayMonitor("demo", Settings(), rows, clock=Ticks(), start=len(rows) - 1)
    model = replay.state.risk
    assert model is not None and model.to_json() == last_model.to_json() == rows[-1].doc["view"]["risk"]
    app = ReplayApp(settings=Settings(), monitor=replay, title="DEMO demo", start=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen) and app.screen._model is model and app.screen._note is None
async def test_t_goes_to_a_typed_time_and_bad_input_is_one_sentence(recorded):
    path, _ = recorded
    rows = read_states(path, profile="demo")
    monitor = ReplayMonitor("demo", Settings(risk_model=False), rows, clock=Ticks())
    app = ReplayApp(settings=Settings(risk_model=False), monitor=monitor, title="DEMO demo", start=False)
    records = monitor.records
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()

        async def go(text: str) -> None:
            await pilot.press("t")
            await pilot.pause()
            await pilot.press(*text, "enter")
            await pilot.pause()

        await go("+6s")  # states are 2 s apart: three on
        assert monitor.cursor == 3
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(records[5].time_ms / 1000))
        await go(moment)
        assert monitor.cursor == 5 and app.state.seq == monitor.state_at(5).seq
        await go("-2s")
        assert monitor.cursor == 4
        before = (monitor.cursor, app.state.seq, len(app._notifications))
        await go("banana")
        assert (monitor.cursor, app.state.seq) == before[:2]
        said = list(app._notifications)[before[2]:]
        assert [n.message for n in said] == ["'banana' is not a time: type a date and time like 2026-12-07 03:14, "
                                             "a time like 03:14, or -2h."]
        assert app.screen is app.screen_stack[0]  # the box is gone, the dashboard as it was
        await go("-1d")  # before the recording: its first state, said
        assert monitor.cursor == 0
        assert any("before the recording starts" in n.message for n in app._notifications)


def test_parse_moment_reads_the_three_forms():
    from datetime import datetime

    from pmtui.replay import parse_moment

    shown = int(datetime(2026, 12, 7, 4, 0).timestamp() * 1000)
    assert parse_moment("2026-12-07 03:14", shown) == int(datetime(2026, 12, 7, 3, 14).timestamp() * 1000)
    assert parse_moment("03:14", shown) == int(datetime(2026, 12, 7, 3, 14).timestamp() * 1000)
    assert parse_moment("-2h", shown) == shown - 2 * 3600 * 1000
    assert parse_moment("+30m", shown) == shown + 30 * 60 * 1000
    for bad in ("banana", "25:99", "+99999999999d", "03:14 tomorrow"):
        with pytest.raises(ValueError, match="is not a time"):
            parse_moment(bad, shown)
