"""Push on the dashboard: the user data stream from a local WebSocket server (127.0.0.1) through
the Monitor to the screen, with polling slowed to 30 s / 60 s so only the push can explain what
shows. And the demo, which streams from memory.

The REST side is the local PAPI server; the stream side tests/support/ws_server.py, whose script waits
for the test to say when to send. Waits are bounded conditions, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal

from pmtui.alerts import CLEARED
from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.stream import UserStream
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.summary import SummaryBar
from tests.support.harness import frozen_clock, make_app, rendered, screen_text, settled, wait_until  # noqa: F401
from tests.support.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, UM_ACCOUNT

SIZE = (100, 30)


def risk_frame(when: int, mmr: str, status: str) -> str:
    return json.dumps({"e": "riskLevelChange", "E": when, "u": mmr, "s": status,
                       "eq": "30.23416728", "ae": "30.23416728", "m": "15.11708371"})


def pushing_app(papi, ws, **settings) -> PmtuiApp:
    client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi.base_url,
                        budget=WeightBudget(1.0, limit=10**9))
    monitor = Monitor(settings=Settings(**settings), client=client)
    monitor.attach_stream(UserStream(client, ws.url, on_event=monitor.on_push_event,
                                     on_status=monitor.on_push_status, ping_interval=5, ping_timeout=5))
    return PmtuiApp(settings=monitor.settings, monitor=monitor, title="PUSH")


async def test_a_risk_level_change_is_on_screen_and_alerted_without_a_poll(papi_server, ws_server):
    go = asyncio.Event()
    # Dated 30 s ahead (within the stream's 60 s tolerance): newer than any REST figure of this
    # test by construction, so a clock sync or poll that a loaded machine delays past `go` can
    # never make the Monitor rightly prefer REST, which is not what this test is about.
    ws_server.script(("wait", go), ("send", lambda: risk_frame(papi_server.now_ms() + 30_000, "1.10", "REDUCE_ONLY")),
                     ("hold",))
    app = pushing_app(papi_server, ws_server, interval=30, account_interval=60)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "push ✓" in rendered(app.query_one(StatusBar)), what="push up")
        assert "✓ OK" in rendered(app.query_one(SummaryBar))  # the REST uniMMR is healthy
        polls = papi_server.count(UM_ACCOUNT), papi_server.count(PM_ACCOUNT)
        go.set()
        await wait_until(pilot, lambda: "uniMMR 1.1000" in rendered(app.query_one(SummaryBar)),
                         what="the pushed uniMMR on screen")
        # No poll brought it: the REST endpoints would still say the healthy figure, and the
        # slowed cadences (30 s / 60 s) were nowhere near due.
        assert papi_server.count(PM_ACCOUNT) == polls[1]
        header = rendered(app.query_one(SummaryBar))
        assert "DANGER" in header or "CRITICAL" in header, header
        await wait_until(pilot, lambda: any("uniMMR" in n.message for n in app._notifications),
                         what="the alert toast")
        assert any(rule == "unimmr_below" for rule, _, _ in app.monitor.alerts.active())
        # The push asks REST to confirm soon (debounced): the positions refresh follows.
        await wait_until(pilot, lambda: papi_server.count(UM_ACCOUNT) > polls[0], what="a confirming refresh")
        assert "Traceback" not in screen_text(app)


async def test_push_down_says_why_and_polling_carries_on(papi_server, ws_server):
    ws_server.script(("refuse", 403))
    ws_server.script(("refuse", 403))
    app = pushing_app(papi_server, ws_server, interval=1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "push down · polling" in rendered(app.query_one(StatusBar))
                         and "HTTP 403" in rendered(app.query_one(StatusBar)), what="push down with a reason")
        before = app.monitor.poller.polls
        await wait_until(pilot, lambda: app.monitor.poller.polls >= before + 2, timeout=10, what="polls go on")
        bar = rendered(app.query_one(StatusBar))
        assert "LIVE" in bar and papi_server.listen_key not in bar
        # It reconnects by itself once the server lets it.
        await wait_until(pilot, lambda: "push ✓" in rendered(app.query_one(StatusBar)), timeout=20,
                         what="push back up")


async def test_the_demo_streams_and_a_margin_call_is_pushed():
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange

    # Step 50 of the cycle: uniMMR still NORMAL, crossing into MARGIN_CALL at step 54 (from step 0
    # it took 54 market steps of polling to get there).
    exchange = DemoExchange(seed=7, scenario="margin-call", step=50)
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                        budget=WeightBudget(1.0, limit=10**9))
    monitor = Monitor(settings=Settings(interval=1), client=client)
    events: list = []
    on_event = monitor.on_push_event

    def seen(event) -> None:
        events.append(event)
        on_event(event)

    monitor.attach_stream(UserStream(client, "wss://fstream.binance.com/pm/ws", on_event=seen,
                                     on_status=monitor.on_push_status, connect=exchange.connect))
    app = PmtuiApp(settings=monitor.settings, monitor=monitor, title="DEMO")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "push ✓" in rendered(app.query_one(StatusBar)), what="demo push up")
        monitor.poller.min_interval = 0.01
        monitor.set_interval(0.02)  # the demo's market moves a step per request: hurry it along
        await wait_until(pilot, lambda: any(hasattr(e, "uniMMR") for e in events), timeout=30,
                         what="a pushed riskLevelChange")
        pushed = next(e for e in events if hasattr(e, "uniMMR"))
        assert pushed.status in ("MARGIN_CALL", "REDUCE_ONLY", "NORMAL", "ACTIVE_LIQUIDATION")
        assert monitor.push.up and monitor.stream.status.events >= 1


def _monitor_for(**settings):
    from pmtui.fleet import FleetOptions, make_monitor

    options = FleetOptions(demo=settings.pop("demo", False))
    s = Settings(api_key=API_KEY, api_secret=API_SECRET, **settings)
    return make_monitor(s, options, profile="test", stream=True)


async def test_which_settings_stream():
    """`stream = false` is GET-only; the demo streams from memory; a base_url of one's own streams
    only from a stream_url of one's own (never a listen key from elsewhere to Binance)."""
    cases = [
        (dict(), True),  # Binance's REST and stream
        (dict(stream=False), False),
        (dict(demo=True), True),
        (dict(demo=True, stream=False), False),
        (dict(base_url="http://127.0.0.1:9"), False),
        (dict(base_url="http://127.0.0.1:9", stream_url="ws://127.0.0.1:9/pm/ws"), True),
    ]
    for settings, streams in cases:
        monitor = _monitor_for(**dict(settings))
        try:
            assert (monitor.stream is not None) == streams, settings
            assert (monitor.state.status.push is not None) == streams, settings
        finally:
            await monitor.aclose()


