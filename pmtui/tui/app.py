"""The Textual dashboard: it renders the Monitor's states and turns keys into requests to it.

The Monitor (pmtui/monitor.py) fetches, schedules, streams, judges and alerts; every state it
publishes reaches the app as a `StateChanged` message (pmtui/tui/bridge.py: a burst is merged into
one), handled inside `batch_update()` (as memray's live view does with its snapshots).
`PmtuiApp` holds the accounts, the toasts, the theme and the keys that hold everywhere; its
default screen, `MainScreen`, is the dashboard: its panes, its keys, and what a person chose to
see there (the filter, "all rows", the open panels).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.css.scalar import Scalar
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Input
from textual.widgets._toast import Toast, ToastRack
from textual.worker import Worker, WorkerState

from pmtui import filters, fmt
from pmtui.client import PapiClient
from pmtui.history import History
from pmtui.ledger import prices_from
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.state import ALERTS, DATA, FAULT, LEDGER, STATUS, MonitorState, Notice
from pmtui.text import clean
from pmtui.text import name as shown
from pmtui.tui import uistate
from pmtui.tui.bridge import StateChanged, forward
from pmtui.tui.stylesheet import Stylesheet
from pmtui.tui.widgets.account import AccountFacts, AccountPanel
from pmtui.tui.widgets.assets import AssetsTable
from pmtui.tui.widgets.balances import BalancesNote, BalancesTable, balances_title
from pmtui.tui.widgets.detail import DetailScreen
from pmtui.tui.widgets.exposure import ExposureNote, ExposureTable
from pmtui.tui.widgets.footer import KeysFooter
from pmtui.tui.widgets.help import HelpScreen
from pmtui.tui.widgets.history import HistoryPanel
from pmtui.tui.widgets.ladder import LadderPanel, LadderScreen, unavailable
from pmtui.tui.widgets.ledger import LedgerScreen
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.styles import level_variables
from pmtui.tui.widgets.summary import CompactView, SummaryBar
from pmtui.tui.widgets.table import KeyedTable
from pmtui.tui.widgets.whatif import WhatIfScreen
from pmtui.views import PositionRow

if TYPE_CHECKING:
    from pmtui.delivery import Deliverer
    from pmtui.fleet import Account, Fleet
    from pmtui.tui.widgets.overview import OverviewScreen

log = logging.getLogger(__name__)

# Before a table's title while its data is not current (with the dashed amber border, app.tcss).
STALE_MARK = "◌ STALE · "

#: Seconds a refresh must have been running before the screen says "fetching…": most end sooner,
#: and then the state they publish is the one screen update of that refresh, not the second.
FETCHING_SHOWN_AFTER = 0.3

# (columns, lines) the full dashboard needs; a smaller terminal gets the compact view.
COMPACT_BELOW = (60, 18)
# (columns, lines) from which the history panel has room beside the tables.
ROOMY = (160, 40)
#: Lines from which the stress ladder stands under the positions (with ROOMY's columns).
LADDER_ROOM = 50


def title_of(state: MonitorState) -> str:
    """The page title for a state: "pmtui ✓ OK 10.7" (the verdict and uniMMR), "pmtui ◌ STALE ·
    last OK" (no figure that is not current), "pmtui" before the first data."""
    verdict = state.verdict
    if verdict is None:
        return "pmtui"
    if verdict.stale or verdict.unknown or state.pm is None:
        return clean(f"pmtui {verdict.badge}")
    return clean(f"pmtui {verdict.badge} {fmt.ratio(state.pm.uniMMR, 1)}")


class FilterInput(Input):
    """The filter box. Its own editing keys (ctrl+u, ctrl+w, backspace…) act as they arrive: as
    bindings they would first bubble up to the app and run after the letters queued behind them,
    so "ctrl+u btc" in one burst (a fast typist, SSH) erased the letters it was meant to precede."""

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.key_to_bindings.get(event.key)
        if bindings and not event.is_printable and event.key != "enter":
            event.stop()
            event.prevent_default()
            await self.run_action(bindings[0].action)
            return
        await super()._on_key(event)


