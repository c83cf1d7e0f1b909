"""A real HTTP server that imitates Binance PAPI on 127.0.0.1, with fault injection.

Test helper only (not shipped). Use the `papi_server` fixture (tests/conftest.py registers it for every test):

    async def test_x(papi_server):
        papi_server.inject("429", retry_after=3)          # next request gets a 429
        papi_server.inject("slow", delay=1.0, path=UM_ACCOUNT)
        papi_server.set_mode("503")                       # every request, until clear_mode()
        papi_server.revoke(); papi_server.restore()       # the key answers -2015 meanwhile
        papi_server.clock_offset_ms = 5000                # server clock 5 s ahead of ours
        papi_server.requests                              # what the server saw, in order
        papi_server.inject("error", path=LISTEN_KEY, method="PUT",
                           body={"code": -1125, "msg": "This listenKey does not exist."})
        papi_server.listen_key                            # the active listen key (None: none)

The server checks requests the way Binance does: the `X-MBX-APIKEY` header, an HMAC-SHA256 hex
signature (or Ed25519 / RSA when `public_key` is set) sent as the last parameter, and the
timestamp against recvWindow and the server clock. Every response carries `X-MBX-USED-WEIGHT-1M`.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

API_KEY = "test-api-key-6Zq1vWb3"
API_SECRET = "test-api-secret-Jm8LrT2xKp5sD9"

UM_ACCOUNT = "/papi/v2/um/account"
PM_ACCOUNT = "/papi/v1/account"
POSITION_RISK = "/papi/v1/um/positionRisk"
BALANCE = "/papi/v1/balance"
CM_ACCOUNT = "/papi/v1/cm/account"
CM_POSITION_RISK = "/papi/v1/cm/positionRisk"
PING = "/papi/v1/ping"
TIME = "/fapi/v1/time"
EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
LISTEN_KEY = "/papi/v1/listenKey"
COLLATERAL_RATE = "/sapi/v1/portfolio/collateralRate"
INDEX_PRICE = "/sapi/v1/portfolio/asset-index-price"
MARGIN_LEVERAGE = "/sapi/v1/portfolio/margin-asset-leverage"
UM_BRACKETS = "/papi/v1/um/leverageBracket"
CM_BRACKETS = "/papi/v1/cm/leverageBracket"
# The ADL queue and trading locks: canned as an account nobody locks, with no ADL rows (a test
# sets the real bodies of tests/fixtures/real/queue/ when it wants them).
UM_ADL = "/papi/v1/um/adlQuantile"
CM_ADL = "/papi/v1/cm/adlQuantile"
UM_ACCOUNT_CONFIG = "/papi/v1/um/accountConfig"
UM_TRADING_STATUS = "/papi/v1/um/apiTradingStatus"

FAULTS = frozenset(
    {"429", "418", "500", "503", "-1001", "403", "html", "truncated", "empty", "schema", "slow", "reset",
     "error"}
)


# --- canned bodies (shapes as in Binance's docs; money as decimal strings) ---------------------


def um_account_body(now_ms: int) -> dict[str, Any]:
    return {
        "assets": [
            {
                "asset": "USDT",
                "crossWalletBalance": "10250.43812500",
                "crossUnPnl": "-132.55000000",
                "maintMargin": "61.42300000",
                "initialMargin": "1228.46000000",
                "positionInitialMargin": "1228.46000000",
                "openOrderInitialMargin": "0.00000000",
                "updateTime": now_ms - 4000,
            }
        ],
        "positions": [
            {
                "symbol": "BTCUSDT",
                "initialMargin": "867.32000000",
                "maintMargin": "34.69280000",
                "unrealizedProfit": "-98.10000000",
                "positionSide": "BOTH",
                "positionAmt": "0.200",
                "updateTime": now_ms - 60000,
                "notional": "17346.40000000",
            },
            {
                "symbol": "ETHUSDT",
                "initialMargin": "361.14000000",
                "maintMargin": "26.73020000",
                "unrealizedProfit": "-34.45000000",
                "positionSide": "BOTH",
                "positionAmt": "-2.500",
                "updateTime": now_ms - 90000,
                "notional": "-7222.80000000",
            },
            {
                "symbol": "SOLUSDT",
                "initialMargin": "0",
                "maintMargin": "0",
                "unrealizedProfit": "0.00000000",
                "positionSide": "BOTH",
                "positionAmt": "0",
                "updateTime": 0,
                "notional": "0",
            },
        ],
    }


def pm_account_body(now_ms: int) -> dict[str, Any]:
    return {
        "uniMMR": "166.10853477",
        "accountEquity": "10117.88812500",
        "actualEquity": "10117.88812500",
        "accountInitialMargin": "1228.46000000",
        "accountMaintMargin": "60.91300000",
        "accountStatus": "NORMAL",
        "virtualMaxWithdrawAmount": "8889.42812500",
        "totalAvailableBalance": "8889.42812500",
        "totalMarginOpenLoss": "0.00000000",
        "updateTime": now_ms - 4000,
    }


def position_risk_body(now_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.200",
            "entryPrice": "87223.50000000", "markPrice": "86732.00000000",
            "liquidationPrice": "38112.44102511", "leverage": "20",
            "unRealizedProfit": "-98.10000000", "notional": "17346.40000000",
            "maxNotionalValue": "5000000", "breakEvenPrice": "87258.38940000",
            "updateTime": now_ms - 60000,
        },
        {
            "symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "-2.500",
            "entryPrice": "2875.34000000", "markPrice": "2889.12000000",
            "liquidationPrice": "6021.90023411", "leverage": "20",
            "unRealizedProfit": "-34.45000000", "notional": "-7222.80000000",
            "maxNotionalValue": "2000000", "breakEvenPrice": "2874.19000000",
            "updateTime": now_ms - 90000,
        },
    ]


def balance_body(now_ms: int) -> list[dict[str, Any]]:
    """Shaped like Binance's docs example (tests/fixtures/real/docs/balance_all_assets.en.json):
    "" for a figure not given, and one row's updateTime as a string, as the live API sometimes
    sends it. A small USDT loan with interest; BNB all zeros."""
    return [
        {
            "asset": "USDT", "totalWalletBalance": "10350.43812500", "crossMarginAsset": "100.00000000",
            "crossMarginBorrowed": "100.00000000", "crossMarginFree": "100.00000000",
            "crossMarginInterest": "0.01250000", "crossMarginLocked": "0.00000000",
            "umWalletBalance": "10250.43812500", "umUnrealizedPNL": "-132.55000000",
            "cmWalletBalance": "0.00000000", "cmUnrealizedPNL": "", "updateTime": now_ms - 4000,
            "negativeBalance": "0",
        },
        {
            "asset": "BNB", "totalWalletBalance": "0.00000000", "crossMarginAsset": "0.00000000",
            "crossMarginBorrowed": "0.00000000", "crossMarginFree": "0.00000000",
            "crossMarginInterest": "0.00000000", "crossMarginLocked": "0.00000000",
            "umWalletBalance": "0.00000000", "umUnrealizedPNL": "0.00000000",
            "cmWalletBalance": "0.00000000", "cmUnrealizedPNL": "", "updateTime": str(now_ms - 90000),
            "negativeBalance": "0",
        },
    ]


def cm_account_body(now_ms: int) -> dict[str, Any]:
    """COIN-M with nothing open, shaped like Binance's "Get CM Account Detail" example (a key with
    COIN-M access that holds no coin-margined position: what most accounts answer)."""
    return {
        "assets": [
            {
                "asset": "BTC", "crossWalletBalance": "0.00241969", "crossUnPnl": "0.00000000",
                "maintMargin": "0.00000000", "initialMargin": "0.00000000",
                "positionInitialMargin": "0.00000000", "openOrderInitialMargin": "0.00000000",
                "updateTime": now_ms - 5000,
            }
        ],
        "positions": [
            {
                "symbol": "BTCUSD_PERP", "positionAmt": "0", "initialMargin": "0", "maintMargin": "0",
                "unrealizedProfit": "0.00000000", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                "leverage": "20", "positionSide": "BOTH", "entryPrice": "0.0", "maxQty": "250",
                "updateTime": 0,
            },
        ],
    }


def cm_position_risk_body(now_ms: int) -> list[dict[str, Any]]:
    """Shaped like Binance's "Query CM Position Information" example: a flat row."""
    return [
        {
            "symbol": "BTCUSD_PERP", "positionAmt": "0", "entryPrice": "0.0", "markPrice": "86480.25000000",
            "unRealizedProfit": "0.00000000", "liquidationPrice": "0", "leverage": "20",
            "positionSide": "BOTH", "updateTime": 0, "maxQty": "250", "notionalValue": "0",
        },
    ]


