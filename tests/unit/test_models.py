"""Response models: Decimal exactness, lenient where the API varies, strict (and clear) where a
wrong value would mislead."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from pmtui.errors import MalformedResponse, SchemaError
from pmtui.models import (
    UmAccount,
    decode_json,
    parse_pm_account,
    parse_position_risk,
    parse_um_account,
)

# The response example of Binance's Chinese docs page, verbatim, in the repo (origin in
# tests/fixtures/real/SOURCES.md), so nothing here depends on a file outside the checkout.
DOC = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "docs" / "um_account_v2.zh-CN.json"

# That example, comments removed.
DOC_EXAMPLE = b"""{
    "assets": [
        {
            "asset": "USDT",
            "crossWalletBalance": "23.72469206",
            "crossUnPnl": "0.00000000",
            "maintMargin": "0.00000000",
            "initialMargin": "0.00000000",
            "positionInitialMargin": "0.00000000",
            "openOrderInitialMargin": "0.00000000",
            "updateTime": 1625474304765
        }
    ],
    "positions": [
        {
            "symbol": "BTCUSDT",
            "initialMargin": "0",
            "maintMargin": "0",
            "unrealizedProfit": "0.00000000",
            "positionSide": "BOTH",
            "positionAmt": "0",
            "updateTime": 0,
            "notional": "86.98650000"
        }
    ]
}"""


def asset(**over) -> dict:
    row = {
        "asset": "USDT",
        "crossWalletBalance": "1000.00000000",
        "crossUnPnl": "-10.00000000",
        "maintMargin": "5.00000000",
        "initialMargin": "50.00000000",
        "positionInitialMargin": "50.00000000",
        "openOrderInitialMargin": "0.00000000",
        "updateTime": 1625474304765,
    }
    row.update(over)
    return row


def position(**over) -> dict:
    row = {
        "symbol": "BTCUSDT",
        "initialMargin": "50",
        "maintMargin": "5",
        "unrealizedProfit": "-10.00000000",
        "positionSide": "BOTH",
        "positionAmt": "0.010",
        "updateTime": 1625474304765,
        "notional": "650.00000000",
    }
    row.update(over)
    return row


def account(assets=None, positions=None) -> dict:
    return {
        "assets": [asset()] if assets is None else assets,
        "positions": [position()] if positions is None else positions,
    }


def schema_message(data) -> str:
    with pytest.raises(SchemaError) as info:
        parse_um_account(data)
    return info.value.message


# --- the documented example --------------------------------------------------------------------


def _doc_example_from_page() -> bytes:
    """The example block of the doc page, with its // comments stripped (none sit in a string)."""
    lines = [line.split("//", 1)[0] for line in DOC.read_text(encoding="utf-8").splitlines()]
    return "\n".join(lines).encode()


def test_the_doc_page_example_parses():
    body = _doc_example_from_page()
    acc = parse_um_account(decode_json(body))
    assert [a.asset for a in acc.assets] == ["USDT"]
    usdt = acc.assets[0]
    assert usdt.crossWalletBalance == Decimal("23.72469206")
    assert usdt.updateTime == 1625474304765
    btc = acc.positions[0]
    assert btc.key == ("BTCUSDT", "BOTH")
    assert btc.notional == Decimal("86.98650000")
    assert btc.updateTime == 0
    assert not btc.is_open
    assert acc.open_positions == ()
    assert not acc.hedge_mode


def test_doc_example_constant_matches_the_page():
    assert json.loads(_doc_example_from_page()) == json.loads(DOC_EXAMPLE)


# --- Decimal exactness -------------------------------------------------------------------------


def test_decimal_strings_stay_exact_including_trailing_zeros():
    acc = parse_um_account(decode_json(DOC_EXAMPLE))
    a = acc.assets[0]
    # "0.00000000" keeps its 8 places: as_tuple exponent -8, and str() repeats what was sent.
    assert a.crossUnPnl.as_tuple().exponent == -8
    assert format(a.crossUnPnl, "f") == "0.00000000"
    assert format(acc.positions[0].notional, "f") == "86.98650000"
    # The raw dict keeps the API's strings untouched.
    assert a.raw["crossUnPnl"] == "0.00000000"
    assert acc.positions[0].raw["positionAmt"] == "0"


