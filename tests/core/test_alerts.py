"""Alert rules: when they fire, hysteresis, cooldown, escalation; the command hook and notify-send
(pmtui.notify)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from decimal import Decimal as D
from pathlib import Path

from pmtui.alerts import (
    ACCOUNT,
    CLEARED,
    ESCALATED,
    FIRED,
    AlertEvent,
    Alerts,
    AlertState,
    Rule,
    check_rules,
    rules_from,
)
from pmtui.health import Level
from pmtui.models import UmAccount
from pmtui.notify import Notifier
from pmtui.settings import AlertSettings, Settings, Thresholds
from pmtui.views import build_view
from tests.unit.test_risk import pm, position, risk, usdt

T = Thresholds()


class Clock:
    def __init__(self, t: float = 1_750_000_000.0) -> None:
        self.t = t

    def tick(self, seconds: float) -> float:
        self.t += seconds
        return self.t


def view(unimmr="2", status="NORMAL", positions=(), risks=None, with_pm=True, wallet="10000", mm="1000"):
    um = UmAccount(assets=(usdt(wallet=wallet, mm=mm),), positions=tuple(positions))
    return build_view(um, T, risks=risks, pm=pm(unimmr=unimmr, status=status) if with_pm else None)


def engine(*rules: Rule, cooldown=300.0, hysteresis="0.02", on_clear=True) -> Alerts:
    return Alerts(rules, thresholds=T, cooldown=cooldown, hysteresis=D(hysteresis), on_clear=on_clear)


def step(alerts: Alerts, state: AlertState, t: float) -> list:
    """One evaluation at time t, on the wall and the monotonic clock alike."""
    return alerts.evaluate(state, t, mono=t)


def states(events) -> list[tuple[str, str]]:
    return [(e.state, e.subject) for e in events]


UNIMMR = Rule("unimmr_below", "unimmr_below", D("1.5"))


# --- hysteresis, cooldown, escalation --------------------------------------------------------------


def test_unimmr_hysteresis_clears_only_past_threshold_plus_margin():
    alerts, clock = engine(UNIMMR), Clock()
    seen = []
    for value in ("1.6", "1.5", "1.49", "1.45", "1.51", "1.5299", "1.49", "1.53"):
        seen.append([(e.state, e.level, str(e.value)) for e in step(alerts, AlertState(view(value)), clock.tick(1))])
    assert seen == [
        [], [],  # 1.5 itself does not hold: the rule is "below"
        [(FIRED, Level.WARN, "1.49")],
        [], [], [],  # hovering between 1.5 and 1.53: no new alert, no clear
        [],  # dips again while still fired: nothing
        [(CLEARED, Level.OK, "1.53")],  # 1.5 * 1.02
    ]
    assert alerts.active() == []


def test_cooldown_suppresses_refiring_then_fires_once_it_ends_if_still_holding():
    alerts, clock = engine(UNIMMR, cooldown=300, on_clear=False), Clock()
    start = clock.t
    assert states(step(alerts, AlertState(view("1.4")), clock.t)) == [(FIRED, ACCOUNT)]
    cleared = step(alerts, AlertState(view("1.6")), start + 10)
    assert states(cleared) == [(CLEARED, ACCOUNT)]  # for the command hook
    assert alerts.for_people(cleared) == []  # without on_clear, nobody is told
    assert step(alerts, AlertState(view("1.4")), start + 20) == []  # holds again: cooling down
    assert step(alerts, AlertState(view("1.4")), start + 299.9) == []
    again = step(alerts, AlertState(view("1.4")), start + 300)
    assert states(again) == [(FIRED, ACCOUNT)] and again[0].time == start + 300
    assert step(alerts, AlertState(view("1.4")), start + 301) == []  # and only once


def test_zero_cooldown_refires_after_each_clear():
    alerts, clock = engine(UNIMMR, cooldown=0, hysteresis="0"), Clock()
    fired = [e.state for v in ("1.4", "1.5", "1.4", "1.5", "1.4")
             for e in step(alerts, AlertState(view(v)), clock.tick(1))]
    assert fired == [FIRED, CLEARED, FIRED, CLEARED, FIRED]


def test_escalation_is_reported_once_per_worse_level():
    alerts, clock = engine(UNIMMR), Clock()
    seen = []
    for value in ("1.45", "1.19", "1.3", "1.19", "1.0", "0.9"):
        seen += [(e.state, e.level) for e in step(alerts, AlertState(view(value)), clock.tick(1))]
    assert seen == [(FIRED, Level.WARN), (ESCALATED, Level.DANGER), (ESCALATED, Level.CRITICAL)]


def test_escalation_after_a_clear_beats_the_cooldown():
    """Margin call at 1.30, recovery to 3.0, then REDUCE_ONLY at 1.08 within five minutes: both
    rules fire again at once, at their worse level (it used to wait out the cooldown, silent)."""
    alerts, clock = engine(UNIMMR, Rule("status_not_normal", "status_not_normal"), on_clear=False), Clock()
    seen = []
    for unimmr, status in (("1.30", "MARGIN_CALL"), ("3.0", "NORMAL"), ("1.08", "REDUCE_ONLY")):
        seen.append([(e.rule, e.state, e.level) for e in step(alerts, AlertState(view(unimmr, status)),
                                                              clock.tick(60))])
    assert seen == [
        [("unimmr_below", FIRED, Level.WARN), ("status_not_normal", FIRED, Level.WARN)],
        [("unimmr_below", CLEARED, Level.OK), ("status_not_normal", CLEARED, Level.OK)],
        [("unimmr_below", FIRED, Level.DANGER), ("status_not_normal", FIRED, Level.DANGER)],
    ]


def test_refiring_past_the_last_value_beats_the_cooldown_but_not_a_better_one():
    alerts, clock = engine(UNIMMR), Clock()
    fired = []
    for value in ("1.45", "1.6", "1.44", "1.6", "1.46", "1.6", "1.44", "1.6", "1.43"):
        fired += [(e.state, str(e.value)) for e in step(alerts, AlertState(view(value)), clock.tick(10))]
    assert fired == [
        (FIRED, "1.45"), (CLEARED, "1.6"),
        (FIRED, "1.44"), (CLEARED, "1.6"),  # lower than last time: at once
        # 1.46 is better than 1.44 and the same level: the cooldown holds it back (nothing to clear)
        # 1.44 again is no further either
        (FIRED, "1.43"),
    ]


def test_cooldown_runs_on_the_monotonic_clock_not_the_wall_clock():
    alerts = engine(UNIMMR, cooldown=300)
    wall, mono = 1_750_000_000.0, 1000.0
    assert states(alerts.evaluate(AlertState(view("1.4")), wall, mono=mono)) == [(FIRED, ACCOUNT)]
    assert states(alerts.evaluate(AlertState(view("1.6")), wall + 1, mono=mono + 1)) == [(CLEARED, ACCOUNT)]
    # The wall clock jumps an hour ahead (NTP, a suspended laptop's clock fix): 10 s really passed.
    assert alerts.evaluate(AlertState(view("1.4")), wall + 3600, mono=mono + 10) == []
    # It is set back an hour: the cooldown still ends 300 real seconds after the first event.
    again = alerts.evaluate(AlertState(view("1.4")), wall - 3600, mono=mono + 300)
    assert states(again) == [(FIRED, ACCOUNT)] and again[0].time == wall - 3600  # events keep wall time


def test_an_estimate_may_fire_an_alert_but_never_clear_it():
    """Positions moved to the public mark stream's prices (pmtui.markstream) are an estimate: they
    may start or raise an alert at once; only REST's figures clear one."""
    alerts = engine(UNIMMR)
    assert states(alerts.evaluate(AlertState(view("1.4")), 1.0, mono=1.0, hold_clears=True)) == [(FIRED, ACCOUNT)]
    assert alerts.evaluate(AlertState(view("1.6")), 2.0, mono=2.0, hold_clears=True) == []
    assert states(alerts.evaluate(AlertState(view("1.6")), 3.0, mono=3.0)) == [(CLEARED, ACCOUNT)]