def cm_open_account_body(now_ms: int) -> dict[str, Any]:
    """COIN-M with one open BTCUSD_PERP short of 10 contracts (1,000 USD; margins and uPnL in BTC)
    and a flat delivery contract (set it with `set_body(CM_ACCOUNT, cm_open_account_body(...))`)."""
    return {
        "assets": [
            {
                "asset": "BTC", "crossWalletBalance": "0.05241969", "crossUnPnl": "0.00012345",
                "maintMargin": "0.00046252", "initialMargin": "0.00115631",
                "positionInitialMargin": "0.00115631", "openOrderInitialMargin": "0.00000000",
                "updateTime": now_ms - 5000,
            }
        ],
        "positions": [
            {
                "symbol": "BTCUSD_PERP", "positionAmt": "-10", "initialMargin": "0.00115631",
                "maintMargin": "0.00046252", "unrealizedProfit": "0.00012345",
                "positionInitialMargin": "0.00115631", "openOrderInitialMargin": "0",
                "leverage": "10", "positionSide": "BOTH", "entryPrice": "87950.1",
                "maxQty": "250", "updateTime": now_ms - 120000,
            },
            {
                "symbol": "BTCUSD_250627", "positionAmt": "0", "initialMargin": "0", "maintMargin": "0",
                "unrealizedProfit": "0.00000000", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                "leverage": "20", "positionSide": "BOTH", "entryPrice": "0.0", "maxQty": "100",
                "updateTime": 0,
            },
        ],
    }


