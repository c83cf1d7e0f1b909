"""The command line: snapshot, check, errors and the debug log, in-process and as real processes.

Nothing here leaves the machine: the demo exchange is an in-process transport, and the live
runs go to the local PAPI imitation (tests/support/papi_server.py) or to a closed port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from pmtui import __version__, output
from pmtui.cli import main
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.health import Level, ratio_level
from pmtui.logs import log_path
from pmtui.models import UmAccount, decode_json, parse_pm_account, parse_um_account
from pmtui.settings import Thresholds
from tests.support.papi_server import API_KEY, API_SECRET, UM_ACCOUNT, um_account_body

REPO = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0  # the demo's fixed clock
SEED = 11
MONEY_FIELDS = {
    "crossWalletBalance", "crossUnPnl", "maintMargin", "initialMargin", "positionInitialMargin",
    "openOrderInitialMargin", "unrealizedProfit", "positionAmt", "notional",
}
DECIMAL_STRING = re.compile(r"^-?\d+\.?\d*$")


# --- helpers -----------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """main() in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, env: dict[str, str] | None = None, code: str | None = None,
                stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """A real `python -m pmtui ...` (or `python -c code ...`), with this test's isolated env."""
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "pmtui", *argv]
    return subprocess.run(
        command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=stdout,
        stderr=subprocess.PIPE, text=True, timeout=60,
    )


def demo(scenario: str = "normal", *, hedge: bool = False, symbols: int = 40) -> DemoExchange:
    return DemoExchange(seed=SEED, scenario=scenario, hedge=hedge, symbols=symbols, clock=lambda: T0)


async def _raw_um(exchange: DemoExchange, times: int = 1) -> dict:
    """Ask the exchange for the UM account `times` times (each asks moves the market one step);
    the last answer's JSON with every value as the exchange wrote it."""
    async with httpx.AsyncClient(transport=exchange, base_url="https://papi.binance.com") as http:
        for _ in range(times):
            query = urlencode({"timestamp": int(T0 * 1000)})
            sig = hmac.new(DEMO_API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
            resp = await http.get(f"{UM_ACCOUNT}?{query}&signature={sig}",
                                  headers={"X-MBX-APIKEY": DEMO_API_KEY})
            assert resp.status_code == 200, resp.text
    return json.loads(resp.content)


def raw_um(exchange: DemoExchange, times: int = 1) -> dict:
    return asyncio.run(_raw_um(exchange, times))


@pytest.fixture
def use_demo(monkeypatch):
    """`--demo` gets the exchange passed to this fixture's function; records the flags it got."""
    calls: list[dict] = []

    def install(exchange: DemoExchange) -> list[dict]:
        def factory(**kwargs):
            calls.append(kwargs)
            return exchange

        monkeypatch.setattr("pmtui.demo.DemoExchange", factory)
        return calls

    return install


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(text: str, mode: int, path: Path | None = None) -> Path:
    path = path or Path(os.environ["XDG_CONFIG_HOME"]) / "pmtui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text
        assert 'File "' not in text


# --- version and help --------------------------------------------------------------------------


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"pmtui {__version__}"


def test_usage_error_of_check_is_unknown_not_critical(capsys):
    # argparse exits 2, which Nagios reads as CRITICAL: check answers UNKNOWN (3) instead.
    code, out, err = run(capsys, "check", "--no-such-flag")
    assert code == 3
    assert out.startswith("PMTUI UNKNOWN - ")
    assert "unrecognized arguments" in err
    code, out, err = run(capsys, "snapshot", "--no-such-flag")
    assert code == 2 and out == ""


# --- snapshot --demo ---------------------------------------------------------------------------


def test_snapshot_demo_prints_assets_and_open_positions(capsys, use_demo):
    raw = raw_um(demo())
    calls = use_demo(demo())
    code, out, err = run(capsys, "snapshot", "--demo")
    assert code == 0 and err == ""
    assert calls == [{"hedge": False, "scenario": "normal"}]
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0].startswith("Account ✓ OK  UM margin balance ")
    assert "Assets" in lines and any(line.startswith("Positions (") for line in lines)
    for header in ("Wallet", "Maint. margin", "MM used", "Symbol", "Notional", "MM share", "Health"):
        assert header in out
    open_rows = [p for p in raw["positions"] if Decimal(p["positionAmt"]) != 0]
    assert f"Positions ({len(open_rows) + 1})" in out  # and the demo's COIN-M position
    assert re.search(r"^\s*BTCUSD_PERP CM\s", out, re.M)
    table_symbols = {line.split()[0] for line in lines if line.endswith(("OK", "WARN", "DANGER", "CRITICAL"))}
    assert {p["symbol"] for p in open_rows} <= table_symbols
    zero_rows = {p["symbol"] for p in raw["positions"]} - {p["symbol"] for p in open_rows}
    assert not zero_rows & table_symbols
    # USDT and USDC hold money; the empty BNB row is left out without --all.
    assert re.search(r"^\s+USDT\s", out, re.M) and re.search(r"^\s+USDC\s", out, re.M)
    assert not re.search(r"^\s+BNB\s", out, re.M)


