"""The Portfolio Margin API client: signed read-only GETs on one pooled httpx.AsyncClient, and
the user data stream's listen key (POST/PUT /papi/v1/listenKey, never DELETE, API key header only): the
only non-GET requests it can send (READ_ONLY_PATHS, LISTEN_KEY_PATH).

It owns what a caller should never have to think about: the clock offset to the exchange
(measured at start and again on -1021), the used request weight, and bans: while a 429/418
wait is in force it refuses to send anything and raises the same error again.

It also owns what a server may cost: each call (clock sync, request, resync and retry) ends
within `timeout` seconds overall, however slowly the bytes come; a body may hold at most
MAX_BODY bytes once decompressed; a server-given wait is at most MAX_RATE_WAIT (429) or MAX_BAN
(418), and one beyond MAX_BAN is nonsense, treated as absent. Errors are typed by Binance's
`code` first, HTTP status second, also when the code arrives with HTTP 200 (see pmtui.errors).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import re
import ssl
import zlib
from collections import Counter
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import SecretStr

from pmtui import __version__
from pmtui.budget import WeightBudget, weight_of
from pmtui.clock import SYSTEM_CLOCK, Clock, uniform
from pmtui.endpoints import (  # the ledger's, apart to ease merging
    ASSET_INDEX_PRICE,
    BALANCE,
    BY_PATH,
    CM_ACCOUNT,
    CM_ADL,
    CM_BRACKETS,
    CM_FORCE_ORDERS,
    CM_INCOME,
    CM_POSITION_RISK,
    COLLATERAL_RATE,
    ENDPOINTS,
    EXCHANGE_INFO,
    INDEX_ALL_WEIGHT,
    LISTEN_KEY,
    MARGIN_INTEREST,
    MARGIN_LEVERAGE,
    NEGATIVE_EXCHANGE,
    PING,
    PM_ACCOUNT,
    PM_INTEREST,
    SERVER_TIME,
    UM_ACCOUNT,
    UM_ACCOUNT_CONFIG,
    UM_ADL,
    UM_BRACKETS,
    UM_FORCE_ORDERS,
    UM_INCOME,
    UM_POSITION_RISK,
    UM_TRADING_STATUS,
    Endpoint,
)
from pmtui.errors import (
    ApiError,
    AuthError,
    BadServerTime,
    BadSignature,
    ClockSkew,
    ConfigError,
    IPBanned,
    ListenKeyInvalid,
    MalformedResponse,
    NetworkError,
    PmtuiError,
    RateLimited,
    RegionBlocked,
    RequestRejected,
    RequestTimeout,
    ServerError,
    WafBlocked,
)
from pmtui.logs import Redactor
from pmtui.market import SymbolRules
from pmtui.models import (
    AdlQuantile,
    Balance,
    CmAccount,
    CmPositionRisk,
    LedgerPage,
    PmAccount,
    PositionRisk,
    TradingStatus,
    UmAccount,
    UmAccountConfig,
    decode_json,
)
from pmtui.riskinputs import AssetIndexPrice, CollateralRate, MarginAssetLeverage, SymbolBrackets
from pmtui.settings import DEFAULT_BASE_URL, DEFAULT_SAPI_URL, DEFAULT_TIME_BASE_URL, MAX_RECV_WINDOW
from pmtui.signing import Signer
from pmtui.text import clean
from pmtui.urls import check_url

log = logging.getLogger(__name__)
T = TypeVar("T")
# httpx logs each request URL at INFO, signature included: redact it wherever the record goes.
logging.getLogger("httpx").addFilter(Redactor([]))

# Paths pmtui may ever request (pmtui.endpoints): all documented read-only GETs ...
READ_ONLY_PATHS = frozenset(e.path for e in ENDPOINTS if e.methods == {"GET"})
#: ... of which these go to `sapi_url` (the risk model's inputs); the others to base_url or the time host.
SAPI_PATHS = frozenset(e.path for e in ENDPOINTS if e.host == "sapi")
#: The one path pmtui may send anything but GET to: the user data stream's listen key (POST
#: creates it, PUT keeps it alive, never DELETE: see pmtui.endpoints.LISTEN_KEY).
LISTEN_KEY_PATH = LISTEN_KEY.path
KEYED_METHODS = LISTEN_KEY.methods
# A listen key goes into the stream URL's path: only letters and digits (Binance's are 60-64).
_LISTEN_KEY = re.compile(r"[A-Za-z0-9]{16,128}")
AUTH_HELP = (
    "The exchange refused the API key (-2015): check that the account is enrolled in Portfolio "
    "Margin, the key was created after Portfolio Margin was activated, this machine's IP is on "
    "the key's whitelist, and the key has 'Enable Reading'."
)
# Binance's access codes, each with what a person can check (-2015 is the usual one).
ACCESS_HELP = {
    -2015: AUTH_HELP,
    -2014: "The exchange says the API key's format is invalid (-2014): check that api_key holds the "
           "whole key, copied without spaces or quotes.",
    -2008: "The exchange does not know this API key (-2008): it may have been deleted; check api_key.",
    -1002: "The exchange says this API key is not authorized for this request (-1002): check that the "
           "key has 'Enable Reading' and that the account uses Portfolio Margin.",
    # Both from Binance's Portfolio Margin FAQ (tests/fixtures/real/errors): the account itself is
    # not a Portfolio Margin one, which no retry fixes.
    -9000: "The exchange says this account is not a Portfolio Margin account (-9000, "
           "USER_IS_NOT_UNIACCOUNT): enable Portfolio Margin, then create the API key again.",
    -21001: "The exchange says this account is not a Portfolio Margin account (-21001): enable "
            "Portfolio Margin, then create the API key again.",
}
# Binance codes for "try again": the backend failed or timed out (-1007: status unknown, which for
# a read only means no answer), and throttling (-1008, -1003, -1015), which is a rate limit.
TRANSIENT_CODES = frozenset({-1000, -1001, -1006, -1007})
RATE_CODES = frozenset({-1003, -1008, -1015})
# -11xx: the request itself was refused (bad, missing or unknown parameter): pmtui's mistake.
REJECTED_CODES = range(-1199, -1099)

#: Largest body accepted, decompressed: ~30 000 position rows of ~500 bytes, far above the few
#: thousand (hedge mode on every symbol) a real account can have, and still harmless in memory.
MAX_BODY = 16 * 1024 * 1024
#: A body from this size on is decoded in a worker thread, and one of this many rows on is parsed
#: there, not on the event loop: a book of 1,000 positions (~170 KB) took ~250 ms of pure CPU a
#: refresh, a frozen screen for that long. Smaller ones are done in place (a thread hop would
#: cost more than they do).
OFF_LOOP_BYTES = 32 * 1024
OFF_LOOP_ROWS = 200
#: Longest wait a 429 may impose, and a 418 ban (Binance's longest is 3 days). A server-given
#: wait beyond MAX_BAN is not something the exchange does: it is treated as absent.
MAX_RATE_WAIT = 600.0
MAX_BAN = 3 * 86400.0
# A server time outside these years is not a time (0, negative, 10**20 ms), and one further than
# this from the same answer's Date header (1 s resolution) contradicts itself.
MIN_SERVER_TIME_MS = 1_483_228_800_000  # 2017-01-01, before Binance existed
MAX_SERVER_TIME_MS = 4_102_444_800_000  # 2100-01-01
MAX_DATE_DISAGREEMENT_MS = 60_000
# Binance's -2015 text ends with the address it saw ("..., request ip: 203.0.113.7"): the one to whitelist.
_REQUEST_IP = re.compile(r"request ip:\s*([0-9A-Fa-f.:]{2,45})")
# The cause line of CloudFront's 403 page when the distribution geo-blocks (a WAF block says
# "Request blocked." instead): tests/fixtures/real/errors/cloudfront_403_country.html.
_COUNTRY_BLOCK = re.compile(rb"configured to block access from your country", re.IGNORECASE)
_BAN_UNTIL = re.compile(r"banned until (\d{12,14})")
_DELAY_SECONDS = re.compile(r"\d{1,15}(?:\.\d{1,6})?")  # RFC 9110 delay-seconds (a fraction allowed)
# printf placeholders in Binance's text ("Mandatory parameter '%s' was not sent"), quotes included.
_PLACEHOLDER = re.compile(r"""\s*(['"]?)%(?:\d+\$)?[-+ #0]*\d*(?:\.\d+)?[sdifuxXeEgGc]\1""")


_TLS: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults: certifi's CA bundle) for every client of the process:
    loading the CA bundle takes ~0.2 s, and 50 accounts' clients each loading it took 11 s of
    `check --all-profiles`."""
    global _TLS
    if _TLS is None:
        _TLS = httpx.create_ssl_context()
    return _TLS


class PapiClient:
    def __init__(
        self,
        *,
        api_key: SecretStr | str | None,
        signer: Signer | None,
        base_url: str = DEFAULT_BASE_URL,
        time_base_url: str | None = None,
        sapi_url: str | None = None,
        recv_window: int = 5000,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        budget: WeightBudget | None = None,
    ) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise ConfigError(f"recv_window must be between 1 and {MAX_RECV_WINDOW} ms.")
        self.base_url = check_url(base_url, "base_url")
        if time_base_url is None:
            time_base_url = DEFAULT_TIME_BASE_URL if self.base_url == DEFAULT_BASE_URL else self.base_url
        self.time_base_url = check_url(time_base_url, "time_base_url")
        if sapi_url is None:  # a base_url of its own serves /sapi/ too: never Binance behind its back
            sapi_url = DEFAULT_SAPI_URL if self.base_url == DEFAULT_BASE_URL else self.base_url
        self.sapi_url = check_url(sapi_url, "sapi_url")
        self._api_key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._signer = signer
        self.recv_window = recv_window
        self.timeout = timeout
        #: Signed timestamps and ages (time), bans (monotonic), round trips, the backoff's jitter.
        self.clock = clock
        #: pmtui's own weight budget; shared when several clients watch accounts from one IP.
        self.budget = budget if budget is not None else WeightBudget(clock=clock)
        #: This account's requests go first on a shared budget (it is at WARN or worse: the
        #: Monitor says so, pmtui.cadence); False: they leave the budget's reserve to those.
        self.urgent = True
        #: This account has no data yet: its requests may spend a fleet's start-up loan
        #: (WeightBudget.lend; the Monitor says so).
        self.first_screen = True
        #: This account is at WARN or worse: its requests may spend what the loan left too, and
        #: the part of the refill that does not repay it (WeightBudget.REPAY_SHARE).
        self.at_risk = False
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=tls_context() if transport is None else True,
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
        self._date_offset_ms: int | None = None  # coarse offset from the last HTTP Date header
        self._response_date_ms: int | None = None  # the same, from the last response only
        self._rate_strikes = 0  # consecutive 429s without Retry-After, for exponential backoff
        self._listen_key: str | None = None  # the last one created: redacted from any message
        #: Responses by (path, HTTP status) since start, for pmtui_requests_total (pmtui.metrics).
        self.responses: Counter[tuple[str, int]] = Counter()

    async def __aenter__(self) -> PapiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"PapiClient(base_url={self.base_url!r})"

    # --- public endpoints -------------------------------------------------------------------

    async def get(self, endpoint: Endpoint[T], params: dict[str, str] | None = None, *,
                  weight: int | None = None) -> T:
        """A signed GET of `endpoint`, parsed by the table's parser (a large body's in a thread)."""
        data = await self.signed_get(endpoint.path, params, weight=weight)
        if _row_count(data) >= OFF_LOOP_ROWS:
            # Pure CPU over data nothing else holds: the loop keeps drawing and taking keys.
            return await asyncio.to_thread(endpoint.parse, data)
        return endpoint.parse(data)

    async def um_account(self) -> UmAccount:
        return await self.get(UM_ACCOUNT)

    async def pm_account(self) -> PmAccount:
        return await self.get(PM_ACCOUNT)

    async def position_risk(self) -> tuple[PositionRisk, ...]:
        return await self.get(UM_POSITION_RISK)

    async def balance(self) -> tuple[Balance, ...]:
        """Every asset's balances (cross margin loans and interest, UM and CM wallets); weight 20."""
        return await self.get(BALANCE)

    async def cm_account(self) -> CmAccount:
        """COIN-M assets and positions (amounts in contracts, margins and uPnL in the coin)."""
        return await self.get(CM_ACCOUNT)

    async def cm_position_risk(self) -> tuple[CmPositionRisk, ...]:
        """COIN-M mark and liquidation prices, notionalValue in the coin."""
        return await self.get(CM_POSITION_RISK)

    def server_now_ms(self) -> int:
        """The exchange's time now, in ms: this machine's clock plus the measured offset."""
        return int(self.clock.time() * 1000) + (self.time_offset_ms or 0)

    # --- the risk model's inputs (pmtui.riskfeed) ---------------------------------------------

    async def collateral_rates(self) -> tuple[CollateralRate, ...]:
        """GET /sapi/v1/portfolio/collateralRate on sapi_url (weight 50): each asset's haircut."""
        return await self.get(COLLATERAL_RATE)

    async def asset_index_prices(self, asset: str | None = None) -> tuple[AssetIndexPrice, ...]:
        """GET /sapi/v1/portfolio/asset-index-price on sapi_url: one asset's USD index price
        (weight 1), or every asset's (weight 50) when `asset` is None."""
        if asset is None:
            return await self.get(ASSET_INDEX_PRICE, weight=INDEX_ALL_WEIGHT)
        return await self.get(ASSET_INDEX_PRICE, {"asset": asset})

    async def margin_asset_leverage(self) -> tuple[MarginAssetLeverage, ...]:
        """GET /sapi/v1/portfolio/margin-asset-leverage on sapi_url (weight 50)."""
        return await self.get(MARGIN_LEVERAGE)

    async def um_brackets(self) -> tuple[SymbolBrackets, ...]:
        """GET /papi/v1/um/leverageBracket (weight 1): every UM symbol's maintenance brackets."""
        return await self.get(UM_BRACKETS)

    async def cm_brackets(self) -> tuple[SymbolBrackets, ...]:
        """GET /papi/v1/cm/leverageBracket (weight 1): every COIN-M symbol's brackets."""
        return await self.get(CM_BRACKETS)

    # --- the ledger (pmtui.ledger): `params` are the window and page (startTime, endTime, limit) ---

    async def um_income(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(UM_INCOME, params)

    async def cm_income(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(CM_INCOME, params)

    async def pm_interest(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(PM_INTEREST, params)

    async def margin_interest(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(MARGIN_INTEREST, params)

    async def um_force_orders(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(UM_FORCE_ORDERS, params)

    async def cm_force_orders(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(CM_FORCE_ORDERS, params)

    async def negative_exchange(self, params: dict[str, str]) -> LedgerPage:
        return await self.get(NEGATIVE_EXCHANGE, params)
    # --- the ADL queue and trading locks ------------------------------------------------------

    async def um_adl(self) -> tuple[AdlQuantile, ...]:
        """GET /papi/v1/um/adlQuantile (weight 5): each UM symbol's ADL queue position, 0-4."""
        return await self.get(UM_ADL)

    async def cm_adl(self) -> tuple[AdlQuantile, ...]:
        """GET /papi/v1/cm/adlQuantile (weight 5): the same for COIN-M."""
        return await self.get(CM_ADL)

    async def um_account_config(self) -> UmAccountConfig:
        """GET /papi/v1/um/accountConfig (weight 5): canTrade and the position mode."""
        return await self.get(UM_ACCOUNT_CONFIG)

    async def um_trading_status(self) -> TradingStatus:
        """GET /papi/v1/um/apiTradingStatus (weight 10 for every symbol): quantitative-rule locks."""
        return await self.get(UM_TRADING_STATUS)

    # --- the user data stream's listen key (API key header only: no signature, no timestamp) ---

    async def create_listen_key(self) -> str:
        """POST /papi/v1/listenKey: the account's active listen key (a new one if none is active;
        Binance extends an active one's validity by 60 minutes). Never log or show it."""
        data = await self._keyed("POST")
        key = data.get("listenKey") if isinstance(data, dict) else None
        if not isinstance(key, str) or not _LISTEN_KEY.fullmatch(key):
            # The value is not quoted: it may be a real key in an unexpected shape.
            raise MalformedResponse("The exchange's answer to a listen-key request held no usable listen key.")
        self._listen_key = key
        return key

    async def keepalive_listen_key(self) -> None:
        """PUT /papi/v1/listenKey: keep the active key alive another 60 minutes.
        ListenKeyInvalid (-1125) when the exchange no longer knows it: create a new one."""
        await self._keyed("PUT")

    async def _keyed(self, method: str) -> Any:
        if not self._api_key:
            raise AuthError("No API key is configured: set one in the config file, or try --demo.")
        # The fleet's start-up loan counts every account's listen key (FIRST_SCREEN_WEIGHT): a stream
        # up soon is what lets a calm account's REST slow down, leaving the budget to those at risk.
        await self.budget.acquire(LISTEN_KEY.weight, borrow=True)
        return await self._send(self._base(LISTEN_KEY), LISTEN_KEY.path, "", method=method, keyed=True, paid=True)

    async def exchange_info(self) -> dict[str, SymbolRules]:
        """GET /fapi/v1/exchangeInfo on the time host (public: no API key header, no signature):
        each USD-M symbol's tick size, step size and precisions (pmtui.market)."""
        await self.budget.acquire(EXCHANGE_INFO.weight, borrow=True)  # counted in the loan too
        return EXCHANGE_INFO.parse(await self._send(self._base(EXCHANGE_INFO), EXCHANGE_INFO.path, "", paid=True))

    async def ping(self) -> None:
        await self.budget.acquire(PING.weight)
        await self._send(self._base(PING), PING.path, "", paid=True)

    def _base(self, endpoint: Endpoint[Any]) -> str:
        """The base URL of the endpoint's host."""
        return {"papi": self.base_url, "sapi": self.sapi_url, "fapi": self.time_base_url}[endpoint.host]

    def blocked_for(self) -> float:
        """Seconds left of a ban or Retry-After wait (0 when requests may go out)."""
        return max(0.0, max(self._blocked_until, self.budget.blocked_until) - self.clock.monotonic())

    async def sync_time(self, deadline: float | None = None) -> int:
        """Measure server time minus local time against /fapi/v1/time (midpoint of the trip).

        A time that cannot be right (out of range, or far from the same answer's Date header) is
        BadServerTime, and the offset measured before stays."""
        t0 = self.clock.time()
        data = await self._send(self._base(SERVER_TIME), SERVER_TIME.path, "", deadline=deadline)
        t1 = self.clock.time()
        server = data.get("serverTime") if isinstance(data, dict) else None
        if not isinstance(server, int) or isinstance(server, bool):
            raise MalformedResponse("The exchange's time endpoint did not return a server time.")
        if not MIN_SERVER_TIME_MS <= server <= MAX_SERVER_TIME_MS:
            raise BadServerTime(
                f"The exchange's time endpoint answered a server time that cannot be right "
                f"({clean(server, 40)} ms); the clock offset was not changed."
            )
        offset = round(server - (t0 + t1) * 500)
        date = self._response_date_ms
        if date is not None and abs(offset - date) > MAX_DATE_DISAGREEMENT_MS:
            raise BadServerTime(
                f"The exchange's time endpoint answered a server time {_duration(abs(offset - date) / 1000)} "
                "away from its own Date header; the clock offset was not changed."
            )
        self.time_offset_ms = offset
        log.debug("clock offset to exchange: %+d ms", self.time_offset_ms)
        return self.time_offset_ms

    # --- signed requests --------------------------------------------------------------------

    async def signed_get(self, path: str, params: dict[str, str] | None = None, *,
                         weight: int | None = None) -> Any:
        """A signed GET of `path` (with `params` before the timestamp); /sapi/ paths go to
        sapi_url, every other to base_url. `weight`: when the path's cost depends on its params."""
        if self._signer is None or not self._api_key:
            raise AuthError("No API key is configured: set one in the config file, or try --demo.")
        endpoint = BY_PATH.get(path)
        base = self._base(endpoint) if endpoint is not None else self.base_url
        # Wait for the budget before the deadline starts and before signing: a wait must not age
        # the timestamp past recvWindow, nor count as the exchange being slow.
        await self.budget.acquire(weight if weight is not None else weight_of(path), urgent=self.urgent,
                                  borrow=self.first_screen or self.at_risk)
        # One deadline for the whole call: a slow clock sync leaves less time, not more.
        deadline = asyncio.get_running_loop().time() + self.timeout
        if self.time_offset_ms is None:
            await self._first_sync(deadline)
        try:
            return await self._send(base, path, self._signed_query(params), signed=True,
                                    deadline=deadline, paid=True)
        except ClockSkew:
            # Clocks drift and jump (suspend, NTP): measure again and retry exactly once.
            await self._sync_clock(deadline)
            try:
                return await self._send(
                    base, path, self._signed_query(params), signed=True, deadline=deadline
                )
            except ClockSkew as err:
                raise ClockSkew(
                    f"The exchange still rejects our timestamps (-1021) after a clock resync "
                    f"(offset {self.time_offset_ms:+d} ms): check this machine's clock.",
                    code=err.code,
                    status=err.status,
                ) from None

    async def _first_sync(self, deadline: float) -> None:
        """The first clock sync: one for every client on this budget with the same time host (a
        fleet's 50 accounts on one exchange need its clock measured once, not 50 requests at
        start in front of their first data). A failed one is not shared: the next asks again."""
        syncs = self.budget.time_syncs
        pending = syncs.get(self.time_base_url)
        if pending is not None and pending.done() and not pending.cancelled() and pending.exception() is None:
            self.time_offset_ms = pending.result()
            return
        if pending is None or pending.done() or pending.get_loop() is not asyncio.get_running_loop():
            pending = syncs[self.time_base_url] = asyncio.ensure_future(self._sync_clock(deadline))
        self.time_offset_ms = await asyncio.shield(pending)

    async def _sync_clock(self, deadline: float | None = None) -> int:
        try:
            await self.sync_time(deadline)
        except (NetworkError, ServerError, MalformedResponse, ApiError, WafBlocked) as err:
            # The time endpoint lives on another host; if only it fails, the coarse offset from
            # the last Date header (or none) beats not fetching at all. (BadServerTime is not
            # caught: a time source that answers nonsense is a fault to show, not to paper over.)
            self.time_offset_ms = self._date_offset_ms or 0
            log.debug("clock sync failed (%s); using offset %+d ms", err.kind, self.time_offset_ms)
        assert self.time_offset_ms is not None
        return self.time_offset_ms

    def _signed_query(self, params: dict[str, str] | None = None) -> str:
        timestamp = int(self.clock.time() * 1000) + (self.time_offset_ms or 0)
        query = urlencode({**(params or {}), "timestamp": timestamp, "recvWindow": self.recv_window})
        assert self._signer is not None  # signed_get refuses to start without one
        # The signature must be the last parameter; it is computed over everything before it.
        return f"{query}&signature={self._signer.sign(query)}"

    async def _send(self, base: str, path: str, query: str, *, method: str = "GET", signed: bool = False,
                    keyed: bool = False, deadline: float | None = None, paid: bool = False) -> Any:
        # The allowlist, exactly: documented read-only GETs, and POST/PUT of the listen key.
        endpoint = BY_PATH.get(path)
        if method == "GET":
            if endpoint is None or "GET" not in endpoint.methods:
                raise ValueError(f"{path} is not a read-only endpoint pmtui knows")
        elif endpoint is None or method not in endpoint.methods:
            raise ValueError(f"{method} {path} is not a request pmtui may send (only GETs, and the listen key)")
        if (wait := self.blocked_for()) > 0:
            # Our own block, or one another account on this IP (this budget) earned.
            own = self._blocked_until > self.clock.monotonic() and self._block_error is not None
            err = self._block_error if own else self.budget.block_error
            if isinstance(err, PmtuiError):
                raise type(err)(err.message, status=err.status, code=err.code, retry_after=wait)
        if not paid:  # a clock sync or the one retry inside a call: counted, not waited for
            self.budget.charge(weight_of(path))
        url = f"{base}{path}?{query}" if query else f"{base}{path}"
        headers = {"X-MBX-APIKEY": self._api_key or ""} if signed or keyed else {}
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.timeout
        timed_out = RequestTimeout(f"The exchange did not answer within {self.timeout:g} s ({path}).")
        if loop.time() >= deadline:
            raise timed_out
        started = self.clock.perf_counter()
        try:
            # httpx's timeout is per read: a server trickling a byte a second never trips it.
            async with asyncio.timeout_at(deadline):
                response, content = await self._get(url, headers, method)
        except (TimeoutError, httpx.TimeoutException):
            raise timed_out from None
        except httpx.HTTPError as err:
            raise NetworkError(
                f"Could not reach {urlsplit(base).hostname}: {_network_reason(err)}."
            ) from None
        self.latency_ms = (self.clock.perf_counter() - started) * 1000
        self._note_date(response.headers.get("Date"))
        weight = response.headers.get("X-MBX-USED-WEIGHT-1M")
        if weight and weight.isdigit() and len(weight) < 10:
            self.used_weight = int(weight)
            self.budget.observe(self.used_weight, self.clock.time() * 1000 + (self.time_offset_ms or 0))
        log.debug("%s %s -> %s in %.0f ms, weight %s", method, path, response.status_code, self.latency_ms,
                  clean(weight or "", 20) or None)
        status = response.status_code
        self.responses[path, status] += 1
        if status == 200:
            data = decode_json(content) if len(content) < OFF_LOOP_BYTES else await asyncio.to_thread(
                decode_json, content)
            code, msg = _binance_error_of(data)
            if code is None:
                self._rate_strikes = 0
                return data
            # HTTP 200 with a Binance error body is that error, not a response of another shape.
            raise self._error_for(status, code, msg, response.headers, path)
        code, msg = _binance_error(content)
        # A 403 page may say why (CloudFront names a country block); only one without a cause is the WAF.
        country = status == 403 and code is None and _COUNTRY_BLOCK.search(content[:65536]) is not None
        raise self._error_for(status, code, msg, response.headers, path, country_blocked=country)

    async def _get(self, url: str, headers: dict[str, str], method: str = "GET") -> tuple[httpx.Response, bytes]:
        """`method` `url` (GET but for the listen key); the response and its body, decompressed
        here so MAX_BODY holds for what lands in memory, not for what crossed the wire (a gzip
        bomb is small on the wire)."""
        async with self._http.stream(method, url, headers=headers) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise _too_large()
            try:
                content = response.content  # an in-process transport (the demo) hands it over read
            except httpx.ResponseNotRead:
                pass
            else:
                if len(content) > MAX_BODY:
                    raise _too_large()
                return response, content
            decoder = _decoder(response.headers.get("Content-Encoding", ""))
            chunks: list[bytes] = []
            size = 0
            async for raw in response.aiter_raw():
                try:
                    # max_length: never inflate more than one byte past the cap.
                    chunk = raw if decoder is None else decoder.decompress(raw, MAX_BODY + 1 - size)
                except zlib.error:
                    raise MalformedResponse("The exchange sent a compressed response that is damaged.") from None
                size += len(chunk)
                if size > MAX_BODY:
                    raise _too_large()
                chunks.append(chunk)
            return response, b"".join(chunks)

    def _note_date(self, value: str | None) -> None:
        self._response_date_ms = None
        if not value:
            return
        try:
            server = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        # A Date header has 1 s resolution: take the middle of that second.
        self._response_date_ms = self._date_offset_ms = round((server + 0.5 - self.clock.time()) * 1000)

    # --- errors -----------------------------------------------------------------------------

    def _error_for(self, status: int, code: int | None, msg: str | None, headers: httpx.Headers,
                   path: str, *, country_blocked: bool = False) -> PmtuiError:
        """The error for a failed answer: Binance's code decides first, then the HTTP status."""
        for secret in (self._api_key, self._listen_key):
            if msg and secret:
                # A proxy (or a careless server) may echo the request back: never pass a key on.
                msg = msg.replace(secret, "<redacted>")
        retry_after = _retry_after(headers.get("Retry-After"), self.clock.time())
        if status == 418 or _BAN_UNTIL.search(msg or ""):
            return self._ban(status, code, msg, retry_after)
        if status == 429 or code in RATE_CODES:
            self._rate_strikes += 1
            # Our own backoff is the least we wait: a "Retry-After: 0" must not make us hammer.
            backoff = min(60.0, 2.0 ** min(self._rate_strikes, 6)) * uniform(self.clock, 0.8, 1.2)
            wait = min(MAX_RATE_WAIT, max(retry_after or 0.0, backoff))
            return self._block(
                RateLimited(
                    f"Rate limited by the exchange: pausing requests for {_duration(wait)}.",
                    status=status, code=code, retry_after=wait,
                )
            )
        if status == 451 or country_blocked:
            # Binance's "restricted location" answer ({"code": 0, "msg": ...}) or its CDN's country
            # block: no retry moves this machine, so polling stops and says what to do.
            said = f': "{_clean(msg, 240).replace(chr(34), chr(39))}"' if msg else ""
            why = ("Binance refuses requests from this location (HTTP 451)" if status == 451
                   else "Binance's CDN blocks access from this country (HTTP 403, CloudFront)")
            return RegionBlocked(
                f"{why}{said}; polling stopped until you press r or restart from an allowed location.",
                status=status, code=code,
            )
        if code == -2015 and (ip := _request_ip(msg)) is not None:
            return AuthError(AUTH_HELP.replace("this machine's IP", f"the IP Binance saw ({ip})"),
                             status=status, code=code)
        if code in ACCESS_HELP:
            return AuthError(ACCESS_HELP[code], status=status, code=code)
        if code == -1022:
            return BadSignature(
                "The exchange says the request signature is invalid (-1022): the API secret or "
                "private key does not belong to this API key.",
                status=status, code=code,
            )
        if code == -1021:
            return ClockSkew(
                "The exchange rejected the request timestamp (-1021, clock out of sync).",
                status=status, code=code,
            )
        if code == -1125 and path == LISTEN_KEY_PATH:
            return ListenKeyInvalid(
                "The exchange no longer knows the user data stream's listen key (-1125); "
                "pmtui gets a new one.",
                status=status, code=code,
            )
        if code in REJECTED_CODES:
            return RequestRejected(
                f"The exchange refused a request pmtui sent ({path}, code {code}: {_clean(msg)}); "
                "please report this as a pmtui bug.",
                status=status, code=code,
            )
        if status == 401:
            how = f"HTTP 401, code {code}" if code is not None else "HTTP 401"
            return AuthError(
                f"The exchange refused the API key ({how}): check the key, its IP whitelist and "
                "its 'Enable Reading' permission.",
                status=status, code=code,
            )
        if code in TRANSIENT_CODES or status >= 500:
            # Only reads here: nothing was placed or changed, so there is no "unknown result".
            where = f"HTTP {status}" if status >= 500 else f"code {code}"
            what = "'s backend timed out" if code == -1007 and status < 500 else " had an internal error"
            return ServerError(
                f"The exchange{what} ({where}); this usually passes within minutes.",
                status=status, code=code,
                retry_after=None if retry_after is None else min(retry_after, MAX_RATE_WAIT),
            )
        if status == 403:
            return WafBlocked(
                "The exchange's firewall blocked the request (HTTP 403); it usually passes after a while.",
                status=status,
            )
        if code is not None:
            return ApiError(
                f"The exchange refused {path}: {_clean(msg)} (code {code}).", status=status, code=code
            )
        return ApiError(f"The exchange answered {path} with HTTP {status}.", status=status)

    def _ban(self, status: int, code: int | None, msg: str | None, retry_after: float | None) -> PmtuiError:
        waits = [retry_after] if retry_after is not None else []
        if match := _BAN_UNTIL.search(msg or ""):
            now_ms = self.clock.time() * 1000 + (self.time_offset_ms or 0)
            until = (int(match.group(1)) - now_ms) / 1000
            if until <= MAX_BAN:  # "banned until 2099" is not a ban Binance gives
                waits.append(until)
        # Binance bans last at least 2 minutes; with nothing usable said, assume that.
        wait = min(MAX_BAN, max(max(waits, default=120.0), 1.0))
        return self._block(
            IPBanned(
                f"This IP is banned by the exchange for too many requests: "
                f"waiting {_duration(wait)} before trying again.",
                status=status, code=code, retry_after=wait,
            )
        )

    def _block(self, err: PmtuiError) -> PmtuiError:
        self._blocked_until = self.clock.monotonic() + (err.retry_after or 0.0)
        self._block_error = err
        if self._blocked_until > self.budget.blocked_until:
            self.budget.blocked_until, self.budget.block_error = self._blocked_until, err
        return err


def _binance_error_of(data: Any) -> tuple[int | None, str | None]:
    """(code, msg) when `data` is a Binance error object ({"code": -2015, "msg": …})."""
    if isinstance(data, dict):
        code = data.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and code < 0:
            msg = data.get("msg")
            return code, msg if isinstance(msg, str) else None
    return None, None


def _binance_error(body: bytes) -> tuple[int | None, str | None]:
    """(code, msg) of a failed answer's body. Code 0 counts here (not with HTTP 200): Binance's
    451 says {"code": 0, "msg": "Service unavailable from a restricted location ..."}."""
    try:
        data = decode_json(body)
    except MalformedResponse:
        return None, None
    if isinstance(data, dict) and data.get("code") == 0 and type(data.get("code")) is int:
        msg = data.get("msg")
        return 0, msg if isinstance(msg, str) else None
    return _binance_error_of(data)


def _request_ip(msg: str | None) -> str | None:
    """The address a -2015 says the request came from, when it is one."""
    match = _REQUEST_IP.search(msg or "")
    if match is None:
        return None
    try:
        return str(ipaddress.ip_address(match.group(1)))
    except ValueError:
        return None


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds: delay-seconds or an HTTP date. Anything else, or a wait longer
    than MAX_BAN (NaN, -5, 1e308, a date in 2099), is nonsense: None, as if absent."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        try:
            seconds = max(0.0, email.utils.mktime_tz(parsed) - now)
        except (OverflowError, ValueError):
            return None
    return seconds if seconds <= MAX_BAN else None


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A bounded decompressor for the Content-Encoding httpx asked for (gzip, deflate)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped, as servers send it
    raise MalformedResponse(
        f"The exchange sent a response in an encoding pmtui did not ask for ({clean(encoding, 40)})."
    )


def _too_large() -> MalformedResponse:
    return MalformedResponse(
        f"The exchange sent a response larger than {MAX_BODY // (1024 * 1024)} MiB; refused it "
        "unread (a proxy or a fault?)."
    )


def _row_count(data: Any) -> int:
    """How many rows a decoded body holds: a list's, or an object's longest list's (the UM
    account's positions)."""
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        return max((len(v) for v in data.values() if isinstance(v, list)), default=0)
    return 0


def _network_reason(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.ConnectError):
        return "connection failed (network down, DNS, or firewall)"
    if isinstance(err, httpx.RemoteProtocolError):
        return "the connection broke or the answer was not valid HTTP"
    if isinstance(err, (httpx.ReadError, httpx.WriteError)):
        return "the connection was closed unexpectedly"
    return "network error"


def _clean(msg: str | None, limit: int = 160) -> str:
    """Binance's text for a sentence: printf placeholders, signatures and controls taken out."""
    text = _PLACEHOLDER.sub("", msg or "")
    text = re.sub(r"signature=[^&\s]+", "signature=<redacted>", text)
    return clean(text, limit).rstrip(".") or "no message"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days {seconds % 86400 // 3600} h"
