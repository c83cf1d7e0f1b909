"""Binance's public mark price streams, one connection each for every account of a Fleet.

    feed = MarkFeed("wss://fstream.binance.com", clock=clock)
    off = feed.subscribe(callback)       # starts the connection on first use; callback() per frame
    feed.mark("BTCUSDT")                 # Mark(price, event_ms) or None
    feed.problem({"BTCUSDT"})            # None while it prices these symbols live, else one sentence
    off()                                # the last one out closes the connection

The stream (`{market_stream_url}/ws/!markPrice@arr@1s`) pushes every USD-M symbol's mark price
each second and costs no request weight: between two REST refreshes an account's uPnL, notional,
maintenance margin, liquidation distances and estimated uniMMR follow the marks (`reprice`).
It is public: no key, no listen key, nothing secret travels on it.

COIN-M has no documented all-market array: its feed (`pairs=True`) reads each held pair's
`<pair>@markPrice@1s` (every symbol of the pair: BTCUSD_PERP, BTCUSD_251226, ...) as one combined
stream, `{cm_market_stream_url}/stream?streams=btcusd@markPrice@1s/ethusd@markPrice@1s`. The
accounts say which pairs they hold (`want`); the connection follows their union, made again
when it changes (debounced), and there is none while no account holds a COIN-M position.

Whatever goes wrong (down, lagging, garbage, a symbol it never priced, a connection that will not
hold) is one sentence from `problem`: the accounts it concerns fall back to their REST figures and
say so. Reconnects use the user data stream's backoff (pmtui.stream), frames are capped, pings
kept; every age is read on the injected Clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from pmtui.clock import SYSTEM_CLOCK, Clock, uniform
from pmtui.errors import BadFrame
from pmtui.model import RiskModel, cm_contract_size
from pmtui.models import CmAccount, CmPosition, CmPositionRisk, Position, PositionRisk, UmAccount, wire_decimal
from pmtui.riskinputs import SymbolBrackets
from pmtui.stream import websockets_connect
from pmtui.text import clean
from pmtui.urls import check_url

B = TypeVar("B", UmAccount, CmAccount)
R = TypeVar("R", PositionRisk, CmPositionRisk)

log = logging.getLogger(__name__)

#: What pmtui appends to `market_stream_url`: every symbol's mark price, each second.
MARK_PRICE_PATH = "/ws/!markPrice@arr@1s"
#: What a COIN-M feed appends to `cm_market_stream_url`: the combined stream of the pairs held.
COMBINED_PATH = "/stream?streams="
#: One pair's stream in it (Binance: "All symbols for streams are lowercase").
PAIR_STREAM = "{pair}@markPrice@1s"
#: Streams one connection may carry (Binance's COIN-M page says 200 or 1024 by copy: the lower).
MAX_PAIRS = 200
#: Seconds the set of pairs held stays the same before the COIN-M connection is made again for
#: it (the first one is made at once): accounts report their positions one after another, and a
#: position may flip open and shut.
RESUBSCRIBE_S = 2.0
#: Largest frame accepted: the all-market array is ~150 B a symbol, some 100 KiB for ~600 symbols.
MAX_FRAME = 2 * 1024 * 1024
#: Unreadable frames in a row before the connection is made again.
MAX_BAD_FRAMES = 5
#: A mark older than this (by its event time, on the exchange's clock) is not live: the stream
#: sends one a second, so this is a lag of three frames.
LAG_S = 3.0
#: Seconds without a frame on an open connection before it is dropped and made again.
SILENCE_S = 10.0
#: This many connections inside FLAP_WINDOW_S: the stream does not hold; polling until it does.
FLAP_CONNECTIONS = 3
FLAP_WINDOW_S = 30.0
MAX_SYMBOL_LEN = 40
_MIN_EVENT_MS = 0
_MAX_EVENT_MS = 4_102_444_800_000  # 2100-01-01


@dataclass(frozen=True, slots=True)
class Mark:
    """One symbol's mark price and the exchange's time it was computed (ms)."""

    price: Decimal
    event_ms: int


def cm_pair(position: Any) -> str | None:
    """The pair a COIN-M position's symbol belongs to ("BTCUSD_PERP", "BTCUSD_251226" -> "BTCUSD"):
    the row's `pair` if it has one, else the symbol before "_". None for anything that is not
    ASCII letters and digits (it goes into a URL)."""
    given = position.raw.get("pair") if isinstance(position.raw, dict) else None
    pair = given if isinstance(given, str) else position.symbol.partition("_")[0]
    return pair if 0 < len(pair) <= MAX_SYMBOL_LEN and pair.isascii() and pair.isalnum() else None


def pairs_url(base_url: str, pairs: Iterable[str]) -> str:
    """The combined stream of these pairs' mark prices, sorted and lowercased (at most MAX_PAIRS)."""
    names = sorted({p.lower() for p in pairs})[:MAX_PAIRS]
    return base_url + COMBINED_PATH + "/".join(PAIR_STREAM.format(pair=p) for p in names)


