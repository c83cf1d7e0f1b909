"""PapiClient against a real local HTTP server imitating PAPI, one injected fault at a time.

Every failure must arrive as the right error type with one clear sentence, and neither the API
secret nor a request signature may show up in the error or in the logs.
"""

from __future__ import annotations

import logging
import time
import traceback
from decimal import Decimal
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from pmtui.client import ACCESS_HELP, PapiClient
from pmtui.clock import SystemClock
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
    RequestRejected,
    RequestTimeout,
    SchemaError,
    ServerError,
    WafBlocked,
)
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.signing import Ed25519Signer, HmacSigner, RsaSigner
from tests.support.harness import timed_clock_syncs
from tests.support.hostile_server import HostileServer
from tests.support.papi_server import (
    API_KEY,
    API_SECRET,
    BALANCE,
    CM_ACCOUNT,
    CM_POSITION_RISK,
    PING,
    PM_ACCOUNT,
    POSITION_RISK,
    TIME,
    UM_ACCOUNT,
    PapiServer,
    balance_body,
    cm_account_body,
    cm_position_risk_body,
    pm_account_body,
    position_risk_body,
    um_account_body,
)

# Loggers whose text we hold to the no-secrets rule here. httpx/httpcore are checked on their own
# in test_http_library_logs_do_not_leak_signatures.
THIRD_PARTY = ("httpx", "httpcore")


