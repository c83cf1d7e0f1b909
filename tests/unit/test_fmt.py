"""Formatting at the edge: Decimal in, text out, never scientific, never '-0.00'."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from pmtui import fmt


@pytest.mark.parametrize(
    "value, text",
    [
        ("0.125", "0.12"),  # half-even: ties go to the even digit
        ("0.135", "0.14"),
        ("0.145", "0.14"),
        ("2.675", "2.68"),  # a float would say 2.67; Decimal holds 2.675 exactly
        ("0.1250000001", "0.13"),
        ("-0.125", "-0.12"),
        ("1234567.891", "1,234,567.89"),
        ("-1234567.891", "-1,234,567.89"),
        ("999.995", "1,000.00"),
        ("1000", "1,000.00"),
        ("0", "0.00"),
        ("0E-8", "0.00"),
        ("-0", "0.00"),
        ("-0.004", "0.00"),  # rounds to zero: no "-0.00"
        ("-0.00000001", "0.00"),
        ("-0.005", "0.00"),  # half-even tie down to 0
        ("-0.0051", "-0.01"),
        ("1E+3", "1,000.00"),
        ("1e30", "1,000,000,000,000,000,000,000,000,000,000.00"),  # past 28 digits: still exact
        ("123456789012345678901234567890.125", "123,456,789,012,345,678,901,234,567,890.12"),
    ],
)
def test_money(value, text):
    assert fmt.money(D(value)) == text


@pytest.mark.parametrize(
    "value, text",
    [("12.345", "+12.34"), ("-12.345", "-12.34"), ("0", "+0.00"), ("-0.001", "+0.00"),
     ("1000000", "+1,000,000.00")],
)
def test_money_with_sign(value, text):
    assert fmt.money(D(value), sign=True) == text


def test_money_places_none_and_non_finite():
    assert fmt.money(D("1.23456"), 4) == "1.2346"
    assert fmt.money(D("1.5"), 0) == "2"
    assert fmt.money(D("2.5"), 0) == "2"
    assert fmt.money(None) == "—"
    assert fmt.money(D("Infinity")) == "∞"
    assert fmt.money(D("-Infinity")) == "-∞"
    assert fmt.money(D("NaN")) == "—"


def test_money_does_not_change_the_value_it_shows():
    value = D("0.125")
    fmt.money(value)
    assert value == D("0.125") and str(value) == "0.125"


@pytest.mark.parametrize(
    "value, text",
    [("-0.0200", "-0.02"), ("0.010", "0.01"), ("100", "100"), ("1E+2", "100"), ("100.000", "100"),
     ("0", "0"), ("0.000", "0"), ("-0", "0"), ("0E-8", "0"), ("12.5", "12.5"),
     ("1E-8", "0.00000001"), ("37070595", "37070595")],
)
def test_amount_strips_trailing_zeros_only(value, text):
    assert fmt.amount(D(value)) == text


@pytest.mark.parametrize(
    "value, text",
    [("0E-8", "0.00000000"), ("1E-8", "0.00000001"), ("1E+5", "100000"), ("-2.50", "-2.50"),
     ("1.23E-12", "0.00000000000123"), ("86.98650000", "86.98650000")],
)
def test_plain_is_exact_and_never_scientific(value, text):
    out = fmt.plain(D(value))
    assert out == text
    assert "E" not in out.upper()
    assert D(out) == D(value)


@pytest.mark.parametrize(
    "value, places, text",
    [("0.1234", 1, "12.3%"), ("0.12345", 2, "12.34%"), ("0.12355", 2, "12.36%"), ("1", 1, "100.0%"),
     ("12.5", 1, "1,250.0%"), ("0", 1, "0.0%"), ("-0.0001", 1, "0.0%"), ("-0.25", 1, "-25.0%"),
     ("0.00049", 1, "0.0%"), ("0.0005", 1, "0.0%"), ("0.00051", 1, "0.1%")],
)
def test_percent(value, places, text):
    assert fmt.percent(D(value), places) == text


def test_percent_none_and_infinite():
    assert fmt.percent(None) == "—"
    assert fmt.percent(D("Infinity")) == "∞%"
    assert fmt.percent(D("NaN")) == "—"
    assert fmt.percent(D("1e40")).endswith(",000.0%")


def test_ratio():
    assert fmt.ratio(None) == "∞"
    # Four decimals, cut toward liquidation: never shown safer than it is, never onto a band's
    # edge from above (issue 19: 1.0549 showed as "1.05" in DANGER colour, "1.05 or below" reads
    # as liquidation).
    assert fmt.ratio(D("1.0549")) == "1.0549"
    assert fmt.ratio(D("1.05499999")) == "1.0549"
    assert fmt.ratio(D("1.04999999")) == "1.0499"
    assert fmt.ratio(D("1.505")) == "1.5050"
    assert fmt.ratio(D("1234.5")) == "1,234.5000"
    assert fmt.ratio(D("10.72469206")) == "10.7246"
    assert fmt.ratio(D("1.05"), 2) == "1.05"


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "—"), (-5, "0s"), (0, "0s"), (0.99, "0s"), (3.2, "3s"), (59.999, "59s"), (60, "1m00s"),
     (125, "2m05s"), (3599, "59m59s"), (3600, "1h00m"), (7300, "2h01m"), (86399, "23h59m"),
     (86400, "1d00h"), (200000, "2d07h"), (float("nan"), "—"), (float("inf"), "∞")],
)
def test_age_boundaries(seconds, text):
    assert fmt.age(seconds) == text


def test_since_ms_and_utc_time():
    now = 1_700_000_000.0
    assert fmt.since_ms(0, now) == "—"
    assert fmt.since_ms(int(now * 1000) - 125_000, now) == "2m05s"
    assert fmt.since_ms(int(now * 1000) + 5000, now) == "0s"  # a clock ahead of ours: not negative
    assert fmt.since_ms(int(time.time() * 1000) - 3000) in ("2s", "3s", "4s")
    assert fmt.utc_time(0) == "—"
    assert fmt.utc_time(1625474304765) == "2021-07-05 08:38:24 UTC"


@pytest.mark.parametrize(
    "value, tick, text",
    [
        ("64976.63504998", "0.10", "64,976.6"),  # BTCUSDT's tick, written as Binance writes it
        ("64976.65", "0.1", "64,976.6"),  # half-even: the tie goes to the even tick
        ("64976.75", "0.1", "64,976.8"),
        ("0.01052345", "0.0000001", "0.0105234"),  # 1000PEPEUSDT
        ("0.01052355", "0.0000001", "0.0105236"),
        ("12345.5", "1", "12,346"),
        ("12344.5", "1", "12,344"),
        ("12.37", "0.05", "12.35"),  # a tick that is not a power of ten: a multiple of it
        ("-64976.63", "0.1", "-64,976.6"),
        ("-0.00001", "0.1", "0.0"),  # no "-0.0"
        ("0", "0.01", "0.00"),
        ("1e30", "0.01", "1,000,000,000,000,000,000,000,000,000,000.00"),
        ("123456789012345678901234567890.123", "0.1", "123,456,789,012,345,678,901,234,567,890.1"),
        # Without a tick: at most 6 significant digits, no trailing zeros claimed.
        ("64976.63504998", None, "64,976.6"),
        ("63291.96712477", None, "63,292"),
        ("0.010523456", None, "0.0105235"),
        ("92", None, "92"),
        ("3412.00000000", None, "3,412"),
        ("-0.000000012345678", None, "-0.0000000123457"),
        ("1e30", None, "1,000,000,000,000,000,000,000,000,000,000"),
        ("0E-8", None, "0"),
    ],
)
def test_price(value, tick, text):
    assert fmt.price(D(value), D(tick) if tick else None) == text


def test_price_of_nothing_and_of_infinities():
    assert fmt.price(None) == fmt.price(D("NaN"), D("0.1")) == "—"
    assert (fmt.price(D("Infinity")), fmt.price(D("-Infinity"), D("0.1"))) == ("∞", "-∞")
    assert fmt.price(D("1.25"), D(0)) == fmt.price(D("1.25"), D(-1)) == "1.25"  # a nonsense tick is none


@pytest.mark.parametrize(
    "value, step, text",
    [
        ("-1234.5000", None, "-1,234.5"),
        ("1234567.891", "0.001", "1,234,567.891"),
        ("35.3984", "0.001", "35.398"),
        ("-538636", "1", "-538,636"),
        ("0E-8", None, "0"),
        ("0.5", "1", "0"),  # half-even
        ("-0.0200", None, "-0.02"),
    ],
)
def test_quantity(value, step, text):
    assert fmt.quantity(D(value), D(step) if step else None) == text


def test_a_balance_never_rounds_a_small_amount_to_zero():
    from pmtui.fmt import balance

    assert balance(D("0.00001234")) == "0.00001234"  # a BTC loan's interest
    assert balance(D("0.72469206")) == "0.7247" and balance(D("-0.5"), sign=True) == "-0.5000"
    assert balance(D("122607.35137903")) == "122,607.35" and balance(D(0)) == "0.00"
    assert balance(None) == "—"


def test_a_coin_balance_has_the_decimals_of_the_coin_figures_beside_it():
    """Issue 19: a BTC wallet read 1.12 beside its CM uPnL +0.03826762."""
    assert fmt.balance(D("1.12"), asset="BTC") == "1.12000000"
    assert fmt.balance(D("0.03826762"), sign=True, asset="BTC") == "+0.03826762"
    assert fmt.balance(D("1.12"), asset="USDT") == "1.12"
    assert fmt.balance(D("0"), asset="BTC") == "0.00"
