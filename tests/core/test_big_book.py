"""A book of hundreds of positions (issue 25): the pure CPU work on it runs off the event loop, so
no refresh freezes the screen or holds a pushed uniMMR back."""

from __future__ import annotations

import threading

import pmtui.client
import pmtui.models
from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.signing import HmacSigner


def demo_client(symbols: int = 300) -> PapiClient:
    return PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET),
                      transport=DemoExchange(seed=7, symbols=symbols), budget=WeightBudget(1.0, limit=10**9))


async def test_a_large_body_is_decoded_and_parsed_in_a_thread_a_small_one_in_place(monkeypatch):
    where: dict[str, set[int]] = {"decode": set(), "rows": set()}
    decode, rows = pmtui.client.decode_json, pmtui.models._rows

    def spy_decode(body):  # type: ignore[no-untyped-def]
        where["decode"].add(threading.get_ident())
        return decode(body)

    def spy_rows(*args):  # type: ignore[no-untyped-def]
        where["rows"].add(threading.get_ident())
        return rows(*args)

    monkeypatch.setattr(pmtui.client, "decode_json", spy_decode)
    monkeypatch.setattr(pmtui.models, "_rows", spy_rows)
    loop_thread = threading.get_ident()
    async with demo_client(symbols=300) as client:
        await client.sync_time()
        where["decode"].clear()
        account = await client.um_account()  # a row for each of 300 symbols (~50 KB)
        assert len(account.positions) >= 200  # OFF_LOOP_ROWS
        assert where["decode"] and where["rows"] and loop_thread not in where["decode"] | where["rows"]
        where["decode"].clear()
        where["rows"].clear()
    async with demo_client(symbols=20) as client:
        await client.sync_time()
        await client.um_account()  # 20 rows: a thread hop would cost more than the parse
        assert where["decode"] == where["rows"] == {loop_thread}


async def test_a_large_books_view_is_built_in_a_thread_and_states_meanwhile_show_the_view_they_carry(monkeypatch):
    """The view of a refresh of a large book is built off the loop. A state published while it is
    built (a clock tick) carries the account the view on screen was built from, not the newer
    one being built: a viewer comparing accounts to skip a redraw would otherwise skip the next."""
    import asyncio

    import pmtui.monitor
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings

    builders: set[int] = set()
    entered, release = threading.Event(), threading.Event()
    build = pmtui.monitor.build_view

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        builders.add(threading.get_ident())
        entered.set()
        if not release.wait(10):
            raise TimeoutError("the test never released the build")
        return build(*args, **kwargs)

    monkeypatch.setattr(pmtui.monitor, "OFF_LOOP_POSITIONS", 5)  # the demo's dozen open positions
    async with demo_client(symbols=300) as client:
        monitor = Monitor(settings=Settings(), client=client)
        release.set()
        assert await monitor.refresh()
        first = monitor.state
        assert first.view is not None and first.account is first.view.account
        monkeypatch.setattr(pmtui.monitor, "build_view", spy)
        release.clear()
        entered.clear()
        refresh = asyncio.ensure_future(monitor.refresh())
        for _ in range(10_000):  # until the build is under way in its thread
            if entered.is_set():
                break
            await asyncio.sleep(0.001)
        assert entered.is_set() and not refresh.done()
        assert monitor.poller.data[0] is not first.account  # the new account is in ...
        during = monitor.tick()
        assert during.view is first.view and during.account is first.account  # ... but not yet shown
        release.set()
        assert await refresh
        after = monitor.state
        assert after.view is not first.view and after.account is after.view.account is monitor.poller.data[0]
    assert builders and threading.get_ident() not in builders


