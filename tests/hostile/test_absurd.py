"""Absurd figures (issue 20): any value a Decimal can hold flows through every path, or is refused
in one sentence where the wire is read; a bug inside the Monitor's loop never ends it silently;
`watch` says nothing is LIVE before data came; the wire's number grammar is strict.

Paths: models -> health/verdict -> views -> alerts -> fmt -> snapshot / check / watch (text and
JSON) -> the dashboard's widgets, for values from 1e-30 to 1e400, negative, and 59 digits.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmtui import fmt, output
from pmtui.errors import SchemaError
from pmtui.models import parse_pm_account, parse_um_account
from pmtui.risk import shock_account
from pmtui.settings import Settings
from pmtui.state import FAULT, MonitorState
from pmtui.stream import BadFrame, parse_event
from tests.cli.test_cli import run
from tests.cli.test_cli_risk import Canned, risk_body, um_body
from tests.core.test_monitor import Published, Risk, _until, monitor_on
from tests.hostile.test_fuzz import fuzz
from tests.support.harness import screen_text
from tests.support.sentences import assert_sentence

NOW_MS = 1_760_000_000_000
UM = "/papi/v2/um/account"


def pm_body(unimmr: str, equity: str = "3000.00000000", maint: str = "1000.00000000") -> dict:
    return {
        "uniMMR": unimmr, "accountEquity": equity, "actualEquity": equity,
        "accountInitialMargin": "2500.00000000", "accountMaintMargin": maint, "accountStatus": "NORMAL",
        "virtualMaxWithdrawAmount": "0.00000000", "totalAvailableBalance": "", "totalMarginOpenLoss": "",
        "updateTime": NOW_MS,
    }


def wire(value: Decimal) -> str:
    """As Binance writes a decimal: plain, no exponent."""
    return f"{value:f}"


# Magnitudes from 1e-30 to 1e400, either sign, up to 59 significant digits.
absurd = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(d) for d in digits), exponent)),
    st.sampled_from([0, 1]),
    st.text("0123456789", min_size=1, max_size=59).filter(lambda d: d.lstrip("0")),
    st.integers(-30 - 59, 400),
).filter(lambda d: Decimal("1e-31") < abs(d) < Decimal("1e401"))
SPECIAL = [Decimal("1e24"), Decimal("1e30"), Decimal("-1e30"), Decimal("9" * 59), Decimal("-" + "9" * 59),
           Decimal("1e-30"), Decimal("1e60"), Decimal("1e400"), Decimal("0." + "0" * 29 + "1")]


def everything_said(state: MonitorState) -> list[str]:
    """Every headless rendering of a state: watch (text, JSON), snapshot (table, JSON), check."""
    t = Settings().thresholds
    said = [output.watch_line(state), output.watch_json(state, state.changed, [])]
    json.loads(said[1])
    if state.account is not None:
        kw: dict[str, Any] = dict(pm=state.pm, risks=state.risks)
        said.append(output.snapshot_table(state.account, t, **kw))
        said.append(output.snapshot_json(state.account, view=state.view, verdict=state.verdict, **kw))
        json.loads(said[-1])
        said.append(output.check_line(state.account, t, **kw)[1])
        for move in (Decimal("-0.5"), Decimal("0.1")):  # the what-if estimate, as the dashboard shows it
            result = shock_account(state.account, state.pm, move, thresholds=t)
            said += [fmt.ratio(result.unimmr_after, 2), fmt.money(result.pnl_change, sign=True)]
    return said


async def flow(value: Decimal) -> MonitorState:
    """`value` as uniMMR, equity, a liquidation price and a wallet, fetched by a Monitor, then
    pushed as a riskLevelChange: every state is rendered by every headless output."""
    text = wire(value)
    canned = Canned(um=(200, um_body(wallet=text)), pm=(200, pm_body(text, equity=text)),
                    risk=(200, risk_body(liq=text)))
    m = monitor_on(canned)
    seen = Published(m)
    try:
        ok = await m.refresh()
        state = m.state
        if not ok:  # refused where the wire is read: one sentence, never a crash
            assert state.status.error is not None
            assert_sentence(state.status.error.message)
            assert "changed shape" in state.status.error.message
        m.on_push_event(Risk(uniMMR=value, event_time=NOW_MS))
        m.tick()
        for s in seen:
            everything_said(s)
        assert not any(s.status.error is not None and "internal error" in s.status.error.message.lower() for s in seen)
        return m.state
    finally:
        await m.aclose()


@fuzz(40)
@given(value=absurd)
def test_any_decimal_flows_through_every_headless_path(value: Decimal) -> None:
    asyncio.run(flow(value))


@pytest.mark.parametrize("value", SPECIAL, ids=str)
async def test_absurd_figures_flow_through_every_headless_path(value):
    state = await flow(value)
    sent = Decimal(wire(value)).as_tuple()  # the models take at most 60 digits, exponents within ±60
    if len(sent.digits) <= 60 and -60 <= int(sent.exponent) <= 60:
        assert state.pm is not None and state.pm.uniMMR == value and state.verdict is not None


async def test_a_pushed_unimmr_of_1e30_does_not_end_the_loop():
    """The reported case: `u` = 1e30 raised InvalidOperation in alerts._show and ended run()."""
    canned = Canned()
    m = monitor_on(canned, interval=1)
    task = asyncio.ensure_future(m.run())
    try:
        await _until(lambda: canned.seen.count(UM) == 1 and m.state.view is not None)
        # Dated now: a push older than the last /papi/v1/account request is ignored (tests/tui/test_push.py).
        m.on_push_event(Risk(uniMMR=Decimal("1e30"), event_time=m.client.server_now_ms()))
        assert m.state.pm.uniMMR == Decimal("1e30")
        assert m.state.status.error is None
        m.poll_now()
        await _until(lambda: canned.seen.count(UM) >= 2)
        assert not task.done()
    finally:
        await m.aclose()
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("value", [Decimal("1e30"), Decimal("-1e30"), Decimal("9" * 59), Decimal("1e-30")],
                         ids=str)
async def test_the_dashboard_shows_absurd_figures(value):
    from pmtui.tui.app import PmtuiApp

    text = wire(value)
    canned = Canned(um=(200, um_body(wallet=text)), pm=(200, pm_body(text, equity=text)),
                    risk=(200, risk_body(liq=text)))
    m = monitor_on(canned)
    await m.refresh()
    m.on_push_event(Risk(uniMMR=value, event_time=NOW_MS))
    app = PmtuiApp(settings=Settings(), client=m.client, title="ABSURD", start=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(m.state)
        await pilot.pause()
        screen = screen_text(app)
        assert "ABSURD" in screen and "internal error" not in screen.lower()
        for key in ("a", "h", "h", "w"):  # every row, the history panel, the what-if estimate
            await pilot.press(key)
            await pilot.pause()
        await pilot.press(*"-10%", "enter")
        await pilot.pause()
        screen = screen_text(app)
        assert "What-if" in screen and "internal error" not in screen.lower()
        assert app.is_running


@pytest.mark.parametrize("value", ["1000000000000000000000000000000", "1E+30", "-1E+30", "9" * 59])
def test_check_and_snapshot_answer_for_an_absurd_unimmr(capsys, exchange, value):
    exchange(pm=(200, pm_body(value, equity="1" + "0" * 30)))
    code, out, err = run(capsys, "check", "--demo")
    assert code in (0, 2) and err == "" and out.startswith("PMTUI "), (out, err)
    assert "internal error" not in out.lower()
    code, out, err = run(capsys, "snapshot", "--demo", "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["account"]["uniMMR"] == value  # the API's string, unchanged


# --- a bug inside the loop --------------------------------------------------------------------


async def test_a_bug_inside_a_refresh_is_said_and_the_loop_goes_on(monkeypatch, caplog):
    canned = Canned()
    m = monitor_on(canned, interval=1)
    seen = Published(m)
    real = m._view_job  # what every rebuild of the view starts with, on the loop or off it
    calls = {"n": 0}

    def broken():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise ArithmeticError("a bug")
        return real()

    monkeypatch.setattr(m, "_view_job", broken)
    task = asyncio.ensure_future(m.run())
    try:
        await _until(lambda: calls["n"] >= 1 and m.state.view is not None)
        m.poll_now()
        await _until(lambda: calls["n"] >= 2 and m.state.status.error is not None)
        state = m.state
        assert state.status.error.message.startswith("Unexpected internal error while refreshing the account; retrying")
        assert_sentence(state.status.error.message)
        assert state.stale and "LIVE" not in output.watch_line(state)
        assert any(FAULT in s.changed and any(n.title == "Internal error" for n in s.notices) for s in seen)
        assert not task.done()
        m.poll_now()  # the next refresh works again: live, the error gone
        await _until(lambda: calls["n"] >= 3 and m.state.status.error is None)
        assert not m.state.stale
    finally:
        await m.aclose()
        await asyncio.wait_for(task, 5)


async def test_a_bug_in_the_clock_tick_is_said_not_fatal(monkeypatch):
    m = monitor_on(Canned())
    await m.refresh()
    monkeypatch.setattr(m, "tick", lambda: (_ for _ in ()).throw(ArithmeticError("a bug")))
    monkeypatch.setattr("pmtui.monitor.TICK", 0.001)
    task = asyncio.ensure_future(m._ticker())
    try:
        await _until(lambda: m.poller.error is not None)
        assert m.poller.error.message.startswith("Unexpected internal error while updating the state")
        assert not task.done()
    finally:
        task.cancel()
        await m.aclose()


# --- watch: nothing is LIVE before data ------------------------------------------------------


async def test_watch_never_says_live_before_data():
    m = monitor_on(Canned())
    try:
        before = m.state  # e.g. the push status changing before the first fetch answered
        assert before.status.age is None
        line = output.watch_line(before)
        assert "LIVE" not in line and "CONNECTING" in line
        await m.refresh()
        assert "LIVE" in output.watch_line(m.state)
    finally:
        await m.aclose()


# --- the wire's number grammar ---------------------------------------------------------------

NOT_NUMBERS = ["5_0", "1_000.5", "٥", "١٢.٣", "５", "１２３", "NaN", "nan", "Infinity", "-Infinity", "inf",
               "sNaN", ".5", "5.", "+5", "0x10", "1e", "e5", "1.2.3", "1 000", "٥e٣"]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_required_amount_that_is_not_a_wire_number_is_refused(text):
    with pytest.raises(SchemaError) as info:
        parse_pm_account(pm_body(text))
    assert "uniMMR" in info.value.message
    assert_sentence(info.value.message)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_an_optional_amount_that_is_not_a_wire_number_is_not_given(text):
    body = pm_body("3.00000000")
    body["totalAvailableBalance"] = text
    assert parse_pm_account(body).totalAvailableBalance is None


@pytest.mark.parametrize("text, value", [("0E-8", Decimal(0)), ("1E+2", Decimal(100)), ("1e5", Decimal(100000)),
                                         ("-0.5", Decimal("-0.5")), ("007", Decimal(7)), (" 3.5 ", Decimal("3.5"))])
def test_the_json_number_grammar_is_read(text, value):
    # The exponent form is JSON's, and a Java BigDecimal's toString() writes it ("0E-8").
    assert parse_pm_account(pm_body(text)).uniMMR == value


def test_a_row_amount_with_underscores_is_refused():
    body = um_body(wallet="3_000")
    with pytest.raises(SchemaError):
        parse_um_account(body)


@pytest.mark.parametrize("text", ["5_0", "٥", "５", "NaN"])
def test_a_pushed_unimmr_that_is_not_a_wire_number_is_a_bad_frame(text):
    frame = json.dumps({"e": "riskLevelChange", "E": NOW_MS, "u": text, "s": "MARGIN_CALL",
                        "eq": "1", "ae": "1", "m": "1"})
    with pytest.raises(BadFrame):
        parse_event(frame)



def test_an_update_time_in_other_digits_is_not_a_time():
    body = pm_body("3.00000000")
    body["updateTime"] = "١٧٦٠٠٠٠٠٠٠٠٠٠"  # Arabic-Indic digits: str.isdigit() says yes
    assert parse_pm_account(body).updateTime is None


@pytest.mark.parametrize("tick", ["0.1_0", "٠.١", "０.１", "NaN"])
def test_a_tick_size_that_is_not_a_wire_number_is_unknown(tick):
    from pmtui.market import _size

    assert _size(tick) is None and _size("0.10") == Decimal("0.1")
