"""The positions table: one row per (symbol, side), most important columns first so an
80-column terminal shows what matters without scrolling sideways."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pmtui import fmt
from pmtui.health import Level
from pmtui.models import ADL_MAX
from pmtui.tui.widgets.table import Cell, Column, KeyedTable
from pmtui.views import PositionRow

_LEVEL_MARK = {level: level.mark for level in Level}
_NONE = Decimal("Infinity")
_CONTRACT = Decimal(1)  # COIN-M amounts are whole contracts


def _far(value: Decimal | None, missing: Decimal = _NONE) -> Decimal:
    """Sort key for an optional number: no liquidation price sorts as the farthest away."""
    return missing if value is None else value


def _distance(value: Decimal | None) -> str:
    """Distance to liquidation; past 999% the exact figure says nothing a trader needs."""
    if value is not None and value >= 10:
        return ">999%"
    return fmt.percent(value)


def _price(value: Decimal | None, tick: Decimal | None) -> Cell:
    """A price to the symbol's tick size (fmt.price); 0 (no liquidation price) and unknown read
    as a dash. Sorted by the exact value (_price_key)."""
    if not value:
        return Cell("—", sort_key=_NONE)
    return Cell(fmt.price(value, tick), sort_key=value)


def _price_key(value: Decimal | None) -> Decimal:
    return value if value else _NONE


def _margin_key(row: PositionRow, value: Decimal) -> Decimal:
    """A margin sorts in USD (a COIN-M row's at its mark), in its coin without a price."""
    if not row.is_cm:
        return value
    usd = row.usd(value)
    return usd if usd is not None else value


def _side_key(row: PositionRow) -> tuple[int, str]:
    p = row.position
    return (0 if p.is_long else 1, p.positionSide) if p.is_open else (2, p.positionSide)


#: What each column sorts by, read from the row without formatting it: a long table sorts every
#: row but builds cells only for the rows on screen (KeyedTable.set_lazy_rows). The cells use the
#: same functions, so a row sorts the same either way.
SORT_KEYS: dict[str, Callable[[PositionRow], Any]] = {
    "health": lambda r: r.level,
    "symbol": lambda r: r.position.symbol,
    "side": _side_key,
    "notional": lambda r: abs(r.notional_usd) if r.notional_usd is not None else Decimal(-1),
    "upnl": lambda r: abs(r.upnl_usd) if r.upnl_usd is not None else Decimal(-1),
    "liq": lambda r: _far(r.liq_distance),
    "share": lambda r: r.share,
    "mm": lambda r: _margin_key(r, r.position.maintMargin),
    "amount": lambda r: abs(r.position.positionAmt),
    "entry": lambda r: _price_key(r.entry_price),
    "mark": lambda r: _price_key(r.mark_price),
    "liqprice": lambda r: _price_key(r.liquidation_price),
    "lev": lambda r: _far(r.leverage, missing=Decimal(0)),
    "im": lambda r: _margin_key(r, r.position.initialMargin),
    "age": lambda r: -(r.position.updateTime or 0),
    "adl": lambda r: -1 if r.adl is None else r.adl,
}


class PositionsTable(KeyedTable):
    COLUMNS = (
        Column("health", "", width=2, name="Health"),
        Column("symbol", "Symbol", largest_first=False),
        Column("side", "Side", width=7, largest_first=False),
        Column("notional", "Notional"),
        Column("upnl", "uPnL"),
        Column("liq", "Liq%", largest_first=False, name="Liq. distance"),  # nearest to liquidation first
        Column("share", "MM%", name="MM share"),
        Column("mm", "Maint.", name="Maint. margin"),
        Column("amount", "Amount"),
        Column("entry", "Entry"),
        Column("mark", "Mark"),
        Column("liqprice", "Liq. price"),
        Column("lev", "Lev.", name="Leverage"),
        Column("adl", "ADL", width=3, name="ADL quantile"),
        Column("im", "Initial", name="Initial margin"),
        Column("age", "Upd.", name="Updated"),
    )
    # Largest share of the maintenance margin first: what drives the risk. By MM%, not Maint.: the
    # same order (a COIN-M row's share is of its USD margin too), and MM% is on screen at 80 columns.
    DEFAULT_SORT = ("share", True)
    TIE_COLUMN = "symbol"
    FIXED_COLUMNS = 3  # health mark, Symbol, Side stay while the others scroll sideways
    GROUP_BY_TIE = True  # hedge mode: a symbol's LONG and SHORT rows side by side, never merged

    def row_sort_value(self, row: PositionRow, column: str) -> Any:
        return SORT_KEYS[column](row)

    def row_cells(self, row: PositionRow) -> list[Cell]:
        return self.cells(row, self.clock() if self.clock else time.time())

    def cells(self, row: PositionRow, now: float) -> list[Cell]:
        p = row.position
        level_style = self.level_style(row.level)
        if p.is_open:
            long = p.is_long
            side = Cell("↑ LONG" if long else "↓ SHORT", sort_key=_side_key(row),
                        style=self.style("side--long" if long else "side--short"), justify="left")
        else:
            side = Cell(p.positionSide if p.positionSide != "BOTH" else "—", sort_key=_side_key(row),
                        style=self.style("muted"), justify="left")
        pnl = p.unrealizedProfit  # None: not given, shown as "—"
        pnl_style = self.pnl_style(pnl) if pnl is not None else self.style("muted")
        notional = row.notional_usd
        cm = row.is_cm
        # A COIN-M row: its symbol marked CM, its amount in contracts, and its money in USD at the
        # mark like every other row's, so a column reads (and sorts) in one unit at a glance; the
        # coin figures Binance sends are in the detail panel. Without a price, the coin with its unit.

        def money(value: Decimal | None, *, sign: bool = False) -> str:
            if not cm or value is None:
                return fmt.money(value, sign=sign)
            usd = row.usd(value)
            return fmt.money(usd, sign=sign) if usd is not None else fmt.coin(value, row.coin, sign=sign)

        def margin(value: Decimal) -> Cell:
            return Cell(money(value), sort_key=_margin_key(row, value))

        return [
            Cell(_LEVEL_MARK[row.level], sort_key=row.level, style=level_style, justify="center"),
            Cell(f"{p.symbol} CM" if cm else p.symbol, sort_key=p.symbol,
                 style="bold" if p.is_open else self.style("muted"), justify="left"),
            side,
            Cell(fmt.money(abs(notional)) if notional is not None else "—", sort_key=SORT_KEYS["notional"](row)),
            Cell(money(pnl, sign=True), sort_key=SORT_KEYS["upnl"](row), style=pnl_style),
            Cell(_distance(row.liq_distance), sort_key=_far(row.liq_distance),
                 style=self.level_style(row.liq_level) if row.liq_distance is not None else self.style("muted")),
            # Each cell by its own rule; the health mark alone says the worst of them.
            Cell(fmt.percent(row.share), sort_key=row.share,
                 style=self.level_style(row.share_level) if row.share_level > Level.OK else ""),
            margin(p.maintMargin),
            Cell(fmt.quantity(p.positionAmt, _CONTRACT if cm else row.step_size), sort_key=abs(p.positionAmt)),
            _price(row.entry_price, row.tick_size),
            _price(row.mark_price, row.tick_size),
            _price(row.liquidation_price, row.tick_size),
            Cell(f"{fmt.amount(row.leverage)}x" if row.leverage is not None else "—",
                 sort_key=_far(row.leverage, missing=Decimal(0))),
            Cell("—" if row.adl is None else str(row.adl), sort_key=SORT_KEYS["adl"](row),
                 style=self.level_style(Level.WARN) if row.adl == ADL_MAX else ""),
            margin(p.initialMargin),
            Cell(fmt.since_ms(p.updateTime, now), sort_key=-(p.updateTime or 0), style=self.style("muted")),
        ]

    def show(self, rows: list[PositionRow]) -> bool:
        """The rows, in sorted order; cells are built for the rows on screen only."""
        return self.set_lazy_rows({r.key: r for r in rows})
