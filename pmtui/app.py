"""The Textual dashboard. The pollers fill the data; widgets only render views of it.

A refresh runs in a worker: the UM account and positionRisk, then `/papi/v1/account` when its own
slower cadence is due, or sooner when the UM account moved enough to change uniMMR's band (never
closer than MIN_ACCOUNT_INTERVAL). The next refresh is armed with a timer only after the last one
finished, so requests never overlap and a slow exchange slows the dashboard down instead of piling up.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.content import Content
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.css.query import NoMatches
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from pmtui import filters, fmt
from pmtui.alerts import CLEARED, Alerts, AlertState, Notifier
from pmtui.budget import REFRESH_WEIGHT
from pmtui.client import PapiClient
from pmtui.config import MIN_ACCOUNT_INTERVAL, Settings
from pmtui.errors import AuthError
from pmtui.health import Level, Totals, Verdict, ratio_level, totals
from pmtui.history import History, SessionSeries, sample_from_view
from pmtui.models import PmAccount, PositionRisk, UmAccount
from pmtui.poller import Poller
from pmtui.risk import estimate_unimmr
from pmtui.snapshot import refused
from pmtui.text import clean
from pmtui.views import AccountView, PositionRow, build_view
from pmtui.widgets.account import AccountFacts, AccountPanel
from pmtui.widgets.assets import AssetsTable
from pmtui.widgets.detail import DetailScreen
from pmtui.widgets.help import HelpScreen
from pmtui.widgets.history import HistoryPanel
from pmtui.widgets.positions import PositionsTable
from pmtui.widgets.status import StatusBar, StatusInfo
from pmtui.widgets.summary import CompactView, SummaryBar
from pmtui.widgets.whatif import WhatIfScreen
from pmtui.widgets.table import KeyedTable

log = logging.getLogger(__name__)

#: Seconds between two refreshes that `r` may start (the weight budget caps the rest anyway).
REFRESH_DEBOUNCE = 1.0
# The steps `+` and `-` move the refresh interval through, in seconds.
INTERVAL_STEPS = (1, 2, 3, 5, 10, 15, 30, 60, 120, 300)
# (columns, lines) the full dashboard needs; a smaller terminal gets the compact view.
COMPACT_BELOW = (60, 18)


class PmtuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "pmtui"
    # Below these sizes the dashboard does not fit: the compact view (app.tcss) stands in for it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (COMPACT_BELOW[0], "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (COMPACT_BELOW[1], "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "toggle_pause", "Pause"),
        # The filter's keys are priority bindings that move focus at once: keys typed right behind
        # them (fast typing, a paste, a laggy SSH link) then reach the new focus, not the old one
        # (where "/arb" would toggle rows and refresh, or "esc j" would type into the hidden box).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("enter", "filter_done", "Done", show=False, priority=True),
        Binding("a", "toggle_all", "All rows"),
        Binding("w", "what_if", "What-if"),
        Binding("h", "toggle_history", "History"),
        Binding("plus", "slower", "Slower", key_display="+", show=False),
        Binding("minus", "faster", "Faster", key_display="-", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False, priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, *, settings: Settings, client: PapiClient, title: str,
                 history: History | None = None, profile: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.client = client
        self.account_title = title
        #: The UM account and positionRisk, every `interval` seconds.
        self.poller: Poller[tuple[UmAccount, tuple[PositionRisk, ...] | None]] = Poller(
            fetch=self._fetch_positions, interval=settings.interval, blocked_for=client.blocked_for
        )
        #: /papi/v1/account (uniMMR), weight 20: on its own slower cadence.
        self.account_poller: Poller[PmAccount] = Poller(
            fetch=client.pm_account, interval=settings.account_interval,
            min_interval=MIN_ACCOUNT_INTERVAL, blocked_for=client.blocked_for,
        )
        self._account_next: float | None = 0.0  # monotonic time the account is due; None: not polled
        self._account_tried: float | None = None  # monotonic time of the last account request
        #: Seconds between two refreshes `r` may start (tests that press r often may lower it).
        self.refresh_debounce = REFRESH_DEBOUNCE
        self._last_manual = -REFRESH_DEBOUNCE  # monotonic time `r` last started a refresh
        self._manual_timer: Timer | None = None
        self._account_basis: Totals | None = None  # the UM account's totals when uniMMR was fetched
        self._risk_note: str | None = None  # why positionRisk is missing, if the key may not read it
        self.alerts = Alerts.from_settings(settings)
        self.notifier = Notifier.from_settings(settings)
        self.series = SessionSeries()
        self.history = history  # --record: every refresh also goes to this SQLite file
        self.profile = profile or settings.profile
        self.view: AccountView | None = None
        self.filter_text = ""
        self.show_all = False
        self._fetching = False
        self._timer: Timer | None = None
        self._next_at: float | None = None
        self._last_error_kind: str | None = None

    # --- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SummaryBar(self.account_title, id="summary")
        yield CompactView(id="compact")
        yield AccountPanel(id="account")
        yield HistoryPanel(id="history")
        yield AssetsTable(id="assets")
        yield Input(placeholder="filter: btc  side:long  asset:USDC  loss  profit  level:warn",
                    id="filter")
        yield PositionsTable(id="positions")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#assets").border_title = "Assets"
        self.query_one("#filter").display = False
        self.query_one("#history").display = False
        self.query_one(PositionsTable).focus()
        self._title_positions()
        self.set_interval(1.0, self._tick)
        self._start_poll()

    async def on_unmount(self) -> None:
        await self.notifier.drain(timeout=2)
        await self.client.aclose()

    # --- polling ----------------------------------------------------------------------------

    def _start_poll(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._next_at = None
        if self._fetching:
            return
        self._fetching = True
        self.run_worker(self._poll(), name="poll", group="poll", exit_on_error=False)

    async def _poll(self) -> None:
        try:
            ok = await self.poller.poll()
            if ok and self._account_spaced() and (self._account_due() or self._band_moving()):
                self._account_tried = time.monotonic()
                if await self.account_poller.poll():
                    self._account_basis = totals(self.poller.data[0])
                delay = self.account_poller.delay()
                self._account_next = None if delay is None else time.monotonic() + delay
        finally:
            self._fetching = False
        self._after_poll(ok)

    async def _fetch_positions(self) -> tuple[UmAccount, tuple[PositionRisk, ...] | None]:
        account = await self.client.um_account()
        if self._risk_note is not None:
            return account, None
        try:
            return account, await self.client.position_risk()
        except AuthError as err:
            # A key that may not read positionRisk: the positions still show, without prices.
            # Any other failure fails this refresh (STALE) and is retried on its cadence.
            self._risk_note = refused("/papi/v1/um/positionRisk", err)
            return account, None

    def _account_spaced(self) -> bool:
        """Never sooner than MIN_ACCOUNT_INTERVAL after the last account request, whatever asks
        (its cadence, `r`, a moving band): a held `r` must not send the 20-weight endpoint often."""
        tried = self._account_tried
        return tried is None or time.monotonic() - tried >= MIN_ACCOUNT_INTERVAL

    def _account_due(self) -> bool:
        """Its cadence is due (or `r` asked)."""
        return self._account_next is not None and time.monotonic() >= self._account_next

    def _band_moving(self) -> bool:
        """Whether the UM account moved enough since the last uniMMR to change its band: then the
        account is fetched now instead of at its cadence (spacing apart), but not while it backs
        off after a fault."""
        a, basis = self.account_poller, self._account_basis
        if self._account_next is None or a.data is None or basis is None or a.error is not None:
            return False
        guess = estimate_unimmr(a.data, totals(self.poller.data[0]), basis)
        t = self.settings.thresholds
        return ratio_level(guess, t) != ratio_level(a.data.uniMMR, t)

    def verdict(self) -> Verdict | None:
        """The account's verdict as the screen must say it: stale when the UM account or the
        uniMMR shown is not current; from the UM ratio only if the key may not read uniMMR."""
        if self.view is None:
            return None
        a = self.account_poller
        stale = self.poller.stale or (self.view.pm is not None and a.stale)
        return self.view.verdict(stale=stale, refused=a.stopped)

    def _unimmr_age(self) -> str:
        """How old the ratio in the big digits is (uniMMR's own fetch, or the UM account's)."""
        p = self.account_poller if self.view is not None and self.view.pm is not None else self.poller
        age = p.age()
        return fmt.age(age) if age is not None else ""

    def _account_note(self) -> str | None:
        """Why the account panel has no (current) uniMMR, in a few words."""
        a = self.account_poller
        if a.stopped and a.error is not None:
            return f"unavailable: {a.error.message}"
        if a.error is not None:
            return f"stale: {a.error.message}"
        return self._risk_note

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker.name == "poll":
            # Poller.poll never raises; this is the last line of defence against a bug.
            log.debug("poll worker failed", exc_info=event.worker.error)
            self._fetching = False
            self._arm()
        elif event.worker.name == "record" and self.history is not None:
            self.history = None  # one message, not one per refresh
            self.notify(f"{event.worker.error} Recording stopped.", title="History", severity="warning",
                        markup=False)

    def _record(self, view: AccountView) -> None:
        sample = sample_from_view(view, self.profile)
        self.series.add(sample)
        if self.history is not None:
            self.run_worker(self.history.arecord(sample), name="record", group="record",
                            exit_on_error=False)

    def _check_alerts(self) -> None:
        """Run the alert rules on what is on screen; announce what starts (or stops) holding."""
        events = self.alerts.evaluate(AlertState(self.view, self.poller.age()), time.time(),
                                      mono=time.monotonic())
        if not events:
            return
        self.notifier.send(events)  # the command hook gets every event, cleared ones included
        shown = self.alerts.for_people(events)
        panel = self.query_one(HistoryPanel)
        facts = self.query_one("#account-facts", AccountFacts)
        for event in shown:
            panel.log_alert(event, facts.level_style(event.level))
        fired = [e for e in shown if e.state != CLEARED]
        if fired:
            # One toast per refresh, however many rules started to hold: the log has them all.
            worst = max(fired, key=lambda e: e.level)
            more = f" (+{len(fired) - 1} more: h shows the log)" if len(fired) > 1 else ""
            self.notify(worst.message + more, title="Alert", timeout=8, markup=False,
                        severity="error" if worst.level >= Level.DANGER else "warning")
            self.bell()  # the terminal bell: it reaches a person over SSH
        elif shown:
            self.notify(shown[0].message, title="Alert cleared", timeout=4, markup=False)

    def _after_poll(self, ok: bool) -> None:
        try:
            self._show_poll(ok)
        except NoMatches:
            pass  # a fetch that ends while the app shuts down has nothing left to draw on

    def _show_poll(self, ok: bool) -> None:
        p = self.poller
        if ok:
            account, risks = p.data
            self.view = build_view(account, self.settings.thresholds, risks=risks,
                                   pm=self.account_poller.data)
            self._record(self.view)
            if self._last_error_kind is not None:
                self.notify("Live data again.", title="Recovered", timeout=3, markup=False)
            self._last_error_kind = None
        elif p.error is not None and p.error.kind != self._last_error_kind:
            self._last_error_kind = p.error.kind
            self.notify(p.error.message, title="Refresh failed" if not p.stopped else "Action needed",
                        severity="error" if p.stopped else "warning", timeout=6, markup=False)
        self._render_view()
        self._check_alerts()
        self._arm()
        self._render_status()

    def _arm(self) -> None:
        delay = self.poller.delay()
        if delay is None:
            self._next_at = None
            return
        self._next_at = time.monotonic() + delay
        self._timer = self.set_timer(delay, self._start_poll)

    # --- rendering --------------------------------------------------------------------------

    def visible_positions(self) -> list[PositionRow]:
        if self.view is None:
            return []
        rows: Iterable[PositionRow] = self.view.positions if self.show_all else self.view.open_positions
        predicate = filters.parse(self.filter_text)
        return [r for r in rows if predicate(r)] if predicate else list(rows)

    def _render_view(self) -> None:
        view = self.view
        stale = self.poller.stale
        self._render_verdict()
        for table in self.query("#assets, #positions"):
            table.set_class(stale, "-stale")
        if view is None:
            return
        history = self.query_one(HistoryPanel)
        if history.display:
            history.show(self.series)
        self.query_one(AssetsTable).show(view.visible_assets(self.show_all))
        self.query_one(PositionsTable).show(self.visible_positions())
        self._title_positions()
        if isinstance(self.screen, DetailScreen):
            self.screen.show(view.row(self.screen.key))

    def _render_verdict(self) -> None:
        """Everywhere the account's verdict shows: the header, the big digits, the compact view."""
        view, verdict = self.view, self.verdict()
        age, note = self._unimmr_age(), self._account_note()
        self.query_one(SummaryBar).show(view, verdict)
        panel = self.query_one(AccountPanel)
        panel.show(view, note, verdict, age, fallback=self.account_poller.stopped)
        panel.set_class(verdict is not None and verdict.stale, "-stale")
        info = self.status_info()
        if info.error is not None:
            problem = info.error.message
        else:  # uniMMR's own fault, when that is what makes it stale or unknown
            problem = note if verdict is not None and (verdict.stale or verdict.unknown) else None
        self.query_one(CompactView).show(
            self.account_title, view, verdict, age, self.query_one(StatusBar).state_word(info),
            fmt.age(info.age) if info.age is not None else "", problem,
        )

    def _title_positions(self) -> None:
        table = self.query_one(PositionsTable)
        shown = table.row_count
        total = len(self.view.positions if self.show_all else self.view.open_positions) if self.view else 0
        title = f"Positions {shown}" if shown == total else f"Positions {shown} of {total}"
        title += " (all rows)" if self.show_all else " (open)"
        if self.filter_text.strip():
            title += f" · filter: {clean(self.filter_text)}"
        subtitle = f"sort: {table.sort_description}"
        # Each assignment repaints the whole table, even with the same text: only on a change.
        # Content, not a str: a str title is parsed as markup, and "[/]" in the filter raised.
        content = Content(title)
        if table.border_title != content.markup:
            table.border_title = content
        if table.border_subtitle != subtitle:
            table.border_subtitle = subtitle

    def status_info(self) -> StatusInfo:
        p = self.poller
        return StatusInfo(
            paused=p.paused,
            stopped=p.stopped,
            stale=p.stale,
            error=p.error,
            age=p.age(),
            last_ok_wall=p.last_ok_wall,
            interval=p.interval,
            next_in=None if self._next_at is None else self._next_at - time.monotonic(),
            fetching=self._fetching,
            latency_ms=self.client.latency_ms,
            used_weight=self.client.used_weight,
            offset_ms=self.client.time_offset_ms,
            budget_wait=self.client.budget.wait_for(REFRESH_WEIGHT),
        )

    def _render_status(self) -> None:
        self.query_one(StatusBar).show(self.status_info())

    def _tick(self) -> None:
        try:
            self._tick_now()
        except NoMatches:
            pass  # the app is shutting down: its widgets are already gone

    def _tick_now(self) -> None:
        stale = self.poller.stale
        if stale != self.query_one("#positions").has_class("-stale"):
            self._render_view()  # data just aged past the stale limit
        else:
            self._render_verdict()  # ages, and uniMMR's own staleness
        age = self.poller.age()
        if self.view is not None and age is not None and age > self.poller.interval:
            # A refresh is overdue: "stale for N seconds" can start to hold without one arriving.
            # (Otherwise each refresh already ran the rules.)
            self._check_alerts()
        self._render_status()

    # --- actions ----------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        """`r`: refresh now, at most once per `refresh_debounce` s; a press inside that window (a held
        key, a key-repeat burst) is not lost but coalesced into one refresh at the window's end."""
        wait = self._last_manual + self.refresh_debounce - time.monotonic()
        if wait > 0:
            if self._manual_timer is None:
                self._manual_timer = self.set_timer(wait, self._manual_refresh)
            return
        self._manual_refresh()

    def _manual_refresh(self) -> None:
        self._manual_timer = None
        self._last_manual = time.monotonic()
        self.poller.reset_stop()
        self.account_poller.reset_stop()
        self._account_next = 0.0  # a person asked: fetch everything, and retry refused endpoints
        self._risk_note = None
        self._start_poll()
        self._render_status()

    def action_toggle_pause(self) -> None:
        self.poller.paused = not self.poller.paused
        if self.poller.paused:
            if self._timer is not None:
                self._timer.stop()
            self._next_at = None
        else:
            self._start_poll()
        self._render_status()

    def _step_interval(self, direction: int) -> None:
        current = self.poller.interval
        if direction > 0:
            steps = [s for s in INTERVAL_STEPS if s > current]
            new = steps[0] if steps else current
        else:
            steps = [s for s in INTERVAL_STEPS if s < current]
            new = steps[-1] if steps else current
        self.poller.interval = self.poller.clamp(new)
        if self._timer is not None and not self._fetching:
            self._timer.stop()  # count the new interval from now
            self._arm()
        self._render_status()

    def action_slower(self) -> None:
        self._step_interval(+1)

    def action_faster(self) -> None:
        self._step_interval(-1)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._render_view()

    def action_toggle_history(self) -> None:
        panel = self.query_one(HistoryPanel)
        panel.display = not panel.display
        if panel.display:
            panel.show(self.series)

    def action_what_if(self) -> None:
        if self.poller.data is None:
            self.notify("No account data yet: wait for the first refresh.", severity="warning", markup=False)
            return
        account, _risks = self.poller.data
        self.push_screen(WhatIfScreen(account, self.account_poller.data, self.settings.thresholds))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "filter_done", "clear_filter"):
            if self.screen is not self.screen_stack[0]:
                return False  # a modal (help, detail, palette) has these keys to itself
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
        self.screen.set_focus(box)  # now, not after the keys already queued (see BINDINGS)

    def action_filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value.strip())
        self.screen.set_focus(self.query_one(PositionsTable))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.display and not self.filter_text:
            return
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.screen.set_focus(self.query_one(PositionsTable))
        self._render_view()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            if event.value.strip():
                event.input.display = True  # an active filter is always shown, even if typed ahead of enter
            self.filter_text = event.value
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
            self.push_screen(DetailScreen(key, row))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh now", "Fetch the account now (r)", self.action_refresh_now)
        yield SystemCommand("Pause or resume", "Stop or restart refreshing (p)", self.action_toggle_pause)
        yield SystemCommand("Filter positions", "Narrow positions by symbol, side, asset… (/)",
                            self.action_filter)
        yield SystemCommand("Show all rows", "Toggle zero positions and assets (a)", self.action_toggle_all)
        yield SystemCommand("Sort positions", "Sort by the next column (s)",
                            self.query_one(PositionsTable).action_cycle_sort)
        yield SystemCommand("Reverse sort", "Reverse the positions sort (S)",
                            self.query_one(PositionsTable).action_reverse_sort)
        yield SystemCommand("Refresh less often", "Longer interval (+)", self.action_slower)
        yield SystemCommand("Refresh more often", "Shorter interval (-)", self.action_faster)
        yield SystemCommand("What-if", "Shock prices and estimate uniMMR (w)", self.action_what_if)
        yield SystemCommand("History and alerts", "Sparklines and the alert log (h)",
                            self.action_toggle_history)
        yield SystemCommand("Help", "Keys and colours (?)", self.action_help)
