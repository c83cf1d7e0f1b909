"""The user data stream against real servers on 127.0.0.1: tests/support/papi_server.py for the listen
key, tests/support/ws_server.py for the socket. Every fault: the status goes down with one clear sentence
and the stream comes back by itself. Waits are bounded; backoff sleeps are injected."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.stream import (
    MAX_BAD_FRAMES,
    AccountChange,
    PushStatus,
    RiskLevelChange,
    UserStream,
)
from tests.support.papi_server import API_KEY, LISTEN_KEY, PapiServer
from tests.support.ws_server import WsServer

WAIT = 5.0  # the longest any condition may take to come true


def risk(when: int, mmr: str = "1.4", status: str = "MARGIN_CALL") -> str:
    return json.dumps({"e": "riskLevelChange", "E": when, "u": mmr, "s": status,
                       "eq": "30.23416728", "ae": "30.23416728", "m": "15.11708371"})


def account(when: int) -> str:
    return json.dumps({"e": "ACCOUNT_UPDATE", "fs": "UM", "E": when, "T": when - 1, "i": "",
                       "a": {"m": "ORDER", "B": [], "P": []}})


EXPIRED = json.dumps({"e": "listenKeyExpired", "E": 1736996475556})


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for `predicate` to hold (polled), at most `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class StreamClock:
    """A pmtui.clock.Clock for the stream: monotonic time as the test sets it, the backoff's
    sleeps through `sleep` (real ones if not given), its jitter fixed at `rnd`."""

    def __init__(self, mono, sleep=None, rnd: float = 0.5) -> None:
        self._mono, self._sleep, self._rnd = mono, sleep, rnd

    def monotonic(self) -> float:
        return self._mono()

    def time(self) -> float:
        return time.time()

    def perf_counter(self) -> float:
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        await (self._sleep or asyncio.sleep)(seconds)

    def random(self) -> float:
        return self._rnd


class Run:
    """A UserStream running against the local servers, with what it reported."""

    def __init__(self, papi: PapiServer, ws: WsServer, **options) -> None:
        self.papi = papi
        self.ws = ws
        self.events: list = []
        self.statuses: list[PushStatus] = []
        self.sleeps: list[float] = []
        self.client = PapiClient(api_key=API_KEY, signer=None, base_url=papi.base_url, timeout=2.0,
                                 budget=WeightBudget(1.0, limit=10**9))

        async def sleep(seconds: float) -> None:  # backoff: recorded, not waited
            self.sleeps.append(seconds)
            await asyncio.sleep(0)

        options["clock"] = StreamClock(options.pop("monotonic", time.monotonic), sleep)
        options.setdefault("ping_interval", 5.0)
        options.setdefault("ping_timeout", 5.0)
        self.stream = UserStream(self.client, ws.url, on_event=self.events.append,
                                 on_status=self.statuses.append, **options)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Run:
        self.task = asyncio.create_task(self.stream.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.client.aclose()

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(self.task, WAIT)

    def reasons(self) -> list[str]:
        return [s.reason for s in self.statuses if not s.up and s.reason]

    def down_with(self, text: str) -> bool:
        return text in self.reasons()


def key_path(papi: PapiServer) -> str:
    return f"/pm/ws/{papi.listen_key}"


# --- the happy path ------------------------------------------------------------------------------


async def test_events_reach_on_event_on_the_listen_keys_path(papi_server, ws_server):
    ws_server.script(("send", risk(100)), ("send", account(101)),
                     ("send", json.dumps({"e": "somethingNew", "E": 102})), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: len(run.events) == 2)
        assert run.events[0] == RiskLevelChange(100, Decimal("1.4"), "MARGIN_CALL", Decimal("30.23416728"),
                                                Decimal("30.23416728"), Decimal("15.11708371"))
        assert run.events[1] == AccountChange("ACCOUNT_UPDATE", 101)
        assert ws_server.paths == [key_path(papi_server)]
        assert run.stream.status.up and run.stream.status.events == 2
        assert run.stream.status.connections == 1
    post = [r for r in papi_server.requests if r.method == "POST"]
    assert len(post) == 1 and post[0].path == LISTEN_KEY
    # USER_STREAM security: the API key header, and no signature, no timestamp.
    assert post[0].headers["x-mbx-apikey"] == API_KEY and post[0].query == ""


async def test_cancel_closes_the_socket_and_never_deletes_the_shared_listen_key(papi_server, ws_server):
    """Binance hands every consumer of an account the same key (a trading bot's too): quitting
    pmtui must leave it alone; it expires by itself 60 minutes after the last keep-alive."""
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.stream.status.up)
        key = papi_server.listen_key
        await run.stop()
        await run.client.aclose()
        assert [r.method for r in papi_server.requests] == ["POST"]
        assert papi_server.listen_key == key is not None
        await until(lambda: ws_server.closed_by_client == 1)
        assert not run.stream.status.up
        assert run.statuses[-1].reason == "the user data stream is stopped"


async def test_cancel_is_bounded_when_the_server_never_answers_the_close(papi_server, ws_server):
    ws_server.script(("deaf",))
    async with Run(papi_server, ws_server, close_timeout=0.3) as run:
        await until(lambda: run.stream.status.up)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await run.stop()  # a close handshake nobody answers: bounded by close_timeout
        assert loop.time() - started < 1.5
        assert run.statuses[-1].reason == "the user data stream is stopped"


# --- faults: one sentence, then back by itself ----------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
async def test_refused_handshake(papi_server, ws_server, status):
    ws_server.script(("refuse", status))
    ws_server.script(("send", risk(1)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.events)
        assert run.down_with(f"the exchange refused the stream (HTTP {status})")
        assert len(ws_server.paths) == 2 and ws_server.accepted == 1
        assert run.stream.status.up


async def test_close_mid_message(papi_server, ws_server):
    ws_server.script(("drop_mid_message",))
    ws_server.script(("send", account(5)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.events)
        assert run.down_with("the connection to the stream broke; reconnecting")
        assert run.events == [AccountChange("ACCOUNT_UPDATE", 5)]
        assert ws_server.accepted == 2


async def test_the_24_hour_close_just_reconnects(papi_server, ws_server):
    ws_server.script(("send", account(1)), ("close", 1001))
    ws_server.script(("send", account(2)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: len(run.events) == 2)
        assert run.down_with("the exchange closed the stream (code 1001); reconnecting")
        assert ws_server.accepted == 2


async def test_ping_timeout(papi_server, ws_server):
    ws_server.script(("deaf",))
    ws_server.script(("send", risk(7)), ("hold",))
    async with Run(papi_server, ws_server, ping_interval=0.05, ping_timeout=0.2, close_timeout=0.2) as run:
        await until(lambda: run.events)
        assert run.down_with("no pong from the exchange within 0.2 s of a ping; reconnecting")
        assert ws_server.accepted == 2


async def test_network_error_when_nothing_listens(papi_server):
    """Port of a stopped server: connection refused, a sentence, and retries with backoff."""

    class Gone:
        url = "ws://127.0.0.1:9/pm/ws"  # discard port: nothing listens on loopback

    async with Run(papi_server, Gone()) as run:  # type: ignore[arg-type]
        await until(lambda: len(run.sleeps) >= 3)
        assert run.down_with("could not connect to the stream server (network down, DNS, or firewall)")
        assert not run.stream.status.up


async def test_one_bad_frame_is_counted_not_fatal_and_a_run_of_them_reconnects(papi_server, ws_server):
    garbage = ["not json", "[1, 2]", '{"E": 1}', '{"e": "riskLevelChange", "E": true}', b"\xff\xfe",
               '{"e": "riskLevelChange", "E": 3, "u": "lots"}']
    assert len(garbage) > MAX_BAD_FRAMES
    ws_server.script(("send", "not json"), ("send", risk(1)),
                     *[("send", g) for g in garbage], ("hold",))
    ws_server.script(("send", risk(2)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: len(run.events) == 2)
        assert run.events[0].event_time == 1  # the connection lived through the first bad frame
        ups = [s for s in run.statuses if s.up and s.reason]
        assert ups[0].reason == "ignored a frame pmtui could not read: the stream sent a frame that is not valid JSON"
        assert run.down_with(f"the exchange sent {MAX_BAD_FRAMES} frames in a row pmtui could not read; reconnecting")
        assert run.stream.status.bad_frames == 1 + MAX_BAD_FRAMES
        assert ws_server.accepted == 2
        assert run.stream.status.up and run.stream.status.reason is None


async def test_huge_frame_is_refused_by_the_socket(papi_server, ws_server):
    ws_server.script(("send", '{"e":"ACCOUNT_UPDATE","E":1,"x":"' + "x" * (1024 * 1024) + '"}'))
    ws_server.script(("send", account(2)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.events)
        assert run.down_with("the exchange sent a frame larger than 1024 KiB; reconnecting")
        assert run.events == [AccountChange("ACCOUNT_UPDATE", 2)]


async def test_listen_key_expired_event_gets_a_new_key(papi_server, ws_server):
    ws_server.script(("call", papi_server.expire_listen_key), ("send", EXPIRED))
    ws_server.script(("send", account(9)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.events)
        assert run.down_with("the listen key expired; getting a new one")
        assert run.events == [AccountChange("ACCOUNT_UPDATE", 9)]  # the expiry itself is not passed on
        first, second = ws_server.paths
        assert second == key_path(papi_server) and first != second
        assert papi_server.listen_keys_made == 2


async def test_keepalive_puts_and_minus_1125_gets_a_new_key(papi_server, ws_server):
    papi_server.inject("error", path=LISTEN_KEY, method="PUT", status=400,
                       body={"code": -1125, "msg": "This listenKey does not exist."})
    async with Run(papi_server, ws_server, keepalive_s=0.05) as run:
        await until(lambda: ws_server.accepted == 2)
        assert run.down_with("the listen key expired; getting a new one")
        await until(lambda: sum(r.method == "PUT" for r in papi_server.requests) >= 2)
        puts = [r for r in papi_server.requests if r.method == "PUT"]
        assert all(r.query == "" and r.headers["x-mbx-apikey"] == API_KEY for r in puts)
        assert sum(r.method == "POST" for r in papi_server.requests) == 2
        assert run.stream.status.up


async def test_a_refused_api_key_waits_the_longest_backoff(papi_server, ws_server):
    papi_server.revoke()
    async with Run(papi_server, ws_server, max_backoff=42.0) as run:
        await until(lambda: run.sleeps)
        reason = run.reasons()[-1]
        assert reason.startswith("the exchange refused the API key (-2015)")
        assert run.sleeps[0] == 42.0
        papi_server.restore()
        await until(lambda: run.stream.status.up)


async def test_rate_limited_listen_key_waits_retry_after(papi_server, ws_server):
    papi_server.inject("429", path=LISTEN_KEY, method="POST", retry_after=7)
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.sleeps)
        assert run.sleeps[0] >= 7
        assert run.reasons()[-1].startswith("rate limited by the exchange: pausing requests for")


# --- order, and what never shows ----------------------------------------------------------------


async def test_risk_level_changes_are_ordered_by_event_time(papi_server, ws_server):
    ws_server.script(("send", risk(200, "1.3")), ("send", risk(100, "1.9")), ("send", account(50)),
                     ("send", risk(200, "1.31")), ("send", risk(300, "1.1", "REDUCE_ONLY")), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: len(run.events) == 4)
        risks = [e for e in run.events if isinstance(e, RiskLevelChange)]
        assert [(e.event_time, e.uniMMR) for e in risks] == [
            (200, Decimal("1.3")), (200, Decimal("1.31")), (300, Decimal("1.1"))]
        # Account changes are prompts to poll, not state: never dropped for their time.
        assert AccountChange("ACCOUNT_UPDATE", 50) in run.events


async def test_the_listen_key_is_never_logged_nor_shown(papi_server, ws_server, caplog):
    caplog.set_level(logging.DEBUG)
    ws_server.script(("refuse", 403))
    frame = json.dumps({"e": "listenKeyExpired", "E": "1736996475556",
                        "listenKey": "pmtuiTestListenKey0001".ljust(64, "Q")})
    ws_server.script(("send", "garbage"), ("call", papi_server.expire_listen_key), ("send", frame))
    ws_server.script(("send", account(1)), ("hold",))
    async with Run(papi_server, ws_server) as run:
        await until(lambda: run.events)
        keys = {papi_server.listen_key, "pmtuiTestListenKey0001".ljust(64, "Q")}
        await run.stop()
    assert papi_server.listen_keys_made == 2
    shown = [repr(s) for s in run.statuses] + [repr(run.stream), repr(run.client)] + [repr(e) for e in run.events]
    # Everything pmtui and its libraries logged (the test server's own log is not pmtui's).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))
    text = logged + "\n".join(shown)
    assert "/pm/ws/<redacted>" in logged  # the socket's request line was logged, redacted
    for key in keys:
        assert key not in text
        assert key[:40] not in text


async def test_callbacks_that_raise_do_not_stop_the_stream(papi_server, ws_server):
    ws_server.script(("send", account(1)), ("send", account(2)), ("hold",))
    seen = []

    def broken(event):
        seen.append(event)
        raise RuntimeError("a UI bug")

    async with Run(papi_server, ws_server) as run:
        run.stream._on_event = broken
        run.stream._on_status = lambda s: 1 / 0
        await until(lambda: len(seen) == 2)
        assert run.stream.status.up


async def test_an_unexpected_error_becomes_a_reason_and_a_reconnect(papi_server, ws_server):
    calls = []

    def connect(url, **options):
        calls.append(url)
        if len(calls) == 1:
            raise RuntimeError("library bug")
        import websockets.asyncio.client

        return websockets.asyncio.client.connect(url, **options)

    ws_server.script(("send", account(3)), ("hold",))
    async with Run(papi_server, ws_server, connect=connect) as run:
        await until(lambda: run.events)
        assert run.down_with("could not connect to the stream (RuntimeError)")
        assert len(calls) == 2


# --- backoff, with fakes (no sockets) -----------------------------------------------------------


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def create_listen_key(self) -> str:
        self.calls.append("POST")
        return "fakeListenKey" + "0" * 51

    async def keepalive_listen_key(self) -> None:
        self.calls.append("PUT")


async def test_backoff_grows_capped_and_resets_after_a_healthy_connection():
    clock = [1000.0]
    sleeps: list[float] = []
    healthy_at = {5}  # the 6th connection lives long enough to count as healthy

    class Socket:
        def __init__(self, n: int) -> None:
            self.n = n

        async def __aenter__(self):
            if self.n not in healthy_at:
                raise OSError("refused")
            return self

        async def __aexit__(self, *exc):
            return None

        async def recv(self):
            clock[0] += 120.0  # two minutes of a good connection, then the exchange closes it
            from websockets.exceptions import ConnectionClosedOK
            from websockets.frames import Close

            raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)

        async def close(self):
            return None

    made = []

    def connect(url, **options):
        made.append(url)
        return Socket(len(made) - 1)

    async def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= 10:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    statuses = []
    stream = UserStream(FakeClient(), "wss://example.invalid/pm/ws", on_event=print, on_status=statuses.append,
                        connect=connect, clock=StreamClock(lambda: clock[0], sleep, rnd=1.0),
                        max_backoff=8.0)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(stream.run(), WAIT)
    # 1, 2, 4, 8 (cap), 8; the healthy 6th connection ends: again at once (no sleep), then
    # the backoff starts over at 1.
    assert list(stream.backoffs)[:11] == [1.0, 2.0, 4.0, 8.0, 8.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert 0.0 not in sleeps
    assert made[0] == "wss://example.invalid/pm/ws/fakeListenKey" + "0" * 51
    assert "DELETE" not in stream.client.calls


async def test_jitter_stays_within_half_to_full_backoff():
    sleeps: list[float] = []

    def connect(url, **options):
        raise OSError("down")

    async def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= 4:
            raise asyncio.CancelledError

    stream = UserStream(FakeClient(), "wss://example.invalid/pm/ws", on_event=print, on_status=lambda s: None,
                        connect=connect, clock=StreamClock(time.monotonic, sleep, rnd=0.0))
    with pytest.raises(asyncio.CancelledError):
        await stream.run()
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


# --- the client's listen-key requests ------------------------------------------------------------


async def test_listen_key_requests_are_weight_one_and_unsigned(papi_server):
    async with PapiClient(api_key=API_KEY, signer=None, base_url=papi_server.base_url,
                          budget=WeightBudget(1.0, limit=10**9)) as client:
        key = await client.create_listen_key()
        assert key == papi_server.listen_key
        await client.keepalive_listen_key()
        assert not hasattr(client, "close_listen_key")  # never DELETE: the key is shared
        papi_server.expire_listen_key()
        assert client.budget.sent == 2
        assert client.used_weight == 2
        from pmtui.errors import ListenKeyInvalid

        with pytest.raises(ListenKeyInvalid) as caught:
            await client.keepalive_listen_key()  # no active key any more: -1125
        assert str(caught.value) == ("The exchange no longer knows the user data stream's listen key (-1125); "
                                     "pmtui gets a new one.")
        assert caught.value.retryable
    assert [(r.method, r.path, r.query) for r in papi_server.requests] == [
        ("POST", LISTEN_KEY, ""), ("PUT", LISTEN_KEY, ""), ("PUT", LISTEN_KEY, "")]
    assert all(r.headers["x-mbx-apikey"] == API_KEY for r in papi_server.requests)


@pytest.mark.parametrize("body", [{"listenKey": "../../papi/v1/order?x=1"}, {"listenKey": ""}, {}, [],
                                  {"listenKey": 12345678901234567890}])
async def test_an_unusable_listen_key_is_refused_unquoted(papi_server, body):
    papi_server.inject("error", path=LISTEN_KEY, method="POST", status=200, body=body)
    from pmtui.errors import MalformedResponse

    async with PapiClient(api_key=API_KEY, signer=None, base_url=papi_server.base_url) as client:
        with pytest.raises(MalformedResponse) as caught:
            await client.create_listen_key()
    assert str(caught.value) == "The exchange's answer to a listen-key request held no usable listen key."


@pytest.mark.parametrize("method,path", [
    ("POST", "/papi/v1/account"), ("PUT", "/papi/v2/um/account"), ("DELETE", "/papi/v1/um/order"),
    ("DELETE", LISTEN_KEY),
    ("POST", "/papi/v1/um/order"), ("PATCH", LISTEN_KEY), ("GET", LISTEN_KEY), ("post", LISTEN_KEY),
    ("POST", LISTEN_KEY + "/"), ("POST", "/papi/v1/listenKey?x=1"),
])
async def test_the_allowlist_is_exact(papi_server, method, path):
    async with PapiClient(api_key=API_KEY, signer=None, base_url=papi_server.base_url) as client:
        with pytest.raises(ValueError):
            await client._send(client.base_url, path, "", method=method, keyed=True)
    assert papi_server.requests == []


async def test_no_api_key_no_listen_key(papi_server):
    from pmtui.errors import AuthError

    async with PapiClient(api_key=None, signer=None, base_url=papi_server.base_url) as client:
        with pytest.raises(AuthError):
            await client.create_listen_key()
    assert papi_server.requests == []


# --- the demo streams too ------------------------------------------------------------------------


async def test_demo_stream_pushes_a_risk_level_change_in_the_margin_call_scenario():
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
    from pmtui.settings import DEFAULT_STREAM_URL
    from pmtui.signing import HmacSigner

    exchange = DemoExchange(scenario="margin-call", seed=7, symbols=40, clock=lambda: 1_750_000_000.0)
    events: list = []
    statuses: list = []
    async with PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                          clock=ManualClock(1_750_000_000.0), budget=WeightBudget(1.0, limit=10**9)) as client:
        stream = UserStream(client, DEFAULT_STREAM_URL, on_event=events.append, on_status=statuses.append,
                            connect=exchange.connect)
        task = asyncio.create_task(stream.run())
        await until(lambda: stream.status.up)
        for _ in range(200):  # one poll round per step, as the poller would
            await client.um_account()
            await asyncio.sleep(0)  # the stream's reader runs between polls
            if any(isinstance(e, RiskLevelChange) for e in events):
                break
        risks = [e for e in events if isinstance(e, RiskLevelChange)]
        assert risks and risks[0].status == "MARGIN_CALL"
        assert Decimal("1.2") < risks[0].uniMMR <= Decimal("1.5")
        assert risks[0].maint_margin > 0 and risks[0].equity == risks[0].actual_equity
        assert any(isinstance(e, AccountChange) and e.kind == "ACCOUNT_UPDATE" for e in events)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert exchange._listen_key is not None  # never DELETEd: shared with the account's other consumers
    assert not stream.status.up


async def test_demo_stream_is_deterministic_for_a_seed():
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
    from pmtui.signing import HmacSigner

    async def run_once() -> list:
        exchange = DemoExchange(scenario="margin-call", seed=11, symbols=30, clock=lambda: 1_750_000_000.0)
        events: list = []
        async with PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                              clock=ManualClock(1_750_000_000.0), budget=WeightBudget(1.0, limit=10**9)) as client:
            stream = UserStream(client, "wss://fstream.binance.com/pm/ws", on_event=events.append,
                                on_status=lambda s: None, connect=exchange.connect)
            task = asyncio.create_task(stream.run())
            await until(lambda: stream.status.up)
            for _ in range(140):  # a whole margin-call cycle: down through the bands and back
                await client.um_account()
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return events

    first, second = await run_once(), await run_once()
    assert first == second
    bands = [e.status for e in first if isinstance(e, RiskLevelChange)]
    assert bands[:3] == ["MARGIN_CALL", "REDUCE_ONLY", "ACTIVE_LIQUIDATION"]
    assert bands[-1] == "NORMAL"


async def test_demo_listen_key_checks_the_api_key_and_the_socket_checks_the_key():
    import httpx
    from websockets.exceptions import InvalidStatus

    from pmtui.demo import DEMO_API_KEY, DemoExchange

    exchange = DemoExchange(seed=1, symbols=10)
    async with httpx.AsyncClient(transport=exchange, base_url="https://papi.binance.com") as http:
        refused = await http.post("/papi/v1/listenKey", headers={"X-MBX-APIKEY": "wrong"})
        assert refused.status_code == 401 and refused.json()["code"] == -2015
        made = await http.post("/papi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY})
        key = made.json()["listenKey"]
        assert key.isalnum() and len(key) == 60
        again = await http.post("/papi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY})
        assert again.json()["listenKey"] == key  # the active key, as Binance answers
        with pytest.raises(InvalidStatus):
            async with exchange.connect("wss://fstream.binance.com/pm/ws/notTheKey"):
                pass
        async with exchange.connect(f"wss://fstream.binance.com/pm/ws/{key}") as ws:
            assert (await http.delete("/papi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY})).json() == {}
            from websockets.exceptions import ConnectionClosedOK

            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
        gone = await http.put("/papi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY})
        assert gone.status_code == 400 and gone.json()["code"] == -1125


async def test_a_failed_keepalive_is_retried_without_dropping_the_connection(papi_server, ws_server):
    papi_server.inject("500", path=LISTEN_KEY, method="PUT")
    async with Run(papi_server, ws_server, keepalive_s=0.05) as run:
        await until(lambda: sum(r.method == "PUT" for r in papi_server.requests) >= 3)
        assert ws_server.accepted == 1 and run.stream.status.up
        assert run.reasons() == ["connecting to the exchange's user data stream"]


async def test_since_moves_only_when_up_changes(papi_server, ws_server):
    clock = [100.0]
    ws_server.script(("send", "garbage"), ("send", account(1)), ("close", 1000))
    ws_server.script(("hold",))
    async with Run(papi_server, ws_server, monotonic=lambda: clock[0]) as run:
        await until(lambda: ws_server.accepted == 2 and run.stream.status.up)
        ups = [s for s in run.statuses if s.up]
        assert ups[0].reason is None and ups[1].reason is not None and ups[2].reason is None
        assert {s.since for s in ups[:3]} == {100.0}
        assert run.stream.status.connections == 2 and run.stream.status.bad_frames == 1


async def test_another_program_deleting_the_key_only_costs_a_reconnect():
    """pmtui on two machines shares the account's one active key: DELETE by one (its exit)
    ends the other's connection, which comes back by itself on a new key."""
    import httpx

    from pmtui.demo import DEMO_API_KEY, DemoExchange

    exchange = DemoExchange(seed=3, symbols=10)
    statuses: list[PushStatus] = []
    async with PapiClient(api_key=DEMO_API_KEY, signer=None, transport=exchange,
                          budget=WeightBudget(1.0, limit=10**9)) as client:
        async def no_wait(seconds):
            await asyncio.sleep(0)

        stream = UserStream(client, "wss://fstream.binance.com/pm/ws", on_event=lambda e: None,
                            on_status=statuses.append, connect=exchange.connect,
                            clock=StreamClock(time.monotonic, no_wait))
        task = asyncio.create_task(stream.run())
        await until(lambda: stream.status.up)
        async with httpx.AsyncClient(transport=exchange, base_url="https://papi.binance.com") as other:
            await other.delete("/papi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY})
        await until(lambda: stream.status.connections == 2 and stream.status.up)
        assert "the exchange closed the stream (code 1000); reconnecting" in [s.reason for s in statuses]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