def test_no_float_rounding_on_long_decimals():
    acc = parse_um_account(account(assets=[asset(crossWalletBalance="0.10000000000000000001")]))
    assert acc.assets[0].crossWalletBalance == Decimal("0.10000000000000000001")
    assert acc.assets[0].crossWalletBalance != Decimal(0.1)


def test_amounts_sent_as_ints():
    acc = parse_um_account(account(positions=[position(maintMargin=5, initialMargin=0, positionAmt=-3)]))
    p = acc.positions[0]
    assert p.maintMargin == Decimal(5) and isinstance(p.maintMargin, Decimal)
    assert p.positionAmt == Decimal(-3)
    assert not p.is_long


def test_amounts_sent_as_json_numbers_are_decimal_not_float():
    body = json.dumps(account(positions=[position()])).replace(
        '"notional": "650.00000000"', '"notional": 650.10000000000000000001'
    )
    data = decode_json(body.encode())
    assert isinstance(data["positions"][0]["notional"], Decimal)
    p = parse_um_account(data).positions[0]
    assert p.notional == Decimal("650.10000000000000000001")


def test_decode_json_parses_floats_as_decimal_and_keeps_ints():
    data = decode_json(b'{"a": 0.1, "b": 1e-8, "c": 12, "d": "0.10"}')
    assert data == {"a": Decimal("0.1"), "b": Decimal("1E-8"), "c": 12, "d": "0.10"}
    assert type(data["a"]) is Decimal and type(data["c"]) is int


def test_python_float_input_goes_through_its_repr():
    p = parse_um_account(account(positions=[position(notional=0.1)])).positions[0]
    assert p.notional == Decimal("0.1")


def test_string_with_spaces_and_exponent_accepted():
    p = parse_um_account(account(positions=[position(notional=" 1.5E+3 ")])).positions[0]
    assert p.notional == Decimal(1500)


# --- lenient where the API varies ---------------------------------------------------------------


def test_extra_fields_are_tolerated_and_kept_in_raw():
    row = position(leverage="20", entryPrice="65000.0", breakEvenPrice="65010.1", isolated=False)
    acc = parse_um_account(account(assets=[asset(marginAvailable=True)], positions=[row]))
    assert acc.positions[0].raw["leverage"] == "20"
    assert acc.assets[0].raw["marginAvailable"] is True
    assert not hasattr(acc.positions[0], "leverage")


def test_top_level_extra_fields_are_tolerated():
    data = account()
    data["tradeGroupId"] = -1
    assert len(parse_um_account(data).positions) == 1


@pytest.mark.parametrize("value, expected", [("1625474304765", 1625474304765), (" 0 ", 0),
                                             (Decimal("1625474304765"), 1625474304765)])
def test_update_time_as_string_digits_or_integral_decimal(value, expected):
    acc = parse_um_account(account(assets=[asset(updateTime=value)]))
    assert acc.assets[0].updateTime == expected


def test_empty_lists_parse():
    acc = parse_um_account({"assets": [], "positions": []})
    assert acc.assets == () and acc.positions == () and acc.open_positions == ()
    assert not acc.hedge_mode


# --- strict where a wrong value would mislead ---------------------------------------------------


@pytest.mark.parametrize("field", ["notional", "maintMargin", "initialMargin", "symbol", "positionSide",
                                   "positionAmt"])
def test_missing_position_field_names_its_path(field):
    row = position()
    del row[field]
    message = schema_message(account(positions=[position(symbol="ETHUSDT"), row]))
    assert f"positions[1].{field}" in message
    assert "field required" in message


def test_missing_asset_field_names_its_path():
    row = asset()
    del row["crossWalletBalance"]
    assert "assets[0].crossWalletBalance" in schema_message(account(assets=[row]))