def _same_book(before: MonitorState | None, state: MonitorState) -> bool:
    """Whether `state` only moved uniMMR and the account's status on what `before` showed (a
    pushed riskLevelChange): the same positions, prices, assets and balances, judged at the same
    account level (a row's level follows the account's). Then only the verdict is redrawn: at
    1,000 positions redrawing the book delayed a pushed margin call by 200-450 ms."""
    if before is None or before.view is None or state.view is None:
        return False
    old, new = before.view, state.view
    return (state.account is before.account and state.risks is before.risks and state.cm is before.cm
            and state.cm_risks is before.cm_risks and state.balances is before.balances
            and new.markets is old.markets and new.level == old.level
            and state.balance_stale == before.balance_stale and state.unavailable == before.unavailable)


class MainScreen(Screen[None]):
    """The dashboard of one account (the app's default screen): its panes, and the keys that act
    on them. Only while it is on top do they act; the app keeps the keys that hold everywhere
    (help, quit, the palette). It shows what the app hands it (show_state) and keeps only what a
    person chose to see: the filter, "all rows", the open panels."""

    BINDINGS = [
        # The app's help and quit first (a screen's keys come before the app's in its footer):
        # the footer cuts what does not fit at the right, and 80 columns keep these.
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "toggle_pause", "Pause"),
        # The filter's keys are priority bindings that move focus at once: keys typed right behind
        # them (fast typing, a paste, a laggy SSH link) then reach the new focus, not the old one
        # (where "/arb" would toggle rows and refresh, or "esc j" would type into the hidden box).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("enter", "filter_done", "Done", show=False, priority=True),
        Binding("a", "toggle_all", "All", tooltip="All rows: zero positions, assets and balances too"),
        Binding("w", "what_if", "What-if"),
        # Not in the footer: at 80 columns it would push History out (the help and README list it).
        Binding("L", "ladder", "Ladder", key_display="L", show=False),
        Binding("h", "toggle_history", "History"),
        # The ledger (funding, fees, interest, forced fills): not in the footer, like L (80 columns).
        Binding("f", "ledger", "Ledger", show=False),
        Binding("H", "history_span", "Span", key_display="H", show=False),  # the charts' 1 h / 24 h / 7 d
        Binding("plus", "slower", "Slower", key_display="+", show=False),
        Binding("minus", "faster", "Faster", key_display="-", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False, priority=True),
        # Several accounts: esc (when it has no filter to clear) goes back to the Accounts overview.
        Binding("escape", "accounts", "Accounts", key_display="esc"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state: MonitorState | None = None
        self.filter_text = ""
        self.show_all = False

    @property
    def owner(self) -> PmtuiApp:
        """The app, typed: the account's Monitor, settings and title are its."""
        return cast("PmtuiApp", self.app)

    @property
    def view(self):
        return self.state.view if self.state is not None else None

    def on_mount(self) -> None:
        self.query_one(AssetsTable).border_title = "Assets"
        self.query_one("#balances", BalancesTable).border_title = "Balances"
        self.query_one("#filter").display = False
        self.query_one(PositionsTable).focus()
        self._title_positions()
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.owner.feed()

    def _theme_changed(self, _theme: Theme) -> None:
        """Cells hold the old theme's colours: draw them again."""
        if self.state is not None:
            self._render_view()
        self.query_one(HistoryPanel).restyle(self.query_one("#account-facts", AccountFacts).level_style)

    def compose(self) -> ComposeResult:
        yield SummaryBar(self.owner.account_title, id="summary")
        yield CompactView(id="compact")
        # Between the summary and the status bar: what is docked in it (the side column on a
        # roomy terminal, app.tcss) stops above the status bar and the footer.
        with Vertical(id="body"):
            yield AccountPanel(id="account")
            yield HistoryPanel(id="history")
            yield AssetsTable(id="assets")
            yield BalancesTable(id="balances")
            yield BalancesNote(id="balances-note")
            yield ExposureTable(id="exposure")
            yield ExposureNote(id="exposure-note")
            yield FilterInput(placeholder=f"filter: {filters.TERMS}", id="filter")
            yield PositionsTable(id="positions")
            yield LadderPanel(id="ladder-panel")  # only where there is room (app.tcss)
        yield StatusBar(id="status")
        # Compact: every key the dashboard has fits at 80 columns, What-if and History included.
        yield KeysFooter()

    def show_state(self, state: MonitorState, changed: frozenset[str] | None = None) -> None:
        """Render `state` (what changed decides how much is redrawn)."""
        changed = state.changed if changed is None else changed
        before = self.state
        was_stale = before.stale if before is not None else None
        self.state = state
        if FAULT in changed or state.stale != was_stale or (DATA in changed and not _same_book(before, state)):
            self._render_view()
        else:
            self._render_verdict()
        if LEDGER in changed:
            self._render_ledger()
        self._render_status()

    def visible_positions(self) -> list[PositionRow]:
        return filters.select(self.view, show_all=self.show_all, text=self.filter_text)

    def _render_view(self) -> None:
        view = self.view
        stale = self.state is not None and self.state.stale
        self._render_verdict()
        # By id, every refresh: an id query is cached, a type or CSS query walks the DOM.
        for table in (self.query_one("#assets"), self.query_one("#positions")):
            table.set_class(stale, "-stale")
        assets_title = f"{STALE_MARK}Assets" if stale else "Assets"
        assets = self.query_one(AssetsTable)
        if assets.border_title != assets_title:
            assets.border_title = assets_title
        if view is None:
            return
        history = self.query_one("#history", HistoryPanel)
        if history.display:
            history.show(self.owner.monitor.series)
        self.query_one("#assets", AssetsTable).show(view.visible_assets(self.show_all))
        self.query_one("#positions", PositionsTable).show(self.visible_positions())
        self._title_positions()
        if isinstance(self.app.screen, DetailScreen):
            row = view.row(self.app.screen.key)
            self.app.screen.show(row, view.next_tier(row) if row is not None else None)
        self._render_balances()
        self._render_exposure()

    def _render_exposure(self) -> None:
        """Net exposure per coin: the pane from 40 lines on, else one line (app.tcss picks)."""
        view = self.view
        if view is None:
            return
        rows, known = view.exposure, view.balances is not None
        table = self.query_one("#exposure", ExposureTable)
        table.set_class(self.state is not None and self.state.stale, "-stale")
        table.known_balances = known
        table.show(rows)  # and its title, while it is on screen (from 40 lines, app.tcss)
        self.query_one("#exposure-note", ExposureNote).show(rows, known_balances=known)

    def _render_balances(self) -> None:
        """The Balances pane: its rows, its own staleness and note in the title; where the screen
        has no room for it (under 40 lines, app.tcss), one line under the Assets table instead
        (both are kept current: which one shows is the stylesheet's business)."""
        state = self.state
        if state is None:
            return
        table = self.query_one("#balances", BalancesTable)
        every = state.balance_rows
        rows = every if self.show_all else tuple(r for r in every if not r.balance.is_zero)
        stale = state.balance_stale
        table.set_class(stale, "-stale")
        table.show(rows)
        note = state.balance_note if state.balances is None or stale or "balance" in state.unavailable else None
        title = balances_title(rows, len(every), self.show_all, note)
        content = Content(f"{STALE_MARK}{title}" if stale else title)
        if table.border_title != content.markup:
            table.border_title = content
        self.query_one("#balances-note", BalancesNote).show(rows, note, stale=stale,
                                                            known=state.balances is not None)

    def _render_verdict(self) -> None:
        """Everywhere the account's verdict shows: the header, the big digits, the compact view."""
        state = self.state
        if state is None:
            return
        view, verdict, note = state.view, state.verdict, state.account_note
        age = fmt.age(state.unimmr_age) if state.unimmr_age is not None else ""
        # An estimate on the digits: Binance's figure in the header is behind the positions.
        self.query_one("#summary", SummaryBar).show(view, verdict, age if state.estimate is not None else "")
        panel = self.query_one("#account", AccountPanel)
        panel.show(view, note, verdict, age, fallback=state.fallback, estimate=state.estimate,
                   estimate_age=fmt.age(state.estimate_age) if state.estimate_age is not None else "",
                   risk=state.risk)
        self._render_risk()
        panel.set_class(verdict is not None and verdict.stale, "-stale")
        info = state.status
        problem: str | None
        if info.error is not None:
            problem = info.error.message
        else:  # uniMMR's own fault, when that is what makes it stale or unknown
            problem = note if verdict is not None and (verdict.stale or verdict.unknown) else None
        self.query_one("#compact", CompactView).show(
            self.owner.account_title, view, verdict, age, self.query_one("#status", StatusBar).state_word(info),
            fmt.age(info.age) if info.age is not None else "", problem,
        )

    def _render_risk(self) -> None:
        """The stress ladder, live: on its screen (L) and in the dashboard's free room."""
        state = self.state
        model = state.risk if state is not None else None
        note = None if model is not None else unavailable(self.owner.settings.risk_model)
        self.query_one("#ladder-panel", LadderPanel).show(model, note)
        for screen in self.app.screen_stack:
            if isinstance(screen, LadderScreen):
                screen.show(model, note)

    def on_resize(self) -> None:
        # From LADDER_ROOM lines (and ROOMY columns, app.tcss) the ladder fills the positions' empty rows.
        self.set_class(self.app.size.height >= LADDER_ROOM, "-ladder-room")
        self.call_after_refresh(self._render_risk)

    def _title_positions(self) -> None:
        table = self.query_one("#positions", PositionsTable)
        shown = table.row_count
        total = len(self.view.positions if self.show_all else self.view.open_positions) if self.view else 0
        title = f"Positions {shown}" if shown == total else f"Positions {shown} of {total}"
        title += " (all rows)" if self.show_all else " (open)"
        if self.state is not None and self.state.stale:
            title = STALE_MARK + title
        if self.state is not None and "cm" in self.state.unavailable:
            # COIN-M refused (or not served): its positions may exist but are not in this table.
            title += " · COIN-M unavailable" if self.state.cm is None else " · COIN-M prices unavailable"
        if self.filter_text.strip():
            title += f" · filter: {clean(self.filter_text)}"
            if (problem := filters.problem(self.filter_text)) is not None:
                title += f" · {problem}"
        title += " · money in USD"  # a COIN-M row's too, at its mark (its coin figures: enter)
        subtitle = f"sort: {table.sort_description}"
        # Each assignment repaints the whole table, even with the same text: only on a change.
        # Content, not a str: a str title is parsed as markup, and "[/]" in the filter raised.
        content = Content(title)
        if table.border_title != content.markup:
            table.border_title = content
        if table.border_subtitle != subtitle:
            table.border_subtitle = subtitle

    def _render_status(self) -> None:
        if self.state is not None:
            self.query_one("#status", StatusBar).show(self.state.status)
            self.call_after_refresh(self.owner._place_toasts)

    def action_refresh_now(self) -> None:
        """`r`: refresh now (the Monitor debounces a held key into one refresh)."""
        self.owner.monitor.refresh_now()

    def action_toggle_pause(self) -> None:
        self.owner.monitor.set_paused(not self.owner.monitor.poller.paused)

    def action_slower(self) -> None:
        self.owner.monitor.step_interval(+1)

    def action_faster(self) -> None:
        self.owner.monitor.step_interval(-1)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._render_view()

    def action_toggle_history(self) -> None:
        panel = self.query_one(HistoryPanel)
        shown = not panel.display  # by default hidden, and shown on a roomy terminal (app.tcss)
        panel.set_class(shown, "-open")
        panel.set_class(not shown, "-closed")
        # Under 40 lines the panel takes the assets' place (app.tcss), or the positions get none.
        self.set_class(shown, "-history-open")
        if shown:
            panel.show(self.owner.monitor.series)

    def action_history_span(self) -> None:
        """`H`: the history charts' next span (1 h, 24 h, 7 d)."""
        panel = self.query_one(HistoryPanel)
        panel.cycle_span()
        if not panel.display:
            self.notify(f"History charts: the last {panel.span[1]} (h shows them).", timeout=3, markup=False)

    def action_what_if(self) -> None:
        state = self.state
        if state is None or state.account is None:
            self.notify("No account data yet: wait for the first refresh.", severity="warning", markup=False)
            return
        # The exact model where there is one; the linear estimate only without it, saying why.
        self.app.push_screen(WhatIfScreen(state.account, state.pm, self.owner.settings.thresholds, cm=state.cm,
                                          cm_risks=state.cm_risks, model=state.risk,
                                          model_note=None if state.risk is not None
                                          else unavailable(self.owner.settings.risk_model)))

    def action_ladder(self) -> None:
        """`L`: the stress ladder, whole book and each underlying, on a screen of its own."""
        if not isinstance(self.app.screen, LadderScreen):
            model = self.state.risk if self.state is not None else None
            self.app.push_screen(LadderScreen(model, None if model is not None
                                              else unavailable(self.owner.settings.risk_model)))

    def action_ledger(self) -> None:
        """`f`: the ledger on a screen of its own (it follows the states as they come)."""
        if not isinstance(self.app.screen, LedgerScreen):
            self.app.push_screen(LedgerScreen(*self._ledger_args()))

    def _ledger_args(self) -> tuple[Any, int, dict[str, Any]]:
        state = self.state
        client = self.owner.monitor.client  # None for a viewer of the daemon: this machine's clock
        now_ms = client.server_now_ms() if client is not None else int(time.time() * 1000)
        return (state.ledger if state is not None else None, now_ms,
                prices_from(state.risk if state is not None else None))

    def _render_ledger(self) -> None:
        for screen in self.app.screen_stack:
            if isinstance(screen, LedgerScreen):
                screen.show(*self._ledger_args())

    def action_accounts(self) -> None:
        """`esc` on the dashboard: back to the Accounts overview."""
        from pmtui.tui.widgets.overview import OverviewScreen

        if self.owner.accounts and not isinstance(self.app.screen, OverviewScreen):
            self.app.push_screen(OverviewScreen(self.owner.accounts))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only while this screen is on top do its keys act at all (a modal, the Accounts overview
        have theirs); --kiosk's blocked keys (the app's check) stay blocked here too."""
        if not self.owner.check_action(action, parameters):
            return False
        if action == "accounts":
            return bool(self.owner.accounts)
        if action in ("filter", "filter_done", "clear_filter"):
            box = self.query_one("#filter", Input)
            if action == "filter":
                return self.focused is not box  # in the box, "/" is a character ("[/]", "a/b")
            if action == "filter_done":
                return self.focused is box
            if action == "clear_filter":
                return box.display or bool(self.filter_text)
        return True

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        self.set_focus(box)  # now, not after the keys already queued (see BINDINGS)

    def action_filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value.strip())
        self.set_focus(self.query_one(PositionsTable))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.display and not self.filter_text:
            return
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.set_focus(self.query_one(PositionsTable))
        self._render_view()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            if event.value.strip():
                event.input.display = True  # an active filter is always shown, even if typed ahead of enter
            self.filter_text = event.value
            # A term the filter cannot use is said, in the box's colour and the table's title,
            # instead of silently matching nothing.
            event.input.set_class(filters.problem(event.value) is not None, "-invalid")
            self._render_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(event.value.strip())
            self.query_one(PositionsTable).focus()

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        if event.table.id != "positions" or self.view is None:
            return
        key = event.key
        row = self.view.row(key)
        if row is not None:
            self.app.push_screen(DetailScreen(key, row, self.view.next_tier(row)))


class PmtuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "pmtui"
    # Below these sizes the dashboard does not fit: the compact view (app.tcss) stands in for it.
    # From ROOMY on, history and alerts stand beside the tables all the time (app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (COMPACT_BELOW[0], "-wide"), (ROOMY[0], "-wider")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (COMPACT_BELOW[1], "-tall"), (ROOMY[1], "-taller")]
    #: The keys that hold on every screen; the dashboard's own are MainScreen's.
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    #: --kiosk (a wall screen, a served page anyone may click): keys that would end or freeze the
    #: view do nothing, and the command palette (which can quit) does not open.
    KIOSK_BLOCKED = frozenset({"quit", "help_quit", "suspend_process", "command_palette", "toggle_pause"})
    kiosk = False
    #: Served (pmtui serve): each new verdict becomes the browser tab's title ("pmtui ✓ OK 10.7"),
    #: through the terminal title escape (OSC 2) that the page turns into document.title.
    page_title = False

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables plus pmtui's level colours for it (legible on this theme)."""
        variables = super().get_css_variables()
        variables.update(level_variables(variables))
        return variables

    def __init__(self, *, settings: Settings, client: PapiClient | None = None, title: str,
                 history: History | None = None, profile: str | None = None,
                 monitor: Monitor | None = None, start: bool = True,
                 accounts: Sequence[Account] | None = None) -> None:
        """`monitor` (or one built on `client`) supplies the states; `start=False` leaves it idle,
        for tests that publish hand-built states. `accounts` (more than one, see for_accounts):
        the Accounts overview first, every account's Monitor running, `monitor` the one shown."""
        super().__init__()
        self.stylesheet = Stylesheet(variables=self.get_css_variables())  # nothing is read into it yet
        if monitor is None:
            assert client is not None, "a client or a monitor"
            monitor = Monitor(settings=settings, client=client, history=history, profile=profile)
        self.monitor = monitor
        self.settings = settings
        self.client = monitor.client
        self.account_title = title
        self.start_monitor = start
        self.main = MainScreen()
        self._unsubscribe: Callable[[], None] | None = None
        #: The theme picked in the palette is saved (pmtui/tui/uistate.py) and used on the next start.
        self.remember_theme = True
        #: Once the first data is on screen, the objects of start-up (modules, Textual's widgets
        #: and styles) leave the garbage collector's sight (gc.freeze): they live as long as the
        #: process, and each full collection walked them all, ~100 ms of CPU holding the loop at
        #: times with a book of 1,000 positions. The CLI turns it on; off for tests, which run
        #: many apps in one process (each freeze would keep the last one's garbage for good).
        self.freeze_heap = False
        self._saved_theme: str | None = None
        #: Every account watched (pmtui.fleet.Account); empty for today's single account.
        self.accounts: list[Account] = list(accounts or []) if len(accounts or []) > 1 else []
        self._demo_titles = False
        self._deliverer: Deliverer | None = None
        self._held: Timer | None = None  # a "fetching…" state waiting for FETCHING_SHOWN_AFTER

    @classmethod
    def for_accounts(cls, accounts: Sequence[Account], *, demo: bool = False, start: bool = True) -> PmtuiApp:
        """The dashboard over several accounts (each with its Monitor, or the sentence why not),
        opening on the Accounts overview. At least one account must have a Monitor."""
        first = next(a for a in accounts if a.monitor is not None)
        assert first.settings is not None
        app = cls(settings=first.settings, monitor=first.monitor, title=first.profile, start=start,
                  accounts=accounts)
        app._demo_titles = demo
        app.account_title = app._title_for(first.profile)
        return app

    @classmethod
    def for_fleet(cls, fleet: Fleet) -> PmtuiApp:
        """The dashboard over a Fleet: one account's, or the Accounts overview of several."""
        if not fleet.single:
            return cls.for_accounts(fleet.accounts, demo=fleet.options.demo)
        account = fleet.accounts[0]
        assert account.settings is not None and account.monitor is not None
        o = fleet.options
        if o.demo:
            title = "DEMO" + (" hedge" if o.hedge else "") + (" margin-call" if o.scenario != "normal" else "")
        else:
            title = account.settings.profile
        return cls(settings=account.settings, monitor=account.monitor, title=title)

    def _title_for(self, profile: str) -> str:
        return f"DEMO {profile}" if self._demo_titles else shown(profile)

    def get_default_screen(self) -> MainScreen:
        return self.main

    # What the dashboard shows now (MainScreen's).
    @property
    def state(self) -> MonitorState | None:
        return self.main.state

    @property
    def view(self):
        return self.main.view

    @property
    def filter_text(self) -> str:
        return self.main.filter_text

    @property
    def show_all(self) -> bool:
        return self.main.show_all

    def visible_positions(self) -> list[PositionRow]:
        return self.main.visible_positions()

    # --- starting -------------------------------------------------------------------------

    def on_mount(self) -> None:
        saved = uistate.load_theme() if self.remember_theme else None
        if saved is not None and saved in self.available_themes and saved != self.theme:
            self.theme = saved
        self._saved_theme = saved
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.accounts:
            from pmtui.tui.widgets.overview import OverviewScreen

            self.push_screen(OverviewScreen(self.accounts))  # several accounts: their overview first

    def feed(self) -> None:
        """Once the dashboard is mounted (MainScreen.on_mount; the app's own mount comes before
        its default screen's), every Monitor's states reach the app as StateChanged, and they run.
        With several accounts every Monitor runs all the time (alerts fire for each); the
        dashboard shows the states of the one it is bound to, the others only toast their notices."""
        monitors = [a.monitor for a in self.accounts if a.monitor is not None] or [self.monitor]
        unsubscribes = [forward(monitor, self) for monitor in monitors]
        if self.start_monitor:
            for monitor in monitors:
                self.run_worker(monitor.run(), name="monitor", group="monitor", exit_on_error=False)
            self._deliver_alerts()

        def unsubscribe_all() -> None:
            for unsubscribe in unsubscribes:
                unsubscribe()

        self._unsubscribe = unsubscribe_all
        self.show_state(self.monitor.state, frozenset())

    def _toast(self, notice: Notice, profile: str | None = None) -> None:
        """A notice as a toast; with several accounts its title names the account's profile."""
        title = f"{shown(profile)} · {notice.title}" if profile else notice.title
        self.notify(notice.message, title=title, severity=notice.severity,  # type: ignore[arg-type]
                    timeout=notice.timeout, markup=False)
        self.call_after_refresh(self._place_toasts)  # room for the newest
        if notice.bell:
            self.bell()  # the terminal bell: it reaches a person over SSH

    def open_account(self, profile: str) -> bool:
        """The Accounts overview's `enter`: bind the dashboard to this account's Monitor and show
        it. An account without one (its profile failed to load) stays on the overview, said why."""
        from pmtui.tui.widgets.overview import OverviewScreen

        account = next((a for a in self.accounts if a.profile == profile), None)
        if account is None:
            return False
        if account.monitor is None or account.settings is None:
            self.notify(account.error or "This account is not watched.", title=shown(profile), severity="warning",
                        markup=False)
            return False
        if account.monitor is not self.monitor:
            self.monitor = account.monitor
            self.client = account.monitor.client
            self.settings = account.settings
            self.account_title = self._title_for(profile)
            self.query_one("#summary", SummaryBar).title = self.account_title
            self.query_one(HistoryPanel).clear()
            self.main.state = None
            self.show_state(self.monitor.state, frozenset({DATA}))
        while isinstance(self.screen, OverviewScreen):
            self.pop_screen()
        return True

    def on_overview_screen_opened(self, event: OverviewScreen.Opened) -> None:
        self.open_account(event.profile)

    def _theme_changed(self, theme: Theme) -> None:
        """Remember a new pick (the dashboard redraws itself: MainScreen._theme_changed)."""
        if self.remember_theme and theme.name != self._saved_theme:
            self._saved_theme = theme.name
            self.run_worker(partial(uistate.save_theme, theme.name), thread=True, name="save-theme",
                            exit_on_error=False)

    def _deliver_alerts(self) -> None:
        """Alerts off the terminal too (apprise routes, repeats, heartbeat: pmtui.delivery)."""
        from pmtui.delivery import Deliverer
        from pmtui.fleet import Account

        def say(sentence: str, severity: str = "warning") -> None:
            self.notify(sentence, title="Alert routes", severity=severity, timeout=15, markup=False)  # type: ignore[arg-type]

        self._deliverer = Deliverer.for_accounts(self.accounts or [Account(self.monitor.profile, self.settings,
                                                                           self.monitor)], on_problem=say)
        for problem in self._deliverer.problems:
            say(problem, "error")
        self._deliverer.start()

    async def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._deliverer is not None:
            await self._deliverer.aclose()
        if self.accounts:
            import asyncio

            await asyncio.gather(*(a.monitor.aclose() for a in self.accounts if a.monitor is not None))
            return
        await self.monitor.aclose()

    # --- states -----------------------------------------------------------------------------

    def receive(self, state: MonitorState) -> None:
        """`state` as if the dashboard's Monitor published it (tests hand-build states)."""
        self.post_message(StateChanged(self.monitor.profile, state))

    def on_state_changed(self, message: StateChanged) -> None:
        """A state, or a burst merged into one (pmtui/tui/bridge.py): the dashboard's account's is
        shown, with the alerts and notices of every state in the burst; another account's only
        toasts its notices (the Accounts overview listens for itself)."""
        state = message.state
        if message.profile != self.monitor.profile:
            for notice in state.notices:
                self._toast(notice, message.profile)
            return
        if self._held is not None:  # this state is newer: it says everything the held one did
            self._held.stop()
            self._held = None
        if message.changed == {STATUS} and state.status.fetching and not state.notices:
            self._held = self.set_timer(FETCHING_SHOWN_AFTER, partial(self._show_held, state))
            return
        self._show_new(state)

    def _show_held(self, state: MonitorState) -> None:
        self._held = None
        self._show_new(state)

    def _show_new(self, state: MonitorState) -> None:
        try:
            with self.batch_update():
                self._announce(state)
                self.show_state(state)
        except NoMatches:
            pass  # a state that arrives while the app shuts down has nothing left to draw on
        if self.freeze_heap and state.view is not None:
            self.freeze_heap = False  # once
            gc.freeze()

    def show_state(self, state: MonitorState, changed: frozenset[str] | None = None) -> None:
        """Render `state` on the dashboard (what changed decides how much is redrawn)."""
        self.main.show_state(state, changed)
        if self.page_title:
            self._send_title(title_of(state))

    def _send_title(self, title: str) -> None:
        if title != getattr(self, "_sent_title", None) and self._driver is not None:
            self._sent_title = title
            self._driver.write(f"\x1b]2;{title}\x07")

    def _announce(self, state: MonitorState) -> None:
        """Alerts into the log, and the state's notices as toasts (and the bell)."""
        if ALERTS in state.changed and state.alerts:
            panel = self.query_one(HistoryPanel)
            facts = self.query_one("#account-facts", AccountFacts)
            for event in state.alerts:
                panel.log_alert(event, facts.level_style(event.level))
        for notice in state.notices:
            self._toast(notice, self.monitor.profile if self.accounts else None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.name == "monitor":
            # Monitor.run never raises a fault; this is the last line of defence against a bug.
            log.debug("monitor failed", exc_info=event.worker.error)
            self.notify("pmtui stopped refreshing after an internal error; run with --debug and "
                        "report the log.", title="Internal error", severity="error", markup=False)

    # --- rendering --------------------------------------------------------------------------

    def status_info(self):
        """What the status bar shows now (the Monitor's own, current to this moment)."""
        return self.monitor.status_info()

    def on_resize(self) -> None:
        self.call_after_refresh(self._place_toasts)

    def _place_toasts(self) -> None:
        """Keep toasts between the account panel and the status bar (app.tcss puts them over the
        positions): the status bar grows when its sentence wraps, and the room above it follows.
        The compact view has no status bar: app.tcss alone places them there."""
        try:
            status, panel = self.query_one("#status", StatusBar), self.query_one("#account", AccountPanel)
            rack = status.screen.query_one(ToastRack)
        except NoMatches:
            return
        styles = rack.styles
        if not (status.display and panel.display and status.region and panel.region):
            styles.clear_rule("margin")
            styles.clear_rule("max_height")
            return
        below = self.size.height - status.region.y  # the status bar and the footer
        room = max(0, status.region.y - panel.region.bottom)
        if styles.margin.bottom != below or styles.max_height != Scalar.from_number(room):
            styles.margin = (0, 0, below, 0)
            styles.max_height = room
        self._trim_toasts(rack, room)

    def _trim_toasts(self, rack: ToastRack, room: int, tries: int = 5) -> None:
        """Toasts that do not fit the room wait below the older ones, hidden (Textual cannot
        scroll the hidden rack): at 80x24 three alerts 2 s apart hid the newest below its title.
        The newest is the one to read (the log keeps them all): the oldest give way to it."""
        toasts = list(rack.query(Toast))
        if len(toasts) < len(self._notifications) or any(not t.region.height for t in toasts):
            if tries:  # not mounted or not laid out yet: again after the next refresh
                self.call_after_refresh(lambda: self._trim_toasts(rack, room, tries - 1))
            return
        tall = [t.region.height + t.styles.margin.top + t.styles.margin.bottom for t in toasts]
        used = sum(tall)
        for toast, height in zip(toasts[:-1], tall, strict=False):
            if used <= room:
                break
            used -= height
            toast._expire()  # as its timeout would: forgotten, and its holder removed with it

    # --- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.kiosk and action in self.KIOSK_BLOCKED)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        yield SystemCommand("Refresh now", "Fetch the account now (r)", main.action_refresh_now)
        yield SystemCommand("Pause or resume", "Stop or restart refreshing (p)", main.action_toggle_pause)
        yield SystemCommand("Filter positions", "Narrow positions by symbol, side, asset… (/)",
                            main.action_filter)
        yield SystemCommand("Show all rows", "Toggle zero positions, assets and balances (a)",
                            main.action_toggle_all)
        yield SystemCommand("Sort positions", "Sort by the next column (s)",
                            self.query_one(PositionsTable).action_cycle_sort)
        yield SystemCommand("Sort positions by…", "Pick any column (o)",
                            self.query_one(PositionsTable).action_sort_menu)
        yield SystemCommand("Reverse sort", "Reverse the positions sort (S)",
                            self.query_one(PositionsTable).action_reverse_sort)
        yield SystemCommand("Refresh less often", "Longer interval (+)", main.action_slower)
        yield SystemCommand("Refresh more often", "Shorter interval (-)", main.action_faster)
        yield SystemCommand("What-if", "Move prices and see uniMMR after it (w)", main.action_what_if)
        yield SystemCommand("Stress ladder", "uniMMR after -50% … +50%, book and each underlying (L)",
                            main.action_ladder)
        yield SystemCommand("History and alerts", "Charts and the alert log (h; H: 1 h, 24 h, 7 d)",
                            main.action_toggle_history)
        yield SystemCommand("Help", "Keys and colours (?)", self.action_help)
        if self.accounts:
            yield SystemCommand("Accounts", "Every account, worst first (esc)", main.action_accounts)
