"""The ledger inside the Monitor, on the demo exchange: read in the background after a refresh,
published as `ledger` in the state, and a liquidation fill told once as a CRITICAL alert."""

from __future__ import annotations

from decimal import Decimal as D

from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.health import Level
from pmtui.ledger import totals
from pmtui.monitor import LEDGER_START_DELAY, Monitor
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.state import LEDGER, MonitorState

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC


def demo_monitor(scenario: str, step: int = 0) -> tuple[Monitor, ManualClock, list[MonitorState]]:
    clock = ManualClock(T0)
    exchange = DemoExchange(seed=3, symbols=40, scenario=scenario, step=step, clock=clock.time)
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange, clock=clock,
                        budget=WeightBudget(1.0, limit=10**9))
    monitor = Monitor(settings=Settings(), client=client)
    states: list[MonitorState] = []
    monitor.subscribe(states.append)
    return monitor, clock, states


async def _refresh_and_read(monitor: Monitor) -> None:
    """A refresh, and the ledger read it starts (the first one LEDGER_START_DELAY after the first refresh)."""
    first = monitor.ledger.version == 0
    assert await monitor.refresh()
    task = monitor._ledger_task
    assert task is not None  # read in the background, never inside the refresh
    await task
    if first:
        assert monitor.state.ledger is None or not monitor.state.ledger.entries  # not yet: the account first
        monitor.clock.advance(LEDGER_START_DELAY)  # type: ignore[attr-defined]
        await _refresh_and_read(monitor)


async def test_the_demo_ledger_has_funding_every_8_hours_and_hourly_loan_interest():
    monitor, clock, states = demo_monitor("normal")
    async with monitor:
        await _refresh_and_read(monitor)
        state = states[-1]
        assert LEDGER in state.changed and state.ledger is not None
        view = state.ledger
        funding = [e for e in view.entries if e.kind == "funding"]
        times = sorted({e.time for e in funding})
        assert times and all(t % (8 * 3_600_000) == 0 for t in times) and len(times) == 21  # 7 days
        interest = [e for e in view.entries if e.kind == "interest"]
        assert len(interest) == 7 * 24 and all(e.amount < 0 and e.asset == "USDT" for e in interest)
        assert view.forced == () and not view.notes
        assert not any(e.rule == "forced_fill" for s in states for e in s.alerts)
        sums = totals(view.entries, {})
        assert sums["interest"].usd == sum((e.amount for e in interest), D(0))
        assert sums["funding"].unpriced.keys() == {"BTC"}  # COIN-M funding in BTC: no price without the model
        # Minutes later: due again only the sources whose cadence has passed, and nothing new told.
        clock.advance(300)
        assert monitor.ledger.due()


async def test_the_margin_call_demo_liquidates_once_and_the_fill_is_a_critical_alert_once():
    monitor, clock, states = demo_monitor("margin-call", step=70)  # past uniMMR 1.05 on the slide
    async with monitor:
        await _refresh_and_read(monitor)
        view = monitor.state.ledger
        assert view is not None
        (fill,) = view.forced
        assert fill.kind == "liquidation" and fill.id == "6071832819" and "(filled)" in fill.info
        told = [e for s in states for e in s.alerts if e.rule == "forced_fill"]
        assert len(told) == 1 and told[0].level is Level.CRITICAL
        assert told[0].message.startswith(f"Liquidated: {fill.symbol} ")
        assert any(n.title == "Alert" and n.bell for s in states for n in s.notices)
        clock.advance(301)
        before = len(states)
        await _refresh_and_read(monitor)
        again = [e for s in states[before:] for e in s.alerts if e.rule == "forced_fill"]
        assert again == [] and len(monitor.state.ledger.forced) == 1  # the same fill: told once


async def test_a_pushed_liquidation_order_asks_the_forced_orders_at_once_spaced():
    import json

    from pmtui.stream import AccountChange, parse_event

    frame = {"e": "ORDER_TRADE_UPDATE", "fs": "UM", "E": 1, "T": 1,
             "o": {"s": "BTCUSDT", "c": "autoclose-17", "X": "FILLED"}}
    event = parse_event(json.dumps(frame))
    assert isinstance(event, AccountChange) and event.forced
    frame["o"]["c"] = "my-bot-42"
    assert not parse_event(json.dumps(frame)).forced  # type: ignore[union-attr]
    monitor, clock, _ = demo_monitor("normal")
    async with monitor:
        await _refresh_and_read(monitor)
        clock.advance(60)
        assert not monitor.ledger.due()  # the ledger's cadence is minutes
        monitor.on_push_event(event)
        assert monitor.ledger.due()
        client = monitor.client
        sent: list[str] = []
        real = client.signed_get

        async def spy(path, params=None, **kw):
            sent.append(path)
            return await real(path, params, **kw)

        client.signed_get = spy  # type: ignore[method-assign]
        await monitor.ledger.update(client)
        assert sorted(sent) == ["/papi/v1/cm/forceOrders", "/papi/v1/um/forceOrders"]  # only those
        monitor.on_push_event(event)
        assert not monitor.ledger.due()  # 30 s apart at least, however many fills are pushed
