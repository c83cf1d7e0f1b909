"""An embedded, simulated Binance Portfolio Margin exchange, served as an httpx transport.

    client = httpx.AsyncClient(transport=DemoExchange(seed=1), base_url="https://papi.binance.com")

runs pmtui's real client code with no network and no real keys: requests are signed and checked
the way Binance checks them, request weight is counted, and the account's prices move.

One COIN-M position rides along (BTCUSD_PERP, inverse: 100 USD a contract, margined in BTC, its
mark the demo's BTC price): served by /papi/v1/cm/account and /papi/v1/cm/positionRisk, and its
margin balance and maintenance margin, in USD at the mark, are part of the account's equity and
maintenance margin (so of uniMMR), as in a real Portfolio Margin account.

It streams too: POST/PUT/DELETE /papi/v1/listenKey answer as Binance's do, and `connect` is an
in-memory stand-in for `websockets.asyncio.client.connect` (pass `connect=exchange.connect` to
pmtui.stream.UserStream). As the market steps it pushes an ACCOUNT_UPDATE now and then (a
funding fee), and a riskLevelChange whenever uniMMR crosses one of Binance's bands.

The account also holds one cross-margin loan (USDT, held as free cross-margin cash, its interest
accruing each step; see _LOAN_SHARE): /papi/v1/balance shows it, and equity (so uniMMR) carries
its interest.

The market moves in *steps*. Each priced endpoint (UM account, account, positionRisk, balance) sees
the same snapshot until that endpoint is asked again, which advances the market one step. So the
endpoints of one refresh agree with each other exactly, while any endpoint asked twice in a row shows
new prices, and one step is one poll round whatever mix of endpoints the poller uses. The
"margin-call" scenario is a function of the step count, never of wall time, so tests replay it
exactly.

Simulation arithmetic is float (speed); every money figure is then held in integer units of 1e-8 so
that the strings sent and the sums over them (crossUnPnl, accountEquity...) agree to the last digit.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import math
import random
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from pmtui.demo import ledger as demo_ledger
from pmtui.demo import queue as demo_queue
from pmtui.demo import risk as demo_risk
from pmtui.health import Level, verdict
from pmtui.settings import MAX_RECV_WINDOW as _MAX_RECV_WINDOW
from pmtui.settings import Thresholds

#: The path the public mark price stream ends with (pmtui.markstream.MARK_PRICE_PATH).
MARK_STREAM_SUFFIX = "!markPrice@arr@1s"
#: COIN-M's documented mark price stream, one pair's symbols: `<pair>@markPrice@1s`, read as a
#: combined stream `/stream?streams=btcusd@markPrice@1s/...` (pmtui.markstream.pairs_url).
PAIR_STREAM_SUFFIX = "@markPrice@1s"

# Obviously fake, and shaped nothing like a real 64-character Binance key or secret.
DEMO_API_KEY = "pmtui-demo-key"
DEMO_API_SECRET = "pmtui-demo-secret"

SCENARIOS = ("normal", "margin-call")
#: The accounts `--demo --all-profiles` watches, one per level, each on its own seed: "alpha" opens
#: normal (OK), "bravo" at a uniMMR whose largest position sits in the liquidation distance's WARN
#: band, "charlie" at uniMMR 2 (CRITICAL: status NORMAL, but with its book this concentrated
#: BTCUSDT is about 3% from liquidation).
DEMO_ACCOUNTS: dict[str, dict[str, Any]] = {
    "alpha": {"seed": 101, "scenario": "normal"},
    "bravo": {"seed": 202, "scenario": "normal", "unimmr": 7.0},
    "charlie": {"seed": 303, "scenario": "normal", "unimmr": 2.0},
}

_UNIT = 10**8  # money is held as integer units of 1e-8, Binance's balance precision
_JSON_SEPARATORS = (",", ":")

# --- the market --------------------------------------------------------------------------------

# Well-known bases: reference price, price decimals, quantity decimals.
_BASES: dict[str, tuple[float, int, int]] = {
    "BTC": (64850.0, 1, 3), "ETH": (3412.0, 2, 3), "SOL": (148.3, 2, 0), "BNB": (581.4, 2, 2),
    "XRP": (0.5234, 4, 1), "DOGE": (0.12345, 5, 0), "ADA": (0.4521, 4, 0), "AVAX": (35.12, 3, 0),
    "LINK": (14.52, 3, 2), "DOT": (6.987, 3, 1), "LTC": (81.23, 2, 3), "TRX": (0.12121, 5, 0),
    "BCH": (382.5, 2, 3), "ATOM": (8.123, 3, 2), "NEAR": (5.512, 3, 0), "APT": (8.95, 4, 1),
    "ARB": (1.1023, 4, 1), "OP": (2.312, 4, 1), "SUI": (1.0345, 4, 1), "FIL": (5.812, 3, 1),
    "INJ": (24.85, 3, 1), "UNI": (7.512, 3, 0), "AAVE": (95.4, 2, 1), "ETC": (26.14, 3, 2),
    "1000PEPE": (0.010523, 7, 0), "WIF": (2.4123, 4, 1), "TIA": (7.89, 4, 0), "SEI": (0.4512, 4, 0),
    "ORDI": (35.21, 3, 1), "TON": (6.512, 4, 1), "FET": (1.512, 4, 0), "RUNE": (5.123, 3, 0),
    "LDO": (1.912, 4, 0), "STX": (1.823, 4, 0), "XLM": (0.1045, 5, 0), "HBAR": (0.0812, 5, 0),
}
# More real Binance USD-M perpetuals, each with a plausible reference price; their tick gives a
# price about 4-5 significant digits, their step about a dollar or less (see _precisions).
_MORE_BASES: dict[str, float] = {
    "POL": 0.4215, "ICP": 9.124, "RENDER": 6.852, "IMX": 1.452, "GRT": 0.18512, "ALGO": 0.14523,
    "VET": 0.024512, "SAND": 0.3121, "MANA": 0.3254, "AXS": 5.421, "THETA": 1.3215, "EGLD": 32.51,
    "FLOW": 0.6123, "XTZ": 0.7215, "EOS": 0.5521, "KAVA": 0.4215, "NEO": 10.21, "IOTA": 0.16512,
    "ZEC": 24.51, "DASH": 24.12, "COMP": 52.41, "MKR": 2150.0, "SNX": 1.6215, "CRV": 0.28512,
    "1INCH": 0.3215, "SUSHI": 0.7215, "YFI": 5850.0, "BAL": 2.1521, "ZRX": 0.38215, "ENJ": 0.17521,
    "CHZ": 0.072151, "GALA": 0.024512, "APE": 0.8215, "GMT": 0.16512, "DYDX": 1.3521, "BLUR": 0.22151,
    "PENDLE": 3.8521, "JTO": 2.4512, "JUP": 0.8215, "PYTH": 0.32151, "STRK": 0.5521, "W": 0.28512,
    "ENA": 0.4521, "ETHFI": 1.8521, "ZRO": 3.1215, "ZK": 0.14512, "NOT": 0.012512, "IO": 2.1521,
    "BOME": 0.0072151, "1000SHIB": 0.017251, "1000BONK": 0.022151, "1000FLOKI": 0.13851,
    "MEME": 0.014512, "WLD": 2.1521, "ARKM": 1.5215, "CYBER": 4.1215, "ID": 0.42151, "EDU": 0.62151,
    "AI": 0.52151, "XAI": 0.32151, "MANTA": 0.9215, "ALT": 0.14512, "DYM": 1.4215, "PIXEL": 0.21512,
    "PORTAL": 0.38215, "AEVO": 0.42151, "SAGA": 1.3215, "TAO": 285.5, "OMNI": 8.121, "REZ": 0.062151,
    "BB": 0.32151, "LISTA": 0.42151, "ZETA": 0.65121, "ONDO": 0.9521, "RSR": 0.0065121,
    "CKB": 0.012512, "ROSE": 0.095121, "CFX": 0.16512, "MINA": 0.52151, "QNT": 68.52, "ASTR": 0.062151,
    "KSM": 24.51, "ONE": 0.015215, "ZIL": 0.016512, "HOT": 0.0018512, "IOST": 0.0072151,
    "ANKR": 0.028512, "CELO": 0.62151, "CELR": 0.013512, "COTI": 0.085121, "DENT": 0.00095121,
    "SKL": 0.042151, "STORJ": 0.38215, "BAT": 0.18012, "KNC": 0.52151, "LRC": 0.13512, "MASK": 2.4512,
    "OGN": 0.092151, "RVN": 0.019512, "SXP": 0.24512, "WOO": 0.18512, "JASMY": 0.024512,
    "ACH": 0.018512, "API3": 1.6215, "AUDIO": 0.15212, "BAND": 1.1215, "BICO": 0.25121, "C98": 0.15512,
    "CHR": 0.18512, "CTSI": 0.13512, "DUSK": 0.22151, "GTC": 0.75121, "HIGH": 1.4512, "ICX": 0.14512,
    "LPT": 12.51, "MAGIC": 0.38215, "MTL": 1.1512, "NKN": 0.085121, "PEOPLE": 0.085121, "QTUM": 2.6512,
    "RDNT": 0.095121, "RLC": 1.7215, "SFP": 0.72151, "SPELL": 0.00065121, "SSV": 22.51,
    "SUPER": 0.72151, "T": 0.022512, "TRB": 68.52, "TRU": 0.065121, "UMA": 2.1521, "WAXP": 0.042151,
    "XVS": 7.121, "YGG": 0.52151, "ZEN": 7.851, "1000LUNC": 0.078512, "LUNA2": 0.38512,
    "USTC": 0.018512, "GLM": 0.38215, "FXS": 2.4512, "LQTY": 0.85121, "HOOK": 0.45121, "ARPA": 0.042151,
    "ATA": 0.095121, "BEL": 0.65121, "BLZ": 0.19512, "COMBO": 0.55121, "FLM": 0.065121, "HFT": 0.22151,
    "JOE": 0.32151, "KEY": 0.0045121, "LEVER": 0.0012151, "MAV": 0.21512, "NMR": 18.51,
    "OXT": 0.075121, "PHB": 1.4512, "POLYX": 0.22151, "RIF": 0.085121, "STPT": 0.045121,
    "SUN": 0.016512, "TLM": 0.0095121, "TWT": 0.92151, "VANRY": 0.085121, "XVG": 0.0045121, "AR": 28.51,
    "ARK": 0.45121, "BNT": 0.62151, "BSV": 45.21, "CAKE": 2.1215, "DAR": 0.11512, "DGB": 0.0085121,
    "GAS": 3.8521, "ILV": 45.21, "IOTX": 0.038512, "KAS": 0.16512, "METIS": 38.51, "MOVR": 9.512,
    "NFP": 0.22151, "NTRN": 0.55121, "ONG": 0.28512, "ONT": 0.20512, "ORBS": 0.025121, "POWR": 0.22151,
    "PROM": 6.512, "RARE": 0.085121, "SANTOS": 3.2151, "SNT": 0.028512, "STEEM": 0.22151,
    "TOKEN": 0.072151, "TNSR": 0.55121, "BIGTIME": 0.12151, "BOND": 2.2151, "ACE": 2.8512,
    "AERGO": 0.11512, "AGLD": 1.2512, "ALICE": 0.95121, "ALPHA": 0.065121, "AXL": 0.65121,
    "BADGER": 3.2512, "BAKE": 0.22151, "CVX": 2.3512, "DEGO": 1.8512, "DRIFT": 0.45121, "ENS": 22.51,
    "ETHW": 2.3512, "GHST": 1.0512, "GMX": 25.51, "KDA": 0.65121, "LIT": 0.72151, "LSK": 1.0512,
    "MBOX": 0.22151, "MYRO": 0.085121, "1000SATS": 0.00028512, "1000RATS": 0.11512, "1000XEC": 0.034512,
    "PERP": 0.65121, "POPCAT": 0.85121, "RAY": 1.8512, "REEF": 0.0015121, "RPL": 18.51, "SCRT": 0.32151,
    "SYN": 0.55121, "SYS": 0.12151, "TURBO": 0.0055121, "VOXEL": 0.18012, "MEW": 0.0065121,
    "BANANA": 55.21, "EIGEN": 3.1215, "BRETT": 0.095121, "DOGS": 0.0012512, "CATI": 0.45121,
    "HMSTR": 0.0045121, "NEIRO": 0.0012151, "1MBABYDOGE": 0.0021512, "SCR": 0.85121, "COW": 0.32151,
    "CETUS": 0.21512, "GOAT": 0.45121, "GRASS": 2.1512, "PNUT": 0.45121, "ACT": 0.32151,
    "MOODENG": 0.22151, "VIRTUAL": 1.8512, "PENGU": 0.025121, "AIXBT": 0.32151, "KAITO": 1.4512,
    "BERA": 5.121, "MOVE": 0.52151, "USUAL": 0.65121, "ME": 2.8512, "SPX": 0.85121,
}
# USDC-margined twins Binance lists beyond the first few.
_MORE_USDC = ("LINK", "AVAX", "LTC", "1000PEPE", "WIF", "SUI", "WLD", "ENA", "ORDI", "ADA", "FIL",
              "NEAR", "ARB", "BCH", "TIA", "CRV")
# Listed first, in this order, so even a small market has the symbols people look for. The USDC
# contracts share their USDT twin's base price.
_NAMED = (
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC", "ETHUSDC", "BNBUSDT", "XRPUSDT", "DOGEUSDT",
    "SOLUSDC", "ADAUSDT", "AVAXUSDT", "LINKUSDT", "DOTUSDT", "LTCUSDT", "BNBUSDC", "TRXUSDT",
    "BCHUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT", "ARBUSDT", "OPUSDT", "SUIUSDT", "XRPUSDC",
    "FILUSDT", "INJUSDT", "UNIUSDT", "AAVEUSDT", "ETCUSDT", "1000PEPEUSDT", "WIFUSDT", "DOGEUSDC",
    "TIAUSDT", "SEIUSDT", "ORDIUSDT", "TONUSDT", "FETUSDT", "RUNEUSDT", "LDOUSDT", "STXUSDT",
    "XLMUSDT", "HBARUSDT",
    *(base + "USDT" for base in _MORE_BASES),
    *(base + "USDC" for base in _MORE_USDC),
)
_USDC_BASIS = 0.99985  # USDC contracts trade a hair below their USDT twins


@dataclass(frozen=True, slots=True)
class _Symbol:
    name: str
    quote: str  # the margin asset: USDT or USDC
    base: int  # index into the exchange's base price list
    basis: float  # this contract's price as a multiple of the base price
    price_dp: int
    qty_dp: int


def _precisions(price: float) -> tuple[int, int]:
    """(price decimals, quantity decimals) for a reference price: a tick of about 1 bp of the
    price, a quantity step worth about a dollar or less."""
    magnitude = math.floor(math.log10(price))
    return min(7, max(0, 4 - magnitude)), min(3, max(0, magnitude + 1))


def _base_rules(base: str) -> tuple[float, int, int]:
    if base in _BASES:
        return _BASES[base]
    price = _MORE_BASES[base]
    return (price, *_precisions(price))


#: Names past the real ones: clearly derived (DEMO0001USDT...), only for markets larger than the
#: list (the tests' 1000-symbol hedge books); no position is ever opened on one.
_DERIVED = "DEMO{:04d}"


def _build_market(count: int) -> tuple[list[_Symbol], list[float]]:
    """`count` symbols (real ones first, then derived ones) and their bases' reference prices.

    Takes no draws from the seed's generator (derived names and prices come from their own
    index), so past the real list a larger market opens the same book for the same seed."""
    symbols: list[_Symbol] = []
    prices: list[float] = []
    index: dict[str, int] = {}
    for name in _NAMED[:count]:
        base, quote = name[:-4], name[-4:]
        price, price_dp, qty_dp = _base_rules(base)
        if base not in index:
            index[base] = len(prices)
            prices.append(price)
        basis = _USDC_BASIS if quote == "USDC" else 1.0
        symbols.append(_Symbol(name, quote, index[base], basis, price_dp, qty_dp))
    n = 0
    while len(symbols) < count:
        n += 1
        # A price from the name's own little generator: deterministic, and independent of `rng`.
        price = math.exp(random.Random(n).uniform(math.log(0.002), math.log(300.0)))
        price_dp, qty_dp = _precisions(price)
        symbols.append(_Symbol(_DERIVED.format(n) + "USDT", "USDT", len(prices), 1.0, price_dp, qty_dp))
        prices.append(round(price, price_dp))
    return symbols, prices


# --- margin tiers --------------------------------------------------------------------------------

# (notional cap, maintenance rate, max leverage), shaped like Binance's brackets. The maintenance
# amount `cum` deducted per tier keeps the margin continuous across the tier edges.
_BRACKETS = (
    (50_000, 0.004, 125),
    (250_000, 0.005, 75),
    (1_000_000, 0.01, 50),
    (10_000_000, 0.02, 20),
    (50_000_000, 0.025, 10),
)


def _with_cum() -> tuple[tuple[int, float, float, int], ...]:
    out, cum, prev_cap, prev_rate = [], 0.0, 0.0, 0.0
    for cap, rate, max_leverage in _BRACKETS:
        cum += prev_cap * (rate - prev_rate)
        out.append((cap, rate, cum, max_leverage))
        prev_cap, prev_rate = cap, rate
    return tuple(out)


_TIERS = _with_cum()
_LEVERAGES = (5, 10, 20, 25, 50, 75)


def _tier(notional: float) -> tuple[float, float]:
    """(maintenance rate, maintenance amount) for an absolute notional."""
    for cap, rate, cum, _ in _TIERS:
        if notional <= cap:
            return rate, cum
    _, rate, cum, _ = _TIERS[-1]
    return rate, cum


def _max_notional(leverage: int) -> int:
    return max(cap for cap, _, _, max_leverage in _TIERS if max_leverage >= leverage)


# --- the book ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Leg:
    symbol: _Symbol
    side: str  # BOTH (one-way mode), LONG or SHORT (hedge mode)
    amt: float  # signed quantity: negative is short
    entry: float
    leverage: int
    update_ms: int
    row: int  # index of this leg's row in the UM account's positions list


_BOOK_SIZE = 12  # open positions in a one-way book
_CORE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC")  # always held when listed: the large ones
_LARGE = ((2e6, 3.5e6), (1e6, 2e6), (4e5, 9e5))  # notional ranges of the first three positions
_FEE = 0.0004  # taker fee, for the break-even price


def _pick_symbols(rng: random.Random, market: list[_Symbol]) -> list[_Symbol]:
    count = min(_BOOK_SIZE, len(market))
    by_name = {s.name: s for s in market}
    picked = [by_name[name] for name in _CORE if name in by_name][:count]
    # Real symbols only: a derived name (a market larger than the list) never holds a position.
    rest = [s for s in market[:len(_NAMED)] if s.name not in _CORE]
    return picked + rng.sample(rest, count - len(picked))


def _lot(quantity: float, qty_dp: int) -> float:
    """A quantity rounded to the symbol's step, and never below one step."""
    return max(10.0**-qty_dp, round(quantity, qty_dp))


