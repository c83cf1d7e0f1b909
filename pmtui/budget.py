"""pmtui's own request-weight budget: a token bucket no key press can break.

Binance limits request weight per IP: 6000 per minute (papi-notes), counted in fixed calendar
minutes and reported back in `X-MBX-USED-WEIGHT-1M`. pmtui keeps its own use under a share of
that (default half), whatever a person presses, and yields to other programs on the same IP: once
the IP's reported weight nears the limit, nothing more is sent until the minute rolls over.

One budget can be shared by several clients (several accounts watched from one IP).
"""

from __future__ import annotations

import asyncio

from pmtui.clock import SYSTEM_CLOCK, Clock
from pmtui.endpoints import (
    BALANCE,
    CM_ACCOUNT,
    CM_POSITION_RISK,
    ENDPOINTS,
    EXCHANGE_INFO,
    LISTEN_KEY,
    PM_ACCOUNT,
    SERVER_TIME,
    UM_ACCOUNT,
    UM_POSITION_RISK,
)

#: Binance's request-weight limit per IP and minute (REQUEST_WEIGHT, 1 MINUTE).
WEIGHT_LIMIT = 6000
#: Weight of each path pmtui may request, from the table of endpoints (pmtui.endpoints).
WEIGHTS = {e.path: e.weight for e in ENDPOINTS}
#: Stop sending when the IP's weight this minute would pass this share of the limit: room is
#: left for the other programs (and a margin for the requests already in flight).
IP_CEILING = 0.9
#: Seconds of pmtui's own rate the bucket may hold: a refresh burst goes out at once, a held key
#: drains it and then runs at the steady rate.
BURST_SECONDS = 2.0
#: A one-shot command (snapshot, check, whatif) runs once and ends: it may spend a whole minute
#: of its share at once (3,000 weight at weight_share 0.5), so a `check` of several accounts with
#: the risk model's inputs answers in a second or two, not after the bucket refills (a Nagios
#: check has 10 s). Past that it waits like the dashboard; the IP's reported weight still rules.
ONE_SHOT_BURST_SECONDS = 60.0
#: Seconds of the rate a request that is not urgent leaves in the bucket for one that is: while
#: many accounts wait on one budget, an account at WARN or worse (pmtui.cadence) goes first, so a
#: burst of calm accounts' reconciles never holds its refresh back.
PRIORITY_RESERVE_SECONDS = 1.0
#: Most a fleet may borrow at start (`lend`), in seconds of the rate: 50 accounts' first screens
#: (FIRST_SCREEN_WEIGHT each) are 33 s of it at weight_share 0.5 (the last few then go on the
#: refill's unrepaid share).
MAX_LOAN_SECONDS = 30.0
#: The share of the refill that repays a loan (`lend`); the rest refills the bucket for what may
#: borrow: first screens, and accounts at WARN or worse, which must not wait half a minute while
#: fifty calm accounts' first screens are repaid. The most that may be lent is repaid within a
#: minute (MAX_LOAN_SECONDS <= 60 * REPAY_SHARE), so no minute sends more than it would without it.
REPAY_SHARE = 0.5
_EPSILON = 1e-6


