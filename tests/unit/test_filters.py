"""The positions filter language, term by term, on hand-made rows."""

from decimal import Decimal

import pytest

from pmtui import filters
from pmtui.health import Level
from pmtui.models import Position
from pmtui.views import PositionRow


def row(symbol: str, amt: str, upnl: str = "0", side: str = "BOTH", level: Level = Level.OK,
        liq: str | None = None) -> PositionRow:
    p = Position.model_validate({
        "symbol": symbol, "positionSide": side, "positionAmt": amt, "notional": amt,
        "unrealizedProfit": upnl, "initialMargin": "1", "maintMargin": "1", "updateTime": 0,
    })
    return PositionRow(p, Decimal(0), level, liq_distance=None if liq is None else Decimal(liq))


ROWS = [
    row("BTCUSDT", "1", "-5", liq="0.04"),
    row("ETHUSDT", "-2", "7", level=Level.WARN, liq="0.15"),
    row("BTCUSDC", "3", "1", level=Level.DANGER),
    row("SOLUSDT", "2", side="LONG"),
    row("SOLUSDT", "-1", "-1", side="SHORT", liq="0.5"),
]


def keys(text: str) -> list[str]:
    predicate = filters.parse(text)
    assert predicate is not None
    return [r.key for r in ROWS if predicate(r)]


def test_empty_filter_filters_nothing():
    assert filters.parse("") is None and filters.parse("   ") is None


def test_symbol_substring_any_case():
    assert keys("btc") == ["BTCUSDT:BOTH", "BTCUSDC:BOTH"]
    assert keys("SoL") == ["SOLUSDT:LONG", "SOLUSDT:SHORT"]


def test_side_in_one_way_and_hedge_mode():
    assert keys("side:long") == ["BTCUSDT:BOTH", "BTCUSDC:BOTH", "SOLUSDT:LONG"]
    assert keys("side:short") == ["ETHUSDT:BOTH", "SOLUSDT:SHORT"]


def test_asset_is_the_quote_asset():
    assert keys("asset:usdc") == ["BTCUSDC:BOTH"]


def test_loss_and_profit():
    assert keys("loss") == ["BTCUSDT:BOTH", "SOLUSDT:SHORT"]
    assert keys("profit") == ["ETHUSDT:BOTH", "BTCUSDC:BOTH"]


def test_level_at_least():
    assert keys("level:warn") == ["ETHUSDT:BOTH", "BTCUSDC:BOTH"]
    assert keys("level:danger") == ["BTCUSDC:BOTH"]


def test_liquidation_distance_below_a_percentage():
    assert keys("liq:10") == ["BTCUSDT:BOTH"]
    assert keys("liq:20%") == ["BTCUSDT:BOTH", "ETHUSDT:BOTH"]
    assert keys("liq:100") == ["BTCUSDT:BOTH", "ETHUSDT:BOTH", "SOLUSDT:SHORT"]  # no price: never near


def test_terms_combine():
    assert keys("usdt loss") == ["BTCUSDT:BOTH", "SOLUSDT:SHORT"]


@pytest.mark.parametrize("text, sentence", [
    ("levle:warn", "unknown filter levle: (use side:, asset:, market:, level: or liq:)"),
    ("liq:abc", "liq: takes a percentage like liq:10, not 'abc'"),
    ("liq:-5", "liq: takes a percentage like liq:10, not '-5'"),
    ("level:bad", "level: takes warn, danger or critical, not 'bad'"),
    ("side:up", "side: takes long, short or both, not 'up'"),
    ("liq:", "liq: needs a value, like liq:10"),
    ("btc \x1b[31mx:y",
     "unknown filter \x1b[31mx: (use side:, asset:, market:, level: or liq:)".replace("\x1b[31m", "")),
])
def test_a_term_the_filter_cannot_use_is_said_and_left_out(text, sentence):
    assert filters.problem(text) == sentence
    # The other terms still filter; the bad one matches nothing silently no more.
    predicate = filters.parse(text)
    if text.startswith("btc"):
        assert predicate is not None and [r.key for r in ROWS if predicate(r)] == ["BTCUSDT:BOTH", "BTCUSDC:BOTH"]
    else:
        assert predicate is None


def test_good_filters_have_no_problem():
    for text in ("", "btc", "side:long asset:usdc level:warn liq:10 loss profit", filters.TERMS):
        assert filters.problem(text) is None