def _leverage_for(rng: random.Random, notional: float, large: bool) -> int:
    """Near the highest the bracket allows, as PM traders do: it keeps initial margin below equity."""
    allowed = [lev for lev in _LEVERAGES if _max_notional(lev) >= notional * 1.2]
    return allowed[-1] if large else rng.choice(allowed[-2:])


def _open_book(
    rng: random.Random, market: list[_Symbol], marks: list[float], hedge: bool, now_ms: int
) -> list[_Leg]:
    """About a dozen positions: three large, longs and shorts mixed, about half of them losing.

    `marks` are the opening marks by market index. Entries sit 0.2%-4% away from them.
    """
    picked = _pick_symbols(rng, market)
    sides = [1 if i % 2 == 0 else -1 for i in range(len(picked))]
    losing = [i % 2 == 1 for i in range(len(picked))]
    rng.shuffle(sides)
    rng.shuffle(losing)
    position = {s.name: i for i, s in enumerate(market)}
    legs = []
    for i, sym in enumerate(picked):
        mark = marks[position[sym.name]]
        large = i < len(_LARGE)
        notional = rng.uniform(*_LARGE[i]) if large else math.exp(rng.uniform(math.log(5e3), math.log(3e5)))
        offset = rng.uniform(0.002, 0.01) if large else rng.uniform(0.005, 0.04)
        amt = sides[i] * _lot(notional / mark, sym.qty_dp)
        # A loser's entry is on the wrong side of the mark: above it for a long, below for a short.
        entry = mark * (1 + sides[i] * (offset if losing[i] else -offset))
        leverage = _leverage_for(rng, abs(amt) * mark, large)
        side = ("LONG" if amt > 0 else "SHORT") if hedge else "BOTH"
        legs.append(_Leg(sym, side, amt, entry, leverage, _opened_at(rng, now_ms), 0))
    if hedge:
        legs += _opposite_legs(rng, legs[: min(3, len(legs))], marks, position, now_ms)
    for leg in legs:
        i = position[leg.symbol.name]
        leg.row = (2 * i + (leg.side == "SHORT")) if hedge else i
    return legs