def test_unimmr_rule_falls_back_to_the_um_ratio_and_says_so():
    alerts = engine(UNIMMR)
    # No /papi/v1/account: UM ratio = 1400 / 1000.
    events = step(alerts, AlertState(view(with_pm=False, wallet="1400")), 1.0)
    assert len(events) == 1 and events[0].value == D("1.4")
    assert events[0].message == "UM margin ratio 1.4 is below 1.5 (uniMMR unavailable)."


def test_messages_never_round_a_value_across_its_threshold():
    [event] = engine(UNIMMR).evaluate(AlertState(view("1.49999")), 1.0)
    assert event.message == "uniMMR 1.4999 is below 1.5 (margin call band)."


def test_status_not_normal():
    alerts, clock = engine(Rule("status_not_normal", "status_not_normal")), Clock()
    seen = []
    for status, with_pm in (("NORMAL", True), ("MARGIN_CALL", True), ("REDUCE_ONLY", True),
                            ("X", False), ("NORMAL", True)):
        seen += [(e.state, e.level, e.value, e.message)
                 for e in step(alerts, AlertState(view(status=status, with_pm=with_pm)), clock.tick(1))]
    assert seen == [
        (FIRED, Level.WARN, "MARGIN_CALL", "Account status is MARGIN_CALL, not NORMAL."),
        (ESCALATED, Level.DANGER, "REDUCE_ONLY", "Account status is REDUCE_ONLY, not NORMAL."),
        # without the account object the status is unknown: neither fired nor cleared
        (CLEARED, Level.OK, "NORMAL", "Account status is NORMAL again (REDUCE_ONLY is over)."),
    ]