# --- a hostile stream: stale, future-dated, chatty and flooding ----------------------------------


class Pushing:
    """A Monitor (no screen) polling the local PAPI server and streaming from the local WebSocket
    server, with every state it publishes and every stream status it reported."""

    def __init__(self, papi, ws, **settings) -> None:
        self.client = PapiClient(api_key=API_KEY, signer=HmacSigner(API_SECRET), base_url=papi.base_url,
                                 budget=WeightBudget(1.0, limit=10**9))
        settings.setdefault("interval", 60)  # polls far apart: only the push explains what happens
        settings.setdefault("account_interval", 120)
        self.monitor = Monitor(settings=Settings(**settings), client=self.client)
        self.states: list = []
        self.statuses: list = []
        self.monitor.subscribe(self.states.append)
        self.sent: list = []  # every alert event the notifier (the alert command) was given
        self.monitor.notifier.send = self.sent.extend  # type: ignore[method-assign]

        def on_status(status) -> None:
            self.statuses.append(status)
            self.monitor.on_push_status(status)

        self.stream = UserStream(self.client, ws.url, on_event=self.monitor.on_push_event, on_status=on_status,
                                 ping_interval=5, ping_timeout=5)
        self.monitor.attach_stream(self.stream)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Pushing:
        self.task = asyncio.ensure_future(self.monitor.run())
        await until(lambda: self.stream.status.up and self.monitor.account_poller.data is not None
                    and not self.monitor.fetching, "push up and the first refresh done")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.monitor.aclose()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def shown(self) -> set:
        return {s.pm.uniMMR for s in self.states if s.pm is not None}