def _opposite_legs(
    rng: random.Random, legs: list[_Leg], marks: list[float], position: dict[str, int], now_ms: int
) -> list[_Leg]:
    """Hedge mode: a smaller leg the other way on a few symbols, so they hold long and short at once."""
    out = []
    for leg in legs:
        sym = leg.symbol
        amt = -math.copysign(_lot(abs(leg.amt) * rng.uniform(0.3, 0.7), sym.qty_dp), leg.amt)
        entry = marks[position[sym.name]] * (1 + rng.uniform(-0.01, 0.01))
        side = "LONG" if amt > 0 else "SHORT"
        out.append(_Leg(sym, side, amt, entry, leg.leverage, _opened_at(rng, now_ms), 0))
    return out


def _opened_at(rng: random.Random, now_ms: int) -> int:
    return now_ms - rng.randrange(60_000, 7 * 86_400_000)


# --- per-step views ------------------------------------------------------------------------------


@dataclass(slots=True)
class _LegView:
    leg: _Leg
    mark: float
    upnl: int  # money in units of 1e-8
    notional: int
    maint: int
    initial: int
    rate: float  # the maintenance tier, kept for the liquidation estimate
    cum: float


@dataclass(slots=True)
class _AssetView:
    asset: str
    wallet: int
    upnl: int
    maint: int
    position_im: int
    order_im: int
    update_ms: int


@dataclass(slots=True)
class _CmLeg:
    """The demo's COIN-M position: whole contracts of _CM_CONTRACT USD, margined in the coin."""

    symbol: _Symbol  # quote: the coin it is margined in
    side: str
    contracts: int  # signed: negative is short
    entry: float
    update_ms: int


@dataclass(slots=True)
class _CmView:
    """The COIN-M position at one step: coin figures in units of 1e-8 coin, and its parts of the
    account in units of 1e-8 USD (the coin figures at the mark, rounded once)."""

    leg: _CmLeg
    mark: float
    wallet: int
    upnl: int
    notional: int  # signed, in the coin
    maint: int
    initial: int
    maint_usd_const: float  # its maintenance margin in USD: constant, the USD notional is fixed
    equity_usd: int
    maint_usd: int
    initial_usd: int


@dataclass(slots=True)
class _Snapshot:
    legs: list[_LegView]
    assets: list[_AssetView]
    wallet: int
    equity: int
    maint: int
    initial: int
    #: The margin loan's interest so far (units of 1e-8; already taken out of `equity`).
    interest: int = 0
    cm: _CmView | None = None  # COIN-M: its USD parts are in equity, maint and initial above

    @property
    def uni_mmr(self) -> Decimal:
        return uni_mmr(self.equity, self.maint)


def uni_mmr(equity: int, maint: int) -> Decimal:
    """The demo's uniMMR, as /papi/v1/account sends it: equity / maintenance margin (both in units
    of 1e-8 USD, as `_Snapshot` holds them), to 8 decimals. The one place the demo divides them."""
    return (Decimal(equity) / Decimal(maint)).quantize(Decimal("1E-8"))


def _units(value: float) -> int:
    return round(value * _UNIT)


def _money(units: int) -> str:
    """Integer units of 1e-8 -> Binance's 8-decimal string, exactly (no float round trip)."""
    whole, frac = divmod(abs(units), _UNIT)
    return f"{'-' if units < 0 else ''}{whole}.{frac:08d}"