class FakeMonotonic(SystemClock):
    """The system's clock but for monotonic time, which the test moves by hand, to step through
    bans without sleeping (the local server checks the signed timestamps: wall time stays real)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.fixture(autouse=True)
def _only_get(papi_server: PapiServer):
    """Whatever a test did, the client only ever sent GETs to paths it knows."""
    yield
    assert {r.method for r in papi_server.requests} <= {"GET"}
    assert {r.path for r in papi_server.requests} <= {UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK, PING, TIME}


@pytest.fixture
async def make_client(papi_server: PapiServer):
    """make_client(**overrides) -> an open PapiClient aimed at the local server; closed afterwards."""
    clients: list[PapiClient] = []

    def make(**kw) -> PapiClient:
        kw.setdefault("api_key", API_KEY)
        kw.setdefault("signer", HmacSigner(API_SECRET))
        kw.setdefault("base_url", papi_server.base_url)
        kw.setdefault("timeout", 2.0)
        client = PapiClient(**kw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client) -> PapiClient:
    return make_client()


# --- helpers ------------------------------------------------------------------------------------


def signatures(server: PapiServer) -> set[str]:
    """Every signature the server received, as sent and URL-decoded."""
    out = set()
    for r in server.requests:
        for name, value in r.params:
            if name == "signature":
                out |= {value, unquote(r.query.rpartition("&signature=")[2])}
    return out


def own_log_text(caplog) -> str:
    return "\n".join(
        rec.getMessage() for rec in caplog.records if not rec.name.startswith(THIRD_PARTY)
    )


def assert_clean(err: PmtuiError, server: PapiServer, caplog) -> None:
    """One clear sentence for a person, and no secret or signature anywhere a person could see."""
    text = str(err)
    assert text and text[0].isupper() and text.endswith("."), text
    for noise in ("Traceback", "\n", "object at 0x", "<class", "httpx.", "Error(", "b'", "{'"):
        assert noise not in text, f"{noise!r} in {text!r}"
    leaks = {API_SECRET, API_KEY} | signatures(server)
    shown = "\n".join([text, repr(err), "".join(traceback.format_exception(err)), own_log_text(caplog)])
    for secret in leaks:
        assert secret not in shown


async def expect(error_type: type[PmtuiError], call, server: PapiServer, caplog) -> PmtuiError:
    with pytest.raises(PmtuiError) as info:
        await call()
    assert type(info.value) is error_type, f"{type(info.value).__name__}: {info.value}"
    assert_clean(info.value, server, caplog)
    return info.value


# --- success --------------------------------------------------------------------------------------


async def test_um_account_success(client, papi_server, caplog):
    account = await client.um_account()
    assert account.assets[0].asset == "USDT"
    assert account.assets[0].crossWalletBalance == Decimal("10250.43812500")
    assert len(account.positions) == 3 and len(account.open_positions) == 2
    assert papi_server.paths() == [TIME, UM_ACCOUNT]  # one clock sync, then the call
    assert client.latency_ms is not None and client.latency_ms >= 0
    assert API_SECRET not in caplog.text
    assert API_KEY not in repr(client) and API_SECRET not in repr(client)


async def test_other_endpoints_success(client, papi_server):
    pm = await client.pm_account()
    assert pm.uniMMR == Decimal("166.10853477") and pm.accountStatus == "NORMAL"
    risk = await client.position_risk()
    assert {r.symbol for r in risk} == {"BTCUSDT", "ETHUSDT"}
    await client.ping()
    ping = papi_server.requests[-1]
    assert ping.path == PING and "x-mbx-apikey" not in ping.headers  # unsigned, no key sent


async def test_request_is_signed_like_binance(client, papi_server):
    await client.um_account()
    request = papi_server.requests[-1]
    names = [name for name, _ in request.params]
    assert names[-1] == "signature" and names.count("signature") == 1
    assert {"timestamp", "recvWindow"} <= set(names)
    assert request.headers["x-mbx-apikey"] == API_KEY


async def test_used_weight_header_is_exposed(client, papi_server):
    await client.um_account()
    first = client.used_weight
    await client.pm_account()
    assert first is not None and client.used_weight is not None
    # /papi/v1/account weighs 20 (unless a new minute just began).
    assert client.used_weight in (first + 20, 20)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
async def test_private_key_signatures_accepted(kind, make_client, papi_server):
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = (Ed25519Signer if kind == "ed25519" else RsaSigner).from_pem(data)
    papi_server.public_key = key.public_key()
    client = make_client(signer=signer)
    for _ in range(3):  # several, so RSA base64 with + and / is exercised
        await client.um_account()
    assert papi_server.paths() == [TIME] + [UM_ACCOUNT] * 3


# --- rate limits and bans -------------------------------------------------------------------------


async def test_429_with_retry_after_blocks_sending(make_client, papi_server, caplog):
    mono = FakeMonotonic()
    client = make_client(clock=mono)
    await client.sync_time()
    papi_server.inject("429", retry_after=7, path=UM_ACCOUNT)
    err = await expect(RateLimited, client.um_account, papi_server, caplog)
    assert err.retry_after == 7 and client.blocked_for() == pytest.approx(7)
    seen = papi_server.count()

    mono.now += 5  # still inside the wait: nothing may be sent, to any endpoint
    for call in (client.um_account, client.pm_account, client.ping, client.sync_time):
        again = await expect(RateLimited, call, papi_server, caplog)
        assert again.retry_after == pytest.approx(2)
    assert papi_server.count() == seen

    mono.now += 2.5  # the wait is over
    await client.um_account()
    assert papi_server.count() == seen + 1


async def test_429_without_retry_after_backs_off(make_client, papi_server, caplog):
    mono = FakeMonotonic()
    client = make_client(clock=mono)
    await client.sync_time()
    papi_server.inject("429", retry_after=None, path=UM_ACCOUNT)
    err = await expect(RateLimited, client.um_account, papi_server, caplog)
    assert err.retry_after is not None and err.retry_after > 0
    seen = papi_server.count()
    await expect(RateLimited, client.um_account, papi_server, caplog)
    assert papi_server.count() == seen
    mono.now += err.retry_after + 0.01
    await client.um_account()


@pytest.mark.parametrize("server_clock_ms", [0, 5000])
async def test_418_ban_is_honoured(server_clock_ms, make_client, papi_server, caplog):
    papi_server.clock_offset_ms = server_clock_ms  # "banned until" is in server time
    mono = FakeMonotonic()
    client = make_client(clock=mono)
    await client.sync_time()
    papi_server.inject("418", retry_after=300, path=PM_ACCOUNT)
    err = await expect(IPBanned, client.pm_account, papi_server, caplog)
    assert "banned" in str(err)
    assert err.retry_after == pytest.approx(300, abs=2)
    seen = papi_server.count()

    mono.now += 299
    for call in (client.um_account, client.pm_account, client.position_risk, client.ping, client.sync_time):
        await expect(IPBanned, call, papi_server, caplog)
    assert papi_server.count() == seen

    mono.now += 3
    await client.pm_account()
    assert papi_server.count() == seen + 1


# --- server-side failures -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "503", "-1001"])
async def test_server_errors(fault, client, papi_server, caplog):
    papi_server.inject(fault, path=UM_ACCOUNT)
    await expect(ServerError, client.um_account, papi_server, caplog)
    await client.um_account()  # not a block: the next poll goes through


async def test_minus_1001_with_http_503_is_a_server_error(client, papi_server, caplog):
    papi_server.inject("-1001", status=503, path=UM_ACCOUNT)
    await expect(ServerError, client.um_account, papi_server, caplog)


@pytest.mark.parametrize("fault", ["html", "truncated", "empty"])
@pytest.mark.parametrize("path", [UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK])
async def test_malformed_bodies(fault, path, client, papi_server, caplog):
    call = {UM_ACCOUNT: client.um_account, PM_ACCOUNT: client.pm_account, POSITION_RISK: client.position_risk}
    await client.sync_time()
    papi_server.inject(fault, path=path)
    await expect(MalformedResponse, call[path], papi_server, caplog)


@pytest.mark.parametrize("variant", ["missing", "renamed"])
@pytest.mark.parametrize("path", [UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK])
async def test_schema_change(variant, path, client, papi_server, caplog):
    call = {UM_ACCOUNT: client.um_account, PM_ACCOUNT: client.pm_account, POSITION_RISK: client.position_risk}
    papi_server.inject("schema", variant=variant, path=path)
    await expect(SchemaError, call[path], papi_server, caplog)


async def test_slow_answer_times_out(make_client, papi_server, caplog):
    client = make_client(timeout=0.3)
    await client.sync_time()
    papi_server.inject("slow", delay=3, path=UM_ACCOUNT)
    started = time.monotonic()
    await expect(RequestTimeout, client.um_account, papi_server, caplog)
    assert time.monotonic() - started < 1.5
    client.timeout = 10.0  # what follows proves a fresh connection, not speed (0.3 s failed under load)
    await client.um_account()  # a fresh connection works


async def test_slow_answer_within_timeout_is_fine(make_client, papi_server):
    client = make_client(timeout=2.0)
    papi_server.inject("slow", delay=0.3, path=UM_ACCOUNT)
    await client.um_account()


async def test_connection_reset(client, papi_server, caplog):
    await client.sync_time()
    papi_server.inject("reset", path=UM_ACCOUNT)
    await expect(NetworkError, client.um_account, papi_server, caplog)
    await client.um_account()


async def test_server_gone_is_a_network_error(make_client, papi_server, caplog):
    dead = PapiServer().start()
    url = dead.base_url
    dead.stop()
    client = make_client(base_url=url)
    err = await expect(NetworkError, client.ping, papi_server, caplog)
    assert "127.0.0.1" in str(err)


async def test_waf_403(client, papi_server, caplog):
    papi_server.inject("403", path=UM_ACCOUNT)
    await expect(WafBlocked, client.um_account, papi_server, caplog)


# --- credentials --------------------------------------------------------------------------------


def assert_auth_help(err: PmtuiError) -> None:
    text = str(err)
    assert "Portfolio Margin" in text and "whitelist" in text and "Reading" in text, text


async def test_wrong_api_key(make_client, papi_server, caplog):
    client = make_client(api_key="not-the-key")
    err = await expect(AuthError, client.um_account, papi_server, caplog)
    assert_auth_help(err)
    assert not err.retryable
    assert "not-the-key" not in str(err)


async def test_revoked_key_then_restored(client, papi_server, caplog):
    await client.um_account()
    papi_server.revoke()
    err = await expect(AuthError, client.pm_account, papi_server, caplog)
    assert_auth_help(err)
    papi_server.restore()
    await client.pm_account()


async def test_wrong_secret(make_client, papi_server, caplog):
    wrong = "wrong-secret-Qv7Tz0"
    client = make_client(signer=HmacSigner(wrong))
    err = await expect(BadSignature, client.um_account, papi_server, caplog)
    assert not err.retryable
    assert wrong not in own_log_text(caplog) and wrong not in repr(err)
    assert papi_server.paths() == [TIME, UM_ACCOUNT]  # not retried


async def test_wrong_private_key(make_client, papi_server, caplog):
    papi_server.public_key = ed25519.Ed25519PrivateKey.generate().public_key()
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    client = make_client(signer=Ed25519Signer.from_pem(other))
    await expect(BadSignature, client.um_account, papi_server, caplog)


# --- clocks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [5000, -5000, 30_000])
async def test_skewed_local_clock_still_works(offset_ms, make_client, papi_server):
    """The server runs ahead of / behind us; the client measures that and signs in server time."""
    papi_server.clock_offset_ms = offset_ms
    client = make_client(time_base_url=papi_server.base_url)
    trips = timed_clock_syncs(client)
    await client.um_account()
    # The midpoint estimate is off by at most half the measured round trip (+2 ms of rounding).
    assert abs(client.time_offset_ms - offset_ms) <= trips[-1] * 500 + 2
    assert papi_server.paths() == [TIME, UM_ACCOUNT]  # no -1021 on the way


@pytest.mark.parametrize("jump_ms", [8000, -6000])
async def test_clock_jump_resyncs_and_retries_once(jump_ms, client, papi_server, caplog):
    trips = timed_clock_syncs(client)
    await client.um_account()
    papi_server.clock_offset_ms = jump_ms  # e.g. the laptop slept, or NTP stepped the clock
    await client.um_account()
    assert papi_server.paths() == [TIME, UM_ACCOUNT, UM_ACCOUNT, TIME, UM_ACCOUNT]
    assert abs(client.time_offset_ms - jump_ms) <= trips[-1] * 500 + 2


async def test_clock_skew_that_resync_cannot_fix(make_client, papi_server, caplog):
    """The time source disagrees with the API host: one resync, one retry, then ClockSkew."""
    time_source = PapiServer().start()  # clock offset 0
    try:
        papi_server.clock_offset_ms = 20_000
        client = make_client(time_base_url=time_source.base_url)
        err = await expect(ClockSkew, client.um_account, papi_server, caplog)
        assert "clock" in str(err)
        assert papi_server.paths() == [UM_ACCOUNT, UM_ACCOUNT]
        assert time_source.paths() == [TIME, TIME]
    finally:
        time_source.stop()


async def test_time_endpoint_failure_falls_back(make_client, papi_server):
    """The time endpoint fails at start: the client still gets going (Date header, then resync)."""
    papi_server.clock_offset_ms = 5000
    papi_server.inject("500", path=TIME)
    client = make_client()
    await client.um_account()
    assert papi_server.paths()[0] == TIME and papi_server.paths()[-1] == UM_ACCOUNT
    assert papi_server.count(UM_ACCOUNT) <= 2  # at most one -1021 and one retry


async def test_time_endpoint_down_uses_date_header(make_client, papi_server):
    papi_server.clock_offset_ms = 5000
    papi_server.set_mode("503", path=TIME)
    client = make_client()
    await client.um_account()
    assert client.time_offset_ms == pytest.approx(5000, abs=1500)


# --- transport safety -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://papi.binance.com",
        "http://10.0.0.7:8080",
        "http://localhost.example.com",
        "http://127.0.0.1@example.com",
        "http://0.0.0.0:9000",
        "ftp://127.0.0.1",
    ],
)
@pytest.mark.parametrize("which", ["base_url", "time_base_url"])
def test_plain_http_to_non_loopback_is_refused(url, which):
    kw = {"base_url": "https://papi.binance.com", which: url}
    with pytest.raises(ConfigError) as info:
        PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), **kw)
    text = str(info.value)
    assert text.endswith(".") and "Traceback" not in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"])
async def test_plain_http_to_loopback_is_allowed(url):
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=url)
    await client.aclose()


async def test_debug_log_file_redacts_signatures(make_client, papi_server, tmp_path):
    """What --debug writes (pmtui.logs): httpx request lines included, signatures and secrets not."""
    from pmtui.logs import setup_debug_log

    names = ("pmtui", "httpx", "httpcore")
    levels = {name: logging.getLogger(name).level for name in names}
    before = {name: list(logging.getLogger(name).handlers) for name in names}
    path = setup_debug_log([API_SECRET, API_KEY], tmp_path / "debug.log")
    try:
        client = make_client()
        await client.um_account()
        papi_server.inject("500", path=PM_ACCOUNT)
        with pytest.raises(ServerError):
            await client.pm_account()
        with pytest.raises(BadSignature):
            await make_client(signer=HmacSigner("wrong-secret-Qv7Tz0")).um_account()
    finally:
        for name in names:
            logger = logging.getLogger(name)
            for handler in set(logger.handlers) - set(before[name]):
                logger.removeHandler(handler)
                handler.close()
            logger.setLevel(levels[name])
    text = path.read_text()
    assert "HTTP Request: GET" in text and "signature=<redacted>" in text
    for secret in signatures(papi_server) | {API_SECRET, API_KEY}:
        assert secret not in text


async def test_http_library_logs_do_not_leak_signatures(client, papi_server, caplog):
    """httpx logs each request URL at INFO; the URL carries the signature."""
    await client.um_account()
    for secret in signatures(papi_server) | {API_SECRET}:
        assert secret not in caplog.text


# --- errors by Binance's code (any HTTP status, HTTP 200 included) -------------------------------
# The hostile server answers whatever a test says, with no checks of its own.


def answer(server: HostileServer, path: str, status: int, code: int, msg: str, **headers: str) -> None:
    server.route(path, lambda conn: conn.reply(status, {"code": code, "msg": msg}, headers=headers))


def good_answers(server: HostileServer) -> None:
    bodies = {UM_ACCOUNT: um_account_body, PM_ACCOUNT: pm_account_body, POSITION_RISK: position_risk_body,
              BALANCE: balance_body, CM_ACCOUNT: cm_account_body, CM_POSITION_RISK: cm_position_risk_body}
    for path, body in bodies.items():
        server.route(path, lambda conn, body=body: conn.reply(200, body(int(time.time() * 1000))))


@pytest.fixture
async def hostile_client(hostile):
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=hostile.base_url,
                        timeout=2.0)
    await client.sync_time()
    yield client
    await client.aclose()


async def raised(call):
    with pytest.raises(PmtuiError) as info:
        await call()
    err = info.value
    text = str(err)
    assert text[:1].isupper() and text.endswith(".") and "\n" not in text and "\x1b" not in text, text
    assert API_SECRET not in text and API_KEY not in text
    return err


@pytest.mark.parametrize(
    "code, error_type",
    [(-2015, AuthError), (-1001, ServerError), (-1102, RequestRejected), (-1008, RateLimited),
     (-1022, BadSignature), (-4999, ApiError)],
)
async def test_http_200_with_a_binance_error_is_that_error(hostile, hostile_client, code, error_type):
    answer(hostile, UM_ACCOUNT, 200, code, "Something went wrong.")
    err = await raised(hostile_client.um_account)
    assert type(err) is error_type and err.code == code and "changed shape" not in str(err)


@pytest.mark.parametrize("code", [-1000, -1001, -1006, -1007])
@pytest.mark.parametrize("status", [200, 400, 503])
async def test_transient_codes_are_retried_server_errors(hostile, hostile_client, code, status):
    answer(hostile, UM_ACCOUNT, status, code, "Timeout waiting for response from backend server. "
           "Send status unknown; execution status unknown.")
    err = await raised(hostile_client.um_account)
    assert type(err) is ServerError and err.retryable
    text = str(err)
    assert "access" not in text and "unknown" not in text and "refused" not in text
    where = f"HTTP {status}" if status >= 500 else f"code {code}"
    assert f"({where})" in text
    good_answers(hostile)
    await hostile_client.um_account()  # no block: the next poll goes through


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_the_5xx_sentence_does_not_speak_of_orders(hostile, hostile_client, status):
    hostile.route(UM_ACCOUNT, lambda conn: conn.reply(status, b"<html>Bad gateway</html>"))
    err = await raised(hostile_client.um_account)
    assert str(err) == f"The exchange had an internal error (HTTP {status}); this usually passes within minutes."


async def test_throttled_minus_1008_is_a_rate_limit(hostile, hostile_client):
    answer(hostile, UM_ACCOUNT, 400, -1008, "Server is currently overloaded with other requests.")
    err = await raised(hostile_client.um_account)
    assert type(err) is RateLimited and 0 < err.retry_after <= 600
    assert hostile_client.blocked_for() > 0  # like a 429: nothing goes out meanwhile


@pytest.mark.parametrize("code", [-2015, -2014, -2008, -1002])
@pytest.mark.parametrize("status", [400, 401])
async def test_access_codes_each_name_the_code_sent(hostile, hostile_client, code, status):
    answer(hostile, PM_ACCOUNT, status, code, "Invalid API-key, IP, or permissions for action.")
    err = await raised(hostile_client.pm_account)
    assert type(err) is AuthError and not err.retryable and err.code == code
    assert f"({code})" in str(err) and str(err) == ACCESS_HELP[code]
    assert len(set(ACCESS_HELP.values())) == len(ACCESS_HELP)  # a sentence each


async def test_http_401_without_a_code_is_an_access_error(hostile, hostile_client):
    hostile.route(UM_ACCOUNT, lambda conn: conn.reply(401, b"Unauthorized"))
    err = await raised(hostile_client.um_account)
    assert type(err) is AuthError and "(HTTP 401)" in str(err)


@pytest.mark.parametrize(
    "code, msg, shown",
    [
        (-1102, "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
         "Mandatory parameter was not sent, was empty/null, or malformed"),
        (-1100, "Illegal characters found in parameter '%s'; legal range is '%s'.",
         "Illegal characters found in parameter; legal range is"),
        (-1101, "Too many parameters; expected '%d' and received '%d'.",
         "Too many parameters; expected and received"),
        (-1104, "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'.",
         "Not all sent parameters were read; read parameter(s) but was sent"),
    ],
)
async def test_a_refused_request_asks_for_a_bug_report(hostile, hostile_client, code, msg, shown):
    answer(hostile, UM_ACCOUNT, 400, code, msg)
    err = await raised(hostile_client.um_account)
    assert type(err) is RequestRejected and err.retryable
    assert str(err) == (f"The exchange refused a request pmtui sent ({UM_ACCOUNT}, code {code}: {shown}); "
                        "please report this as a pmtui bug.")


async def test_binance_text_is_cleaned_and_the_key_redacted(hostile, hostile_client):
    answer(hostile, UM_ACCOUNT, 400, -4999,
           f"\x1b[2J\x1b]0;pwned\x07Odd\u202e thing\r\nfor key {API_KEY} signature=abc123 %s")
    err = await raised(hostile_client.um_account)
    assert type(err) is ApiError
    assert str(err) == (f"The exchange refused {UM_ACCOUNT}: Odd thing for key <redacted> "
                        "signature=<redacted> (code -4999).")


# --- optional endpoints: only an access refusal makes them "not available to this key" ---------


def fetch_snapshot(client):
    """One headless fetch, as `snapshot` and `check` make it."""
    return Monitor(settings=Settings(), client=client).fetch_once()


@pytest.mark.parametrize("path, part", [(PM_ACCOUNT, "account"), (POSITION_RISK, "positionRisk"),
                                        (BALANCE, "balance"), (CM_ACCOUNT, "cm"), (CM_POSITION_RISK, "cm")])
async def test_snapshot_gives_up_an_optional_part_only_on_access(hostile, hostile_client, path, part):
    good_answers(hostile)
    answer(hostile, path, 401, -2015, "Invalid API-key, IP, or permissions for action.")
    snap = await fetch_snapshot(hostile_client)
    assert snap.unavailable == {part: f"the exchange refused {path} (code -2015); the API key may lack access to it"}


@pytest.mark.parametrize("path", [PM_ACCOUNT, POSITION_RISK, BALANCE, CM_ACCOUNT, CM_POSITION_RISK])
@pytest.mark.parametrize(
    "status, code, error_type",
    [(400, -1000, ServerError), (200, -1007, ServerError), (400, -1006, ServerError),
     (429, -1003, RateLimited), (400, -1102, RequestRejected), (400, -4999, ApiError)],
)
async def test_snapshot_does_not_blame_the_key_for_other_failures(hostile, hostile_client, path, status,
                                                                  code, error_type):
    """A transient failure (or a bug) of an optional part propagates: `check` says UNKNOWN."""
    good_answers(hostile)
    answer(hostile, path, status, code, "An unknown error occurred while processing the request.")
    err = await raised(lambda: fetch_snapshot(hostile_client))
    assert type(err) is error_type


def test_every_client_shares_one_tls_context():
    """Loading the CA bundle costs ~0.2 s: 50 accounts' clients each loading their own made
    `check --all-profiles` spend 11 s before its first request."""
    from pmtui.client import tls_context

    a, b = (PapiClient(api_key="k", signer=None) for _ in range(2))
    assert a._http._transport._pool._ssl_context is b._http._transport._pool._ssl_context is tls_context()