def cm_open_position_risk_body(now_ms: int, liquidation: str = "171025.70213315") -> list[dict[str, Any]]:
    """positionRisk of cm_open_account_body (notionalValue in BTC: -1000 USD / 86480.25)."""
    return [
        {
            "symbol": "BTCUSD_PERP", "positionAmt": "-10", "entryPrice": "87950.1",
            "markPrice": "86480.25000000", "unRealizedProfit": "0.00012345",
            "liquidationPrice": liquidation, "leverage": "10", "positionSide": "BOTH",
            "updateTime": now_ms - 120000, "maxQty": "250", "notionalValue": "-0.01156333",
        },
        {
            "symbol": "BTCUSD_250627", "positionAmt": "0", "entryPrice": "0.0", "markPrice": "87012.10000000",
            "unRealizedProfit": "0.00000000", "liquidationPrice": "0", "leverage": "20",
            "positionSide": "BOTH", "updateTime": 0, "maxQty": "100", "notionalValue": "0",
        },
    ]


# (body factory, weight, signed)
#: The official connector's exchangeInfo test body (tests/fixtures/real/connector_tests, a Python
#: dict literal): the public, unsigned route serves it as JSON.
EXCHANGE_INFO_FIXTURE = (Path(__file__).resolve().parent.parent / "fixtures" / "real" / "connector_tests"
                         / "exchange_information.json")


def exchange_info_body(now_ms: int) -> Any:
    return ast.literal_eval(EXCHANGE_INFO_FIXTURE.read_text(encoding="utf-8"))


RISK_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "risk"


def _risk_fixture(name: str) -> Any:
    return ast.literal_eval((RISK_FIXTURES / name).read_text(encoding="utf-8"))  # SDK docstrings: Python literals


ROUTES = {
    # The risk model's inputs: Binance's own example bodies (tests/fixtures/real/risk).
    COLLATERAL_RATE: (lambda now: _risk_fixture("pro_collateral_rate.json"), 50, True),
    INDEX_PRICE: (lambda now: _risk_fixture("pro_asset_index_price.json"), 1, True),
    MARGIN_LEVERAGE: (lambda now: _risk_fixture("pro_margin_asset_leverage.json"), 50, True),
    UM_BRACKETS: (lambda now: _risk_fixture("um_leverage_bracket.json"), 1, True),
    CM_BRACKETS: (lambda now: _risk_fixture("cm_leverage_bracket.json"), 1, True),
    UM_ACCOUNT: (um_account_body, 5, True),
    PM_ACCOUNT: (pm_account_body, 20, True),
    POSITION_RISK: (position_risk_body, 5, True),
    BALANCE: (balance_body, 20, True),
    CM_ACCOUNT: (cm_account_body, 5, True),
    CM_POSITION_RISK: (cm_position_risk_body, 1, True),
    PING: (lambda now: {}, 1, False),
    TIME: (lambda now: {"serverTime": now}, 1, False),
    EXCHANGE_INFO: (exchange_info_body, 1, False),
    # The ledger (pmtui.ledger): nothing happened, unless a test sets a body (set_body).
    **{path: (lambda now: [], weight, True) for path, weight in (
        ("/papi/v1/um/income", 30), ("/papi/v1/cm/income", 30), ("/papi/v1/portfolio/interest-history", 50),
        ("/papi/v1/um/forceOrders", 50), ("/papi/v1/cm/forceOrders", 50))},
    "/papi/v1/margin/marginInterestHistory": (lambda now: {"rows": [], "total": 0}, 1, True),
    "/papi/v1/portfolio/negative-balance-exchange-record": (lambda now: {"rows": [], "total": 0}, 100, True),
    UM_ADL: (lambda now: [], 5, True),
    CM_ADL: (lambda now: [], 5, True),
    UM_ACCOUNT_CONFIG: (lambda now: {"canTrade": True, "dualSidePosition": False, "updateTime": 0}, 5, True),
    UM_TRADING_STATUS: (lambda now: {"indicators": {}, "updateTime": now}, 10, True),
}