def _fixed(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def _view_leg(leg: _Leg, mark: float) -> _LegView:
    notional = leg.amt * mark
    rate, cum = _tier(abs(notional))
    return _LegView(
        leg,
        mark,
        upnl=_units(leg.amt * (mark - leg.entry)),
        notional=_units(notional),
        maint=_units(abs(notional) * rate - cum),
        initial=_units(abs(notional) / leg.leverage),
        rate=rate,
        cum=cum,
    )


def _status(uni_mmr: Decimal) -> str:
    """Binance's uniMMR bands."""
    if uni_mmr > Decimal("1.5"):
        return "NORMAL"
    if uni_mmr > Decimal("1.2"):
        return "MARGIN_CALL"
    if uni_mmr > Decimal("1.05"):
        return "REDUCE_ONLY"
    return "ACTIVE_LIQUIDATION"


#: The uniMMR at which Binance liquidates a Portfolio Margin account (its FAQ: "<= 1.05"), and
#: so where the demo puts each position's liquidation price.
LIQUIDATION_MMR = 1.05


def _liquidation_price(legs: list[_LegView], snap: _Snapshot) -> float:
    """Mark at which the account's uniMMR reaches LIQUIDATION_MMR if only this symbol moves: the
    account is cross-margined, so its liquidation price follows from the whole account's equity
    and maintenance margin (`DemoExchange.what_if` at this price gives uniMMR 1.05).

    Equity(p) = E + net*(p - mark); maintenance(p) = M_other + sum(|amt|*p*rate - cum) with each
    leg's tier at price p; solve Equity(p) = R * maintenance(p). That is linear within a tier, so
    solve with today's tiers, re-tier at the answer and solve again: margin is convex in notional,
    so this settles within one pass per tier. 0 when there is no such positive price (a long in a
    well-funded account).
    """
    r = LIQUIDATION_MMR
    net = sum(v.leg.amt for v in legs)
    other_maint = (snap.maint - sum(v.maint for v in legs)) / _UNIT
    constant = r * other_maint - snap.equity / _UNIT + net * legs[0].mark
    tiers = [(v.rate, v.cum) for v in legs]
    price = 0.0
    for _ in range(len(_TIERS) + 1):
        slope = net - r * sum(abs(v.leg.amt) * rate for v, (rate, _) in zip(legs, tiers, strict=True))
        if slope == 0:
            return 0.0
        price = (constant - r * sum(cum for _, cum in tiers)) / slope
        if price <= 0:
            return 0.0
        retiered = [_tier(abs(v.leg.amt) * price) for v in legs]
        if retiered == tiers:
            break
        tiers = retiered
    return price


def _cm_liquidation_price(v: _CmView, snap: _Snapshot) -> float:
    """Mark at which the account's uniMMR reaches LIQUIDATION_MMR if only this COIN-M contract's
    price moves (the rest of the account held at today's USD value).

    In USD at price p: the coin balance W and the inverse position's PnL are worth
    W*p + A*(p/entry - 1) (A: signed USD size), and its maintenance margin is constant (the USD
    notional does not move), so equity(p) = R * maint is linear in p. 0 when no positive price
    does it.
    """
    size = v.leg.contracts * _CM_CONTRACT
    other_equity = (snap.equity - v.equity_usd) / _UNIT
    other_maint = (snap.maint - v.maint_usd) / _UNIT
    slope = v.wallet / _UNIT + size / v.leg.entry
    if slope == 0:
        return 0.0
    price = (LIQUIDATION_MMR * (other_maint + v.maint_usd_const) - other_equity + size) / slope
    return price if price > 0 else 0.0


# --- price path ----------------------------------------------------------------------------------

# Per-step log-price noise and its pull back to the reference price: the pull keeps a demo left
# running for hours near its starting health instead of wandering off.
_NOISE = {"normal": (0.0005, 0.01), "margin-call": (0.00015, 0.1)}
# Where uniMMR opens. The margin-call account opens at 10 so that it starts OK by pmtui's verdict
# too: with a book this concentrated (BTC a few million of notional, the maintenance rate about
# 1.5%), a uniMMR of 2 already puts BTCUSDT about 3% from liquidation, which is CRITICAL.
_TARGET_MMR = {"normal": (9.0, 12.0), "margin-call": (10.0, 10.0)}
_FLOOR_MMR = 0.97  # where the margin-call slide bottoms out (below 1.05: liquidation colour)

# The margin-call cycle, as (step, point of the move): between two points the market moves evenly,
# and the cycle repeats. Each point is solved for this book when the exchange opens: "open" is no
# move; "WARN", "DANGER" and "CRITICAL" are where pmtui's verdict (uniMMR's band, accountStatus,
# the nearest liquidation, at the default thresholds) first reaches that level; "1.5", "1.2" and
# "1.05" where uniMMR reaches that edge of Binance's bands (so accountStatus turns MARGIN_CALL,
# REDUCE_ONLY, ACTIVE_LIQUIDATION); "floor" is uniMMR _FLOOR_MMR. So every seed shows each level
# for as long: at the default 2 s refresh (one step a refresh) OK for 32 s, WARN 30 s, DANGER
# 30 s, CRITICAL 84 s (uniMMR sliding through its bands to the floor and back up to 1.5), then
# DANGER and WARN 16 s each on the way back, and OK for 30 s before the next slide: 252 s a cycle.
_MARGIN_CALL = (
    (0, "open"), (6, "open"), (16, "WARN"), (31, "DANGER"), (46, "CRITICAL"),
    (54, "1.5"), (60, "1.2"), (66, "1.05"), (70, "floor"), (76, "floor"),
    (84, "1.5"), (88, "CRITICAL"), (96, "DANGER"), (104, "WARN"), (112, "open"), (126, "open"),
)
_PERIOD = _MARGIN_CALL[-1][0]
#: The points of the move, in the order a slide reaches them.
_POINTS = ("open", "WARN", "DANGER", "CRITICAL", "1.5", "1.2", "1.05", "floor")


def _interpolate(path: tuple[tuple[int, float], ...], step: int) -> float:
    """The move at `step` of a cycle of (step, move) points: linear between them."""
    t = step % path[-1][0]
    for (t0, x0), (t1, x1) in zip(path, path[1:], strict=False):
        if t0 <= t <= t1:
            return x0 + (x1 - x0) * (t - t0) / (t1 - t0) if t1 > t0 else x1
    return path[-1][1]


# --- the transport -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    weight: int
    signed: bool  # signed routes read the account, and so take part in the step rule
    handler: str | Callable[..., bytes]  # a callable: pmtui.demo.risk's (reads the step, never moves it)


_ROUTES = {
    "/papi/v2/um/account": _Route(5, True, "_um_account"),
    "/papi/v1/account": _Route(20, True, "_pm_account"),
    "/papi/v1/um/positionRisk": _Route(5, True, "_position_risk"),
    "/papi/v1/balance": _Route(20, True, "_balance"),
    "/papi/v1/cm/account": _Route(5, True, "_cm_account"),
    "/papi/v1/cm/positionRisk": _Route(1, True, "_cm_position_risk"),
    "/papi/v1/ping": _Route(1, False, "_ping"),
    "/fapi/v1/time": _Route(1, False, "_time"),
    "/fapi/v1/exchangeInfo": _Route(1, False, "_exchange_info"),
    # The risk model's inputs (pmtui.demo.risk), consistent with this book's own uniMMR.
    **{path: _Route(weight, True, handler) for path, (weight, handler) in demo_risk.RISK_ROUTES.items()},
    # The ledger (pmtui.demo.ledger): funding, loan interest, the margin-call's liquidation fill.
    **{path: _Route(weight, True, handler) for path, (weight, handler) in demo_ledger.LEDGER_ROUTES.items()},
    # The ADL queue and trading locks (pmtui.demo.queue).
    **{path: _Route(weight, True, handler) for path, (weight, handler) in demo_queue.QUEUE_ROUTES.items()},
}
LISTEN_KEY_PATH = "/papi/v1/listenKey"
# The account's one cross-margin loan (pmtui shows it in the Balances pane): this share of the
# USDT wallet, in whole thousands, borrowed and held as free cross-margin USDT, so principal and
# cash cancel out in equity; its interest accrues each step (about 10% a year at a 2 s poll, from
# ten hours' worth) and is a liability: equity, and so uniMMR, carry it.
_LOAN_ASSET = "USDT"
_LOAN_SHARE = 0.1
_FUNDING_EVERY = 15  # steps between the demo's ACCOUNT_UPDATE pushes (a funding fee)
_ASSETS = ("USDT", "USDC", "BNB")  # BNB: a collateral asset row with nothing in it
# COIN-M: BTCUSD_PERP, 100 USD a contract; sized at a share of the book's largest UM notional,
# opened a little in profit, its BTC balance set so its own margin ratio is the account's.
_CM_SYMBOL = "BTCUSD_PERP"
_CM_CONTRACT = 100
_CM_SHARE = 0.4
_CM_LEVERAGE = 20
_CM_MAX_QTY = 10_000
_CM_FLAT = "ETHUSD_PERP"  # a flat row beside it, as the API lists every symbol
_WEIGHT_WINDOW = 60.0  # seconds


class _Reject(Exception):
    """A Binance-style error: HTTP status, code, message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _missing(param: str) -> _Reject:
    return _Reject(400, -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


class _IpWeight:
    """The request weight one IP used in the last minute (shared by the demo accounts on it)."""

    def __init__(self) -> None:
        self.window: deque[tuple[float, int]] = deque()
        self.used = 0


class DemoExchange(httpx.AsyncBaseTransport):
    """A simulated Portfolio Margin account behind the real PAPI paths, no network: GETs, plus
    the listen key (POST/PUT/DELETE) and `connect` for the user data stream."""

    def __init__(
        self,
        *,
        hedge: bool = False,
        scenario: str = "normal",
        seed: int | None = None,
        symbols: int = 300,
        clock: Callable[[], float] = time.time,
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        unimmr: float | None = None,
        same_ip: DemoExchange | None = None,
        step: int = 0,
    ) -> None:
        """`unimmr`: the uniMMR the account opens at, instead of the scenario's own range (the
        --all-profiles demo puts its accounts in different bands this way). `same_ip`: another
        demo account reached from the same IP, whose request weight this one shares (Binance
        counts weight per IP, not per account). `step`: the market step to start at (the
        scenario's clock: tests start part way into the margin-call cycle this way)."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown demo scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        if symbols < 1:
            raise ValueError("the demo market needs at least one symbol")
        if unimmr is not None and not unimmr > 1:
            raise ValueError("the demo account must open with a uniMMR above 1")
        self._target = (unimmr, unimmr) if unimmr is not None else _TARGET_MMR[scenario]
        #: The seed in use: pass it back to replay a session (chosen at random when None).
        self.seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        self.hedge = hedge
        self.scenario = scenario
        #: Requests served, errors included.
        self.requests = 0
        self._clock = clock
        self._api_key = api_key
        self._secret = api_secret.encode()
        self._rng = random.Random(self.seed)
        self._ip: _IpWeight = same_ip._ip if same_ip is not None else _IpWeight()

        self._market, self._prices = _build_market(symbols)
        now_ms = int(clock() * 1000)
        marks = [round(self._prices[s.base] * s.basis, 8) for s in self._market]
        self._legs = _open_book(self._rng, self._market, marks, hedge, now_ms)
        self._zero_rows = self._flat_rows()
        held = {leg.symbol.base for leg in self._legs}
        self._noise = {base: 0.0 for base in sorted(held)}
        self._drift = self._drift_directions()
        #: The margin-call cycle as (step, size of the move against the book); None: no move.
        self._path: tuple[tuple[int, float], ...] | None = None
        self._fund(now_ms)
        self._loan = self._lend()
        self._cm_leg: _CmLeg | None = None
        self._cm_wallet = 0
        self._open_cm(now_ms)
        if scenario == "margin-call":
            self._path = self._solve_path()

        self._step = step
        self._seen: set[str] = set()  # endpoints that have seen the current step
        # The user data stream: the active listen key, and the open demo connections.
        self._listen_key: str | None = None
        self._listen_keys = 0
        self._sockets: list[_DemoSocket] = []
        self._band: str | None = None  # uniMMR band last pushed (or seen at the first connect)
        self._snapshot: _Snapshot | None = None
        self._exchange_info_body: bytes | None = None
        #: When the margin-call scenario's liquidation fill happened (pmtui.demo.ledger), ms.
        self._liquidated_ms: int | None = None

    @property
    def step(self) -> int:
        """Market steps taken so far (one per poll round)."""
        return self._step

    # -- setup --

    def _flat_rows(self) -> list[bytes]:
        """Every position row as a flat row, encoded once: only open legs are re-encoded per call.

        A template rather than json.dumps: 2000 rows in well under a millisecond. Symbol names are
        [A-Z0-9] only, so they need no escaping.
        """
        template = (
            '{"symbol":"%s","initialMargin":"0","maintMargin":"0","unrealizedProfit":"0.00000000",'
            '"positionSide":"%s","positionAmt":"0","updateTime":0,"notional":"0"}'
        )
        sides = ("LONG", "SHORT") if self.hedge else ("BOTH",)
        return [(template % (sym.name, side)).encode() for sym in self._market for side in sides]

    def _drift_directions(self) -> dict[int, float]:
        """Per held base, the way the margin-call move goes: against the book's net exposure."""
        exposure: dict[int, float] = {base: 0.0 for base in self._noise}
        for leg in self._legs:
            exposure[leg.symbol.base] += leg.amt * leg.symbol.basis
        return {base: -math.copysign(1.0, net) if net else 0.0 for base, net in exposure.items()}

    def _fund(self, now_ms: int) -> None:
        """Set the wallets so the opening uniMMR hits the scenario's target."""
        low, high = self._target
        equity = round(self._rng.uniform(low, high) * sum(v.maint for v in self._opening_views()))
        upnl = sum(v.upnl for v in self._opening_views())
        # Keep the wallet comfortably positive whatever the opening PnL: shrink the entry offsets.
        if upnl > equity // 2:
            for leg in self._legs:
                mark = self._mark(leg.symbol, 0)
                leg.entry = mark + (leg.entry - mark) * (equity / 2 / upnl)
        for leg in self._legs:  # entries as sent, so PnL recomputed from the strings agrees
            leg.entry = round(leg.entry, leg.symbol.price_dp + 2)
        wallet = equity - sum(v.upnl for v in self._opening_views())
        usdc = int(round(wallet * self._rng.uniform(0.2, 0.35), -6))  # a round number of cents
        self._wallets = {"USDT": wallet - usdc, "USDC": usdc, "BNB": 0}
        self._order_im = {"USDT": _units(round(self._rng.uniform(500, 3000), 2)), "USDC": 0, "BNB": 0}
        self._asset_times = {"USDT": now_ms - 3_600_000, "USDC": now_ms - 7_200_000, "BNB": 0}
        for leg in self._legs:
            asset = leg.symbol.quote
            self._asset_times[asset] = max(self._asset_times[asset], leg.update_ms)

    def _lend(self) -> int:
        """The loan's principal (units of 1e-8): no draw from the seed's generator, so the market
        walks as it did before there was a loan."""
        return max(1000 * _UNIT, round(self._wallets[_LOAN_ASSET] * _LOAN_SHARE / (1000 * _UNIT)) * 1000 * _UNIT)

    def _interest(self, step: int) -> int:
        return self._loan * (120_000 + 6 * step) // 10**9  # 1.2e-4 of it at start, 6e-9 a step

    def _open_cm(self, now_ms: int) -> None:
        """The COIN-M position, from the opening book alone: no draws from the seed's generator,
        so every UM figure of a seed is what it was before COIN-M was added."""
        btc = next((leg.symbol for leg in self._legs if leg.symbol.name == "BTCUSDT"), None)
        if btc is None:
            return
        sym = _Symbol(_CM_SYMBOL, "BTC", btc.base, 1.0, 1, 0)
        mark = self._mark(sym, 0)
        largest = max(abs(leg.amt) * self._mark(leg.symbol, 0) for leg in self._legs)
        # The same way as the book's BTC exposure, so the margin-call move goes against it too.
        net = sum(leg.amt for leg in self._legs if leg.symbol.base == btc.base)
        sign = 1 if net > 0 else -1
        contracts = sign * max(1, round(largest * _CM_SHARE / _CM_CONTRACT))
        entry = round(mark * (1 - sign * 0.003), 2)  # a little in profit
        self._cm_leg = _CmLeg(sym, ("LONG" if sign > 0 else "SHORT") if self.hedge else "BOTH", contracts,
                              entry, now_ms - 5 * 3_600_000)
        opening = self._build_snapshot(0)
        ratio = (opening.equity - opening.cm.equity_usd) / (opening.maint - opening.cm.maint_usd) \
            if opening.cm is not None else 10.0
        view = opening.cm
        assert view is not None
        self._cm_wallet = max(_units(0.001), round(ratio * view.maint - view.upnl))

    def _view_cm(self, mark: float) -> _CmView | None:
        leg = self._cm_leg
        if leg is None:
            return None
        usd = abs(leg.contracts) * _CM_CONTRACT
        rate, cum = _tier(usd)
        maint_usd = usd * rate - cum
        wallet = self._cm_wallet
        upnl = _units(leg.contracts * _CM_CONTRACT * (1 / leg.entry - 1 / mark))
        maint = _units(maint_usd / mark)
        initial = _units(usd / _CM_LEVERAGE / mark)
        return _CmView(
            leg, mark, wallet, upnl,
            notional=_units(leg.contracts * _CM_CONTRACT / mark),
            maint=maint, initial=initial, maint_usd_const=maint_usd,
            equity_usd=round((wallet + upnl) * mark), maint_usd=round(maint * mark),
            initial_usd=round(initial * mark),
        )

    def _opening_views(self) -> list[_LegView]:
        return [_view_leg(leg, self._mark(leg.symbol, 0)) for leg in self._legs]

    def _solve_path(self) -> tuple[tuple[int, float], ...]:
        """The margin-call cycle (_MARGIN_CALL) with each point solved for this book: the size of
        the move (log price, against the book's net exposure) at which the point is first reached,
        by bisection. Each is at least the one before, so the slide only goes one way."""
        def reached(point: str, move: float) -> bool:
            snap = self._account(self._marks(move), 0)
            if point == "floor":
                return snap.equity / snap.maint <= _FLOOR_MMR
            if point in ("1.5", "1.2", "1.05"):
                return snap.uni_mmr <= Decimal(point)
            return self._verdict_level(snap) >= Level[point]

        def solve(point: str, high: float) -> float:
            low = 0.0
            if reached(point, low):
                return low
            for _ in range(24):
                mid = (low + high) / 2
                low, high = (low, mid) if reached(point, mid) else (mid, high)
            return high

        floor = solve("floor", 0.5)
        moves = {"open": 0.0}
        for point in _POINTS[1:]:
            moves[point] = max(moves[_POINTS[_POINTS.index(point) - 1]], solve(point, floor))
        return tuple((step, moves[point]) for step, point in _MARGIN_CALL)

    def _verdict_level(self, snap: _Snapshot) -> Level:
        """pmtui's verdict on this account (default thresholds), from the figures the demo would
        send: uniMMR, its status and the position nearest its liquidation price."""
        distances = []
        by_symbol: dict[str, list[_LegView]] = {}
        for v in snap.legs:
            by_symbol.setdefault(v.leg.symbol.name, []).append(v)
        for legs in by_symbol.values():
            if price := _liquidation_price(legs, snap):
                distances.append(abs(legs[0].mark - price) / legs[0].mark)
        if snap.cm is not None and (price := _cm_liquidation_price(snap.cm, snap)):
            distances.append(abs(snap.cm.mark - price) / snap.cm.mark)
        nearest = ("nearest", Decimal(min(distances))) if distances else None
        u = snap.uni_mmr
        return verdict(Thresholds(), unimmr=u, status=_status(u), nearest=nearest).level

    # -- the market --

    def _move(self, step: int) -> float:
        """How far the margin-call move has gone at `step` (log price; 0 in the normal scenario)."""
        return _interpolate(self._path, step) if self._path is not None else 0.0

    def _mark(self, sym: _Symbol, move: float = 0.0) -> float:
        """The symbol's mark: its reference price, its walk, and `move` against the book."""
        log_move = self._noise.get(sym.base, 0.0) + self._drift.get(sym.base, 0.0) * move
        return round(self._prices[sym.base] * sym.basis * math.exp(log_move), 8)

    def _marks(self, move: float) -> dict[str, float]:
        """Every held symbol's mark (the COIN-M one's too), by symbol name."""
        symbols = [leg.symbol for leg in self._legs] + ([self._cm_leg.symbol] if self._cm_leg else [])
        return {sym.name: self._mark(sym, move) for sym in symbols}

    def _advance(self) -> None:
        """One step of the seeded walk: geometric, a few bp, pulled gently back to the reference."""
        sigma, pull = _NOISE[self.scenario]
        gauss = self._rng.gauss
        for base, x in self._noise.items():
            self._noise[base] = x * (1 - pull) + gauss(0.0, sigma)
        self._step += 1
        self._snapshot = None
        if self._sockets:
            self._push_events()

    def _observe(self, path: str) -> _Snapshot:
        """The snapshot `path` should see: a repeat visit within a step moves the market on."""
        if path in self._seen:
            self._advance()
            self._seen.clear()
        self._seen.add(path)
        if self._snapshot is None:
            self._snapshot = self._build_snapshot(self._step)
        return self._snapshot

    def _build_snapshot(self, step: int) -> _Snapshot:
        return self._account(self._marks(self._move(step)), step)

    def what_if(self, marks: Mapping[str, float]) -> _Snapshot:
        """The account at the current step with some symbols' marks replaced ({"BTCUSDT": 60000.0}):
        its equity, maintenance margin and `uni_mmr` as the demo would report them at those
        prices, by the same arithmetic as every answer it sends."""
        return self._account({**self._marks(self._move(self._step)), **marks}, self._step)

    def _account(self, marks: Mapping[str, float], step: int) -> _Snapshot:
        """The account with each held symbol at `marks` (by name), at market step `step` (for the
        loan's interest): every figure the endpoints send, equity and maintenance margin (so
        uniMMR) included."""
        legs = [_view_leg(leg, marks[leg.symbol.name]) for leg in self._legs]
        assets = []
        for asset in _ASSETS:
            mine = [v for v in legs if v.leg.symbol.quote == asset]
            assets.append(
                _AssetView(
                    asset,
                    wallet=self._wallets[asset],
                    upnl=sum(v.upnl for v in mine),
                    maint=sum(v.maint for v in mine),
                    position_im=sum(v.initial for v in mine),
                    order_im=self._order_im[asset],
                    update_ms=self._asset_times[asset],
                )
            )
        wallet = sum(a.wallet for a in assets)
        interest = self._interest(step)  # the loan itself is matched by its cash: only this counts
        cm = self._view_cm(marks[self._cm_leg.symbol.name]) if self._cm_leg is not None else None
        # COIN-M's parts of the account, in USD at its mark (0 without it).
        cm_equity, cm_maint, cm_initial = (cm.equity_usd, cm.maint_usd, cm.initial_usd) if cm else (0, 0, 0)
        return _Snapshot(
            legs,
            assets,
            wallet=wallet,
            equity=wallet + sum(a.upnl for a in assets) - interest + cm_equity,  # USDT and USDC count 1:1
            # The loan's maintenance margin too (Binance's ΣMarginMM = loan x MMR: pmtui.demo.risk).
            maint=sum(a.maint for a in assets) + cm_maint + demo_risk.margin_mm(self._loan, interest),
            initial=sum(a.position_im + a.order_im for a in assets) + cm_initial,
            interest=interest,
            cm=cm,
        )

    # -- HTTP --

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        now = self._clock()
        route = _ROUTES.get(request.url.path)
        used = self._spend(now, route.weight if route and request.method == "GET" else 1)
        if request.url.path == LISTEN_KEY_PATH and request.method in ("POST", "PUT", "DELETE"):
            try:
                body = self._listen_key_request(request)
            except _Reject as err:
                body = json.dumps({"code": err.code, "msg": err.msg}).encode()
                return self._response(err.status, body, used, now)
            return self._response(200, body, used, now)
        try:
            if request.method != "GET":
                raise _Reject(405, -1000,
                              f"Method {request.method} is not supported: the demo exchange answers GET only.")
            if route is None:
                raise _Reject(404, -5000, f"Path {request.url.path}, Method GET is invalid")
            params = self._authenticate(request, now) if route.signed else {}
            if callable(route.handler):  # the model's inputs: the current step, never a new one
                body = route.handler(self, params, now)
            else:
                snap = self._observe(request.url.path) if route.signed else None
                body = getattr(self, route.handler)(snap, params, now)
        except _Reject as err:
            body = json.dumps({"code": err.code, "msg": err.msg}).encode()
            return self._response(err.status, body, used, now)
        return self._response(200, body, used, now)

    # -- the user data stream --

    def _listen_key_request(self, request: httpx.Request) -> bytes:
        """POST/PUT/DELETE /papi/v1/listenKey: API key header only (USER_STREAM), as on Binance."""
        if request.headers.get("X-MBX-APIKEY") != self._api_key:
            raise _Reject(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if request.method == "POST":
            if self._listen_key is None:
                self._listen_keys += 1
                # Letters and digits like a real key, derived from the seed: deterministic.
                seed = f"pmtui-demo-listen-key/{self.seed}/{self._listen_keys}".encode()
                self._listen_key = "demo" + hashlib.sha256(seed).hexdigest()[:56]
            return _dumps({"listenKey": self._listen_key})
        if self._listen_key is None:
            raise _Reject(400, -1125, "This listenKey does not exist.")
        if request.method == "DELETE":
            self._listen_key = None
            for sock in list(self._sockets):
                sock.push_close()
        return b"{}"

    def connect(self, url: str, *, coin_m: bool = False, **options: Any) -> _DemoConnect:
        """An in-memory stand-in for websockets.asyncio.client.connect(url, ...): `async with`
        gives a connection with recv(), close(), ping() and async iteration. The URL's last path
        segment must be the active listen key (else the handshake is refused, HTTP 400), or the
        mark price stream's; `coin_m`: COIN-M's host, which serves what Binance documents there,
        a combined stream of pair mark price streams (anything else: HTTP 400).
        Other options (max_size, ping_interval...) are accepted and have nothing to do here."""
        return _DemoConnect(self, url, coin_m)

    def _open_socket(self, url: str, coin_m: bool = False) -> _DemoSocket | _DemoMarkSocket:
        if coin_m:  # the COIN-M market stream host
            return _DemoMarkSocket(self, _combined_pairs(url))
        if urlsplit(url).path.endswith(MARK_STREAM_SUFFIX):  # the public mark price stream
            return _DemoMarkSocket(self)
        key = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        if self._listen_key is None or not hmac.compare_digest(key, self._listen_key):
            raise InvalidStatus(Response(400, "Bad Request", Headers(), b""))
        sock = _DemoSocket(self)
        self._sockets.append(sock)
        if self._band is None:
            self._band = _status(self._current().uni_mmr)
        return sock

    def mark_frame(self) -> str:
        """The all-market mark price stream's frame now: every held USD-M symbol at the current
        step's mark (the price positionRisk reports), dated now."""
        return _dumps(self._mark_events([leg.symbol.name for leg in self._legs])).decode()

    def pair_frame(self, pair: str) -> str | None:
        """COIN-M's `<pair>@markPrice@1s` frame now, as a combined stream wraps it
        (`{"stream": …, "data": [one event per symbol of the pair]}`): the demo's COIN-M symbol if
        it is of `pair` (lowercase), else None (the demo knows no other COIN-M market)."""
        names = [self._cm_leg.symbol.name] if self._cm_leg is not None else []
        names = [n for n in names if n.partition("_")[0].lower() == pair]
        if not names:
            return None
        return _dumps({"stream": pair + PAIR_STREAM_SUFFIX, "data": self._mark_events(names)}).decode()

    def _mark_events(self, symbols: list[str]) -> list[dict[str, Any]]:
        now_ms = int(self._clock() * 1000)
        marks = self._marks(self._move(self._step))
        return [
            {"e": "markPriceUpdate", "E": now_ms, "s": name, "p": _fixed(marks[name], 8),
             "i": _fixed(marks[name], 8), "P": "0", "r": "0.00010000", "T": 0}
            for name in symbols]

    def _current(self) -> _Snapshot:
        if self._snapshot is None:
            self._snapshot = self._build_snapshot(self._step)
        return self._snapshot

    def _push_events(self) -> None:
        """After a step: the events Binance would push for it."""
        snap = self._current()
        now_ms = int(self._clock() * 1000)
        frames = []
        band = _status(snap.uni_mmr)
        if band != self._band:
            self._band = band
            frames.append(_dumps({
                "e": "riskLevelChange", "E": now_ms, "u": str(snap.uni_mmr), "s": band,
                "eq": _money(snap.equity), "ae": _money(snap.equity), "m": _money(snap.maint),
            }))
        if self._step % _FUNDING_EVERY == 0:
            usdt = next(a for a in snap.assets if a.asset == "USDT")
            frames.append(_dumps({
                "e": "ACCOUNT_UPDATE", "fs": "UM", "E": now_ms, "T": now_ms - 1, "i": "",
                "a": {"m": "FUNDING_FEE", "B": [{"a": "USDT", "wb": _money(usdt.wallet),
                                                 "cw": _money(usdt.wallet), "bc": "0"}]},
            }))
        for frame in frames:
            for sock in self._sockets:
                sock.push(frame.decode())

    def _response(self, status: int, body: bytes, used: int, now: float) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-MBX-USED-WEIGHT-1M": str(used),
            "Date": email.utils.formatdate(now, usegmt=True),
        }
        return httpx.Response(status, headers=headers, content=body)

    def _spend(self, now: float, weight: int) -> int:
        """Add `weight` at `now`; the weight used in the last 60 s, this request included."""
        ip = self._ip
        window = ip.window
        while window and window[0][0] <= now - _WEIGHT_WINDOW:
            ip.used -= window.popleft()[1]
        window.append((now, weight))
        ip.used += weight
        return ip.used

    def _authenticate(self, request: httpx.Request, now: float) -> dict[str, str]:
        """Check key, signature and timestamp the way Binance does; the request's parameters."""
        if request.headers.get("X-MBX-APIKEY") != self._api_key:
            raise _Reject(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = self._verify_signature(request.url.query)
        params = dict(parse_qsl(payload.decode("utf-8", "replace"), keep_blank_values=True))
        timestamp = _int_param(params, "timestamp")
        recv_window = _int_param(params, "recvWindow") if "recvWindow" in params else 5000
        if timestamp is None:
            raise _missing("timestamp")
        if recv_window is None or not 0 < recv_window <= _MAX_RECV_WINDOW:
            raise _Reject(400, -1102, f"Param 'recvWindow' must be between 1 and {_MAX_RECV_WINDOW}.")
        server_ms = int(now * 1000)
        if timestamp >= server_ms + 1000:
            raise _Reject(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_ms - timestamp > recv_window:
            raise _Reject(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _verify_signature(self, query: bytes) -> bytes:
        """The signed part of the raw query, if `signature` comes last and matches it.

        Anything after the signature ends up in the compared value, so it cannot match.
        """
        if query.startswith(b"signature="):
            payload, signature = b"", query[len(b"signature="):]
        else:
            payload, marker, signature = query.rpartition(b"&signature=")
            if not marker:
                raise _missing("signature")
        expected = hmac.new(self._secret, payload, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _Reject(400, -1022, "Signature for this request is not valid.")
        return payload

    # -- endpoints: (snapshot, params, now) -> JSON bytes --

    def _ping(self, snap: None, params: dict[str, str], now: float) -> bytes:
        return b"{}"

    def _time(self, snap: None, params: dict[str, str], now: float) -> bytes:
        return b'{"serverTime":%d}' % int(now * 1000)

    def _exchange_info(self, snap: None, params: dict[str, str], now: float) -> bytes:
        """The public exchangeInfo, shaped like Binance's: every demo symbol with its tick and step."""
        if self._exchange_info_body is None:
            self._exchange_info_body = _dumps({
                "timezone": "UTC",
                "serverTime": int(now * 1000),
                "futuresType": "U_MARGINED",
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 2400}],
                "exchangeFilters": [],
                "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"}
                           for a in ("USDT", "USDC")],
                "symbols": [_symbol_info(sym) for sym in self._market],
            })
        return self._exchange_info_body

    def _um_account(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        rows = self._zero_rows.copy()
        for v in snap.legs:
            rows[v.leg.row] = _dumps(_um_position(v))
        assets = _dumps([_um_asset(a) for a in snap.assets])
        return b'{"assets":' + assets + b',"positions":[' + b",".join(rows) + b"]}"

    def _pm_account(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        uni_mmr = snap.uni_mmr
        free = max(0, snap.equity - snap.initial)
        return _dumps(
            {
                "uniMMR": str(uni_mmr),
                "accountEquity": _money(snap.equity),
                "actualEquity": _money(snap.equity),  # no collateral haircut on USDT/USDC
                "accountInitialMargin": _money(snap.initial),
                "accountMaintMargin": _money(snap.maint),
                "accountStatus": _status(uni_mmr),
                "virtualMaxWithdrawAmount": _money(min(free, max(0, snap.wallet))),
                "totalAvailableBalance": _money(free),
                "totalMarginOpenLoss": _money(0),
                "updateTime": max(a.update_ms for a in snap.assets),
            }
        )

    def _position_risk(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        by_symbol: dict[str, list[_LegView]] = {}
        for v in snap.legs:
            by_symbol.setdefault(v.leg.symbol.name, []).append(v)
        wanted = params.get("symbol")
        rows = [
            _risk_row(v, _liquidation_price(legs, snap))
            for name, legs in by_symbol.items()
            if wanted is None or name == wanted
            for v in legs
        ]
        return _dumps(rows)

    def _cm_account(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        """GET /papi/v1/cm/account: the BTC balance and the COIN-M position (coin figures)."""
        v = snap.cm
        rows: list[dict[str, Any]] = []
        assets: list[dict[str, Any]] = []
        if v is not None:
            leg = v.leg
            assets.append({
                "asset": leg.symbol.quote, "crossWalletBalance": _money(v.wallet), "crossUnPnl": _money(v.upnl),
                "maintMargin": _money(v.maint), "initialMargin": _money(v.initial),
                "positionInitialMargin": _money(v.initial), "openOrderInitialMargin": _money(0),
                "updateTime": leg.update_ms,
            })
            for side in self._cm_sides():
                if side == leg.side:
                    rows.append({
                        "symbol": leg.symbol.name, "positionAmt": str(leg.contracts),
                        "initialMargin": _money(v.initial), "maintMargin": _money(v.maint),
                        "unrealizedProfit": _money(v.upnl), "positionInitialMargin": _money(v.initial),
                        "openOrderInitialMargin": "0", "leverage": str(_CM_LEVERAGE), "positionSide": side,
                        "entryPrice": _fixed(leg.entry, 2), "maxQty": str(_CM_MAX_QTY),
                        "updateTime": leg.update_ms,
                    })
                else:
                    rows.append(_cm_flat(leg.symbol.name, side))
        for side in self._cm_sides():
            rows.append(_cm_flat(_CM_FLAT, side))
        assets.append({"asset": "ETH", "crossWalletBalance": "0.00000000", "crossUnPnl": "0.00000000",
                       "maintMargin": "0.00000000", "initialMargin": "0.00000000",
                       "positionInitialMargin": "0.00000000", "openOrderInitialMargin": "0.00000000",
                       "updateTime": 0})
        return _dumps({"assets": assets, "positions": rows})

    def _cm_sides(self) -> tuple[str, ...]:
        return ("LONG", "SHORT") if self.hedge else ("BOTH",)

    def _cm_position_risk(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        """GET /papi/v1/cm/positionRisk: the position's mark and liquidation price, notionalValue
        in the coin (hedge mode: only rows with a position, as Binance's page says)."""
        v = snap.cm
        rows: list[dict[str, Any]] = []
        if v is not None:
            leg = v.leg
            liquidation = _cm_liquidation_price(v, snap)
            rows.append({
                "symbol": leg.symbol.name, "positionAmt": str(leg.contracts), "entryPrice": _fixed(leg.entry, 8),
                "markPrice": _fixed(v.mark, 8), "unRealizedProfit": _money(v.upnl),
                "liquidationPrice": _fixed(liquidation, 8) if liquidation else "0",
                "leverage": str(_CM_LEVERAGE), "positionSide": leg.side, "updateTime": leg.update_ms,
                "maxQty": str(_CM_MAX_QTY), "notionalValue": _money(v.notional),
            })
        if not self.hedge:
            rows.append({"symbol": _CM_FLAT, "positionAmt": "0", "entryPrice": "0.0", "markPrice": "0.00000000",
                         "unRealizedProfit": "0.00000000", "liquidationPrice": "0", "leverage": str(_CM_LEVERAGE),
                         "positionSide": "BOTH", "updateTime": 0, "maxQty": str(_CM_MAX_QTY),
                         "notionalValue": "0"})
        return _dumps(rows)

    def _balance(self, snap: _Snapshot, params: dict[str, str], now: float) -> bytes:
        rows = [_balance_row(a, *((self._loan, snap.interest) if a.asset == _LOAN_ASSET else (0, 0)))
                for a in snap.assets]
        if snap.cm is not None:  # the COIN-M wallet, in its coin: as Binance lists it, one asset row
            rows.append(_cm_balance_row(snap.cm))
        wanted = params.get("asset")
        if wanted is None:
            return _dumps(rows)
        # With `asset`, Binance answers one object; an asset we do not hold is all zeros.
        match = next((r for r in rows if r["asset"] == wanted), None)
        return _dumps(match or _balance_row(_AssetView(wanted, 0, 0, 0, 0, 0, 0)))


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name, "")
    return int(value) if value.isascii() and value.isdigit() else None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=_JSON_SEPARATORS).encode()


def _um_asset(a: _AssetView) -> dict[str, Any]:
    return {
        "asset": a.asset,
        "crossWalletBalance": _money(a.wallet),
        "crossUnPnl": _money(a.upnl),
        "maintMargin": _money(a.maint),
        "initialMargin": _money(a.position_im + a.order_im),
        "positionInitialMargin": _money(a.position_im),
        "openOrderInitialMargin": _money(a.order_im),
        "updateTime": a.update_ms,
    }


def _um_position(v: _LegView) -> dict[str, Any]:
    leg = v.leg
    return {
        "symbol": leg.symbol.name,
        "initialMargin": _money(v.initial),
        "maintMargin": _money(v.maint),
        "unrealizedProfit": _money(v.upnl),
        "positionSide": leg.side,
        "positionAmt": _fixed(leg.amt, leg.symbol.qty_dp),
        "updateTime": leg.update_ms,
        "notional": _money(v.notional),
    }


def _cm_flat(symbol: str, side: str) -> dict[str, Any]:
    return {"symbol": symbol, "positionAmt": "0", "initialMargin": "0", "maintMargin": "0",
            "unrealizedProfit": "0.00000000", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
            "leverage": str(_CM_LEVERAGE), "positionSide": side, "entryPrice": "0.0",
            "maxQty": str(_CM_MAX_QTY), "updateTime": 0}


def _risk_row(v: _LegView, liquidation: float) -> dict[str, Any]:
    leg, sym = v.leg, v.leg.symbol
    break_even = leg.entry * (1 + math.copysign(_FEE, leg.amt))
    return {
        "entryPrice": _fixed(leg.entry, sym.price_dp + 2),
        "breakEvenPrice": _fixed(break_even, sym.price_dp + 2),
        "leverage": str(leg.leverage),
        "markPrice": _fixed(v.mark, 8),
        "maxNotionalValue": str(_max_notional(leg.leverage)),
        "positionAmt": _fixed(leg.amt, sym.qty_dp),
        "notional": _money(v.notional),
        "symbol": sym.name,
        "unRealizedProfit": _money(v.upnl),
        "liquidationPrice": _fixed(liquidation, 8) if liquidation else "0",
        "positionSide": leg.side,
        "updateTime": leg.update_ms,
    }


def _step(places: int) -> str:
    """A size of 10**-places as Binance writes it: '0.001', '1'."""
    return f"{Decimal(1).scaleb(-places):f}"


def _symbol_info(sym: _Symbol) -> dict[str, Any]:
    tick, step = _step(sym.price_dp), _step(sym.qty_dp)
    base = sym.name[: -len(sym.quote)]
    return {
        "symbol": sym.name, "pair": sym.name, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": base, "quoteAsset": sym.quote, "marginAsset": sym.quote,
        "pricePrecision": sym.price_dp, "quantityPrecision": sym.qty_dp,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "100000", "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _balance_row(a: _AssetView, borrowed: int = 0, interest: int = 0) -> dict[str, Any]:
    """`borrowed`: a cross-margin loan in this asset, held as free cross-margin cash (which
    Binance counts in totalWalletBalance); `interest`: what it has accrued."""
    zero = _money(0)
    return {
        "asset": a.asset,
        "totalWalletBalance": _money(a.wallet + borrowed),
        "crossMarginAsset": _money(borrowed),
        "crossMarginBorrowed": _money(borrowed),
        "crossMarginFree": _money(borrowed),
        "crossMarginInterest": _money(interest),
        "crossMarginLocked": zero,
        "umWalletBalance": _money(a.wallet),
        "umUnrealizedPNL": _money(a.upnl),
        "cmWalletBalance": zero,
        "cmUnrealizedPNL": zero,
        "updateTime": a.update_ms,
        "negativeBalance": zero,
    }


def _cm_balance_row(v: _CmView) -> dict[str, Any]:
    """The COIN-M margin coin's row: its wallet and uPnL in the coin, nothing borrowed."""
    zero = _money(0)
    return {
        "asset": v.leg.symbol.quote, "totalWalletBalance": _money(v.wallet), "crossMarginAsset": zero,
        "crossMarginBorrowed": zero, "crossMarginFree": zero, "crossMarginInterest": zero,
        "crossMarginLocked": zero, "umWalletBalance": zero, "umUnrealizedPNL": zero,
        "cmWalletBalance": _money(v.wallet), "cmUnrealizedPNL": _money(v.upnl), "updateTime": v.leg.update_ms,
        "negativeBalance": zero,
    }


class _DemoConnect:
    """`async with exchange.connect(url) as ws` (and `ws = await exchange.connect(url)`)."""

    def __init__(self, exchange: DemoExchange, url: str, coin_m: bool = False) -> None:
        self._exchange = exchange
        self._url = url
        self._coin_m = coin_m
        self._socket: _DemoSocket | _DemoMarkSocket | None = None

    def __await__(self) -> Generator[Any, None, _DemoSocket | _DemoMarkSocket]:
        async def open_() -> _DemoSocket | _DemoMarkSocket:
            self._socket = self._exchange._open_socket(self._url, self._coin_m)
            return self._socket

        return open_().__await__()

    async def __aenter__(self) -> _DemoSocket | _DemoMarkSocket:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()


def _combined_pairs(url: str) -> tuple[str, ...]:
    """The pairs of a combined COIN-M mark price stream's URL (`/stream?streams=<pair>@markPrice@1s/…`,
    lowercase); any other URL is refused, HTTP 400."""
    parts = urlsplit(url)
    streams = dict(parse_qsl(parts.query)).get("streams", "").split("/") if parts.path == "/stream" else [""]
    pairs = tuple(s.removesuffix(PAIR_STREAM_SUFFIX) for s in streams)
    if not all(s.endswith(PAIR_STREAM_SUFFIX) and p.isascii() and p.isalnum() and p == p.lower()
               for s, p in zip(streams, pairs, strict=True)):
        raise InvalidStatus(Response(400, "Bad Request", Headers(), b""))
    return pairs


class _DemoMarkSocket:
    """The demo's `!markPrice@arr@1s` (its held USD-M symbols' marks), or with `pairs` COIN-M's
    combined pair streams (a frame per pair it has a symbol of): a round of frames a second (the
    market itself moves a step per poll round, as the REST answers see it)."""

    def __init__(self, exchange: DemoExchange, pairs: tuple[str, ...] | None = None) -> None:
        self._exchange = exchange
        self._pairs = pairs
        self._closed = False
        self._first = True
        self._round: deque[str] = deque()

    async def recv(self) -> str:
        while not self._round:
            if not self._first:
                await asyncio.sleep(1.0)
            self._first = False
            if self._closed:
                raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)
            if self._pairs is None:
                self._round.append(self._exchange.mark_frame())
            else:
                self._round.extend(f for p in self._pairs if (f := self._exchange.pair_frame(p)) is not None)
        return self._round.popleft()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._closed = True


class _DemoSocket:
    """The subset of a websockets ClientConnection that pmtui.stream uses."""

    def __init__(self, exchange: DemoExchange) -> None:
        self._exchange = exchange
        self._frames: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        self._closed = False

    def push(self, frame: str) -> None:
        if not self._closed and not self._frames.full():  # a reader that stalls misses new frames
            self._frames.put_nowait(frame)

    def push_close(self) -> None:
        """The listen key was closed: the connection ends once its queued frames are read."""
        if not self._closed and not self._frames.full():
            self._frames.put_nowait(None)

    async def recv(self) -> str:
        if self._closed:
            raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)
        frame = await self._frames.get()
        if frame is None:
            await self.close()
            raise ConnectionClosedOK(Close(1000, "listen key closed"), Close(1000, ""), True)
        return frame

    def __aiter__(self) -> _DemoSocket:
        return self

    async def __anext__(self) -> str:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def ping(self, data: bytes | None = None) -> asyncio.Future[float]:
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        done.set_result(0.0)
        return done

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            if self in self._exchange._sockets:
                self._exchange._sockets.remove(self)
            if not self._frames.full():
                self._frames.put_nowait(None)
