"""The Portfolio Margin API client: signed read-only GETs on one pooled httpx.AsyncClient.

It owns what a caller should never have to think about: the clock offset to the exchange
(measured at start and again on -1021), the used request weight, and bans: while a 429/418
wait is in force it refuses to send anything and raises the same error again.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import SecretStr

from pmtui import __version__
from pmtui.config import is_loopback
from pmtui.errors import (
    ApiError,
    AuthError,
    BadSignature,
    ClockSkew,
    ConfigError,
    IPBanned,
    MalformedResponse,
    NetworkError,
    PmtuiError,
    RateLimited,
    RequestTimeout,
    ServerError,
    WafBlocked,
)
from pmtui.models import (
    PmAccount,
    PositionRisk,
    UmAccount,
    decode_json,
    parse_pm_account,
    parse_position_risk,
    parse_um_account,
)
from pmtui.logs import Redactor
from pmtui.signing import Signer

log = logging.getLogger(__name__)
# httpx logs each request URL at INFO, signature included: redact it wherever the record goes.
logging.getLogger("httpx").addFilter(Redactor([]))

DEFAULT_BASE_URL = "https://papi.binance.com"
DEFAULT_TIME_BASE_URL = "https://fapi.binance.com"
MAX_RECV_WINDOW = 60_000
# Paths pmtui may ever request: all documented read-only endpoints.
READ_ONLY_PATHS = frozenset(
    {
        "/papi/v2/um/account",
        "/papi/v1/account",
        "/papi/v1/um/positionRisk",
        "/papi/v1/balance",
        "/papi/v1/ping",
        "/fapi/v1/time",
    }
)
AUTH_HELP = (
    "The exchange refused the API key (-2015): check that the account is enrolled in Portfolio "
    "Margin, the key was created after Portfolio Margin was activated, this machine's IP is on "
    "the key's whitelist, and the key has 'Enable Reading'."
)
_BAN_UNTIL = re.compile(r"banned until (\d{12,14})")


def check_url(url: str, what: str = "base URL") -> str:
    """An API URL without its trailing slash; plain http only for loopback test servers.
    (Settings check URLs more thoroughly; this guards clients built without them.)"""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"The {what} {url!r} is not an http(s) URL.")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"Refusing plain http:// to {host}: API keys must only travel over HTTPS "
            "(http is allowed for loopback test servers)."
        )
    return url.strip().rstrip("/")


class PapiClient:
    def __init__(
        self,
        *,
        api_key: SecretStr | str | None,
        signer: Signer | None,
        base_url: str = DEFAULT_BASE_URL,
        time_base_url: str | None = None,
        recv_window: int = 5000,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise ConfigError(f"recv_window must be between 1 and {MAX_RECV_WINDOW} ms.")
        self.base_url = check_url(base_url)
        if time_base_url is None:
            time_base_url = DEFAULT_TIME_BASE_URL if self.base_url == DEFAULT_BASE_URL else self.base_url
        self.time_base_url = check_url(time_base_url, "time base URL")
        self._api_key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._signer = signer
        self.recv_window = recv_window
        self.timeout = timeout
        self._clock = clock
        self._monotonic = monotonic
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            headers={"User-Agent": f"pmtui/{__version__}"},
            follow_redirects=False,
        )
        #: Server time minus local time, in ms; None until measured.
        self.time_offset_ms: int | None = None
        #: X-MBX-USED-WEIGHT-1M of the last response: this IP's weight in the current minute.
        self.used_weight: int | None = None
        #: Round trip of the last request, in ms.
        self.latency_ms: float | None = None
        self._blocked_until = 0.0  # monotonic time before which nothing is sent
        self._block_error: PmtuiError | None = None
        self._date_offset_ms: int | None = None  # coarse offset from the HTTP Date header
        self._rate_strikes = 0  # consecutive 429s without Retry-After, for exponential backoff

    async def __aenter__(self) -> "PapiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"PapiClient(base_url={self.base_url!r})"

    # --- public endpoints -------------------------------------------------------------------

    async def um_account(self) -> UmAccount:
        return parse_um_account(await self.signed_get("/papi/v2/um/account"))

    async def pm_account(self) -> PmAccount:
        return parse_pm_account(await self.signed_get("/papi/v1/account"))

    async def position_risk(self) -> tuple[PositionRisk, ...]:
        return parse_position_risk(await self.signed_get("/papi/v1/um/positionRisk"))

    async def ping(self) -> None:
        await self._send(self.base_url, "/papi/v1/ping", "")

    def blocked_for(self) -> float:
        """Seconds left of a ban or Retry-After wait (0 when requests may go out)."""
        return max(0.0, self._blocked_until - self._monotonic())

    async def sync_time(self) -> int:
        """Measure server time minus local time against /fapi/v1/time (midpoint of the trip)."""
        t0 = self._clock()
        data = await self._send(self.time_base_url, "/fapi/v1/time", "")
        t1 = self._clock()
        server = data.get("serverTime") if isinstance(data, dict) else None
        if not isinstance(server, int) or isinstance(server, bool):
            raise MalformedResponse("The exchange's time endpoint did not return a server time.")
        self.time_offset_ms = round(server - (t0 + t1) * 500)
        log.debug("clock offset to exchange: %+d ms", self.time_offset_ms)
        return self.time_offset_ms

    # --- signed requests --------------------------------------------------------------------

    async def signed_get(self, path: str) -> Any:
        if self._signer is None or not self._api_key:
            raise AuthError("No API key is configured: set one in the config file, or try --demo.")
        if self.time_offset_ms is None:
            await self._sync_clock()
        try:
            return await self._send(self.base_url, path, self._signed_query(), signed=True)
        except ClockSkew:
            # Clocks drift and jump (suspend, NTP): measure again and retry exactly once.
            await self._sync_clock()
            try:
                return await self._send(self.base_url, path, self._signed_query(), signed=True)
            except ClockSkew as err:
                raise ClockSkew(
                    f"The exchange still rejects our timestamps after a clock resync "
                    f"(offset {self.time_offset_ms:+d} ms): check this machine's clock.",
                    code=err.code,
                    status=err.status,
                ) from None

    async def _sync_clock(self) -> None:
        try:
            await self.sync_time()
        except (NetworkError, ServerError, MalformedResponse, ApiError, WafBlocked) as err:
            # The time endpoint lives on another host; if only it fails, the coarse offset from
            # the last Date header (or none) beats not fetching at all.
            self.time_offset_ms = self._date_offset_ms or 0
            log.debug("clock sync failed (%s); using offset %+d ms", err.kind, self.time_offset_ms)

    def _signed_query(self) -> str:
        timestamp = int(self._clock() * 1000) + (self.time_offset_ms or 0)
        query = urlencode({"timestamp": timestamp, "recvWindow": self.recv_window})
        # The signature must be the last parameter; it is computed over everything before it.
        return f"{query}&signature={self._signer.sign(query)}"

    async def _send(self, base: str, path: str, query: str, *, signed: bool = False) -> Any:
        if path not in READ_ONLY_PATHS:
            raise ValueError(f"{path} is not a read-only endpoint pmtui knows")
        if (wait := self.blocked_for()) > 0 and self._block_error is not None:
            err = self._block_error
            raise type(err)(err.message, status=err.status, code=err.code, retry_after=wait)
        url = f"{base}{path}?{query}" if query else f"{base}{path}"
        headers = {"X-MBX-APIKEY": self._api_key} if signed else {}
        started = time.perf_counter()
        try:
            response = await self._http.get(url, headers=headers)
        except httpx.TimeoutException:
            raise RequestTimeout(
                f"The exchange did not answer within {self.timeout:g} s ({path})."
            ) from None
        except httpx.HTTPError as err:
            raise NetworkError(
                f"Could not reach {urlsplit(base).hostname}: {_network_reason(err)}."
            ) from None
        self.latency_ms = (time.perf_counter() - started) * 1000
        self._note_date(response.headers.get("Date"))
        weight = response.headers.get("X-MBX-USED-WEIGHT-1M")
        if weight and weight.isdigit():
            self.used_weight = int(weight)
        log.debug("GET %s -> %s in %.0f ms, weight %s", path, response.status_code, self.latency_ms, weight)
        if response.status_code == 200:
            self._rate_strikes = 0
            return decode_json(response.content)
        raise self._error_for(response, path)

    def _note_date(self, value: str | None) -> None:
        if not value:
            return
        try:
            server = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return
        # A Date header has 1 s resolution: take the middle of that second.
        self._date_offset_ms = round((server + 0.5 - self._clock()) * 1000)

    # --- errors -----------------------------------------------------------------------------

    def _error_for(self, response: httpx.Response, path: str) -> PmtuiError:
        status = response.status_code
        code, msg = _binance_error(response.content)
        if msg and self._api_key:
            # A proxy (or a careless server) may echo the request back: never pass our key on.
            msg = msg.replace(self._api_key, "<redacted>")
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429:
            if retry_after is None:
                self._rate_strikes += 1
                retry_after = min(60.0, 2.0**self._rate_strikes) * random.uniform(0.8, 1.2)
            return self._block(
                RateLimited(
                    f"Rate limited by the exchange: pausing requests for {retry_after:.0f} s.",
                    status=status, code=code, retry_after=retry_after,
                )
            )
        if status == 418:
            if match := _BAN_UNTIL.search(msg or ""):
                until_ms = int(match.group(1))
                now_ms = self._clock() * 1000 + (self.time_offset_ms or 0)
                retry_after = max(retry_after or 0.0, (until_ms - now_ms) / 1000)
            retry_after = max(retry_after or 120.0, 1.0)  # Binance bans last at least 2 minutes
            return self._block(
                IPBanned(
                    f"This IP is banned by the exchange for too many requests: "
                    f"waiting {_duration(retry_after)} before trying again.",
                    status=status, code=code, retry_after=retry_after,
                )
            )
        if status == 401 or code == -2015:
            return AuthError(AUTH_HELP, status=status, code=code)
        if code == -1022:
            return BadSignature(
                "The exchange says the request signature is invalid: the API secret or "
                "private key does not belong to this API key.",
                status=status, code=code,
            )
        if code == -1021:
            return ClockSkew(
                "The exchange rejected the request timestamp (clock out of sync).",
                status=status, code=code,
            )
        if status == 403:
            return WafBlocked(
                "The exchange's firewall blocked the request (HTTP 403); it usually passes after a while.",
                status=status,
            )
        if status >= 500 or code == -1001:
            return ServerError(
                f"The exchange had an internal error (HTTP {status}); the result is unknown, retrying.",
                status=status, code=code, retry_after=retry_after,
            )
        if code is not None:
            return ApiError(
                f"The exchange refused {path}: {_clean(msg)} (code {code}).", status=status, code=code
            )
        return ApiError(f"The exchange answered {path} with HTTP {status}.", status=status)

    def _block(self, err: PmtuiError) -> PmtuiError:
        self._blocked_until = self._monotonic() + (err.retry_after or 0.0)
        self._block_error = err
        return err


def _binance_error(body: bytes) -> tuple[int | None, str | None]:
    try:
        data = decode_json(body)
    except MalformedResponse:
        return None, None
    if isinstance(data, dict) and isinstance(data.get("code"), int):
        msg = data.get("msg")
        return data["code"], msg if isinstance(msg, str) else None
    return None, None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _network_reason(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.ConnectError):
        return "connection failed (network down, DNS, or firewall)"
    if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "the connection was closed unexpectedly"
    return "network error"


def _clean(msg: str | None) -> str:
    text = " ".join((msg or "no message").split())
    text = re.sub(r"signature=[^&\s]+", "signature=<redacted>", text)
    return text[:160].rstrip(".")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