WAF_PAGE = (
    "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    "<p>Request blocked by CloudFront.</p></body></html>"
)
OUTAGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Binance</title></head><body>"
    "<h1>System maintenance</h1><p>We'll be back soon.</p></body></html>"
)


# --- recorded requests and faults ---------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str  # raw, exactly as sent (percent-encoding kept)
    headers: dict[str, str]
    time: float  # time.time() on arrival

    @property
    def params(self) -> list[tuple[str, str]]:
        """Decoded query parameters, in order."""
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass
class Fault:
    kind: str
    count: int | None = 1  # None: persistent
    path: str | None = None  # None: any path
    opts: dict[str, Any] = field(default_factory=dict)

    def matches(self, path: str, method: str = "GET") -> bool:
        wanted = self.opts.get("method")  # None: any method
        return (self.path is None or self.path == path) and (wanted is None or wanted == method)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


def _json(status: int, data: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers)


def _error(status: int, code: int, msg: str, **headers: str) -> Reply:
    return _json(status, {"code": code, "msg": msg}, **headers)


# --- the server ---------------------------------------------------------------------------------


class PapiServer:
    """Imitation PAPI server. Thread-safe; all knobs may be changed while it runs."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        public_key: Any | None = None,
        clock_offset_ms: int = 0,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        #: Ed25519 / RSA public key object (or PEM bytes): verify those signatures instead of HMAC.
        self.public_key = public_key
        #: Server clock = local clock + this (simulates the user's clock being off either way).
        self.clock_offset_ms = clock_offset_ms
        self.requests: list[Recorded] = []
        self.revoked = False
        self.external_weight = 0  # weight other programs on this IP used (added to the header)
        self._faults: list[Fault] = []
        self._mode: Fault | None = None
        self._bodies: dict[str, bytes] = {}
        #: The account's active user-data-stream listen key (POST creates it, DELETE closes it).
        self.listen_key: str | None = None
        self.listen_keys_made = 0
        self._lock = threading.Lock()
        self._weight_minute = 0
        self._weight = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> PapiServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="papi-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes "slow" handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # knobs

    def inject(self, fault: str, count: int = 1, path: str | None = None, **opts: Any) -> None:
        """Queue `fault` for the next `count` requests to `path` (any path if None).

        Options: 429 `retry_after` (seconds, default 2; None sends no Retry-After header);
        418 `retry_after` (ban seconds, default 120); slow `delay` (seconds, default 2.0);
        schema `variant` ("missing" or "renamed"); -1001 `status` (HTTP status, default 400);
        error `status` (default 400) and `body` (a JSON-able object, sent as JSON). Any fault:
        `method` ("GET", "POST", …; None: any method).
        """
        if fault == "revoked":
            self.revoke()
            return
        self._check(fault)
        with self._lock:
            self._faults.append(Fault(fault, count, path, opts))

    def set_mode(self, fault: str, path: str | None = None, **opts: Any) -> None:
        """Apply `fault` to every request (to `path`) until `clear_mode()`."""
        self._check(fault)
        with self._lock:
            self._mode = Fault(fault, None, path, opts)

    def set_body(self, path: str, body: str | bytes | Any | None) -> None:
        """Answer `path` (after the usual signature checks) with `body` instead of the canned one:
        text or bytes are sent byte for byte, anything else as JSON; None restores the canned one.
        Faults still apply first."""
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        with self._lock:
            if body is None:
                self._bodies.pop(path, None)
            else:
                self._bodies[path] = body.encode() if isinstance(body, str) else body

    def clear_mode(self) -> None:
        with self._lock:
            self._mode = None

    def clear(self) -> None:
        """Drop queued faults, the mode, set bodies and revocation; keep the recorded requests."""
        with self._lock:
            self._faults.clear()
            self._bodies.clear()
            self._mode = None
            self.revoked = False

    def revoke(self) -> None:
        """The key answers -2015 (like a deleted key or a lost IP whitelist) until `restore()`."""
        self.revoked = True

    def restore(self) -> None:
        self.revoked = False

    @staticmethod
    def _check(fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")

    # inspection

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.count or 0 for f in self._faults)

    # request handling (called from handler threads)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next_fault(self, path: str, method: str = "GET") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, method):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            if self._mode is not None and self._mode.matches(path, method):
                return self._mode
        return None

    def _add_weight(self, weight: int) -> int:
        with self._lock:
            minute = self.now_ms() // 60000
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, 0
            self._weight += weight
            return self._weight

    def reply(self, method: str, path: str, query: str, headers: dict[str, str]) -> Reply:
        """Decide the answer to one request: a fault, a Binance error, or the canned body."""
        if path == LISTEN_KEY and method in ("POST", "PUT", "DELETE"):
            return self._listen_key_reply(method, headers)
        if method != "GET":
            return _error(405, -1000, "Only GET is served here.")
        route = ROUTES.get(path)
        if route is None:
            return _error(404, -5000, "Path not found.")
        body_for, weight, signed = route
        fault = self._next_fault(path)  # GET only here (tests/support/soak.py overrides it with one argument)
        with self._lock:
            fixed = self._bodies.get(path)
        if fixed is not None and (fault is None or fault.kind == "slow"):
            body_for = fixed
        reply = self._answer(fault, body_for, signed, query, headers)
        if fault is not None and fault.kind == "slow":
            reply.delay = float(fault.opts.get("delay", 2.0))
        # external_weight: what other programs on the same IP used this minute.
        reply.headers["X-MBX-USED-WEIGHT-1M"] = str(self._add_weight(weight) + self.external_weight)
        return reply

    def _listen_key_reply(self, method: str, headers: dict[str, str]) -> Reply:
        """The listen-key endpoints as Binance documents them: API key header only (USER_STREAM),
        weight 1; PUT on no active key is -1125."""
        fault = self._next_fault(LISTEN_KEY, method)
        if fault is not None and fault.kind != "slow":
            reply = _fault_reply(fault, self.now_ms())
        elif self.revoked or headers.get("x-mbx-apikey") != self.api_key:
            reply = _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        else:
            with self._lock:
                if method == "POST":
                    if self.listen_key is None:
                        self.listen_keys_made += 1
                        # Shaped like a real one: 64 letters and digits.
                        self.listen_key = f"pmtuiTestListenKey{self.listen_keys_made:04d}".ljust(64, "Q")
                    reply = _json(200, {"listenKey": self.listen_key})
                elif self.listen_key is None:
                    reply = _error(400, -1125, "This listenKey does not exist.")
                else:
                    if method == "DELETE":
                        self.listen_key = None
                    reply = _json(200, {})
        if fault is not None and fault.kind == "slow":
            reply.delay = float(fault.opts.get("delay", 2.0))
        reply.headers["X-MBX-USED-WEIGHT-1M"] = str(self._add_weight(1) + self.external_weight)
        return reply

    def expire_listen_key(self) -> None:
        """The active listen key lapses (60 min without keep-alive): PUT answers -1125."""
        with self._lock:
            self.listen_key = None

    def _answer(self, fault: Fault | None, body_for: Any, signed: bool, query: str, headers: dict[str, str]) -> Reply:
        if fault is not None and fault.kind not in ("slow", "schema"):
            return _fault_reply(fault, self.now_ms())
        if signed:
            refusal = self._authenticate(query, headers)
            if refusal is not None:
                return refusal
        if isinstance(body_for, bytes):  # set_body: sent as given
            return Reply(200, body_for)
        data = body_for(self.now_ms())
        if fault is not None and fault.kind == "schema":
            data = _break_schema(data, fault.opts.get("variant", "missing"))
        return _json(200, data)

    def _authenticate(self, query: str, headers: dict[str, str]) -> Reply | None:
        if self.revoked or headers.get("x-mbx-apikey") != self.api_key:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload, sep, signature = query.rpartition("&signature=")
        if not sep or "&" in signature or not signature:
            return _error(400, -1022, "Signature for this request is not valid.")
        if not self._signature_ok(payload, unquote(signature)):
            return _error(400, -1022, "Signature for this request is not valid.")
        return self._check_timestamp(dict(parse_qsl(payload)))

    def _signature_ok(self, payload: str, signature: str) -> bool:
        if self.public_key is None:
            expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)
        return verify_asymmetric(self.public_key, payload, signature)

    def _check_timestamp(self, params: dict[str, str]) -> Reply | None:
        try:
            timestamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            return _error(
                400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        if not 0 < recv_window <= 60000:
            return _error(400, -1131, "recvWindow must be less than 60000")
        server_now = self.now_ms()
        if timestamp >= server_now + 1000:
            return _error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_now - timestamp > recv_window:
            return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None


def verify_asymmetric(public_key: Any, payload: str, signature_b64: str) -> bool:
    """Verify a base64 Ed25519 or RSA (PKCS#1 v1.5, SHA-256) signature over `payload`."""
    if isinstance(public_key, (bytes, str)):
        data = public_key.encode() if isinstance(public_key, str) else public_key
        public_key = serialization.load_pem_public_key(data)
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, payload.encode())
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            raise TypeError(f"unsupported public key {type(public_key).__name__}")
    except (InvalidSignature, ValueError):
        return False
    return True