class WeightBudget:
    def __init__(
        self,
        share: float = 0.5,
        limit: int = WEIGHT_LIMIT,
        *,
        clock: Clock = SYSTEM_CLOCK,
        burst_seconds: float = BURST_SECONDS,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be more than 0 and at most 1")
        self.limit = limit
        self.share = share
        #: Weight per second pmtui may spend on average.
        self.rate = share * limit / 60.0
        self.capacity = max(self.rate * burst_seconds, max(WEIGHTS.values()))
        #: What a request that is not urgent leaves in the bucket (see PRIORITY_RESERVE_SECONDS).
        self.reserve = min(self.rate * PRIORITY_RESERVE_SECONDS, self.capacity)
        self._clock = clock
        self._monotonic = clock.monotonic
        self._tokens = self.capacity
        #: Weight lent at start (`lend`) not yet repaid: the refill pays it before the bucket.
        self.debt = 0.0
        self._stamp = clock.monotonic()
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
        #: The first clock sync of each time host, shared by the clients on this budget (one IP:
        #: PapiClient._first_sync).
        self.time_syncs: dict[str, asyncio.Future[int]] = {}

    # --- the bucket ------------------------------------------------------------------------

    def lend(self, weight: float) -> float:
        """A start-up burst: `weight` more may go out at once to first screens (at most
        MAX_LOAN_SECONDS of the rate), repaid from the refill that follows before anything else is sent, so no minute
        sends more than it would without it (the bucket never holds more than its capacity plus
        what is still owed: a loan not spent lapses as it is repaid). Returns what was lent."""
        self._refill()
        weight = max(0.0, min(weight, self.rate * MAX_LOAN_SECONDS - self.debt))
        self._tokens += weight
        self.debt += weight
        return weight

    def _refill(self) -> None:
        now = self._monotonic()
        gained = (now - self._stamp) * self.rate
        repaid = min(self.debt, gained * REPAY_SHARE)
        self.debt -= repaid
        self._tokens = min(self.capacity + self.debt, self._tokens + gained - repaid)
        self._stamp = now
        if now >= self._minute_ends:
            self.ip_used = None  # a new minute: the last report no longer applies

    def wait_for(self, weight: int, *, urgent: bool = True, borrow: bool = False) -> float:
        """Seconds before `weight` may be sent (0: now). Not `urgent`: it also leaves `reserve`."""
        self._refill()
        waits = [0.0]
        # A calm heavy request (the ledger's 100) may need more than the bucket holds with the
        # reserve kept: it waits for a full bucket instead, never for ever.
        need = weight if urgent else min(weight + self.reserve, self.capacity)
        # What is lent (`lend`) is for first screens and accounts at risk only (`borrow`): the rest
        # wait until it is repaid (what they may spend, tokens less debt, grows at the whole rate).
        have = self._tokens - (0.0 if borrow else self.debt)
        if have < need - _EPSILON:  # (float rounding must not leave an endless tiny wait)
            if borrow and self.debt > 0:
                # The bucket gets the refill's unrepaid share until the debt is repaid, then all of it.
                slow, repaying = self.rate * (1 - REPAY_SHARE), self.debt / (self.rate * REPAY_SHARE)
                short = need - self._tokens
                waits.append(short / slow if short <= slow * repaying
                             else repaying + (short - slow * repaying) / self.rate)
            else:
                waits.append((need - have) / self.rate)
        if self.ip_used is not None and self.ip_used + weight > self.limit * IP_CEILING:
            waits.append(self._minute_ends - self._monotonic())
        return max(waits)

    def try_acquire(self, weight: int) -> bool:
        if self.wait_for(weight) > 0:
            return False
        self._take(weight)
        return True

    async def acquire(self, weight: int, *, urgent: bool = True, borrow: bool = False) -> None:
        """Wait (asynchronously, never blocking the loop) until `weight` fits, then spend it. Not
        `urgent`: until it fits with `reserve` to spare, so urgent requests waiting go first."""
        while (wait := self.wait_for(weight, urgent=urgent, borrow=borrow)) > 0:
            self.waited += wait
            await self._clock.sleep(wait)
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
        now_ms = server_ms if server_ms is not None else self._clock.time() * 1000
        left = 60.0 - (now_ms / 1000.0) % 60.0
        self._refill()
        self.ip_used = max(0, used_weight)
        self._minute_ends = self._monotonic() + left


def weight_of(path: str) -> int:
    return WEIGHTS.get(path, 1)


#: One dashboard refresh: the UM account and positionRisk.
REFRESH_WEIGHT = UM_ACCOUNT.weight + UM_POSITION_RISK.weight
#: What an account of a fleet sends for its first screen (pmtui.monitor): the UM account,
#: positionRisk and uniMMR (/papi/v1/account: the fleet ranks by it), and once at start its listen
#: key, exchangeInfo and the server time.
FIRST_SCREEN_WEIGHT = REFRESH_WEIGHT + PM_ACCOUNT.weight + LISTEN_KEY.weight + EXCHANGE_INFO.weight \
    + SERVER_TIME.weight
#: What COIN-M adds to a refresh while the account holds a COIN-M position (else only the CM
#: account, once a minute: pmtui.monitor.CM_IDLE_INTERVAL).
CM_WEIGHT = CM_ACCOUNT.weight + CM_POSITION_RISK.weight


def weight_per_minute(interval: float, account_interval: float | None = None,
                      risk_interval: float | None = None, balance_interval: float | None = None,
                      cm_interval: float | None = None) -> float:
    """Nominal weight per minute of polling the UM account every `interval` s, /papi/v1/account
    every `account_interval` s, positionRisk every `risk_interval` s, /papi/v1/balance every
    `balance_interval` s (the dashboard polls it on the account's cadence) and the COIN-M account
    and positionRisk every `cm_interval` s (None: not polled)."""
    total = UM_ACCOUNT.weight * 60 / interval
    if cm_interval:
        total += CM_WEIGHT * 60 / cm_interval
    if account_interval:
        total += PM_ACCOUNT.weight * 60 / account_interval
    if risk_interval:
        total += UM_POSITION_RISK.weight * 60 / risk_interval
    if balance_interval:
        total += BALANCE.weight * 60 / balance_interval
    return total