def test_liq_distance_per_position_with_hysteresis_and_closing():
    rule = Rule("liq_distance_below", "liq_distance_below", D("0.10"), per_position=True)
    alerts, clock = engine(rule), Clock()
    btc, eth = position("BTCUSDT", amt="1"), position("ETHUSDT", side="SHORT", amt="-2")

    def state(btc_liq, eth_liq="130", btc_open=True, btc_risk=True):
        rows = [risk("ETHUSDT", side="SHORT", amt="-2", mark="100", liq=eth_liq)]
        if btc_risk:
            rows.append(risk("BTCUSDT", amt="1", mark="100", liq=btc_liq))
        return AlertState(view(positions=[btc, eth] if btc_open else [eth], risks=rows))

    first = step(alerts, state("92"), clock.tick(1))  # 8% away; ETH short 30% away
    assert [(e.state, e.subject, e.value, e.level) for e in first] == [
        (FIRED, "BTCUSDT:BOTH", D("0.08"), Level.DANGER)]
    assert first[0].message == "BTCUSDT long is 8% from its liquidation price 92 (alert below 10%)."
    assert step(alerts, state("89.9"), clock.tick(1)) == []  # 10.1%: not yet past 10.2%
    assert step(alerts, state("92", btc_risk=False), clock.tick(1)) == []  # no risk row: unknown
    assert states(step(alerts, state("89.8"), clock.tick(1))) == [(CLEARED, "BTCUSDT:BOTH")]  # 10.2%
    # BTC 4% away: nearer than when it last fired (and CRITICAL), so its cooldown does not hold
    # it back; ETH 4% away fires too: one event for both.
    both = step(alerts, state("96", eth_liq="104"), clock.tick(1))
    assert states(both) == [(FIRED, "BTCUSDT:BOTH,ETHUSDT:SHORT")]
    assert [(e.state, e.subject) for e in both[0].items] == [(FIRED, "BTCUSDT:BOTH"), (FIRED, "ETHUSDT:SHORT")]
    assert states(step(alerts, state("89.8", eth_liq="104"), clock.tick(1))) == [(CLEARED, "BTCUSDT:BOTH")]
    assert step(alerts, state("96", eth_liq="104"), clock.tick(1)) == []  # 4% again: no further, cooling
    # Later: BTC's cooldown is over and it is 4% away again; ETH no longer has a liquidation price.
    assert states(step(alerts, state("96", eth_liq="0"), clock.tick(400))) == [
        (FIRED, "BTCUSDT:BOTH"), (CLEARED, "ETHUSDT:SHORT")]


def test_closed_position_clears_its_alert():
    rule = Rule("liq_distance_below", "liq_distance_below", D("0.10"), per_position=True)
    alerts = engine(rule)
    btc = position("BTCUSDT", amt="1")
    assert step(alerts, AlertState(view(positions=[btc], risks=[risk(liq="95")])), 1.0)
    closed = step(alerts, AlertState(view(positions=[position("BTCUSDT", amt="0")])), 2.0)
    assert [(e.state, e.subject, e.message) for e in closed] == [
        (CLEARED, "BTCUSDT:BOTH", "BTCUSDT long is no longer open.")]
    assert alerts.active() == []