def test_error_counts_every_problem():
    row = position()
    del row["notional"]
    del row["symbol"]
    assert "(2 problems)" in schema_message(account(positions=[row]))


@pytest.mark.parametrize(
    "value",
    ["abc", "", "  ", "1,000.00", "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN",
     Decimal("NaN"), Decimal("Infinity"), float("nan"), float("inf"),
     True, False, None, {"value": "1"}, ["1"], "1" * 61, "1E+99"],
    ids=repr,
)
def test_bad_money_values_are_schema_errors(value):
    message = schema_message(account(positions=[position(notional=value)]))
    assert "positions[0].notional" in message


@pytest.mark.parametrize("value", [-1, True, "12a", "1.5", Decimal("1.5"), 10**15, None, "", 1.0e12, {}])
def test_bad_update_times_are_unknown_not_refused(value):
    """updateTime is no risk figure: a bad or empty one is "not given", the payload still parses."""
    acc = parse_um_account(account(assets=[asset(updateTime=value)], positions=[position(updateTime=value)]))
    assert acc.assets[0].updateTime is None and acc.positions[0].updateTime is None


@pytest.mark.parametrize("value", [5, None, True, {"a": 1}])
def test_symbol_must_be_text(value):
    assert "positions[0].symbol" in schema_message(account(positions=[position(symbol=value)]))


@pytest.mark.parametrize("value", ["BTC\x1b[31mUSDT", "BTC\nUSDT", "\u202eBTCUSDT"])
def test_symbol_with_controls_is_cleaned_and_marked(value):
    acc = parse_um_account(account(positions=[position(symbol=value)]))
    assert acc.positions[0].symbol in ("BTCUSDT\ufffd", "BTC USDT\ufffd")


def test_printable_unicode_symbols_are_fine():
    acc = parse_um_account(account(positions=[position(symbol="币安人生USDT")]))
    assert acc.positions[0].symbol == "币安人生USDT"


@pytest.mark.parametrize(
    "data, words",
    [
        ([], "not a JSON object"),
        ("x", "not a JSON object"),
        (None, "not a JSON object"),
        ({"assets": []}, "no list of positions"),
        ({"positions": []}, "no list of assets"),
        ({"assets": {}, "positions": []}, "no list of assets"),
        ({"assets": [], "positions": [1]}, "not an object (#0)"),
        ({"assets": [None], "positions": []}, "not an object (#0)"),
    ],
)
def test_wrong_shapes_are_schema_errors(data, words):
    assert words in schema_message(data)


def test_nested_object_for_an_amount_is_refused_not_flattened():
    message = schema_message(account(assets=[asset(maintMargin={"amount": "5"})]))
    assert "assets[0].maintMargin" in message and "dict" in message


# --- one-way and hedge mode, open positions ----------------------------------------------------


def test_one_way_mode_keys_and_sides():
    acc = parse_um_account(
        account(positions=[
            position(symbol="BTCUSDT", positionAmt="0.5"),
            position(symbol="ETHUSDT", positionAmt="-2", notional="-7000"),
            position(symbol="SOLUSDT", positionAmt="0", maintMargin="0", notional="0"),
        ])
    )
    assert [p.key for p in acc.positions] == [
        ("BTCUSDT", "BOTH"), ("ETHUSDT", "BOTH"), ("SOLUSDT", "BOTH")
    ]
    assert not acc.hedge_mode
    assert [p.symbol for p in acc.open_positions] == ["BTCUSDT", "ETHUSDT"]
    assert acc.positions[0].is_long and not acc.positions[1].is_long


def test_hedge_mode_two_rows_per_symbol():
    acc = parse_um_account(
        account(positions=[
            position(positionSide="LONG", positionAmt="0.5"),
            position(positionSide="SHORT", positionAmt="-0.2"),
            position(symbol="ETHUSDT", positionSide="LONG", positionAmt="0"),
            position(symbol="ETHUSDT", positionSide="SHORT", positionAmt="0"),
        ])
    )
    assert acc.hedge_mode
    assert {p.key for p in acc.positions} == {
        ("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT"), ("ETHUSDT", "LONG"), ("ETHUSDT", "SHORT")
    }
    assert [p.key for p in acc.open_positions] == [("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT")]
    long, short = acc.open_positions
    assert long.is_long and not short.is_long