async def until(condition, what, timeout: float = 10.0) -> None:
    """Wait (bounded) for `condition` to hold."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def margin_call_body(now_ms: int) -> dict:
    from tests.support.papi_server import pm_account_body

    return {**pm_account_body(now_ms), "uniMMR": "1.30000000", "accountEquity": "19.65220873",
            "actualEquity": "19.65220873", "accountMaintMargin": "15.11708364", "accountStatus": "MARGIN_CALL"}


async def test_a_stale_push_never_clears_a_live_margin_call_only_rest_does(papi_server, ws_server):
    """Issue 20: a riskLevelChange ten minutes old cleared a live margin-call alert while REST
    still said MARGIN_CALL. Events older than the state they would replace are ignored, and a
    push may raise a level but never lower one: only REST does."""
    papi_server.set_body(PM_ACCOUNT, margin_call_body(papi_server.now_ms()))
    go = asyncio.Event()
    ago = 10 * 60 * 1000
    ws_server.script(
        ("wait", go),
        ("send", lambda: risk_frame(papi_server.now_ms() - ago, "5.2", "NORMAL")),  # ten minutes old
        ("send", lambda: risk_frame(papi_server.now_ms(), "5.2", "NORMAL")),  # current, but all clear
        ("send", lambda: risk_frame(papi_server.now_ms() + 1, "1.10", "REDUCE_ONLY")),  # current, worse
        ("hold",),
    )
    async with Pushing(papi_server, ws_server) as run:
        monitor = run.monitor
        assert monitor.state.pm.accountStatus == "MARGIN_CALL"
        active = {rule for rule, _, _ in monitor.alerts.active()}
        assert active >= {"unimmr_below", "status_not_normal"}
        go.set()
        # The third event (worse) is applied at once; the two before it were read first.
        await until(lambda: monitor.state.pm.uniMMR == Decimal("1.10"), "the worse push applied")
        assert Decimal("5.2") not in run.shown()
        assert not any(e.state == CLEARED for e in run.sent)  # the alert command heard no "cleared"
        assert {rule for rule, _, _ in monitor.alerts.active()} >= active
        # REST says all clear: now, and only now, the alert clears.
        papi_server.set_body(PM_ACCOUNT, None)
        monitor.account_poller.min_interval = 0.01
        monitor.account_schedule.tried = None  # the spacing (5 s) waived: REST may answer at once
        monitor.account_schedule.due_at = 0.0
        monitor.poll_now()
        await until(lambda: monitor.state.pm.accountStatus == "NORMAL", "REST's all clear")
        await until(lambda: not monitor.alerts.active(), "the alerts cleared by REST")
        assert {e.rule for e in run.sent if e.state == CLEARED} >= active


async def test_a_push_dated_ten_years_ahead_is_ignored_and_silences_nothing(papi_server, ws_server):
    """Issue 20: one riskLevelChange dated ten years ahead silenced every later push for the
    process's life. It is bad input: one sentence, ignored, and never the latest time seen."""
    go = asyncio.Event()
    decade = 10 * 365 * 86_400_000 + 3_600_000  # (and an hour: the sentence says 3,650 days)
    ws_server.script(
        ("wait", go),
        ("send", lambda: risk_frame(papi_server.now_ms() + decade, "1.25", "MARGIN_CALL")),
        ("send", lambda: risk_frame(papi_server.now_ms(), "1.10", "REDUCE_ONLY")),
        ("hold",),
    )
    async with Pushing(papi_server, ws_server) as run:
        go.set()
        await until(lambda: run.monitor.state.pm.uniMMR == Decimal("1.10"), "the current push applied")
        assert Decimal("1.25") not in run.shown()
        reasons = [s.reason for s in run.statuses if s.reason]
        assert "ignored a riskLevelChange event dated 3,650 days after the exchange's clock" in reasons
        assert run.stream.status.up and run.stream.status.bad_frames == 1
        assert "push" in run.monitor.state.changed or run.monitor.state.status.push.up


async def test_quitting_never_deletes_the_shared_listen_key(papi_server, ws_server):
    """Issue 20: Binance hands every consumer of an account the same listen key; a DELETE on quit
    cut the person's trading bot off its stream."""
    async with Pushing(papi_server, ws_server):
        key = papi_server.listen_key
    assert [r.method for r in papi_server.requests if r.path == "/papi/v1/listenKey"] == ["POST"]
    assert papi_server.listen_key == key is not None


def order_frame(when: int) -> str:
    return json.dumps({"e": "ORDER_TRADE_UPDATE", "E": when, "T": when, "fs": "UM",
                       "o": {"s": "BTCUSDT", "c": "bot", "S": "BUY", "o": "LIMIT", "X": "NEW"}})


async def test_a_chatty_account_costs_one_rest_refresh_per_interval(papi_server, ws_server):
    """Issue 20: at 5 order events/s one account refreshed far more often than its interval (and
    starved the others of the IP's weight). Pushed events coalesce: at most one REST follow-up
    per account per interval, however many events arrive."""
    go = asyncio.Event()
    burst = [a for _ in range(15) for a in (("send", lambda: order_frame(papi_server.now_ms())), ("sleep", 0.2))]
    ws_server.script(("wait", go), *burst, ("hold",))
    async with Pushing(papi_server, ws_server, interval=60) as run:
        monitor = run.monitor
        before = papi_server.count(UM_ACCOUNT)
        go.set()  # 15 events over 3 s
        await until(lambda: run.stream.status.events == 15 and papi_server.count(UM_ACCOUNT) > before
                    and not monitor.fetching, "all the events and a follow-up", timeout=20)
        assert papi_server.count(UM_ACCOUNT) == before + 1
        # The events after that follow-up wait for the next interval: one follow-up, pending.
        loop = asyncio.get_running_loop()
        assert monitor._push_handle is not None and monitor._push_handle.when() - loop.time() > 50


