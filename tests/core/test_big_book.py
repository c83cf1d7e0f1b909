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