def test_hedge_mode_side_wins_over_amount_sign():
    # In hedge mode the side says the direction, whatever sign the amount carries.
    acc = parse_um_account(account(positions=[position(positionSide="SHORT", positionAmt="0.3")]))
    assert not acc.positions[0].is_long


def test_zero_written_many_ways_is_not_open():
    rows = [position(symbol=f"S{i}USDT", positionAmt=z) for i, z in enumerate(["0", "0.000", "-0", 0, "0E-8"])]
    assert parse_um_account(account(positions=rows)).open_positions == ()


def test_duplicate_keys_later_row_wins_in_first_place():
    acc = parse_um_account(
        account(positions=[
            position(symbol="BTCUSDT", positionAmt="1"),
            position(symbol="ETHUSDT", positionAmt="2"),
            position(symbol="BTCUSDT", positionAmt="3"),
            position(symbol="BTCUSDT", positionSide="LONG", positionAmt="4"),
        ])
    )
    assert [(p.key, p.positionAmt) for p in acc.positions] == [
        (("BTCUSDT", "BOTH"), Decimal(3)),
        (("ETHUSDT", "BOTH"), Decimal(2)),
        (("BTCUSDT", "LONG"), Decimal(4)),
    ]
    assert acc.positions[0].raw["positionAmt"] == "3"


def test_asset_margin_balance_and_is_zero():
    a = parse_um_account(account(assets=[asset(crossWalletBalance="100.5", crossUnPnl="-0.5")])).assets[0]
    assert a.margin_balance == Decimal("100.0")
    zero = asset(asset="BNB", crossWalletBalance="0.00000000", crossUnPnl="0", maintMargin="0",
                 initialMargin="0")
    assert parse_um_account(account(assets=[zero])).assets[0].is_zero
    assert not a.is_zero


def test_models_are_frozen():
    acc = parse_um_account(account())
    with pytest.raises(ValidationError, match="frozen"):
        acc.positions[0].notional = Decimal(1)  # type: ignore[misc]
    assert isinstance(acc, UmAccount)


def test_raw_is_the_very_dict_sent_not_a_copy_of_defaults():
    data = account()
    before = copy.deepcopy(data)
    acc = parse_um_account(data)
    assert acc.assets[0].raw == before["assets"][0]
    assert acc.positions[0].raw == before["positions"][0]