def parse_marks(frame: str | bytes) -> tuple[dict[str, Mark], int]:
    """One frame of `!markPrice@arr@1s` (or a combined stream's `{"stream": …, "data": [...]}`, as
    COIN-M's pair streams come): the marks by symbol, and how many elements were left out (not a
    markPriceUpdate object, a bad symbol, price or time). A frame that is not a JSON array (or
    object) of events raises BadFrame, one sentence for a person."""
    if len(frame) > MAX_FRAME:
        raise BadFrame(f"The mark price stream sent a frame larger than {MAX_FRAME // 1024} KiB.")
    if isinstance(frame, (bytes, bytearray, memoryview)):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            raise BadFrame("The mark price stream sent a frame that is not UTF-8 text.") from None
    try:
        data = json.loads(frame, parse_float=str, parse_int=_int_or_str, parse_constant=_refuse)
    except (ValueError, RecursionError):
        raise BadFrame("The mark price stream sent a frame that is not valid JSON.") from None
    if isinstance(data, dict) and "e" not in data and "data" in data:
        data = data["data"]  # the combined-stream envelope {"stream": …, "data": […]}
    if isinstance(data, dict):
        data = [data]  # a one-symbol stream's event
    if not isinstance(data, list):
        raise BadFrame("The mark price stream sent a frame that is not a list of mark prices.")
    marks: dict[str, Mark] = {}
    skipped = 0
    for item in data:
        mark = _mark(item)
        if mark is None:
            skipped += 1
        else:
            marks[mark[0]] = mark[1]
    if data and not marks:
        raise BadFrame("The mark price stream sent a frame without one readable mark price.")
    return marks, skipped


def _int_or_str(token: str) -> Any:
    return int(token) if len(token) <= 20 else token


def _refuse(token: str) -> Any:
    raise ValueError(token)


def _mark(item: Any) -> tuple[str, Mark] | None:
    if not isinstance(item, dict) or item.get("e") != "markPriceUpdate":
        return None
    symbol, price, when = item.get("s"), item.get("p"), item.get("E")
    if (not isinstance(symbol, str) or not 0 < len(symbol) <= MAX_SYMBOL_LEN or not symbol.isascii()
            or not symbol.replace("_", "").isalnum()):
        return None  # BTCUSDT, BTCUSD_PERP, BTCUSDT_250627: nothing else is a symbol
    if isinstance(when, str) and when.isascii() and when.isdigit() and len(when) <= 16:
        when = int(when)
    if isinstance(when, bool) or not isinstance(when, int) or not _MIN_EVENT_MS < when <= _MAX_EVENT_MS:
        return None
    if not isinstance(price, str) or len(price) > 40:
        return None
    try:
        value = wire_decimal(price)
    except ValueError:
        return None
    if not value.is_finite() or value <= 0:  # "0": no mark, never a worthless contract
        return None
    return symbol, Mark(value, when)


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkStatus:
    """The connection's health: `reason` one sentence while down (or the last unreadable frame)."""

    up: bool
    reason: str | None
    since: float | None
    frames: int = 0
    bad_frames: int = 0
    connections: int = 0


