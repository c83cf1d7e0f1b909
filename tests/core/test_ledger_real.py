"""Binance's own example bodies of the ledger's endpoints (tests/fixtures/real/ledger, origins in
SOURCES.md) through every parser and output path: the models, the totals, `ledger --format
table|csv|json`, `snapshot --json`'s "ledger" (the rows unchanged), the Ledger screen's widgets
and the forced-fill alert."""

from __future__ import annotations

import ast
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from pmtui import output
from pmtui.alerts import Alerts, AlertState, Rule, check_rules
from pmtui.endpoints import BY_PATH
from pmtui.errors import MalformedResponse
from pmtui.health import Level
from pmtui.ledger import LedgerView, totals
from pmtui.models import decode_json
from tests.cli.test_cli import run
from tests.core.test_real_payloads import load_body_text
from tests.support.sentences import assert_sentence

LEDGER = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "ledger"
PATHS = {
    "um_income": "/papi/v1/um/income", "cm_income": "/papi/v1/cm/income",
    "um_force_orders": "/papi/v1/um/forceOrders", "cm_force_orders": "/papi/v1/cm/forceOrders",
    "pm_interest_history": "/papi/v1/portfolio/interest-history",
    "margin_interest_history": "/papi/v1/margin/marginInterestHistory",
    "negative_balance_exchange": "/papi/v1/portfolio/negative-balance-exchange-record",
}
FIXTURES = sorted(p.name for p in LEDGER.glob("*.json") if not p.name.endswith(".odd.json"))


def body_text(name: str) -> str:
    """What the exchange would send: the docs' text less its comments, or the connector's Python
    literal as JSON (its ints exact, its one float as Python prints it)."""
    text = (LEDGER / name).read_text(encoding="utf-8")
    if ".connector." in name:
        return json.dumps(ast.literal_eval(text))
    return load_body_text(text)


def path_of(name: str) -> str:
    return PATHS[name.split(".")[0]]


def page(name: str):
    return BY_PATH[path_of(name)].parse(decode_json(body_text(name).encode()))


def view_of(*names: str) -> LedgerView:
    entries = sorted((e for n in names for e in page(n).entries), key=lambda e: e.time)
    return LedgerView(tuple(entries), since_ms=0, read_to_ms=2_000_000_000_000)


def test_every_ledger_fixture_is_read_here_and_every_endpoint_has_two_or_one_named_why():
    assert {n.split(".")[0] for n in FIXTURES} == set(PATHS)
    assert len(FIXTURES) == 12  # and the one .odd.json below


@pytest.mark.parametrize("name", FIXTURES)
def test_each_real_body_parses_every_row(name):
    got = page(name)
    assert got.dropped == 0 and got.count == len(got.entries) > 0, got.why
    for e in got.entries:
        assert e.source == path_of(name) and e.time > 1_500_000_000_000 and e.id


def test_the_docs_income_rows_share_a_tran_id_across_income_types_and_both_are_kept():
    rows = page("um_income.docs.en.json").entries
    assert [(e.type, e.kind, e.amount, e.id) for e in rows] == [
        ("TRANSFER", "transfer", D("-0.37500000"), "TRANSFER:9689322392"),
        ("COMMISSION", "commission", D("-0.01000000"), "COMMISSION:9689322392")]
    sums = totals(rows, {})
    assert sums["commission"].usd == D("-0.01000000") and sums["other"].usd is None  # a transfer is no cost


def test_forced_orders_are_liquidations_with_their_fill_and_coin_m_in_contracts():
    um = page("um_force_orders.docs.en.json").entries[0]
    assert (um.kind, um.type, um.symbol, um.id, um.time) == (
        "liquidation", "LIQUIDATION", "BTCUSDT", "6071832819", 1596107620087)
    assert um.info == "SELL 0.001 @ 10913.21000 (filled)" and um.amount is None and um.forced
    cm = page("cm_force_orders.connector.json").entries[0]
    assert (cm.symbol, cm.info) == ("BTCUSD_200925", "SELL 1 @ 11326.9 (filled)")


def test_interest_is_a_cost_and_the_sdk_rounds_the_docs_tx_id():
    pm = page("pm_interest_history.docs.en.json").entries[0]
    assert (pm.kind, pm.asset, pm.amount, pm.info) == ("interest", "USDT", D("-24.4440"), "on 210000 at 0.0001164")
    margin = page("margin_interest_history.connector.json").entries[0]
    assert (margin.id, margin.type, margin.amount) == ("1352286576452864800", "ON_BORROW", D("-0.00024995"))


def test_the_negative_balance_exchange_record_shows_its_unquoted_amount_exactly():
    e = page("negative_balance_exchange.connector.json").entries[0]
    assert e.kind == "auto-exchange" and e.time == 1736263046841
    assert e.info == "negative balance exchanged: ETH 1.10264488"


def test_the_docs_margin_interest_example_is_not_json_and_says_so_in_a_sentence():
    text = load_body_text((LEDGER / "margin_interest_history.docs.en.odd.json").read_text(encoding="utf-8"))
    with pytest.raises(MalformedResponse) as caught:
        decode_json(text.encode())
    assert_sentence(caught.value.message)


