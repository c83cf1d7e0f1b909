"""The positions filter language, term by term, on hand-made rows."""

from decimal import Decimal

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


def test_terms_combine_and_unknown_values_fall_back_to_symbol_text():
    assert keys("usdt loss") == ["BTCUSDT:BOTH", "SOLUSDT:SHORT"]
    assert keys("liq:abc") == []  # not a number: searched as text, matches no symbol
