"""Push on the dashboard: the user data stream from a local WebSocket server (127.0.0.1) through
the Monitor to the screen, with polling slowed to 30 s / 60 s so only the push can explain what
shows. And the demo, which streams from memory.

The REST side is the local PAPI server; the stream side tests/ws_server.py, whose script waits
for the test to say when to send. Waits are bounded conditions, never sleeps.
"""

from __future__ import annotations

import asyncio
import json

from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.monitor import Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.stream import UserStream
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.summary import SummaryBar
from tests.harness import rendered, screen_text, settled, wait_until
from tests.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, UM_ACCOUNT, papi_server  # noqa: F401
from tests.ws_server import ws_server  # noqa: F401

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
    ws_server.script(("wait", go), ("send", risk_frame(1_736_942_500_000, "1.10", "REDUCE_ONLY")), ("hold",))
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

    exchange = DemoExchange(seed=7, scenario="margin-call")
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
