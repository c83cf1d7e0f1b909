"""The CLI's risk side: `check` by uniMMR band and alert rules, its fallback when /papi/v1/account
is refused, `snapshot` with the account object and positionRisk, `--record` and `history`.

The exchange here is a canned httpx transport put where `--demo` takes its exchange: the real
client, parsing and error mapping run on hand-made payloads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pmtui.demo import DemoExchange
from pmtui.history import History, Sample
from tests.cli.test_cli import NO_LIQ_LEVELS, run
from tests.support.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, UM_ACCOUNT, PapiServer, _error, balance_body

NOW_MS = 1_750_000_000_000


def um_body(wallet="3000.00000000", upnl="0.00000000", mm="1000.00000000") -> dict:
    return {
        "assets": [{
            "asset": "USDT", "crossWalletBalance": wallet, "crossUnPnl": upnl, "maintMargin": mm,
            "initialMargin": "2500.00000000", "positionInitialMargin": "2500.00000000",
            "openOrderInitialMargin": "0.00000000", "updateTime": NOW_MS,
        }],
        "positions": [{
            "symbol": "BTCUSDT", "initialMargin": "2500.00000000", "maintMargin": mm,
            "unrealizedProfit": upnl, "positionSide": "BOTH", "positionAmt": "1.000",
            "updateTime": NOW_MS, "notional": "50000.00000000",
        }],
    }


def pm_body(unimmr: str, status: str | None = None) -> dict:
    u = Decimal(unimmr)
    if status is None:
        status = ("NORMAL" if u > Decimal("1.5") else "MARGIN_CALL" if u > Decimal("1.2")
                  else "REDUCE_ONLY" if u > Decimal("1.05") else "ACTIVE_LIQUIDATION")
    return {
        "uniMMR": unimmr, "accountEquity": f"{u * 1000:.8f}", "actualEquity": f"{u * 1000:.8f}",
        "accountInitialMargin": "2500.00000000", "accountMaintMargin": "1000.00000000",
        "accountStatus": status, "virtualMaxWithdrawAmount": "0.00000000",
        "totalAvailableBalance": "0.00000000", "totalMarginOpenLoss": "0.00000000", "updateTime": NOW_MS,
    }


def risk_body(liq="25000.00000000", mark="50000.00000000") -> list:
    return [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "1.000", "entryPrice": "49000.0",
         "markPrice": mark, "liquidationPrice": liq, "leverage": "20", "unRealizedProfit": "0.00000000",
         "notional": "50000.00000000", "maxNotionalValue": "5000000", "breakEvenPrice": "49019.6"},
        # Extra rows the join ignores: a hedge-mode leftover and a symbol the account does not hold.
        {"symbol": "BTCUSDT", "positionSide": "LONG", "positionAmt": "0", "entryPrice": "0",
         "markPrice": mark, "liquidationPrice": "0", "leverage": "20", "unRealizedProfit": "0",
         "notional": "0"},
        {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "2", "entryPrice": "3000",
         "markPrice": "3000", "liquidationPrice": "2990", "leverage": "20", "unRealizedProfit": "0",
         "notional": "6000"},
    ]


REFUSED = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})


class Canned(httpx.AsyncBaseTransport):
    """Answers each path with a fixed (status, JSON body); records the paths asked."""

    def __init__(self, **routes: tuple[int, Any]) -> None:
        self.routes = {
            "/papi/v2/um/account": (200, um_body()),
            "/papi/v1/account": (200, pm_body("3.00000000")),
            "/papi/v1/um/positionRisk": (200, risk_body()),
            # No COIN-M position: the CM account lists none (a key with COIN-M access, unused).
            "/papi/v1/cm/account": (200, {"assets": [], "positions": []}),
            "/papi/v1/cm/positionRisk": (200, []),
            "/fapi/v1/time": (200, {"serverTime": NOW_MS}),
            "/papi/v1/balance": (200, balance_body(NOW_MS)),
        }
        self.routes.update({_PATHS[k]: v for k, v in routes.items()})
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.path)
        # A path with no route (exchangeInfo unless given) is Binance's unknown-path answer.
        status, body = self.routes.get(request.url.path, (404, {"code": -5000, "msg": "Path not found."}))
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})


_PATHS = {"um": "/papi/v2/um/account", "pm": "/papi/v1/account", "risk": "/papi/v1/um/positionRisk",
          "cm": "/papi/v1/cm/account", "cm_risk": "/papi/v1/cm/positionRisk"}




def config(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "pmtui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


# --- check: uniMMR bands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unimmr, code, word",
    [
        ("9.00000000", 0, "OK"),
        ("1.50000001", 0, "OK"),
        ("1.50000000", 1, "WARNING"),  # the margin-call band includes 1.5
        ("1.20000001", 1, "WARNING"),
        ("1.20000000", 2, "CRITICAL"),  # reduce-only: at or below 1.2
        ("1.05000000", 2, "CRITICAL"),  # liquidation
        ("0.90000000", 2, "CRITICAL"),
    ],
)
def test_check_exit_code_for_each_unimmr_band(capsys, exchange, unimmr, code, word):
    canned = exchange(pm=(200, pm_body(unimmr)))
    got, out, err = run(capsys, "check", "--demo")
    assert (got, err) == (code, "")
    fired = {"WARNING": " at or below the warning level 1.5", "OK": ""}.get(word)
    if fired is None:  # CRITICAL: the reduce-only or the liquidation level
        fired = " at or below the " + ("critical level 1.2" if Decimal(unimmr) > Decimal("1.05")
                                       else "liquidation level 1.05")
    assert out.startswith(f"PMTUI {word} - uniMMR {Decimal(unimmr):.4f}{fired} (") and out.count("\n") == 1
    assert f" uniMMR={unimmr};1.5;1.2 " in out  # perfdata: the exchange's own string, warn;crit
    assert canned.seen.count("/papi/v1/account") == 1


@pytest.mark.parametrize(
    "unimmr, flags, code",
    [
        ("3.00000000", ["-w", "4", "-c", "2"], 1),
        ("1.90000000", ["-w", "4", "-c", "2"], 2),
        ("4.00000001", ["--warning", "4", "--critical", "2"], 0),
        ("1.30000000", ["-c", "1.25"], 1),  # -w alone keeps the configured 1.5
        ("1.00000000", ["-w", "1.2", "-c", "1.1"], 2),  # below the liquidation band too
    ],
)
def test_check_w_and_c_set_the_unimmr_thresholds_and_the_perfdata(capsys, exchange, unimmr, flags, code):
    exchange(pm=(200, pm_body(unimmr)))
    got, out, err = run(capsys, "check", "--demo", *flags)
    assert (got, err) == (code, "")
    values = dict(zip(flags[::2], flags[1::2], strict=True))
    w = values.get("-w", values.get("--warning", "1.5"))
    c = values.get("-c", values.get("--critical", "1.2"))
    assert f" uniMMR={unimmr};{w};{c} " in out


@pytest.mark.parametrize("flags", [["-w", "abc"], ["-c", "0"], ["-w", "nan"], ["-w", "1.1", "-c", "1.2"]])
def test_check_bad_thresholds_are_unknown_in_one_line(capsys, exchange, flags):
    exchange()
    got, out, err = run(capsys, "check", "--demo", *flags)
    assert got == 3 and out.startswith("PMTUI UNKNOWN - ") and out.count("\n") == 1
    assert err.startswith("pmtui") and err.count("\n") == 1 and "Traceback" not in err


def test_check_help_lists_the_exit_codes(capsys):
    got, out, _ = run(capsys, "check", "--help")
    assert got == 0 and "exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN" in out


@pytest.mark.parametrize("argv", [["--hedge"], ["snapshot", "--scenario", "margin-call"], ["snapshot", "--bogus"],
                                  ["--interval", "soon"]])
def test_usage_errors_are_one_line_exit_2_and_never_a_live_request(capsys, argv, monkeypatch):
    monkeypatch.setattr("pmtui.fleet.make_client", lambda *a, **k: pytest.fail("a request was prepared"))
    got, out, err = run(capsys, *argv)
    assert got == 2 and out == ""
    assert err.startswith("pmtui") and ": error: " in err and err.count("\n") == 1 and "--help" in err


def test_check_line_says_band_status_and_headroom(capsys, exchange):
    exchange(pm=(200, pm_body("1.40000000")))
    _, out, _ = run(capsys, "check", "--demo")
    # headroom: 1400 - 1.05 * 1000 = 350, which is 25% of 1400
    assert out.startswith(
        "PMTUI WARNING - uniMMR 1.4000 at or below the warning level 1.5 (margin call band, status MARGIN_CALL),"
        " headroom to 1.05 350.00 (25.0%),"
        " 1 open positions, uPnL +0.00 | ")  # no move: the canned model does not reconcile
    assert "account_equity=1400.00000000 account_maint_margin=1000.00000000" in out


def test_check_status_alone_can_make_it_worse(capsys, exchange):
    exchange(pm=(200, pm_body("3.00000000", status="REDUCE_ONLY")))
    code, out, _ = run(capsys, "check", "--demo")
    assert code == 2 and out.startswith("PMTUI CRITICAL - uniMMR 3.0000 (normal band, status REDUCE_ONLY)")


def test_check_thresholds_are_configurable(capsys, exchange):
    config("[thresholds]\nunimmr_warn = 2.0\nunimmr_danger = 1.6\n")
    exchange(pm=(200, pm_body("1.80000000")))
    assert run(capsys, "check", "--demo")[0] == 1
    exchange(pm=(200, pm_body("1.55000000")))
    assert run(capsys, "check", "--demo")[0] == 2


def test_check_unknown_when_the_um_account_cannot_be_fetched(capsys, exchange):
    exchange(um=(500, {"code": -1001, "msg": "Internal error."}))
    code, out, err = run(capsys, "check", "--demo")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - ") and err.startswith("pmtui: error: ")


# --- check: fallback when /papi/v1/account is refused ---------------------------------------------


@pytest.mark.parametrize(
    "refusal, how",
    [
        (REFUSED, "code -2015"),
        ((400, {"code": -1002, "msg": "You are not authorized to execute this request."}), "code -1002"),
    ],
)
def test_check_falls_back_to_the_um_ratio_and_says_so(capsys, exchange, refusal, how):
    canned = exchange(pm=refusal, um=(200, um_body(wallet="1400.00000000")))
    code, out, err = run(capsys, "check", "--demo")
    assert (code, err) == (1, "")  # UM ratio 1400 / 1000 = 1.4: WARNING
    assert out.startswith(
        "PMTUI WARNING - UM margin ratio 1.4000 at or below the warning level 1.5 (uniMMR unavailable to this key:"
        " the exchange refused"
        f" /papi/v1/account ({how}); the API key may lack access to it), ")
    assert ", 1 open positions, uPnL +0.00; liquidation " in out and "uniMMR=" not in out
    assert " | margin_balance=1400.00000000 " in out
    assert canned.seen.count("/papi/v1/account") == 1


def test_check_fallback_ok_band(capsys, exchange):
    exchange(pm=REFUSED)
    code, out, _ = run(capsys, "check", "--demo")
    assert code == 0 and out.startswith("PMTUI OK - UM margin ratio 3.0000 (uniMMR unavailable to this key:")


def test_check_does_not_fall_back_on_a_server_error(capsys, exchange):
    exchange(pm=(503, {"code": -1001, "msg": "Service unavailable."}))
    code, out, _ = run(capsys, "check", "--demo")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - The exchange had an internal error (HTTP 503)")


def test_check_without_position_risk_says_so(capsys, exchange):
    exchange(risk=REFUSED)
    code, out, _ = run(capsys, "check", "--demo")
    assert code == 0 and "; liquidation distances unavailable |" in out


# --- check: never OK blind -----------------------------------------------------------------------


def test_check_line_without_unimmr_is_unknown_unless_the_key_may_not_read_it():
    from pmtui import output
    from pmtui.models import parse_position_risk, parse_um_account
    from pmtui.settings import Thresholds

    account, risks = parse_um_account(um_body()), parse_position_risk(risk_body())
    level, line = output.check_line(account, Thresholds(), risks=risks)  # /papi/v1/account not read
    assert level is None and line.startswith(
        "PMTUI UNKNOWN - uniMMR unknown (/papi/v1/account was not read), UM margin ratio 3.0000, 1 open positions")
    # A position this near its liquidation price is known to be CRITICAL even so.
    level, line = output.check_line(account, Thresholds(), risks=parse_position_risk(risk_body(liq="48800")))
    assert level is not None and level.name == "CRITICAL"
    assert line.startswith("PMTUI CRITICAL - BTCUSDT 2.4% from liquidation, under the critical distance 5%;"
                           " uniMMR unknown")


def test_check_counts_a_position_near_liquidation_even_with_the_alert_off(capsys, exchange):
    """uniMMR 1.92 is the normal band, but BTCUSDT 2.4% from its liquidation price is CRITICAL:
    `check` and the dashboard give the same verdict, whatever the alerts table says."""
    config("[alerts]\nliq_distance_below = false\n")
    exchange(pm=(200, pm_body("1.92000000")), risk=(200, risk_body(liq="48800.00000000")))
    code, out, _ = run(capsys, "check", "--demo")
    assert code == 2 and out.startswith(
        "PMTUI CRITICAL - BTCUSDT 2.4% from liquidation, under the critical distance 5%;"
        " uniMMR 1.9200 (normal band, status NORMAL), ")


class RefusingServer(PapiServer):
    """The local PAPI imitation with a key that may not read some paths: -2015 on those only."""

    refused: frozenset[str] = frozenset()

    def reply(self, method, path, query, headers):
        if path in self.refused:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return super().reply(method, path, query, headers)


@pytest.fixture
def live(monkeypatch):
    server = RefusingServer().start()
    monkeypatch.setenv("PMTUI_BASE_URL", server.base_url)
    monkeypatch.setenv("PMTUI_API_KEY", API_KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", API_SECRET)
    try:
        yield server
    finally:
        server.stop()


def test_live_check_falls_back_only_when_the_key_may_not_read_the_account(capsys, live):
    live.refused = frozenset({PM_ACCOUNT})
    code, out, err = run(capsys, "check")
    assert (code, err) == (0, "") and out.count("\n") == 1
    assert out.startswith("PMTUI OK - UM margin ratio 164.7247 (uniMMR unavailable to this key: the exchange"
                          " refused /papi/v1/account (code -2015); the API key may lack access to it), ")
    assert live.count(PM_ACCOUNT) == 1 and live.count(UM_ACCOUNT) == 1


@pytest.mark.parametrize("fault", ["500", "503", "-1001", "429", "html", "truncated", "reset"])
def test_live_check_is_unknown_when_the_account_fails_for_a_passing_reason(capsys, live, fault):
    live.inject(fault, path=PM_ACCOUNT)
    code, out, err = run(capsys, "check")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - ") and out.count("\n") == 1, out
    assert "uniMMR unavailable" not in out and err.startswith("pmtui: error: ")
    live.clear()
    code, out, _ = run(capsys, "check")  # and once it passes, the real answer
    assert code == 0 and out.startswith("PMTUI OK - uniMMR 166.1085 (normal band, status NORMAL)")


def test_live_check_is_unknown_when_the_key_is_revoked(capsys, live):
    live.revoke()
    code, out, _ = run(capsys, "check")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - The exchange refused the API key")


# --- check: the alert rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "liq, code, word, near, said",
    [
        ("25000.00000000", 0, "OK", None, None),  # 50% away
        # 15% away: WARN by the thresholds (liq_distance_warn 20%), no alert yet (below 10%).
        ("42500.00000000", 1, "WARNING", "15.0%", None),
        # 8%: DANGER by the thresholds, which a monitor reads as CRITICAL; the alert holds too.
        ("46000.00000000", 2, "CRITICAL", "8.0%",
         "BTCUSDT long is 8% from its liquidation price 46,000 (alert below 10%)"),
        ("48000.00000000", 2, "CRITICAL", "4.0%",
         "BTCUSDT long is 4% from its liquidation price 48,000 (alert below 10%)"),
    ],
)
def test_check_applies_the_liquidation_distance_rule(capsys, exchange, liq, code, word, near, said):
    exchange(risk=(200, risk_body(liq=liq)))
    got, out, _ = run(capsys, "check", "--demo")
    under = {"15.0%": "warning distance 20%", "8.0%": "danger distance 10%", "4.0%": "critical distance 5%"}
    lead = f"BTCUSDT {near} from liquidation, under the {under[near]}; " if near else ""
    assert got == code and out.startswith(f"PMTUI {word} - {lead}uniMMR 3.0000")
    if said:
        assert f"uPnL +0.00; {said}" in out  # the risk model's liquidation move may follow
    assert "ETHUSDT" not in out  # its row is an extra: the account holds no ETH


def test_check_rules_follow_the_alerts_table(capsys, exchange):
    config("[alerts]\nliq_distance_below = false\nupnl_below = -100\n")
    exchange(risk=(200, risk_body(liq="48000.00000000")),
             um=(200, um_body(wallet="3200.00000000", upnl="-200.00000000")))
    code, out, _ = run(capsys, "check", "--demo")
    # The liquidation alert is off, so its message is not there; the verdict still counts the
    # position 4% from its liquidation price (the thresholds decide that, not the alerts).
    assert code == 2 and "liquidation price" not in out
    assert out.startswith("PMTUI CRITICAL - BTCUSDT 4.0% from liquidation, under the critical distance 5%;"
                          " uniMMR 3.0000")
    assert "; Total uPnL -200.00 is below -100.00" in out


# --- snapshot ------------------------------------------------------------------------------------


def test_snapshot_json_has_the_account_object_and_risk_rows_with_exact_strings(capsys, exchange):
    body = pm_body("1.50000000")
    body["extraField"] = "kept"
    exchange(pm=(200, body))
    code, out, err = run(capsys, "snapshot", "--demo", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["account"] == body  # every string as the exchange wrote it: "1.50000000", not 1.5
    assert doc["account"]["uniMMR"] == "1.50000000" and doc["account"]["accountEquity"] == "1500.00000000"
    assert '"uniMMR": "1.50000000"' in out
    assert [r["symbol"] + ":" + r["positionSide"] for r in doc["positionRisk"]] == ["BTCUSDT:BOTH", "ETHUSDT:BOTH"]
    assert doc["positionRisk"][0] == risk_body()[0]
    assert "unavailable" not in doc
    _, out, _ = run(capsys, "snapshot", "--demo", "--json", "--all")
    assert len(json.loads(out)["positionRisk"]) == 3  # the zero row too


def test_snapshot_json_when_the_account_is_refused(capsys, exchange):
    exchange(pm=REFUSED)
    code, out, _ = run(capsys, "snapshot", "--demo", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["account"] is None and doc["positionRisk"]
    assert doc["unavailable"] == {
        "account": "the exchange refused /papi/v1/account (code -2015); the API key may lack access to it"}


def test_snapshot_table_shows_unimmr_and_the_joined_columns(capsys, exchange):
    exchange(pm=(200, pm_body("1.40000000")), risk=(200, risk_body(liq="46000.00000000")))
    code, out, _ = run(capsys, "snapshot", "--demo")
    lines = [line.rstrip() for line in out.splitlines()]
    # uniMMR 1.4 is WARN, BTCUSDT 8% from liquidation DANGER: the account's level is the worse.
    assert code == 0 and lines[0].startswith("Account ◆ DANGER  UM margin balance 3,000.00")
    assert lines[1] == "uniMMR 1.4000 (margin call band)  status MARGIN_CALL  headroom to 1.05 350.00 (25.0%)"
    assert lines[2].startswith("Account equity 1,400.00  actual equity 1,400.00  account maint. margin 1,000.00")
    row = next(line for line in lines[lines.index("Liquidation"):] if line.strip().startswith("BTCUSDT"))
    # No exchangeInfo here: prices to 6 significant digits, with thousands separators.
    assert row.split() == ["BTCUSDT", "LONG", "49,000", "50,000", "46,000", "8.00%", "20x", "◆", "DANGER"]


def test_snapshot_table_says_what_is_not_shown(capsys, exchange):
    exchange(pm=REFUSED, risk=REFUSED)
    code, out, _ = run(capsys, "snapshot", "--demo")
    assert code == 0 and "uniMMR" not in out and "Liquidation" not in out
    assert "Not shown (account): the exchange refused /papi/v1/account (code -2015)" in out
    assert "Not shown (positionRisk): the exchange refused /papi/v1/um/positionRisk" in out


# --- --record and history ------------------------------------------------------------------------


def test_record_then_history_in_every_format(capsys, exchange, tmp_path):
    file = tmp_path / "h.sqlite3"
    exchange(pm=(200, pm_body("1.40000000")))
    assert run(capsys, "check", "--demo", "--record", "--history-file", str(file))[0] == 1
    exchange(pm=(200, pm_body("2.10000000")))
    assert run(capsys, "--record", "--history-file", str(file), "snapshot", "--demo", "--json")[0] == 0
    rows = History(file).read()
    assert [(r.profile, r.unimmr, r.account_equity, r.maint_margin, r.level) for r in rows] == [
        ("demo", Decimal("1.40000000"), Decimal("1400.00000000"), Decimal("1000.00000000"), "warn"),
        ("demo", Decimal("2.10000000"), Decimal("2100.00000000"), Decimal("1000.00000000"), "ok"),
    ]
    assert str(rows[0].unimmr) == "1.40000000"

    code, out, _ = run(capsys, "history", "--history-file", str(file), "--format", "json")
    data = json.loads(out)
    assert code == 0 and [d["unimmr"] for d in data] == ["1.40000000", "2.10000000"]
    assert data[0]["total_upnl"] == "0.00000000"
    code, out, _ = run(capsys, "history", "--history-file", str(file), "--format", "csv")
    assert [r["account_equity"] for r in csv.DictReader(io.StringIO(out))] == ["1400.00000000", "2100.00000000"]
    code, out, _ = run(capsys, "history", "--history-file", str(file))
    assert "History (2 samples)" in out and "1.4000" in out and "WARN" in out


def test_history_since_and_default_file(capsys):
    h = History()  # the user data dir (isolated by conftest)
    old = Sample(NOW_MS - 48 * 3600_000, "default", Decimal("3"), Decimal("1"), Decimal("1"), Decimal("0"), "ok")
    new = Sample(NOW_MS, "default", Decimal("1.3"), Decimal("1"), Decimal("1"), Decimal("0"), "warn")
    h.record(old)
    h.record(new)
    code, out, _ = run(capsys, "history", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = run(capsys, "history", "--since", "2025-06-14T00:00:00+00:00", "--format", "json")
    assert [d["time_ms"] for d in json.loads(out)] == [NOW_MS]


def test_history_errors_are_one_sentence(capsys, tmp_path):
    code, out, err = run(capsys, "history", "--history-file", str(tmp_path / "none.sqlite3"))
    assert code == 1 and out == ""
    assert err == (f"pmtui: error: There is no history file at {tmp_path / 'none.sqlite3'} yet; "
                   "record some with --record.\n")
    code, _, err = run(capsys, "history", "--since", "yesterday")
    assert code == 2 and "not a time" in err


def test_check_still_answers_when_recording_fails(capsys, exchange, tmp_path):
    exchange()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "check", "--demo", "--record", "--history-file", str(blocker / "h.sqlite3"))
    assert code == 0 and out.startswith("PMTUI OK")
    assert err.startswith("pmtui: warning: Cannot create the history file ") and err.count("\n") == 1


# --- the real demo: both endpoints, every band -------------------------------------------------------


def test_margin_call_demo_check_walks_through_every_band(capsys, monkeypatch):
    """`check --demo --scenario margin-call` again and again on one exchange: each run is one
    market step, and the word follows uniMMR's band all the way down to liquidation and back."""
    # From step 44 (the 44 runs before it were all "normal"): the bands change at steps 54
    # (margin call), 60, 66 (liquidation), 78, 80 and 85 (normal again).
    exchange = DemoExchange(seed=3, scenario="margin-call", symbols=40, clock=lambda: 1_750_000_000.0, step=44)
    monkeypatch.setattr("pmtui.demo.DemoExchange", lambda **kwargs: exchange)
    # uniMMR's bands alone: liquidation alerts off, liquidation levels out of reach, and no risk
    # model and no forced fills (their weight would hold each of the 56 runs back on the budget).
    config("risk_model = false\n[alerts]\nliq_distance_below = false\nforced_fill = false\n" + NO_LIQ_LEVELS)
    bands = []
    for _ in range(56):
        code, out, _ = run(capsys, "check", "--demo", "--scenario", "margin-call")
        unimmr = Decimal(out.split(" uniMMR=")[1].split(";")[0])
        word = ("OK" if unimmr > Decimal("1.5") else "WARNING" if unimmr > Decimal("1.2") else "CRITICAL")
        # (A position may still be named first where, near liquidation, it is as bad as uniMMR.)
        assert re.match(rf"PMTUI {word} - (\S+ [\d.]+% from liquidation, under the \w+ distance [\d.]+%; )?uniMMR ",
                        out), out
        assert code == ("OK", "WARNING", "CRITICAL").index(word)
        bands.append(out.split("(", 1)[1].split(" band")[0])
    assert bands[0] == "normal" and bands[-1] == "normal"
    assert {"normal", "margin call", "reduce-only", "liquidation"} <= set(bands)