async def test_a_pushed_unimmr_takes_the_view_shown_as_building_it_anew_would_make_it(monkeypatch):
    """A riskLevelChange moves uniMMR only: the view shown takes it with its rows kept (no view
    built again, no rule read on each position again: ~40 ms at 1,000 positions before the push
    reached the screen), or judged again when the account's level moves. Either way the view is
    what building it anew makes."""
    from decimal import Decimal

    import pmtui.alerts
    import pmtui.monitor
    from pmtui.health import Level
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings, Thresholds
    from pmtui.stream import RiskLevelChange

    builds: list[int] = []
    build = pmtui.monitor.build_view
    monkeypatch.setattr(pmtui.monitor, "build_view", lambda *a, **k: builds.append(1) or build(*a, **k))
    per_position: list[str] = []
    read = pmtui.alerts.Alerts._read
    monkeypatch.setattr(pmtui.alerts.Alerts, "_read",
                        lambda self, rule, state: (per_position.append(rule.kind) if rule.kind in
                                                   pmtui.alerts.PER_POSITION else None) or read(self, rule, state))

    def anew(state):  # type: ignore[no-untyped-def]
        return build(state.account, monitor.settings.thresholds, risks=state.risks, pm=state.pm,
                     markets=monitor.markets, cm=state.cm, cm_risks=state.cm_risks, balances=state.balances)

    def judged(view):  # type: ignore[no-untyped-def]
        return [(r.key, r.level, r.share_level, r.loss_level, r.liq_level) for r in view.open_positions]

    # A share of 1% is past danger: DANGER on an account at WARN or worse, WARN on an OK one.
    shares = Thresholds(position_share_warn=Decimal("0.005"), position_share_danger=Decimal("0.01"))
    async with demo_client(symbols=300) as client:
        monitor = Monitor(settings=Settings(thresholds=shares), client=client)
        monitor.push_debounce = 3600  # the confirming REST refresh is not what is tested
        assert await monitor.refresh()
        before = monitor.state
        assert before.pm is not None and before.view is not None and per_position
        assert before.view.level == Level.OK
        builds.clear()
        per_position.clear()
        same = before.pm.uniMMR + 1  # the same band as before: the account's level stays
        monitor.on_push_event(RiskLevelChange(client.server_now_ms() + 1, same, None, None, None, None))
        after = monitor.state
        assert after.pm.uniMMR == after.view.pm.uniMMR == same and after.verdict.level == before.verdict.level
        assert builds == [] and per_position == []
        assert after.view.open_positions is before.view.open_positions
        fresh = anew(after)
        assert fresh.level == after.view.level and fresh.upnl == after.view.upnl and judged(fresh) == judged(after.view)
        # Into a worse band: the rows are judged again on the account's new level.
        monitor._risk_applied = float("-inf")  # not spaced out behind the first
        monitor.on_push_event(RiskLevelChange(client.server_now_ms() + 2, Decimal("1.10"), "REDUCE_ONLY",
                                              None, None, None))
        worse = monitor.state
        assert worse.pm.uniMMR == Decimal("1.10") and worse.view.level > before.view.level
        assert builds == [] and judged(worse.view) != judged(before.view)  # a large share is DANGER now
        fresh = anew(worse)
        assert fresh.level == worse.view.level and judged(fresh) == judged(worse.view)
        assert worse.view.nearest_liquidation is not None
        assert worse.view.nearest_liquidation.key == fresh.nearest_liquidation.key


async def test_a_tick_while_the_data_is_late_reads_no_rule_on_each_position(monkeypatch):
    """Late data is found by time passing: each tick then runs the rules for "stale for N s",
    but not those read on each position (their rows are those the last evaluation read: at
    1,000 positions ~20 ms of every second)."""
    import pmtui.alerts
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings

    kinds: list[str] = []
    read = pmtui.alerts.Alerts._read
    monkeypatch.setattr(pmtui.alerts.Alerts, "_read",
                        lambda self, rule, state: kinds.append(rule.kind) or read(self, rule, state))
    async with demo_client(symbols=300) as client:
        monitor = Monitor(settings=Settings(), client=client)
        assert await monitor.refresh()
        assert pmtui.alerts.PER_POSITION <= set(kinds)
        kinds.clear()
        monkeypatch.setattr(monitor, "_late_age", lambda: 3600.0)  # an hour behind
        state = monitor.tick()
        assert "stale_for" in kinds and not pmtui.alerts.PER_POSITION & set(kinds)
        assert [e.rule for e in state.alerts] == ["stale_for"]


async def test_a_small_books_view_is_built_in_place(monkeypatch):
    """A dozen open positions (among 300 flat rows) build in a few ms: on the loop, as before."""
    import pmtui.monitor
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings

    builders: set[int] = set()
    build = pmtui.monitor.build_view
    monkeypatch.setattr(pmtui.monitor, "build_view",
                        lambda *a, **k: builders.add(threading.get_ident()) or build(*a, **k))
    async with demo_client(symbols=300) as client:
        monitor = Monitor(settings=Settings(), client=client)
        assert await monitor.refresh()
        assert 0 < len(monitor.view.open_positions) < pmtui.monitor.OFF_LOOP_POSITIONS
    assert builders == {threading.get_ident()}