async def test_a_flood_of_risk_events_keeps_the_queues_bounded(papi_server, ws_server):
    """Issue 20: 50,000 risk events took `watch` from 50 to 523 MB: every published state queued.
    Queues are bounded: one waiting state per account, the newest, carrying the older alerts.
    (The dashboard's queue merges a burst the same way: tests/tui/test_bridge.py.)

    5,000 events prove it (the bound is one state, however many arrive) in a tenth of the time;
    the issue's size: PMTUI_FLOOD_EVENTS=50000 .venv/bin/pytest tests/tui/test_push.py -k flood"""
    from pmtui.mailbox import Mailbox

    go = asyncio.Event()
    n = int(os.environ.get("PMTUI_FLOOD_EVENTS") or 5_000)
    base: list[int] = []

    def frame(i: int) -> str:
        if not base:
            base.append(papi_server.now_ms())
        # One band (each is news, none lowers the level); built by hand: the server's time is the test's.
        return (f'{{"e":"riskLevelChange","E":{base[0] + i},"u":"1.{400000 - i:06d}","s":"MARGIN_CALL",'
                '"eq":"30.23416728","ae":"30.23416728","m":"15.11708371"}')

    ws_server.script(("wait", go), ("flood", n, frame), ("hold",))
    # REST agrees with the flood's last word: should a loaded machine miss the stream's pongs and
    # reconcile over REST (as it must), the newest state still says the newest uniMMR.
    papi_server.set_body(PM_ACCOUNT, {**margin_call_body(papi_server.now_ms()), "uniMMR": f"1.{400000 - n + 1:06d}"})
    async with Pushing(papi_server, ws_server) as run:
        box: Mailbox[str] = Mailbox()
        monitor = run.monitor
        run.monitor.subscribe(lambda state: box.put("alpha", state))
        run.states.clear()
        go.set()
        await until(lambda: run.stream.status.events >= n, f"the whole flood {run.stream.status}", timeout=120)
        # Every event went through the Monitor; a few states a second came out of it (newest wins),
        # so far fewer states than events: n / 20 held on an idle machine, but a loaded one takes
        # longer over the flood and so publishes more of those few a second.
        assert len(run.states) < n / 5
        run.states.clear()
        assert len(box) == 1  # ... and nothing piled up behind them
        await until(lambda: monitor._risk_pending is None, "the last event applied")
        _, waiting = await box.get()
        assert waiting.pm.uniMMR == Decimal(f"1.{400000 - n + 1:06d}")  # the newest state won


async def test_a_pushed_unimmr_repaints_the_verdict_not_the_positions(make_app, frozen_clock):  # noqa: F811
    """A riskLevelChange moves uniMMR only: the header and the account panel show it, and the
    positions table is neither rebuilt nor repainted (at 1,000 positions that took the push
    200-450 ms to reach the screen). One that changes the account's level re-judges the rows."""
    from pmtui.stream import RiskLevelChange
    from pmtui.tui.widgets.positions import PositionsTable

    app = make_app(clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        monitor, table = app.monitor, app.query_one(PositionsTable)
        await wait_until(pilot, lambda: monitor.markets, what="tick sizes")  # their own DATA state
        await pilot.pause()
        repaints: list[object] = []
        table.refresh = lambda *a, **k: repaints.append(a) or table  # type: ignore[method-assign]
        built = table.cells_built
        pm = monitor.account_poller.data
        same = pm.uniMMR + 1  # the same band (OK): the account's level does not move
        monitor.on_push_event(RiskLevelChange(monitor.client.server_now_ms() + 1, same, None, None, None, None))
        await wait_until(pilot, lambda: f"uniMMR {same:.4f}" in rendered(app.query_one(SummaryBar)),
                         what="the pushed uniMMR in the header")
        assert table.cells_built == built and repaints == []
        # A push into a worse band: the rows are judged again on the account's new level.
        monitor.on_push_event(RiskLevelChange(monitor.client.server_now_ms() + 2, Decimal("1.10"), "REDUCE_ONLY",
                                              None, None, None))
        await wait_until(pilot, lambda: "uniMMR 1.1000" in rendered(app.query_one(SummaryBar)), what="DANGER")
        assert table.cells_built > built
