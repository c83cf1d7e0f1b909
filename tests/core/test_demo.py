"""The demo exchange behaves like PAPI: signing, errors, weights, and a coherent moving account.

Requests are signed here by hand (hmac) so these tests do not depend on pmtui.client.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest

from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, LIQUIDATION_MMR, DemoExchange
from pmtui.health import Level
from pmtui.models import (
    decode_json,
    parse_cm_account,
    parse_cm_position_risk,
    parse_pm_account,
    parse_position_risk,
    parse_um_account,
)
from pmtui.settings import Thresholds
from pmtui.views import build_view

BASE = "https://papi.binance.com"
UM = "/papi/v2/um/account"
ACCOUNT = "/papi/v1/account"
RISK = "/papi/v1/um/positionRisk"
BALANCE = "/papi/v1/balance"
CM = "/papi/v1/cm/account"
CM_RISK = "/papi/v1/cm/positionRisk"
CENT_MICRO = Decimal("1E-8")
BANDS = ("NORMAL", "MARGIN_CALL", "REDUCE_ONLY", "ACTIVE_LIQUIDATION")


class Clock:
    """A settable clock: the exchange's notion of now, in seconds."""

    def __init__(self, t: float = 1_750_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    @property
    def ms(self) -> int:
        return int(self.t * 1000)


def signed_url(path: str, params: list[tuple[str, str]], secret: str = DEMO_API_SECRET) -> str:
    query = urlencode(params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{query}&signature={signature}"


class Demo:
    """A DemoExchange behind a real httpx.AsyncClient, with a fake clock."""

    def __init__(self, **kwargs) -> None:
        self.clock = Clock()
        self.exchange = DemoExchange(clock=self.clock, **kwargs)
        self.http = httpx.AsyncClient(transport=self.exchange, base_url=BASE)

    async def get(
        self,
        path: str,
        *,
        ts: int | None = None,
        recv_window: int | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        secret: str = DEMO_API_SECRET,
        key: str = DEMO_API_KEY,
    ) -> httpx.Response:
        params = [*extra, ("timestamp", str(self.clock.ms if ts is None else ts))]
        if recv_window is not None:
            params.append(("recvWindow", str(recv_window)))
        return await self.http.get(signed_url(path, params, secret), headers={"X-MBX-APIKEY": key})

    async def data(self, path: str, **kwargs):
        resp = await self.get(path, **kwargs)
        assert resp.status_code == 200, resp.text
        return decode_json(resp.content)

    async def round(self):
        """One poll round: every priced endpoint once, all from the same market step."""
        um = parse_um_account(await self.data(UM))
        account = parse_pm_account(await self.data(ACCOUNT))
        risk = parse_position_risk(await self.data(RISK))
        balance = await self.data(BALANCE)
        return um, account, risk, balance


@pytest.fixture
async def demo():
    made: list[Demo] = []

    def make(**kwargs) -> Demo:
        kwargs.setdefault("seed", 7)
        made.append(Demo(**kwargs))
        return made[-1]

    yield make
    for d in made:
        await d.http.aclose()


def error_of(resp: httpx.Response) -> int:
    body = resp.json()
    assert set(body) == {"code", "msg"} and body["msg"], body
    return body["code"]


# --- shape of a healthy account ------------------------------------------------------------------


async def test_um_account_is_the_whole_market_with_a_realistic_book(demo):
    d = demo(symbols=300)
    resp = await d.get(UM)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    um = parse_um_account(decode_json(resp.content))

    assert len(um.positions) == 300 and len({p.symbol for p in um.positions}) == 300
    assert {p.positionSide for p in um.positions} == {"BOTH"} and not um.hedge_mode
    opened = um.open_positions
    assert 10 <= len(opened) <= 14
    assert any(p.positionAmt > 0 for p in opened) and any(p.positionAmt < 0 for p in opened)
    assert sum(abs(p.notional) >= 400_000 for p in opened) >= 3, "several large positions"
    assert sum(p.unrealizedProfit < 0 for p in opened) >= 2, "some losing"
    assert sum(p.unrealizedProfit > 0 for p in opened) >= 2, "some winning"
    assert any(p.symbol.endswith("USDC") for p in opened), "a USDC-margined position"
    for p in opened:
        assert (p.notional > 0) == (p.positionAmt > 0), "notional is signed like the amount"
        assert p.updateTime > 0 and p.maintMargin > 0 and p.initialMargin > p.maintMargin
        # Maintenance tiers run from 0.4% to 2.5% of notional (to the 1e-8 rounding).
        assert abs(p.notional) * Decimal("0.004") - CENT_MICRO <= p.maintMargin <= abs(p.notional) * Decimal("0.025")
    for p in um.positions:
        if not p.is_open:
            assert p.notional == 0 and p.unrealizedProfit == 0 and p.updateTime == 0

    assets = {a.asset: a for a in um.assets}
    assert {"USDT", "USDC"} <= set(assets)
    assert assets["USDT"].crossWalletBalance > 0 and assets["USDC"].crossWalletBalance > 0
    assert any(a.is_zero for a in um.assets), "a zero asset row, as Binance lists collateral it holds none of"
    assert sum(a.openOrderInitialMargin > 0 for a in um.assets) == 1
    for a in um.assets:
        assert a.initialMargin == a.positionInitialMargin + a.openOrderInitialMargin


async def test_account_is_healthy_in_the_normal_scenario(demo):
    d = demo()
    account = parse_pm_account(await d.data(ACCOUNT))
    assert 7 <= account.uniMMR <= 15
    assert account.accountStatus == "NORMAL"
    assert account.uniMMR == (account.accountEquity / account.accountMaintMargin).quantize(Decimal("1E-8"))
    assert account.actualEquity == account.accountEquity
    assert 0 < account.accountMaintMargin < account.accountInitialMargin < account.accountEquity
    assert account.totalAvailableBalance == account.accountEquity - account.accountInitialMargin
    assert account.updateTime > 0


async def test_small_markets_still_work(demo):
    for hedge in (False, True):
        d = demo(symbols=3, hedge=hedge)
        um, account, risk, _ = await d.round()
        assert len(um.positions) == 3 * (2 if hedge else 1)
        assert um.open_positions and len(risk) == len(um.open_positions)
        assert account.uniMMR > 1


#: Real Binance USD-M perpetuals the demo must list, in its first few hundred symbols.
REAL_NAMES = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "1000PEPEUSDT", "ADAUSDT",
              "LINKUSDT", "AVAXUSDT", "SUIUSDT", "WIFUSDT", "BTCUSDC", "ETHUSDC"}


async def test_the_market_is_real_symbols_then_clearly_derived_ones():
    from pmtui.demo import _NAMED

    d = DemoExchange(seed=5, symbols=300)
    names = [s.name for s in d._market]
    assert REAL_NAMES <= set(names) and len(_NAMED) >= 300
    assert all(re.fullmatch(r"(1000|1M)?[A-Z0-9]{1,12}(USDT|USDC)", n) for n in names)
    assert not any(n.startswith("DEMO") for n in names)  # 300: every one a real name
    big = DemoExchange(seed=5, symbols=1000, hedge=True)
    derived = [s.name for s in big._market[len(_NAMED):]]
    assert len(derived) == 1000 - len(_NAMED) and all(re.fullmatch(r"DEMO\d{4}USDT", n) for n in derived)
    held = {leg.symbol.name for leg in big._legs}
    assert held and not held & set(derived), "a position only ever on a real name"
    # Derived names take no draws from the seed: past the real list, more symbols, the same book.
    assert ([(leg.symbol.name, leg.amt) for leg in DemoExchange(seed=5, symbols=len(_NAMED))._legs]
            == [(leg.symbol.name, leg.amt) for leg in DemoExchange(seed=5, symbols=1000)._legs])


async def test_exchange_info_lists_every_symbol_with_its_tick_and_step(demo):
    from pmtui.market import parse_exchange_info

    d = demo(symbols=60)
    resp = await d.http.get("/fapi/v1/exchangeInfo")  # public: no key, no signature
    assert resp.status_code == 200
    markets = parse_exchange_info(decode_json(resp.content))
    um = parse_um_account(await d.data(UM))
    assert set(markets) == {p.symbol for p in um.positions}
    assert (markets["BTCUSDT"].tick_size, markets["BTCUSDT"].step_size) == (Decimal("0.1"), Decimal("0.001"))
    assert markets["1000PEPEUSDT"].tick_size == Decimal("1E-7") and markets["1000PEPEUSDT"].step_size == 1
    # Every price the demo sends sits on (entry: near) its tick; every amount on its step.
    for r in parse_position_risk(await d.data(RISK)):
        rules = markets[r.symbol]
        assert r.positionAmt % rules.step_size == 0, r.symbol
        assert rules.tick_size <= r.markPrice * Decimal("0.001"), r.symbol  # a tick of ~1 bp or finer


async def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        DemoExchange(scenario="moon")
    with pytest.raises(ValueError):
        DemoExchange(symbols=0)


# --- signing, keys, clocks -----------------------------------------------------------------------


async def test_wrong_or_missing_key_is_401_2015(demo):
    d = demo()
    for key in ("not-the-key", ""):
        resp = await d.get(UM, key=key)
        assert resp.status_code == 401 and error_of(resp) == -2015


async def test_custom_credentials_replace_the_demo_ones(demo):
    d = demo(api_key="k2", api_secret="s2")
    assert (await d.get(ACCOUNT, key="k2", secret="s2")).status_code == 200
    assert (await d.get(ACCOUNT)).status_code == 401
    resp = await d.get(ACCOUNT, key="k2")  # right key, demo secret
    assert resp.status_code == 400 and error_of(resp) == -1022


async def test_bad_signatures_are_1022(demo):
    d = demo()
    resp = await d.get(UM, secret="some-other-secret")
    assert resp.status_code == 400 and error_of(resp) == -1022

    good = signed_url(UM, [("timestamp", str(d.clock.ms))])
    headers = {"X-MBX-APIKEY": DEMO_API_KEY}
    assert (await d.http.get(good, headers=headers)).status_code == 200
    # The signature must come last: a parameter after it is not covered by it.
    resp = await d.http.get(good + "&recvWindow=5000", headers=headers)
    assert resp.status_code == 400 and error_of(resp) == -1022
    # A tampered parameter breaks the signature.
    resp = await d.http.get(good.replace("timestamp=", "timestamp=0"), headers=headers)
    assert error_of(resp) == -1022
    # No signature at all: a missing mandatory parameter, as Binance says.
    resp = await d.http.get(f"{UM}?timestamp={d.clock.ms}", headers=headers)
    assert resp.status_code == 400 and error_of(resp) == -1102


async def test_signature_covers_the_raw_query_in_order(demo):
    d = demo()
    # Same parameters, different order: each signed as sent, both valid.
    for params in ([("recvWindow", "5000"), ("timestamp", str(d.clock.ms))],
                   [("timestamp", str(d.clock.ms)), ("recvWindow", "5000")]):
        resp = await d.http.get(signed_url(ACCOUNT, params), headers={"X-MBX-APIKEY": DEMO_API_KEY})
        assert resp.status_code == 200


async def test_timestamp_is_required(demo):
    d = demo()
    url = signed_url(UM, [("recvWindow", "5000")])
    resp = await d.http.get(url, headers={"X-MBX-APIKEY": DEMO_API_KEY})
    assert resp.status_code == 400 and error_of(resp) == -1102
    url = signed_url(UM, [("timestamp", "soon")])
    assert error_of(await d.http.get(url, headers={"X-MBX-APIKEY": DEMO_API_KEY})) == -1102


async def test_stale_and_future_timestamps_are_1021(demo):
    d = demo()
    now = d.clock.ms
    assert (await d.get(UM, ts=now - 4_900)).status_code == 200
    assert (await d.get(UM, ts=now + 900)).status_code == 200
    for ts in (now - 5_100, now + 1_000, now + 60_000):
        resp = await d.get(UM, ts=ts)
        assert resp.status_code == 400 and error_of(resp) == -1021, ts
    # A wider recvWindow lets an older timestamp through.
    assert (await d.get(UM, ts=now - 9_000, recv_window=10_000)).status_code == 200
    assert error_of(await d.get(UM, ts=now - 11_000, recv_window=10_000)) == -1021


async def test_recv_window_is_capped_at_60000(demo):
    d = demo()
    assert (await d.get(UM, ts=d.clock.ms - 59_000, recv_window=60_000)).status_code == 200
    resp = await d.get(UM, recv_window=60_001)
    assert resp.status_code == 400 and error_of(resp) == -1102


async def test_the_server_clock_is_the_injected_one(demo):
    d = demo()
    d.clock.t += 3600  # an hour later on the exchange: our "now" is now an hour stale
    assert error_of(await d.get(UM, ts=d.clock.ms - 3_600_000)) == -1021
    resp = await d.http.get("/fapi/v1/time")
    assert resp.status_code == 200 and resp.json() == {"serverTime": d.clock.ms}
    assert "date" in resp.headers


async def test_ping_is_unsigned(demo):
    d = demo()
    resp = await d.http.get("/papi/v1/ping")
    assert resp.status_code == 200 and resp.json() == {}


async def test_only_get_on_known_paths(demo):
    d = demo()
    resp = await d.http.post(signed_url(UM, [("timestamp", str(d.clock.ms))]),
                             headers={"X-MBX-APIKEY": DEMO_API_KEY})
    assert resp.status_code == 405 and error_of(resp) < 0
    resp = await d.http.delete("/papi/v1/ping")
    assert resp.status_code == 405
    resp = await d.get("/papi/v1/um/order")
    assert resp.status_code == 404 and error_of(resp) < 0
    assert resp.headers["content-type"].startswith("application/json")


async def test_paths_are_host_agnostic():
    exchange = DemoExchange(seed=1, clock=Clock())
    async with httpx.AsyncClient(transport=exchange, base_url="http://127.0.0.1:9") as http:
        assert (await http.get("/papi/v1/ping")).status_code == 200


# --- weights and counters ------------------------------------------------------------------------


async def test_used_weight_is_a_sliding_minute(demo):
    d = demo()
    weights = []
    for path in (UM, ACCOUNT, RISK, BALANCE):
        weights.append(int((await d.get(path)).headers["X-MBX-USED-WEIGHT-1M"]))
    assert weights == [5, 25, 30, 50]
    assert (await d.http.get("/papi/v1/ping")).headers["X-MBX-USED-WEIGHT-1M"] == "51"
    # Failed requests cost weight too.
    assert (await d.get(UM, key="wrong")).headers["X-MBX-USED-WEIGHT-1M"] == "56"
    d.clock.t += 30
    assert (await d.get(UM)).headers["X-MBX-USED-WEIGHT-1M"] == "61"
    d.clock.t += 31  # the first six requests are now more than a minute old
    assert (await d.get(UM)).headers["X-MBX-USED-WEIGHT-1M"] == "10"
    assert d.exchange.requests == 8


# --- modes, motion, consistency ------------------------------------------------------------------


async def test_hedge_mode_has_long_and_short_rows_for_every_symbol(demo):
    d = demo(hedge=True, symbols=300)
    um, _, risk, _ = await d.round()
    assert len(um.positions) == 600 and um.hedge_mode
    sides: dict[str, set[str]] = {}
    for p in um.positions:
        sides.setdefault(p.symbol, set()).add(p.positionSide)
        if p.positionSide == "LONG":
            assert p.positionAmt >= 0 and p.notional >= 0
        else:
            assert p.positionSide == "SHORT" and p.positionAmt <= 0 and p.notional <= 0
    assert len(sides) == 300 and all(s == {"LONG", "SHORT"} for s in sides.values())
    open_sides: dict[str, set[str]] = {}
    for p in um.open_positions:
        open_sides.setdefault(p.symbol, set()).add(p.positionSide)
    assert sum(s == {"LONG", "SHORT"} for s in open_sides.values()) >= 2
    # Both legs of a symbol share one cross-margin liquidation price.
    liq: dict[str, set[Decimal]] = {}
    for r in risk:
        assert r.positionSide in ("LONG", "SHORT")
        liq.setdefault(r.symbol, set()).add(r.liquidationPrice)
    assert all(len(v) == 1 for v in liq.values())


async def test_prices_move_between_consecutive_calls(demo):
    d = demo()
    first = parse_um_account(await d.data(UM))
    second = parse_um_account(await d.data(UM))
    before = {p.key: p for p in first.open_positions}
    after = {p.key: p for p in second.open_positions}
    assert before.keys() == after.keys()
    assert sum(before[k].notional != after[k].notional for k in before) >= len(before) - 1
    assert all(before[k].positionAmt == after[k].positionAmt for k in before)

    marks = [{r.key: r.markPrice for r in parse_position_risk(await d.data(RISK))} for _ in range(2)]
    assert marks[0] != marks[1]
    mmr = [parse_pm_account(await d.data(ACCOUNT)).uniMMR for _ in range(2)]
    assert mmr[0] != mmr[1]
    # A few bp per step, not jumps.
    for key, mark in marks[0].items():
        assert abs(marks[1][key] / mark - 1) < Decimal("0.005")


async def test_endpoints_of_one_round_agree(demo):
    for hedge in (False, True):
        d = demo(hedge=hedge)
        for _ in range(3):  # and keep agreeing as the market moves
            um, account, risk, balance = await d.round()
            cm = parse_cm_account(await d.data(CM))  # the same step: not asked yet this round
            cm_risk = parse_cm_position_risk(await d.data(CM_RISK))
            check_round(um, account, risk, balance, (cm, cm_risk))


def cm_usd(cm, cm_risk) -> tuple[Decimal, Decimal, Decimal]:
    """The COIN-M account's (equity, maintenance, initial margin) in USD at its mark, each rounded
    to 1e-8 as the demo adds them to the account's."""
    (p,) = cm.open_positions
    (r,) = [r for r in cm_risk if r.key == p.key]
    (btc,) = [a for a in cm.assets if a.asset == "BTC"]
    usd = [(v * r.markPrice).quantize(CENT_MICRO) for v in (btc.margin_balance, btc.maintMargin, btc.initialMargin)]
    return usd[0], usd[1], usd[2]


def check_round(um, account, risk, balance, cm_parts=None) -> None:
    positions = {p.key: p for p in um.open_positions}
    rows = {r.key: r for r in risk}
    assert positions.keys() == rows.keys() and positions
    for key, p in positions.items():
        r = rows[key]
        assert (r.positionAmt, r.notional, r.unRealizedProfit) == (p.positionAmt, p.notional, p.unrealizedProfit)
        assert abs(r.positionAmt * (r.markPrice - r.entryPrice) - r.unRealizedProfit) < Decimal("1E-7")
        assert abs(r.positionAmt * r.markPrice - r.notional) < Decimal("1E-7")
        assert r.liquidationPrice >= 0 and r.leverage >= 1
        assert abs(r.notional) <= r.maxNotionalValue
        assert abs(p.initialMargin - abs(p.notional) / r.leverage) < Decimal("1E-7")

    for a in um.assets:
        mine = [p for p in positions.values() if p.symbol.endswith(a.asset)]
        assert a.crossUnPnl == sum((p.unrealizedProfit for p in mine), Decimal(0))
        assert a.maintMargin == sum((p.maintMargin for p in mine), Decimal(0))
        assert a.positionInitialMargin == sum((p.initialMargin for p in mine), Decimal(0))

    equity = sum((a.crossWalletBalance + a.crossUnPnl for a in um.assets), Decimal(0))
    # Cross margin counts too: its cash, less the loan and its interest (the demo's USDT loan).
    equity += sum((Decimal(r["crossMarginFree"]) + Decimal(r["crossMarginLocked"]) - Decimal(r["crossMarginBorrowed"])
                   - Decimal(r["crossMarginInterest"]) for r in balance), Decimal(0))
    maint = sum((a.maintMargin for a in um.assets), Decimal(0))
    # The loan's maintenance margin too: Binance's ΣMarginMM = loan x MMR (5% at the demo's 10x).
    maint += sum(((Decimal(r["crossMarginBorrowed"]) + Decimal(r["crossMarginInterest"])) * Decimal("0.05")
                  ).quantize(Decimal("1E-8"), rounding="ROUND_FLOOR") for r in balance)
    initial = sum((a.initialMargin for a in um.assets), Decimal(0))
    if cm_parts is not None:
        # The COIN-M position's parts, in USD at its mark, are the account's too (within the
        # rounding of one coin unit of 1e-8 at the mark).
        cm_equity, cm_maint, cm_initial = cm_usd(*cm_parts)
        tolerance = Decimal("1E-6")
        assert abs(account.accountEquity - equity - cm_equity) < tolerance
        assert abs(account.accountMaintMargin - maint - cm_maint) < tolerance
        assert abs(account.accountInitialMargin - initial - cm_initial) < tolerance
        equity, maint, initial = account.accountEquity, account.accountMaintMargin, account.accountInitialMargin
    assert account.accountEquity == equity
    assert account.accountMaintMargin == maint
    assert account.accountInitialMargin == initial
    assert account.uniMMR == (equity / account.accountMaintMargin).quantize(Decimal("1E-8"))

    by_asset = {row["asset"]: row for row in balance}
    for a in um.assets:
        assert Decimal(by_asset[a.asset]["umUnrealizedPNL"]) == a.crossUnPnl
        assert Decimal(by_asset[a.asset]["umWalletBalance"]) == a.crossWalletBalance


@pytest.mark.parametrize("seed", [6, 7, 18])  # books with far-off prices that cross margin tiers
async def test_liquidation_price_estimate(demo, seed):
    """At the quoted price the account's uniMMR is 1.05, where Binance liquidates: what equity
    then leaves over 1.05 times the other positions' margin is 1.05 times this one's maintenance
    margin at that price, between 0.4% and 2.5% of its notional there."""
    d = demo(seed=seed)
    um, account, risk, _ = await d.round()
    margins = {p.key: p.maintMargin for p in um.open_positions}
    checked = 0
    for r in risk:
        if r.liquidationPrice == 0:
            assert r.positionAmt > 0, "a short always has a price that ruins it"
            continue
        assert (r.liquidationPrice < r.markPrice) == (r.positionAmt > 0)
        equity_then = account.accountEquity + r.positionAmt * (r.liquidationPrice - r.markPrice)
        left_for_this = equity_then / Decimal("1.05") - (account.accountMaintMargin - margins[r.key])
        notional_then = abs(r.positionAmt) * r.liquidationPrice
        tolerance = Decimal("1E-6") * (1 + account.accountEquity)
        assert notional_then * Decimal("0.004") - tolerance <= left_for_this, r
        assert left_for_this <= notional_then * Decimal("0.025") + tolerance, r
        checked += 1
    assert checked >= 3


async def test_position_risk_and_balance_filters(demo):
    d = demo()
    rows = await d.data(RISK, extra=(("symbol", "BTCUSDT"),))
    assert [r["symbol"] for r in rows] == ["BTCUSDT"]
    assert await d.data(RISK, extra=(("symbol", "NOPEUSDT"),)) == []
    usdc = await d.data(BALANCE, extra=(("asset", "USDC"),))
    assert usdc["asset"] == "USDC" and Decimal(usdc["totalWalletBalance"]) > 0


# --- scenarios -----------------------------------------------------------------------------------


async def statuses(d: Demo, rounds: int, *, jump_clock: bool = False) -> list[tuple[str, Decimal]]:
    out = []
    for i in range(rounds):
        if jump_clock:
            d.clock.t += 1 + (i * 7919) % 600  # wall time says nothing about the scenario
        await d.data(UM)
        account = parse_pm_account(await d.data(ACCOUNT))
        out.append((account.accountStatus, account.uniMMR))
    return out


@pytest.mark.parametrize("seed,hedge", [(1, False), (2, True), (3, False)])
async def test_margin_call_passes_through_every_band_and_recovers(demo, seed, hedge):
    seen = await statuses(demo(scenario="margin-call", seed=seed, hedge=hedge), 140)
    for status, mmr in seen:  # the status is the band the reported uniMMR sits in
        expect = ("NORMAL" if mmr > Decimal("1.5") else "MARGIN_CALL" if mmr > Decimal("1.2")
                  else "REDUCE_ONLY" if mmr > Decimal("1.05") else "ACTIVE_LIQUIDATION")
        assert status == expect, (status, mmr)
    assert seen[0][0] == "NORMAL" and Decimal("9.5") < seen[0][1] < Decimal("10.5")
    names = [s for s, _ in seen]
    first = [names.index(band) for band in BANDS[1:]]
    assert 20 < first[0] < first[1] < first[2] <= 90, first
    assert first[2] >= 60, "the slide takes a couple of minutes at a 2 s poll"
    assert "NORMAL" in names[first[2]:], "and recovers"
    assert Decimal("0.8") < min(m for _, m in seen) < Decimal("1.03"), "deep enough, not a wipe-out"


async def liquidation_check(d: Demo) -> int:
    """Move each position's mark alone to its quoted liquidation price: by the demo's own
    arithmetic (`what_if`) the account's uniMMR is then 1.05. How many prices were checked."""
    risk = parse_position_risk(await d.data(RISK))
    cm_risk = parse_cm_position_risk(await d.data(CM_RISK))
    quoted = {r.symbol: r.liquidationPrice for r in (*risk, *cm_risk) if r.liquidationPrice}
    for symbol, price in quoted.items():
        moved = d.exchange.what_if({symbol: float(price)}).uni_mmr
        assert abs(moved - Decimal("1.05")) < Decimal("1E-6"), (symbol, price, moved)
    return len(quoted)


@pytest.mark.parametrize("kwargs", [
    dict(seed=7), dict(seed=18), dict(seed=2, hedge=True), dict(seed=303, unimmr=2.0),
    dict(seed=3, scenario="margin-call", step=31),  # DANGER, on the way down
    dict(seed=3, scenario="margin-call", step=60),  # uniMMR 1.2, deep in CRITICAL
])
async def test_liquidation_prices_follow_from_equity_and_margin(demo, kwargs):
    """A liquidation price is where the cross-margined account's uniMMR reaches 1.05 if that
    symbol's mark alone moves there (COIN-M's too): so uniMMR and the distance to liquidation
    on screen tell one story."""
    assert LIQUIDATION_MMR == 1.05
    d = demo(symbols=60, **kwargs)
    assert await liquidation_check(d) >= 3


async def test_a_concentrated_book_at_unimmr_2_is_close_to_liquidation(demo):
    """The demo's book holds most of its margin in BTC, at a maintenance rate near 1.6%: uniMMR 2
    leaves equity about 3% of BTCUSDT's notional over what Binance liquidates at, so it is a few
    percent from liquidation; at uniMMR 10 about 30%."""
    for unimmr, low, high in ((2.0, "0.02", "0.04"), (10.0, "0.25", "0.35")):
        risk = parse_position_risk(await demo(seed=303, unimmr=unimmr).data(RISK))
        btc = next(r for r in risk if r.symbol == "BTCUSDT")
        distance = abs(btc.markPrice - btc.liquidationPrice) / btc.markPrice
        assert Decimal(low) < distance < Decimal(high), (unimmr, distance)


async def verdicts(d: Demo, steps: int) -> list[Level]:
    """pmtui's verdict (default thresholds) on each poll round, from every endpoint it reads."""
    out = []
    for _ in range(steps):
        um = parse_um_account(await d.data(UM))
        pm = parse_pm_account(await d.data(ACCOUNT))
        risk = parse_position_risk(await d.data(RISK))
        cm = parse_cm_account(await d.data(CM))
        cm_risk = parse_cm_position_risk(await d.data(CM_RISK))
        view = build_view(um, Thresholds(), risks=risk, pm=pm, cm=cm, cm_risks=cm_risk)
        out.append(view.verdict().level)
    return out


def runs(levels: list[Level]) -> list[tuple[Level, int]]:
    """Consecutive equal levels as (level, how many steps)."""
    out: list[tuple[Level, int]] = []
    for level in levels:
        if out and out[-1][0] == level:
            out[-1] = (level, out[-1][1] + 1)
        else:
            out.append((level, 1))
    return out


@pytest.mark.parametrize("seed,hedge", [(1, False), (2, True), (303, False)])
async def test_margin_call_verdict_visits_every_level_and_comes_back(demo, seed, hedge):
    """The margin-call scenario, one step a poll round (the scenario's clock): pmtui's own
    verdict, liquidation distance included, goes OK, WARN, DANGER, CRITICAL and back to OK in one
    cycle of 126 steps (about four minutes at the default 2 s refresh), each level long enough to
    watch: at least 8 steps (16 s), the way down 15 steps (30 s) a level."""
    seen = runs(await verdicts(demo(scenario="margin-call", seed=seed, hedge=hedge, symbols=60), 126))
    levels = [level for level, _ in seen]
    assert levels == [Level.OK, Level.WARN, Level.DANGER, Level.CRITICAL, Level.DANGER, Level.WARN, Level.OK], seen
    assert all(n >= 8 for _, n in seen), seen
    assert all(n >= 15 for _, n in seen[:3]), seen
    assert seen[-1][1] >= 15, "an all-clear that lasts before the next slide"


async def test_margin_call_can_start_part_way(demo):
    """`step` starts the scenario's clock part way into the cycle: at step 46 it is CRITICAL."""
    assert (await verdicts(demo(scenario="margin-call", seed=1, symbols=60, step=46), 1)) == [Level.CRITICAL]
    assert (await verdicts(demo(scenario="margin-call", seed=1, symbols=60, step=126), 1)) == [Level.OK]


async def test_margin_call_depends_on_calls_not_time(demo):
    steady = await statuses(demo(scenario="margin-call", seed=5), 90)
    jumpy = await statuses(demo(scenario="margin-call", seed=5), 90, jump_clock=True)
    assert steady == jumpy


async def test_normal_scenario_stays_healthy(demo):
    for seed in (1, 2):
        seen = await statuses(demo(seed=seed), 200)
        assert {s for s, _ in seen} == {"NORMAL"}
        mmrs = [m for _, m in seen]
        assert all(7 <= m <= 15 for m in mmrs) and len(set(mmrs)) > 150


# --- determinism ---------------------------------------------------------------------------------


async def bodies(d: Demo, n: int = 3) -> list[bytes]:
    out = []
    for _ in range(n):
        for path in (UM, ACCOUNT, RISK, BALANCE):
            out.append((await d.get(path)).content)
    return out


async def test_a_seed_replays_exactly(demo):
    assert await bodies(demo(seed=11)) == await bodies(demo(seed=11))
    assert await bodies(demo(seed=11)) != await bodies(demo(seed=12))
    random_one = demo(seed=None)
    assert isinstance(random_one.exchange.seed, int)
    assert await bodies(random_one) == await bodies(demo(seed=random_one.exchange.seed))


# --- wire format ---------------------------------------------------------------------------------

DECIMAL = re.compile(r"-?\d+(\.\d+)?")
BALANCE_8DP = re.compile(r"-?\d+\.\d{8}")
TEXT_FIELDS = {"symbol", "asset", "positionSide", "accountStatus"}


def check_fields(row: dict) -> None:
    for field, value in row.items():
        if field == "updateTime":
            assert type(value) is int and value >= 0, (field, value)
        elif field in TEXT_FIELDS:
            assert isinstance(value, str) and value
        else:
            assert isinstance(value, str) and DECIMAL.fullmatch(value), (field, value)


async def test_every_money_field_is_a_decimal_string(demo):
    for hedge in (False, True):
        d = demo(hedge=hedge)
        um = await d.data(UM)
        account = await d.data(ACCOUNT)
        rows = [*um["assets"], *um["positions"], account, *await d.data(RISK), *await d.data(BALANCE)]
        for row in rows:
            check_fields(row)
        for asset in um["assets"]:
            for field in ("crossWalletBalance", "crossUnPnl", "maintMargin", "initialMargin"):
                assert BALANCE_8DP.fullmatch(asset[field]), (field, asset[field])
        assert BALANCE_8DP.fullmatch(account["accountEquity"]) and BALANCE_8DP.fullmatch(account["uniMMR"])
        # Amounts carry the symbol's precision, not a float's noise.
        btc = next(p for p in um["positions"] if p["symbol"] == "BTCUSDT" and p["positionAmt"] != "0")
        assert re.fullmatch(r"-?\d+\.\d{3}", btc["positionAmt"])