def test_weight_per_minute_of_the_default_cadence():
    from pmtui.budget import weight_per_minute

    # UM account (5) every 2 s, account (20) every 10 s, positionRisk (5) every 2 s: 150 + 120 + 150.
    assert weight_per_minute(2, 10, 2) == 420 and weight_per_minute(2) == 150
    assert weight_per_minute(1, 5, 1) == 840  # the fastest allowed: still a seventh of the 6000 cap


# --- check: the line names the threshold that fired ------------------------------------------------


@pytest.mark.parametrize(
    "unimmr, flags, code, words",
    [
        ("11.04060000", ["-w", "20", "-c", "15"], 2, "uniMMR 11.0406 at or below the critical level 15 (normal band"),
        ("16.00000000", ["-w", "20", "-c", "15"], 1, "uniMMR 16.0000 at or below the warning level 20 (normal band"),
        ("1.00000000", [], 2, "uniMMR 1.0000 at or below the liquidation level 1.05 (liquidation band"),
        ("21.00000000", ["-w", "20", "-c", "15"], 0, "uniMMR 21.0000 (normal band"),
    ],
)
def test_check_names_the_unimmr_threshold_that_fired(capsys, exchange, unimmr, flags, code, words):
    """`check -w 20 -c 15` said "CRITICAL - uniMMR 11.0406 (normal band, ...)": nothing on the
    line said why. It names the level the value is at or below."""
    exchange(pm=(200, pm_body(unimmr)))
    got, out, err = run(capsys, "check", "--demo", *flags)
    assert (got, err) == (code, "")
    assert out.startswith(f"PMTUI {['OK', 'WARNING', 'CRITICAL'][code]} - {words}"), out


