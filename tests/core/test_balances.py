"""Margin balances (/papi/v1/balance) end to end: the parser, the judged rows, the client and the
Monitor against the local PAPI imitation (refusal, faults, recovery, cadence), the headless
output, the demo's loan, and the dashboard's Balances pane.

Clocks are frozen where cadences matter; the local server runs on real time (it checks the
signed timestamps), so the client keeps the real clock while the pollers read the frozen one.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from pmtui import output
from pmtui.budget import WeightBudget, weight_per_minute
from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.errors import AuthError, SchemaError
from pmtui.health import Level
from pmtui.models import CLEANED_MARK, parse_balance, parse_um_account
from pmtui.monitor import BALANCE_EVENTS, Monitor
from pmtui.settings import MIN_ACCOUNT_INTERVAL, Settings, Thresholds
from pmtui.signing import HmacSigner
from pmtui.views import balance_rows
from tests.cli.test_cli import run
from tests.cli.test_cli_risk import NOW_MS, Canned, um_body
from tests.core.test_monitor import Change, monitor_on
from tests.support.harness import rendered, settled, wait_until
from tests.support.papi_server import API_KEY, API_SECRET, BALANCE, UM_ACCOUNT, balance_body

REFUSAL = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
SENTENCE = "the exchange refused /papi/v1/balance (code -2015); the API key may lack access to it"


def row(asset: str = "USDT", **fields: str) -> dict:
    base = {k: "0" for k in ("totalWalletBalance", "crossMarginAsset", "crossMarginBorrowed", "crossMarginFree",
                             "crossMarginInterest", "crossMarginLocked", "umWalletBalance", "umUnrealizedPNL",
                             "cmWalletBalance", "cmUnrealizedPNL", "negativeBalance")}
    return {"asset": asset, **base, "updateTime": 1_750_000_000_000, **fields}


# --- parsing and judging --------------------------------------------------------------------------


def test_a_list_or_one_object_parses_and_empty_strings_are_absent_but_kept():
    rows = parse_balance([row(cmUnrealizedPNL="", crossMarginBorrowed="5", updateTime="1750000000000")])
    b = rows[0]
    assert b.cmUnrealizedPNL is None and b.raw["cmUnrealizedPNL"] == ""
    assert b.updateTime == 1_750_000_000_000  # sent as a string of digits
    assert b.borrowed == Decimal(5) and b.interest == 0 and b.owed == Decimal(5)
    one = parse_balance(row("BTC", totalWalletBalance="0.5"))
    assert [x.asset for x in one] == ["BTC"] and one[0].totalWalletBalance == Decimal("0.5")
    # "" everywhere but the asset: a row of nothing, not a refusal.
    blank = parse_balance([{"asset": "ETH", "totalWalletBalance": "", "negativeBalance": "", "updateTime": ""}])
    assert blank[0].is_zero and blank[0].owed == 0


@pytest.mark.parametrize("body, where", [
    ({"totalWalletBalance": "1"}, "asset"),
    ([{"asset": ""}], "rows[0].asset"),
    ("nope", "rows"),
    ([["USDT"]], "#0"),
])
def test_a_balance_body_of_another_shape_is_one_sentence(body, where):
    with pytest.raises(SchemaError) as info:
        parse_balance(body)
    message = info.value.message
    assert message.startswith("The balance response") and message.endswith(".") and where in message


def test_a_repeated_asset_never_hides_a_loan_behind_a_zero_row():
    rows = parse_balance([row("USDT", crossMarginBorrowed="100"), row("BTC"), row("USDT")])
    assert [(b.asset, b.borrowed) for b in rows] == [("USDT", Decimal(100)), ("BTC", 0)]


def test_rows_put_what_a_margin_call_eats_first_first():
    balances = parse_balance([
        row("AAA", totalWalletBalance="10"),
        row("BNB"),  # all zeros
        row("USDT", crossMarginBorrowed="50", crossMarginInterest="0.1"),
        row("BTC", crossMarginInterest="0.00001234", totalWalletBalance="1"),
        row("ETH", negativeBalance="3"),
        row("SOL", crossMarginBorrowed="500"),
    ])
    rows = balance_rows(balances)
    assert [(r.key, r.level) for r in rows] == [
        ("ETH", Level.DANGER), ("SOL", Level.WARN), ("USDT", Level.WARN), ("BTC", Level.WARN), ("AAA", Level.OK)]
    assert len(balance_rows(balances, include_zero=True)) == 6
    eth = rows[0]
    assert eth.negative_level == Level.DANGER and eth.borrowed_level == Level.OK


def test_hostile_asset_names_are_data():
    rows = parse_balance([row("\x1b[2JBTC\x07", crossMarginBorrowed="1"), row("[red]x[/]", crossMarginBorrowed="2")])
    names = [b.asset for b in rows]
    assert names[0].endswith(CLEANED_MARK) and "\x1b" not in names[0] and "\x07" not in names[0]
    assert names[1] == "[red]x[/]"
    table = output.snapshot_table(parse_um_account(um_body()), Thresholds(), balances=rows)
    assert "[red]x[/]" in table and "\x1b" not in table


# --- client and monitor against the local server -----------------------------------------------------


def client_for(server, timeout: float = 5.0) -> PapiClient:
    return PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=server.base_url, timeout=timeout,
                      budget=WeightBudget(1.0, limit=10**9))


async def test_the_client_reads_the_balances_and_a_refusal_is_an_auth_error(papi_server):
    async with client_for(papi_server) as client:
        rows = await client.balance()
        assert [b.asset for b in rows] == ["USDT", "BNB"]
        assert rows[0].crossMarginBorrowed == Decimal("100.00000000") and rows[0].cmUnrealizedPNL is None
        assert rows[1].updateTime is not None  # its updateTime came as a string
        papi_server.inject("error", path=BALANCE, status=401, body=REFUSAL)
        with pytest.raises(AuthError):
            await client.balance()
    recorded = [r for r in papi_server.requests if r.path == BALANCE]
    assert recorded and all(r.method == "GET" and "signature=" in r.query for r in recorded)


def monitor_for(server, clock, *, timeout: float = 5.0, **settings) -> Monitor:
    m = Monitor(settings=Settings(**settings), client=client_for(server, timeout), clock=clock)
    m.refresh_debounce = 0.0
    return m


async def test_a_key_that_may_not_read_balances_gets_one_sentence_and_the_rest_works(papi_server, frozen_clock):
    papi_server.inject("error", path=BALANCE, status=401, body=REFUSAL)
    m = monitor_for(papi_server, frozen_clock, interval=5, account_interval=10)
    assert await m.refresh()
    state = m.state
    assert state.unavailable == {"balance": SENTENCE} and state.balance_note == SENTENCE
    assert state.balances is None and state.view is not None and state.pm is not None
    assert not state.stale and state.verdict.level == Level.OK
    frozen_clock.advance(30)
    await m.refresh()
    assert papi_server.count(BALANCE) == 1  # refused: not asked again on its own
    m.refresh_now()  # `r` retries it
    await m.refresh()
    assert papi_server.count(BALANCE) == 2 and m.state.balances is not None and not m.state.unavailable
    await m.aclose()


@pytest.mark.parametrize("fault", ["500", "slow"])
async def test_a_failing_balance_keeps_the_last_rows_marked_stale_then_recovers(papi_server, frozen_clock, fault):
    m = monitor_for(papi_server, frozen_clock, timeout=0.5, interval=5, account_interval=10)
    await m.refresh()
    before = m.state.balances
    assert before is not None and not m.state.balance_stale
    papi_server.inject(fault, path=BALANCE, delay=2.0)
    frozen_clock.advance(10)
    assert await m.refresh()  # the UM account is fine: the refresh is
    state = m.state
    assert state.balances == before and state.balance_stale and not state.stale
    assert state.balance_note.startswith("stale: ") and state.balance_note.endswith(".")
    assert not state.unavailable
    frozen_clock.advance(13)  # past the backoff (the interval, jittered up to 1.2 times)
    await m.refresh()
    assert papi_server.count(BALANCE) == 3
    assert not m.state.balance_stale and m.state.balance_note is None
    await m.aclose()


async def test_balances_keep_the_account_cadence_and_spacing_whatever_asks(frozen_clock):
    canned = Canned()
    m = monitor_on(canned, frozen_clock, interval=2, account_interval=10)
    for _ in range(16):  # 30 s of refreshes every 2 s
        await m.refresh()
        frozen_clock.advance(2)
    assert canned.seen.count(UM_ACCOUNT) == 16
    assert canned.seen.count(BALANCE) == 4  # at 0, 10, 20 and 30 s: never more often than the account
    assert canned.seen.count(BALANCE) == canned.seen.count("/papi/v1/account")
    # A pushed margin event makes the balances due at once, but never sooner than the spacing.
    assert {"liabilityChange", "balanceUpdate", "outboundAccountPosition"} <= BALANCE_EVENTS
    # Now 2 s after the last balance request (at 30 s), 8 s before the next one is due.
    m.on_push_event(Change("liabilityChange"))
    await m.refresh()
    assert canned.seen.count(BALANCE) == 4
    frozen_clock.advance(MIN_ACCOUNT_INTERVAL - 2)
    await m.refresh()
    assert canned.seen.count(BALANCE) == 5  # due since the push, and spaced: now
    for _ in range(5):  # `r` held down: spacing still applies
        m.refresh_now()
        await m.refresh()
    assert canned.seen.count(BALANCE) == 5
    await m.aclose()


def test_the_budget_counts_the_balances():
    # The default cadence: 420 weight a minute, and 20 every 10 s for the balances.
    assert weight_per_minute(2, 10, 2, 10) == 540 == weight_per_minute(2, 10, 2) + 120


# --- headless output ----------------------------------------------------------------------------------


def test_snapshot_json_repeats_the_rows_exactly(capsys, live):
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    body = balance_body(0)
    usdt = doc["balance"][0]
    assert [r["asset"] for r in doc["balance"]] == ["USDT"]  # the zero BNB row only with --all
    assert {k: v for k, v in usdt.items() if k != "updateTime"} == {k: v for k, v in body[0].items()
                                                                    if k != "updateTime"}
    assert usdt["cmUnrealizedPNL"] == "" and usdt["negativeBalance"] == "0"
    code, out, _ = run(capsys, "snapshot", "--json", "--all")
    rows = json.loads(out)["balance"]
    assert [r["asset"] for r in rows] == ["USDT", "BNB"] and isinstance(rows[1]["updateTime"], str)
    code, table, err = run(capsys, "snapshot")
    assert (code, err) == (0, "")
    line = next(x for x in table.splitlines() if x.strip().startswith("USDT") and "WARN" in x)
    assert "100.00" in line and "0.01250" in line  # borrowed, and interest to 4 significant digits
    assert table.index("Balances") < table.index("Positions")


def config_with(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "risk-off.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_snapshot_says_why_balances_are_missing_and_check_does_not_read_them(capsys, live, monkeypatch):
    live.set_mode("error", path=BALANCE, status=401, body=REFUSAL)
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["balance"] is None and doc["unavailable"] == {"balance": SENTENCE}
    code, out, err = run(capsys, "snapshot")
    assert code == 0 and f"Not shown (balance): {SENTENCE}." in out
    asked = live.count(BALANCE)
    code, out, err = run(capsys, "check")
    # The risk model reads the balances (every asset's net); with it off, check does not.
    assert code == 0 and out.startswith("PMTUI OK") and live.count(BALANCE) == asked + 1
    monkeypatch.setenv("PMTUI_CONFIG", str(config_with("risk_model = false\n")))
    code, out, err = run(capsys, "check")
    assert code == 0 and live.count(BALANCE) == asked + 1  # risk_model = false: not read again


def test_snapshot_fails_in_one_sentence_when_the_balances_fail_otherwise(capsys, live):
    live.set_mode("500", path=BALANCE)
    code, out, err = run(capsys, "snapshot", "--json")
    assert code != 0 and out == "" and "Traceback" not in err
    assert err.startswith("pmtui: error: ") and err.strip().endswith(".")


# --- the demo's loan ----------------------------------------------------------------------------------


async def test_the_demo_holds_one_loan_its_interest_accrues_and_equity_carries_it():
    import httpx

    from tests.core.test_demo import cm_usd

    exchange = DemoExchange(seed=7, symbols=40, clock=lambda: 1_750_000_000.0)
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                        clock=ManualClock(1_750_000_000.0), budget=WeightBudget(1.0, limit=10**9))
    async with client:
        first = await client.balance()
        um, pm = await client.um_account(), await client.pm_account()
        owing = [b for b in first if b.owed]
        assert [b.asset for b in owing] == ["USDT"] and owing[0].negative == 0
        loan = owing[0]
        assert loan.borrowed > 0 and loan.interest > 0 and loan.crossMarginFree == loan.borrowed
        assert loan.totalWalletBalance == loan.umWalletBalance + loan.crossMarginFree
        cm, cm_risk = await client.cm_account(), await client.cm_position_risk()  # the same step
        equity = sum((a.crossWalletBalance + a.crossUnPnl for a in um.assets), Decimal(0))
        equity += cm_usd(cm, cm_risk)[0]  # the demo's COIN-M position, in USD at its mark
        assert pm.accountEquity == equity - loan.interest  # the loan is matched by its cash
        assert pm.uniMMR == (pm.accountEquity / pm.accountMaintMargin).quantize(Decimal("1E-8"))
        second = await client.balance()  # asked again: the next step
        later = next(b for b in second if b.asset == "USDT")
        assert later.borrowed == loan.borrowed and later.interest > loan.interest
    assert isinstance(exchange, httpx.AsyncBaseTransport)


# --- the dashboard --------------------------------------------------------------------------------------


async def test_the_balances_pane_at_120x40_and_the_note_at_80x24(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.query_one("#balances").row_count > 0)
        table = app.query_one("#balances")
        assert table.display and not app.query_one("#balances-note").display
        assert table.row_keys[0] == "USDT" and "BNB" not in table.row_keys  # problems first, no zero rows
        borrowed = table.get_cell("USDT", "borrowed")
        assert borrowed.style == table.level_style(Level.WARN) and borrowed.plain != "0.00"
        assert table.get_cell("USDT", "health").plain == Level.WARN.badge
        assert "Balances 3 of 4 (non-zero)" in rendered(table)  # USDT, USDC, the COIN-M BTC wallet; BNB zero
        for name in ("#summary", "#account", "#assets", "#balances", "#positions"):  # the whole account
            widget = app.query_one(name)
            assert widget.region.height > 0 and widget.region.bottom <= 40, name
        assert app.query_one("#positions").region.height >= 12
        await pilot.press("a")
        await wait_until(pilot, lambda: "BNB" in table.row_keys)
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: not table.display)
        note = app.query_one("#balances-note")
        assert note.display and "USDT borrowed" in rendered(note) and "interest" in rendered(note)
        assert app.query_one("#positions").region.height >= 8


async def test_a_refused_balance_is_one_sentence_in_the_pane(papi_server):
    from tests.support.harness import build_app

    papi_server.set_mode("error", path=BALANCE, status=401, body=REFUSAL)
    app = build_app(base_url=papi_server.base_url, api_key=API_KEY, api_secret=API_SECRET)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "balance" in app.state.unavailable)
        await pilot.pause()
        title = rendered(app.query_one("#balances")).splitlines()[0]
        assert "Balances 0 (non-zero) · the exchange refused /papi/v1/balance (code -2015)" in title
        assert app.query_one("#positions").row_count == 2  # the rest works
        assert not app.state.stale


async def test_hostile_asset_names_show_as_data_in_the_pane(papi_server):
    from tests.support.harness import build_app

    papi_server.set_body(BALANCE, [row("[red]x[/]", crossMarginBorrowed="1"),
                                   row("\x1b[31mEVIL", crossMarginBorrowed="2")])
    app = build_app(base_url=papi_server.base_url, api_key=API_KEY, api_secret=API_SECRET)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        table = app.query_one("#balances")
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        shown = rendered(table)
        assert "[red]x[/]" in shown and "EVIL" + CLEANED_MARK in shown
        assert "\x1b" not in shown and "[31m" not in shown


async def test_watch_json_carries_the_raw_balance_rows_and_why_they_are_missing(frozen_clock):
    canned = Canned()
    m = monitor_on(canned, frozen_clock)
    await m.refresh()
    doc = json.loads(output.watch_json(m.state, [], []))
    assert doc["balance"] == balance_body(NOW_MS)[:1]  # the zero BNB row left out, as in snapshot
    canned.routes[BALANCE] = (401, REFUSAL)
    frozen_clock.advance(MIN_ACCOUNT_INTERVAL)
    m.refresh_now()
    await m.refresh()
    doc = json.loads(output.watch_json(m.state, [], []))
    assert doc["balance"] is None and doc["unavailable"] == {"balance": SENTENCE}
    await m.aclose()


def test_the_text_snapshot_has_a_balances_table_only_when_something_is_in_them():
    um = parse_um_account(um_body())
    t = Thresholds()
    assert "Balances" not in output.snapshot_table(um, t, balances=parse_balance([row("USDT"), row("BNB")]))
    assert "Balances" not in output.snapshot_table(um, t)
    narrow = output.snapshot_table(um, t, width=60, balances=parse_balance([row("BTC", crossMarginBorrowed="0.5")]))
    assert "Balances" in narrow and "not shown at this width" in narrow and "Borrowed" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 60


async def test_a_server_that_does_not_serve_balances_is_said_alike_on_the_dashboard_and_in_a_snapshot(frozen_clock):
    """A 404 on /papi/v1/balance (a proxy that passes only some endpoints on) means "not served"
    in both paths (pmtui.endpoints.BALANCE.absent_ok): one sentence, not asked again until `r`."""
    canned = Canned()
    del canned.routes[BALANCE]
    absent = "the exchange does not serve /papi/v1/balance (HTTP 404)"
    snap = monitor_on(canned, frozen_clock)
    assert (await snap.fetch_once()).unavailable == {"balance": absent}
    await snap.aclose()
    m = monitor_on(canned, frozen_clock, interval=2, account_interval=10)
    assert await m.refresh()
    state = m.state
    assert state.unavailable == {"balance": absent} and state.balance_note == absent
    assert state.balances is None and not state.stale and state.view is not None
    frozen_clock.advance(30)
    await m.refresh()
    assert canned.seen.count(BALANCE) == 2  # the snapshot's and the loop's first: not asked again
    m.refresh_now()  # `r` asks again
    await m.refresh()
    assert canned.seen.count(BALANCE) == 3 and m.state.unavailable == {"balance": absent}
    await m.aclose()
