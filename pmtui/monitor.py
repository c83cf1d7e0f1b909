"""The Monitor: everything pmtui knows about one account, with no Textual in sight.

It owns the client, the pollers and their cadences, the user data stream, view building,
the alert rules and recording, and publishes an immutable `MonitorState` after every change:
a fetch, a pushed event, a person's request, and a once-a-second tick (ages and countdowns).
The dashboard renders those states; `snapshot`, `check` and `watch` read the same ones, so the
screen and the headless commands can never disagree.

Cadences: the UM account and positionRisk every `interval` seconds; `/papi/v1/account` (uniMMR,
weight 20) on its own slower cadence, or sooner when the UM account moved enough to change
uniMMR's band, at the positions' pace while the account is at WARN or worse, and never closer
than MIN_ACCOUNT_INTERVAL to the last request, whatever asks; `/papi/v1/balance` (margin loans and
interest, weight 20 too) on the account's cadence and spacing, or sooner (still spaced) after a
pushed margin event. A fetch a push (or `r`) asked for but the spacing held back goes when the
spacing ends, not a whole interval later.
Between two uniMMR figures, the state carries an estimate: Binance's last figure moved by the live
uPnL since (`estimate`), shown marked as such; Binance's own figure replaces it when it comes, and
the verdict and alert rules judge Binance's figures only.
The next fetch is planned only after the last one finished, so requests never overlap and a slow
exchange slows pmtui down instead of piling up. While the push stream is up, `riskLevelChange`
updates uniMMR at once and uniMMR's own poll slows down by PUSH_SLOWDOWN (polling stays the
source of truth: Binance warns a riskLevelChange may arrive after liquidation began).

COIN-M (/papi/v1/cm/account, weight 5, and /papi/v1/cm/positionRisk, weight 1) rides along
with the UM refresh: on every one while the account holds a COIN-M position (its liquidation
distance is as urgent as a UM one's), else every CM_IDLE_INTERVAL seconds, sooner after a
pushed position event or `r`. So an account without COIN-M pays 5 weight a minute for it, not 6
per refresh; positionRisk is asked only while there is a position to price. A key that may not
read them: one sentence in `unavailable["cm"]`, the rest works, and the refused endpoint is not
asked again until `r`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pmtui.alerts import CLEARED, AlertEvent, Alerts, AlertState
from pmtui.budget import CM_WEIGHT, REFRESH_WEIGHT
from pmtui.cadence import Pacer, Standing
from pmtui.client import PapiClient
from pmtui.clock import Clock
from pmtui.endpoints import (
    BALANCE,
    CM_ACCOUNT,
    CM_ADL,
    CM_POSITION_RISK,
    PM_ACCOUNT,
    UM_ACCOUNT_CONFIG,
    UM_ADL,
    UM_POSITION_RISK,
    UM_TRADING_STATUS,
    Endpoint,
)
from pmtui.errors import PmtuiError
from pmtui.exposure import lock_reasons, usd_prices
from pmtui.health import Level, Totals, ratio_level, status_level, totals
from pmtui.history import History, sample_from_view
from pmtui.ledger import Ledger, LedgerView
from pmtui.market import Markets, load_cache, save_cache
from pmtui.markstream import AccountMarks, MarkFeed
from pmtui.model import RiskModel
from pmtui.models import (
    AdlQuantile,
    Balance,
    CmAccount,
    CmPositionRisk,
    PmAccount,
    PositionRisk,
    TradingStatus,
    UmAccount,
    UmAccountConfig,
)
from pmtui.notify import Notifier
from pmtui.poller import Poller
from pmtui.risk import Estimate, estimate_unimmr
from pmtui.riskfeed import RiskFeed, book_assets, build_model
from pmtui.schedule import Schedule
from pmtui.series import SessionSeries, nearest_liq
from pmtui.settings import MIN_ACCOUNT_INTERVAL, Settings, Thresholds
from pmtui.state import ALERTS, CLOCK, DATA, FAULT, LEDGER, MARKS, PUSH, RISK, STATUS, MonitorState, Notice, StatusInfo
from pmtui.stream import FUTURE_TOLERANCE_MS, AccountChange, PushStatus, RiskLevelChange, StreamEvent
from pmtui.views import AccountView, BalanceRow, balance_rows, build_view

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between two refreshes a person (`r`) may start; presses inside are coalesced into one.
REFRESH_DEBOUNCE = 1.0
#: Seconds a burst of pushed account events waits to become one REST refresh (and at most one
#: such refresh per refresh interval, however chatty the account: see _push_refresh).
PUSH_DEBOUNCE = 0.25
#: Seconds between two pushed riskLevelChanges taken to the screen and the rules: the first of a
#: burst at once, the newest of the rest when the spacing ends (a flood costs ~10 views a second).
RISK_SPACING = 0.1
#: While the stream is up, uniMMR's poll runs this many times slower (riskLevelChange covers the
#: moments that matter; the poll still corrects whatever the stream did not say).
PUSH_SLOWDOWN = 3
#: Seconds between the states published for the clock (ages, countdowns, staleness), counted
#: from the last state published: each state carries the ages, so a tick beside it repaints the
#: screen for nothing (issue 25: at a 1 s interval, two screen updates a second instead of one).
TICK = 1.0
#: Seconds a tick waits on for a refresh that is under way or due by then: its state carries the ages.
TICK_HOLD = 0.3
#: Seconds past the end of MIN_ACCOUNT_INTERVAL a held-back fetch's refresh is planned.
SPACING_MARGIN = 0.05
#: Seconds an account on the fleet's cadence waits at most before it looks at its cadence again:
#: as others calm down (or streams come up) the plan gives it a faster one, which it must follow.
PACE_RECHECK = 5.0
#: Seconds between COIN-M fetches while the account holds no COIN-M position.
CM_IDLE_INTERVAL = 60.0
#: Seconds between ADL quantile fetches (Binance: "Values update every 30s"), asked only while the
#: market (UM, COIN-M) holds a position: 5 weight each, so at most 20 a minute.
ADL_INTERVAL = 30.0
#: Seconds between trading-lock fetches (accountConfig 5 + apiTradingStatus 10: 15 weight a minute).
LOCKS_INTERVAL = 60.0
# The steps `+` and `-` move the refresh interval through, in seconds.
INTERVAL_STEPS = (1, 2, 3, 5, 10, 15, 30, 60, 120, 300)

#: Seconds after the first refresh before the ledger's first read (~300 weight): the account's own
#: figures come first, on screen and on the weight budget.
LEDGER_START_DELAY = 10.0


class Stream(Protocol):
    """What the Monitor needs of a push source (pmtui.stream.UserStream): run until cancelled,
    calling back on_push_event and on_push_status."""

    async def run(self) -> None: ...


# Pushed events that moved the UM positions: refresh the UM account and positionRisk.
POSITION_EVENTS = frozenset({"ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE"})
# Pushed events that moved the margin balances (loans, interest, transfers): refresh
# /papi/v1/balance too (spacing still applies).
BALANCE_EVENTS = frozenset({"liabilityChange", "outboundAccountPosition", "balanceUpdate"})
# Pushed events that moved what uniMMR is made of (UM balances, margin loans and balances, open
# order loss): refresh /papi/v1/account too (spacing still applies).
ACCOUNT_EVENTS = frozenset({"ACCOUNT_UPDATE", "liabilityChange", "outboundAccountPosition", "balanceUpdate",
                            "openOrderLoss"})


def risk_level(unimmr: Any, status: str | None, t: Thresholds) -> Level:
    """The level uniMMR and accountStatus stand for together (the worse of the two)."""
    return max(ratio_level(unimmr, t), status_level(status))


async def optional(fetch: Callable[[], Awaitable[T]], endpoint: Endpoint[Any]) -> tuple[T | None, str | None]:
    """An optional endpoint: its data, or None and why when it will not answer until a person
    acts (the table's `Endpoint.unavailable`: a refusal, or a 404 where that means "not served").
    Any other failure propagates, as it says nothing about the endpoint."""
    try:
        return await fetch(), None
    except PmtuiError as err:
        if (why := endpoint.unavailable(err)) is not None:
            return None, why
        raise


def _ok(outcome: T | BaseException) -> T:
    """A gathered part's value, once no part failed (fetch_once raises the first failure)."""
    assert not isinstance(outcome, BaseException)
    return outcome


def _note_refusal(schedule: Schedule, poller: Poller[Any]) -> None:
    """A poll's fault that means the endpoint will not answer until a person acts (a refusal, or
    a 404 where the table says that means "not served"): noted, and not asked again until `r`."""
    if poller.error is not None and (why := schedule.endpoint.unavailable(poller.error)) is not None:
        schedule.refusal = why


#: From this many open positions, a refresh builds its views in a worker thread
#: (_rebuild_off_loop); a smaller book's take a few ms, less than the hop.
OFF_LOOP_POSITIONS = 200


@dataclass(frozen=True)
class _ViewJob:
    """Everything one view is built from, read on the loop; calling it builds the view (pure CPU
    on immutable parts, so a worker thread may run it)."""

    fetched: UmAccount  # the UM account and positionRisk as REST sent them
    fetched_risks: tuple[PositionRisk, ...] | None
    fetched_cm: CmAccount | None
    fetched_cm_risks: tuple[CmPositionRisk, ...] | None
    account: UmAccount  # the same at the mark streams' prices, when they price it (`priced`)
    risks: tuple[PositionRisk, ...] | None
    cm: CmAccount | None
    cm_risks: tuple[CmPositionRisk, ...] | None
    priced: bool
    pm: PmAccount | None
    thresholds: Thresholds
    markets: Markets
    balances: tuple[Balance, ...] | None
    prices: Any
    brackets: tuple[Any, Any]
    adl: Any
    locks: tuple[str, ...]
    basis: AccountView | None  # the view Binance's uniMMR came with (what an estimate moves from)

    @property
    def size(self) -> int:
        """Open positions: the rows judged (the flat ones cost little, built when asked for)."""
        return len(self.account.open_positions) + (len(self.cm.open_positions) if self.cm is not None else 0)

    def __call__(self, prime: bool = False) -> _Built:
        """The view; `prime`: with the parts every consumer reads of it worked out too (in a
        worker thread, rather than on the loop that shows them)."""
        pm = self.pm
        view = build_view(self.account, self.thresholds, risks=self.risks, pm=pm, markets=self.markets,
                          cm=self.cm, cm_risks=self.cm_risks, balances=self.balances, prices=self.prices,
                          brackets=self.brackets, adl=self.adl, locks=self.locks)
        for part in ("positions", "exposure", "upnl", "maint_margin", "nearest_liquidation") if prime else ():
            getattr(view, part)
        basis = self.basis
        if pm is None or basis is None or basis.pm is not pm:
            # Binance's own figure just came (or there is none): it replaces any estimate. Its
            # basis is the positions it came with, not marks newer than both.
            if not self.priced:
                return _Built(self, view, view, None)
            basis = build_view(self.fetched, self.thresholds, risks=self.fetched_risks, pm=pm,
                               cm=self.fetched_cm, cm_risks=self.fetched_cm_risks)
            return _Built(self, view, basis, view.estimate_since(basis))
        if basis.account is not self.account or basis.cm is not self.cm:  # newer positions (or marks) than its
            return _Built(self, view, basis, view.estimate_since(basis))
        return _Built(self, view, basis, None)  # back on the positions Binance's figure came with


@dataclass(frozen=True)
class _Built:
    job: _ViewJob
    view: AccountView
    basis: AccountView  # the new estimate basis
    estimate: Estimate | None


class Monitor:
    """One account's truth. `run()` keeps it current; `subscribe` gets every new state."""

    #: Its states are its own (a viewer's RemoteMonitor is True: the daemon it shows delivers alerts).
    remote = False

    def __init__(self, *, settings: Settings, client: PapiClient, history: History | None = None,
                 profile: str | None = None, markets_cache: Path | None = None,
                 risk_feed: RiskFeed | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.client = client
        #: Every time and wait here (the client's clock unless given: one clock for the account).
        self.clock = clock if clock is not None else client.clock
        self.profile = profile or settings.profile
        #: The UM account and positionRisk, every `interval` seconds.
        self.poller: Poller[tuple[UmAccount, tuple[PositionRisk, ...] | None]] = Poller(
            fetch=self._fetch_positions, interval=settings.interval, blocked_for=client.blocked_for,
            clock=self.clock,
        )
        #: /papi/v1/account (uniMMR), weight 20: on its own slower cadence.
        self.account_poller: Poller[PmAccount] = Poller(
            fetch=self._fetch_pm, interval=settings.account_interval,
            min_interval=MIN_ACCOUNT_INTERVAL, blocked_for=client.blocked_for, clock=self.clock,
        )
        #: /papi/v1/balance (margin loans, interest, every wallet), weight 20 like the account:
        #: on the account's cadence and spacing, never more often.
        self.balance_poller: Poller[tuple[Balance, ...]] = Poller(
            fetch=client.balance, interval=settings.account_interval,
            min_interval=MIN_ACCOUNT_INTERVAL, blocked_for=client.blocked_for, clock=self.clock,
        )
        # When each endpoint beside the UM account is asked next, and why one is refused: the
        # same object for each (pmtui.schedule). positionRisk rides with the UM account; COIN-M
        # with it too, every CM_IDLE_INTERVAL s while no COIN-M position is open.
        self.account_schedule = Schedule(PM_ACCOUNT, self.account_poller.interval, MIN_ACCOUNT_INTERVAL)
        self.balance_schedule = Schedule(BALANCE, self.balance_poller.interval, MIN_ACCOUNT_INTERVAL)
        self.risk_schedule = Schedule(UM_POSITION_RISK, self.poller.interval)
        self.cm_schedule = Schedule(CM_ACCOUNT, CM_IDLE_INTERVAL)
        self.cm_risk_schedule = Schedule(CM_POSITION_RISK, CM_IDLE_INTERVAL)
        # The ADL queue and the trading locks: optional extras, each on its own cadence.
        self.adl_schedule = Schedule(UM_ADL, ADL_INTERVAL)
        self.cm_adl_schedule = Schedule(CM_ADL, ADL_INTERVAL)
        self.config_schedule = Schedule(UM_ACCOUNT_CONFIG, LOCKS_INTERVAL)
        self.trading_schedule = Schedule(UM_TRADING_STATUS, LOCKS_INTERVAL)
        self.adl: tuple[tuple[AdlQuantile, ...] | None, tuple[AdlQuantile, ...] | None] = (None, None)
        self.account_config: UmAccountConfig | None = None
        self.trading_status: TradingStatus | None = None
        self._extra_faults: dict[str, str] = {}  # endpoint path -> the last fault's sentence
        self.alerts = Alerts.from_settings(settings)
        self.notifier = Notifier.from_settings(settings)
        self.series = SessionSeries()
        self.history = history  # --record: every refresh also goes to this SQLite file
        #: --record through a pmtui.record.Recorder (it attaches itself): samples go to its writer.
        self.recorder: Any = None
        #: Seconds between two refreshes a person may start (tests that press r often lower it).
        self.refresh_debounce = REFRESH_DEBOUNCE
        self.push_debounce = PUSH_DEBOUNCE
        self.stream: Stream | None = None
        self.push: PushStatus | None = None
        self.view: AccountView | None = None
        #: COIN-M: the last CM account and positionRisk.
        self.cm: CmAccount | None = None
        self.cm_risks: tuple[CmPositionRisk, ...] | None = None
        self.fetching = False
        self.next_at: float | None = None  # monotonic time of the next planned fetch
        self.paused_since: float | None = None
        self._subscribers: list[Callable[[MonitorState], None]] = []
        self._seq = 0
        self._state: MonitorState | None = None
        self._published_at = -TICK  # monotonic time of the last state published (the ticker's)
        self._account_basis: Totals | None = None  # the UM account's totals when uniMMR was fetched
        #: The view built when the account object last came (fetched or pushed): what the estimate
        #: of uniMMR moves from; and that estimate, while newer positions than those are shown.
        self._estimate_basis: AccountView | None = None
        # Binance's last PmAccount and the risk model's gap to its uniMMR when it came (_rebuild).
        self._reconciled: tuple[PmAccount | None, Decimal | None] = (None, None)
        self.estimate: Estimate | None = None
        self._balance_rows: tuple[tuple[Balance, ...] | None, tuple[BalanceRow, ...]] = (None, ())
        self._last_manual = -REFRESH_DEBOUNCE  # monotonic time a person last started a refresh
        self._manual_handle: asyncio.TimerHandle | None = None
        self._push_handle: asyncio.TimerHandle | None = None
        self._push_fetched = float("-inf")  # monotonic time of the last push follow-up refresh
        self._wake = asyncio.Event()
        self._due = False  # a refresh was asked for: the loop fetches at once
        self._last_error_kind: str | None = None
        self._last_risk_event = 0  # E of the last riskLevelChange taken in (applied or not)
        self._pm_sent_ms = 0  # server time the last good /papi/v1/account request was sent
        self._risk_applied = float("-inf")  # monotonic time a pushed uniMMR was last applied
        self._risk_pending: tuple[int, PmAccount] | None = None  # (E, account) waiting its turn
        self._risk_handle: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._closed = False
        #: Each symbol's tick and step size (exchangeInfo, for display); empty until loaded.
        self.markets: Markets = {}
        #: Where exchangeInfo is cached (None: not cached, as for the demo).
        self.markets_cache = markets_cache
        #: The risk model's market inputs, shared by every account on this IP (pmtui.riskfeed).
        self.risk_feed = risk_feed
        self.risk: RiskModel | None = None
        self._risk_task: asyncio.Task[None] | None = None
        #: The fleet's shared mark price stream, as this account uses it (attach_marks).
        self.marks: AccountMarks | None = None
        self._marks_live = False  # whether the marks priced the account at the last frame
        #: Flows and forced fills, read minutes apart in the background (pmtui.ledger).
        self.ledger = Ledger(clock=self.clock, first_delay=LEDGER_START_DELAY)
        self._ledger_task: asyncio.Task[None] | None = None
        #: With --record, the ledger's rows are kept in the history file too (pmtui.ledgerstore).
        self.ledger_store: Any = None
        self._ledger_loaded = False
        #: The fleet's planner of REST cadences on its shared budget (pmtui.cadence); None: this
        #: account refreshes every `interval` seconds (one account, or a one-shot).
        self.pacer: Pacer | None = None
        self._refresh_started: float | None = None  # monotonic time the last refresh started
        self._slow = False  # on a cadence slower than its interval (calm, pushed)
        self._stagger = 1.0  # the part of the cadence the next slow refresh waits
        #: The refresh under way is a fleet account's first: only what the first screen needs.
        self._first_screen = False
        #: The refresh under way is the first of all: its parts go out at once (Monitor._parts).
        self._together = False
        self._views_taken = 0  # views built and taken: a view built off the loop meanwhile is older
        #: The UM account, positionRisk, COIN-M account and positionRisk the view was built from:
        #: what a state carries beside it (while a view is built off the loop, poller.data is newer).
        self._view_data: tuple[Any, Any, Any, Any] | None = None
        self._job_taken: _ViewJob | None = None  # what the view shown was built from
        self._building = False  # a view is being built off the loop

    # --- subscribing ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[MonitorState], None]) -> Callable[[], None]:
        """Call `callback` with every new state (from the Monitor's loop); returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    @property
    def state(self) -> MonitorState:
        """The latest state (built now if nothing was published yet)."""
        return self._state if self._state is not None else self._build(frozenset())

    def publish(self, *changed: str, alerts: Iterable[AlertEvent] = (),
                notices: Iterable[Notice] = ()) -> MonitorState:
        state = self._build(frozenset(changed), tuple(alerts), tuple(notices))
        self._state = state
        self._published_at = self.clock.monotonic()
        for callback in list(self._subscribers):
            try:
                callback(state)
            except Exception:  # a subscriber's bug must not stop the account being watched
                log.debug("state subscriber failed", exc_info=True)
        return state

    # --- running --------------------------------------------------------------------------

    def attach_stream(self, stream: Stream) -> None:
        """Push events from `stream` (a UserStream made with on_event=self.on_push_event and
        on_status=self.on_push_status); it runs beside the polling while `run()` does."""
        self.stream = stream
        self.push = PushStatus(up=False, reason="connecting to the exchange's user data stream",
                               since=self.clock.monotonic(), events=0)

    def attach_marks(self, feed: MarkFeed, cm_feed: MarkFeed | None = None) -> None:
        """Reprice the positions on the fleet's mark price streams (USD-M's, and COIN-M's for
        COIN-M positions) between REST refreshes."""
        self.marks = AccountMarks(feed, cm_feed)

    def _on_marks(self) -> None:
        """A frame of marks (or a change of the stream's health, or a tick): rebuild what moved."""
        if self._closed or self.marks is None or self.poller.data is None:
            return
        live = self.marks.live
        if self.pacer is not None and live != self._marks_live:
            # The marks' health moved the account on or off the slow cadence (`pushed`): plan
            # anew; off it (the stream stopped pricing it), REST reconciles now.
            was_pushed = self._marks_live and self.push is not None and self.push.up
            self.cadence(fresh=True)
            if was_pushed:
                self._ask()
        self._marks_live = live
        if self.marks.news(*self.poller.data, self.cm, self.cm_risks):
            self._rebuild()
            # Marks may raise an alert at once; only REST's figures clear one.
            self._publish_alerts([DATA, MARKS], self._evaluate(hold_clears=True))

    async def run(self) -> None:
        """Keep the account current until cancelled (or aclose). Never raises a fault."""
        loop = asyncio.get_running_loop()
        if self.marks is not None:
            for off in self.marks.subscribe(self._on_marks):
                self._tasks.append(loop.create_task(_until_cancelled(off), name="pmtui-marks-off"))
        self._tasks.append(loop.create_task(self._ticker(), name="pmtui-tick"))
        # Tick sizes beside the first data, never before it: until they come, 6 significant digits.
        starts: list[tuple[Callable[[], Coroutine[Any, Any, Any]], str]] = [(self.load_markets, "pmtui-markets")]
        if self.stream is not None:
            starts.append((self._run_stream, "pmtui-stream"))
        if self.pacer is None:
            self._start(starts)
            starts = []
        # In a fleet, after the first screen: 50 accounts' listen keys and exchangeInfo at once
        # would stand in front of their first data at the exchange.
        try:
            while not self._closed:
                self._due = False
                try:
                    try:
                        await self.refresh()
                    finally:
                        self._start(starts)
                        starts = []
                    await self._sleep_until_due()
                except Exception as err:  # a bug, not a fault: say so, keep the data, go on
                    self._internal_error("refreshing the account", err)
                    await self._wait_after_bug()
        finally:
            for task in self._tasks:
                task.cancel()

    def _start(self, starts: list[tuple[Callable[[], Coroutine[Any, Any, Any]], str]]) -> None:
        loop = asyncio.get_running_loop()
        for start, name in starts:
            self._tasks.append(loop.create_task(start(), name=name))

    def _internal_error(self, doing: str, err: Exception) -> None:
        """A bug inside the loop (not an exchange fault): logged for --debug, shown as one
        sentence, the data kept and marked stale; the loop carries on. Never raises."""
        log.debug("internal error while %s: %s", doing, type(err).__name__, exc_info=True)
        p = self.poller
        p.error = PmtuiError(f"Unexpected internal error while {doing}; retrying (run with --debug for details).")
        p.error.kind = "internal"
        p.failures += 1
        self.fetching = False
        if self._last_error_kind == "internal":
            notices = []
        else:
            self._last_error_kind = "internal"
            notices = [Notice("Internal error", p.error.message, "error", timeout=6)]
        try:
            self.publish(FAULT, notices=notices)
        except Exception:  # building the state is what fails: the next tick or refresh says it
            log.debug("publishing the internal error failed", exc_info=True)

    async def _wait_after_bug(self) -> None:
        """Back off like after a fault (a person's r or resume still wakes it)."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), self.poller.delay())
        except TimeoutError:
            pass

    async def aclose(self) -> None:
        """Stop everything, let the stream close its socket (its listen key is shared with the
        account's other consumers and left to expire), close the client."""
        self._closed = True
        self._wake.set()
        for handle in (self._manual_handle, self._push_handle, self._risk_handle):
            if handle is not None:
                handle.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), 3)
            except (asyncio.CancelledError, TimeoutError, Exception):
                pass
        self._tasks.clear()
        await self.notifier.drain(timeout=2)
        await self.client.aclose()

    async def __aenter__(self) -> Monitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run_stream(self) -> None:
        try:
            assert self.stream is not None
            await self.stream.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # UserStream.run never raises; if it did, polling carries on
            log.debug("stream stopped", exc_info=True)
            self.on_push_status(PushStatus(False, f"the push stream stopped ({type(err).__name__})",
                                           self.clock.monotonic(), 0))

    async def _ticker(self) -> None:
        wait = TICK
        while True:
            await self.clock.sleep(wait)
            wait = self._tick_wait()
            if wait > 0.01:  # a state came meanwhile (or a refresh is about to): it carries the ages
                continue
            wait = TICK
            try:
                self.tick()
            except Exception as err:  # the clock must keep going: a dead ticker freezes "LIVE (0s ago)"
                self._internal_error("updating the state", err)

    def _tick_wait(self) -> float:
        """Seconds until the clock's next tick: TICK after the last state published, TICK_HOLD
        more while a refresh is under way or due by then (its state comes instead)."""
        due = self._published_at + TICK
        if self.fetching or (self.next_at is not None and self.next_at <= due + TICK_HOLD):
            due += TICK_HOLD
        return due - self.clock.monotonic()

    def tick(self) -> MonitorState:
        """Ages move on: publish them, and run the rules when a refresh is overdue ("stale for
        N seconds" can start to hold without a fetch arriving)."""
        self._on_marks()  # a mark stream gone quiet is found by time passing, not by a frame
        age = self._late_age()
        events: list[AlertEvent] = []
        if self.view is not None and age is not None and age > self.poller.interval:
            # For "stale for N seconds": the rows are those the last evaluation read (every
            # new view is evaluated as it comes), so the rules on each position are not read.
            events = self._evaluate(positions=False)
        was_stale = self._state.stale if self._state is not None else False
        changed = [CLOCK] + ([DATA] if self.poller.stale != was_stale else [])
        return self._publish_alerts(changed, events)

    async def _sleep_until_due(self) -> None:
        """Wait for the next fetch: its delay, or until someone asks for one. A change of pace
        (pause, interval) wakes the wait to plan again from now. A fetch the spacing held back
        ends the wait when the spacing ends (then the whole refresh runs: its uPnL goes with it)."""
        while not self._closed:
            delay = self._rest_delay()
            held = self._held_until()
            early = delay is not None and held is not None and held - self.clock.monotonic() < delay
            if early:
                assert held is not None
                delay = max(0.0, held - self.clock.monotonic())
            self.next_at = None if delay is None else self.clock.monotonic() + delay
            self.publish(STATUS)
            if self._due:
                return
            self._wake.clear()
            if delay is not None and self.pacer is not None:
                delay = min(delay, PACE_RECHECK)  # the fleet's plan may have changed meanwhile
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                if early and self._held_until() is not None:
                    continue  # still held back (the timer fired early, or a test's clock stood still)
                if (self._paced_delay() or 0.0) > SPACING_MARGIN:
                    continue  # not due yet on the fleet's cadence (as it is now)
                return
            if self._due:
                return

    def _ask(self) -> None:
        self._due = True
        self._wake.set()

    def _held_until(self) -> float | None:
        """When an account or balance fetch that is due (a push or `r` asked for it) but was held
        back by MIN_ACCOUNT_INTERVAL may go: the next refresh comes then, not a whole interval
        later. None: nothing is held back (or the positions back off after a fault: the fetch
        waits for them, as it needs them)."""
        if self.poller.error is not None:
            return None
        now = self.clock.monotonic()
        acct, bal = self.account_schedule, self.balance_schedule
        times = [t for t in (acct.held_until(now) if self._account_due() else None, bal.held_until(now))
                 if t is not None]
        # A hair after the spacing ends, so the refresh it wakes finds it ended.
        return min(times) + SPACING_MARGIN if times else None

    # --- one refresh ----------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Fetch the UM account (and positionRisk), then uniMMR when due; publish the result."""
        if self._push_handle is not None:  # this refresh covers the pushed events that asked for one
            self._push_handle.cancel()
            self._push_handle = None
        self.fetching = True
        self.next_at = None
        self._refresh_started = self.clock.monotonic()
        self._stagger = 1.0
        self.publish(STATUS)
        # In a fleet, an account's first refresh asks only for its positions and uniMMR (the UM
        # account, positionRisk and /papi/v1/account: pmtui.budget.FIRST_SCREEN_WEIGHT): the fleet's
        # start-up loan (WeightBudget.lend) sends every account's at once, and balances and COIN-M
        # follow on the next refresh, asked for at once, instead of 50 accounts' full refreshes
        # queueing for a minute. uniMMR comes first so the fleet knows at once which accounts are
        # at WARN or worse: their requests go first from then on (pmtui.cadence, `standing`).
        # The first refresh of all (nothing on screen yet) sends its parts at once once the UM
        # account has synced the clock: first data waits for one round trip after it, not eight.
        # Later ones go one after another, as the budget serves them.
        self._together = self.poller.data is None
        self._first_screen = light = self.pacer is not None and self.poller.data is None
        try:
            ok = await self.poller.poll()
            data = self.poller.data if ok else None
            parts: list[Callable[[], Awaitable[None]]] = []
            if data is not None and self.account_schedule.spaced(self.clock.monotonic()) \
                    and (self._account_due() or self._band_moving()):
                parts.append(partial(self._poll_account, data[0]))
            if data is not None and not light and self.balance_schedule.ready(self.clock.monotonic()):
                parts.append(self._poll_balance)
            if data is not None and not light:
                parts.append(self._poll_extras)
            await self._parts(parts, together=self._together)
        finally:
            self._together = False
            self.fetching = False
            self._first_screen = False
        if light and ok:
            self._ask()  # the rest of the first refresh, next
        notices: list[Notice] = []
        p = self.poller
        if ok:
            await self._rebuild_off_loop()
            self._record()
            if self._last_error_kind is not None:
                notices.append(Notice("Recovered", "Live data again.", timeout=3))
            self._last_error_kind = None
        elif p.error is not None and p.error.kind != self._last_error_kind:
            self._last_error_kind = p.error.kind
            notices.append(Notice("Refresh failed" if not p.stopped else "Action needed", p.error.message,
                                  "error" if p.stopped else "warning", timeout=6))
        self._publish_alerts([DATA] if ok else [FAULT], self._evaluate(), notices)
        if ok and self.risk_feed is not None and self._risk_task is None:
            # In the background: a slow or throttled input never holds the account's refresh back.
            self._risk_task = asyncio.get_running_loop().create_task(self._refresh_risk())
            self._tasks.append(self._risk_task)
            self._risk_task.add_done_callback(self._forget)
        if ok and self._ledger_task is None and self.ledger.due():
            self._ledger_task = asyncio.get_running_loop().create_task(self._refresh_ledger())
            self._tasks.append(self._ledger_task)
            self._ledger_task.add_done_callback(self._forget)
        return ok

    async def _refresh_ledger(self) -> None:
        """Read what of the ledger is due (its faults are its own sentences); publish what came,
        with the alert for a new liquidation or ADL fill."""
        try:
            store = self.ledger_store
            if store is not None and not self._ledger_loaded:  # --record: what an earlier session read
                self._ledger_loaded = True
                await self.ledger.load(store, self.client.server_now_ms())
            before = self.ledger.version
            await self.ledger.update(self.client)
            if store is not None:
                await self.ledger.save(store, self.client.server_now_ms())
            if self.ledger.version != before:
                self._publish_alerts([LEDGER], self._evaluate())
        finally:
            self._ledger_task = None

    @staticmethod
    async def _parts(parts: Sequence[Callable[[], Awaitable[None]]], *, together: bool) -> None:
        """Run each part: `together` (a first refresh, a one-shot) all at once, the first failure
        in this order raised once every part has ended; else one after another, as the budget
        serves them, each started when its turn comes."""
        if not together:
            for part in parts:
                await part()
            return
        done = await asyncio.gather(*(part() for part in parts), return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _poll_account(self, um: UmAccount) -> None:
        """uniMMR (/papi/v1/account), on its cadence: slowed while the stream pushes."""
        acct = self.account_schedule
        acct.asked(self.clock.monotonic())
        if await self.account_poller.poll():
            self._account_basis = totals(um)
        delay = self.account_poller.delay()
        if delay is not None and self.push is not None and self.push.up:
            delay = min(delay * PUSH_SLOWDOWN, max(delay, 300.0))
        acct.plan(self.clock.monotonic(), delay)
        _note_refusal(acct, self.account_poller)

    async def _fetch_pm(self) -> PmAccount:
        """/papi/v1/account, noting when (server time) it was asked: a pushed riskLevelChange
        dated before that is older than the uniMMR it would replace."""
        sent = self.client.server_now_ms()
        pm = await self.client.pm_account()
        self._pm_sent_ms = max(self._pm_sent_ms, sent)
        return pm

    async def _refresh_risk(self) -> None:
        """Fetch the model's inputs that are due; when any came in, rebuild the model on them."""
        assert self.risk_feed is not None
        try:
            before = self.risk_feed.version
            await self._update_risk_feed()
            if self.risk_feed.version != before and self.poller.data is not None:
                self._rebuild()
                self._publish_alerts([RISK], self._evaluate())
        finally:
            self._risk_task = None

    async def _fetch_positions(self) -> tuple[UmAccount, tuple[PositionRisk, ...] | None]:
        sent = self.client.server_now_ms()
        account = await self.client.um_account()
        rs = self.risk_schedule
        risks: tuple[PositionRisk, ...] | None = None

        async def position_risk() -> None:
            # A key that may not read positionRisk: the positions still show, without prices. Any
            # other failure fails this refresh (STALE) and is retried on its cadence.
            nonlocal risks
            rs.asked(self.clock.monotonic())
            risks, rs.refusal = await optional(self.client.position_risk, rs.endpoint)

        parts: list[Callable[[], Awaitable[None]]] = [position_risk] if rs.refusal is None else []
        if self.cm_schedule.due(self.clock.monotonic()) and not self._first_screen:
            parts.append(self._fetch_cm)
        await self._parts(parts, together=self._together)
        if self.marks is not None:  # a mark older than this request is older than its positions
            self.marks.since_ms = sent
        return account, risks

    async def _poll_balance(self) -> None:
        """One balance fetch, on the account's cadence and spacing. A refusal, or a server that
        does not serve it (404), ends its polling until `r` (the pane says why, the rest goes on);
        any other fault keeps the last balances, marked stale, and retries with backoff."""
        bal = self.balance_schedule
        bal.asked(self.clock.monotonic())
        await self.balance_poller.poll()
        bal.plan(self.clock.monotonic(), self.balance_poller.delay())
        _note_refusal(bal, self.balance_poller)

    async def _fetch_cm(self, *, always_risk: bool = False) -> None:
        """The COIN-M account, and its positionRisk when a position is open (`always_risk`: in any
        case, for a one-shot). Refusals (and a 404) are remembered in their schedules; any other
        failure propagates, failing this refresh like the UM parts' would."""
        cs, crs = self.cm_schedule, self.cm_risk_schedule
        sent = self.client.server_now_ms()
        cs.asked(self.clock.monotonic())
        cm, cs.refusal = await optional(self.client.cm_account, cs.endpoint)
        risks = None
        if cm is not None and crs.refusal is None and (always_risk or cm.open_positions):
            crs.asked(self.clock.monotonic())
            risks, crs.refusal = await optional(self.client.cm_position_risk, crs.endpoint)
        self.cm, self.cm_risks = cm, risks
        if self.marks is not None:  # a COIN-M mark older than this request is older than its positions
            self.marks.cm_since_ms = sent
        held = cm is not None and bool(cm.open_positions)
        cs.plan(self.clock.monotonic(), 0.0 if held else cs.cadence)

    def _account_due(self) -> bool:
        """On its cadence (slowed while pushed), when asked for; and at the positions' pace while
        the account is at WARN or worse, when a stale uniMMR hides the most (unless it backs off).
        Never sooner than MIN_ACCOUNT_INTERVAL after the last request, whatever asks (its cadence,
        `r`, a moving band, a push): a held `r` must not send the 20-weight endpoint often."""
        acct, now = self.account_schedule, self.clock.monotonic()
        if acct.due_at is None or acct.refusal is not None:
            return False
        if acct.due(now):
            return True
        return (self._urgent() and self.account_poller.error is None and acct.tried is not None
                and now - acct.tried >= self.poller.interval)

    def _urgent(self) -> bool:
        """The account is at WARN or worse: by Binance's uniMMR or status, or by the verdict (a
        position near its liquidation price)."""
        pm, t = self.account_poller.data, self.settings.thresholds
        if pm is not None and max(ratio_level(pm.uniMMR, t), status_level(pm.accountStatus)) >= Level.WARN:
            return True
        return self.view is not None and self.view.level >= Level.WARN

    def _band_moving(self) -> bool:
        """Whether the UM account moved enough since the last uniMMR to change its band: then the
        account is fetched now instead of at its cadence, but not while it backs off after a fault."""
        a, basis = self.account_poller, self._account_basis
        if self.account_schedule.due_at is None or a.data is None or basis is None or a.error is not None:
            return False
        assert self.poller.data is not None
        guess = estimate_unimmr(a.data, totals(self.poller.data[0]), basis)
        t = self.settings.thresholds
        return ratio_level(guess, t) != ratio_level(a.data.uniMMR, t)

    def _rebuild(self) -> None:
        job = self._view_job()
        if job is not None:
            self._take_view(job())

    async def _rebuild_off_loop(self) -> None:
        """_rebuild, with a large book's views built in a worker thread: at 1,000 positions they
        are ~40 ms of pure CPU (and the exposure, rows and totals the screen reads ~50 ms more),
        which held every frame, key and pushed uniMMR back. What it built is taken on the loop,
        unless a rebuild on the same inputs or newer (a push, the marks) was taken meanwhile."""
        job = self._view_job()
        if job is None:
            return
        if job.size < OFF_LOOP_POSITIONS:
            self._take_view(job())
            return
        taken = self._views_taken
        self._building = True
        try:
            built = await asyncio.to_thread(job, True)
        finally:
            self._building = False
        if self._views_taken == taken and not self._closed:
            self._take_view(built)

    def _view_job(self) -> _ViewJob | None:
        """What the next view is built from, read now (on the loop), and how to build it."""
        if self.poller.data is None:
            return None
        fetched, fetched_risks = account, risks = self.poller.data
        cm, cm_risks = self.cm, self.cm_risks
        priced = None
        if self.marks is not None:  # between REST refreshes, the positions at the streams' marks
            feed = self.risk_feed.inputs()["um_brackets"] if self.risk_feed is not None else None
            priced = self.marks.apply(account, risks, feed, cm, cm_risks)
            if priced is not None:
                account, risks, cm, cm_risks = priced.account, priced.risks, priced.cm, priced.cm_risks
        inputs = self.risk_feed.inputs() if self.risk_feed is not None else {}
        return _ViewJob(
            fetched=fetched, fetched_risks=fetched_risks, fetched_cm=self.cm, fetched_cm_risks=self.cm_risks,
            account=account, risks=risks, cm=cm, cm_risks=cm_risks, priced=priced is not None,
            pm=self.account_poller.data, thresholds=self.settings.thresholds, markets=self.markets,
            balances=None if self.balance_schedule.refusal is not None else self.balance_poller.data,
            prices=usd_prices(inputs.get("index_prices")),
            brackets=(inputs.get("um_brackets"), inputs.get("cm_brackets")),
            adl=self.adl, locks=lock_reasons(self.account_config, self.trading_status),
            basis=self._estimate_basis)

    def _take_pm(self, pm: PmAccount) -> bool:
        """A pushed uniMMR on the view shown, its rows kept or judged again on the account's new
        level (AccountView.with_pm), when the view is of the positions polled last (none is being
        built off the loop): what a rebuild would make. Whether it was taken."""
        job, view, data = self._job_taken, self.view, self.poller.data
        if job is None or view is None or data is None or self._building:
            return False
        if not (job.fetched is data[0] and job.fetched_risks is data[1] and job.fetched_cm is self.cm
                and job.fetched_cm_risks is self.cm_risks):
            return False
        new = view.with_pm(pm)
        basis, estimate = new, None
        if job.priced:  # the estimate moves from the positions Binance's figure came with
            old = self._estimate_basis
            if old is None or old.account is not job.fetched or old.cm is not job.fetched_cm:
                return False
            basis = old.with_pm(pm)
            estimate = new.estimate_since(basis)
        self._take_view(_Built(replace(job, pm=pm), new, basis, estimate))
        return True

    def _take_view(self, built: _Built) -> None:
        job = self._job_taken = built.job
        self._views_taken += 1
        self._view_data = (job.fetched, job.fetched_risks, job.fetched_cm, job.fetched_cm_risks)
        self.view, self._estimate_basis, self.estimate = built.view, built.basis, built.estimate
        pm = job.pm
        if self.risk_feed is not None:
            # The gap to Binance's uniMMR is measured on the refresh that brought it (its positions
            # are of the same moment) and carried until the next one: positions seconds newer
            # than Binance's figure would make a fast market look like a wrong model.
            fresh = pm is not self._reconciled[0] or self._reconciled[1] is None
            # (So a fresh gap is measured on the fetched positions, never on newer stream marks.)
            self.risk = build_model(
                self.risk_feed, account=job.fetched if fresh else job.account,
                risks=job.fetched_risks if fresh else job.risks, pm=pm, balances=job.balances,
                cm=job.fetched_cm if fresh else job.cm, cm_risks=job.fetched_cm_risks if fresh else job.cm_risks,
                thresholds=self.settings.thresholds, now_ms=self.client.server_now_ms(),
                reconciled_gap=None if fresh else self._reconciled[1])
            if fresh:  # a gap measured on missing inputs says nothing: measured again next time
                self._reconciled = (pm, self.risk.gap if self.risk.complete else None)

    # --- the ADL queue and trading locks ----------------------------------------------------

    def _extra_schedules(self) -> tuple[Schedule, ...]:
        return (self.adl_schedule, self.cm_adl_schedule, self.config_schedule, self.trading_schedule)

    async def _poll_extras(self, *, always: bool = False) -> None:
        """Whatever of the ADL queue and the trading locks is due (`always`: all of it, for a
        one-shot); the ADL queue only of a market with an open position. A refusal (or a 404)
        stops that endpoint until `r`; any other fault keeps the last answer (its note says so)
        and is tried again on its cadence. Neither ever fails the refresh."""
        data = self.poller.data
        um_open = data is not None and bool(data[0].open_positions)
        cm_open = self.cm is not None and bool(self.cm.open_positions)
        jobs: list[tuple[Schedule, Callable[[], Awaitable[Any]], bool]] = [
            (self.adl_schedule, self.client.um_adl, um_open),
            (self.cm_adl_schedule, self.client.cm_adl, cm_open),
            (self.config_schedule, self.client.um_account_config, True),
            (self.trading_schedule, self.client.um_trading_status, True),
        ]
        async def one(schedule: Schedule, fetch: Callable[[], Awaitable[Any]]) -> None:
            schedule.asked(self.clock.monotonic())
            path = schedule.endpoint.path
            try:
                value, schedule.refusal = await optional(fetch, schedule.endpoint)
            except PmtuiError as err:
                self._extra_faults[path] = err.message
            else:
                self._extra_faults.pop(path, None)
                self._store_extra(schedule, value)
            schedule.plan(self.clock.monotonic(), schedule.cadence)

        due: list[Callable[[], Awaitable[None]]] = []
        for schedule, fetch, wanted in jobs:
            if not wanted:  # no position: no queue to be in (and no old figure shown later)
                self._store_extra(schedule, None)
            elif schedule.ready(self.clock.monotonic()) or always and schedule.refusal is None:
                due.append(partial(one, schedule, fetch))
        # A one-shot, a first refresh: all at once (each catches its own faults).
        await self._parts(due, together=always or self._together)

    def _store_extra(self, schedule: Schedule, value: Any) -> None:
        if schedule is self.adl_schedule:
            self.adl = (value, self.adl[1])
        elif schedule is self.cm_adl_schedule:
            self.adl = (self.adl[0], value)
        elif schedule is self.config_schedule:
            self.account_config = value
        else:
            self.trading_status = value

    def _extra_notes(self) -> dict[str, str]:
        """Why the ADL queue or the locks are not (current), by part: a refusal, or the last fault."""
        notes: dict[str, str] = {}
        for schedule in self._extra_schedules():
            part = schedule.endpoint.part
            fault = self._extra_faults.get(schedule.endpoint.path)
            why = schedule.refusal or (f"not current: {fault}" if fault else None)
            if part is not None and why and part not in notes:
                notes[part] = why
        return notes

    async def _update_risk_feed(self) -> None:
        """Whatever of the shared model inputs is due, for the assets this book holds (the
        feed's own faults are its sentences, never this refresh's)."""
        assert self.risk_feed is not None
        data = self.poller.data
        await self.risk_feed.update(self.client, book_assets(
            self.balance_poller.data, data[1] if data is not None else None, self.cm_risks))

    async def load_markets(self) -> bool:
        """Each symbol's tick and step size: from the cache when fresh, else from exchangeInfo
        (then cached). A failure is no fault: prices just keep 6 significant digits."""
        source = self.client.time_base_url
        path = self.markets_cache
        markets = load_cache(path, source, now=self.clock.time()) if path is not None else None
        if markets is None:
            try:
                markets = await self.client.exchange_info()
            except PmtuiError as err:
                log.debug("exchangeInfo unavailable (%s): prices keep 6 significant digits", err.kind)
                return False
            if path is not None and markets:
                try:
                    save_cache(path, markets, source, self.clock.time())
                except OSError as err:
                    log.debug("exchangeInfo cache not written: %s", err.strerror or type(err).__name__)
        if not markets:
            return False
        self.markets = markets
        if self.view is not None:
            await self._rebuild_off_loop()
            self.publish(DATA)
        return True

    def _record(self) -> None:
        if self.view is None:
            return
        sample = sample_from_view(self.view, self.profile, int(self.clock.time() * 1000))
        self.series.add(sample, nearest_liq(self.view))
        if self.recorder is not None:
            self.recorder.put_sample(sample)
        elif self.history is not None:
            task = asyncio.get_running_loop().create_task(self._record_to(self.history, sample))
            self._tasks.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _record_to(self, history: History, sample: Any) -> None:
        try:
            await history.arecord(sample)
        except PmtuiError as err:
            if self.history is history:
                self.history = None  # one message, not one per refresh
                self.publish(STATUS, notices=[Notice("History", f"{err.message} Recording stopped.",
                                                     "warning", timeout=8)])

    # --- alerts ---------------------------------------------------------------------------

    def _evaluate(self, *, hold_clears: bool = False, positions: bool = True) -> list[AlertEvent]:
        events = self.alerts.evaluate(AlertState(self.view, self._late_age(), self.risk, self._ledger_view()),
                                      self.clock.time(), mono=self.clock.monotonic(), hold_clears=hold_clears,
                                      positions=positions)
        if events:
            self.notifier.send(events)  # the command hook gets every event, cleared ones included
        return events

    def _publish_alerts(self, changed: list[str], events: list[AlertEvent],
                        notices: list[Notice] | None = None) -> MonitorState:
        """Publish, with the events people should see and one toast for them."""
        notices = list(notices or ())
        shown = self.alerts.for_people(events) if events else []
        fired = [e for e in shown if e.state != CLEARED]
        if fired:
            # One toast per state, however many rules started to hold: the log has them all.
            worst = max(fired, key=lambda e: e.level)
            more = f" (+{len(fired) - 1} more: h shows the log)" if len(fired) > 1 else ""
            notices.append(Notice("Alert", worst.message + more,
                                  "error" if worst.level >= Level.DANGER else "warning", timeout=8, bell=True))
        elif shown:
            # The all-clear: every rule that cleared, in a few words (the log has each in full).
            said = " ".join(e.message for e in shown[:2])
            more = f" (+{len(shown) - 2} more: h shows the log)" if len(shown) > 2 else ""
            notices.append(Notice("Alert cleared", said + more))
        if shown:
            changed = [*changed, ALERTS]
        return self.publish(*changed, alerts=shown, notices=notices)

    # --- what a person asks ---------------------------------------------------------------

    def refresh_now(self) -> None:
        """`r`: refresh everything now, retrying refused endpoints, at most once per
        `refresh_debounce` s; a press inside that window (a held key) is coalesced into one
        refresh at the window's end, not lost."""
        wait = self._last_manual + self.refresh_debounce - self.clock.monotonic()
        if wait > 0:
            if self._manual_handle is None:
                self._manual_handle = asyncio.get_running_loop().call_later(wait, self._manual_refresh)
            return
        self._manual_refresh()

    def _manual_refresh(self) -> None:
        self._manual_handle = None
        self._last_manual = self.clock.monotonic()
        self.poller.reset_stop()
        self.account_poller.reset_stop()
        self.balance_poller.reset_stop()
        self.ledger.retry()
        for schedule in (*self._schedules(), *self._extra_schedules()):  # a person asked: fetch
            schedule.retry()  # everything, retry refused endpoints
        if self.risk_feed is not None:
            self.risk_feed.refresh_now()
        self._ask()

    @property
    def manual_pending(self) -> bool:
        """A coalesced `r` waits for its debounce window to end."""
        return self._manual_handle is not None

    def poll_now(self) -> None:
        """The next planned fetch, now (no retry of stopped or refused endpoints)."""
        self._ask()

    def set_paused(self, paused: bool) -> None:
        self.poller.paused = paused
        self.paused_since = self.clock.time() if paused else None
        if not paused:
            self._due = True
        self._wake.set()

    def step_interval(self, direction: int) -> float:
        """`+`/`-`: the next slower or faster step; the new pace counts from now."""
        current = self.poller.interval
        if direction > 0:
            steps = [s for s in INTERVAL_STEPS if s > current]
            new = steps[0] if steps else current
        else:
            steps = [s for s in INTERVAL_STEPS if s < current]
            new = steps[-1] if steps else current
        return self.set_interval(new)

    def set_interval(self, seconds: float) -> float:
        """A new refresh interval (clamped), counted from now."""
        self.poller.interval = self.poller.clamp(seconds)
        self._wake.set()
        return self.poller.interval

    # --- the fleet's cadence (pmtui.cadence) -------------------------------------------------

    @property
    def pushed(self) -> bool:
        """This account's state is fed by pushes, so REST only reconciles it (on the fleet's slow
        cadence while it is calm): its user data stream is live (positions, balances, risk level)
        and the public mark price stream prices every open position (pmtui.markstream). Either one
        down, and the account polls at its own pace again. The one hook the cadence and the
        staleness judgement key off."""
        return self.push is not None and self.push.up and self.marks is not None and self.marks.live

    def level(self) -> Level | None:
        """How bad the account is now: the verdict's level, or Binance's uniMMR band and status if
        worse; None while it is not known (no data yet, or no uniMMR yet where the key may read it)."""
        if self.view is None:
            return None
        pm = self.account_poller.data
        if pm is None:
            known = self.account_schedule.refusal is not None or self.account_poller.stopped
            return self.view.level if known else None
        return max(self.view.level, risk_level(pm.uniMMR, pm.accountStatus, self.settings.thresholds))

    def standing(self) -> Standing:
        """What the fleet's planner needs to give this account its cadence."""
        level = self.level()
        every = self.account_poller.interval * (PUSH_SLOWDOWN if self.pushed else 1)
        urgent = level is not None and level >= Level.WARN
        # First in the budget's queue: at WARN or worse, or not known yet (first data for all
        # before a second refresh of any). Only an account without data spends the fleet's
        # start-up loan: the first screens of all before the rest of any.
        self.client.urgent = urgent or level is None
        self.client.first_screen = self.view is None
        self.client.at_risk = urgent
        return Standing(self.profile, level, self.pushed, self._refresh_started, self.poller.interval,
                        self.refresh_weight,
                        ((PM_ACCOUNT.weight, MIN_ACCOUNT_INTERVAL if urgent else every),
                         (BALANCE.weight, self.balance_poller.interval)))

    def cadence(self, *, fresh: bool = False) -> float:
        """Seconds between this account's refreshes: the fleet's plan, else its own interval."""
        planned = self.pacer.cadence(self.standing(), fresh=fresh) if self.pacer is not None else None
        return max(planned, self.poller.interval) if planned is not None else self.poller.interval

    def _rest_delay(self) -> float | None:
        """Seconds until the next refresh: the poller's (paused, stopped, backing off), or on the
        fleet's cadence from the start of the last refresh."""
        delay = self.poller.delay()
        paced = self._paced_delay() if delay is not None else None
        return delay if paced is None else paced

    def _paced_delay(self) -> float | None:
        """Seconds until the next refresh on the fleet's cadence, from the start of the last one;
        None: not paced (no fleet, never refreshed, or the poller backs off after a fault)."""
        if self.pacer is None or self._refresh_started is None or self.poller.error is not None:
            return None
        cadence = self.cadence()
        slow = cadence > self.poller.interval
        if slow and not self._slow:
            # The first slow refresh comes at a random point of the cadence: accounts that slowed
            # down together (at start, after a network blip) spread over it instead of all coming
            # due at once and queueing on the budget past their time.
            self._stagger = self.clock.random()
        self._slow = slow
        return max(0.0, self._refresh_started + cadence * (self._stagger if slow else 1.0) - self.clock.monotonic())

    def _slack(self) -> float:
        """Seconds of the data's age that are deliberate: a pushed account on a slow cadence is
        late (stale, "no fresh data") only past it. Without pushes, none."""
        cadence = self.cadence() if self.pacer is not None and self.pushed else 0.0
        for poller in (self.account_poller, self.balance_poller):  # they ride on its refreshes
            poller.slack = max(0.0, cadence - poller.interval)
        self.poller.slack = max(0.0, cadence - self.poller.interval)
        return self.poller.slack

    def _late_age(self) -> float | None:
        """Seconds the data is behind what its cadence promises (its age, less the slack)."""
        age = self.poller.age()
        return None if age is None else max(0.0, age - self._slack())

    # --- push -----------------------------------------------------------------------------

    def on_push_status(self, status: PushStatus) -> None:
        """From the stream: up, or down with its reason. Down: REST reconciles now and polls at
        the account's own pace again (the fleet plans anew)."""
        dropped = self.pushed and not status.up
        self.push = status
        if self.pacer is not None:
            self.cadence(fresh=True)
            if dropped:
                self._ask()
        acct = self.account_schedule
        if not status.up and acct.due_at is not None and self.account_poller.delay() is not None:
            # Push went down: uniMMR's poll goes back to its own cadence from its last fetch.
            tried = acct.tried or self.clock.monotonic()
            acct.due_at = min(acct.due_at, tried + self.account_poller.interval)
        self.publish(PUSH)

    def on_push_event(self, event: StreamEvent) -> None:
        """From the stream: apply a riskLevelChange at once; anything that moved the account asks
        for a (debounced, budgeted) REST refresh of what it touched."""
        if isinstance(event, RiskLevelChange):
            try:
                self._apply_risk(event)
            except Exception as err:  # a bug must not end the stream; REST confirms soon
                self._internal_error("applying a pushed risk level", err)
                self._push_refresh()
        elif isinstance(event, AccountChange) and event.kind in POSITION_EVENTS | ACCOUNT_EVENTS | BALANCE_EVENTS:
            if event.forced:  # Binance closed a position itself: the ledger's forced orders at once
                self.ledger.ask_forced()
            if event.kind in ACCOUNT_EVENTS:
                self.account_schedule.ask_now()  # uniMMR moved too
            if event.kind in BALANCE_EVENTS:
                self.balance_schedule.ask_now()  # a loan, its interest or a transfer: the balances moved
            if event.kind in POSITION_EVENTS:
                self.cm_schedule.ask_now()  # a COIN-M position may have opened (or moved)
            self._push_refresh()

    def _push_refresh(self) -> None:
        """One REST follow-up for however many pushed events: one pending at a time, at most one
        per refresh interval (a chatty account must not spend the weight every account on this
        IP shares, nor refresh more often than asked), and none once a refresh has started
        after the events came (it covers them: see refresh)."""
        if self._push_handle is not None or self._closed:
            return  # one refresh for a burst of events
        wait = max(self.push_debounce, self._push_fetched + self.poller.interval - self.clock.monotonic())

        def go() -> None:
            self._push_handle = None
            self._push_fetched = self.clock.monotonic()
            self._ask()

        self._push_handle = asyncio.get_running_loop().call_later(wait, go)

    def _apply_risk(self, event: RiskLevelChange) -> None:
        """uniMMR and status from the stream: on screen and through the rules now, if it is news
        and raises (or keeps) the level. Only REST lowers a level: Binance's pushes can be late,
        repeated or out of order, and a stale "all clear" must never end a live alert."""
        when = event.event_time
        if when > self.client.server_now_ms() + FUTURE_TOLERANCE_MS:
            return  # dated far ahead: bad input (the stream says so), never the watermark
        if when < max(self._last_risk_event, self._pm_sent_ms):
            return  # older than what is shown: the last event taken in, or the last REST uniMMR
        self._last_risk_event = when
        pm = self._risk_pending[1] if self._risk_pending is not None else self.account_poller.data
        fields = {"uniMMR": event.uniMMR, "accountStatus": event.status, "accountEquity": event.equity,
                  "actualEquity": event.actual_equity, "accountMaintMargin": event.maint_margin}
        update: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        if "uniMMR" not in update:
            return
        if pm is not None:
            t = self.settings.thresholds
            if (risk_level(update["uniMMR"], update.get("accountStatus", pm.accountStatus), t)
                    < risk_level(pm.uniMMR, pm.accountStatus, t)):
                # Better news than what is shown: let REST say so (soon, spacing kept).
                self.account_schedule.ask_now()
                self._push_refresh()
                return
            pushed = pm.model_copy(update=update)
        elif "accountEquity" in update and "accountMaintMargin" in update:
            pushed = PmAccount.model_validate({k: str(v) for k, v in update.items()})
        else:
            return  # nothing polled yet to complete it: the poll will bring uniMMR soon
        # Newest wins: a flood of events waits in one slot, not a queue.
        self._risk_pending = (when, pushed)
        wait = self._risk_applied + RISK_SPACING - self.clock.monotonic()
        if wait <= 0:
            self._apply_pending_risk()
        elif self._risk_handle is None:
            self._risk_handle = asyncio.get_running_loop().call_later(wait, self._apply_pending_risk)

    def _apply_pending_risk(self) -> None:
        self._risk_handle = None
        pending, self._risk_pending = self._risk_pending, None
        if pending is None or self._closed or pending[0] < self._pm_sent_ms:
            return  # REST answered since: it is newer
        self._risk_applied = self.clock.monotonic()
        self.account_poller.accept(pending[1])
        quick = self._take_pm(pending[1])
        if not quick:
            self._rebuild()
        self._publish_alerts([DATA, PUSH], self._evaluate(positions=not quick))
        # Binance may push a level change late (after liquidation began): confirm by REST soon.
        self.account_schedule.ask_now()
        self._push_refresh()

    # --- views of the state ---------------------------------------------------------------

    def _build(self, changed: frozenset[str], alerts: tuple[AlertEvent, ...] = (),
               notices: tuple[Notice, ...] = ()) -> MonitorState:
        self._seq += 1
        p, a = self.poller, self.account_poller
        self._slack()  # the staleness below knows the account's cadence
        view = self.view
        verdict = None
        refused_account = a.stopped or self.account_schedule.refusal is not None
        if view is not None:
            stale = p.stale or (view.pm is not None and a.stale)
            verdict = view.verdict(stale=stale, refused=refused_account)
        source = a if view is not None and view.pm is not None else p
        data = p.data
        account, risks = (data[0], data[1]) if data is not None else (None, None)
        cm, cm_risks = self.cm, self.cm_risks
        if view is not None and self._view_data is not None:  # the parts the view shows
            account, risks, cm, cm_risks = self._view_data
        unavailable = self._unavailable()
        fallback = a.stopped or "account" in unavailable
        b = self.balance_poller
        return MonitorState(
            seq=self._seq,
            changed=changed,
            view=view,
            verdict=verdict,
            status=self.status_info(),
            account=account,
            pm=a.data,
            risks=risks,
            cm=cm,
            cm_risks=cm_risks,
            unavailable=unavailable,
            account_note=self._account_note(),
            unimmr_age=source.age(),
            estimate=self.estimate,
            estimate_age=self._estimate_age(),
            fallback=fallback,
            alerts=alerts,
            notices=notices,
            # Refused: none, as a one-shot has (rows from before the refusal say nothing now).
            balances=None if "balance" in unavailable else b.data,
            balance_rows=() if "balance" in unavailable else self._judged_balances(),
            balance_stale=b.data is not None and "balance" not in unavailable and (b.stale or p.stale),
            balance_note=unavailable.get("balance") or self._balance_note(),
            risk=self.risk,
            ledger=self._ledger_view(),
            extra_notes=self._extra_notes(),
            adl=self.adl,
            locks=view.locks if view is not None else (),
        )

    def _estimate_age(self) -> float | None:
        """How old the estimate's inputs are: the marks' age while the stream prices them, else the
        positions' (the estimate moves from them)."""
        if self.estimate is None:
            return None
        if self.marks is not None and self.marks.age is not None:
            return self.marks.age
        return self.poller.age()
    def _ledger_view(self) -> LedgerView | None:
        return self.ledger.view() if self.ledger.version else None

    def _schedules(self) -> tuple[Schedule, ...]:
        return (self.account_schedule, self.balance_schedule, self.risk_schedule, self.cm_schedule,
                self.cm_risk_schedule)

    def _unavailable(self) -> dict[str, str]:
        """Why each optional part is missing, by part: its schedule's refusal (the same sentence
        whether a one-shot or the loop asked, for a refusal and for a 404 alike)."""
        parts: dict[str, str] = {}
        for schedule in self._schedules():
            part = schedule.endpoint.part
            if part is not None and part not in parts and schedule.refusal is not None:
                parts[part] = schedule.refusal
        return parts

    def _judged_balances(self) -> tuple[BalanceRow, ...]:
        """The balance rows, judged once per fetch (a state is published every second)."""
        data = self.balance_poller.data
        if self._balance_rows[0] is not data:
            self._balance_rows = (data, balance_rows(data or (), include_zero=True))
        return self._balance_rows[1]

    def _balance_note(self) -> str | None:
        b = self.balance_poller
        if b.error is None:
            return None
        return f"{'unavailable' if b.stopped else 'stale'}: {b.error.message}"

    def _account_note(self) -> str | None:
        a = self.account_poller
        if a.stopped and a.error is not None:
            return f"unavailable: {a.error.message}"
        if a.error is not None:
            return f"stale: {a.error.message}"
        return self.risk_schedule.refusal

    @property
    def refresh_weight(self) -> int:
        """The next refresh's weight: the UM parts, and the COIN-M ones when they are due."""
        weight = REFRESH_WEIGHT
        if self.cm_schedule.due(self.clock.monotonic()):
            weight += CM_WEIGHT if self.cm is not None and self.cm.open_positions else self.cm_schedule.endpoint.weight
        return weight

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
            next_in=None if self.next_at is None else self.next_at - self.clock.monotonic(),
            fetching=self.fetching,
            latency_ms=self.client.latency_ms,
            used_weight=self.client.used_weight,
            offset_ms=self.client.time_offset_ms,
            budget_wait=self.client.budget.wait_for(self.refresh_weight),
            push=self.push,
            paused_since=self.paused_since,
            marks_live=self.marks is not None and self.marks.live,
            marks_note=self.marks.note if self.marks is not None else None,
        )

    # --- one-shot (snapshot, check) --------------------------------------------------------

    async def fetch_once(self, *, account: bool = True, position_risk: bool = True,
                         markets: bool = False, balance: bool = True, cm: bool = True,
                         risk: bool = True, ledger: Ledger | None = None) -> MonitorState:
        """Everything once, for the headless commands: the UM account first (it also syncs the
        clock; its failure is the caller's error), then the optional endpoints.

        Only an access refusal (AuthError), or a 404 where the endpoint table says that means
        "not served" (pmtui.endpoints: balance, COIN-M), lets a snapshot go without an optional
        part, exactly as the dashboard does: then it is None and `unavailable[part]` holds one
        sentence (so `check` may fall back to the UM margin ratio). Every other failure
        propagates unchanged: it says nothing about the key,
        and the data would be incomplete for a reason that may pass, so the caller reports it
        (`check`: UNKNOWN), never shows it as absent. `markets`: also each symbol's tick size
        (load_markets; its failure is nothing to report). `balance`: /papi/v1/balance as well
        (optional in the same way, as "balance"). `cm`: the COIN-M account and its positionRisk
        too (both asked, so a snapshot repeats them; `unavailable["cm"]` when refused). `risk`:
        with a risk feed, its inputs too, and the model in `state.risk` (their faults are the
        model's sentences, never the snapshot's)."""
        um = await self.client.um_account()
        if markets:
            await self.load_markets()
        pm = risks = balances = None
        for schedule in self._schedules():
            schedule.refusal = None

        # The same `optional` (and so the same meaning of a refusal or a 404) as the loop's.
        async def part(fetch: Callable[[], Awaitable[T]], schedule: Schedule) -> T | None:
            value, schedule.refusal = await optional(fetch, schedule.endpoint)
            return value

        async def nothing() -> None:
            return None

        # The parts at once (the clock is synced by now): a check of fifty accounts waits for
        # one round trip, not four. Every part ends before the first failure (in this order) is raised.
        done = await asyncio.gather(
            part(self.client.pm_account, self.account_schedule) if account else nothing(),
            part(self.client.position_risk, self.risk_schedule) if position_risk else nothing(),
            part(self.client.balance, self.balance_schedule) if balance else nothing(),
            self._fetch_cm(always_risk=True) if cm else nothing(),
            return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        pm, risks, balances = (_ok(done[0]), _ok(done[1]), _ok(done[2]))
        self.poller.accept((um, risks))
        if account:
            for schedule in self._extra_schedules():
                schedule.refusal = None
            await self._poll_extras(always=True)
        if pm is not None:
            self.account_poller.accept(pm)
        if balances is not None:
            self.balance_poller.accept(balances)
        if risk and self.risk_feed is not None:
            await self._update_risk_feed()
        if ledger is not None:  # this ledger too, read to now (its faults are its own sentences)
            self.ledger = ledger
            await ledger.read_all(self.client)
        self._rebuild()
        return self.publish(DATA)



async def _until_cancelled(then: Callable[[], None]) -> None:
    """Wait until cancelled (the Monitor stops), then call `then` (leave the mark stream)."""
    try:
        await asyncio.Event().wait()
    finally:
        then()
