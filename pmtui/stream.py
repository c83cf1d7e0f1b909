"""The Portfolio Margin user data stream: push events that supplement polling, never replace it.

    stream = UserStream(client, DEFAULT_STREAM_URL, on_event=..., on_status=...)
    task = asyncio.create_task(stream.run())   # runs until cancelled; never raises
    ...
    task.cancel()                               # closes the socket; the listen key is left alone

`run()` gets a listen key through the client (so the weight budget, deadlines and error typing
apply), connects to `{stream_url}/{listen_key}`, hands each event it understands to `on_event`
and each change of health to `on_status`. It keeps the key alive (PUT every `keepalive_s`), gets
a new one when the exchange says it expired (-1125 on PUT, or a `listenKeyExpired` event), and
reconnects by itself after any fault with capped, jittered exponential backoff.

It never DELETEs the listen key: Binance gives every consumer of an account the same active key
(a trading bot's included), so closing it would cut them off their stream. A key nobody keeps
alive expires by itself 60 minutes after the last PUT.

The listen key lets whoever holds it read the account's events: it never appears in a log line,
a status reason, an error or a repr. The socket's own debug log (websockets logs the request
line, which holds the key) goes through a redacting logger.

No Textual import here: the Monitor owns a UserStream and turns its callbacks into screen state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from pmtui.clock import SYSTEM_CLOCK, Clock, uniform
from pmtui.errors import BadFrame, ListenKeyInvalid, PmtuiError
from pmtui.logs import Redactor, secret_forms
from pmtui.models import wire_decimal
from pmtui.text import clean
from pmtui.urls import check_url

log = logging.getLogger(__name__)

#: Largest frame accepted (websockets' max_size): real events are a few KiB; a hostile or broken
#: server cannot balloon memory past this per frame.
MAX_FRAME = 1024 * 1024
#: Unreadable frames in a row before the connection is dropped and made again. One bad frame
#: (a new field shape, a glitch) is counted and shown, not a reason to drop a healthy stream.
MAX_BAD_FRAMES = 5
#: Bound of what a shutdown may take: closing the socket.
SHUTDOWN_TIMEOUT = 2.0
# Event times outside these are not times (the same bounds as the client's server time).
_MIN_EVENT_MS = 0
_MAX_EVENT_MS = 4_102_444_800_000  # 2100-01-01
#: An event dated more than this after the exchange's clock (as the client measured it) is bad
#: input: ignored, and never the "latest seen" time that would make every later event look old.
FUTURE_TOLERANCE_MS = 60_000

# Event types the stream knows (Binance's PM user data stream pages and the official SDK's
# derivatives_trading_portfolio_margin websocket_streams models). Each means "the account
# changed": the Monitor may refresh early. Anything else is ignored (parse_event -> None).
ACCOUNT_EVENTS = frozenset(
    {
        "ACCOUNT_UPDATE",  # UM/CM balance and position update
        "ORDER_TRADE_UPDATE",  # UM/CM order update
        "ACCOUNT_CONFIG_UPDATE",  # leverage / multi-assets mode change
        "CONDITIONAL_ORDER_TRADE_UPDATE",  # UM/CM conditional order update
        "liabilityChange",  # margin loan: borrow, repay, interest
        "openOrderLoss",  # cross margin open-order loss
        "outboundAccountPosition",  # margin account balance update
        "balanceUpdate",  # margin balance delta
        "executionReport",  # margin order update
    }
)
RISK_EVENTS = frozenset({"riskLevelChange", "RISK_LEVEL_CHANGE"})  # the docs print both


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskLevelChange:
    """`riskLevelChange`: the account's uniMMR crossed a risk band. Binance warns it can arrive
    after liquidation already began: a prompt to look, never the only source of truth."""

    event_time: int  # E, ms
    uniMMR: Decimal | None  # u
    status: str | None  # s: MARGIN_CALL, REDUCE_ONLY, FORCE_LIQUIDATION
    equity: Decimal | None  # eq, USD
    actual_equity: Decimal | None  # ae, USD, without collateral rates
    maint_margin: Decimal | None  # m, USD


@dataclass(frozen=True, slots=True)
class AccountChange:
    """Something in the account changed (balances, positions, orders, loans): poll soon."""

    kind: str  # the event type, e.g. ACCOUNT_UPDATE
    event_time: int  # E, ms
    #: An order Binance placed itself: a liquidation ("autoclose-…") or an ADL ("adl_autoclose…")
    #: client order id on ORDER_TRADE_UPDATE (the ledger reads its forced orders at once).
    forced: bool = False


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    """`listenKeyExpired`: no more events on this key; the stream gets a new one. (The event may
    carry the key itself: it is not kept.)"""

    event_time: int  # E, ms


StreamEvent = RiskLevelChange | AccountChange | ListenKeyExpired


def parse_event(frame: str | bytes) -> StreamEvent | None:
    """One frame of the stream as an event; None for an event type pmtui ignores.

    Anything that is not a well-formed event (not UTF-8 JSON, not an object, no type, a bad time
    or number, larger than MAX_FRAME) raises BadFrame with one sentence for a person."""
    if len(frame) > MAX_FRAME:
        raise BadFrame(f"The stream sent a frame larger than {MAX_FRAME // 1024} KiB; it was dropped unread.")
    if isinstance(frame, (bytes, bytearray, memoryview)):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            raise BadFrame("The stream sent a frame that is not UTF-8 text.") from None
    try:
        data = json.loads(frame, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadFrame("The stream sent a frame that is not valid JSON.") from None
    if isinstance(data, dict) and "e" not in data and isinstance(data.get("data"), dict):
        data = data["data"]  # the combined-stream envelope {"stream": …, "data": {…}}
    if not isinstance(data, dict):
        raise BadFrame("The stream sent a frame that is not a JSON object.")
    kind = data.get("e")
    if not isinstance(kind, str) or not kind:
        raise BadFrame("The stream sent a frame without an event type.")
    if kind not in ACCOUNT_EVENTS and kind not in RISK_EVENTS and kind != "listenKeyExpired":
        return None
    name = clean(kind, 40)
    when = _event_time(data.get("E"), name)
    if kind == "listenKeyExpired":
        return ListenKeyExpired(when)
    if kind in ACCOUNT_EVENTS:
        order = data.get("o")
        cid = order.get("c") if isinstance(order, dict) else None
        forced = kind == "ORDER_TRADE_UPDATE" and isinstance(cid, str) and cid.startswith(("autoclose-", "adl_"))
        return AccountChange(name, when, forced)
    status = data.get("s")
    if status is not None and not isinstance(status, str):
        raise BadFrame("The stream sent a riskLevelChange whose status is not text.")
    return RiskLevelChange(
        event_time=when,
        uniMMR=_decimal(data.get("u"), "uniMMR"),
        status=(clean(status, 40) or None) if status is not None else None,
        equity=_decimal(data.get("eq"), "equity"),
        actual_equity=_decimal(data.get("ae"), "actual equity"),
        maint_margin=_decimal(data.get("m"), "maintenance margin"),
    )


def _refuse_constant(token: str) -> Any:
    raise ValueError(token)  # NaN / Infinity are not JSON numbers


def _event_time(value: Any, kind: str) -> int:
    # An integer of ms; some of Binance's own examples print it as a string of digits.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and _MIN_EVENT_MS < value <= _MAX_EVENT_MS:
        return value
    raise BadFrame(f"The stream sent a {kind} event without a valid event time.")


def _decimal(value: Any, what: str) -> Decimal | None:
    """A decimal string (or number) as Decimal; absent or "" (Binance's "not given") as None."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool) and len(str(value)) <= 40:
        try:
            # The REST models' rule: the wire's number grammar ("5_0", "٥" refused) and range.
            return wire_decimal(value)
        except ValueError:
            pass
    raise BadFrame(f"The stream sent a riskLevelChange whose {what} is not a number.")


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushStatus:
    """The stream's health, for a person. `reason`: one sentence when down (or, while up, the
    last unreadable frame); `since`: monotonic time `up` last changed; counts since start."""

    up: bool
    reason: str | None
    since: float | None
    events: int
    bad_frames: int = 0
    connections: int = 0


# --- the stream --------------------------------------------------------------------------------


def websockets_connect() -> Callable[..., Any]:
    """websockets' asyncio client, imported at the first real connection: not at start-up (the
    demo streams from memory; a one-shot command never connects)."""
    import websockets.asyncio.client

    return websockets.asyncio.client.connect


class _Reconnect(Exception):
    """A connection ended: `reason` (one sentence) says why; `key_gone`: get a new key first."""

    def __init__(self, reason: str, *, key_gone: bool = False, permanent: bool = False,
                 wait: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_gone = key_gone
        self.permanent = permanent  # a person must act (bad API key): wait the longest backoff
        self.wait = wait  # the least wait before trying again (a 429's Retry-After)


class _KeyRedactor(Redactor):
    """The Redactor on the socket's logger (websockets logs the request line, key included),
    told each new listen key. Keys are kept (as their redaction forms) for the process's life:
    a few per day."""

    def __init__(self) -> None:
        super().__init__([])

    def add(self, key: str) -> None:
        forms = set(self._secrets) | secret_forms(key)
        self._secrets = sorted(forms, key=len, reverse=True)


class UserStream:
    """The user data stream of one account. See the module docstring; `run()` never raises
    (but CancelledError), `status` is always current, callbacks are never allowed to kill it."""

    def __init__(
        self,
        client: Any,
        stream_url: str,
        *,
        on_event: Callable[[StreamEvent], None],
        on_status: Callable[[PushStatus], None],
        connect: Callable[..., Any] | None = None,
        keepalive_s: float = 1800.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        max_backoff: float = 60.0,
        clock: Clock | None = None,
        healthy_s: float = 60.0,
        open_timeout: float = 10.0,
        close_timeout: float = SHUTDOWN_TIMEOUT,
        server_ms: Callable[[], int] | None = None,
    ) -> None:
        #: The PapiClient (anything with create/keepalive_listen_key coroutines).
        self.client = client
        self.stream_url = check_url(stream_url, "stream_url", websocket=True)
        self._on_event = on_event
        self._on_status = on_status
        self._connect = connect
        self.keepalive_s = keepalive_s
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_backoff = max_backoff
        self.healthy_s = healthy_s
        self.open_timeout = open_timeout
        #: Bound of a socket's close handshake (on shutdown too).
        self.close_timeout = close_timeout
        #: Reconnect backoff (its waits and jitter) and health ages read it; the client's clock
        #: unless given. (The keep-alive runs on the loop's clock.)
        self.clock: Clock = clock if clock is not None else getattr(client, "clock", SYSTEM_CLOCK)
        #: The exchange's time now, in ms (the client's clock and measured offset by default).
        if server_ms is None:
            server_ms = getattr(client, "server_now_ms", None) or (lambda: int(self.clock.time() * 1000))
        self._server_ms: Callable[[], int] = server_ms
        self._redactor = _KeyRedactor()
        self._ws_log = logging.getLogger("pmtui.stream.socket")
        if not any(isinstance(f, _KeyRedactor) for f in self._ws_log.filters):
            self._ws_log.addFilter(self._redactor)
        else:  # one redactor per process: streams share the socket logger
            self._redactor = next(f for f in self._ws_log.filters if isinstance(f, _KeyRedactor))
        self._key: str | None = None
        self._ws: Any = None
        self._last_risk_time: int | None = None
        self._connected_at: float | None = None  # monotonic time the current connection opened
        self._status = PushStatus(False, "connecting to the exchange's user data stream",
                                  self.clock.monotonic(), 0)
        #: Delays of the last reconnect waits (for tests and the debug log).
        self.backoffs: deque[float] = deque(maxlen=100)

    def __repr__(self) -> str:
        return f"UserStream(stream_url={self.stream_url!r}, up={self._status.up})"

    @property
    def status(self) -> PushStatus:
        return self._status

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream until cancelled. On cancel: close the socket within close_timeout (the listen
        key is left to expire: it is shared), then re-raise the cancellation."""
        attempt = 0
        self._publish()
        try:
            while True:
                try:
                    await self._session()
                except _Reconnect as stop:
                    end = stop
                except PmtuiError as err:  # the listen key could not be had (REST errors)
                    end = _Reconnect(_fragment(err.message), permanent=not err.retryable,
                                     wait=err.retry_after or 0.0)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - never a traceback out of run()
                    log.debug("user data stream: unexpected %s", type(exc).__name__)
                    end = _Reconnect(
                        f"the stream stopped on an unexpected error ({type(exc).__name__}); reconnecting"
                    )
                self._set(up=False, reason=end.reason)
                if end.key_gone:
                    self._key = None
                opened = self._connected_at
                healthy = opened is not None and self.clock.monotonic() - opened >= self.healthy_s
                self._connected_at = None
                if healthy:
                    attempt = 0
                if end.permanent:
                    delay = self.max_backoff
                elif healthy:
                    delay = 0.0  # a long good connection ended (the 24 h cut, an expired key)
                else:
                    delay = min(self.max_backoff, 2.0 ** attempt) * uniform(self.clock, 0.5, 1.0)
                    attempt = min(attempt + 1, 30)
                delay = max(delay, end.wait)
                self.backoffs.append(delay)
                if delay > 0:
                    await self.clock.sleep(delay)
        finally:
            await self._shutdown()

    async def _session(self) -> None:
        """One listen key and one connection, until it ends (raises _Reconnect)."""
        key = await self.client.create_listen_key()
        self._key = key
        self._redactor.add(key)
        url = f"{self.stream_url}/{key}"
        try:
            async with asyncio.timeout(self.open_timeout + 1):  # the connect's own timeout, bounded
                manager = (self._connect or websockets_connect())(
                    url,
                    max_size=MAX_FRAME,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                    open_timeout=self.open_timeout,
                    close_timeout=self.close_timeout,
                    compression=None,  # small JSON events; no inflating a hostile server's bytes
                    logger=self._ws_log,
                )
                ws = await manager.__aenter__()
        except BaseException as exc:  # noqa: BLE001 - turned into a reason, or re-raised
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise _Reconnect(self._open_reason(exc)) from None
        self._ws = ws
        self._connected_at = self.clock.monotonic()
        self._status = replace(self._status, connections=self._status.connections + 1)
        self._set(up=True, reason=None)
        reader = asyncio.ensure_future(self._read(ws))
        keeper = asyncio.ensure_future(self._keep_alive())
        try:
            done, _ = await asyncio.wait({reader, keeper}, return_when=asyncio.FIRST_COMPLETED)
            failure = done.pop().exception()
            if failure is not None:
                raise failure
            raise _Reconnect("the stream ended")  # neither returns normally
        except ConnectionClosed as closed:
            raise _Reconnect(self._closed_reason(closed)) from None
        finally:
            for task in (reader, keeper):
                task.cancel()
            await asyncio.gather(reader, keeper, return_exceptions=True)
            self._ws = None
            try:
                async with asyncio.timeout(self.close_timeout):
                    await manager.__aexit__(None, None, None)
            except Exception:  # noqa: BLE001 - a socket that will not close is abandoned
                pass

    async def _read(self, ws: Any) -> None:
        bad_run = 0
        while True:
            frame = await ws.recv()
            try:
                event = parse_event(frame)
            except BadFrame as err:
                bad_run += 1
                self._status = replace(self._status, bad_frames=self._status.bad_frames + 1)
                log.debug("user data stream: unreadable frame (%s)", err.message)
                if bad_run >= MAX_BAD_FRAMES:
                    raise _Reconnect(
                        f"the exchange sent {bad_run} frames in a row pmtui could not read; reconnecting"
                    ) from None
                self._set(up=True, reason=f"ignored a frame pmtui could not read: {_fragment(err.message)}")
                continue
            bad_run = 0
            if event is None:
                continue
            ahead = event.event_time - self._server_ms()
            if ahead > FUTURE_TOLERANCE_MS:
                # A clock gone wrong (or a hostile server): believing it would make every later,
                # correctly dated event look older than this one, silencing the stream for good.
                self._status = replace(self._status, bad_frames=self._status.bad_frames + 1)
                log.debug("user data stream: dropped an event dated %d s ahead", ahead // 1000)
                kind = event.kind if isinstance(event, AccountChange) else type(event).__name__
                self._set(up=True, reason=f"ignored a {_EVENT_NAMES.get(kind, kind)} event dated "
                                          f"{_duration(ahead)} after the exchange's clock")
                continue
            if isinstance(event, ListenKeyExpired):
                raise _Reconnect("the listen key expired; getting a new one", key_gone=True)
            if isinstance(event, RiskLevelChange):
                # Binance: order updates by E. An older risk level than the one shown is stale.
                if self._last_risk_time is not None and event.event_time < self._last_risk_time:
                    log.debug("user data stream: dropped a riskLevelChange older than the last one")
                    continue
                self._last_risk_time = event.event_time
            self._status = replace(self._status, events=self._status.events + 1)
            if self._status.up and self._status.reason is not None:
                self._set(up=True, reason=None)  # a good event after a bad frame: healthy again
            self._call(self._on_event, event)
            # recv() returns buffered frames without yielding: in a flood, let the loop breathe
            # (pings, the other accounts, the screen) between events.
            await asyncio.sleep(0)

    async def _keep_alive(self) -> None:
        """PUT the key every keepalive_s; a failed PUT is tried again within a minute (the key
        lasts 60 min). -1125: the key is gone, reconnect with a new one."""
        wait = self.keepalive_s
        while True:
            await asyncio.sleep(wait)
            try:
                await self.client.keepalive_listen_key()
            except ListenKeyInvalid:
                raise _Reconnect("the listen key expired; getting a new one", key_gone=True) from None
            except PmtuiError as err:
                log.debug("user data stream: keep-alive failed (%s)", err.message)
                wait = min(60.0, self.keepalive_s)
            else:
                wait = self.keepalive_s

    async def _shutdown(self) -> None:
        """Close the socket, bounded in time; never raises. The listen key is not DELETEd: every
        consumer of the account shares it (a trading bot too), and it expires by itself."""
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await ws.close()
            except Exception:  # noqa: BLE001
                pass
        self._key = None
        self._set(up=False, reason="the user data stream is stopped")

    # --- reasons ----------------------------------------------------------------------------

    def _open_reason(self, exc: BaseException) -> str:
        if isinstance(exc, InvalidStatus):
            return f"the exchange refused the stream (HTTP {exc.response.status_code})"
        if isinstance(exc, InvalidURI):
            return "the stream URL is not one the socket library accepts"
        if isinstance(exc, TimeoutError):
            return f"the stream server did not complete the connection within {self.open_timeout:g} s"
        if isinstance(exc, InvalidHandshake):
            return f"the stream's handshake failed ({type(exc).__name__})"
        if isinstance(exc, ConnectionClosed):
            return self._closed_reason(exc)
        if isinstance(exc, OSError):
            return "could not connect to the stream server (network down, DNS, or firewall)"
        log.debug("user data stream: connect failed with %s", type(exc).__name__)
        return f"could not connect to the stream ({type(exc).__name__})"

    def _closed_reason(self, closed: ConnectionClosed) -> str:
        sent, rcvd = closed.sent, closed.rcvd
        if sent is not None and rcvd is None and "ping timeout" in (sent.reason or ""):
            return f"no pong from the exchange within {self.ping_timeout:g} s of a ping; reconnecting"
        if sent is not None and rcvd is None and sent.code == 1009:
            return f"the exchange sent a frame larger than {MAX_FRAME // 1024} KiB; reconnecting"
        if rcvd is not None:
            return f"the exchange closed the stream (code {rcvd.code}); reconnecting"
        return "the connection to the stream broke; reconnecting"

    # --- callbacks --------------------------------------------------------------------------

    def _set(self, *, up: bool, reason: str | None) -> None:
        old = self._status
        since = self.clock.monotonic() if up != old.up else old.since
        new = replace(old, up=up, reason=reason, since=since)
        if new == old:
            return
        self._status = new
        log.debug("user data stream: %s%s", "up" if up else "down", f" ({reason})" if reason else "")
        self._publish()

    def _publish(self) -> None:
        self._call(self._on_status, self._status)

    def _call(self, callback: Callable[[Any], None], value: Any) -> None:
        try:
            callback(value)
        except Exception as exc:  # noqa: BLE001 - a broken callback must not end the stream
            log.debug("user data stream: callback raised %s", type(exc).__name__)


_EVENT_NAMES = {"RiskLevelChange": "riskLevelChange", "ListenKeyExpired": "listenKeyExpired"}


def _duration(ms: int) -> str:
    """A span in the largest fitting unit, for a person: "90 s", "5 min", "3 h", "3,650 days"."""
    seconds = ms // 1000
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size:,} {unit}"
    return f"{seconds:,} s"


def _fragment(message: str) -> str:
    """An error's sentence as a status fragment: first letter lower-case, no final period."""
    text = message.rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