def test_readings_are_worded_only_when_an_event_is_made(monkeypatch):
    """A rule over a large book formats no message for positions where nothing happens (at 1,000
    positions that was a tenth of each refresh); the one that fires is worded as before."""
    import pmtui.alerts as alerts_module

    worded = []
    pct = alerts_module._pct
    monkeypatch.setattr(alerts_module, "_pct", lambda *a, **k: worded.append(a) or pct(*a, **k))
    rule = Rule("liq_distance_below", "liq_distance_below", D("0.10"), per_position=True)
    alerts = engine(rule)
    symbols = [f"S{i:03d}USDT" for i in range(200)]
    far = [risk(s, liq="50") for s in symbols]  # all 50% away: nothing fires
    state = AlertState(view(positions=[position(s) for s in symbols], risks=far))
    assert step(alerts, state, 1.0) == []
    assert step(alerts, state, 2.0) == []
    assert worded == []
    near = AlertState(view(positions=[position(s) for s in symbols], risks=[risk(symbols[0], liq="92"), *far[1:]]))
    [event] = step(alerts, near, 3.0)
    assert event.message == "S000USDT long is 8% from its liquidation price 92 (alert below 10%)."
    assert 0 < len(worded) <= 6  # the one event's words, not the book's


def test_positions_far_from_a_rule_build_no_reading(monkeypatch):
    """At 1,000 positions building a reading for every row each refresh was most of the rules'
    time (issue 25): a row is read only while it is under the threshold or the rule tracks it
    (so a fired one still clears, with its words)."""
    import pmtui.alerts as alerts_module

    built = []
    reading = alerts_module._Reading
    monkeypatch.setattr(alerts_module, "_Reading", lambda *a, **k: built.append(a[0]) or reading(*a, **k))
    rules = (Rule("liq_distance_below", "liq_distance_below", D("0.10"), per_position=True),
             Rule("position_upnl_below", "upnl_below", D("-2000"), per_position=True))
    alerts = engine(*rules)
    symbols = [f"S{i:03d}USDT" for i in range(200)]
    positions = [position(s, upnl="-10") for s in symbols]
    far = [risk(s, liq="50") for s in symbols]
    assert step(alerts, AlertState(view(positions=positions, risks=far)), 1.0) == []
    assert built == []
    near = [risk(symbols[0], liq="92"), *far[1:]]
    [fired] = step(alerts, AlertState(view(positions=positions, risks=near)), 2.0)
    assert (fired.state, fired.subject, built) == (FIRED, "S000USDT:BOTH", ["S000USDT:BOTH"])
    built.clear()
    [cleared] = step(alerts, AlertState(view(positions=positions, risks=far)), 3.0)
    assert (cleared.state, cleared.subject, built) == (CLEARED, "S000USDT:BOTH", ["S000USDT:BOTH"])
    assert cleared.message == "S000USDT long is 50% from its liquidation price again, above 10.2%."


LIQ = Rule("liq_distance_below", "liq_distance_below", D("0.10"), per_position=True)
BOOK = ("AAAUSDT", "BBBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT")


def book_state(liqs: dict[str, str]) -> AlertState:
    """One long of each symbol in BOOK at mark 100, liquidation prices from `liqs` (default 50)."""
    return AlertState(view(positions=[position(s) for s in BOOK],
                           risks=[risk(s, liq=liqs.get(s, "50")) for s in BOOK]))


