"""The Accounts overview (--all-profiles): one row per account, worst first, coloured by level;
`enter` opens that account's dashboard, which `esc` leaves for this screen again.

It listens to every account's Monitor and redraws on a burst of states once (StateChanged, as the
dashboard does), so a row moves as soon as its account's health does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from pmtui import fmt
from pmtui.overview import AccountRow, account_row, totals
from pmtui.text import name as shown
from pmtui.tui.bridge import StateChanged, forward
from pmtui.tui.widgets.styles import StyledStatic
from pmtui.tui.widgets.table import Cell, Column, KeyedTable

if TYPE_CHECKING:
    from pmtui.fleet import Account


BOLD = Style(bold=True)


class AccountsTable(KeyedTable):
    # What decides first (at 80 columns the money scrolls in from the right): the verdict,
    # uniMMR, status and the position nearest liquidation, then equity and headroom.
    COLUMNS = (
        Column("profile", "Account", largest_first=False, name="Account (profile)"),
        Column("health", "Health", largest_first=False),
        Column("unimmr", "uniMMR", largest_first=False),
        Column("status", "Status", largest_first=False, name="accountStatus"),
        Column("worst", "Nearest liq.", largest_first=False, name="Position nearest liquidation"),
        Column("liq", "Liq. dist.", largest_first=False, name="Its liquidation distance"),
        Column("data", "Data", largest_first=False),
        Column("equity", "Equity", name="Account equity (USD)"),
        Column("headroom", "Headroom", largest_first=False, name="Headroom to uniMMR 1.05 (USD)"),
        Column("mm", "Maint.", name="Account maint. margin (USD)"),
        Column("upnl", "uPnL", name="Unrealized PnL (USD)"),
    )
    # The health column sorts by the overview's rank (worst first), not by the badge's text.
    DEFAULT_SORT = ("health", False)
    TIE_COLUMN = "profile"

    def cells(self, row: AccountRow) -> list[Cell]:
        style = self.level_style(row.style_level)
        muted = self.style("muted")
        unknown = row.level is None
        plain = muted if unknown else style
        room = row.headroom
        if room is None:
            room_text, room_key = "—", Decimal("Infinity")
        elif room.infinite:
            room_text, room_key = "∞", Decimal("Infinity")
        else:
            room_text = fmt.money(room.amount)
            if room.fraction is not None:
                room_text += f" ({fmt.percent(room.fraction)})"
            room_key = room.fraction if room.fraction is not None else room.amount
        liq_style = self.level_style(row.liq_level) if row.liq_distance is not None else muted
        data_style = self.style("level--ok") if row.data == "LIVE" else self.style("level--danger")
        return [
            Cell(shown(row.profile), sort_key=row.profile, style=style + BOLD, justify="left"),
            Cell(row.badge, sort_key=row.key, style=style, justify="left"),
            Cell(fmt.ratio(row.unimmr) if row.unimmr is not None else "—",
                 sort_key=row.unimmr if row.unimmr is not None else Decimal(-1), style=plain),
            Cell(row.status or "—", style=plain, justify="left"),
            Cell(row.worst or "—", style=plain, justify="left"),
            Cell(fmt.percent(row.liq_distance),
                 sort_key=row.liq_distance if row.liq_distance is not None else Decimal("Infinity"),
                 style=liq_style),
            Cell(row.data + row.marks_marker, sort_key=row.data, style=data_style, justify="left"),
            Cell(fmt.money(row.equity), sort_key=row.equity if row.equity is not None else Decimal(-1),
                 style=plain),
            Cell(room_text, sort_key=room_key, style=plain),
            Cell(fmt.money(row.maint_margin),
                 sort_key=row.maint_margin if row.maint_margin is not None else Decimal(-1), style=plain),
            Cell(fmt.money(row.upnl, sign=True), sort_key=row.upnl if row.upnl is not None else Decimal(0),
                 style=self.pnl_style(row.upnl) if row.upnl is not None else muted),
        ]

    def show(self, rows: Sequence[AccountRow]) -> bool:
        return self.set_rows({r.profile: self.cells(r) for r in rows})


class Problems(StyledStatic):
    """Each account that has a problem, in one sentence (a wrong key, a profile without one)."""

    def show(self, rows: Sequence[AccountRow]) -> None:
        text = Text()
        for row in rows:
            if row.problem is None:
                continue
            if text:
                text.append("\n")
            text.append(f" {shown(row.profile)}: ", style=self.level_style(row.style_level))
            text.append(row.problem)
        self.display = bool(text)
        self.show_text(text)


class OverviewHeader(StyledStatic):
    def show(self, rows: Sequence[AccountRow]) -> None:
        worst = min(rows, key=lambda r: r.key, default=None)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Accounts ", style="bold reverse")
        text.append(f"  {len(rows)} watched", style=self.style("muted"))
        if worst is not None:
            text.append("  worst: ")
            text.append(f"{shown(worst.profile)} {worst.badge}", style=self.level_style(worst.style_level))
        self.show_text(text)


class TotalsLine(StyledStatic):
    """What the accounts add up to (in USD), under the table: the whole book at a glance."""

    def show(self, rows: Sequence[AccountRow]) -> None:
        t = totals(rows)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Total ", style="bold reverse")
        if not t.counted:
            text.append("  no account data yet", style=self.style("muted"))
            self.show_text(text)
            return
        text.append(f"  {t.counted} of {len(rows)} accounts" if t.counted < len(rows) else f"  {t.counted} accounts",
                    style=self.style("muted"))
        text.append("  equity ")
        text.append(f"{fmt.money(t.equity)} USD", style="bold")
        text.append("  maint. margin ")
        text.append(f"{fmt.money(t.maint_margin)} USD", style="bold")
        text.append("  uPnL ")
        text.append(f"{fmt.money(t.upnl, sign=True)} USD", style=self.pnl_style(t.upnl))
        if t.stale:
            text.append("  (some figures stale)", style=self.style("level--warn"))
        self.show_text(text)


class OverviewScreen(Screen[None]):
    """Every account at a glance; `enter` opens one (the app rebinds its dashboard to it)."""

    BINDINGS = [
        Binding("enter", "open", "Open", priority=False),
        Binding("r", "refresh_all", "Refresh all"),
    ]
    DEFAULT_CSS = """
    OverviewScreen { layout: vertical; }
    OverviewScreen #overview-body { height: 1fr; }
    OverviewScreen AccountsTable { height: auto; max-height: 1fr; border: round $primary; }
    OverviewScreen Problems { height: auto; padding: 0 0; }
    OverviewScreen TotalsLine { height: 1; background: $panel; }
    OverviewScreen #overview-hint { color: $text-muted; height: 1; }
    """

    class Opened(Message):
        """A person picked an account to look at."""

        def __init__(self, profile: str) -> None:
            super().__init__()
            self.profile = profile

    def __init__(self, accounts: Sequence[Account]) -> None:
        super().__init__()
        self.accounts = list(accounts)
        self._unsubscribe: list[Callable[[], None]] = []

    def compose(self) -> ComposeResult:
        yield OverviewHeader(id="overview-header")
        with Vertical(id="overview-body"):
            yield AccountsTable(id="accounts")
            yield TotalsLine(id="totals")
            yield Problems(id="problems")
            yield StyledStatic(" enter opens an account · esc on its dashboard comes back here · "
                               "r refreshes all · q quits", id="overview-hint")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(AccountsTable)
        # The Data column's marker: ◆ the mark price streams reprice the account live, ◇ polling.
        table.border_title = "Accounts, worst first · money in USD · ◆ live marks ◇ polling"
        for account in self.accounts:
            if account.monitor is not None:
                self._unsubscribe.append(forward(account.monitor, self))
        self.draw()
        table.focus()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    def on_state_changed(self, _message: StateChanged) -> None:
        self.draw()  # every row: the ranking may change with one account's health

    def rows(self) -> list[AccountRow]:
        return [account_row(a.profile, a.monitor.state if a.monitor is not None else None, a.error)
                for a in self.accounts]

    def draw(self) -> None:
        rows = self.rows()
        table = self.query_one(AccountsTable)
        # A cursor on the top row stays on the top row: on the worst account, whichever that is now.
        top = table.cursor_row == 0
        table.show(rows)
        if top and table.cursor_row != 0:
            table.move_cursor(0)
        self.query_one(TotalsLine).show(rows)
        self.query_one(Problems).show(sorted(rows, key=lambda r: r.key))
        self.query_one(OverviewHeader).show(rows)

    def action_open(self) -> None:
        key = self.query_one(AccountsTable).cursor_key()
        if key is not None:
            self.post_message(self.Opened(key))

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Opened(event.key))

    def action_refresh_all(self) -> None:
        for account in self.accounts:
            if account.monitor is not None:
                account.monitor.refresh_now()

