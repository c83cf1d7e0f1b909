"""The balances table: /papi/v1/balance, one row per asset. A loan, its interest and a negative
balance come first and stand out in their level's colour: they are what a margin call eats first."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from pmtui import fmt
from pmtui.health import Level
from pmtui.tui.widgets.styles import StyledStatic
from pmtui.tui.widgets.table import Cell, Column, KeyedTable, ShownWhenDisplayed
from pmtui.views import BalanceRow

_NONE = Decimal("-Infinity")  # "not given" sorts below every figure


class BalancesTable(ShownWhenDisplayed, KeyedTable):
    COLUMNS = (
        Column("asset", "Asset", largest_first=False),
        Column("health", "Health", largest_first=False),
        Column("borrowed", "Borrowed"),
        Column("interest", "Interest"),
        Column("negative", "Negative", name="Negative balance"),
        Column("wallet", "Wallet", name="Total wallet balance"),
        Column("free", "Free", name="Cross margin free"),
        Column("locked", "Locked", name="Cross margin locked"),
        # UM's wallet and uPnL are the Assets table's too (fresher there): last.
        Column("cm", "CM wallet"),
        Column("cmpnl", "CM uPnL"),
        Column("um", "UM wallet"),
        Column("umpnl", "UM uPnL"),
        Column("updated", "Updated"),
    )
    DEFAULT_SORT = ("health", True)  # problems first, the most owed first among them
    BLURRED_CURSOR = False  # the first row is the worst debt: its colours must show

    def cells(self, row: BalanceRow) -> list[Cell]:
        b = row.balance
        dim = self.style("muted") if b.is_zero else ""

        def money(value: Decimal | None, level: Level = Level.OK, *, sign: bool = False) -> Cell:
            # A debt in its level's colour; an empty figure muted, so the debts are what one sees.
            style = self.level_style(level) if level > Level.OK else dim if value else self.style("muted")
            return Cell(fmt.balance(value, sign=sign, asset=b.asset), sort_key=value if value is not None else _NONE,
                        style=style)

        def pnl(value: Decimal | None) -> Cell:
            style = self.pnl_style(value) if value is not None else self.style("muted")
            return Cell(fmt.balance(value, sign=True, asset=b.asset), sort_key=value if value is not None else _NONE,
                        style=style)

        return [
            Cell(b.asset, style=dim or "bold", justify="left"),
            Cell(row.level.badge, sort_key=(row.level, b.owed), style=self.level_style(row.level), justify="left"),
            money(b.crossMarginBorrowed, row.borrowed_level),
            money(b.crossMarginInterest, row.interest_level),
            money(b.negativeBalance, row.negative_level),
            money(b.totalWalletBalance, Level.DANGER if (b.totalWalletBalance or 0) < 0 else Level.OK),
            money(b.crossMarginFree),
            money(b.crossMarginLocked),
            money(b.cmWalletBalance),
            pnl(b.cmUnrealizedPNL),
            money(b.umWalletBalance),
            pnl(b.umUnrealizedPNL),
            Cell(fmt.since_ms(b.updateTime or 0, self.clock() if self.clock else None), sort_key=b.updateTime or 0,
                 style=self.style("muted")),
        ]

    def show_rows(self, rows: tuple[BalanceRow, ...]) -> bool:
        return self.set_rows({r.key: self.cells(r) for r in rows})


def balances_title(rows: tuple[BalanceRow, ...], total: int, show_all: bool, note: str | None) -> str:
    """The pane's title: how many rows of how many, and why they are missing or not current."""
    title = f"Balances {len(rows)}" if len(rows) == total else f"Balances {len(rows)} of {total}"
    title += " (all rows)" if show_all else " (non-zero)"
    return f"{title} · {note}" if note else title


class BalancesNote(StyledStatic):
    """One line for where the table has no room (under 40 lines, app.tcss): what the account owes,
    in the debt's colour, or why the balances are not known."""

    def show(self, rows: tuple[BalanceRow, ...], note: str | None, *, stale: bool = False,
             known: bool = True) -> None:
        """`known`: balances were read at least once (else only `note`, or a dash, shows)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Balances ", style="bold")
        if stale:
            text.append(" ◌ STALE ", style=self.style("state--stale"))
            text.append(" ")
        owing = [r for r in rows if r.balance.owed]
        if known and not owing:
            text.append("no loans, interest or negative balances", style=self.style("muted"))
        for i, r in enumerate(owing[:3]):
            b = r.balance
            text.append(("  " if i else "") + b.asset + " ", style="bold")
            what = [(label, value, level) for label, value, level in
                    (("borrowed", b.borrowed, r.borrowed_level), ("interest", b.interest, r.interest_level),
                     ("negative", b.negative, r.negative_level)) if value]
            for j, (label, value, level) in enumerate(what):
                text.append((", " if j else "") + f"{label} ")
                text.append(fmt.balance(value), style=self.level_style(level))
        if len(owing) > 3:
            text.append(f"  (+{len(owing) - 3} more)", style=self.style("muted"))
        if note:
            text.append(f"  · {note}" if known else note, style=self.style("muted"))
        elif not known:
            text.append("—", style=self.style("muted"))
        self.show_text(text)