def test_snapshot_demo_all_shows_zero_rows(capsys, use_demo):
    use_demo(demo(symbols=40))
    code, out, _ = run(capsys, "snapshot", "--demo", "--all")
    assert code == 0
    assert "Positions (42)" in out  # 40 USD-M rows, two COIN-M ones (BTCUSD_PERP, ETHUSD_PERP)
    assert re.search(r"^\s+BNB\s", out, re.M)


def test_snapshot_demo_numbers_match_the_payload(capsys, use_demo):
    raw = raw_um(demo())
    use_demo(demo())
    _, out, _ = run(capsys, "snapshot", "--demo")
    usdt = next(a for a in raw["assets"] if a["asset"] == "USDT")
    wallet = Decimal(usdt["crossWalletBalance"]).quantize(Decimal("0.01"))
    assert f"{wallet:,.2f}" in out
    biggest = max((p for p in raw["positions"]), key=lambda p: Decimal(p["maintMargin"]))
    row = next(line for line in out.splitlines() if line.split()[:1] == [biggest["symbol"]])
    assert f"{Decimal(biggest['maintMargin']).quantize(Decimal('0.01')):,.2f}" in row


def _money_values(doc: dict):
    for row in doc["assets"] + doc["positions"]:
        for key in MONEY_FIELDS & row.keys():
            yield key, row[key]


