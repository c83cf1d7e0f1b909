"""What a hostile or broken server may cost pmtui: bounded time, bounded waits, bounded memory.

Every server here is tests/support/hostile_server.py on 127.0.0.1: raw sockets that trickle, lie and
send absurd headers. Deadlines are short (0.5 s) so the suite stays fast; bounds are asserted
with generous tolerances, and each test is itself wrapped in a hard limit (`bounded`) so that a
regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from email.utils import formatdate

import pytest

from pmtui.cli import main
from pmtui.client import MAX_BAN, MAX_BODY, MAX_RATE_WAIT, PapiClient
from pmtui.errors import (
    BadServerTime,
    IPBanned,
    MalformedResponse,
    NetworkError,
    RateLimited,
    RequestTimeout,
)
from pmtui.poller import Poller
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp
from tests.support.harness import settled, wait_until
from tests.support.hostile_server import TIME, Conn, HostileServer, head
from tests.support.papi_server import (
    API_KEY,
    API_SECRET,
    PM_ACCOUNT,
    POSITION_RISK,
    UM_ACCOUNT,
    pm_account_body,
    position_risk_body,
    um_account_body,
)

TIMEOUT = 1.0
APP_TIMEOUT = 3.0  # the dashboard shares its loop with Textual: room for a good answer under load
SLACK = 1.5  # generous: two busy cores, thread start-up, connection set-up


def now_ms() -> int:
    return int(time.time() * 1000)


def good(conn: Conn) -> None:
    bodies = {UM_ACCOUNT: um_account_body, PM_ACCOUNT: pm_account_body, POSITION_RISK: position_risk_body}
    conn.reply(200, bodies[conn.path](now_ms()))


def trickle_body(conn: Conn) -> None:
    """Headers at once, then a long body one byte every 0.1 s: no single read ever times out."""
    data = json.dumps(um_account_body(now_ms())).encode()
    conn.send(head(200, length=len(data)))
    conn.trickle(data, every=0.1)


def trickle_all(conn: Conn) -> None:
    """Status line, headers and body, one byte every 0.1 s."""
    data = json.dumps({"serverTime": now_ms()}).encode()
    conn.trickle(head(200, length=len(data)) + data, every=0.1)


def error(status: int, code: int, msg: str, **headers: str):
    return lambda conn: conn.reply(status, {"code": code, "msg": msg}, headers=headers)


def client_for(server: HostileServer, **kw) -> PapiClient:
    kw.setdefault("timeout", TIMEOUT)
    return PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=server.base_url, **kw)


async def bounded(call, limit: float = 10.0):
    """`call()`, failing the test (not hanging it) if it takes longer than `limit` seconds."""
    try:
        return await asyncio.wait_for(call(), limit)
    except TimeoutError:
        pytest.fail(f"still waiting after {limit} s")


async def timed_error(call) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        await bounded(call)
    return info.value, time.monotonic() - started


# --- one deadline for the whole request ------------------------------------------------------


@pytest.mark.parametrize("route", [trickle_body, trickle_all], ids=["body", "everything"])
async def test_a_trickling_answer_ends_at_the_deadline(hostile, route):
    hostile.route(UM_ACCOUNT, route)
    async with client_for(hostile) as client:
        await client.sync_time()
        err, took = await timed_error(client.um_account)
    assert type(err) is RequestTimeout, repr(err)
    assert str(err) == f"The exchange did not answer within {TIMEOUT:g} s ({UM_ACCOUNT})."
    assert TIMEOUT * 0.8 <= took < TIMEOUT + SLACK


async def test_the_deadline_covers_the_clock_sync_too(hostile):
    """Time endpoint and API both trickle: the call still ends within one timeout, not two."""
    hostile.route(TIME, trickle_all)
    hostile.route(UM_ACCOUNT, trickle_body)
    async with client_for(hostile) as client:
        err, took = await timed_error(client.um_account)
    assert type(err) is RequestTimeout and took < TIMEOUT + SLACK


async def test_the_pool_survives_many_deadlines(hostile):
    """More timed-out requests than the pool has connections: none is leaked, the next works."""
    hostile.route(UM_ACCOUNT, trickle_body)
    async with client_for(hostile) as client:
        await client.sync_time()
        for _ in range(6):
            err, _ = await timed_error(client.um_account)
            assert type(err) is RequestTimeout
        hostile.route(UM_ACCOUNT, good)
        account = await bounded(client.um_account)
    assert account.assets[0].asset == "USDT"


def test_check_answers_unknown_within_the_timeout(hostile, monkeypatch, capsys, tmp_path):
    for path in (TIME, UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK):
        hostile.route(path, trickle_all)
    config = tmp_path / "config.toml"
    config.write_text(f"timeout = {TIMEOUT}\n")
    os.chmod(config, 0o600)
    monkeypatch.setenv("PMTUI_CONFIG", str(config))
    monkeypatch.setenv("PMTUI_BASE_URL", hostile.base_url)
    monkeypatch.setenv("PMTUI_API_KEY", API_KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", API_SECRET)
    started = time.monotonic()
    code = main(["check"])
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 3
    assert out == f"PMTUI UNKNOWN - The exchange did not answer within {TIMEOUT:g} s ({UM_ACCOUNT}).\n"
    assert took < TIMEOUT + 2.0


async def test_dashboard_goes_stale_on_a_trickle_and_r_still_works(hostile):
    for path in (UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK):
        hostile.route(path, good)
    client = client_for(hostile, timeout=APP_TIMEOUT)
    app = PmtuiApp(settings=Settings(interval=60.0), client=client, title="T")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert app.monitor.poller.error is None
        hostile.route(UM_ACCOUNT, trickle_body)
        started = time.monotonic()
        await pilot.press("r")
        await wait_until(pilot, lambda: app.monitor.poller.error is not None, timeout=APP_TIMEOUT + 5)
        assert APP_TIMEOUT * 0.8 <= time.monotonic() - started < APP_TIMEOUT + SLACK + 1
        await pilot.pause()
        assert app.monitor.poller.stale and app.monitor.poller.error.kind == "timeout"
        assert "STALE" in str(app.query_one("#status").render())
        hostile.route(UM_ACCOUNT, good)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.monitor.poller.error is None and not app.monitor.fetching, timeout=5)
        assert not app.monitor.poller.stale


# --- absurd headers, lying lengths, bodies too large -----------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        head(200, length=2)[:-2] + b"X-Junk: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n{}",  # one huge header
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 300_000 + b"\r\n{}",  # a flood of headers
        head(200, length=5000) + b'{"assets": []}',  # says 5000 bytes, sends 14 and hangs up
        b"HTTP/1.1 999999999999 Nope\r\n\r\n",
        b"\x00\xff garbage \r\n\r\n",
    ],
    ids=["huge-header", "header-flood", "short-body", "absurd-status", "not-http"],
)
async def test_broken_http_is_a_network_error(hostile, raw):
    hostile.route(UM_ACCOUNT, lambda conn: conn.send(raw))
    async with client_for(hostile, timeout=5.0) as client:
        await client.sync_time()
        err, took = await timed_error(client.um_account)
    assert type(err) is NetworkError, repr(err)
    assert str(err).startswith("Could not reach 127.0.0.1: ") and str(err).endswith(".")
    assert took < 5.0  # refused, not waited out


def too_large(err: Exception) -> None:
    assert type(err) is MalformedResponse, repr(err)
    assert str(err).startswith(f"The exchange sent a response larger than {MAX_BODY >> 20} MiB")


async def test_a_declared_huge_body_is_refused_unread(hostile):
    def announce(conn: Conn) -> None:
        conn.send(head(200, length=MAX_BODY + 1) + b"[")
        conn.sleep(30)  # never sends the rest: waiting for it would end in a timeout instead

    hostile.route(UM_ACCOUNT, announce)
    async with client_for(hostile, timeout=5.0) as client:
        await client.sync_time()
        err, took = await timed_error(client.um_account)
    too_large(err)
    assert took < 3.0


async def test_an_endless_body_is_cut_at_the_cap(hostile):
    def endless(conn: Conn) -> None:  # no length: read until close; 64 MiB of it
        conn.send(head(200))
        block = b" " * 65536
        for _ in range(1024):
            if not conn.send(block):
                return

    hostile.route(UM_ACCOUNT, endless)
    async with client_for(hostile, timeout=10.0) as client:
        await client.sync_time()
        err, _ = await timed_error(client.um_account)
    too_large(err)


async def test_a_gzip_bomb_is_cut_at_the_cap(hostile):
    """Small on the wire (~100 KiB), 64 MiB inflated: the cap holds for what lands in memory."""
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    hostile.route(UM_ACCOUNT, lambda conn: conn.send(
        head(200, length=len(bomb), headers={"Content-Encoding": "gzip"}) + bomb))
    async with client_for(hostile, timeout=10.0) as client:
        await client.sync_time()
        err, _ = await timed_error(client.um_account)
    too_large(err)


async def test_a_normal_gzip_body_still_works(hostile):
    data = gzip.compress(json.dumps(um_account_body(now_ms())).encode())
    hostile.route(UM_ACCOUNT, lambda conn: conn.send(
        head(200, length=len(data), headers={"Content-Encoding": "gzip"}) + data))
    async with client_for(hostile) as client:
        account = await bounded(client.um_account)
    assert len(account.positions) == 3


# --- server-given waits ----------------------------------------------------------------------

NONSENSE = ["99999999", "1e308", "NaN", "inf", "-5", "Wed, 01 Jan 2099 00:00:00 GMT", "soon", "0x10"]


@pytest.mark.parametrize("value", NONSENSE)
async def test_a_nonsense_retry_after_on_429_is_ignored(hostile, value):
    hostile.route(UM_ACCOUNT, error(429, -1003, "Too many requests.", **{"Retry-After": value}))
    async with client_for(hostile) as client:
        await client.sync_time()
        err, _ = await timed_error(client.um_account)
        assert type(err) is RateLimited
        # Absent: pmtui's own first backoff (2 s, ±20 %), and the message says what is applied.
        assert 1.5 <= err.retry_after <= 2.5
        assert client.blocked_for() == pytest.approx(err.retry_after, abs=0.5)
        assert str(err) == f"Rate limited by the exchange: pausing requests for {int(err.retry_after)} s."


async def test_a_long_retry_after_on_429_is_capped_at_ten_minutes(hostile):
    hostile.route(UM_ACCOUNT, error(429, -1003, "Too many requests.", **{"Retry-After": "86400"}))
    async with client_for(hostile) as client:
        await client.sync_time()
        err, _ = await timed_error(client.um_account)
        assert type(err) is RateLimited and err.retry_after == MAX_RATE_WAIT
        assert client.blocked_for() <= MAX_RATE_WAIT
        assert "pausing requests for 10 min." in str(err)


@pytest.mark.parametrize(
    "retry_after, until_s, expected",
    [
        ("99999999", 10**9, 120.0),  # both nonsense: Binance's shortest ban, as if nothing was said
        ("200000", None, 200000.0),  # 2.3 days: a real (long) ban
        (None, 7200, 7200.0),  # the time in the message
        ("1e308", 300, 300.0),
    ],
)
async def test_a_418_ban_is_bounded(hostile, retry_after, until_s, expected):
    msg = "Way too many requests." if until_s is None else (
        f"Way too many requests; IP banned until {now_ms() + until_s * 1000}.")
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    hostile.route(UM_ACCOUNT, error(418, -1003, msg, **headers))
    async with client_for(hostile) as client:
        await client.sync_time()
        err, _ = await timed_error(client.um_account)
        assert type(err) is IPBanned and err.retry_after <= MAX_BAN
        assert err.retry_after == pytest.approx(expected, abs=3)
        assert client.blocked_for() == pytest.approx(expected, abs=3)


def test_the_poller_applies_the_wait_the_error_states():
    """"pausing requests for 7 s" on screen: the next try comes after 7 s, not after a backoff."""
    poller = Poller(fetch=None, interval=2.0)
    poller.error, poller.failures = RateLimited("x", retry_after=7.0), 6
    assert all(poller.delay() == 7.0 for _ in range(20))
    poller.error = IPBanned("x", retry_after=MAX_BAN)
    assert poller.delay() == MAX_BAN


# --- a time endpoint that answers nonsense ----------------------------------------------------


@pytest.mark.parametrize(
    "answer, date_offset_s",
    [(0, 0), (-5, 0), (10**20, 0), ("now+2h", 0), ("now", 86400)],
    ids=["zero", "negative", "1e20", "far-from-date", "date-far-from-it"],
)
async def test_nonsense_server_time_is_an_error_of_its_own(hostile, answer, date_offset_s):
    def time_route(conn: Conn) -> None:
        server = {"now": now_ms(), "now+2h": now_ms() + 7_200_000}.get(answer, answer)
        conn.reply(200, {"serverTime": server}, date=time.time() + date_offset_s)

    hostile.route(TIME, time_route)
    hostile.route(UM_ACCOUNT, good)
    async with client_for(hostile) as client:
        err, _ = await timed_error(client.sync_time)
        assert type(err) is BadServerTime, repr(err)
        assert str(err).startswith("The exchange's time endpoint answered a server time ")
        assert client.time_offset_ms is None  # nothing absurd was taken on
        err, _ = await timed_error(client.um_account)
        assert type(err) is BadServerTime
    assert UM_ACCOUNT not in hostile.paths()  # nothing was signed with a nonsense clock


async def test_a_sane_server_time_with_a_date_header_is_taken(hostile):
    hostile.route(TIME, lambda conn: conn.reply(200, {"serverTime": now_ms() + 5000},
                                                date=time.time() + 5))
    async with client_for(hostile) as client:
        offset = await bounded(client.sync_time)
    assert offset == pytest.approx(5000, abs=1000)


async def test_a_nonsense_date_header_is_ignored(hostile):
    hostile.route(TIME, lambda conn: conn.send(
        b"HTTP/1.1 200 OK\r\nDate: Mon, 99 Foo 99999 99:99:99 GMT\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}"))
    hostile.route(UM_ACCOUNT, good)
    async with client_for(hostile) as client:
        await bounded(client.um_account)  # the time answer is useless, the API still works
    assert client.time_offset_ms == 0


def test_formatdate_is_what_the_server_sends():  # the helper itself: a sanity check
    assert head(200, date=0).startswith(f"HTTP/1.1 200 OK\r\nDate: {formatdate(0, usegmt=True)}".encode())


# --- optional endpoints on the dashboard: only an access code is sticky -----------------------


def once(first, then):
    calls = []

    def route(conn: Conn) -> None:
        calls.append(1)
        (first if len(calls) == 1 else then)(conn)

    return route


async def test_a_transient_position_risk_failure_is_retried_not_sticky(hostile):
    for path in (UM_ACCOUNT, PM_ACCOUNT):
        hostile.route(path, good)
    hostile.route(POSITION_RISK, once(error(400, -1000, "An unknown error occurred."), good))
    client = client_for(hostile, timeout=APP_TIMEOUT)
    app = PmtuiApp(settings=Settings(interval=60.0), client=client, title="T")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert app.monitor.poller.error is not None and app.monitor.poller.error.kind == "server"
        assert app.monitor.risk_schedule.refusal is None  # not "the key may lack access"
        assert "may lack access" not in str(app.query_one("#status").render())
        await pilot.press("r")
        await wait_until(pilot, lambda: app.monitor.poller.polls == 2 and not app.monitor.fetching)
        assert app.monitor.poller.error is None and app.monitor.poller.data[1] is not None  # prices are back
    assert hostile.paths().count(POSITION_RISK) == 2


async def test_an_access_refusal_of_position_risk_is_sticky(hostile):
    for path in (UM_ACCOUNT, PM_ACCOUNT):
        hostile.route(path, good)
    hostile.route(POSITION_RISK, error(401, -2015, "Invalid API-key, IP, or permissions for action."))
    client = client_for(hostile, timeout=APP_TIMEOUT)
    app = PmtuiApp(settings=Settings(interval=60.0), client=client, title="T")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert app.monitor.poller.error is None and app.monitor.poller.data[1] is None
        assert app.monitor.risk_schedule.refusal == (f"the exchange refused {POSITION_RISK} (code -2015); "
                                  "the API key may lack access to it")
        app.monitor.poll_now()  # a timed refresh (not `r`, which retries refused endpoints)
        await wait_until(pilot, lambda: app.monitor.poller.polls == 2 and not app.monitor.fetching)
    assert hostile.paths().count(POSITION_RISK) == 1