def test_what_fires_in_one_refresh_for_one_rule_is_one_event_worst_first():
    """Five positions near liquidation in one refresh: one event (one toast, bell, log line and
    command run), not five; it names the worst first and counts the rest."""
    alerts = engine(LIQ, on_clear=True)
    near = {"SOLUSDT": "95", "BTCUSDT": "99.9", "ETHUSDT": "97.7", "AAAUSDT": "92", "BBBUSDT": "94"}
    events = step(alerts, book_state(near), 1.0)
    assert len(events) == 1
    [event] = events
    assert event.state == FIRED and event.level == Level.CRITICAL and event.value == D("0.001")
    assert event.message == ("5 positions within 10% of liquidation: BTCUSDT long 0.1%, ETHUSDT long 2.3%,"
                             " SOLUSDT long 5% +2 more.")
    assert [e.subject for e in event.items] == [
        "BTCUSDT:BOTH", "ETHUSDT:BOTH", "SOLUSDT:BOTH", "BBBUSDT:BOTH", "AAAUSDT:BOTH"]
    assert [i["subject"] for i in event.to_dict()["items"]] == [e.subject for e in event.items]
    # They recover together: one cleared event for all five, said to people.
    cleared = alerts.for_people(step(alerts, book_state({}), 2.0))
    assert [(e.state, len(e.items)) for e in cleared] == [(CLEARED, 5)]
    assert cleared[0].message.startswith("5 positions no longer within 10% of liquidation: AAAUSDT long 50%,")
    # One that escalates while another fires: still one event, a fired one.
    step(alerts, book_state({"AAAUSDT": "92"}), 400.0)
    both = step(alerts, book_state({"AAAUSDT": "96", "BTCUSDT": "95"}), 401.0)
    assert [(e.state, [i.state for i in e.items]) for e in both] == [(FIRED, [ESCALATED, FIRED])]


async def test_a_group_runs_the_command_once(tmp_path: Path):
    out = tmp_path / "runs"
    code = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read())"
    notifier = Notifier(command=py(code), timeout=20, notify_send=None)
    events = step(engine(LIQ), book_state({s: "95" for s in BOOK}), 1.0)
    notifier.send(events)
    await notifier.drain()
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and len(json.loads(lines[0])["items"]) == 5


def test_the_all_clear_is_told_by_default_and_says_what_is_over():
    assert AlertSettings().on_clear is True
    alerts = Alerts.from_settings(Settings())
    assert states(alerts.evaluate(AlertState(view("1.3", "MARGIN_CALL")), 1.0, mono=1.0)) == [
        (FIRED, ACCOUNT), (FIRED, ACCOUNT)]
    told = alerts.for_people(alerts.evaluate(AlertState(view("1.6")), 2.0, mono=2.0))
    assert [(e.rule, e.state, e.message) for e in told] == [
        ("unimmr_below", CLEARED, "uniMMR 1.6 is back above 1.53: margin call over."),
        ("status_not_normal", CLEARED, "Account status is NORMAL again (MARGIN_CALL is over)."),
    ]


def test_a_position_without_a_liquidation_price_any_more_clears_with_a_sentence():
    alerts = engine(LIQ)
    step(alerts, book_state({"BTCUSDT": "95"}), 1.0)
    [event] = step(alerts, book_state({"BTCUSDT": "0"}), 2.0)
    assert (event.state, event.message) == (CLEARED, "BTCUSDT long has no liquidation price now.")
    step(alerts, book_state({"BTCUSDT": "95", "ETHUSDT": "95"}), 400.0)
    [both] = step(alerts, book_state({"BTCUSDT": "0"}), 401.0)
    assert both.message == ("2 positions no longer within 10% of liquidation:"
                            " BTCUSDT long has no liquidation price now, ETHUSDT long 50%.")


def test_upnl_rules_total_and_per_position():
    rules = [Rule("upnl_below", "upnl_below", D("-5000")),
             Rule("position_upnl_below", "upnl_below", D("-2000"), per_position=True)]
    alerts = engine(*rules)
    book = [position("BTCUSDT", upnl="-2500"), position("ETHUSDT", upnl="-1000")]
    um = UmAccount(assets=(usdt(upnl="-5500", mm="1000"),), positions=tuple(book))
    events = step(alerts, AlertState(build_view(um, T)), 1.0)
    assert [(e.rule, e.subject, e.value) for e in events] == [
        ("upnl_below", ACCOUNT, D("-5500")), ("position_upnl_below", "BTCUSDT:BOTH", D("-2500"))]
    assert events[0].message == "Total uPnL -5,500.00 is below -5,000.00."
    # -5000 + 5000 * 2% = -4900 clears the total.
    um2 = UmAccount(assets=(usdt(upnl="-4900", mm="1000"),), positions=tuple(book))
    assert states(step(alerts, AlertState(build_view(um2, T)), 2.0)) == [(CLEARED, ACCOUNT)]