def _fault_reply(fault: Fault, now_ms: int) -> Reply:
    kind, opts = fault.kind, fault.opts
    if kind == "429":
        retry = opts.get("retry_after", 2)
        headers = {} if retry is None else {"Retry-After": str(retry)}
        return _error(
            429, -1003,
            "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
            "Please use the websocket for live updates to avoid polling the API.",
            **headers,
        )
    if kind == "418":
        retry = int(opts.get("retry_after", 120))
        until = now_ms + retry * 1000
        return _error(418, -1003, f"Way too many requests; IP banned until {until}.", **{"Retry-After": str(retry)})
    if kind == "500":
        return _error(500, -1000, "An unknown error occurred while processing the request.")
    if kind == "503":
        return Reply(503, b"Service Unavailable", content_type="text/plain")
    if kind == "-1001":
        return _error(
            int(opts.get("status", 400)), -1001, "Internal error; unable to process your request. Please try again."
        )
    if kind == "403":
        return Reply(403, WAF_PAGE.encode(), content_type="text/html")
    if kind == "html":
        return Reply(200, OUTAGE_PAGE.encode(), content_type="text/html")
    if kind == "truncated":
        whole = json.dumps(um_account_body(now_ms)).encode()
        return Reply(200, whole[: len(whole) // 2])
    if kind == "empty":
        return Reply(200, b"")
    if kind == "reset":
        return Reply(0, reset=True)
    if kind == "error":
        return _json(int(opts.get("status", 400)), opts["body"])
    raise AssertionError(f"unhandled fault {kind}")


def _break_schema(data: Any, variant: str) -> Any:
    """The same answer with the shape changed: `positions` missing, or a field renamed."""
    if variant == "missing":
        if isinstance(data, dict):
            data.pop("positions" if "positions" in data else next(iter(data)))
            return data
        return {"rows": data}  # a list endpoint answering an object
    if variant == "renamed":
        rows = data.get("positions", [data]) if isinstance(data, dict) else data
        for row in rows:
            for old, new in (("positionAmt", "positionAmount"), ("uniMMR", "uniMmr")):
                if old in row:
                    row[new] = row.pop(old)
        return data
    raise ValueError(f"unknown schema variant {variant!r}")


def _handler_for(server: PapiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def handle_one_request(self) -> None:
            # Route every method here, so non-GET requests are recorded and refused too.
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(Recorded(self.command, parts.path, parts.query, headers, time.time()))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            reply = server.reply(self.command, parts.path, parts.query, headers)
            if reply.delay and server._stopping.wait(reply.delay):
                reply = Reply(0, reset=True)
            if reply.reset:
                self._reset()
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()

        def _reset(self) -> None:
            """Close with SO_LINGER 0: the peer sees a TCP RST, not an answer."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header follows the (possibly skewed) server clock, as a fallback sync source.
            return formatdate(server.now_ms() / 1000 if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def papi_server() -> Iterator[PapiServer]:
    """A running imitation PAPI server on 127.0.0.1 (ephemeral port); stopped afterwards."""
    server = PapiServer().start()
    try:
        yield server
    finally:
        server.stop()
