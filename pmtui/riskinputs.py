"""Response models of the risk engine's inputs (pmtui.model): collateral rates, asset index
prices, UM and COIN-M leverage brackets, and margin leverage per asset.

Same rules as pmtui.models: Decimal from the wire on, "" and null read as "not given", lenient
where Binance is. The brackets come as JSON numbers, not strings (`"maintMarginRatio": 0.004`);
decode_json reads them as Decimal, so no float ever touches a ratio. A row that lacks what the
model needs (an asset, a rate, a price) is kept with None and the model says which input is
missing; one bad row never refuses the whole list.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from pmtui.models import OptMillis, OptMoney, OptText, WireModel, decode_json

log = logging.getLogger(__name__)


class CollateralRate(WireModel):
    """One row of `GET /sapi/v1/portfolio/collateralRate`: the haircut of an asset (1 = none)."""

    asset: OptText = None
    collateralRate: OptMoney = None


class CollateralTier(WireModel):
    tierFloor: OptMoney = None
    tierCap: OptMoney = None
    collateralRate: OptMoney = None
    cum: OptMoney = None


class TieredCollateralRate(WireModel):
    """One row of `GET /sapi/v2/portfolio/collateralRate` (Portfolio Margin Pro's tiers).
    The tiers are USD slices of the asset's value (Binance's PM Pro announcements give them as
    "Floor (USD)" and "Cap (USD)"); the model values a listed asset by them, not by its v1 rate."""

    asset: OptText = None
    collateralInfo: tuple[CollateralTier, ...] = ()


class AssetIndexPrice(WireModel):
    """One row of `GET /sapi/v1/portfolio/asset-index-price`: the asset's USD index price."""

    asset: OptText = None
    assetIndexPrice: OptMoney = None
    time: OptMillis = None


class MarginAssetLeverage(WireModel):
    """One row of `GET /sapi/v1/portfolio/margin-asset-leverage`: the asset's margin leverage,
    which sets its loans' maintenance margin ratio (3x 10%, 5x 8%, 10x 5%: Binance's PM page)."""

    asset: OptText = None
    leverage: OptMoney = None


class Bracket(WireModel):
    """One bracket of a symbol. UM brackets are by notional in the quote asset (`notionalCap`,
    `notionalFloor`); COIN-M ones by quantity in the coin (`qtyCap`, `qtyFloor`). Either way the
    maintenance margin is `notional × maintMarginRatio − cum`."""

    bracket: OptMoney = None
    initialLeverage: OptMoney = None
    notionalCap: OptMoney = None
    notionalFloor: OptMoney = None
    qtyCap: OptMoney = None
    qtyFloor: OptMoney = None
    maintMarginRatio: OptMoney = None
    cum: OptMoney = None

    @property
    def cap(self) -> Decimal | None:
        return self.notionalCap if self.notionalCap is not None else self.qtyCap

    @property
    def floor(self) -> Decimal | None:
        return self.notionalFloor if self.notionalFloor is not None else self.qtyFloor


class SymbolBrackets(WireModel):
    """One row of `GET /papi/v1/um/leverageBracket` or `/papi/v1/cm/leverageBracket`."""

    symbol: OptText = None
    notionalCoef: OptMoney = None  # only when the user's brackets differ from the symbol's default
    brackets: tuple[Bracket, ...] = ()


def _rows(model: type[WireModel], data: Any) -> tuple[Any, ...]:
    """Each dict of a list parsed on its own (the raw dict kept); a non-list or a non-dict row is
    dropped, never a reason to refuse the others. `/papi/v1/um/leverageBracket?symbol=` answers
    with one object rather than a list: that is read as a list of one."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ()
    rows = []
    for item in data:
        if not isinstance(item, dict):
            continue
        try:
            rows.append(model.from_wire(item))
        except ValidationError as err:  # e.g. "brackets": "x"; the model then names the gap
            log.debug("%s row dropped: %s", model.__name__, err.errors()[0]["msg"])
    return tuple(rows)


def _decoded(body: bytes | Any) -> Any:
    """Raw bytes are decoded (floats as Decimal); what the client already decoded passes."""
    return decode_json(bytes(body)) if isinstance(body, (bytes, bytearray)) else body


def parse_collateral_rates(body: bytes) -> tuple[CollateralRate, ...]:
    return _rows(CollateralRate, _decoded(body))


def parse_tiered_collateral_rates(body: bytes) -> tuple[TieredCollateralRate, ...]:
    return _rows(TieredCollateralRate, _decoded(body))


def parse_index_prices(body: bytes) -> tuple[AssetIndexPrice, ...]:
    return _rows(AssetIndexPrice, _decoded(body))


def parse_margin_leverage(body: bytes) -> tuple[MarginAssetLeverage, ...]:
    return _rows(MarginAssetLeverage, _decoded(body))


def parse_brackets(body: bytes) -> tuple[SymbolBrackets, ...]:
    return _rows(SymbolBrackets, _decoded(body))