@pytest.mark.parametrize(
    "liq, code, words",
    [
        ("49000.00000000", 2, "BTCUSDT 2.0% from liquidation, under the critical distance 5%; uniMMR 3.0000 ("),
        ("46000.00000000", 2, "BTCUSDT 8.0% from liquidation, under the danger distance 10%; uniMMR"),
        ("42000.00000000", 1, "BTCUSDT 16.0% from liquidation, under the warning distance 20%; uniMMR"),
    ],
)
def test_check_names_the_liquidation_distance_that_fired(capsys, exchange, liq, code, words):
    exchange(risk=(200, risk_body(liq=liq)))
    got, out, err = run(capsys, "check", "--demo")
    assert (got, err) == (code, "")
    assert out.startswith(f"PMTUI {['OK', 'WARNING', 'CRITICAL'][code]} - {words}"), out


def test_check_names_the_unimmr_alert_when_only_the_rule_fired(capsys, exchange):
    """With -w 1.3 uniMMR 1.4 is above the check's warning level, but the alert rule
    (unimmr_below = 1.5) holds: the line says that rule and its threshold."""
    exchange(pm=(200, pm_body("1.40000000", status="NORMAL")))
    got, out, err = run(capsys, "check", "--demo", "-w", "1.3", "-c", "1.2")
    assert (got, err) == (1, "")
    assert out.startswith("PMTUI WARNING - uniMMR 1.4000 (margin call band, status NORMAL)")
    assert "; uniMMR 1.4 is below 1.5 (margin call band) |" in out
