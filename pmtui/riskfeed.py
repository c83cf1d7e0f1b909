"""The risk model's market inputs, fetched once for every account on this IP and cached.

Collateral rates, asset index prices, margin leverage per asset and the UM / COIN-M leverage
brackets are the same for every account (market data), so one `RiskFeed` per process serves any
number of Monitors: each calls `update(client, assets)` after its own refresh, and the feed
fetches only what is due, through that Monitor's client (so on the shared weight budget):

| input | path | host | weight | cadence |
|---|---|---|---|---|
| collateral rates | /sapi/v1/portfolio/collateralRate | sapi_url | 50 | hourly, and on `r` |
| margin leverage | /sapi/v1/portfolio/margin-asset-leverage | sapi_url | 50 | hourly, and on `r` |
| UM / COIN-M brackets | /papi/v1/{um,cm}/leverageBracket | base_url | 1 + 1 | hourly, and on `r` |
| index prices | /sapi/v1/portfolio/asset-index-price?asset= | sapi_url | 1 an asset | every account_interval |

Index prices go one asset at a time (weight 1) for the assets the watched books hold; past
INDEX_PER_ASSET_MAX assets, all at once (weight 50) no more often than once a minute, so the
feed's weight stays under ~60 a minute (`weight_per_minute`).

A refused input (an AuthError, e.g. -2015 from the spot host) is not asked again until `r`; any
other fault is retried a minute later, the last good data kept. Either way `problems()` says so
in one sentence, and the model built on it is "approximate", never wrong in silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pmtui.client import PapiClient
from pmtui.clock import SYSTEM_CLOCK, Clock
from pmtui.endpoints import (
    ASSET_INDEX_PRICE,
    CM_BRACKETS,
    COLLATERAL_RATE,
    INDEX_ALL_WEIGHT,
    MARGIN_LEVERAGE,
    UM_BRACKETS,
)
from pmtui.errors import AuthError, PmtuiError
from pmtui.model import Inputs, RiskModel, cm_legs, split_symbol, um_legs
from pmtui.models import Balance, CmAccount, CmPositionRisk, PmAccount, PositionRisk, UmAccount, coin_of
from pmtui.riskinputs import AssetIndexPrice
from pmtui.settings import Thresholds

log = logging.getLogger(__name__)

#: Seconds between refreshes of the slow inputs (rates, leverage, brackets).
HOURLY = 3600.0
#: Seconds before a failed input is tried again (a refused one waits for `r`).
RETRY = 60.0
#: Up to this many assets, index prices go one by one (weight 1 each); beyond, all at once.
INDEX_PER_ASSET_MAX = 8
#: Seconds between all-at-once index fetches (weight 50), at least.
INDEX_ALL_INTERVAL = 60.0
#: An asset no Monitor asked about for this long is no longer priced.
WANTED_FOR = 600.0


@dataclass
class _Slot:
    """One input: its last good data, when it came, when it is due again, and why it failed."""

    name: str  # as a sentence names it: "the collateral rates"
    path: str
    interval: float
    fetch: Callable[[PapiClient], Awaitable[Any]]
    data: Any = None
    fetched_at: float | None = None  # monotonic
    due: float = 0.0  # monotonic
    error: str | None = None  # the last failure's sentence
    refused: bool = False

    def problem(self, now: float) -> str | None:
        if self.error is None:
            if self.fetched_at is not None and now - self.fetched_at > 2 * self.interval:
                return f"The model's {self.name} are {_age(now - self.fetched_at)} old."
            return None
        if self.data is None:
            return f"The model has no {self.name}: {self.error}"
        return (f"The model's {self.name} are {_age(now - (self.fetched_at or now))} old: "
                f"{self.error}")


def weight_per_minute(account_interval: float, assets: int) -> float:
    """The feed's nominal weight a minute with `assets` assets to price."""
    slow = sum(e.weight for e in (COLLATERAL_RATE, MARGIN_LEVERAGE, UM_BRACKETS, CM_BRACKETS)) * 60 / HOURLY
    if assets <= INDEX_PER_ASSET_MAX:
        return slow + assets * ASSET_INDEX_PRICE.weight * 60 / account_interval
    return slow + INDEX_ALL_WEIGHT * 60 / max(account_interval, INDEX_ALL_INTERVAL)