def test_stale_for():
    alerts, clock = engine(Rule("stale_for", "stale_for", 30.0)), Clock()
    seen = [[e.state for e in step(alerts, AlertState(None, age), clock.tick(1))]
            for age in (None, 29.9, 30.0, 45.0, 29.5, 29.4)]
    assert seen == [[], [], [FIRED], [], [], [CLEARED]]  # clears at 30 * 0.98 = 29.4


def test_rules_from_settings_defaults_and_switches():
    assert [r.name for r in rules_from(AlertSettings())] == [
        "unimmr_below", "status_not_normal", "adl_front", "liq_distance_below", "stale_for",
        "forced_fill"]  # upnl off
    some = AlertSettings(unimmr_below=False, status_not_normal=False, adl_front=False, liq_distance_below=False,
                         stale_for=False, forced_fill=False, upnl_below="-1", position_upnl_below="-2")
    assert [(r.name, r.kind, r.per_position) for r in rules_from(some)] == [
        ("upnl_below", "upnl_below", False), ("position_upnl_below", "upnl_below", True)]


def test_event_json_keeps_exact_decimals():
    event = AlertEvent("unimmr_below", ACCOUNT, D("1.49000001"), D("1.5"), "m.", Level.WARN, 1_750_000_000.25)
    data = json.loads(event.to_json(profile="main"))
    assert data == {
        "rule": "unimmr_below", "subject": "account", "state": "fired", "level": "warn",
        "value": "1.49000001", "threshold": "1.5", "message": "m.", "time_ms": 1_750_000_000_250,
        "time": "2025-06-15T15:06:40Z", "profile": "main",
        "items": [{"subject": "account", "state": "fired", "level": "warn", "value": "1.49000001",
                   "message": "m."}],
    }


# --- stateless check -------------------------------------------------------------------------------


def test_check_rules_is_stateless_and_ranks_the_worst_first():
    btc = position("BTCUSDT", amt="1")
    v = view("1.45", status="MARGIN_CALL", positions=[btc], risks=[risk(amt="1", mark="100", liq="96")])
    result = check_rules(v, alerts=AlertSettings(), thresholds=T, now=5.0)
    assert result.level == Level.CRITICAL  # 4% from liquidation
    assert [e.rule for e in result.events] == ["liq_distance_below", "unimmr_below", "status_not_normal"]
    assert result.messages[0] == "BTCUSDT long is 4% from its liquidation price 96 (alert below 10%)."
    # The same answer twice: no memory.
    assert check_rules(v, alerts=AlertSettings(), thresholds=T, now=5.0).events == result.events
    healthy = check_rules(view("3"))
    assert healthy.level == Level.OK and healthy.events == ()


# --- outputs ---------------------------------------------------------------------------------------


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


EVENT = AlertEvent("liq_distance_below", "BTCUSDT:LONG", D("0.0812345678"), D("0.10"),
                   "BTCUSDT LONG is 8.12% from its liquidation price 59600 (alert below 10%).",
                   Level.DANGER, 1_750_000_000.0)


async def test_command_hook_gets_the_event_as_json_on_stdin(tmp_path: Path):
    out = tmp_path / "stdin.json"
    code = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"
    notifier = Notifier(command=py(code), timeout=20, profile="main", notify_send=None)
    tasks = notifier.send([EVENT])
    assert len(tasks) == 1
    await notifier.drain()
    assert tasks[0].result() is True and notifier.failures == 0
    raw = out.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    data = json.loads(raw)
    assert data["value"] == "0.0812345678" and data["threshold"] == "0.10"
    assert data["subject"] == "BTCUSDT:LONG" and data["level"] == "danger" and data["profile"] == "main"
    assert data["message"] == EVENT.message


async def test_command_hook_is_split_like_a_shell_without_one(tmp_path: Path):
    out = tmp_path / "argv.json"
    code = f"import sys, json; json.dump(sys.argv[1:], open({str(out)!r}, 'w'))"
    import shlex
    line = " ".join(shlex.quote(a) for a in py(code)) + " 'two words' '$HOME' ';' 'x'"
    notifier = Notifier(command=line, notify_send=None)
    notifier.send([EVENT])
    await notifier.drain()
    assert json.loads(out.read_text()) == ["two words", "$HOME", ";", "x"]


