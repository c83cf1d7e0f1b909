"""The ledger: what the account paid and received (funding, commission, interest, realized PnL)
and what was forced on it (liquidation and ADL fills, negative-balance auto-exchanges).

Read-only and incremental. Each source below is read in windows from where the last read ended
(less OVERLAP, so a row Binance posts a little late is still seen), a full page narrowed until
the window is read; rows are kept by (endpoint, id), so a repeat is one row. A fresh ledger reads
LOOKBACK back (the 7-day totals); a longer `since` (the `ledger` command) reads more, at most
MAX_REQUESTS a source per update, the rest on the next update a few seconds later (a 3-month gap
is several requests: `catching up` says so). Binance keeps income for three months: a wish to
read past a source's retention is one sentence, never a silent hole.

| source | weight | window | page | cadence |
|---|---|---|---|---|
| /papi/v1/um/income, /papi/v1/cm/income | 30 each | 30 d | limit 1000 | 5 min |
| /papi/v1/um/forceOrders, /papi/v1/cm/forceOrders | 50 each (no symbol) | 7 d | limit 100 | 5 min |
| /papi/v1/portfolio/interest-history | 50 | 30 d | size 100 | 30 min |
| /papi/v1/margin/marginInterestHistory | 1 | 30 d | size 100 | 10 min |
| /papi/v1/portfolio/negative-balance-exchange-record | 100 | 90 d | - | 60 min |

At those cadences the ledger adds about WEIGHT_PER_MINUTE (36) to the account's request weight a
minute, one request a source; catching up spends more, once.

Totals are in USD: each asset at Binance's asset index price when the risk feed has it (a price
of now, not of the event's time, which the screen says), stablecoins at 1 USD without one, and an
asset with no price apart, in its own coin, never guessed. An amount no fee or funding could be
(models.IMPLAUSIBLE) is shown as data and left out of every total, with a sentence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pmtui.clock import SYSTEM_CLOCK, Clock
from pmtui.endpoints import (
    CM_FORCE_ORDERS,
    CM_INCOME,
    MARGIN_INTEREST,
    NEGATIVE_EXCHANGE,
    PM_INTEREST,
    UM_FORCE_ORDERS,
    UM_INCOME,
    Endpoint,
)
from pmtui.errors import PmtuiError
from pmtui.model import STABLECOINS
from pmtui.models import LedgerEntry, LedgerPage
from pmtui.schedule import Schedule

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: What a fresh ledger reads back: enough for the 7-day totals.
LOOKBACK_MS = 7 * DAY_MS
#: Each read starts this far before the last one ended (a row posted late; repeats are one row).
OVERLAP_MS = 10 * MINUTE_MS
#: Requests one source may make in one update; the rest waits CATCH_UP seconds.
MAX_REQUESTS = 4
CATCH_UP = 5.0
#: Seconds before a failed source is tried again (a refused one waits for `r`).
RETRY = 60.0
#: Rows kept at most (a hostile server could send millions): the oldest go first, said once.
MAX_ENTRIES = 50_000
#: The kinds the totals add up, in the order the screen shows them.
TOTAL_KINDS = ("funding", "commission", "interest", "realized")
#: Kinds no total counts: money moved, not earned or paid; and margin interest of type PORTFOLIO,
#: which /papi/v1/portfolio/interest-history already lists (counted once, from there).
NOT_COUNTED = frozenset({"transfer", "negative-balance interest"})


@dataclass(frozen=True, slots=True)
class Source:
    endpoint: Endpoint[LedgerPage]
    #: Seconds between two reads when caught up.
    cadence: float
    #: The longest startTime..endTime one request may span (Binance's limit, or 7 d for forceOrders).
    window_ms: int
    #: How far back Binance keeps it.
    retention_ms: int
    #: The page-size parameter and its largest value; None: the endpoint has none.
    limit: tuple[str, int] | None
    #: Binance's "what it keeps" in words, for the gap sentence.
    kept: str


SOURCES: tuple[Source, ...] = (
    Source(UM_INCOME, 300.0, 30 * DAY_MS, 90 * DAY_MS, ("limit", 1000), "three months"),
    Source(CM_INCOME, 300.0, 30 * DAY_MS, 90 * DAY_MS, ("limit", 1000), "three months"),
    Source(UM_FORCE_ORDERS, 300.0, 7 * DAY_MS, 90 * DAY_MS, ("limit", 100), "three months"),
    Source(CM_FORCE_ORDERS, 300.0, 7 * DAY_MS, 90 * DAY_MS, ("limit", 100), "three months"),
    Source(PM_INTEREST, 1800.0, 30 * DAY_MS, 90 * DAY_MS, ("size", 100), "three months"),
    Source(MARGIN_INTEREST, 600.0, 30 * DAY_MS, 180 * DAY_MS, ("size", 100), "six months"),
    Source(NEGATIVE_EXCHANGE, 3600.0, 90 * DAY_MS, 90 * DAY_MS, None, "three months"),
)
BY_PATH = {s.endpoint.path: s for s in SOURCES}
#: Seconds between two reads of the forced orders at least, however many pushes ask.
FORCED_SPACING = 30.0
#: Only the forced fills (`check`: the last day's liquidations and ADLs, weight 100).
FORCED = tuple(s for s in SOURCES if s.endpoint in (UM_FORCE_ORDERS, CM_FORCE_ORDERS))
#: Request weight a minute once caught up (README: "the ledger adds about 36 a minute").
WEIGHT_PER_MINUTE = sum(s.endpoint.weight * 60 / s.cadence for s in SOURCES)


def fetcher(source: Source) -> Callable[[Any, dict[str, str]], Awaitable[LedgerPage]]:
    """The client's method for a source (PapiClient.um_income ...)."""
    name = {UM_INCOME: "um_income", CM_INCOME: "cm_income", UM_FORCE_ORDERS: "um_force_orders",
            CM_FORCE_ORDERS: "cm_force_orders", PM_INTEREST: "pm_interest", MARGIN_INTEREST: "margin_interest",
            NEGATIVE_EXCHANGE: "negative_exchange"}[source.endpoint]
    return lambda client, params: getattr(client, name)(params)


