"""Benchmark inputs: `/papi/v2/um/account` bodies as the exchange sends them (raw bytes).

The demo exchange builds the market (1000 symbols in hedge mode = 2000 position rows) and answers
a signed request, as it would for the app. It holds about 15 positions; `with_open_rows` opens
more flat rows so a body has about 40 open ones, as a busy account would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time

import httpx

from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange

PATH = "/papi/v2/um/account"


async def _fetch(exchange: DemoExchange, count: int) -> list[bytes]:
    bodies = []
    async with httpx.AsyncClient(transport=exchange, base_url="https://papi.binance.com") as client:
        for _ in range(count):
            query = f"timestamp={int(time.time() * 1000)}&recvWindow=5000"
            signature = hmac.new(DEMO_API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
            response = await client.get(f"{PATH}?{query}&signature={signature}",
                                        headers={"X-MBX-APIKEY": DEMO_API_KEY})
            response.raise_for_status()
            bodies.append(response.content)  # each call is one market step: prices move
    return bodies


async def demo_bodies(count: int, *, symbols: int = 1000, hedge: bool = True, seed: int = 7) -> list[bytes]:
    """`count` successive refreshes of one demo account."""
    return await _fetch(DemoExchange(symbols=symbols, hedge=hedge, seed=seed), count)


def _money(value: float) -> str:
    return f"{value:.8f}"


def with_open_rows(body: bytes, open_rows: int = 40, *, seed: int = 7, tick: int = 0) -> bytes:
    """`body` with flat rows opened until `open_rows` are open. The same rows open for every
    `tick` (one account); their prices move with `tick`, as a refresh's do."""
    data = json.loads(body)
    positions = data["positions"]
    flat = [i for i, p in enumerate(positions) if p["positionAmt"] in ("0", "0.0", "0.000")]
    missing = open_rows - (len(positions) - len(flat))
    chosen = random.Random(seed).sample(flat, max(0, missing))
    moves = random.Random(f"{seed}:{tick}")
    now_ms = int(time.time() * 1000)
    for n, i in enumerate(chosen):
        row = positions[i]
        sign = 1 if n % 2 == 0 else -1
        if row["positionSide"] == "SHORT":
            sign = -1
        elif row["positionSide"] == "LONG":
            sign = 1
        size = 2_000 + 1_500 * (n % 17)  # notional in USD
        notional = sign * size * (1 + moves.gauss(0, 0.002))
        row.update(
            positionAmt=f"{sign * (n + 1) * 10:.3f}",
            notional=_money(notional),
            unrealizedProfit=_money(notional * moves.uniform(-0.03, 0.03)),
            maintMargin=_money(abs(notional) * 0.004),
            initialMargin=_money(abs(notional) / 20),
            updateTime=now_ms - 60_000 * (n + 1) * 37,
        )
    return json.dumps(data, separators=(",", ":")).encode()


async def refresh_bodies(count: int, open_rows: int = 40, *, symbols: int = 1000, hedge: bool = True,
                   seed: int = 7) -> list[bytes]:
    """`count` successive refreshes of a busy account: ~`open_rows` open, prices moving."""
    return [with_open_rows(b, open_rows, seed=seed, tick=t)
            for t, b in enumerate(await demo_bodies(count, symbols=symbols, hedge=hedge, seed=seed))]