def test_snapshot_json_repeats_the_exchange_strings(capsys, use_demo):
    raw = raw_um(demo())
    use_demo(demo())
    code, out, err = run(capsys, "snapshot", "--demo", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert isinstance(doc["fetchedAt"], int)
    # Exactly the exchange's rows: open positions and non-empty assets, strings untouched.
    assert doc["positions"] == [p for p in raw["positions"] if Decimal(p["positionAmt"]) != 0]
    assert doc["assets"] == [a for a in raw["assets"] if a["asset"] != "BNB"]
    assert len(doc["positions"]) >= 10
    values = list(_money_values(doc))
    assert values and all(isinstance(v, str) and DECIMAL_STRING.match(v) for _, v in values)
    assert any(v.endswith("0") and "." in v for _, v in values)  # trailing zeros kept


def test_snapshot_json_all_includes_zero_rows(capsys, use_demo):
    raw = raw_um(demo(symbols=40))
    use_demo(demo(symbols=40))
    code, out, _ = run(capsys, "snapshot", "--demo", "--json", "--all")
    doc = json.loads(out)
    assert code == 0
    assert doc["positions"] == raw["positions"] and len(doc["positions"]) == 40
    assert doc["assets"] == raw["assets"]
    zero = [p for p in doc["positions"] if p["positionAmt"] == "0"]
    assert len(zero) == 40 - sum(1 for p in raw["positions"] if Decimal(p["positionAmt"]) != 0) > 0
    assert all(p["notional"] == "0" and p["unrealizedProfit"] == "0.00000000" for p in zero)


def test_snapshot_json_hedge_mode(capsys, use_demo):
    calls = use_demo(demo(hedge=True))
    code, out, _ = run(capsys, "snapshot", "--demo", "--hedge", "--json")
    assert code == 0 and calls == [{"hedge": True, "scenario": "normal"}]
    sides = {p["positionSide"] for p in json.loads(out)["positions"]}
    assert sides == {"LONG", "SHORT"}


def test_snapshot_json_numbers_sent_unquoted_keep_their_digits():
    body = json.dumps({
        "assets": [], "positions": [{
            "symbol": "BTCUSDT", "initialMargin": "1", "maintMargin": "1", "unrealizedProfit": "0",
            "positionSide": "BOTH", "positionAmt": "1", "updateTime": 0, "notional": "1",
            "extra": "x",
        }],
    }).replace('"notional": "1"', '"notional": 123456789.123456789012345678901')
    acc = parse_um_account(decode_json(body.encode()))
    doc = json.loads(output.snapshot_json(acc))
    assert doc["positions"][0]["notional"] == "123456789.123456789012345678901"
    assert doc["positions"][0]["extra"] == "x"


def test_snapshot_table_treats_brackets_in_names_as_text():
    acc = parse_um_account({
        "assets": [],
        "positions": [{
            "symbol": "[/]BTC[bold]USDT", "initialMargin": "1", "maintMargin": "1",
            "unrealizedProfit": "0", "positionSide": "BOTH", "positionAmt": "1", "updateTime": 0,
            "notional": "1",
        }],
    })
    assert "[/]BTC[bold]USDT" in output.snapshot_table(acc, Thresholds())


# --- check -------------------------------------------------------------------------------------


# The UM margin ratio judges only when the key may not read /papi/v1/account (else: UNKNOWN).
REFUSED = {"account": "the exchange refused /papi/v1/account (code -2015)"}
# Liquidation distances out of the way, where a test is about uniMMR's bands alone.
NO_LIQ_LEVELS = "[thresholds]\nliq_distance_warn = 0.003\nliq_distance_danger = 0.002\nliq_distance_critical = 0.001\n"


def _acct(usdt_wallet: str, usdt_mm: str, *, upnl: str = "0", open_amt: str = "1") -> UmAccount:
    return parse_um_account({
        "assets": [
            {"asset": "USDT", "crossWalletBalance": usdt_wallet, "crossUnPnl": upnl,
             "maintMargin": usdt_mm, "initialMargin": "0", "positionInitialMargin": "0",
             "openOrderInitialMargin": "0", "updateTime": 1},
            {"asset": "USDC", "crossWalletBalance": "0.00000000", "crossUnPnl": "0.00000000",
             "maintMargin": "0", "initialMargin": "0", "positionInitialMargin": "0",
             "openOrderInitialMargin": "0", "updateTime": 1},
        ],
        "positions": [
            {"symbol": "BTCUSDT", "initialMargin": "1", "maintMargin": usdt_mm,
             "unrealizedProfit": upnl, "positionSide": "BOTH", "positionAmt": open_amt,
             "updateTime": 1, "notional": "100"},
            {"symbol": "ETHUSDT", "initialMargin": "0", "maintMargin": "0",
             "unrealizedProfit": "0", "positionSide": "BOTH", "positionAmt": "0",
             "updateTime": 0, "notional": "0"},
        ],
    })


@pytest.mark.parametrize(
    "wallet, level, word",
    [
        ("1600.00000000", Level.OK, "OK"),
        ("1500.00000000", Level.WARN, "WARNING"),
        ("1200.00000000", Level.DANGER, "CRITICAL"),  # reduce-only: a monitor must page
        ("1050.00000000", Level.CRITICAL, "CRITICAL"),
        ("-5.00000000", Level.CRITICAL, "CRITICAL"),
    ],
)
def test_check_line_for_each_band(wallet, level, word):
    got, line = output.check_line(_acct(wallet, "1000.00000000", upnl="-12.50000000"), Thresholds(),
                                  unavailable=REFUSED)
    assert got is level
    assert "\n" not in line
    assert line.startswith(f"PMTUI {word} - UM margin ratio ")
    assert "1 open positions" in line
    assert "uPnL -12.50" in line
    # perfdata after "|": exact plain decimals, never scientific notation.
    perf = dict(kv.split("=") for kv in line.split(" | ", 1)[1].split())
    assert perf["maint_margin"] == "1000.00000000"
    assert perf["upnl"] == "-12.50000000"
    assert Decimal(perf["margin_balance"]) == Decimal(wallet) - Decimal("12.5")


def test_check_line_with_no_maint_margin():
    level, line = output.check_line(_acct("0.00000000", "0", open_amt="0"), Thresholds(), unavailable=REFUSED)
    assert level is Level.OK
    assert line.startswith("PMTUI OK - UM margin ratio ∞ (uniMMR unavailable to this key: ")
    assert ", 0 open positions" in line
    assert "margin_balance=0.00000000" in line and "E" not in line.split("|")[1]


def test_check_line_honours_thresholds():
    strict = Thresholds(unimmr_warn=3, unimmr_danger=2, unimmr_critical="1.5")
    level, line = output.check_line(_acct("2500", "1000"), strict, unavailable=REFUSED)
    assert level is Level.WARN and line.startswith("PMTUI WARNING")


def test_check_demo_ok(capsys):
    # The demo's big positions often sit within 10% of their liquidation price (an alert, so
    # WARNING): here only the account's own health is judged. tests/cli/test_cli_risk.py has the rest.
    write_config("[alerts]\nliq_distance_below = false\n" + NO_LIQ_LEVELS, 0o600)
    code, out, err = run(capsys, "check", "--demo")
    assert code == 0 and err == ""
    assert out.count("\n") == 1
    assert re.match(r"PMTUI OK - uniMMR \d+\.\d{4} \(normal band, status NORMAL\), headroom to 1\.05 "
                    r"[\d,]+\.\d\d \(\d+\.\d%\), \d+ open positions, uPnL [+-][\d,]+\.\d\d"
                    r"(; liquidation at [^|]+)? \| "  # the risk model's move, when it reconciles
                    r"margin_balance=[\d.]+ maint_margin=[\d.]+ upnl=-?[\d.]+ "
                    r"uniMMR=[\d.]+;1.5;1.2 account_equity=[\d.]+ account_maint_margin=[\d.]+"
                    r"( liq_move_(down|up)=-?[\d.]+%)*$", out.strip())


def _first_steps_per_level(scan: int = 100) -> dict[Level, int]:
    """Walk a margin-call demo: the first step at which the account's uniMMR reaches each level."""
    async def walk():
        found: dict[Level, int] = {}
        exchange = demo("margin-call")
        async with httpx.AsyncClient(transport=exchange, base_url="https://papi.binance.com") as http:
            for step in range(scan):
                query = urlencode({"timestamp": int(T0 * 1000)})
                sig = hmac.new(DEMO_API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
                resp = await http.get(f"/papi/v1/account?{query}&signature={sig}",
                                      headers={"X-MBX-APIKEY": DEMO_API_KEY})
                level = ratio_level(parse_pm_account(decode_json(resp.content)).uniMMR, Thresholds())
                found.setdefault(level, step)
        return found

    return asyncio.run(walk())


def test_check_margin_call_demo_exits_by_level(capsys, use_demo):
    steps = _first_steps_per_level()
    # The scenario slides through every band (a fixed seed and clock: always the same steps).
    assert set(steps) == set(Level)
    expected = {Level.OK: (0, "OK"), Level.WARN: (1, "WARNING"), Level.DANGER: (2, "CRITICAL"),
                Level.CRITICAL: (2, "CRITICAL")}
    # uniMMR's bands only; liquidation alerts and levels are off here.
    write_config("[alerts]\nliq_distance_below = false\n" + NO_LIQ_LEVELS, 0o600)
    for level, step in sorted(steps.items()):
        exchange = demo("margin-call")
        if step:
            raw_um(exchange, step)  # the CLI's request will see market step `step`
        calls = use_demo(exchange)
        code, out, err = run(capsys, "check", "--demo", "--scenario", "margin-call")
        assert calls[-1] == {"hedge": False, "scenario": "margin-call"}
        assert (code, out.split(" - ")[0]) == (expected[level][0], f"PMTUI {expected[level][1]}"), (level, step, out)
        assert err == ""


# --- failures: one sentence, the right exit code -------------------------------------------------


def test_check_against_a_dead_port_is_unknown(capsys, monkeypatch):
    monkeypatch.setenv("PMTUI_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("PMTUI_API_KEY", "key-abcdef")
    monkeypatch.setenv("PMTUI_API_SECRET", "secret-abcdef")
    code, out, err = run(capsys, "check")
    assert code == 3
    assert out.startswith("PMTUI UNKNOWN - Could not reach 127.0.0.1") and out.count("\n") == 1
    assert err.startswith("pmtui: error: Could not reach 127.0.0.1") and err.count("\n") == 1
    code, out, err = run(capsys, "snapshot")
    assert code == 1 and out == ""
    assert err.startswith("pmtui: error: Could not reach 127.0.0.1") and err.count("\n") == 1


def test_no_key_configured(capsys):
    code, out, err = run(capsys, "snapshot")
    assert code == 1 and out == ""
    assert err.startswith("pmtui: error: No API key is configured")
    assert "PMTUI_API_KEY" in err and "--demo" in err and err.count("\n") == 1
    code, out, err = run(capsys, "check")
    assert code == 3
    assert out.startswith("PMTUI UNKNOWN - No API key is configured")
    assert err.startswith("pmtui: error: No API key is configured")


def test_key_without_secret_is_no_key(capsys, monkeypatch):
    monkeypatch.setenv("PMTUI_API_KEY", "key-abcdef")
    code, _, err = run(capsys, "snapshot")
    assert code == 1 and err.startswith("pmtui: error: No API key is configured")


@pytest.mark.parametrize("via_env", [False, True])
def test_config_readable_by_others_with_a_secret_is_refused(capsys, monkeypatch, tmp_path, via_env):
    secret = "s3cr3t-Very-Private"
    path = write_config(f'api_key = "key-abc"\napi_secret = "{secret}"\n', 0o644,
                        tmp_path / "pm.toml" if via_env else None)
    if via_env:
        monkeypatch.setenv("PMTUI_CONFIG", str(path))
    code, out, err = run(capsys, "snapshot")
    assert code == 1 and out == ""
    assert err.startswith("pmtui: error: Config file ") and err.count("\n") == 1
    assert "chmod 600" in err and str(path) in err
    assert secret not in out + err
    code, out, err = run(capsys, "check")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - Config file ") and "chmod 600" in out
    # The demo needs no secret, but the file is still read (and refused): nothing is skipped.
    code, _, err = run(capsys, "snapshot", "--demo")
    assert code == 1 and "chmod 600" in err


def test_private_config_file_is_used(capsys, live):
    path = write_config(
        f'api_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\nbase_url = "{live.base_url}"\n', 0o600
    )
    for var in ("PMTUI_BASE_URL", "PMTUI_API_KEY", "PMTUI_API_SECRET"):
        os.environ.pop(var)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    code, out, err = run(capsys, "check")
    assert (code, err) == (0, "")
    assert out.startswith("PMTUI OK")


def test_unexpected_internal_error_is_one_line(capsys, monkeypatch, use_demo):
    def boom(*args, **kwargs):
        raise RuntimeError("internal detail that must not be shown")

    monkeypatch.setattr(output, "check_line", boom)
    monkeypatch.setattr(output, "snapshot_table", boom)
    code, out, err = run(capsys, "check", "--demo")
    assert code == 3
    assert out.startswith("PMTUI UNKNOWN - unexpected internal error (RuntimeError)")
    assert err.startswith("pmtui: error: unexpected internal error (RuntimeError)") and err.count("\n") == 1
    code, out, err = run(capsys, "snapshot", "--demo")
    assert code == 1 and out == ""
    assert err.startswith("pmtui: error: unexpected internal error") and err.count("\n") == 1
    assert "must not be shown" not in out + err
    no_traceback(out, err)


# --- the debug log -----------------------------------------------------------------------------


def test_debug_log_is_written_without_secrets(capsys, live, restore_logging):
    path = log_path()
    path.parent.mkdir(parents=True)
    path.write_text("an earlier run\n", encoding="utf-8")
    path.chmod(0o644)  # left readable by an older version, or by hand
    code, out, err = run(capsys, "snapshot", "--debug")
    assert code == 0
    assert path.is_relative_to(Path(os.environ["XDG_STATE_HOME"]))  # the isolated state dir
    assert err == f"pmtui: debug log: {path}\n"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("an earlier run\n")  # appended, not replaced
    assert f"pmtui {__version__}, command snapshot" in text
    assert "GET /papi/v2/um/account -> 200" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sent = [r.query for r in live.requests if "signature=" in r.query]
    assert sent, "the server saw no signed request"
    signatures = [q.rsplit("signature=", 1)[1] for q in sent]
    for leak in (API_KEY, API_SECRET, *signatures):
        assert leak not in text
        assert leak not in out + err


def test_debug_log_records_the_failure(capsys, live, restore_logging):
    live.set_mode("500")
    code, out, err = run(capsys, "check", "--debug")
    assert code == 3
    text = log_path().read_text(encoding="utf-8")
    assert "failed: The exchange had an internal error (HTTP 500)" in text
    assert API_SECRET not in text and API_KEY not in text


# --- against the local PAPI imitation -----------------------------------------------------------


def test_live_snapshot_table(capsys, live):
    code, out, err = run(capsys, "snapshot")
    assert code == 0 and err == ""
    assert "Positions (2)" in out
    btc = next(line for line in out.splitlines() if line.strip().startswith("BTCUSDT"))
    assert btc.split()[:5] == ["BTCUSDT", "LONG", "0.2", "17,346.40", "-98.10"]
    eth = next(line for line in out.splitlines() if line.strip().startswith("ETHUSDT"))
    assert eth.split()[:3] == ["ETHUSDT", "SHORT", "-2.5"]
    assert "SOLUSDT" not in out
    assert "10,117.89" in out  # margin balance 10250.438125 - 132.55


def test_live_snapshot_json_is_the_server_body(capsys, live):
    code, out, _ = run(capsys, "snapshot", "--json")
    assert code == 0
    doc = json.loads(out)
    body = um_account_body(0)
    strip = lambda row: {k: v for k, v in row.items() if k != "updateTime"}  # noqa: E731
    assert [strip(a) for a in doc["assets"]] == [strip(a) for a in body["assets"]]
    assert [strip(p) for p in doc["positions"]] == [strip(p) for p in body["positions"][:2]]
    code, out, _ = run(capsys, "snapshot", "--json", "--all")
    assert [p["symbol"] for p in json.loads(out)["positions"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_live_check(capsys, live):
    code, out, err = run(capsys, "check")
    assert (code, err) == (0, "")
    assert out == (
        "PMTUI OK - uniMMR 166.1085 (normal band, status NORMAL), headroom to 1.05 10,053.93 (99.4%),"
        " 2 open positions, uPnL -132.55 | margin_balance=10117.88812500 maint_margin=61.42300000"
        " upnl=-132.55000000 uniMMR=166.10853477;1.5;1.2 account_equity=10117.88812500"
        " account_maint_margin=60.91300000\n"
    )
    assert live.count(UM_ACCOUNT) == 1


@pytest.mark.parametrize(
    "fault, words",
    [
        ("500", "The exchange had an internal error (HTTP 500)"),
        ("503", "The exchange had an internal error (HTTP 503)"),
        ("html", "The exchange sent a web page instead of data"),
        ("truncated", "not valid JSON"),
        ("empty", "The exchange sent an empty response"),
        ("403", "firewall blocked the request"),
    ],
)
def test_live_faults(capsys, live, fault, words):
    live.set_mode(fault)
    code, out, err = run(capsys, "check")
    assert code == 3
    assert out == f"PMTUI UNKNOWN - {out.split(' - ', 1)[1]}" and words in out and out.count("\n") == 1
    assert err.startswith("pmtui: error: ") and words in err and err.count("\n") == 1
    code, out, err = run(capsys, "snapshot")
    assert code == 1 and out == ""
    assert err.startswith("pmtui: error: ") and words in err and err.count("\n") == 1
    no_traceback(out, err)


def test_live_schema_change_and_revoked_key(capsys, live):
    live.inject("schema", path=UM_ACCOUNT, variant="renamed")
    code, out, err = run(capsys, "snapshot")
    assert code == 1
    assert "positions[0].positionAmt" in err and err.count("\n") == 1
    live.revoke()
    code, out, err = run(capsys, "check")
    assert code == 3 and "-2015" in out and "Enable Reading" in err
    live.restore()
    assert run(capsys, "check")[0] == 0


# --- real processes: nothing but one sentence reaches the user ------------------------------------


def test_process_check_dead_port():
    proc = run_process("check", env={
        "PMTUI_BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "PMTUI_API_KEY": "key-abcdef", "PMTUI_API_SECRET": "secret-abcdef",
    })
    assert proc.returncode == 3
    assert proc.stdout.startswith("PMTUI UNKNOWN - Could not reach 127.0.0.1") and proc.stdout.count("\n") == 1
    assert proc.stderr.startswith("pmtui: error: Could not reach") and proc.stderr.count("\n") == 1
    no_traceback(proc.stdout, proc.stderr)


def test_process_snapshot_against_broken_server_with_debug(papi_server):
    papi_server.set_mode("html")
    env = {"PMTUI_BASE_URL": papi_server.base_url, "PMTUI_API_KEY": API_KEY, "PMTUI_API_SECRET": API_SECRET}
    proc = run_process("snapshot", "--debug", env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("pmtui: debug log: ")
    assert lines[1] == "pmtui: error: The exchange sent a web page instead of data (a proxy or outage?)."
    text = Path(lines[0].split(": ", 2)[2]).read_text(encoding="utf-8")
    assert "GET /papi/v2/um/account -> 200" in text
    assert API_KEY not in text and API_SECRET not in text
    papi_server.clear_mode()
    proc = run_process("check", env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("PMTUI OK - uniMMR 166.1085")


def test_process_internal_error_is_one_line_and_logged():
    secret = "canary-secret-Qw3rTy9"
    code = (
        "import os, sys, pmtui.output as o\n"
        "def boom(*a, **k): raise RuntimeError('internal detail ' + os.environ['PMTUI_API_SECRET'])\n"
        "o.check_line = boom\n"
        "from pmtui.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    env = {"PMTUI_API_KEY": "canary-key-Zx8", "PMTUI_API_SECRET": secret}
    proc = run_process("check", "--demo", "--debug", code=code, env=env)
    assert proc.returncode == 3
    assert proc.stdout.startswith("PMTUI UNKNOWN - unexpected internal error (RuntimeError)")
    err = proc.stderr.splitlines()
    assert len(err) == 2 and err[1].startswith("pmtui: error: unexpected internal error (RuntimeError)")
    no_traceback(proc.stdout, proc.stderr)
    assert "internal detail" not in proc.stdout + proc.stderr
    log = log_path().read_text(encoding="utf-8")  # the traceback goes here, and only here
    assert "Traceback" in log and "RuntimeError: internal detail <redacted>" in log
    assert secret not in log and secret not in proc.stdout + proc.stderr


def test_process_closed_stdout_is_quiet():
    proc = subprocess.Popen([sys.executable, "-m", "pmtui", "snapshot", "--demo", "--json", "--all"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `pmtui snapshot | head -0`: the reader is gone before we write
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0  # a reader that went away is a normal end
    assert err == ""


@pytest.mark.parametrize("argv", [("snapshot", "--demo"), ("snapshot", "--demo", "--json", "--all")])
def test_snapshot_into_head_ends_quietly_with_exit_0(argv):
    # `pmtui snapshot | head -3`: head reads three lines and goes; the rest cannot be written.
    proc = subprocess.run(f"{shlex.quote(sys.executable)} -m pmtui {' '.join(argv)} | head -3; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", cwd=REPO,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert len(proc.stdout.splitlines()) == 3


def test_history_fits_the_terminal(capsys, monkeypatch, tmp_path):
    from rich.cells import cell_len

    file = tmp_path / "h.sqlite3"
    assert run(capsys, "snapshot", "--demo", "--record", "--history-file", str(file))[0] == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "50")
    code, out, err = run(capsys, "history", "--history-file", str(file))
    assert (code, err) == (0, "")
    assert "History (1 samples)" in out
    assert max(cell_len(line) for line in out.splitlines()) <= 50


def test_demo_records_never_go_into_the_real_history_file(capsys):
    from pmtui.history import History, default_path, demo_path

    assert run(capsys, "snapshot", "--demo", "--record")[0] == 0
    assert run(capsys, "check", "--demo", "--record")[0] in (0, 1, 2)  # the demo's verdict
    assert not default_path().exists()  # a real account's history holds no demo rows
    assert [s.profile for s in History(demo_path()).read()] == ["demo", "demo"]
    capsys.readouterr()
    code, out, err = run(capsys, "history", "--demo", "--format", "json")
    assert code == 0 and out.count('"profile": "demo"') == 2


@pytest.mark.parametrize("columns", [50, 80, 120, 200])
def test_snapshot_fits_the_terminal_without_trailing_spaces(capsys, monkeypatch, columns):
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run(capsys, "snapshot", "--demo", "--all")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    assert all(line == line.rstrip() for line in lines)
    # Narrow: lower-priority columns go (and the table says which), the symbol and health stay.
    if columns <= 80:
        assert "not shown at this width: " in out
    if columns >= 200:
        assert "not shown at this width" not in out
    assert "Symbol" in out and "Health" in out and "BTCUSDT" in out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a Linux device) to fill the disk")
def test_debug_log_on_a_full_disk_is_one_sentence_and_logging_stops(capsys, restore_logging, tmp_path):
    import logging

    from pmtui.logs import setup_debug_log

    path = setup_debug_log([], tmp_path / "debug.log")
    (handler,) = [h for h in logging.getLogger("pmtui").handlers if getattr(h, "baseFilename", "") == str(path)]
    handler.stream = open("/dev/full", "w", encoding="utf-8")  # every write: ENOSPC, as on a full disk
    for i in range(200):
        logging.getLogger("pmtui").debug("line %d", i)
    err = capsys.readouterr().err
    assert err == (f"pmtui: warning: the debug log {path} cannot be written (no space left on device): "
                   "debug logging is off.\n")
    assert handler not in logging.getLogger("pmtui").handlers + logging.getLogger("httpx").handlers
