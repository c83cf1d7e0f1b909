"""pmtui's own request-weight budget: a token bucket no key press can break.

Binance limits request weight per IP: 6000 per minute (papi-notes), counted in fixed calendar
minutes and reported back in `X-MBX-USED-WEIGHT-1M`. pmtui keeps its own use under a share of
that (default half), whatever a person presses, and yields to other programs on the same IP: once
the IP's reported weight nears the limit, nothing more is sent until the minute rolls over.

One budget can be shared by several clients (several accounts watched from one IP).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: Binance's request-weight limit per IP and minute (REQUEST_WEIGHT, 1 MINUTE).
WEIGHT_LIMIT = 6000
#: Weight of each path pmtui may request (papi-notes); defined once, used by the client and views.
WEIGHTS = {
    "/papi/v2/um/account": 5,
    "/papi/v1/account": 20,
    "/papi/v1/um/positionRisk": 5,
    "/papi/v1/balance": 20,
    # "Request Weight 5" and "1" on Binance's "Get CM Account Detail" and "Query CM Position
    # Information" pages; "Weight(IP): 5" and "1" in the official SDK (account_api.py).
    "/papi/v1/cm/account": 5,
    "/papi/v1/cm/positionRisk": 1,
    "/papi/v1/ping": 1,
    "/fapi/v1/time": 1,
    # "Request Weight 1" on Binance's USD-M "Exchange Information" page.
    "/fapi/v1/exchangeInfo": 1,
    # POST, PUT and DELETE alike: "Request Weight 1" on Binance's Start/Keepalive/Close User Data
    # Stream pages (developers.binance.com/docs/derivatives/portfolio-margin/user-data-streams),
    # "Weight(IP): 1" in the official SDK (binance-connector-python user_data_streams_api.py).
    "/papi/v1/listenKey": 1,
    # The risk model's inputs (papi-notes "Inputs for the model", from the official SDK's
    # docstrings): collateral rates and margin leverage 50 on the spot API host; an asset index
    # price 1 with `asset` (INDEX_ALL_WEIGHT without); the leverage brackets 1 each.
    "/sapi/v1/portfolio/collateralRate": 50,
    "/sapi/v1/portfolio/asset-index-price": 1,
    "/sapi/v1/portfolio/margin-asset-leverage": 50,
    "/papi/v1/um/leverageBracket": 1,
    "/papi/v1/cm/leverageBracket": 1,
}
#: /sapi/v1/portfolio/asset-index-price without `asset`: every asset at once.
INDEX_ALL_WEIGHT = 50
#: Stop sending when the IP's weight this minute would pass this share of the limit: room is
#: left for the other programs (and a margin for the requests already in flight).
IP_CEILING = 0.9
#: Seconds of pmtui's own rate the bucket may hold: a refresh burst goes out at once, a held key
#: drains it and then runs at the steady rate.
BURST_SECONDS = 2.0
_EPSILON = 1e-6


class WeightBudget:
    def __init__(
        self,
        share: float = 0.5,
        limit: int = WEIGHT_LIMIT,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be more than 0 and at most 1")
        self.limit = limit
        self.share = share
        #: Weight per second pmtui may spend on average.
        self.rate = share * limit / 60.0
        self.capacity = max(self.rate * BURST_SECONDS, max(WEIGHTS.values()))
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = monotonic()
        #: The IP's weight in the current minute, as last reported plus what we sent since.
        self.ip_used: int | None = None
        self._minute_ends = 0.0  # monotonic time the reported minute ends
        #: Weight pmtui itself sent since start.
        self.sent = 0
        self.waited = 0.0  # seconds spent waiting for the budget, in all
        #: A 429 or 418 is the IP's, not one account's: every client on this budget waits it out
        #: (PapiClient sets and reads these, in its own monotonic clock).
        self.blocked_until = 0.0
        self.block_error: object | None = None

    # --- the bucket ------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if now >= self._minute_ends:
            self.ip_used = None  # a new minute: the last report no longer applies

    def wait_for(self, weight: int) -> float:
        """Seconds before `weight` may be sent (0: now)."""
        self._refill()
        waits = [0.0]
        if self._tokens < weight - _EPSILON:  # (float rounding must not leave an endless tiny wait)
            waits.append((weight - self._tokens) / self.rate)
        if self.ip_used is not None and self.ip_used + weight > self.limit * IP_CEILING:
            waits.append(self._minute_ends - self._monotonic())
        return max(waits)

    def try_acquire(self, weight: int) -> bool:
        if self.wait_for(weight) > 0:
            return False
        self._take(weight)
        return True

    async def acquire(self, weight: int) -> None:
        """Wait (asynchronously, never blocking the loop) until `weight` fits, then spend it."""
        while (wait := self.wait_for(weight)) > 0:
            self.waited += wait
            await self._sleep(wait)
        self._take(weight)

    def charge(self, weight: int) -> None:
        """Count a request that must go out now (a clock sync inside a call): it may overdraw."""
        self._refill()
        self._take(weight)

    def _take(self, weight: int) -> None:
        self._tokens -= weight
        self.sent += weight
        if self.ip_used is not None:
            self.ip_used += weight

    # --- what the exchange says ----------------------------------------------------------------

    def observe(self, used_weight: int, server_ms: float | None = None) -> None:
        """The IP's weight this minute from `X-MBX-USED-WEIGHT-1M`, at server time `server_ms`
        (local time when unknown): the minute it counts ends at the next whole minute."""
        now_ms = server_ms if server_ms is not None else self._wall() * 1000
        left = 60.0 - (now_ms / 1000.0) % 60.0
        self._refill()
        self.ip_used = max(0, used_weight)
        self._minute_ends = self._monotonic() + left


def weight_of(path: str) -> int:
    return WEIGHTS.get(path, 1)


#: One dashboard refresh: the UM account and positionRisk.
REFRESH_WEIGHT = WEIGHTS["/papi/v2/um/account"] + WEIGHTS["/papi/v1/um/positionRisk"]
#: What COIN-M adds to a refresh while the account holds a COIN-M position (else only the CM
#: account, once a minute: pmtui.monitor.CM_IDLE_INTERVAL).
CM_WEIGHT = WEIGHTS["/papi/v1/cm/account"] + WEIGHTS["/papi/v1/cm/positionRisk"]


def weight_per_minute(interval: float, account_interval: float | None = None,
                      risk_interval: float | None = None, balance_interval: float | None = None,
                      cm_interval: float | None = None) -> float:
    """Nominal weight per minute of polling the UM account every `interval` s, /papi/v1/account
    every `account_interval` s, positionRisk every `risk_interval` s, /papi/v1/balance every
    `balance_interval` s (the dashboard polls it on the account's cadence) and the COIN-M account
    and positionRisk every `cm_interval` s (None: not polled)."""
    total = WEIGHTS["/papi/v2/um/account"] * 60 / interval
    if cm_interval:
        total += CM_WEIGHT * 60 / cm_interval
    if account_interval:
        total += WEIGHTS["/papi/v1/account"] * 60 / account_interval
    if risk_interval:
        total += WEIGHTS["/papi/v1/um/positionRisk"] * 60 / risk_interval
    if balance_interval:
        total += WEIGHTS["/papi/v1/balance"] * 60 / balance_interval
    return total
