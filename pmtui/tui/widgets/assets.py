"""The assets table: every field of `assets[]` plus margin balance and maintenance-margin use."""

from __future__ import annotations

from decimal import Decimal

from pmtui import fmt
from pmtui.tui.widgets.table import Cell, Column, KeyedTable
from pmtui.views import AssetRow


class AssetsTable(KeyedTable):
    COLUMNS = (
        Column("asset", "Asset", largest_first=False),
        Column("health", "Health", largest_first=False),
        Column("balance", "Margin bal."),
        Column("mmused", "MM used"),
        Column("wallet", "Wallet"),
        Column("upnl", "uPnL"),
        Column("mm", "Maint.", name="Maint. margin"),
        Column("im", "Initial", name="Initial margin"),
        Column("posim", "Pos. IM"),
        Column("ordim", "Order IM"),
        Column("updated", "Updated"),
    )
    DEFAULT_SORT = ("balance", True)
    TIE_COLUMN = "asset"

    def cells(self, row: AssetRow) -> list[Cell]:
        a = row.asset
        level_style = self.level_style(row.level)
        dim = self.style("muted") if a.is_zero else ""
        pnl = a.crossUnPnl
        pnl_style = self.pnl_style(pnl)

        def money(value: Decimal | None) -> Cell:  # None: not given, "—", sorted below every figure
            return Cell(fmt.money(value), sort_key=value if value is not None else Decimal("-Infinity"), style=dim)

        return [
            Cell(a.asset, style=dim or "bold", justify="left"),
            Cell(row.level.badge, sort_key=row.level, style=level_style, justify="left"),
            money(a.margin_balance),
            Cell(fmt.percent(row.usage), sort_key=row.usage if row.usage is not None else Decimal(-1),
                 style=level_style if row.usage is not None else dim),
            money(a.crossWalletBalance),
            Cell(fmt.money(pnl, sign=True), sort_key=pnl, style=pnl_style),
            money(a.maintMargin),
            money(a.initialMargin),
            money(a.positionInitialMargin),
            money(a.openOrderInitialMargin),
            Cell(fmt.since_ms(a.updateTime or 0, self.clock() if self.clock else None), sort_key=a.updateTime or 0,
                 style=self.style("muted")),
        ]

    def show(self, rows: tuple[AssetRow, ...]) -> bool:
        return self.set_rows({r.key: self.cells(r) for r in rows})