class _Reconnect(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Resubscribe(Exception):
    """The pairs held changed: the COIN-M connection is made again for the new set."""


class MarkFeed:
    """The mark price stream shared by a Fleet's Monitors. See the module docstring."""

    def __init__(self, base_url: str, *, setting: str = "market_stream_url", label: str = "mark price stream",
                 pairs: bool = False, clock: Clock | None = None,
                 connect: Callable[..., Any] | None = None,
                 server_ms: Callable[[], int] | None = None, lag_s: float = LAG_S,
                 silence_s: float = SILENCE_S, max_backoff: float = 30.0, ping_interval: float = 20.0,
                 ping_timeout: float = 20.0, open_timeout: float = 10.0, close_timeout: float = 2.0) -> None:
        self.base_url = check_url(base_url, setting, websocket=True)
        #: How its sentences name it: "mark price stream", "COIN-M mark price stream".
        self.label = label
        #: COIN-M: the combined stream of the pairs the accounts hold (`want`), not one fixed URL.
        self.pairs = pairs
        #: The URL connected to (or being connected to); None while a pairs feed has no pair.
        self.url: str | None = None if pairs else self.base_url + MARK_PRICE_PATH
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._connect = connect
        #: The exchange's time now (ms): a Monitor's client offers its measured offset.
        self.server_ms: Callable[[], int] = server_ms or (lambda: int(self.clock.time() * 1000))
        self.lag_s = lag_s
        self.silence_s = silence_s
        self.max_backoff = max_backoff
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.open_timeout, self.close_timeout = open_timeout, close_timeout
        self.marks: dict[str, Mark] = {}
        self._status = MarkStatus(False, f"connecting to the {label}", self.clock.monotonic())
        self._opened: deque[float] = deque(maxlen=FLAP_CONNECTIONS)  # monotonic times of the last connections
        self._subscribers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._connected_at: float | None = None  # monotonic time the current connection opened
        #: Delays of the last reconnect waits (for tests).
        self.backoffs: deque[float] = deque(maxlen=100)
        self._wants: dict[object, frozenset[str]] = {}  # each account's pairs (lowercase)
        self._wanted: frozenset[str] = frozenset()  # their union
        self._wanted_at = self.clock.monotonic()  # when the union last changed
        self._subscribed: frozenset[str] | None = None  # the pairs of the current connection
        self._wake = asyncio.Event()  # the union changed
        self._resubscribing = False  # the next connection is ours, not a reconnect after a fault

    def __repr__(self) -> str:
        return f"MarkFeed(url={self.url!r}, up={self._status.up})"

    @property
    def status(self) -> MarkStatus:
        return self._status

    def mark(self, symbol: str) -> Mark | None:
        return self.marks.get(symbol)

    # --- who listens -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[], None], key: object = None) -> Callable[[], None]:
        """`callback()` after every frame (and change of health); the first subscriber starts the
        connection (on the running loop), the last one to leave closes it. Leaving also drops
        the pairs `key` wanted."""
        self._subscribers.append(callback)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="pmtui-marks")

        def off() -> None:
            if key is not None:
                self.want(key, ())
            if callback in self._subscribers:
                self._subscribers.remove(callback)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None
        return off

    @property
    def wanted(self) -> frozenset[str]:
        """The pairs (lowercase) the accounts hold: what a pairs feed streams."""
        return self._wanted

    def want(self, key: object, pairs: Iterable[str]) -> None:
        """The pairs one account (`key`) holds COIN-M positions in; a pairs feed streams their
        union, connecting again RESUBSCRIBE_S after it last changed."""
        held = frozenset(p.lower() for p in pairs)
        if self._wants.get(key, frozenset()) == held:
            return
        if held:
            self._wants[key] = held
        else:
            self._wants.pop(key, None)
        wanted = frozenset().union(*self._wants.values())
        if wanted != self._wanted:
            if self.pairs and not self._wanted and not self._status.up:
                # Said at once to the account asking (the loop tells everyone once it runs).
                self._status = replace(self._status, reason=f"connecting to the {self.label}")
            self._wanted, self._wanted_at = wanted, self.clock.monotonic()
            self._wake.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        self._subscribers.clear()
        if task is not None:
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), self.close_timeout + 1)
            except (asyncio.CancelledError, TimeoutError, Exception):  # noqa: BLE001 - closing anyway
                pass

    def _notify(self) -> None:
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # noqa: BLE001 - one account's bug must not starve the others
                log.debug("mark price subscriber failed", exc_info=True)

    # --- health for an account --------------------------------------------------------------

    def problem(self, symbols: Iterable[str]) -> str | None:
        """None while the stream prices every one of `symbols` live; else why not, one sentence
        (the account it concerns polls: its figures are REST's)."""
        status = self._status
        if not status.up:
            return f"{_sentence(status.reason or f'the {self.label} is down')} Prices come from polling."
        if self._flapping():
            return (f"The {self.label} reconnected {len(self._opened)} times in {FLAP_WINDOW_S:g} s."
                    " Prices come from polling until it holds.")
        now = self.server_ms()
        for symbol in sorted(symbols):
            mark = self.marks.get(symbol)
            if mark is None:
                return (f"The {self.label} has no price for {clean(symbol, MAX_SYMBOL_LEN)}."
                        " Prices come from polling.")
            behind = (now - mark.event_ms) / 1000
            if behind > self.lag_s:
                return (f"The {self.label} is {behind:.0f} s behind (last price of"
                        f" {clean(symbol, MAX_SYMBOL_LEN)}). Prices come from polling.")
        return None

    def age(self, symbols: Iterable[str]) -> float | None:
        """Seconds since the oldest of these symbols' marks was computed (None: one has none)."""
        times = [m.event_ms for s in symbols if (m := self.marks.get(s)) is not None]
        if not times:
            return None
        return max(0.0, (self.server_ms() - min(times)) / 1000)

    def _flapping(self) -> bool:
        opened = self._opened
        return len(opened) >= FLAP_CONNECTIONS and self.clock.monotonic() - opened[0] < FLAP_WINDOW_S

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream until cancelled; never raises (but CancelledError)."""
        attempt = 0
        try:
            while True:
                self._connected_at = None
                url = await self._next_url()
                try:
                    await self._session(url)
                except _Resubscribe:
                    continue  # at once, and the marks held stay live meanwhile
                except _Reconnect as stop:
                    reason = stop.reason
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - never a traceback out of run()
                    log.debug("mark price stream: unexpected %s", type(exc).__name__)
                    reason = f"the {self.label} stopped on an unexpected error ({type(exc).__name__})"
                self._set(up=False, reason=reason)
                self._resubscribing = False  # what follows a fault is a reconnect
                start = self._connected_at
                if start is not None and self.clock.monotonic() - start >= FLAP_WINDOW_S:
                    attempt = 0  # a connection that held: start the backoff again
                delay = min(self.max_backoff, 2.0 ** attempt) * uniform(self.clock, 0.5, 1.0)
                attempt = min(attempt + 1, 30)
                self.backoffs.append(delay)
                await self.clock.sleep(delay)
        finally:
            self._set(up=False, reason=f"the {self.label} is stopped")

    async def _next_url(self) -> str:
        """The URL to connect to: USD-M's one; COIN-M's for the pairs held (a change of them once
        the set has held still RESUBSCRIBE_S). While no account holds a pair there is no connection."""
        if not self.pairs:
            assert self.url is not None
            return self.url
        while True:
            self._wake.clear()
            if not self._wanted:
                self._subscribed = self.url = None
                self._set(up=False, reason=f"the {self.label} has no pair to follow")  # no COIN-M position
                await self._wake.wait()
                self._set(up=False, reason=f"connecting to the {self.label}")
                continue
            quiet = RESUBSCRIBE_S - (self.clock.monotonic() - self._wanted_at)
            if self._subscribed is not None and self._wanted != self._subscribed and quiet > 0:
                await self.clock.sleep(quiet)
                continue
            self._subscribed = self._wanted
            self.url = pairs_url(self.base_url, self._subscribed)
            return self.url

    def _resubscribe_due(self) -> bool:
        return (self.pairs and self._wanted != self._subscribed
                and self.clock.monotonic() - self._wanted_at >= RESUBSCRIBE_S)

    async def _session(self, url: str) -> None:
        """One connection until it ends (raises _Reconnect, or _Resubscribe)."""
        try:
            async with asyncio.timeout(self.open_timeout + 1):
                connect = self._connect or websockets_connect()
                manager = connect(url, max_size=MAX_FRAME, ping_interval=self.ping_interval,
                                  ping_timeout=self.ping_timeout, open_timeout=self.open_timeout,
                                  close_timeout=self.close_timeout, compression=None)
                ws = await manager.__aenter__()
        except BaseException as exc:  # noqa: BLE001 - a reason, or re-raised
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise _Reconnect(_open_reason(exc, self.open_timeout, self.label)) from None
        self._connected_at = self.clock.monotonic()
        if not self._resubscribing:  # a new set of pairs is no sign of a stream that will not hold
            self._opened.append(self._connected_at)
        self._resubscribing = False
        self._status = replace(self._status, connections=self._status.connections + 1)
        try:
            await self._read(ws)
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            raise _Reconnect(f"the exchange closed the {self.label} (code {rcvd.code})" if rcvd is not None
                             else f"the connection to the {self.label} broke") from None
        finally:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await manager.__aexit__(None, None, None)
            except Exception:  # noqa: BLE001 - a socket that will not close is abandoned
                pass

    async def _read(self, ws: Any) -> None:
        bad_run = 0
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), self.silence_s)
            except TimeoutError:
                raise _Reconnect(f"the {self.label} sent nothing for {self.silence_s:g} s") from None
            try:
                marks, skipped = parse_marks(frame)
            except BadFrame as err:
                bad_run += 1
                self._status = replace(self._status, bad_frames=self._status.bad_frames + 1)
                if bad_run >= MAX_BAD_FRAMES:
                    raise _Reconnect(f"the {self.label} sent {bad_run} frames in a row pmtui could not"
                                     " read") from None
                reason = err.message.rstrip(".").replace("mark price stream", self.label, 1)
                self._set(up=self._status.up, reason=reason)
                continue
            bad_run = 0
            now = self.server_ms()
            for symbol, mark in marks.items():
                held = self.marks.get(symbol)
                # Newest wins; a mark dated far ahead of the exchange's clock is bad input.
                if (held is None or mark.event_ms >= held.event_ms) and mark.event_ms <= now + 60_000:
                    self.marks[symbol] = mark
            if skipped:
                self._status = replace(self._status, bad_frames=self._status.bad_frames + skipped)
            self._status = replace(self._status, frames=self._status.frames + 1)
            self._set(up=True, reason=None)
            self._notify()
            if self._resubscribe_due():  # checked on frames: each pair sends one a second
                self._resubscribing = True
                raise _Resubscribe
            await asyncio.sleep(0)

    def _set(self, *, up: bool, reason: str | None) -> None:
        old = self._status
        new = replace(old, up=up, reason=reason, since=self.clock.monotonic() if up != old.up else old.since)
        if new == old:
            return
        self._status = new
        log.debug("mark price stream: %s%s", "up" if up else "down", f" ({reason})" if reason else "")
        self._notify()  # the accounts' sentences change with it


def _open_reason(exc: BaseException, open_timeout: float, label: str = "mark price stream") -> str:
    if isinstance(exc, InvalidStatus):
        return f"the exchange refused the {label} (HTTP {exc.response.status_code})"
    if isinstance(exc, TimeoutError):
        return f"the {label} did not connect within {open_timeout:g} s"
    if isinstance(exc, InvalidHandshake):
        return f"the {label}'s handshake failed ({type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"could not connect to the {label} (network down, DNS, or firewall)"
    return f"could not connect to the {label} ({type(exc).__name__})"


def _sentence(fragment: str) -> str:
    text = fragment.rstrip(".")
    return text[:1].upper() + text[1:] + "."


# --- repricing an account on the marks -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repriced:
    """An account's UM parts moved to the stream's marks: what the view is built on between REST
    refreshes (the raw parts stay as fetched). `age`: seconds since the oldest mark used."""

    account: UmAccount
    risks: tuple[PositionRisk, ...] | None
    age: float
    #: The COIN-M account and its positionRisk at the COIN-M stream's marks (as fetched: none open,
    #: or no mark newer than them).
    cm: CmAccount | None = None
    cm_risks: tuple[CmPositionRisk, ...] | None = None


def bracket_table(rows: Sequence[SymbolBrackets] | None) -> dict[str, tuple[list[Decimal], list[Decimal],
                                                                             list[Decimal]]]:
    """The UM leverage brackets (the risk engine's input, pmtui.riskfeed) as (caps, MMRs, cums)."""
    table = {}
    for row in rows or ():
        if row.symbol and (arrays := RiskModel._bracket_arrays(row)) is not None:
            table[row.symbol] = arrays
    return table


def maint_margin(notional: Decimal, old_notional: Decimal, old_mm: Decimal,
                 brackets: tuple[list[Decimal], list[Decimal], list[Decimal]] | None) -> Decimal:
    """A position's maintenance margin at |notional|: its bracket's MMR x notional - cum (Binance's
    rule), or without brackets Binance's last figure scaled with the notional."""
    size = abs(notional)
    if brackets is not None:
        caps, mmrs, cums = brackets
        i = next((k for k, cap in enumerate(caps) if size <= cap), len(caps) - 1)
        return max(Decimal(0), mmrs[i] * size - cums[i])
    old = abs(old_notional)
    return old_mm * size / old if old > 0 else old_mm


def _moved(book: B, risks: Sequence[R], upnl_delta: Mapping[str, Decimal], mm_delta: Mapping[str, Decimal],
           positions: Mapping[Any, Any], rows: Mapping[Any, R]) -> tuple[B, tuple[R, ...]]:
    """The account (UM or COIN-M) with its moved `positions` and each asset's uPnL and maintenance
    margin moved by the same amounts, and its positionRisk rows with the moved ones in place."""
    assets = tuple(
        a.model_copy(update={"crossUnPnl": a.crossUnPnl + upnl_delta[a.asset],
                             "maintMargin": a.maintMargin + mm_delta[a.asset]})
        if a.asset in upnl_delta else a for a in book.assets)
    moved = book.model_copy(update={
        "assets": assets, "positions": tuple(positions.get(p.key, p) for p in book.positions)})
    return moved, tuple(rows.get(r.key, r) if r.positionAmt != 0 else r for r in risks)


def reprice(account: UmAccount, risks: Sequence[PositionRisk] | None, marks: Mapping[str, Mark], *,
            since_ms: int, brackets: Mapping[str, Any] | None = None,
            now_ms: int | None = None) -> Repriced | None:
    """`account` and `risks` with each open UM position at its stream mark: uPnL moved by size x
    the mark's move since positionRisk's, notional at the mark, maintenance margin by bracket, and
    each quote asset's uPnL and maintenance margin by the same amounts. Only marks computed at or
    after `since_ms` (when the positions were asked for) are newer than REST's; None when no
    mark is, or a position cannot be moved (no positionRisk row or mark, an unknown quote)."""
    if risks is None:
        return None
    by_key = {r.key: r for r in risks if r.positionAmt != 0}
    assets = sorted((a.asset for a in account.assets), key=len, reverse=True)
    upnl_delta: dict[str, Decimal] = {}
    mm_delta: dict[str, Decimal] = {}
    new_positions = {}
    new_risks = {}
    oldest: int | None = None
    moved = False
    for p in account.open_positions:
        risk = by_key.get(p.key)
        mark = marks.get(p.symbol)
        quote = next((a for a in assets if p.symbol.endswith(a)), None)
        if risk is None or risk.markPrice is None or risk.markPrice <= 0 or mark is None or quote is None:
            return None
        oldest = mark.event_ms if oldest is None else min(oldest, mark.event_ms)
        if mark.event_ms < since_ms or mark.price == risk.markPrice:
            continue  # REST's figure is as new: kept
        moved = True
        move = p.positionAmt * (mark.price - risk.markPrice)
        notional = p.positionAmt * mark.price
        mm = maint_margin(notional, p.notional, p.maintMargin, (brackets or {}).get(p.symbol))
        upnl_delta[quote] = upnl_delta.get(quote, Decimal(0)) + move
        mm_delta[quote] = mm_delta.get(quote, Decimal(0)) + mm - p.maintMargin
        new_positions[p.key] = p.model_copy(update={
            "notional": notional, "maintMargin": mm,
            "unrealizedProfit": None if p.unrealizedProfit is None else p.unrealizedProfit + move})
        new_risks[risk.key] = risk.model_copy(update={
            "markPrice": mark.price, "notional": notional,
            "unRealizedProfit": None if risk.unRealizedProfit is None else risk.unRealizedProfit + move})
    if not moved or oldest is None:
        return None
    repriced, rows = _moved(account, risks, upnl_delta, mm_delta, new_positions, new_risks)
    now = now_ms if now_ms is not None else oldest
    return Repriced(repriced, rows, max(0.0, (now - oldest) / 1000))


def unpriceable(account: UmAccount, risks: Sequence[PositionRisk] | None) -> str | None:
    """Why the account's open UM positions cannot follow the stream's marks (one sentence), or
    None: each needs its positionRisk row's mark to move from, and a quote asset to book it in."""
    if not account.open_positions:
        return None
    if risks is None:
        return "Without positionRisk there is no mark to move the positions from. Prices come from polling."
    marked = {r.key for r in risks if r.positionAmt != 0 and r.markPrice is not None and r.markPrice > 0}
    assets = [a.asset for a in account.assets]
    for p in account.open_positions:
        if p.key not in marked:
            return (f"positionRisk gives no mark price for {clean(p.symbol, MAX_SYMBOL_LEN)}, so the stream's marks"
                    " cannot move it. Prices come from polling.")
        if not any(p.symbol.endswith(a) for a in assets):
            return (f"The account lists no asset {clean(p.symbol, MAX_SYMBOL_LEN)} is margined in, so the"
                    " stream's marks cannot move it. Prices come from polling.")
    return None



@dataclass(frozen=True, slots=True)
class RepricedCm:
    """The COIN-M parts at the COIN-M stream's marks; `oldest_ms`: the oldest mark used."""

    account: CmAccount
    risks: tuple[CmPositionRisk, ...]
    oldest_ms: int


def contracts_usd(contracts: Decimal, coin: str, notional_value: Decimal, mark: Decimal) -> Decimal:
    """What the contracts are worth in USD (fixed for an inverse contract): |contracts| x contract
    size (pmtui.model's), while Binance's own |notionalValue| x mark agrees within 1%; else (a
    contract size pmtui does not know) Binance's figure, as pmtui.risk.coin_m_exposures reads it."""
    ours = abs(contracts) * cm_contract_size(coin)
    binance = abs(notional_value) * mark
    return ours if abs(ours - binance) <= binance / 100 else binance


def reprice_cm(cm: CmAccount, risks: Sequence[CmPositionRisk] | None, marks: Mapping[str, Mark], *,
               since_ms: int) -> RepricedCm | None:
    """`cm` and `risks` with each open COIN-M (inverse) position at its stream mark, in its coin:

        uPnL     = contracts x contract size x (1/entry - 1/mark)   so it moves by V x (1/m0 - 1/m1)
        notional = contracts x contract size / mark
        maint    = its USD maintenance margin (fixed, as V is) / mark   (maintMargin x m0 / m1)

    V = contracts x contract size (USD, signed by direction; contracts_usd), m0 positionRisk's mark.
    The coin's asset row moves by the same amounts. Only marks at or after `since_ms` (when the COIN-M positions were
    asked for) are news; None when none is, or a position cannot be moved (cm_unpriceable)."""
    by_key = {r.key: r for r in risks or () if r.positionAmt != 0}
    coins = {a.asset for a in cm.assets}
    upnl_delta: dict[str, Decimal] = {}
    mm_delta: dict[str, Decimal] = {}
    new_positions = {}
    new_risks = {}
    oldest: int | None = None
    for p in cm.open_positions:
        risk = by_key.get(p.key)
        mark = marks.get(p.symbol)
        if (risk is None or risk.markPrice is None or risk.markPrice <= 0 or risk.notionalValue is None
                or mark is None or p.coin is None or p.coin not in coins):
            return None
        oldest = mark.event_ms if oldest is None else min(oldest, mark.event_ms)
        if mark.event_ms < since_ms or mark.price == risk.markPrice:
            continue  # REST's figure is as new: kept
        m0, m1 = risk.markPrice, mark.price
        usd = contracts_usd(p.positionAmt, p.coin, risk.notionalValue, m0) * (1 if p.is_long else -1)
        move = usd * (1 / m0 - 1 / m1)
        notional = usd / m1
        mm = p.maintMargin * m0 / m1
        upnl_delta[p.coin] = upnl_delta.get(p.coin, Decimal(0)) + move
        mm_delta[p.coin] = mm_delta.get(p.coin, Decimal(0)) + mm - p.maintMargin
        new_positions[p.key] = p.model_copy(update={
            "maintMargin": mm,
            "unrealizedProfit": None if p.unrealizedProfit is None else p.unrealizedProfit + move})
        new_risks[risk.key] = risk.model_copy(update={
            "markPrice": m1, "notionalValue": notional,
            "unRealizedProfit": None if risk.unRealizedProfit is None else risk.unRealizedProfit + move})
    if not new_positions or oldest is None:
        return None
    moved, rows = _moved(cm, risks or (), upnl_delta, mm_delta, new_positions, new_risks)
    return RepricedCm(moved, rows, oldest)


def cm_unpriceable(cm: CmAccount | None, risks: Sequence[CmPositionRisk] | None) -> str | None:
    """Why the account's open COIN-M positions cannot follow the COIN-M stream's marks (one
    sentence), or None: each needs its positionRisk row's mark and notionalValue to move from,
    and its coin's asset row to book the move in."""
    if cm is None or not cm.open_positions:
        return None
    if risks is None:
        return ("Without COIN-M positionRisk there is no mark to move the COIN-M positions from."
                " Prices come from polling.")
    marked = {r.key for r in risks if r.positionAmt != 0 and r.markPrice is not None and r.markPrice > 0
              and r.notionalValue is not None}
    coins = {a.asset for a in cm.assets}
    for p in cm.open_positions:
        name = clean(p.symbol, MAX_SYMBOL_LEN)
        if p.key not in marked:
            return (f"COIN-M positionRisk gives no mark price or notional for {name}, so the stream's marks"
                    " cannot move it. Prices come from polling.")
        if p.coin is None or p.coin not in coins:
            return (f"The COIN-M account lists no coin {name} is margined in, so the stream's marks cannot"
                    " move it. Prices come from polling.")
    return None


def _moves(positions: Sequence[Position | CmPosition], risks: Sequence[PositionRisk | CmPositionRisk] | None,
           marks: Mapping[str, Mark], since_ms: int) -> tuple[Decimal | None, ...]:
    """Per position, the mark `reprice` would move it to, or None where REST's figure stands (no
    mark, one older than the positions, or REST's own mark price)."""
    rest = {r.key: r.markPrice for r in risks or () if r.positionAmt != 0}
    out: list[Decimal | None] = []
    for p in positions:
        mark = marks.get(p.symbol)
        moves = mark is not None and mark.event_ms >= since_ms and mark.price != rest.get(p.key)
        out.append(mark.price if moves and mark is not None else None)
    return tuple(out)


# --- one account's use of the feed ---------------------------------------------------------------


class AccountMarks:
    """What one Monitor keeps of the shared feeds (USD-M's, and COIN-M's if it has one): whether
    its positions are priced live (every open one, UM and COIN-M, at a live mark), why not (one
    sentence), and the repriced parts its view is built on."""

    def __init__(self, feed: MarkFeed, cm_feed: MarkFeed | None = None) -> None:
        self.feed = feed
        self.cm_feed = cm_feed
        #: The exchange's time (ms) the positions shown were asked for: older marks are not news.
        self.since_ms = 0
        #: The same for the COIN-M positions (fetched on their own cadence).
        self.cm_since_ms = 0
        #: The streams price every open position of the account now (else: REST's figures).
        self.live = False
        #: Why not, one sentence (None while live).
        self.note: str | None = "Connecting to the mark price stream; prices come from polling."
        self._priced: tuple[str, ...] = ()  # the UM symbols the shown figures are at the stream's marks
        self._cm_priced: tuple[str, ...] = ()  # the COIN-M ones
        self._seen: tuple[Any, ...] | None = None
        self._brackets: tuple[Any, dict[str, Any]] = (None, {})
        self._cm_told: Any = None  # the COIN-M account whose pairs the COIN-M feed was told

    def subscribe(self, callback: Callable[[], None]) -> list[Callable[[], None]]:
        """`callback()` on each feed's frames; what to call to leave them (which also tells the
        COIN-M feed this account holds no pair any more)."""
        offs = [self.feed.subscribe(callback)]
        if self.cm_feed is not None:
            offs.append(self.cm_feed.subscribe(callback, key=self))
        return offs

    def brackets(self, rows: Sequence[SymbolBrackets] | None) -> dict[str, Any]:
        if rows is not self._brackets[0]:  # read once per fetch of the brackets
            self._brackets = (rows, bracket_table(rows))
        return self._brackets[1]

    @property
    def feeds(self) -> tuple[MarkFeed, ...]:
        return (self.feed,) if self.cm_feed is None else (self.feed, self.cm_feed)

    @property
    def age(self) -> float | None:
        """Seconds since the oldest mark of the account's symbols was computed, while the shown
        figures are the stream's (None: REST's own). A price that did not move is as current as
        the frame that repeated it."""
        ages = [self.feed.age(self._priced) if self._priced else None,
                self.cm_feed.age(self._cm_priced) if self.cm_feed is not None and self._cm_priced else None]
        known = [a for a in ages if a is not None]
        return max(known) if known else None

    def _tell_pairs(self, cm: CmAccount | None) -> None:
        """Tell the COIN-M feed the pairs of this account's open COIN-M positions (once per fetch)."""
        if self.cm_feed is not None and cm is not self._cm_told:
            self._cm_told = cm
            self.cm_feed.want(self, {pair for p in cm.open_positions if (pair := cm_pair(p)) is not None}
                              if cm is not None else ())

    def _problem(self, symbols: Iterable[str], cm_symbols: Iterable[str]) -> str | None:
        cm_symbols = sorted(cm_symbols)
        problem = self.feed.problem(symbols)
        if problem is None and cm_symbols:
            if self.cm_feed is None:
                return ("No COIN-M mark price stream is set for this account's server"
                        " (cm_market_stream_url). Prices come from polling.")
            problem = self.cm_feed.problem(cm_symbols)
        return problem

    def _basis(self, account: UmAccount | None, risks: Sequence[PositionRisk] | None, cm: CmAccount | None,
               cm_risks: Sequence[CmPositionRisk] | None) -> tuple[Any, ...]:
        """What the account's figures rest on: the streams' verdict and, per open position, the
        mark that moves it (newer than its positions and not REST's own price; None: REST's stands)."""
        positions = account.open_positions if account is not None else []
        cm_positions = cm.open_positions if cm is not None else []
        problem = self._problem({p.symbol for p in positions}, {p.symbol for p in cm_positions})
        cm_marks = self.cm_feed.marks if self.cm_feed is not None else {}
        return (problem, _moves(positions, risks, self.feed.marks, self.since_ms),
                _moves(cm_positions, cm_risks, cm_marks, self.cm_since_ms))

    def news(self, account: UmAccount | None, risks: Sequence[PositionRisk] | None = None,
             cm: CmAccount | None = None, cm_risks: Sequence[CmPositionRisk] | None = None) -> bool:
        """Whether anything this account shows would change since its figures were last built
        (`apply`): a mark that moves one of its positions, or its live/not-live verdict. Cheap:
        called on every frame and every tick. A frame that repeats the prices, or brings the very
        prices REST's positions carry, rebuilds nothing (a rebuilt state repaints the dashboard)."""
        self._tell_pairs(cm)
        basis = self._basis(account, risks, cm, cm_risks)
        if basis == self._seen:
            return False
        self._seen = basis
        return True

    def apply(self, account: UmAccount, risks: Sequence[PositionRisk] | None,
              brackets: Sequence[SymbolBrackets] | None, cm: CmAccount | None = None,
              cm_risks: Sequence[CmPositionRisk] | None = None) -> Repriced | None:
        """The account at the streams' marks, or None (REST's figures stand: the streams are not
        live for every open position, or no mark is newer than the positions)."""
        self._seen = self._basis(account, risks, cm, cm_risks)  # what `news` compares with
        symbols = {p.symbol for p in account.open_positions}
        cm_symbols = {p.symbol for p in cm.open_positions} if cm is not None else set()
        self._tell_pairs(cm)  # as soon as they are fetched, not at the next frame
        self.note = (self._problem(symbols, cm_symbols) or unpriceable(account, risks)
                     or cm_unpriceable(cm, cm_risks))
        self.live = self.note is None
        self._priced = self._cm_priced = ()
        if not self.live:
            return None
        now = self.feed.server_ms()
        priced = reprice(account, risks, self.feed.marks, since_ms=self.since_ms,
                         brackets=self.brackets(brackets), now_ms=now)
        moved_cm = None
        if cm is not None and cm_symbols and self.cm_feed is not None:
            moved_cm = reprice_cm(cm, cm_risks, self.cm_feed.marks, since_ms=self.cm_since_ms)
        if priced is None and moved_cm is None:
            return None
        if priced is not None:
            self._priced = tuple(sorted(symbols))
        else:
            priced = Repriced(account, tuple(risks) if risks is not None else None, 0.0)
        if moved_cm is None:
            return replace(priced, cm=cm, cm_risks=tuple(cm_risks) if cm_risks is not None else None)
        self._cm_priced = tuple(sorted(cm_symbols))
        return replace(priced, cm=moved_cm.account, cm_risks=moved_cm.risks,
                       age=max(priced.age, max(0.0, (now - moved_cm.oldest_ms) / 1000)))
