"""What a Monitor publishes: one immutable `MonitorState` per change, what the status bar shows
(`StatusInfo`), what to tell a person once (`Notice`), and the kinds of change a state carries.

Every consumer (the dashboard, the headless commands, the daemon's wire, the recording and its
replay) renders these and nothing else; the loop that makes them is pmtui.monitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmtui.alerts import AlertEvent
from pmtui.errors import PmtuiError
from pmtui.health import Verdict
from pmtui.ledger import LedgerView
from pmtui.model import RiskModel
from pmtui.models import AdlQuantile, Balance, CmAccount, CmPositionRisk, PmAccount, PositionRisk, UmAccount
from pmtui.risk import Estimate
from pmtui.stream import PushStatus
from pmtui.views import AccountView, BalanceRow

# What changed in a published state (MonitorState.changed).
DATA, FAULT, PUSH, ALERTS, STATUS, CLOCK = "data", "fault", "push", "alerts", "status", "clock"
#: The risk model's inputs came in (pmtui.riskfeed): state.risk was rebuilt on them.
RISK = "risk"
#: The public mark price stream moved the positions (or its health changed): pmtui.markstream.
MARKS = "marks"
#: The ledger (pmtui.ledger) read something new.
LEDGER = "ledger"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """Everything the status bar shows, from the pollers, the client and the stream."""

    paused: bool
    stopped: bool
    stale: bool
    error: PmtuiError | None
    age: float | None  # seconds since the last good update
    last_ok_wall: float | None
    interval: float
    next_in: float | None  # seconds until the next fetch; None: none planned
    fetching: bool
    latency_ms: float | None
    used_weight: int | None
    offset_ms: int | None
    #: Seconds pmtui's own weight budget still holds the next refresh back (0: none).
    budget_wait: float = 0.0
    #: The stream's health; None when pmtui does not stream (stream = false, headless one-shots).
    push: PushStatus | None = None
    #: Wall time the person paused refreshing, while paused.
    paused_since: float | None = None
    #: A recorded state replayed (pmtui replay): the words after REPLAY (its time, where the
    #: cursor is); never LIVE, however current the state was when it was recorded.
    replay: str | None = None
    #: The public mark price stream prices this account's positions now (pmtui.markstream).
    marks_live: bool = False
    #: Why it does not, one sentence (None: live, or the account does not use the stream).
    marks_note: str | None = None

    @property
    def word(self) -> str:
        """Whether what is shown is current, in one word, the same on every surface (the status
        bar, the overview, `watch`): LIVE, STALE, NO DATA, CONNECTING, PAUSED, ERROR or REPLAY."""
        if self.replay is not None:
            return "REPLAY"
        if self.stopped:
            return "ERROR"
        if self.paused:
            return "PAUSED"
        if self.error is not None and self.age is None:
            return "NO DATA"  # nothing fetched yet: nothing to call stale
        if self.error is not None or self.stale:
            return "STALE"
        if self.age is None:
            return "CONNECTING"
        return "LIVE"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a person once (a toast on the dashboard, a line on stderr headless)."""

    title: str
    message: str
    severity: str = "information"  # "information", "warning" or "error"
    timeout: float = 4.0
    bell: bool = False


@dataclass(frozen=True)
class MonitorState:
    """One published state. Immutable: a subscriber may keep it as long as it likes."""

    seq: int
    changed: frozenset[str]
    view: AccountView | None
    verdict: Verdict | None
    status: StatusInfo
    #: The raw parts the view was built from (the headless output prints them unchanged).
    account: UmAccount | None = None
    pm: PmAccount | None = None
    risks: tuple[PositionRisk, ...] | None = None
    #: /papi/v1/cm/account and /papi/v1/cm/positionRisk as last fetched (None: not fetched,
    #: refused, or for positionRisk not asked while no COIN-M position was open).
    cm: CmAccount | None = None
    cm_risks: tuple[CmPositionRisk, ...] | None = None
    #: Why an optional part is missing, by part ("account", "positionRisk", "cm"): one sentence each.
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Why the account panel has no (current) uniMMR, in a few words.
    account_note: str | None = None
    #: Seconds since the ratio in the big digits was fetched (or pushed).
    unimmr_age: float | None = None
    #: The key may not read /papi/v1/account: the UM margin ratio stands in for uniMMR.
    fallback: bool = False
    #: uniMMR and headroom as they may be now, from Binance's last figure and the live uPnL since
    #: (views.AccountView.estimate_since); None while Binance's own figure is the latest.
    estimate: Estimate | None = None
    #: Seconds since the positions the estimate rests on were fetched.
    estimate_age: float | None = None
    #: Alert events for people that this state started (or cleared), in order.
    alerts: tuple[AlertEvent, ...] = ()
    notices: tuple[Notice, ...] = ()
    #: /papi/v1/balance as parsed (each keeps its raw row for output); None: not (yet) read.
    balances: tuple[Balance, ...] | None = None
    #: The same, judged and sorted problems first, zero rows included (views.balance_rows).
    balance_rows: tuple[BalanceRow, ...] = ()
    #: The balances shown are not current (their last fetch failed, or everything is stale).
    balance_stale: bool = False
    #: Why the balances are missing or not current, in a sentence (None: they are current).
    balance_note: str | None = None
    #: uniMMR from first principles on this state's parts and the shared inputs (pmtui.model);
    #: None without a risk feed or before the first data.
    risk: RiskModel | None = None
    #: Funding, commission, interest, realized PnL and forced fills (pmtui.ledger); None: not
    #: read (a one-shot that did not ask for it).
    ledger: LedgerView | None = None
    #: Why the ADL queue ("adl") or the trading locks ("locks") are not (currently) known, one
    #: sentence each; never a reason to fail the rest (not in `unavailable`).
    extra_notes: dict[str, str] = field(default_factory=dict)
    #: The UM and COIN-M adlQuantile rows as last fetched (None: not fetched or refused).
    adl: tuple[tuple[AdlQuantile, ...] | None, tuple[AdlQuantile, ...] | None] = (None, None)
    #: Why the account cannot trade, one phrase each (pmtui.exposure.lock_reasons); (): nothing says so.
    locks: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return self.status.stale

    @property
    def marks_live(self) -> bool:
        """The view's prices are the public mark stream's, seconds old (not REST's): the REST
        cadence may relax (pmtui.markstream)."""
        return self.status.marks_live