def test_every_output_path_keeps_the_rows_as_sent():
    view = view_of(*FIXTURES)
    doc = output.ledger_json(view)
    for name in FIXTURES:
        sent = json.loads(body_text(name), parse_float=D)
        rows = sent["rows"] if isinstance(sent, dict) else sent
        for row in rows:
            assert row in doc["rows"][path_of(name)]
    text = json.dumps(doc, default=output.json_default)
    assert '"income": "-0.37500000"' in text and '"txId": 1352286576452864800' in text  # an int, exact
    csv = output.ledger_csv(view.entries)
    assert "COMMISSION:9689322392" in csv and ",-24.4440," in csv and ",-0.00024995," in csv
    table = output.ledger_table(view, 1_800_000_000_000, since_ms=0, width=160)
    assert "7 d" in table
    day = output.ledger_table(view, 1_800_000_000_000, since_ms=1_800_000_000_000 - 86_400_000, width=160)
    assert "24 h" in day and "7 d" not in day  # a day read has no week's total
    assert "!! 2020-07-30 11:13:40" in table and "LIQUIDATION" in table and "ETH 1.10264488" in table


def test_each_forced_fill_is_a_critical_alert_once_in_watch_and_in_check():
    view = view_of("um_force_orders.docs.en.json", "cm_force_orders.docs.en.json", "um_income.docs.en.json")
    engine = Alerts([Rule("forced_fill", "forced_fill")])
    first = engine.evaluate(AlertState(ledger=view), 1_800_000_000.0, mono=1.0)
    assert len(first) == 1 and first[0].level is Level.CRITICAL and len(first[0].parts) == 2
    assert first[0].message.startswith("2 forced fills: Liquidated: BTCUSDT SELL 0.001 @ 10913.21000 (filled) at "
                                       "2020-07-30 11:13:40 UTC")
    assert engine.evaluate(AlertState(ledger=view), 1_800_000_001.0, mono=2.0) == []  # told once
    assert engine.active() == []  # it happened: nothing to clear, nothing to repeat
    view_one = view_of("um_force_orders.docs.en.json")
    hour_after = 1596107620.087 + 3600
    checked = check_rules(None, rules=[Rule("forced_fill", "forced_fill")], ledger=view_one,  # type: ignore[arg-type]
                          now=hour_after)
    assert checked.level is Level.CRITICAL and checked.messages == [
        "Liquidated: BTCUSDT SELL 0.001 @ 10913.21000 (filled) at 2020-07-30 11:13:40 UTC."]
    later = check_rules(None, rules=[Rule("forced_fill", "forced_fill")], ledger=view_one,  # type: ignore[arg-type]
                        now=hour_after + 86_400)
    assert later.level is Level.OK  # check counts the last day's fills (a daemon's state holds 7 days)


def _serve_all(live: Any) -> None:
    for name in FIXTURES:
        if ".connector." in name:  # every endpoint has one
            live.set_body(path_of(name), body_text(name))


def test_snapshot_json_carries_the_ledger_rows_unchanged(capsys, live):
    _serve_all(live)
    code, out, err = run(capsys, "snapshot", "--json")
    assert (code, err) == (0, ""), err
    rows = json.loads(out)["ledger"]["rows"]
    assert rows["/papi/v1/um/income"] == json.loads(body_text("um_income.connector.json"))
    assert rows["/papi/v1/um/forceOrders"] == json.loads(body_text("um_force_orders.connector.json"))
    assert rows["/papi/v1/portfolio/negative-balance-exchange-record"][0]["details"][0]["negativeBalance"] == \
        "1.10264488"  # sent unquoted: kept to the digit, as a string (as snapshot does for any such number)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_the_ledger_command_prints_real_rows_in_each_format(capsys, live, fmt):
    _serve_all(live)
    code, out, err = run(capsys, "ledger", "--since", "2019-01-01", "--format", fmt)
    assert code == 0, err
    assert "Binance keeps /papi/v1/um/income for three months" in (err if fmt == "csv" else out)
    if fmt == "json":
        doc = json.loads(out)
        assert doc["rows"]["/papi/v1/cm/forceOrders"] == json.loads(body_text("cm_force_orders.connector.json"))
    elif fmt == "csv":
        lines = out.splitlines()
        assert lines[0] == "time_ms,time_utc,endpoint,id,kind,type,symbol,asset,amount,info"
        assert any(",liquidation,LIQUIDATION,BTCUSD_200925,," in line for line in lines)
    else:
        assert "Ledger totals (USD)" in out and "!! 2020-07-30 11:13:40" in out


def test_check_reads_forced_fills_for_one_account_not_for_a_fleet(capsys, papi_server):
    """100 weight an account: a fleet's one-shot cannot carry it within a Nagios timeout (50
    accounts took two minutes), so only a check of one account reads forceOrders."""
    from tests.hostile.test_hostile_accounts import _config

    def forced_reads() -> int:
        return sum(1 for r in papi_server.requests if r.path.endswith("/forceOrders"))

    _config(papi_server, ["one", "two"])
    run(capsys, "check", "--profile", "one")
    assert forced_reads() == 2  # UM and COIN-M
    _code, out, _err = run(capsys, "check", "--all-profiles")
    assert forced_reads() == 2 and "2 accounts checked" in out, out
