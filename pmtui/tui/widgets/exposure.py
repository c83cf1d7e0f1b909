"""Net exposure per underlying coin (pmtui.exposure): a pane where there is room (from 40 lines,
app.tcss), one line under the assets otherwise. Coin amounts to 4 places, USD to the dollar:
the figures rest on marks and index prices, and more digits would claim a precision they lack."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich.text import Text

from pmtui import fmt
from pmtui.exposure import CoinExposure, dollars
from pmtui.tui.widgets.styles import StyledStatic
from pmtui.tui.widgets.table import Cell, Column, KeyedTable, ShownWhenDisplayed

_NONE = Decimal("-Infinity")  # "no price" sorts below every figure

#: From this many coins, cells are built only for the rows on screen (below, ~10 ms at most).
LAZY_FROM = 50

#: What each column sorts by (its cell's sort_key), read without building the cells.
SORT_KEYS: dict[str, Callable[[CoinExposure], Any]] = {
    "coin": lambda e: e.coin,
    "net": lambda e: e.net,
    "netusd": lambda e: abs(e.net_usd) if e.net_usd is not None else _NONE,
    "grossusd": lambda e: e.gross_usd if e.gross_usd is not None else _NONE,
    "um": lambda e: e.um,
    "cm": lambda e: e.cm,
    "collateral": lambda e: e.collateral,
    "loans": lambda e: -e.loans,
}


def coins(value: Decimal) -> str:
    return fmt.money(value, 4, sign=True)


def usd(value: Decimal | None, *, sign: bool = False) -> str:
    return dollars(value, sign=sign)


class ExposureTable(ShownWhenDisplayed, KeyedTable):
    COLUMNS = (
        Column("coin", "Coin", largest_first=False),
        Column("net", "Net", name="Net in the coin"),
        Column("netusd", "Net USD"),
        Column("grossusd", "Gross USD"),
        Column("um", "USD-M", name="USD-M positions, in the coin"),
        Column("cm", "COIN-M", name="COIN-M positions, in the coin"),
        Column("collateral", "Collateral", name="Cross margin, UM and CM wallets, CM uPnL"),
        Column("loans", "Loans", name="Borrowed and interest"),
    )
    DEFAULT_SORT = ("grossusd", True)
    #: Whether the balances were read (the title says when the coins are the positions' alone).
    known_balances = True

    def row_sort_value(self, row: CoinExposure, column: str) -> Any:
        return SORT_KEYS[column](row)

    def row_cells(self, row: CoinExposure) -> list[Cell]:
        return self.cells(row)

    def cells(self, e: CoinExposure) -> list[Cell]:
        def amount(value: Decimal) -> Cell:
            if not value:
                return Cell("0", sort_key=value, style=self.style("muted"))
            return Cell(coins(value), sort_key=value, style=self.pnl_style(value))

        return [
            Cell(e.coin, style="bold", justify="left"),
            amount(e.net),
            Cell(usd(e.net_usd, sign=True), sort_key=abs(e.net_usd) if e.net_usd is not None else _NONE,
                 style=self.pnl_style(e.net_usd) if e.net_usd else self.style("muted")),
            Cell(usd(e.gross_usd), sort_key=e.gross_usd if e.gross_usd is not None else _NONE),
            amount(e.um),
            amount(e.cm) if not e.left_out else Cell(coins(e.cm) + " ?", sort_key=e.cm, style=self.style("muted")),
            amount(e.collateral),
            amount(-e.loans),
        ]

    def show_rows(self, rows: tuple[CoinExposure, ...]) -> bool:
        """The coins, in sorted order. Beyond LAZY_FROM coins, cells are built for the rows on
        screen only (a book of 1,000 positions has as many coins: building every row's cells
        took ~300 ms a refresh); below, every row's, so the columns fit every row. The title
        too is made only here, for a pane on screen: its gross sum read every coin each refresh."""
        title = exposure_title(rows, self.known_balances)
        if self.border_title != title:
            self.border_title = title
        if len(rows) >= LAZY_FROM:
            return self.set_lazy_rows({e.coin: e for e in rows})
        return self.set_rows({e.coin: self.cells(e) for e in rows})


def exposure_title(rows: tuple[CoinExposure, ...], known_balances: bool) -> str:
    gross = [e.gross_usd for e in rows if e.gross_usd is not None]
    title = f"Exposure {len(rows)} coin{'s' if len(rows) != 1 else ''}"
    if gross:
        title += f" · gross {usd(sum(gross, Decimal(0)))}"
    return title if known_balances else title + " · positions only: balances not read"


class ExposureNote(StyledStatic):
    """One line for where the pane has no room (under 40 lines): the largest nets in USD."""

    def show(self, rows: tuple[CoinExposure, ...], *, known_balances: bool = True) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Exposure ", style="bold")
        if not rows:
            text.append("no coin held, owed or traded beside stablecoins", style=self.style("muted"))
        for i, e in enumerate(rows[:4]):
            text.append(("  " if i else "") + e.coin + " ", style="bold")
            text.append(coins(e.net).rstrip("0").rstrip("."), style=self.pnl_style(e.net) if e.net else "")
            text.append(f" ≈ {usd(e.net_usd, sign=True)}" if e.net_usd is not None else " (no price)",
                        style=self.style("muted"))
        if len(rows) > 4:
            text.append(f"  (+{len(rows) - 4} more)", style=self.style("muted"))
        if not known_balances:
            text.append("  · positions only", style=self.style("muted"))
        self.show_text(text)
