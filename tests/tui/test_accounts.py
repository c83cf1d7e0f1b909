"""Many accounts at once: --all-profiles and repeated --profile, `check` over all of them, one
weight budget for every client, the overview's rows and the Accounts screen."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from textual.pilot import Pilot

from pmtui import fmt
from pmtui.budget import WeightBudget
from pmtui.cli import _parse
from pmtui.client import PapiClient
from pmtui.commands import CheckResult, combine, perf_label
from pmtui.demo import DEMO_ACCOUNTS, DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.fleet import Account, rank_key, severity
from pmtui.health import Level
from pmtui.monitor import Monitor
from pmtui.overview import AccountRow, account_row, sorted_rows
from pmtui.settings import Settings, Thresholds
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.overview import AccountsTable, OverviewScreen
from tests.cli.test_cli import no_traceback, run, write_config
from tests.support.harness import FrozenClock, wait_until
from tests.support.papi_server import API_KEY, API_SECRET

# --- parsing --------------------------------------------------------------------------------------


def test_profile_repeats_before_and_after_the_command():
    args = _parse(["--profile", "a", "check", "--profile", "b", "--profile", "a"])
    assert args.profiles == ["a", "b"] and args.profile is None
    one = _parse(["check", "--profile", "a"])
    assert (one.profiles, one.profile, one.all_profiles) == (["a"], "a", False)  # today's single account
    assert _parse(["--all-profiles"]).all_profiles
    assert _parse(["snapshot", "--all-profiles"]).all_profiles


def test_unknown_profile_is_one_sentence(capsys):
    write_config('[profiles.alpha]\napi_key = "k"\napi_secret = "s"\n', 0o600)
    code, out, err = run(capsys, "check", "--profile", "alpha", "--profile", "zulu")
    assert code == 3
    assert out.startswith("PMTUI UNKNOWN - Profile 'zulu' is not in ")
    assert "known profiles: alpha, default." in out
    assert err.count("\n") == 1
    no_traceback(out, err)


def test_all_profiles_without_a_config_file_is_one_sentence(capsys):
    code, out, err = run(capsys, "--all-profiles")
    assert code == 1
    assert err.startswith("pmtui: error: --all-profiles watches the profiles of a config file, and there is none")
    assert "try --demo --all-profiles" in err and err.count("\n") == 1


def test_all_profiles_and_profile_together_is_refused(capsys):
    code, out, err = run(capsys, "check", "--demo", "--all-profiles", "--profile", "alpha", "--profile", "bravo")
    assert code == 3 and "give one of them" in out


def test_environment_credentials_are_refused_for_many_accounts(capsys, monkeypatch):
    write_config('[profiles.alpha]\napi_key = "k"\napi_secret = "s"\n[profiles.beta]\napi_key = "k2"\n', 0o600)
    monkeypatch.setenv("PMTUI_API_KEY", "env-key-123456")
    code, out, _ = run(capsys, "check", "--all-profiles")
    assert code == 3 and "PMTUI_API_KEY is set, and it would stand in for every profile's key" in out
    assert "env-key-123456" not in out


def test_history_takes_one_profile(capsys):
    code, _out, err = run(capsys, "history", "--profile", "a", "--profile", "b")
    assert code == 2 and "history reads one profile at a time" in err


def test_unknown_demo_account(capsys):
    code, out, _err = run(capsys, "check", "--demo", "--profile", "alpha", "--profile", "zulu")
    assert code == 3 and "The demo has no account 'zulu'; its accounts are alpha, bravo, charlie." in out


# --- check over many accounts ---------------------------------------------------------------------


def test_check_demo_all_profiles_names_the_worst(capsys):
    code, out, err = run(capsys, "check", "--demo", "--all-profiles")
    assert (code, err) == (2, "")
    line = out.strip()
    assert line.count("\n") == 0
    assert line.startswith("PMTUI CRITICAL - charlie: ")
    assert "3 accounts checked (charlie CRITICAL, bravo WARNING, alpha OK)" in line
    perf = line.split(" | ", 1)[1].split()
    labels = [item.split("=")[0] for item in perf]
    for profile in ("alpha", "bravo", "charlie"):
        assert f"{profile}_uniMMR" in labels and f"{profile}_margin_balance" in labels
    uni = next(item for item in perf if item.startswith("alpha_uniMMR="))
    assert uni.endswith(";1.5;1.2")  # the single account's value;warn;crit, prefixed
    assert Decimal(uni.split("=")[1].split(";")[0]) > Decimal(9)


def test_check_for_many_accounts_agrees_with_check_for_each(capsys):
    """One judge for one account and many: every account's word, its count of open positions
    (COIN-M's included: charlie holds 13, the many-accounts check once counted 12) and its
    perfdata are the same whether it is checked alone or with the others."""
    code, out, _ = run(capsys, "check", "--demo", "--all-profiles")
    many_perf = out.strip().split(" | ", 1)[1].split()
    words = dict(w.split(" ") for w in out.split("accounts checked (", 1)[1].split(")")[0].split(", "))
    for profile in ("alpha", "bravo", "charlie"):
        one_code, one, _ = run(capsys, "check", "--demo", "--profile", profile)
        assert one.startswith(f"PMTUI {words[profile]} - ") and "13 open positions" in one
        assert [f"{profile}_{item}" for item in one.strip().split(" | ", 1)[1].split()] == \
            [item for item in many_perf if item.startswith(f"{profile}_")]
    assert "charlie: " in out and "13 open positions" in out and code == 2


def test_check_two_demo_accounts_exit_by_the_worse(capsys):
    code, out, _ = run(capsys, "check", "--demo", "--profile", "alpha", "--profile", "bravo")
    assert code == 1 and out.startswith("PMTUI WARNING - bravo: ") and "2 accounts checked" in out


def test_one_demo_profile_is_todays_check(capsys):
    code, out, _ = run(capsys, "check", "--demo")  # a random seed: its band may vary, its form not
    assert code in (0, 1, 2) and "accounts checked" not in out
    assert out.split(" | ")[1].startswith("margin_balance=") and " uniMMR=" in out


def _two_profiles(server, bad_key: str = "revoked-key-000") -> None:
    write_config(
        f'base_url = "{server.base_url}"\n'
        f'[profiles.good]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
        f'[profiles.bad]\napi_key = "{bad_key}"\napi_secret = "{API_SECRET}"\n'
        '[profiles."no key"]\nrecv_window = 5000\n',
        0o600,
    )


def test_check_with_a_failing_account_goes_on_with_the_others(capsys, papi_server):
    _two_profiles(papi_server)
    code, out, err = run(capsys, "check", "--all-profiles")
    assert code == 3  # nothing CRITICAL is known: the accounts that could not be read decide
    line = out.strip()
    assert line.startswith("PMTUI UNKNOWN - bad: could not check: ")
    assert "3 accounts checked (bad UNKNOWN, no key UNKNOWN, good OK)" in line
    # the good account's figures are there, the failed ones have none
    perf = line.split(" | ", 1)[1]
    assert "good_uniMMR=" in perf and "bad_" not in perf and "no_key" not in perf
    assert API_SECRET not in out + err and "revoked-key-000" not in out + err
    no_traceback(out, err)


def test_profile_without_credentials_says_so_in_its_row(capsys, papi_server):
    _two_profiles(papi_server)
    code, out, _ = run(capsys, "snapshot", "--json", "--all-profiles")
    assert code == 1
    doc = json.loads(out)
    assert list(doc) == ["good", "bad", "no key"]
    assert doc["no key"]["error"].startswith("No API key is configured for profile 'no key'")
    assert "positions" in doc["good"] and set(doc["bad"]) == {"error"}


def test_snapshot_demo_all_profiles_has_a_section_each(capsys):
    code, out, _ = run(capsys, "snapshot", "--demo", "--all-profiles")
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("== ")] == [
        "== alpha ==", "== bravo ==", "== charlie =="]


def _result(profile: str, level: Level | None, unimmr: str | None = None, perf: str = "") -> CheckResult:
    if level is None:
        return CheckResult(profile, None, error="the exchange did not answer.")
    line = f"PMTUI X - {profile} detail | {perf or 'uniMMR=' + (unimmr or '2') + ';1.5;1.2'}"
    return CheckResult(profile, level, line, unimmr=Decimal(unimmr) if unimmr else None)


def test_critical_outranks_unknown_and_unknown_outranks_warning():
    code, line = combine([_result("a", Level.WARN, "1.4"), _result("b", None), _result("c", Level.DANGER, "1.1")])
    assert code == 2
    assert line.startswith("PMTUI CRITICAL - c: c detail; 3 accounts checked (c CRITICAL, b UNKNOWN, a WARNING)")
    code, line = combine([_result("a", Level.WARN, "1.4"), _result("b", None), _result("c", Level.OK, "3")])
    assert code == 3 and line.startswith("PMTUI UNKNOWN - b: could not check: the exchange did not answer; ")
    code, line = combine([_result("a", Level.WARN, "1.4"), _result("c", Level.WARN, "1.3")])
    assert code == 1 and line.startswith("PMTUI WARNING - c:")  # the same band: the lower uniMMR


def test_one_account_checked():
    code, line = combine([_result("solo", Level.OK, "3")])
    assert code == 0 and "; 1 account checked (solo OK) | solo_uniMMR=3;1.5;1.2" in line


def test_perfdata_labels_are_sanitised_and_kept_apart():
    assert perf_label("work account=1") == "work_account_1"
    assert perf_label("'") == "profile"
    _code, line = combine([_result("a b", Level.OK, "2"), _result("a_b", Level.OK, "3")])
    assert line.endswith("| a_b_uniMMR=2;1.5;1.2 a_b__uniMMR=3;1.5;1.2")


# --- one weight budget ----------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_736_942_400.0 + self.now

    def perf_counter(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)

    def random(self) -> float:
        return 0.5


def _demo_client(name: str, budget: WeightBudget, same_ip: DemoExchange | None = None,
                 clock=None) -> PapiClient:
    exchange = DemoExchange(same_ip=same_ip, symbols=40, **({"clock": clock.time} if clock else {}),
                            **DEMO_ACCOUNTS[name])
    return PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                      budget=budget, **({"clock": clock} if clock else {}))


async def test_many_monitors_on_one_budget_stay_within_it():
    clock = _Clock()
    budget = WeightBudget(0.5, limit=600, clock=clock)  # 5 weight/s
    first = None
    monitors = []
    for name in DEMO_ACCOUNTS:
        client = _demo_client(name, budget, first)
        first = first or client._http._transport
        monitors.append(Monitor(settings=Settings(), client=client))
    start = clock.now

    async def hammer(monitor: Monitor) -> None:
        for _ in range(6):
            await monitor.fetch_once()

    await asyncio.gather(*(hammer(m) for m in monitors))
    elapsed = clock.now - start
    # 3 accounts x 6 fetches x 30 weight (+ clock syncs): far above the burst, so they waited...
    assert budget.sent >= 3 * 6 * 30 and budget.waited > 0
    # ...and never spent more than the one budget allows over that time (a clock sync may overdraw
    # by its own weight once per client: `charge`).
    assert budget.sent <= budget.capacity + budget.rate * elapsed + len(monitors)
    # The demo accounts share one IP's weight count, as Binance's per-IP limit does.
    used = {m.client.used_weight for m in monitors}
    assert max(used) >= 3 * 6 * 30 - 30
    for m in monitors:
        await m.aclose()


def test_attach_monitors_shares_one_budget():
    from pmtui.fleet import Fleet, FleetOptions

    accounts = [Account(name, Settings()) for name in DEMO_ACCOUNTS] + [Account("broken", error="No key.")]
    fleet = Fleet.build(FleetOptions(demo=True, all_profiles=True), accounts)
    budgets = {id(a.monitor.client.budget) for a in accounts if a.monitor is not None}
    assert budgets == {id(fleet.budget)} and accounts[-1].monitor is None
    ips = {id(a.monitor.client._http._transport._ip) for a in accounts if a.monitor is not None}
    assert len(ips) == 1
    assert [a.monitor.profile for a in accounts[:3]] == list(DEMO_ACCOUNTS)


# --- the overview's rows --------------------------------------------------------------------------


def test_rows_sort_worst_first_with_unknown_above_warn():
    rows = [
        AccountRow("ok-high", Level.OK, "✓ OK", unimmr=Decimal("9")),
        AccountRow("ok-low", Level.OK, "✓ OK", unimmr=Decimal("3")),
        AccountRow("warn", Level.WARN, "▲ WARN", unimmr=Decimal("1.4")),
        AccountRow("failed", None, "! ERROR", problem="the key was refused."),
        AccountRow("danger", Level.DANGER, "◆ DANGER", unimmr=Decimal("1.1")),
        AccountRow("critical", Level.CRITICAL, "× CRITICAL", unimmr=Decimal("1.0")),
    ]
    assert [r.profile for r in sorted_rows(rows)] == ["critical", "danger", "failed", "warn", "ok-low", "ok-high"]
    assert severity(None) == severity(Level.WARN) + 1 < severity(Level.DANGER)
    assert rank_key(Level.OK, None, "x") < rank_key(Level.OK, Decimal(1), "x")  # unknown uniMMR first


def test_a_config_error_is_a_row_with_its_sentence():
    row = account_row("nokey", None, "No API key is configured for profile 'nokey'.")
    assert (row.level, row.badge, row.data) == (None, "! ERROR", "CONFIG")
    assert row.problem == "No API key is configured for profile 'nokey'."
    assert row.style_level is Level.DANGER


async def test_rows_from_demo_states():
    budget = WeightBudget(1.0, limit=10**9)
    rows = []
    for name in DEMO_ACCOUNTS:
        monitor = Monitor(settings=Settings(), client=_demo_client(name, budget))
        state = await monitor.fetch_once()
        rows.append(account_row(name, state))
        await monitor.aclose()
    by = {r.profile: r for r in rows}
    assert [by[n].level for n in DEMO_ACCOUNTS] == [Level.OK, Level.WARN, Level.CRITICAL]
    assert all(r.data == "LIVE" and r.problem is None for r in rows)
    charlie = by["charlie"]
    assert charlie.worst == "BTCUSDT" and charlie.liq_distance is not None and charlie.liq_distance < Decimal("0.05")
    assert charlie.headroom is not None and charlie.status == "NORMAL" and charlie.equity is not None
    assert [r.profile for r in sorted_rows(rows)] == ["charlie", "bravo", "alpha"]


async def test_a_fault_shows_stale_with_its_sentence():
    budget = WeightBudget(1.0, limit=10**9)
    client = _demo_client("alpha", budget)
    monitor = Monitor(settings=Settings(), client=client)
    await monitor.fetch_once()
    client._http._transport._api_key = "another-key"  # the key was revoked
    await monitor.refresh()
    row = account_row("alpha", monitor.state)
    assert row.data in ("STALE", "ERROR") and row.problem is not None and "API key" in row.problem
    await monitor.aclose()


# --- the Accounts screen --------------------------------------------------------------------------


def demo_accounts(clock: FrozenClock | None = None, errors: dict[str, str] | None = None) -> list[Account]:
    budget = WeightBudget(1.0, limit=10**9)
    accounts = []
    first = None
    for name in DEMO_ACCOUNTS:
        client = _demo_client(name, budget, first, clock=clock)
        first = first or client._http._transport
        settings = Settings(interval=60)
        accounts.append(Account(name, settings, Monitor(settings=settings, client=client, profile=name)))
    for name, error in (errors or {}).items():
        accounts.append(Account(name, error=error))
    return accounts


def overview_app(accounts: list[Account]) -> PmtuiApp:
    app = PmtuiApp.for_accounts(accounts, demo=True, start=False)
    app.remember_theme = False
    return app


async def fetch_all(accounts: list[Account]) -> None:
    for account in accounts:
        if account.monitor is not None:
            await account.monitor.fetch_once()


async def test_enter_opens_an_account_and_esc_returns():
    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        await fetch_all(accounts)
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "bravo", "alpha"])
        await pilot.press("j", "enter")  # bravo
        await wait_until(pilot, lambda: not isinstance(app.screen, OverviewScreen))
        assert app.account_title == "DEMO bravo" and app.monitor is accounts[1].monitor
        assert app.state is not None and app.state.view is not None
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")  # the cursor starts on the worst again: charlie
        await wait_until(pilot, lambda: app.monitor is accounts[2].monitor)
        # with a filter open, esc clears it first (today's key), and only then leaves
        await pilot.press("slash", "x", "escape")
        assert not isinstance(app.screen, OverviewScreen) and app.filter_text == ""
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
    # Quitting closes every account's Monitor, not only the one on the dashboard.
    assert all(a.monitor is not None and a.monitor._closed for a in accounts)


async def test_rows_resort_when_a_state_changes():
    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        await fetch_all(accounts)
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "bravo", "alpha"])
        # alpha's thresholds move above its uniMMR: its next state is CRITICAL, with charlie
        alpha = accounts[0].monitor
        alpha.settings = Settings(thresholds=Thresholds(unimmr_warn=30, unimmr_danger=25, unimmr_critical=20))
        await alpha.fetch_once()
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "alpha", "bravo"], what="re-sorted")
        assert "× CRITICAL" in table.get_cell("alpha", "health").plain


async def test_an_account_without_a_monitor_stays_on_the_overview():
    accounts = demo_accounts(errors={"nokey": "No API key is configured for profile 'nokey'."})
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        await fetch_all(accounts)
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "nokey", "bravo", "alpha"])
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        problems = app.screen.query_one("#problems")
        assert "nokey: No API key is configured" in problems.render().plain


# --- snapshots --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_overview_snapshot(snap_compare, frozen_clock, size):
    accounts = demo_accounts(frozen_clock, errors={"delta": "No API key is configured for profile 'delta':"
                                                            " put api_key and api_secret in its"
                                                            " [profiles.delta] table."})
    app = overview_app(accounts)

    async def run_before(pilot: Pilot) -> None:
        await fetch_all(accounts)
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "delta", "bravo", "alpha"])
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# --- watch ------------------------------------------------------------------------------------------


def test_watch_all_profiles_leads_each_line_with_its_profile():
    import signal

    from tests.cli.test_watch import Watch

    w = Watch("--demo", "--all-profiles", "--interval", "1")
    # Every account's first line, in whatever order they come: a calm account refreshes less
    # often than the urgent ones (issue 25's ranked cadence), so its line may come after many of theirs.
    seen: set[str] = set()
    w.until(lambda line: bool(seen.add(line.split(":")[0])) or seen >= set(DEMO_ACCOUNTS), limit=400)
    assert seen == set(DEMO_ACCOUNTS)
    # Its first line may come before its first data (the stream connecting): wait for the verdict.
    assert w.until(lambda line: line.startswith("charlie: ") and " · CRITICAL " in line, limit=200)
    rc, err = w.stop(signal.SIGTERM)
    assert (rc, err) == (143, "")


def test_watch_json_all_profiles_names_the_profile_first():
    import signal

    from tests.cli.test_watch import Watch

    w = Watch("--demo", "--json", "--profile", "alpha", "--profile", "bravo", "--interval", "1")
    docs = [json.loads(w.line()) for _ in range(4)]
    assert {d["profile"] for d in docs} <= {"alpha", "bravo"} and all(next(iter(d)) == "profile" for d in docs)
    rc, _err = w.stop(signal.SIGTERM)
    assert rc == 143


async def test_every_account_alerts_and_its_toast_names_it():
    accounts = demo_accounts()
    app = PmtuiApp.for_accounts(accounts, demo=True)  # the monitors run
    app.remember_theme = False
    async with app.run_test(size=(120, 40)) as pilot:
        def titles() -> set[str]:
            return {n.title for n in app._notifications}

        # charlie is not on the dashboard (alpha is, under the overview), and still alerts
        await wait_until(pilot, lambda: "charlie · Alert" in titles(), timeout=10, what="charlie's alert toast")
        assert app.monitor is accounts[0].monitor
        assert all(t.split(" · ")[0] in DEMO_ACCOUNTS for t in titles())


async def test_the_overview_adds_up_equity_maint_margin_and_upnl_in_usd():
    """Issue 19: the overview used 8 of 50 lines with no totals."""
    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(200, 50)) as pilot:
        await fetch_all(accounts)
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "bravo", "alpha"])
        await pilot.pause()
        pms = [a.monitor.state.view.pm for a in accounts]
        equity = sum((pm.accountEquity for pm in pms), Decimal(0))
        mm = sum((pm.accountMaintMargin for pm in pms), Decimal(0))
        line = app.screen.query_one("#totals").render().plain
        assert f"equity {fmt.money(equity)} USD" in line and f"maint. margin {fmt.money(mm)} USD" in line, line
        assert "3 accounts" in line and "uPnL " in line
        assert table.hidden_columns == (0, 0)
        assert table.get_cell("alpha", "mm").plain == fmt.money(pms[0].accountMaintMargin)


async def test_each_row_says_whether_the_mark_price_streams_price_it_live():
    """◆ beside the Data word: the account's positions follow the public marks; ◇: it is on
    polling (the streams do not price every open position); nothing: it does not use them."""
    import dataclasses

    accounts = demo_accounts()
    app = overview_app(accounts)
    async with app.run_test(size=(120, 40)) as pilot:
        await fetch_all(accounts)
        table = app.screen.query_one(AccountsTable)
        await wait_until(pilot, lambda: table.row_keys == ["charlie", "bravo", "alpha"])
        assert table.get_cell("alpha", "data").plain == "LIVE"  # a one-shot fetch streams nothing
        for account, live, note in ((accounts[0], True, None),
                                    (accounts[1], False, "The COIN-M mark price stream has no price for"
                                                         " BTCUSD_PERP. Prices come from polling.")):
            m = account.monitor
            state = m.state
            m._state = dataclasses.replace(state, status=dataclasses.replace(state.status, marks_live=live,
                                                                             marks_note=note))
            for callback in list(m._subscribers):
                callback(m._state)
        await wait_until(pilot, lambda: table.get_cell("alpha", "data").plain == "LIVE ◆", what="live marker")
        await wait_until(pilot, lambda: table.get_cell("bravo", "data").plain == "LIVE ◇", what="polling marker")
        assert table.get_cell("charlie", "data").plain == "LIVE"
        assert "◆ live marks ◇ polling" in str(table.border_title)
    rows = [account_row("a", dataclasses.replace(accounts[0].monitor.state))]
    assert rows[0].marks == "live" and rows[0].marks_marker == " ◆"