async def test_send_returns_at_once_and_never_blocks_the_loop():
    notifier = Notifier(command=py("import time; time.sleep(0.3)"), notify_send=None)
    started = time.perf_counter()
    tasks = notifier.send([EVENT, EVENT])
    assert time.perf_counter() - started < 0.2
    ticks = 0
    while not all(t.done() for t in tasks):  # the loop keeps running while the commands do
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 5 and all(t.result() for t in tasks)


async def test_command_failures_are_logged_not_raised(caplog):
    caplog.set_level(logging.WARNING, logger="pmtui.notify")
    failing = Notifier(command=py("import sys; sys.stderr.write('no webhook\\n'); sys.exit(3)"), notify_send=None)
    assert await failing.run_command(EVENT) is False
    assert failing.last_error == f"alert command {sys.executable!r} failed with exit status 3: no webhook."
    missing = Notifier(command=["/nonexistent/pmtui-hook"], notify_send=None)
    assert await missing.run_command(EVENT) is False
    assert "was not found" in missing.last_error
    deaf = Notifier(command=py("import sys; sys.exit(0)"), notify_send=None)  # ignores stdin
    assert await deaf.run_command(EVENT) is True
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


async def test_command_timeout_stops_it():
    slow = Notifier(command=py("import time; time.sleep(30)"), timeout=0.3, notify_send=None)
    started = time.perf_counter()
    assert await slow.run_command(EVENT) is False
    assert time.perf_counter() - started < 5
    assert "did not finish within 0.3 s" in slow.last_error


async def test_desktop_notification_uses_notify_send_when_present(tmp_path: Path):
    out = tmp_path / "argv.json"
    fake = tmp_path / "notify-send"
    fake.write_text(f"#!{sys.executable}\nimport sys, json\njson.dump(sys.argv[1:], open({str(out)!r}, 'w'))\n")
    fake.chmod(0o755)
    notifier = Notifier(desktop=True, notify_send=str(fake), profile="main")
    assert len(notifier.send([EVENT])) == 1
    await notifier.drain()
    assert json.loads(out.read_text()) == [
        "--app-name=pmtui", "--urgency=critical", "pmtui danger (main)", EVENT.message]


async def test_cleared_events_reach_the_command_even_when_people_are_not_told(tmp_path: Path):
    out = tmp_path / "events.jsonl"
    code = f"import sys; open({str(out)!r}, 'ab').write(sys.stdin.buffer.read())"
    fake = tmp_path / "notify-send"
    fake.write_text(f"#!{sys.executable}\nopen({str(tmp_path / 'desktop')!r}, 'a').write('x')\n")
    fake.chmod(0o755)
    settings = Settings(alerts=AlertSettings(on_clear=False, desktop=True, command="hook"))
    notifier = Notifier.from_settings(settings)
    notifier.argv, notifier.notify_send = py(code), str(fake)
    alerts, clock = Alerts.from_settings(settings), Clock()
    step(alerts, AlertState(view("1.4")), clock.tick(1))
    cleared = step(alerts, AlertState(view("1.6")), clock.tick(1))
    assert states(cleared) == [(CLEARED, ACCOUNT)] and alerts.for_people(cleared) == []
    assert len(notifier.send(cleared)) == 1  # the command only: no desktop popup
    await notifier.drain()
    event = json.loads(out.read_text())
    assert event["state"] == "cleared" and event["rule"] == "unimmr_below" and event["value"] == "1.6"
    assert not (tmp_path / "desktop").exists()


def test_desktop_is_skipped_silently_when_notify_send_is_absent(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    notifier = Notifier(desktop=True)
    assert notifier.notify_send is None and not notifier.enabled
    assert Notifier(desktop=False, notify_send="/usr/bin/notify-send").notify_send is None


async def test_notifier_from_settings():
    settings = Settings(alerts=AlertSettings(command="hook --flag 'a b'", command_timeout=3, desktop=False))
    notifier = Notifier.from_settings(settings)
    assert notifier.argv == ["hook", "--flag", "a b"] and notifier.timeout == 3
    assert notifier.send([]) == []