class RiskFeed:
    """The shared, cached inputs. Not tied to one account: `update` takes the caller's client."""

    def __init__(self, *, account_interval: float = 10.0,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.account_interval = account_interval
        self._monotonic = clock.monotonic
        self._lock = asyncio.Lock()
        self.slots = {
            "rates": _Slot("collateral rates", COLLATERAL_RATE.path, HOURLY, lambda c: c.collateral_rates()),
            "leverage": _Slot("margin leverages", MARGIN_LEVERAGE.path, HOURLY, lambda c: c.margin_asset_leverage()),
            "um": _Slot("UM leverage brackets", UM_BRACKETS.path, HOURLY, lambda c: c.um_brackets()),
            "cm": _Slot("COIN-M leverage brackets", CM_BRACKETS.path, HOURLY, lambda c: c.cm_brackets()),
        }
        self.index = _Slot("index prices", ASSET_INDEX_PRICE.path, account_interval, _nothing)
        self.prices: dict[str, AssetIndexPrice] = {}
        self._wanted: dict[str, float] = {}  # asset -> monotonic time a Monitor last asked
        #: Bumped whenever some input changed: a Monitor rebuilds its model only then.
        self.version = 0

    def refresh_now(self) -> None:
        """`r`: everything is due now, refused inputs asked again."""
        for slot in (*self.slots.values(), self.index):
            slot.due, slot.refused = 0.0, False

    async def update(self, client: PapiClient, assets: Iterable[str] = ()) -> None:
        """Fetch whatever is due (one caller at a time; the others then find it fresh).
        `assets`: the assets the caller's book holds or is margined in, to be priced."""
        now = self._monotonic()
        for asset in assets:
            self._wanted[asset] = now
        async with self._lock:
            for slot in self.slots.values():
                if not slot.refused and self._monotonic() >= slot.due:
                    await self._fetch(slot, client, slot.fetch)
            if not self.index.refused and self._monotonic() >= self.index.due:
                await self._fetch_index(client)

    async def _fetch(self, slot: _Slot, client: PapiClient,
                     fetch: Callable[[PapiClient], Awaitable[Any]]) -> bool:
        try:
            data = await fetch(client)
        except AuthError as err:
            slot.refused, slot.error = True, (f"Binance refused {slot.path}"
                                              f"{f' ({err.code})' if err.code else ''}; "
                                              "the API key may lack access to it (r asks again).")
            return False
        except PmtuiError as err:
            slot.error = f"{err.message.rstrip('.')} (pmtui tries again in a minute)."
            slot.due = self._monotonic() + RETRY
            return False
        except Exception as err:  # a bug must cost the model an input, never the account's refresh
            log.debug("risk input %s failed", slot.path, exc_info=err)
            slot.error = f"unexpected internal error ({type(err).__name__}); run with --debug and report the log."
            slot.due = self._monotonic() + RETRY
            return False
        slot.error = None
        slot.fetched_at = self._monotonic()
        slot.due = slot.fetched_at + slot.interval
        if data is not None:
            slot.data = data
        self.version += 1
        return True

    async def _fetch_index(self, client: PapiClient) -> None:
        now = self._monotonic()
        self._wanted = {a: t for a, t in self._wanted.items() if now - t <= WANTED_FOR}
        wanted = sorted(self._wanted)
        slot = self.index
        if not wanted:  # nothing to price is nothing missing
            slot.fetched_at, slot.due, slot.error = now, now + slot.interval, None
            return
        if len(wanted) > INDEX_PER_ASSET_MAX:
            slot.interval = max(self.account_interval, INDEX_ALL_INTERVAL)

            async def every(c: PapiClient) -> None:
                self.prices.update({p.asset: p for p in await c.asset_index_prices() if p.asset})

            await self._fetch(slot, client, every)
            return
        slot.interval = self.account_interval

        async def each(c: PapiClient) -> None:
            for asset in wanted:
                for p in await c.asset_index_prices(asset):
                    if p.asset:
                        self.prices[p.asset] = p

        await self._fetch(slot, client, each)

    def problems(self) -> list[str]:
        """One sentence per input that is refused, failing or stale."""
        now = self._monotonic()
        found = (slot.problem(now) for slot in (*self.slots.values(), self.index))
        return [p for p in found if p is not None]

    def inputs(self) -> dict[str, Any]:
        """The feed's part of `pmtui.model.Inputs` (keyword arguments)."""
        s = self.slots
        return {
            "collateral_rates": s["rates"].data,
            "margin_leverage": s["leverage"].data,
            "um_brackets": s["um"].data,
            "cm_brackets": s["cm"].data,
            "index_prices": tuple(self.prices.values()) if self.index.fetched_at is not None else None,
        }


def book_assets(balances: Iterable[Balance] | None, risks: Iterable[PositionRisk] | None,
                cm_risks: Iterable[CmPositionRisk] | None) -> set[str]:
    """The assets a book needs index prices for: those it holds or owes, the quotes its UM
    positions settle in and the coins its COIN-M positions are margined in."""
    assets = {b.asset for b in balances or () if any(
        getattr(b, f) for f in ("crossMarginAsset", "crossMarginBorrowed", "crossMarginInterest",
                                "umWalletBalance", "umUnrealizedPNL", "cmWalletBalance",
                                "cmUnrealizedPNL"))}
    for r in risks or ():
        if r.positionAmt and (parts := split_symbol(r.symbol)):
            assets.add(parts[1])
    for c in cm_risks or ():
        if c.positionAmt and (coin := coin_of(c.symbol)):
            assets.add(coin)
    return {a for a in assets if a}


def build_model(feed: RiskFeed, *, account: UmAccount | None, risks: tuple[PositionRisk, ...] | None,
                pm: PmAccount | None, balances: tuple[Balance, ...] | None, cm: CmAccount | None,
                cm_risks: tuple[CmPositionRisk, ...] | None, thresholds: Thresholds,
                now_ms: int | None = None, reconciled_gap: Decimal | None = None) -> RiskModel:
    """The account's RiskModel from one Monitor's parts and the shared feed. Each part the
    Monitor lacks is a sentence, so the model says "approximate" rather than guess in silence."""
    problems = feed.problems()
    if balances is None:
        problems.append("The model has no balances (/papi/v1/balance), so it has no equity.")
    um_mm = {p.key: p.maintMargin for p in account.positions} if account is not None else {}
    if risks is None and account is not None and account.open_positions:
        problems.append("The model has no mark prices (/papi/v1/um/positionRisk), so it leaves "
                        "out the UM positions.")
    cm_mm = {p.key: p.maintMargin for p in cm.positions} if cm is not None else {}
    if cm is not None and cm.open_positions and cm_risks is None:
        problems.append("The model has no COIN-M mark prices (/papi/v1/cm/positionRisk), so it "
                        "leaves out the COIN-M positions.")
    return RiskModel(Inputs(
        balances=_current(balances or (), account, cm),
        um=um_legs(risks or (), um_mm),
        cm=cm_legs(cm_risks or (), cm_mm),
        open_loss=(pm.totalMarginOpenLoss or Decimal(0)) if pm is not None else Decimal(0),
        reported_unimmr=pm.uniMMR if pm is not None else None,
        reconciled_gap=reconciled_gap,
        problems=tuple(problems),
        now_ms=now_ms,
        **feed.inputs(),
    ), thresholds)


def _current(balances: Sequence[Balance], account: UmAccount | None, cm: CmAccount | None) -> tuple[Balance, ...]:
    """The balances with their UM and COIN-M wallet and uPnL taken from the accounts of this
    refresh: /papi/v1/balance is polled more slowly than the positions, and its uPnL is the
    part of equity that moves with every price (the model would lag the market it prices)."""
    um = {a.asset: a for a in account.assets} if account is not None else {}
    coin = {a.asset: a for a in cm.assets} if cm is not None else {}
    fresh = []
    for b in balances:
        update: dict[str, Decimal] = {}
        if (u := um.get(b.asset)) is not None:
            update.update(umWalletBalance=u.crossWalletBalance, umUnrealizedPNL=u.crossUnPnl)
        if (c := coin.get(b.asset)) is not None:
            update.update(cmWalletBalance=c.crossWalletBalance, cmUnrealizedPNL=c.crossUnPnl)
        fresh.append(b.model_copy(update=update) if update else b)
    return tuple(fresh)


async def _nothing(client: PapiClient) -> None:
    """The index slot's placeholder: its fetch is _fetch_index's, per asset or all at once."""


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"
