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
    """The view of a refresh of 300 rows is built off the loop. A state published while it is
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