@dataclass
class _Cursor:
    """Where one source has read to, and what is pending of its current window."""

    source: Source
    schedule: Schedule
    #: Everything before this server time (ms) has been read.
    done_ms: int
    #: The current window's end while a full page narrowed it (None: no window open).
    window_end: int | None = None
    #: While a window is narrowed from its newest end (pages come newest first): the end so far.
    narrowed_end: int | None = None
    error: str | None = None
    gap: str | None = None
    dropped: str | None = None
    #: Not read up to now yet (a long `since`, a gap): read again CATCH_UP seconds on.
    behind: bool = True
    clashes: int = 0
    #: Rows sent from outside the asked window (kept, but no reason to page on).
    outside: int = 0


# --- what a consumer reads: immutable ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindTotal:
    """One kind over one window: the USD sum of what could be priced, and the rest per asset."""

    usd: Decimal | None  # None: nothing of this kind could be priced (or there was none)
    unpriced: Mapping[str, Decimal] = field(default_factory=dict)
    rows: int = 0


@dataclass(frozen=True, slots=True)
class LedgerView:
    """The ledger as one state shows it. `entries` in time order, oldest first."""

    entries: tuple[LedgerEntry, ...] = ()
    #: Server time (ms) it covers from, and up to (None: nothing read yet).
    since_ms: int | None = None
    read_to_ms: int | None = None
    #: One sentence each: gaps, rows that did not read, faults, what is still being read.
    notes: tuple[str, ...] = ()
    #: Refused or not served, by path: one sentence each.
    unavailable: Mapping[str, str] = field(default_factory=dict)

    @property
    def forced(self) -> tuple[LedgerEntry, ...]:
        return tuple(e for e in self.entries if e.forced)

    def between(self, start_ms: int, end_ms: int | None = None) -> tuple[LedgerEntry, ...]:
        return tuple(e for e in self.entries if e.time >= start_ms and (end_ms is None or e.time <= end_ms))

    def raw_rows(self, start_ms: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The API's rows unchanged, by endpoint path, in time order (snapshot --json, ledger --format json)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in self.entries:
            if start_ms is None or e.time >= start_ms:
                out.setdefault(e.source, []).append(e.raw)
        return out


def usd_price(asset: str | None, prices: Mapping[str, Decimal]) -> Decimal | None:
    """An asset's USD price: Binance's index price when known, 1 for a stablecoin without one."""
    if asset is None:
        return None
    price = prices.get(asset)
    if price is not None and price.is_finite() and price > 0:
        return price
    return Decimal(1) if asset in STABLECOINS else None


def totals(entries: Iterable[LedgerEntry], prices: Mapping[str, Decimal]) -> dict[str, KindTotal]:
    """Per kind in TOTAL_KINDS (and "other" for the rest that carry an amount, transfers aside)."""
    usd: dict[str, Decimal | None] = {}
    rest: dict[str, dict[str, Decimal]] = {}
    rows: dict[str, int] = {}
    for e in entries:
        if e.amount is None or e.implausible or e.kind in NOT_COUNTED:
            continue
        kind = e.kind if e.kind in TOTAL_KINDS else "other"
        rows[kind] = rows.get(kind, 0) + 1
        price = usd_price(e.asset, prices)
        if price is None:
            coin = e.asset or "?"
            rest.setdefault(kind, {})[coin] = rest.setdefault(kind, {}).get(coin, Decimal(0)) + e.amount
        else:
            usd[kind] = (usd.get(kind) or Decimal(0)) + e.amount * price
    return {k: KindTotal(usd.get(k), rest.get(k, {}), rows.get(k, 0)) for k in (*TOTAL_KINDS, "other")}


def prices_from(risk: Any) -> dict[str, Decimal]:
    """Binance's USD index price of each asset, from the risk model's inputs (empty without one)."""
    rows = getattr(getattr(risk, "inputs", None), "index_prices", None) or ()
    return {p.asset: p.assetIndexPrice for p in rows if p.asset and p.assetIndexPrice is not None}


def windows(now_ms: int) -> dict[str, int]:
    """The screen's windows and where each starts: today (UTC), 24 h, 7 d."""
    return {"today": now_ms - now_ms % DAY_MS, "24h": now_ms - DAY_MS, "7d": now_ms - 7 * DAY_MS}


# --- the reader: one account's -------------------------------------------------------------------


class Ledger:
    """One account's ledger: `update(client)` reads what is due, `view()` is what it holds."""

    def __init__(self, *, clock: Clock | None = None, lookback_ms: int = LOOKBACK_MS,
                 sources: Iterable[Source] = SOURCES, now_ms: int | None = None, first_delay: float = 0.0) -> None:
        self.clock = clock or SYSTEM_CLOCK
        #: Seconds after the first update before the first read (the Monitor's: the account first).
        self.first_delay = first_delay
        self.lookback_ms = lookback_ms
        self._sources = tuple(sources)
        self._cursors: list[_Cursor] | None = None
        self._start_ms = now_ms
        self._entries: dict[tuple[str, str], LedgerEntry] = {}
        self._trimmed = False
        self._updated = False
        #: Rows not yet in the history file (with --record: pmtui.ledgerstore).
        self._unsaved: list[LedgerEntry] = []
        self._store_note: str | None = None
        self._view: LedgerView | None = None
        #: Bumped whenever something a consumer shows changed.
        self.version = 0

    def _init(self, now_ms: int) -> list[_Cursor]:
        if self._cursors is None:
            start = now_ms - self.lookback_ms
            self._cursors = []
            for s in self._sources:
                spacing = FORCED_SPACING if s in FORCED else 0.0
                cursor = _Cursor(s, Schedule(s.endpoint, s.cadence, spacing),
                                 done_ms=max(start, now_ms - s.retention_ms))
                if self.first_delay:
                    cursor.schedule.plan(self.clock.monotonic(), self.first_delay)
                if start < now_ms - s.retention_ms:
                    cursor.gap = (f"Binance keeps {s.endpoint.path} for {s.kept}: the ledger cannot read it "
                                  f"before {_day(now_ms - s.retention_ms)}.")
                self._cursors.append(cursor)
            self._start_ms = start
        return self._cursors

    def due(self, now: float | None = None) -> bool:
        """Whether an update would read anything."""
        now = self.clock.monotonic() if now is None else now
        return self._cursors is None or any(c.schedule.ready(now) for c in self._cursors)

    def ask_forced(self) -> None:
        """A pushed forced order (a liquidation or ADL on the stream): its endpoints are due now,
        FORCED_SPACING apart at least (a burst of fills is one read)."""
        for c in self._cursors or ():
            if c.source in FORCED:
                c.schedule.ask_now()

    def retry(self) -> None:
        """A person asked (`r`): a refused or failing source is asked again now (the others keep
        their cadence: `r` must not cost the ledger's whole weight each press)."""
        for c in self._cursors or ():
            if c.schedule.refusal is not None or c.error is not None:
                c.schedule.retry()

    @property
    def behind(self) -> bool:
        """Some source (not refused, not failing) has more to read than one update read."""
        return self._cursors is None or any(
            c.behind for c in self._cursors if c.schedule.refusal is None and c.error is None)

    async def update(self, client: Any, now_ms: int | None = None, *, unspaced: bool = False) -> bool:
        """Read every due source (at most MAX_REQUESTS each); True when anything new came.
        `unspaced`: a one-shot reading to the end, not held by the forced orders' spacing."""
        now_ms = client.server_now_ms() if now_ms is None else now_ms
        before = len(self._entries), self.version
        for cursor in self._init(now_ms):
            mono = self.clock.monotonic()
            if not (cursor.schedule.due(mono) if unspaced else cursor.schedule.ready(mono)):
                continue
            cursor.schedule.asked(mono)
            try:
                more = await self._read(client, cursor, now_ms)
            except PmtuiError as err:
                why = cursor.source.endpoint.unavailable(err)
                if why is not None:
                    cursor.schedule.refusal = why
                    cursor.error = None
                else:
                    cursor.error = (f"The ledger could not read {cursor.source.endpoint.path}: "
                                    f"{err.message.rstrip('.')}; retrying in a minute.")
                    cursor.schedule.plan(self.clock.monotonic(), RETRY)
                self.version += 1
                continue
            except Exception:  # a bug, not a fault: said, retried on its cadence, the rest read on
                log.debug("reading %s failed", cursor.source.endpoint.path, exc_info=True)
                cursor.error = (f"Unexpected internal error while reading {cursor.source.endpoint.path}; "
                                "retrying in a minute (run with --debug for details).")
                cursor.schedule.plan(self.clock.monotonic(), RETRY)
                self.version += 1
                continue
            if cursor.error is not None:
                cursor.error = None
                self.version += 1
            cursor.behind = more
            cursor.schedule.plan(self.clock.monotonic(), CATCH_UP if more else cursor.source.cadence)
        if not self._updated:  # read once: an empty ledger is now "nothing happened", not "not read"
            self._updated = True
            self.version += 1
        if (len(self._entries), self.version) != before:
            self._trim()
            self.version += 1
            self._view = None
            return True
        self._view = None
        return False

    async def read_all(self, client: Any, *, max_rounds: int = 50) -> LedgerView:
        """Every source once, to now (the headless commands): rounds until caught up."""
        now_ms = client.server_now_ms()
        for _ in range(max_rounds):
            for c in self._init(now_ms):
                if c.behind:
                    c.schedule.ask_now()
            await self.update(client, now_ms, unspaced=True)
            if not self.behind:
                break
        return self.view()

    async def _read(self, client: Any, cursor: _Cursor, now_ms: int) -> bool:
        """Up to MAX_REQUESTS requests; True while there is more to read (catching up)."""
        s = cursor.source
        fetch = fetcher(s)
        for _ in range(MAX_REQUESTS):
            start = cursor.done_ms
            end = cursor.narrowed_end if cursor.narrowed_end is not None else (
                cursor.window_end if cursor.window_end is not None else min(start + s.window_ms - 1, now_ms))
            window_end = cursor.window_end if cursor.window_end is not None else end
            params = {"startTime": str(start), "endTime": str(end)}
            if s.limit is not None:
                params[s.limit[0]] = str(s.limit[1])
            page = await fetch(client, params)
            self._take(cursor, page)
            # Only rows inside the asked window move it on: a server that ignores the window (the
            # same full page whatever is asked) must not be paged through a millisecond at a time.
            times = [e.time for e in page.entries if start <= e.time <= end]
            if len(times) < len(page.entries):
                cursor.outside += len(page.entries) - len(times)
            full = s.limit is not None and page.count >= s.limit[1] and bool(times)
            if full:
                if times[0] <= times[-1]:  # oldest first: go on after the newest
                    cursor.done_ms = max(max(times), start + 1)
                else:  # newest first: narrow from the end
                    cursor.narrowed_end = min(min(times), end - 1)
                cursor.window_end = window_end
                if cursor.done_ms > window_end or (cursor.narrowed_end is not None
                                                   and cursor.narrowed_end < cursor.done_ms):
                    full = False
            if not full:
                cursor.window_end = cursor.narrowed_end = None
                cursor.done_ms = window_end + 1
                if cursor.done_ms >= now_ms:  # caught up: the next read starts a little before now
                    cursor.done_ms = now_ms - OVERLAP_MS
                    return False
        return True

    def _take(self, cursor: _Cursor, page: LedgerPage) -> None:
        path = cursor.source.endpoint.path
        if page.dropped:
            cursor.dropped = (f"{page.dropped} row{'s' if page.dropped != 1 else ''} of {path} could not be "
                              f"read and {'are' if page.dropped != 1 else 'is'} left out ({page.why}).")
        for e in page.entries:
            key = (path, e.id)
            held = self._entries.get(key)
            if held is None:
                self._entries[key] = e
                self._unsaved.append(e)
            elif held.raw != e.raw and held != e:
                cursor.clashes += 1  # the same id with other figures: the first one stays

    def _trim(self) -> None:
        if len(self._entries) <= MAX_ENTRIES:
            return
        ordered = sorted(self._entries.items(), key=lambda kv: kv[1].time)
        for key, _ in ordered[: len(ordered) - MAX_ENTRIES]:
            del self._entries[key]
        self._trimmed = True

    # --- the history file (--record): pmtui.ledgerstore -----------------------------------------

    async def load(self, store: Any, now_ms: int) -> None:
        """What an earlier session kept: its rows, and each endpoint read on from where it ended
        (less OVERLAP) rather than from LOOKBACK back. A file that does not read is one sentence."""
        cursors = self._init(now_ms)
        try:
            rows, marks = await asyncio.to_thread(store.load, now_ms - self.lookback_ms)
        except PmtuiError as err:
            self._store_note = err.message
            return
        pages: dict[str, list[dict[str, Any]]] = {}
        for path, raw in rows:
            if path in BY_PATH and isinstance(raw, dict):
                pages.setdefault(path, []).append(raw)
        for path, raws in pages.items():
            endpoint = BY_PATH[path].endpoint
            page = endpoint.parse({"rows": raws} if endpoint in (MARGIN_INTEREST, NEGATIVE_EXCHANGE) else raws)
            for e in page.entries:
                self._entries.setdefault((path, e.id), e)
        for c in cursors:
            mark = marks.get(c.source.endpoint.path)
            if mark is not None and c.window_end is None and mark - OVERLAP_MS > c.done_ms:
                c.done_ms = min(mark - OVERLAP_MS, now_ms)
                c.gap = None
        self._view = None
        self.version += 1

    async def save(self, store: Any, now_ms: int) -> None:
        """New rows and how far each endpoint was read, to the history file (in a thread)."""
        rows = [(e.source, e.id, e.time, e.raw) for e in self._unsaved]
        marks = {c.source.endpoint.path: c.done_ms for c in self._cursors or ()}
        self._unsaved = []
        try:
            await asyncio.to_thread(store.save, rows, marks, now_ms)
        except PmtuiError as err:
            if self._store_note != err.message:
                self._store_note = err.message
                self._view = None
                self.version += 1

    def view(self) -> LedgerView:
        if self._view is not None:
            return self._view
        entries = tuple(sorted(self._entries.values(), key=lambda e: (e.time, e.source, e.id)))
        notes: list[str] = []
        unavailable: dict[str, str] = {}
        read_to: int | None = None
        for c in self._cursors or ():
            path = c.source.endpoint.path
            if c.schedule.refusal is not None:
                unavailable[path] = c.schedule.refusal
                continue
            notes.extend(n for n in (c.gap, c.error, c.dropped) if n)
            if c.clashes:
                notes.append(f"{path} sent {c.clashes} row{'s' if c.clashes != 1 else ''} repeating an id with "
                             "other figures; the first one read is kept.")
            if c.outside:
                notes.append(f"{path} sent {c.outside} row{'s' if c.outside != 1 else ''} from outside the time "
                             "asked for; they are shown, and the ledger reads on from the window's end.")
            if c.behind and (c.schedule.tried is not None):
                notes.append(f"The ledger is still reading {path} (from {_day(c.done_ms)}).")
            read_to = c.done_ms if read_to is None else min(read_to, c.done_ms)
        odd = [e for e in entries if e.implausible]
        if odd:
            e = odd[0]
            notes.append(f"{len(odd)} ledger row{'s' if len(odd) != 1 else ''} with an implausible amount "
                         f"({e.amount} {e.asset or ''}".rstrip() + ") shown as sent but left out of the totals.")
        if self._store_note is not None:
            notes.append(self._store_note)
        if self._trimmed:
            notes.append(f"The ledger keeps its newest {MAX_ENTRIES} rows; older ones were let go.")
        self._view = LedgerView(entries, self._start_ms, read_to, tuple(notes), unavailable)
        return self._view


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))
