"""Hostile names and payloads on the many-accounts, balances and COIN-M surfaces: what a config
file or a server says is shown as data (never markup or terminal control), and absurd figures end
in a sane display or one sentence."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmtui.commands import CheckResult, combine
from pmtui.health import Level
from pmtui.text import name
from pmtui.tui.app import PmtuiApp
from tests.cli.test_cli import no_traceback, run, write_config
from tests.hostile.test_fuzz import fuzz
from tests.support.harness import wait_until
from tests.support.papi_server import API_KEY, API_SECRET
from tests.tui.test_accounts import demo_accounts, fetch_all, overview_app

#: Profile names a config file may hold: a screen clear, Rich markup, a bidi override, a long one.
HOSTILE_NAMES = ["x\u001b[2Jy", "[red]a[/]", "rtl\u202eevil", "L" * 300]
CONTROLS = ("\x1b", "\x9b", "\u202e", "\x07")


def _config(server, names) -> None:
    body = f'base_url = "{server.base_url}"\n'
    for n in names:
        body += f'[profiles.{json.dumps(n)}]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
    write_config(body, 0o600)


def _no_controls(*texts: str) -> None:
    for text in texts:
        for ch in CONTROLS:
            assert ch not in text, (ch, text[:200])


def test_name_escapes_controls_and_caps():
    assert name("x\u001b[2Jy") == "x\\x1b[2Jy"
    assert name("rtl\u202eevil") == "rtl\\u202eevil"
    assert name("[red]a[/]") == "[red]a[/]"  # markup is for the widgets to render as Text
    assert name("L" * 300) == "L" * 39 + "…"
    assert name("xy") != name("x\u001by")  # names that differ only in a control still differ
    assert (name(""), name("  "), name(" a")) == ('""', '"  "', '" a"')  # a blank name still shows
    assert name("a\u2028b") == "a\\u2028b"  # a line separator would split the one check line


def test_check_all_profiles_names_blank_profiles(capsys, papi_server):
    _config(papi_server, ["", "  "])
    code, out, _err = run(capsys, "check", "--all-profiles")
    assert code == 3 and '2 accounts checked ("" UNKNOWN, "  " UNKNOWN)' in out


def test_check_all_profiles_shows_hostile_names_as_text(capsys, papi_server):
    _config(papi_server, HOSTILE_NAMES)
    code, out, err = run(capsys, "check", "--all-profiles")
    assert code == 0 and out.count("\n") == 1
    _no_controls(out, err)
    assert "x\\x1b[2Jy OK" in out and "rtl\\u202eevil OK" in out and "[red]a[/] OK" in out
    head = out.split(" | ")[0]
    assert "L" * 40 not in head  # a 300-character name does not fill the status line
    perf = out.split(" | ")[1].split()
    assert len({item.split("=")[0] for item in perf}) == len(perf)  # every label once


def test_snapshot_all_profiles_shows_hostile_names_as_text(capsys, papi_server):
    _config(papi_server, HOSTILE_NAMES)
    code, out, err = run(capsys, "snapshot", "--all-profiles")
    assert code == 0
    _no_controls(out, err)
    headers = [line for line in out.splitlines() if line.startswith("== ")]
    assert headers[:3] == ["== x\\x1b[2Jy ==", "== [red]a[/] ==", "== rtl\\u202eevil =="]
    code, out, err = run(capsys, "snapshot", "--json", "--all-profiles")
    assert code == 0
    _no_controls(out, err)
    assert list(json.loads(out)) == HOSTILE_NAMES  # JSON keeps the names exactly, escaped by JSON


def test_profile_without_key_names_its_table_as_text(capsys, papi_server):
    write_config(f'base_url = "{papi_server.base_url}"\n'
                 f'[profiles.good]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
                 '[profiles."bad\\u001b]0;pwned\\u0007"]\nrecv_window = 5000\n', 0o600)
    code, out, err = run(capsys, "snapshot", "--all-profiles")
    assert code == 1
    _no_controls(out, err)
    assert "[profiles.bad\\x1b]0;pwned\\x07] table" in out + err
    no_traceback(out, err)


def test_perfdata_prefix_and_item_that_run_together_stay_apart():
    perf = "maint_margin=1 account_maint_margin=2"
    results = [CheckResult("main", Level.OK, f"PMTUI OK - fine | {perf}"),
               CheckResult("main account", Level.OK, f"PMTUI OK - fine | {perf}")]
    _code, line = combine(results)
    labels = [item.split("=")[0] for item in line.split(" | ")[1].split()]
    assert len(set(labels)) == len(labels) == 4, labels


async def test_overview_shows_hostile_names_as_text():
    accounts = demo_accounts(errors={"x\u001b[2Jy": "No API key.", "[b]bold[/b]" * 10: "No API key."})
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        await fetch_all(accounts)
        from pmtui.tui.widgets.overview import AccountsTable

        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: len(table.row_keys) == 5)
        cell = table.get_cell("x\u001b[2Jy", "profile").plain
        assert cell == "x\\x1b[2Jy"
        assert table.get_cell("[b]bold[/b]" * 10, "profile").plain == name("[b]bold[/b]" * 10)
        problems = app.screen.query_one("#problems").render().plain
        _no_controls(problems)
        assert "x\\x1b[2Jy: No API key." in problems


@pytest.mark.parametrize("profile", ["x\u001b[2Jy"])
async def test_toast_title_names_a_hostile_profile_as_text(profile):
    from pmtui.state import Notice

    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        app._toast(Notice("Alert", "uniMMR low", severity="warning"), profile)
        await pilot.pause()
        titles = [n.title for n in app._notifications]
        assert titles == ["x\\x1b[2Jy · Alert"]


# --- absurd figures in the balances and COIN-M payloads -------------------------------------------

NOW = 1_750_000_000_000


def test_a_negative_interest_does_not_cancel_a_loan():
    from pmtui.models import parse_balance
    from pmtui.views import balance_level, balance_rows
    from tests.support.papi_server import balance_body

    usdt = {**balance_body(NOW)[0], "crossMarginBorrowed": "100", "crossMarginInterest": "-100"}
    zero = {**balance_body(NOW)[1], "asset": "USDT"}
    (b,) = parse_balance([usdt])
    assert b.owed == 200 and balance_level(b) == Level.WARN
    # A later zero row for the asset must not hide it (the loan is not "nothing owed").
    (kept,) = parse_balance([usdt, zero])
    assert kept.crossMarginBorrowed == 100
    (row,) = balance_rows([b])
    from pmtui.tui.widgets.balances import BalancesNote

    note = BalancesNote()
    note.style = lambda name: ""  # no app: component styles are not needed here
    note.level_style = lambda level: ""
    shown_text = []
    note.show_text = shown_text.append
    note.show((row,), None)
    assert "no loans" not in shown_text[0].plain and "borrowed 100" in shown_text[0].plain


@pytest.mark.parametrize("mark", ["0", "-1"])
def test_a_cm_mark_of_zero_is_no_notional_not_a_worthless_position(mark):
    from pmtui import output
    from pmtui.models import parse_cm_account, parse_cm_position_risk, parse_um_account
    from pmtui.settings import Thresholds
    from pmtui.views import CM, build_view
    from tests.cli.test_cli_risk import um_body
    from tests.support.papi_server import cm_open_account_body, cm_open_position_risk_body

    risks = cm_open_position_risk_body(NOW)
    risks[0]["markPrice"] = mark
    view = build_view(parse_um_account(um_body()), Thresholds(), cm=parse_cm_account(cm_open_account_body(NOW)),
                      cm_risks=parse_cm_position_risk(risks))
    (row,) = [r for r in view.open_positions if r.venue == CM]
    assert row.notional_usd is None  # unknown, as without its risk row; never "0.00"
    doc = output.view_json(view)
    (cm_row,) = [p for p in doc["positions"] if p["venue"] == "CM"]
    assert cm_row["symbol"] == "BTCUSD_PERP"


# --- servers that trickle or lie on the new endpoints -----------------------------------------------


@pytest.mark.parametrize("path", ["/papi/v1/balance", "/papi/v1/cm/account", "/papi/v1/cm/positionRisk"])
@pytest.mark.parametrize("fault", ["html", "truncated", "empty", "schema", "slow", "reset", "503", "-1001", "429"])
async def test_a_lying_new_endpoint_keeps_the_dashboard_and_says_one_sentence(papi_server, frozen_clock,
                                                                             path, fault):
    from tests.core.test_balances import monitor_for
    from tests.support.papi_server import CM_ACCOUNT, CM_POSITION_RISK, cm_open_account_body, cm_open_position_risk_body
    from tests.support.sentences import assert_sentence

    papi_server.set_body(CM_ACCOUNT, cm_open_account_body(NOW))
    papi_server.set_body(CM_POSITION_RISK, cm_open_position_risk_body(NOW))
    m = monitor_for(papi_server, frozen_clock, timeout=0.5, interval=5, account_interval=10)
    assert await m.refresh()
    good = m.state
    assert good.view is not None and good.balances is not None and good.cm is not None
    papi_server.inject(fault, path=path, delay=2.0, retry_after=1)
    frozen_clock.advance(10)
    await m.refresh()
    state = m.state
    assert state.view is not None and state.verdict is not None  # the last good data stays
    assert {r.key for r in state.view.positions} >= {r.key for r in good.view.positions}
    said = [s for s in (state.status.error.message if state.status.error else None, state.balance_note,
                        *state.unavailable.values()) if s]
    assert said, "nothing said about the fault"
    for sentence in said:
        assert_sentence(sentence.removeprefix("stale: "), context=f"{fault} on {path}")
        assert "<" not in sentence and "Traceback" not in sentence
    if fault == "429":  # the weight budget's pause runs on the real clock: the budget tests own it
        await m.aclose()
        return
    for _ in range(3):  # recovers on its own once the server behaves
        frozen_clock.advance(30)
        await m.refresh()
    assert m.state.status.error is None and not m.state.balance_stale and not m.state.unavailable
    await m.aclose()


# --- many accounts: one hanging, one rate limited --------------------------------------------------


async def test_a_429_for_one_account_pauses_every_account_on_the_ip(papi_server):
    """Binance's weight limit (and its 429) is the IP's: the other accounts on the shared budget
    must back off too, or they keep the IP over the limit and earn it a 418 ban."""
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.errors import RateLimited
    from pmtui.signing import HmacSigner
    from tests.support.papi_server import UM_ACCOUNT

    budget = WeightBudget(1.0, limit=10**9)
    one, other = (PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi_server.base_url,
                             timeout=5.0, budget=budget) for _ in range(2))
    try:
        await other.signed_get(UM_ACCOUNT)
        papi_server.inject("429", path=UM_ACCOUNT, retry_after=60)
        with pytest.raises(RateLimited):
            await one.signed_get(UM_ACCOUNT)
        asked = papi_server.count(UM_ACCOUNT)
        assert other.blocked_for() > 50  # the pollers of every account wait it out
        with pytest.raises(RateLimited) as info:
            await other.signed_get(UM_ACCOUNT)
        assert papi_server.count(UM_ACCOUNT) == asked  # nothing more went out from this IP
        assert info.value.message.startswith("Rate limited by the exchange: pausing requests for ")
    finally:
        await one.aclose()
        await other.aclose()


def test_check_all_profiles_with_one_hanging_server_answers_for_the_others(capsys, papi_server, hostile):
    from tests.hostile.test_hostile import trickle_all

    for path in ("/fapi/v1/time", "/papi/v2/um/account", "/papi/v1/account", "/papi/v1/um/positionRisk",
                 "/papi/v1/cm/account", "/papi/v1/cm/positionRisk"):
        hostile.route(path, trickle_all)
    write_config(f'base_url = "{papi_server.base_url}"\ntimeout = 1\n'
                 f'[profiles.good]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
                 f'[profiles.hung]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
                 f'base_url = "{hostile.base_url}"\n', 0o600)
    code, out, err = run(capsys, "check", "--all-profiles")
    assert code == 3, out
    assert out.startswith("PMTUI UNKNOWN - hung: could not check: The exchange did not answer within 1 s")
    assert "(hung UNKNOWN, good OK)" in out and "good_uniMMR=" in out and "hung_" not in out
    no_traceback(out, err)


async def test_a_hanging_account_does_not_hold_back_the_others_rows():
    import asyncio

    import httpx

    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.fleet import Account
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings
    from pmtui.signing import HmacSigner
    from pmtui.tui.widgets.overview import AccountsTable, OverviewScreen

    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()  # a server that accepted the connection and never answers
        raise AssertionError("unreachable")

    accounts = demo_accounts()[:1]  # alpha, on the demo exchange
    budget = accounts[0].monitor.client.budget
    settings = Settings(interval=60, timeout=30)
    client = PapiClient(api_key="k", signer=HmacSigner("s"), transport=httpx.MockTransport(hang),
                        budget=budget if isinstance(budget, WeightBudget) else None, timeout=30)
    accounts.append(Account("hung", settings, Monitor(settings=settings, client=client, profile="hung")))
    app = PmtuiApp.for_accounts(accounts, demo=True)  # the monitors run
    app.remember_theme = False
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: "alpha" in table.row_keys
                         and table.get_cell("alpha", "data").plain == "LIVE", timeout=10)
        assert accounts[1].monitor.fetching  # still waiting on its server, and alpha is shown regardless
        assert table.get_cell("hung", "data").plain != "LIVE"
        never.set()


# --- serve: the names it passes on -------------------------------------------------------------------


def test_serve_passes_on_a_profile_name_that_looks_like_an_option():
    import shlex

    from pmtui.cli import _common, _parse
    from pmtui.tui.serve import served_command

    names = ["-x", "--all-profiles", "x\u001b[2Jy; rm -rf ~"]
    args = _parse(["serve", *(f"--profile={n}" for n in names)])
    command = served_command(args, lambda parser: _common(parser, suppress=False), python="PY")
    words = shlex.split(command)[5:]
    again = _parse(["dashboard", *words])  # what the served dashboard reads back
    assert again.profiles == names and not again.all_profiles


def test_watch_all_profiles_leads_with_a_hostile_name_as_text(papi_server):
    import signal

    from tests.cli.test_watch import Watch

    _config(papi_server, ["x\u001b[2Jy", "[red]a[/]"])
    w = Watch("--all-profiles", "--interval", "1")
    first = w.until(lambda line: line.startswith("x\\x1b[2Jy: "))
    _no_controls(first)
    assert w.until(lambda line: line.startswith("[red]a[/]: "))
    rc, err = w.stop(signal.SIGTERM)
    assert rc == 143
    _no_controls(err)


def _absurd_cm(case: str) -> tuple[dict, list, list]:
    from tests.support.papi_server import balance_body, cm_open_account_body, cm_open_position_risk_body

    account, risks, balances = cm_open_account_body(NOW), cm_open_position_risk_body(NOW), balance_body(NOW)
    position, risk, usdt = account["positions"][0], risks[0], balances[0]
    if case == "no risk row":
        del risks[0]
    elif case == "zero prices":
        position["entryPrice"] = risk["entryPrice"] = risk["markPrice"] = risk["notionalValue"] = "0"
    elif case == "huge":
        position["maintMargin"] = position["unrealizedProfit"] = "9" * 59
        usdt["crossMarginBorrowed"] = usdt["crossMarginInterest"] = "1e59"
        risk["liquidationPrice"] = "-1e59"
    elif case == "negative":
        position["maintMargin"] = "-0.5"
        usdt["crossMarginBorrowed"], usdt["crossMarginInterest"], usdt["negativeBalance"] = "-100", "-0", "-1"
        risk["markPrice"] = "-86480"
    elif case == "garbage times":
        position["updateTime"] = risk["updateTime"] = "yesterday"
        usdt["updateTime"] = -5
    elif case == "duplicates":
        account["positions"].append(dict(position, positionAmt="0"))
        risks.append(dict(risk, positionAmt="0", liquidationPrice="0"))
        balances.append(dict(usdt, crossMarginBorrowed="0", crossMarginInterest="0"))
    return account, risks, balances


@pytest.mark.parametrize("case", ["no risk row", "zero prices", "huge", "negative", "garbage times", "duplicates"])
async def test_absurd_cm_and_balance_figures_show_sanely_in_the_app(papi_server, case):
    from pmtui.tui.widgets.detail import DetailScreen
    from pmtui.tui.widgets.whatif import WhatIfScreen
    from pmtui.views import CM
    from tests.support.harness import build_app, screen_text, settled
    from tests.support.papi_server import BALANCE, CM_ACCOUNT, CM_POSITION_RISK

    account, risks, balances = _absurd_cm(case)
    papi_server.set_body(CM_ACCOUNT, account)
    papi_server.set_body(CM_POSITION_RISK, risks)
    papi_server.set_body(BALANCE, balances)
    app = build_app(base_url=papi_server.base_url, api_key=API_KEY, api_secret=API_SECRET)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.view is not None and app.state.balances is not None
                         and any(r.venue == CM for r in app.view.open_positions))
        assert app.state.status.error is None and not app.state.unavailable
        (row,) = [r for r in app.view.open_positions if r.venue == CM]
        await pilot.pause()
        text = screen_text(app)
        assert "BTCUSD_PERP" in text and "Traceback" not in text
        app.push_screen(DetailScreen(row.key, row))
        await pilot.pause()
        assert "COIN-M" in screen_text(app)
        app.pop_screen()
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WhatIfScreen))
        for move in ("-50", "BTCUSD_PERP -99", "+500"):
            app.screen.query_one("#shock").value = move
            await pilot.press("enter")
            await pilot.pause()
            assert "Traceback" not in screen_text(app)
        await pilot.press("escape")
        await pilot.resize_terminal(80, 24)  # the balances note instead of the table
        await pilot.pause()
        assert "Traceback" not in screen_text(app)
    assert app.return_code in (None, 0)


def test_a_failed_accounts_sentence_runs_on_into_the_count_without_a_stray_period():
    _code, line = combine([CheckResult("bad", None, error="The exchange did not answer within 1 s."),
                           CheckResult("good", Level.OK, "PMTUI OK - fine | uniMMR=3")])
    assert line.startswith("PMTUI UNKNOWN - bad: could not check: The exchange did not answer within 1 s;"
                           " 2 accounts checked (bad UNKNOWN, good OK) | good_uniMMR=3")


# --- any names at all ---------------------------------------------------------------------------------

_PERF_LABEL = re.compile(r"^[A-Za-z0-9_.-]+$")


@fuzz(200)
@given(names=st.lists(st.text(max_size=60), min_size=1, max_size=6, unique=True),
       failed=st.lists(st.booleans(), min_size=6, max_size=6))
def test_any_profile_names_make_one_clean_check_line_with_unique_labels(names, failed):
    results = [CheckResult(n, None, error="The exchange did not answer within 1 s.") if bad else
               CheckResult(n, Level.OK, "PMTUI OK - fine | uniMMR=3;1.5;1.2 maint_margin=1 account_maint_margin=2")
               for n, bad in zip(names, failed, strict=False)]
    _code, line = combine(results)
    head, _, perf = line.partition(" | ")
    assert "\n" not in line and "\r" not in line and "|" not in head
    _no_controls(line)
    assert len(line.splitlines()) == 1
    assert not [ch for ch in head if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")]
    labels = [item.split("=")[0] for item in perf.split()]
    assert len(set(labels)) == len(labels) and all(_PERF_LABEL.match(label) for label in labels)


@pytest.mark.parametrize("number", ["1e999999", "-1E-999999", "9e61"])
def test_a_bare_huge_number_in_a_new_row_is_written_back_short_and_exact(number):
    """An unquoted number the models ignore (an updateTime, a field pmtui does not read) stays in
    the raw row; JSON output writes it back exactly, but not as a million-digit string."""
    from decimal import Decimal

    from pmtui import output
    from pmtui.models import decode_json, parse_balance, parse_cm_account, parse_cm_position_risk, parse_um_account
    from tests.cli.test_cli_risk import um_body
    from tests.support.papi_server import balance_body, cm_open_account_body, cm_open_position_risk_body

    def bare(rows, where):
        text = json.dumps(rows).replace(f'"{where}"', number, 1)
        return decode_json(text.encode())

    balances = bare([dict(balance_body(NOW)[0], updateTime="HERE")], "HERE")
    account = bare(dict(cm_open_account_body(NOW), extra="HERE"), "HERE")
    risks = bare([dict(cm_open_position_risk_body(NOW)[0], maxQty="HERE")], "HERE")
    out = output.snapshot_json(parse_um_account(um_body()), balances=parse_balance(balances),
                               cm=parse_cm_account(account), cm_risks=parse_cm_position_risk(risks))
    assert len(out) < 20_000
    doc = json.loads(out)
    cm = doc["cm"]
    for written in (doc["balance"][0]["updateTime"], cm["account"]["extra"], cm["positionRisk"][0]["maxQty"]):
        assert Decimal(written) == Decimal(number)  # the same number, exactly