# --- decode_json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "web page"),
        (b"  \n<!DOCTYPE html><html></html>", "web page"),
        (b"", "empty"),
        (b"  \r\n\t", "empty"),
        (DOC_EXAMPLE[: len(DOC_EXAMPLE) // 2], "not valid JSON"),
        (b'{"assets": [', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"a": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (b"{'single': 'quotes'}", "not valid JSON"),
    ],
    ids=["html", "doctype", "empty", "blank", "truncated", "cut-open", "bad-utf8", "deep",
         "huge-int", "python-repr"],
)
def test_decode_json_refusals_are_malformed_response(body, words):
    with pytest.raises(MalformedResponse) as info:
        decode_json(body)
    assert words in info.value.message


def test_decode_json_bare_nan_and_infinity_never_become_floats():
    data = decode_json(b'{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert all(isinstance(v, Decimal) and not v.is_finite() for v in data.values())
    body = json.dumps(account(positions=[position()])).replace('"650.00000000"', "NaN")
    assert "positions[0].notional" in schema_message(decode_json(body.encode()))


# --- the other endpoints ----------------------------------------------------------------------


def pm_account(**over) -> dict:
    row = {
        "uniMMR": "5.167", "accountEquity": "122607.35", "actualEquity": "73.47", "accountInitialMargin": "0",
        "accountMaintMargin": "23.72", "accountStatus": "NORMAL", "virtualMaxWithdrawAmount": "1627523.32",
        "totalAvailableBalance": "100", "totalMarginOpenLoss": "0", "updateTime": 1657707212154,
    }
    row.update(over)
    return row


def test_pm_account_parses_and_reports_missing_fields():
    acc = parse_pm_account(pm_account())
    assert acc.uniMMR == Decimal("5.167") and acc.accountStatus == "NORMAL"
    bad = pm_account()
    del bad["uniMMR"]
    with pytest.raises(SchemaError) as info:
        parse_pm_account(bad)
    assert "uniMMR" in info.value.message
    with pytest.raises(SchemaError):
        parse_pm_account([pm_account()])


def test_position_risk_rows_with_optional_fields():
    row = {
        "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.2", "entryPrice": "1",
        "markPrice": "2", "liquidationPrice": "0", "leverage": "20", "unRealizedProfit": "0.2",
        "notional": "0.4",
    }
    rows = parse_position_risk([row, {**row, "positionSide": "LONG", "breakEvenPrice": "1.001"}])
    assert rows[0].breakEvenPrice is None and rows[1].breakEvenPrice == Decimal("1.001")
    # A price is optional: "n/a" is unknown (None), the row stays.
    assert parse_position_risk([row, {**row, "markPrice": "n/a"}])[1].markPrice is None
    with pytest.raises(SchemaError) as info:
        parse_position_risk([row, {**row, "positionAmt": "n/a"}])
    assert "rows[1].positionAmt" in info.value.message
    with pytest.raises(SchemaError):
        parse_position_risk({"rows": [row]})


# --- "" is Binance's "not given": optional fields are None, required ones fail by name -----------

PM_OPTIONAL = ["actualEquity", "accountInitialMargin", "accountStatus", "virtualMaxWithdrawAmount",
               "totalAvailableBalance", "totalMarginOpenLoss", "updateTime"]


@pytest.mark.parametrize("value", ["", "  ", None, "missing"])
@pytest.mark.parametrize("field", PM_OPTIONAL)
def test_pm_account_optional_field_not_given_is_none(field, value):
    row = pm_account()
    if value == "missing":
        del row[field]
    else:
        row[field] = value
    acc = parse_pm_account(row)
    assert getattr(acc, field) is None
    assert acc.uniMMR == Decimal("5.167")
    if value != "missing":
        assert acc.raw[field] == value  # the raw dict (and so --json) keeps what was sent


@pytest.mark.parametrize("value", ["", None, "missing", "abc"])
@pytest.mark.parametrize("field", ["uniMMR", "accountEquity", "accountMaintMargin"])
def test_pm_account_required_field_fails_naming_it(field, value):
    row = pm_account()
    if value == "missing":
        del row[field]
    else:
        row[field] = value
    with pytest.raises(SchemaError) as info:
        parse_pm_account(row)
    assert info.value.message.startswith(f"The account response changed shape: {field}: ")


@pytest.mark.parametrize("field", ["positionInitialMargin", "openOrderInitialMargin", "updateTime"])
def test_asset_optional_fields_accept_empty(field):
    a = parse_um_account(account(assets=[asset(**{field: ""})])).assets[0]
    assert getattr(a, field) is None and a.raw[field] == ""


@pytest.mark.parametrize("field", ["asset", "crossWalletBalance", "crossUnPnl", "maintMargin", "initialMargin"])
def test_asset_required_fields_refuse_empty(field):
    assert f"assets[0].{field}" in schema_message(account(assets=[asset(**{field: ""})]))


@pytest.mark.parametrize("field", ["symbol", "positionSide", "positionAmt", "initialMargin", "maintMargin", "notional"])
def test_position_required_fields_refuse_empty(field):
    assert f"positions[0].{field}" in schema_message(account(positions=[position(**{field: ""})]))


def test_position_unrealized_profit_may_be_empty():
    p = parse_um_account(account(positions=[position(unrealizedProfit="")])).positions[0]
    assert p.unrealizedProfit is None and p.is_open


def test_position_risk_keeps_only_symbol_side_amount_required():
    row = {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.2", "entryPrice": "",
           "markPrice": "", "liquidationPrice": "", "leverage": "", "unRealizedProfit": "", "notional": ""}
    r = parse_position_risk([row])[0]
    assert (r.entryPrice, r.markPrice, r.liquidationPrice, r.leverage, r.unRealizedProfit, r.notional) == (None,) * 6
    for field in ("symbol", "positionSide", "positionAmt"):
        with pytest.raises(SchemaError) as info:
            parse_position_risk([{**row, field: ""}])
        assert f"rows[0].{field}" in info.value.message


def test_a_non_number_in_an_optional_field_is_none_and_logged(caplog):
    caplog.set_level("DEBUG", logger="pmtui.models")
    acc = parse_pm_account(pm_account(totalAvailableBalance="abc", actualEquity="NaN"))
    assert acc.totalAvailableBalance is None and acc.actualEquity is None
    assert acc.raw["totalAvailableBalance"] == "abc"
    assert "optional field dropped" in caplog.text


def test_reuse_cache_is_right_for_rows_with_empty_values():
    """_LAST_ROWS reuses an unchanged row; "" is a string like any other, so a row that goes from
    "" to a figure (or back) is validated again, and an unchanged one gives the same model."""
    first = parse_um_account(account(assets=[asset(positionInitialMargin="")]))
    again = parse_um_account(account(assets=[asset(positionInitialMargin="")]))
    assert again.assets[0] is first.assets[0] and again.assets[0].positionInitialMargin is None
    filled = parse_um_account(account(assets=[asset(positionInitialMargin="7")]))
    assert filled.assets[0].positionInitialMargin == Decimal(7)
    emptied = parse_um_account(account(assets=[asset(positionInitialMargin="")]))
    assert emptied.assets[0].positionInitialMargin is None
    nulled = parse_um_account(account(assets=[asset(positionInitialMargin=None)]))
    assert nulled.assets[0].positionInitialMargin is None and nulled.assets[0].raw["positionInitialMargin"] is None


# --- duplicate (symbol, positionSide) rows --------------------------------------------------------


@pytest.mark.parametrize("open_first", [True, False])
def test_duplicate_open_row_never_loses_to_a_flat_one(open_first):
    rows = [position(symbol="BTCUSDT", positionAmt="0.5"), position(symbol="BTCUSDT", positionAmt="0")]
    if not open_first:
        rows.reverse()
    rows.insert(1, position(symbol="ETHUSDT", positionAmt="1"))
    acc = parse_um_account(account(positions=rows))
    assert [(p.key, p.positionAmt) for p in acc.positions] == [
        (("BTCUSDT", "BOTH"), Decimal("0.5")), (("ETHUSDT", "BOTH"), Decimal(1))]
    assert [p.symbol for p in acc.open_positions] == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("order", [("1", "2"), ("2", "1")])
def test_duplicate_open_rows_the_later_wins(order):
    rows = [position(symbol="BTCUSDT", positionAmt=order[0]), position(symbol="BTCUSDT", positionAmt=order[1])]
    assert [p.positionAmt for p in parse_um_account(account(positions=rows)).positions] == [Decimal(order[1])]


def test_duplicate_flat_rows_the_later_wins():
    rows = [position(positionAmt="0", notional="1"), position(positionAmt="0.000", notional="2")]
    assert [p.notional for p in parse_um_account(account(positions=rows)).positions] == [Decimal(2)]


def test_json_output_keeps_empty_strings():
    from pmtui import output

    acc = parse_um_account(account(assets=[asset(positionInitialMargin="")], positions=[position(unrealizedProfit="")]))
    pm = parse_pm_account(pm_account(totalAvailableBalance="", accountStatus=""))
    doc = json.loads(output.snapshot_json(acc, pm=pm))
    assert doc["account"]["totalAvailableBalance"] == "" and doc["account"]["accountStatus"] == ""
    assert doc["assets"][0]["positionInitialMargin"] == "" and doc["positions"][0]["unrealizedProfit"] == ""
