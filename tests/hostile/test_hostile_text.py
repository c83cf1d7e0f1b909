"""Text from outside is data, never terminal control.

Every string that came from the network or from a file (an error `msg`, symbol and asset names,
field names in the detail screen, schema-error values, profile names, history rows) passes
through `pmtui.text.clean` once, at the boundary where it enters pmtui. Here each of those
carries an OSC 52 sequence (a terminal clipboard write), a CSI screen clear and a bell, and
nothing of them may reach a terminal.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pmtui.cli import main
from pmtui.errors import ApiError, ConfigError, PmtuiError
from pmtui.history import History, Sample
from pmtui.models import parse_pm_account, parse_um_account
from pmtui.settings import Settings
from pmtui.tui.widgets.detail import DetailScreen
from pmtui.tui.widgets.status import StatusBar
from tests.support.harness import rendered, screen_text, settled, wait_until
from tests.support.papi_server import API_KEY, API_SECRET, UM_ACCOUNT, pm_account_body, um_account_body
from tests.tui.test_markup import POSITION_RISK, SIZE, Hostile

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # "write 'Hello' to the clipboard"
HOSTILE = f"Illegal characters {OSC52}found\x1b[2J in\x07 parameter"
CONTROLS = ("\x1b", "\x07", "\x9b", "\x9d", "52;c", "SGVsbG8")


def assert_inert(text: str, where: str = "") -> None:
    for bad in CONTROLS:
        assert bad not in text, f"{bad!r} reached {where or 'the output'}: {text!r}"


# --- the boundary: errors, models, settings, history --------------------------------------------


def test_every_error_message_is_cleaned_once_at_construction():
    for err in (PmtuiError(HOSTILE), ApiError(f"The exchange refused x: {HOSTILE}", code=-1100),
                ConfigError("bad\nvalue\x1b[31m here")):
        assert_inert(err.message)
        assert str(err) == err.message and err.args == (err.message,)
        assert "\n" not in err.message
    assert PmtuiError(HOSTILE).message == "Illegal characters found in parameter"


def test_symbol_with_controls_is_cleaned_and_marked_never_merged_with_the_real_one():
    now = 1_750_000_000_000
    data = um_account_body(now)
    fake = dict(data["positions"][0], symbol="BTC\x1b[2JUSDT", positionAmt="-9.000")
    data["positions"].append(fake)
    data["assets"][0]["asset"] = f"US{OSC52}DT"
    account = parse_um_account(data)
    symbols = [p.symbol for p in account.positions]
    # Cleaned, then marked with U+FFFD: it cannot pass for (and replace) the real BTCUSDT row.
    assert symbols[:1] == ["BTCUSDT"] and "BTCUSDT\ufffd" in symbols
    assert account.assets[0].asset == "USDT\ufffd"
    assert [p.positionAmt for p in account.positions if p.symbol == "BTCUSDT"] == [account.positions[0].positionAmt]
    # The raw dict (JSON output) still holds what the exchange sent, which json.dumps escapes.
    assert account.positions[-1].raw["symbol"] == "BTC\x1b[2JUSDT"


def test_status_with_controls_is_not_taken_for_normal():
    pm = parse_pm_account(dict(pm_account_body(1_750_000_000_000), accountStatus="NORMAL\x07"))
    assert pm.accountStatus == "NORMAL\ufffd"


def test_profile_name_from_outside_is_cleaned():
    assert Settings(profile=f"work{OSC52}\x1b[2J").profile == "work"


def test_history_rows_are_cleaned_when_read(tmp_path: Path, capsys: pytest.CaptureFixture):
    path = tmp_path / "h.sqlite3"
    history = History(path)
    history.record(Sample(1_750_000_000_000, "main", None, None, None, None, "ok"))
    # Someone else wrote to the file (or it is not ours): a profile and level with controls.
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO samples VALUES (?, ?, NULL, NULL, NULL, NULL, ?)",
                     (1_750_000_001_000, f"evil{OSC52}", "warn\x1b[2J"))
    rows = history.read()
    assert [(r.profile, r.level) for r in rows] == [("main", "ok"), ("evil", "warn")]
    for fmt in ("table", "csv", "json"):
        assert main(["history", "--history-file", str(path), "--format", fmt]) == 0
        out, err = capsys.readouterr()
        assert "evil" in out
        assert_inert(out + err, f"history --format {fmt}")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO samples VALUES ('soon', 'x', x'00', NULL, NULL, NULL, 'ok')")
    assert main(["history", "--history-file", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err == f"pmtui: error: The history file {path} has rows pmtui did not write (a time that is not a number).\n"


# --- where it shows: `check`, the status bar, the detail screen ---------------------------------


@pytest.fixture
def cli_env(papi_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'base_url = "{papi_server.base_url}"\ntimeout = 2\n')
    config.chmod(0o600)
    monkeypatch.setenv("PMTUI_API_KEY", API_KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", API_SECRET)
    monkeypatch.setenv("PMTUI_CONFIG", str(config))
    return config


def test_check_never_prints_an_osc_sequence_from_an_error_msg(papi_server, cli_env, capsys):
    papi_server.inject("error", path=UM_ACCOUNT, status=400, body={"code": -1100, "msg": HOSTILE})
    assert main(["check"]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("PMTUI UNKNOWN - The exchange refused a request pmtui sent (/papi/v2/um/account, "
                          "code -1100: Illegal characters")
    assert_inert(out, "check's stdout")
    assert_inert(err, "check's stderr")


async def test_status_bar_and_toast_never_emit_an_error_msg_s_controls(make_app):
    hostile = Hostile(error={UM_ACCOUNT: (400, {"code": -1100, "msg": HOSTILE})})
    app = make_app(transport=hostile)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        for _ in range(3):  # the bar is redrawn every second: each redraw must be clean
            app.monitor.tick()
            await pilot.pause()
            bar = rendered(app.query_one(StatusBar))
            assert "Illegal characters found in parameter" in " ".join(bar.split())
            assert_inert(bar, "the status bar")
        assert app._notifications, "the error was announced"
        for note in app._notifications:
            assert_inert(note.message, "a toast")
        assert_inert(screen_text(app), "the screen")
        assert app.is_running


async def test_detail_screen_cleans_field_names_and_values(make_app):
    def tamper(rows):
        rows = rows["positions"] if isinstance(rows, dict) else rows
        for row in rows:
            row[f"note{OSC52}"] = f"[bold x{OSC52}\x1b[2J"

    app = make_app(transport=Hostile(edit={UM_ACCOUNT: tamper, POSITION_RISK: tamper}))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        body = rendered(app.screen.query_one("#detail-body"))
        assert "note" in body and "[bold x" in body
        assert_inert(body, "the detail screen")

