"""Every exchange endpoint pmtui may call, once: path, host, methods, weight, parser, and what its
refusal or absence means. The client's allowlist, the weight budget, the Monitor's schedules and
the risk feed all read this table, so a new endpoint is one row here (CONTRIBUTING.md).

Weights are Binance's "Request Weight" (papi-notes; the official SDK's "Weight(IP)"). A part that
is `optional` may be refused (AuthError) without failing a refresh or a snapshot: the rest goes
on and `unavailable[part]` says why in one sentence. `absent_ok`: a server that does not serve the
path at all (HTTP 404, e.g. a proxy that passes on only the UM endpoints) means the same as a
refusal, on the dashboard and in `snapshot` alike: retrying will not help, and the rest of the
account does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pmtui.errors import ApiError, AuthError, PmtuiError
from pmtui.market import SymbolRules, parse_exchange_info
from pmtui.models import (
    parse_adl_quantiles,
    parse_balance,
    parse_cm_account,
    parse_cm_force_orders,
    parse_cm_income,
    parse_cm_position_risk,
    parse_margin_interest,
    parse_negative_exchange,
    parse_pm_account,
    parse_pm_interest,
    parse_position_risk,
    parse_trading_status,
    parse_um_account,
    parse_um_account_config,
    parse_um_force_orders,
    parse_um_income,
)
from pmtui.riskinputs import parse_brackets, parse_collateral_rates, parse_index_prices, parse_margin_leverage

T = TypeVar("T")
#: Which base URL a path goes to: `base_url` (papi), `sapi_url` (Binance's spot API host) or
#: `time_base_url` (fapi: the server time and public market data).
Host = Literal["papi", "sapi", "fapi"]

GET = frozenset({"GET"})


def _raw(data: Any) -> Any:
    return data


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[T]):
    """One endpoint. `parse` turns its decoded JSON into what pmtui uses."""

    path: str
    host: Host
    weight: int
    parse: Callable[[Any], T]
    methods: frozenset[str] = GET
    #: Signed with the account's key (timestamp, signature); False: public, no key header.
    signed: bool = True
    #: The part of a state it fills, as `unavailable` names it ("account", "balance", "cm"...);
    #: set only on optional endpoints: a refusal leaves that part out, never fails the whole.
    part: str | None = None
    #: HTTP 404 means "this server does not serve it": said like a refusal, not retried.
    absent_ok: bool = False

    @property
    def optional(self) -> bool:
        return self.part is not None

    def unavailable(self, err: PmtuiError) -> str | None:
        """One sentence when `err` means this endpoint will not answer until a person acts (the key
        may not read it, or, where a 404 means so, the server does not serve it); None for a
        fault that may pass (retried on its cadence) or that says nothing about the endpoint."""
        if isinstance(err, AuthError):
            how = f"code {err.code}" if err.code is not None else f"HTTP {err.status}" if err.status else err.kind
            return f"the exchange refused {self.path} ({how}); the API key may lack access to it"
        if self.absent_ok and isinstance(err, ApiError) and err.status == 404:
            return f"the exchange does not serve {self.path} (HTTP 404)"
        return None


# --- the account (papi) ---------------------------------------------------------------------

UM_ACCOUNT = Endpoint("/papi/v2/um/account", "papi", 5, parse_um_account)
PM_ACCOUNT = Endpoint("/papi/v1/account", "papi", 20, parse_pm_account, part="account")
UM_POSITION_RISK = Endpoint("/papi/v1/um/positionRisk", "papi", 5, parse_position_risk, part="positionRisk")
BALANCE = Endpoint("/papi/v1/balance", "papi", 20, parse_balance, part="balance", absent_ok=True)
# "Request Weight 5" and "1" on Binance's "Get CM Account Detail" and "Query CM Position
# Information" pages; "Weight(IP): 5" and "1" in the official SDK (account_api.py).
CM_ACCOUNT = Endpoint("/papi/v1/cm/account", "papi", 5, parse_cm_account, part="cm", absent_ok=True)
CM_POSITION_RISK = Endpoint("/papi/v1/cm/positionRisk", "papi", 1, parse_cm_position_risk, part="cm",
                            absent_ok=True)
PING = Endpoint("/papi/v1/ping", "papi", 1, _raw, signed=False)
# POST creates the user data stream's listen key, PUT keeps it alive: "Request Weight 1" on
# Binance's Start/Keepalive User Data Stream pages, "Weight(IP): 1" in the official SDK
# (user_data_streams_api.py). It changes nothing in the account; it lets its holder read account
# events, so the key itself is a secret. Never DELETE: Binance hands every consumer of an account
# the same key, so closing it would cut the person's trading bot off its stream; an unused key
# expires by itself 60 minutes after the last keep-alive.
LISTEN_KEY = Endpoint("/papi/v1/listenKey", "papi", 1, _raw, methods=frozenset({"POST", "PUT"}), signed=False)

# --- the server time and market data (fapi, public) -------------------------------------------

SERVER_TIME = Endpoint("/fapi/v1/time", "fapi", 1, _raw, signed=False)
# "Request Weight 1" on Binance's USD-M "Exchange Information" page: each symbol's tick and step.
EXCHANGE_INFO: Endpoint[dict[str, SymbolRules]] = Endpoint(
    "/fapi/v1/exchangeInfo", "fapi", 1, parse_exchange_info, signed=False)

# --- the risk model's inputs (papi-notes "Inputs for the model", the official SDK's docstrings) ---

COLLATERAL_RATE = Endpoint("/sapi/v1/portfolio/collateralRate", "sapi", 50, parse_collateral_rates)
#: Weight 1 with `asset`; INDEX_ALL_WEIGHT without (every asset at once).
ASSET_INDEX_PRICE = Endpoint("/sapi/v1/portfolio/asset-index-price", "sapi", 1, parse_index_prices)
INDEX_ALL_WEIGHT = 50
MARGIN_LEVERAGE = Endpoint("/sapi/v1/portfolio/margin-asset-leverage", "sapi", 50, parse_margin_leverage)
UM_BRACKETS = Endpoint("/papi/v1/um/leverageBracket", "papi", 1, parse_brackets)
CM_BRACKETS = Endpoint("/papi/v1/cm/leverageBracket", "papi", 1, parse_brackets)

# --- the ledger (pmtui.ledger): flows and forced fills, polled minutes apart ------------------
# Weights: "Weight(IP): 30" (UM and CM income), "50" (negative balance interest), "1" (margin
# interest), "100" (negative balance auto-exchange) and, for forceOrders, "20 with symbol, 50
# without" in the official SDK's docstrings (binance-connector-python, account_api.py and
# trade_api.py); pmtui never sends a symbol, so 50. Each is optional ("ledger"): a key that may not
# read one leaves that part of the ledger out, with a sentence, and a 404 means the same.
UM_INCOME = Endpoint("/papi/v1/um/income", "papi", 30, parse_um_income, part="ledger", absent_ok=True)
CM_INCOME = Endpoint("/papi/v1/cm/income", "papi", 30, parse_cm_income, part="ledger", absent_ok=True)
PM_INTEREST = Endpoint("/papi/v1/portfolio/interest-history", "papi", 50, parse_pm_interest, part="ledger",
                       absent_ok=True)
MARGIN_INTEREST = Endpoint("/papi/v1/margin/marginInterestHistory", "papi", 1, parse_margin_interest,
                           part="ledger", absent_ok=True)
UM_FORCE_ORDERS = Endpoint("/papi/v1/um/forceOrders", "papi", 50, parse_um_force_orders, part="ledger",
                           absent_ok=True)
CM_FORCE_ORDERS = Endpoint("/papi/v1/cm/forceOrders", "papi", 50, parse_cm_force_orders, part="ledger",
                           absent_ok=True)
NEGATIVE_EXCHANGE = Endpoint("/papi/v1/portfolio/negative-balance-exchange-record", "papi", 100,
                             parse_negative_exchange, part="ledger", absent_ok=True)
LEDGER_ENDPOINTS: tuple[Endpoint[Any], ...] = (
    UM_INCOME, CM_INCOME, PM_INTEREST, MARGIN_INTEREST, UM_FORCE_ORDERS, CM_FORCE_ORDERS, NEGATIVE_EXCHANGE,
)
# --- the ADL queue and trading locks (issue 26) ---------------------------------------------------
# "Weight(IP): 5" on both adlQuantile methods of the official SDK (trade_api.py), whose docstring
# says "Values update every 30s"; accountConfig "Weight(IP): 5"; apiTradingStatus "1 for a single
# `symbol`, 10 when `symbol` is omitted" (account_api.py). Each optional: a key that may not read
# one loses that column or line, nothing else.
UM_ADL = Endpoint("/papi/v1/um/adlQuantile", "papi", 5, parse_adl_quantiles, part="adl")
CM_ADL = Endpoint("/papi/v1/cm/adlQuantile", "papi", 5, parse_adl_quantiles, part="adl", absent_ok=True)
UM_ACCOUNT_CONFIG = Endpoint("/papi/v1/um/accountConfig", "papi", 5, parse_um_account_config, part="locks")
UM_TRADING_STATUS = Endpoint("/papi/v1/um/apiTradingStatus", "papi", 10, parse_trading_status, part="locks")
ADL_ENDPOINTS: tuple[Endpoint[Any], ...] = (UM_ADL, CM_ADL, UM_ACCOUNT_CONFIG, UM_TRADING_STATUS)

ENDPOINTS: tuple[Endpoint[Any], ...] = (
    UM_ACCOUNT, PM_ACCOUNT, UM_POSITION_RISK, BALANCE, CM_ACCOUNT, CM_POSITION_RISK, PING, LISTEN_KEY,
    SERVER_TIME, EXCHANGE_INFO, COLLATERAL_RATE, ASSET_INDEX_PRICE, MARGIN_LEVERAGE, UM_BRACKETS, CM_BRACKETS,
    *LEDGER_ENDPOINTS,
    *ADL_ENDPOINTS,
)
BY_PATH: dict[str, Endpoint[Any]] = {e.path: e for e in ENDPOINTS}

