"""Response models. Money is `Decimal` from the wire on; each model keeps its raw dict so JSON
output can repeat the API's decimal strings exactly.

Parsing is lenient where the live API varies (added fields, numbers as strings or ints) and strict
where a wrong value would mislead: a field the risk maths need (uniMMR, equity, maintenance
margin; a row's symbol, side, amount and margins) must be there and be a finite number. Every
other field is optional: Binance sends "" for "not given" (its own /papi/v1/account example has
`"totalAvailableBalance": ""`), so "", null, a missing key and, logged at debug, a value that is
not a number all parse as None, shown as "—". The raw dict keeps "" as sent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PrivateAttr, ValidationError

from pmtui.errors import MalformedResponse, SchemaError
from pmtui.text import clean

log = logging.getLogger(__name__)

ZERO = Decimal(0)
# Decimals past this many digits are not money; refusing them keeps arithmetic cheap and bounded.
_MAX_DIGITS = 60


def _json_type(value: Any) -> str:
    """A value's type as JSON names it: a person reads "got null", not "got NoneType"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__  # list, dict


#: What a decimal on the wire may look like: JSON's number grammar (leading zeros allowed), ASCII
#: digits only. Python's Decimal() would also read "5_0", "٥" (Arabic-Indic), "５" (full-width),
#: "NaN", "Infinity" and ".5": none is a number Binance writes, so each is bad input. The exponent
#: form stays: it is JSON, and a Java BigDecimal's toString() writes it ("0E-8"); the range check
#: below bounds it.
_WIRE_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):  # bool is an int subclass; "true" is never an amount
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _WIRE_DECIMAL.fullmatch(text):
            raise ValueError(f"expected a decimal number, got {value[:40]!r}")
        number = Decimal(text)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        raise ValueError(f"expected a decimal number, got {_json_type(value)}")
    if not number.is_finite():
        raise ValueError("expected a finite number")
    sign, digits, exponent = number.as_tuple()
    if len(digits) > _MAX_DIGITS or not -_MAX_DIGITS <= int(exponent) <= _MAX_DIGITS:
        raise ValueError("number out of range")
    return number


#: The same, for the stream's events (raises ValueError).
wire_decimal = _to_decimal


def _to_millis(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a time in milliseconds, got a boolean")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "١٧٦٠
        value = int(value.strip())
    if isinstance(value, Decimal):
        # Range first: int(Decimal("1e999999")) would build a million-digit integer (~30 s).
        if not (value.is_finite() and 0 <= value < 10**15 and value == value.to_integral_value()):
            raise ValueError("expected a time in milliseconds")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 10**15:
        raise ValueError("expected a time in milliseconds")
    return value


#: Ends a name that had control characters (or was cut) when cleaned: "BTC\x1b[2JUSDT" becomes
#: "BTCUSDT\ufffd", never "BTCUSDT", so it cannot merge into (or replace) the real row, and a
#: tampered "NORMAL\x07" status does not read as NORMAL.
CLEANED_MARK = "\ufffd"


def _to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_json_type(value)}")
    if not value.strip():  # "" is Binance's "not given": no symbol, side or asset to key a row by
        raise ValueError("expected text, got an empty string")
    # The one boundary for the exchange's names (symbols, assets, sides, status): stripped of
    # control sequences rather than refused, so one bad name does not blank the whole account.
    shown = clean(value)
    return value if shown == value else shown + CLEANED_MARK


T = TypeVar("T")


def _optional(convert: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """A converter for a field that may be absent: "" and null are Binance's "not given", and a
    value that does not convert is dropped (with a debug line), never a reason to refuse a payload."""

    def to_optional(value: Any) -> T | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return convert(value)
        except ValueError as err:
            log.debug("optional field dropped: %s", err)
            return None

    return to_optional


Money = Annotated[Decimal, BeforeValidator(_to_decimal)]
Millis = Annotated[int, BeforeValidator(_to_millis)]
Text = Annotated[str, BeforeValidator(_to_text)]
#: Optional fields: None when not given (see the module docstring). Declare them `= None`.
OptMoney = Annotated[Decimal | None, BeforeValidator(_optional(_to_decimal))]
OptMillis = Annotated[int | None, BeforeValidator(_optional(_to_millis))]
OptText = Annotated[str | None, BeforeValidator(_optional(_to_text))]


class WireModel(BaseModel):
    """A row as the API sent it: typed fields plus the untouched dict."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        obj = cls.model_validate(data)
        obj._raw = data
        return obj


class Asset(WireModel):
    asset: Text
    crossWalletBalance: Money
    crossUnPnl: Money
    maintMargin: Money
    initialMargin: Money
    positionInitialMargin: OptMoney = None
    openOrderInitialMargin: OptMoney = None
    updateTime: OptMillis = None

    @property
    def margin_balance(self) -> Decimal:
        """Wallet balance plus unrealised PnL: what the maintenance margin is measured against."""
        return self.crossWalletBalance + self.crossUnPnl

    @property
    def is_zero(self) -> bool:
        return not any(
            (self.crossWalletBalance, self.crossUnPnl, self.maintMargin, self.initialMargin)
        )


class _PositionRow(WireModel):
    """What a UM and a COIN-M position row share: identity and direction."""

    symbol: Text
    positionSide: Text
    positionAmt: Money

    @property
    def key(self) -> tuple[str, str]:
        """A row's identity: one symbol has two rows (LONG, SHORT) in hedge mode."""
        return (self.symbol, self.positionSide)

    @property
    def is_open(self) -> bool:
        return self.positionAmt != 0

    @property
    def is_long(self) -> bool:
        if self.positionSide == "SHORT":
            return False
        if self.positionSide == "LONG":
            return True
        return self.positionAmt > 0


class Position(_PositionRow):
    # Required although not a margin: the what-if shock (risk.signed_notional) moves it, and a
    # position left out of a shock would make the estimate look safer than it is.
    notional: Money
    # Optional: health treats an open position with an unknown uPnL as WARN, never as no loss.
    unrealizedProfit: OptMoney = None
    initialMargin: Money
    maintMargin: Money
    updateTime: OptMillis = None


class UmAccount(BaseModel):
    """`GET /papi/v2/um/account`."""

    model_config = ConfigDict(frozen=True)
    assets: tuple[Asset, ...]
    positions: tuple[Position, ...]

    @property
    def open_positions(self) -> tuple[Position, ...]:
        # Position.is_open, inlined: a property call per row was 2/3 of build_view at 2000 rows.
        return tuple([p for p in self.positions if p.positionAmt != 0])

    @property
    def hedge_mode(self) -> bool:
        return any(p.positionSide in ("LONG", "SHORT") for p in self.positions)


class PmAccount(WireModel):
    """`GET /papi/v1/account`: the account-level view with uniMMR."""

    uniMMR: Money
    accountEquity: Money
    accountMaintMargin: Money
    actualEquity: OptMoney = None
    accountInitialMargin: OptMoney = None
    accountStatus: OptText = None  # None: not given (uniMMR's band still judges the account)
    virtualMaxWithdrawAmount: OptMoney = None
    totalAvailableBalance: OptMoney = None
    totalMarginOpenLoss: OptMoney = None
    updateTime: OptMillis = None


class Balance(WireModel):
    """One asset of `GET /papi/v1/balance`: the whole account's wallet in that asset, cross
    margin (loans and interest included) and the UM and CM wallets. Only the asset is required:
    Binance sends "" for figures it does not give (`cmUnrealizedPNL` in its own examples), and a
    missing figure reads as zero here, never as a reason to drop the account's other balances."""

    asset: Text
    totalWalletBalance: OptMoney = None
    crossMarginAsset: OptMoney = None
    crossMarginBorrowed: OptMoney = None
    crossMarginFree: OptMoney = None
    crossMarginInterest: OptMoney = None
    crossMarginLocked: OptMoney = None
    umWalletBalance: OptMoney = None
    umUnrealizedPNL: OptMoney = None
    cmWalletBalance: OptMoney = None
    cmUnrealizedPNL: OptMoney = None
    negativeBalance: OptMoney = None
    updateTime: OptMillis = None  # ms; Binance sometimes sends it as a string of digits

    @property
    def borrowed(self) -> Decimal:
        return self.crossMarginBorrowed or ZERO

    @property
    def interest(self) -> Decimal:
        return self.crossMarginInterest or ZERO

    @property
    def negative(self) -> Decimal:
        """The negative balance Binance reports, as a positive amount owed (0: none)."""
        return abs(self.negativeBalance or ZERO)

    @property
    def owed(self) -> Decimal:
        """What this asset owes: the loan, its interest and any negative balance. Each by its size:
        a (never valid) negative interest must not cancel a loan into "owes nothing"."""
        return abs(self.borrowed) + abs(self.interest) + self.negative

    @property
    def is_zero(self) -> bool:
        return not any((self.totalWalletBalance, self.crossMarginAsset, self.crossMarginBorrowed,
                        self.crossMarginFree, self.crossMarginInterest, self.crossMarginLocked,
                        self.umWalletBalance, self.umUnrealizedPNL, self.cmWalletBalance,
                        self.cmUnrealizedPNL, self.negativeBalance))


class PositionRisk(WireModel):
    """One row of `GET /papi/v1/um/positionRisk`."""

    symbol: Text
    positionSide: Text
    positionAmt: Money
    entryPrice: OptMoney = None
    markPrice: OptMoney = None
    liquidationPrice: OptMoney = None  # "0": Binance gives none; None: not given
    leverage: OptMoney = None
    unRealizedProfit: OptMoney = None
    notional: OptMoney = None
    maxNotionalValue: OptMoney = None
    breakEvenPrice: OptMoney = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.symbol, self.positionSide)


# --- COIN-M (coin-margined futures in the same Portfolio Margin account) -------------------------
# Amounts are in contracts (an inverse contract is worth a fixed number of USD), margins and uPnL
# in the coin the symbol is margined in (BTC for BTCUSD_PERP and BTCUSD_250627).


def coin_of(symbol: str) -> str | None:
    """The coin a COIN-M symbol is margined in: "BTCUSD_PERP" -> "BTC"; None when the symbol is not
    shaped like one (then no price converts its coin figures)."""
    pair = symbol.partition("_")[0]
    coin = pair.removesuffix("USD")
    return coin if coin and coin != pair and coin.isalnum() else None


class CmAsset(Asset):
    """One `assets` row of `GET /papi/v1/cm/account`: the fields of a UM asset row, in the coin.
    Its own class so the row cache (_LAST_ROWS) keeps the two accounts apart."""


class CmPosition(_PositionRow):
    """One `positions` row of `GET /papi/v1/cm/account` (positionAmt in contracts)."""

    initialMargin: Money  # in the coin
    maintMargin: Money  # in the coin
    unrealizedProfit: OptMoney = None  # in the coin
    positionInitialMargin: OptMoney = None
    openOrderInitialMargin: OptMoney = None
    leverage: OptMoney = None
    entryPrice: OptMoney = None
    maxQty: OptMoney = None
    updateTime: OptMillis = None

    @property
    def coin(self) -> str | None:
        return coin_of(self.symbol)


class CmAccount(WireModel):
    """`GET /papi/v1/cm/account`; `raw` is the whole body (snapshot --json repeats it unchanged)."""

    assets: tuple[CmAsset, ...]
    positions: tuple[CmPosition, ...]

    @property
    def open_positions(self) -> tuple[CmPosition, ...]:
        return tuple([p for p in self.positions if p.positionAmt != 0])


class CmPositionRisk(WireModel):
    """One row of `GET /papi/v1/cm/positionRisk`."""

    symbol: Text
    positionSide: Text
    positionAmt: Money
    entryPrice: OptMoney = None
    markPrice: OptMoney = None
    liquidationPrice: OptMoney = None  # "0": Binance gives none; None: not given
    leverage: OptMoney = None
    unRealizedProfit: OptMoney = None  # in the coin
    notionalValue: OptMoney = None  # in the coin
    maxQty: OptMoney = None
    updateTime: OptMillis = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.symbol, self.positionSide)


# --- parsing from bytes -------------------------------------------------------------------------

M = TypeVar("M", bound=WireModel)


def decode_json(body: bytes) -> Any:
    """Bytes -> JSON with floats as Decimal; anything else is MalformedResponse."""
    if not body.strip():
        raise MalformedResponse("The exchange sent an empty response.")
    if body.lstrip()[:1] == b"<":
        raise MalformedResponse("The exchange sent a web page instead of data (a proxy or outage?).")
    try:
        # parse_constant: a bare NaN/Infinity becomes a Decimal that the models refuse, and that
        # JSON output writes back as a string, never as the invalid token NaN.
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError):
        raise MalformedResponse("The exchange sent a response that is not valid JSON (cut off?).") from None


def _describe(err: ValidationError, what: str) -> SchemaError:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the top level"
    # Pydantic's "Value error, " prefix says nothing to a person; lower-case only the first letter
    # so a quoted value from the wire stays as it was sent.
    msg = first["msg"].removeprefix("Value error, ")
    return SchemaError(
        f"The {what} response changed shape: {where}: {msg[:1].lower()}{msg[1:]} "
        f"({err.error_count()} problem{'s' if err.error_count() != 1 else ''})."
    )


# The rows the last parse of each list validated, by index, as (model, row, keys of int values).
# A refresh repeats most rows unchanged (hedge mode on 1000 symbols: 2000 position rows, a few
# dozen open), and validating them again was ~70% of a refresh's cost (bench/pipeline.py). A
# row is reused only when it equals the earlier one exactly: the same keys, values only of type
# str or int, equal and of the same type (True == 1 and Decimal(1) == 1, so the int values'
# types are checked again). Validation depends on nothing else, so the result is the same model.
_Seen = tuple[Any, dict[str, Any], tuple[str, ...]]  # (model, row, keys of int values)
_LAST_ROWS: dict[tuple[type, str | None], list[_Seen | None]] = {}


def _reusable(obj: Any, row: dict[str, Any]) -> _Seen | None:
    int_keys = []
    for key, value in row.items():
        if type(value) is int:
            int_keys.append(key)
        elif type(value) is not str:
            return None  # Decimal, bool, None, nested: validate every time
    return (obj, row, tuple(int_keys))


def _still_ints(row: dict[str, Any], keys: tuple[str, ...]) -> bool:
    for key in keys:
        if type(row[key]) is not int:
            return False
    return True


def _rows(data: Any, field: str | None, model: type[M], what: str) -> tuple[M, ...]:
    rows = data.get(field) if field is not None and isinstance(data, dict) else data
    if field is not None and not isinstance(data, dict):
        raise SchemaError(f"The {what} response is not a JSON object.")
    if not isinstance(rows, list):
        raise SchemaError(f"The {what} response has no list of {field or 'rows'}.")
    last = _LAST_ROWS.get((model, field), [])
    n_last = len(last)
    seen: list[_Seen | None] = []
    out = []
    for i, row in enumerate(rows):
        if type(row) is not dict and not isinstance(row, dict):
            raise SchemaError(f"The {what} response has a {field or 'row'} entry that is not an object (#{i}).")
        before = last[i] if i < n_last else None
        if before is not None and before[1] == row:
            # Equal is not enough: 1 == 1.0 == True. The int fields must still be ints.
            ints = before[2]
            if len(ints) == 1 and type(row[ints[0]]) is int or not ints or _still_ints(row, ints):
                out.append(before[0])
                seen.append(before)
                continue
        try:
            obj = model.from_wire(row)
        except ValidationError as err:
            raise _prefix(_describe(err, what), f"{field or 'rows'}[{i}]") from None
        out.append(obj)
        seen.append(_reusable(obj, row))
    _LAST_ROWS[(model, field)] = seen
    return tuple(out)


def _prefix(err: SchemaError, where: str) -> SchemaError:
    return SchemaError(err.message.replace("changed shape: ", f"changed shape: {where}.", 1))


def parse_um_account(data: Any) -> UmAccount:
    """Parsed JSON of `/papi/v2/um/account` -> UmAccount, or SchemaError."""
    what = "UM account"
    assets = _rows(data, "assets", Asset, what)
    positions = _rows(data, "positions", Position, what)
    # A row's identity is (symbol, positionSide); tables are keyed by it. Should the API repeat a
    # key, the later row wins (it is the newer one in the list), keeping the first one's place;
    # but an open row never loses to a flat one, in either order, as in risk.join: hiding a real
    # position behind a zero row would make the account look safer than it is.
    keys = [(p.symbol, p.positionSide) for p in positions]  # Position.key
    if len(set(keys)) != len(keys):
        unique: dict[tuple[str, str], Position] = {}
        for key, p in zip(keys, positions, strict=True):
            held = unique.get(key)
            if held is not None and held.is_open and not p.is_open:
                continue
            unique[key] = p
        positions = tuple(unique.values())
    return UmAccount(assets=assets, positions=positions)


def parse_pm_account(data: Any) -> PmAccount:
    if not isinstance(data, dict):
        raise SchemaError("The account response is not a JSON object.")
    try:
        return PmAccount.from_wire(data)
    except ValidationError as err:
        raise _describe(err, "account") from None


def parse_position_risk(data: Any) -> tuple[PositionRisk, ...]:
    return _rows(data, None, PositionRisk, "position risk")


def parse_balance(data: Any) -> tuple[Balance, ...]:
    """Parsed JSON of `/papi/v1/balance` -> one Balance per asset, or SchemaError. Binance answers
    a list, or one object when asked for one asset: both are accepted. Should an asset repeat,
    the later row wins in the first one's place, but never a row without debt over one with it
    (a zero row must not hide a loan)."""
    if isinstance(data, dict):
        try:
            rows: tuple[Balance, ...] = (Balance.from_wire(data),)
        except ValidationError as err:
            raise _describe(err, "balance") from None
    else:
        rows = _rows(data, None, Balance, "balance")
    assets = [b.asset for b in rows]
    if len(set(assets)) == len(assets):
        return rows
    unique: dict[str, Balance] = {}
    for b in rows:
        held = unique.get(b.asset)
        if held is not None and held.owed and not b.owed:
            continue
        unique[b.asset] = b
    return tuple(unique.values())


def _unique(rows: tuple[CmPosition, ...], keys: list[tuple[str, str]]) -> tuple[CmPosition, ...]:
    """Rows with a repeated (symbol, side) key merged as parse_um_account does: the later row wins,
    in the first one's place, but an open row never loses to a flat one."""
    if len(set(keys)) == len(keys):
        return rows
    unique: dict[tuple[str, str], CmPosition] = {}
    for key, p in zip(keys, rows, strict=True):
        held = unique.get(key)
        if held is not None and held.is_open and not p.is_open:
            continue
        unique[key] = p
    return tuple(unique.values())


def parse_cm_account(data: Any) -> CmAccount:
    """Parsed JSON of `/papi/v1/cm/account` -> CmAccount, or SchemaError."""
    what = "CM account"
    assets = _rows(data, "assets", CmAsset, what)
    positions = _rows(data, "positions", CmPosition, what)
    account = CmAccount(assets=assets, positions=_unique(positions, [p.key for p in positions]))
    account._raw = data
    return account


def parse_cm_position_risk(data: Any) -> tuple[CmPositionRisk, ...]:
    return _rows(data, None, CmPositionRisk, "CM position risk")


# --- the ledger: what the account paid and received, and what was forced (pmtui.ledger) --------
# Five kinds of rows, each parsed into one LedgerEntry. Lenient per row: a row that does not read
# (no time, no id, an amount that is not a number) is left out and counted, never a reason to drop
# the page, since one odd row must not hide a liquidation beside it. Every text field is cleaned.

#: Income types (Binance's /papi/v1/um/income and cm/income "incomeType") and the kind each
#: counts under. Any other type is kept and shown as it came, under "other".
INCOME_KINDS = {
    "FUNDING_FEE": "funding",
    "COMMISSION": "commission",
    "REALIZED_PNL": "realized",
    "INSURANCE_CLEAR": "liquidation fee",
    "AUTO_EXCHANGE": "auto-exchange",
    "TRANSFER": "transfer",
    "INTERNAL_TRANSFER": "transfer",
    "CROSS_COLLATERAL_TRANSFER": "transfer",
}
#: An amount past this (in any asset) is not a fee or a funding payment: it is shown as data, and
#: left out of the totals with a sentence (pmtui.ledger).
IMPLAUSIBLE = Decimal("1e12")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One row of the ledger: `source` is the endpoint's path, `id` its key within that path
    (deduplicated on both), `amount` signed as the account sees it (interest is a cost, so
    negative); `raw` the row as the API sent it."""

    source: str
    id: str
    time: int  # ms, server time
    kind: str  # funding, commission, interest, realized, liquidation, adl, auto-exchange, ...
    type: str  # the API's own word: incomeType, the interest type, LIQUIDATION/ADL
    asset: str | None
    amount: Decimal | None
    symbol: str | None = None
    info: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def forced(self) -> bool:
        """A liquidation or ADL fill: news a person must not miss."""
        return self.kind in ("liquidation", "adl")

    @property
    def implausible(self) -> bool:
        return self.amount is not None and abs(self.amount) > IMPLAUSIBLE


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One response: its entries in the order sent, and how many rows did not read (and why,
    the first one's reason)."""

    entries: tuple[LedgerEntry, ...]
    dropped: int = 0
    why: str | None = None
    #: Rows in the response, read or not (a full page means there may be more).
    count: int = 0


def _row_text(value: Any) -> str:
    """Free text from a row (`info`, an id): cleaned, "" when not text or not given."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, Decimal)):
        return str(value)
    return clean(value) if isinstance(value, str) else ""


def _ledger_page(data: Any, field_name: str | None, what: str,
                 read: Callable[[dict[str, Any]], LedgerEntry]) -> LedgerPage:
    rows = data.get(field_name) if field_name is not None and isinstance(data, dict) else data
    if field_name is not None and isinstance(data, dict) and rows is None and data.get("total") in (0, "0"):
        rows = []  # {"total": 0} with no rows: nothing in the window
    if not isinstance(rows, list):
        raise SchemaError(f"The {what} response has no list of {field_name or 'rows'}.")
    out: list[LedgerEntry] = []
    dropped, why = 0, None
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValueError("not an object")
            out.append(read(row))
        except (ValueError, ValidationError, KeyError, TypeError) as err:
            dropped += 1
            if why is None:
                msg = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
                why = f"row {i}: {clean(msg.removeprefix('Value error, '), 80)}"
    return LedgerPage(tuple(out), dropped, why, len(rows))


def _need(row: dict[str, Any], key: str, convert: Callable[[Any], T]) -> T:
    if key not in row:
        raise ValueError(f"no {key}")
    try:
        return convert(row[key])
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


def _id(value: Any) -> str:
    text = _row_text(value)
    if not text.strip():
        raise ValueError("expected an id")
    return text


def _maybe(row: dict[str, Any], key: str, convert: Callable[[Any], T]) -> T | None:
    return _optional(convert)(row.get(key))


def _income_entry(path: str) -> Callable[[dict[str, Any]], LedgerEntry]:
    def read(row: dict[str, Any]) -> LedgerEntry:
        kind_word = _need(row, "incomeType", _to_text)
        # "trandId is unique in the same incomeType for a user" (the official SDK's docstring).
        return LedgerEntry(
            path, f"{kind_word}:{_need(row, 'tranId', _id)}", _need(row, "time", _to_millis),
            INCOME_KINDS.get(kind_word, "other"), kind_word, _maybe(row, "asset", _to_text),
            _need(row, "income", _to_decimal), _maybe(row, "symbol", _to_text), _row_text(row.get("info")), row)
    return read


def _forced_kind(row: dict[str, Any]) -> str:
    """LIQUIDATION or ADL: Binance marks its forced orders by client order id ("autoclose-" a
    liquidation, "adl_autoclose" an ADL: the PM user data stream's ORDER_TRADE_UPDATE page,
    tests/fixtures/real/stream/order_trade_update.en.json). A row
    with neither is a forced order of unknown cause: counted as a liquidation, the worse news."""
    cid = row.get("clientOrderId")
    return "ADL" if isinstance(cid, str) and cid.startswith("adl_") else "LIQUIDATION"


def _force_entry(path: str) -> Callable[[dict[str, Any]], LedgerEntry]:
    def read(row: dict[str, Any]) -> LedgerEntry:
        word = _forced_kind(row)
        at = _maybe(row, "updateTime", _to_millis) or _need(row, "time", _to_millis)
        qty = _maybe(row, "executedQty", _to_decimal)
        price = _maybe(row, "avgPrice", _to_decimal)
        side = _maybe(row, "side", _to_text) or "?"
        status = _maybe(row, "status", _to_text) or "?"
        info = f"{side} {fmt_plain(qty)} @ {fmt_plain(price)} ({status.lower()})"
        return LedgerEntry(path, _need(row, "orderId", _id), at, word.lower(), word, None, None,
                           _need(row, "symbol", _to_text), info, row)
    return read


def fmt_plain(value: Decimal | None) -> str:
    return "?" if value is None else format(value, "f")


def _pm_interest_entry(path: str) -> Callable[[dict[str, Any]], LedgerEntry]:
    def read(row: dict[str, Any]) -> LedgerEntry:
        asset = _need(row, "asset", _to_text)
        at = _need(row, "interestAccuredTime", _to_millis)  # sic: Binance's spelling
        rate = _maybe(row, "interestRate", _to_decimal)
        return LedgerEntry(path, f"{asset}:{at}", at, "interest", "NEGATIVE_BALANCE", asset,
                           -_need(row, "interest", _to_decimal), None,
                           f"on {fmt_plain(_maybe(row, 'principal', _to_decimal))} at {fmt_plain(rate)}", row)
    return read


def _margin_interest_entry(path: str) -> Callable[[dict[str, Any]], LedgerEntry]:
    def read(row: dict[str, Any]) -> LedgerEntry:
        asset = _need(row, "asset", _to_text)
        at = _need(row, "interestAccuredTime", _to_millis)
        word = _maybe(row, "type", _to_text) or "INTEREST"
        tx = _row_text(row.get("txId")) or f"{asset}:{at}:{word}"
        # PORTFOLIO is "Portfolio Margin negative balance daily interest" (the docs page): the same
        # charge /papi/v1/portfolio/interest-history lists, so it is counted from there, not twice.
        kind = "negative-balance interest" if word == "PORTFOLIO" else "interest"
        return LedgerEntry(path, tx, at, kind, word, asset, -_need(row, "interest", _to_decimal), None,
                           f"on {fmt_plain(_maybe(row, 'principal', _to_decimal))} at "
                           f"{fmt_plain(_maybe(row, 'interestRate', _to_decimal))}", row)
    return read


def _exchange_entry(path: str) -> Callable[[dict[str, Any]], LedgerEntry]:
    def read(row: dict[str, Any]) -> LedgerEntry:
        start = _need(row, "startTime", _to_millis)
        end = _maybe(row, "endTime", _to_millis)
        given = row.get("details")
        details: list[Any] = given if isinstance(given, list) else []
        parts = [f"{_row_text(d.get('asset'))} {_row_text(d.get('negativeBalance'))}"
                 for d in details if isinstance(d, dict)]
        return LedgerEntry(path, f"{start}:{end}", start, "auto-exchange", "NEGATIVE_BALANCE_EXCHANGE", None, None,
                           None, "negative balance exchanged: " + (", ".join(parts) or "?"), row)
    return read


def parse_um_income(data: Any) -> LedgerPage:
    return _ledger_page(data, None, "UM income", _income_entry("/papi/v1/um/income"))


def parse_cm_income(data: Any) -> LedgerPage:
    return _ledger_page(data, None, "CM income", _income_entry("/papi/v1/cm/income"))


def parse_um_force_orders(data: Any) -> LedgerPage:
    return _ledger_page(data, None, "UM force orders", _force_entry("/papi/v1/um/forceOrders"))


def parse_cm_force_orders(data: Any) -> LedgerPage:
    return _ledger_page(data, None, "CM force orders", _force_entry("/papi/v1/cm/forceOrders"))


def parse_pm_interest(data: Any) -> LedgerPage:
    return _ledger_page(data, None, "negative balance interest",
                        _pm_interest_entry("/papi/v1/portfolio/interest-history"))


def parse_margin_interest(data: Any) -> LedgerPage:
    return _ledger_page(data, "rows", "margin interest",
                        _margin_interest_entry("/papi/v1/margin/marginInterestHistory"))


def parse_negative_exchange(data: Any) -> LedgerPage:
    return _ledger_page(data, "rows", "negative balance exchange",
                        _exchange_entry("/papi/v1/portfolio/negative-balance-exchange-record"))
# --- the ADL queue and trading locks (/papi/v1/um|cm/adlQuantile, um/accountConfig, um/apiTradingStatus)
# Lenient row by row: these say how exposed or how free the account is, never what it holds, so
# one odd row is left out (logged at debug), never a reason to refuse the others.

#: Binance's ADL quantiles: 0 (back of the queue) to 4 (front: deleveraged first).
ADL_MAX = 4


def _adl_value(value: Any) -> int | None:
    """A quantile 0-4 as Binance sends it (a JSON int); anything else is not a quantile."""
    if type(value) is int and 0 <= value <= ADL_MAX:
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value() and 0 <= value <= ADL_MAX:
        return int(value)
    return None


class AdlQuantile(WireModel):
    """One row of `GET /papi/v1/um/adlQuantile` or `/papi/v1/cm/adlQuantile`: `{"symbol",
    "adlQuantile": {"LONG": 3, "SHORT": 3, "BOTH": 0}}` ("HEDGE" instead of "BOTH" in hedge mode
    with cross margin). Only the 0-4 values are kept; an unknown side or value is left out."""

    symbol: Text
    quantiles: dict[str, int] = {}

    def for_side(self, side: str, long: bool) -> int | None:
        """A position's quantile: its own side's in hedge mode; for a one-way ("BOTH") row the
        higher of BOTH and its direction's side, as Binance's page does not say which of them it
        fills: the queue position shown is never nearer the back than the exchange may mean."""
        if side != "BOTH":
            return self.quantiles.get(side)
        found = [q for k in ("BOTH", "LONG" if long else "SHORT") if (q := self.quantiles.get(k)) is not None]
        return max(found, default=None)


def parse_adl_quantiles(data: Any) -> tuple[AdlQuantile, ...]:
    """Parsed JSON of an adlQuantile endpoint -> its rows; a row without a symbol or a map of
    quantiles is left out. Not a list at all: SchemaError."""
    if not isinstance(data, list):
        raise SchemaError("The ADL quantile response is not a list.")
    out = []
    for row in data:
        if not isinstance(row, dict) or not isinstance(row.get("adlQuantile"), dict):
            log.debug("ADL quantile row dropped: not an object with adlQuantile")
            continue
        quantiles = {k: q for k, v in row["adlQuantile"].items()
                     if k in ("LONG", "SHORT", "BOTH") and (q := _adl_value(v)) is not None}
        try:
            item = AdlQuantile.model_validate({"symbol": row.get("symbol"), "quantiles": quantiles})
        except ValidationError as err:
            log.debug("ADL quantile row dropped: %s", err.errors()[0]["msg"])
            continue
        item._raw = row
        out.append(item)
    return tuple(out)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_json_type(value)}")


OptBool = Annotated[bool | None, BeforeValidator(_optional(_to_bool))]


class UmAccountConfig(WireModel):
    """`GET /papi/v1/um/accountConfig`: whether the UM account may trade at all (`canTrade`)."""

    canTrade: OptBool = None
    canDeposit: OptBool = None
    canWithdraw: OptBool = None
    dualSidePosition: OptBool = None
    updateTime: OptMillis = None


def parse_um_account_config(data: Any) -> UmAccountConfig:
    if not isinstance(data, dict):
        raise SchemaError("The UM account configuration response is not a JSON object.")
    try:
        return UmAccountConfig.from_wire(data)
    except ValidationError as err:  # every field is optional: only a shape this odd gets here
        raise _describe(err, "UM account configuration") from None


class TradingIndicator(WireModel):
    """One quantitative-rule indicator of `/papi/v1/um/apiTradingStatus` (UFR, IFER, GCR, DR,
    TMV...): `isLocked` with `plannedRecoverTime` when the rule has locked trading."""

    indicator: OptText = None
    isLocked: OptBool = None
    plannedRecoverTime: OptMillis = None
    value: OptMoney = None
    triggerValue: OptMoney = None


class TradingStatus(WireModel):
    """`GET /papi/v1/um/apiTradingStatus`: indicators by symbol, "ACCOUNT" for the whole account."""

    indicators: dict[str, tuple[TradingIndicator, ...]] = {}
    updateTime: OptMillis = None

    @property
    def locked(self) -> tuple[tuple[str, TradingIndicator], ...]:
        """(symbol or "ACCOUNT", indicator) of every rule that has locked trading."""
        return tuple((name, i) for name, rows in self.indicators.items() for i in rows if i.isLocked)


def parse_trading_status(data: Any) -> TradingStatus:
    """Parsed JSON of `/papi/v1/um/apiTradingStatus` -> TradingStatus; an indicator that is not an
    object is left out, and so is a name that is not clean text. `{}` (nothing to report) is
    an empty status."""
    if not isinstance(data, dict):
        raise SchemaError("The API trading status response is not a JSON object.")
    raw = data.get("indicators")
    indicators: dict[str, tuple[TradingIndicator, ...]] = {}
    for name, rows in (raw.items() if isinstance(raw, dict) else ()):
        try:
            key = _to_text(name)
        except ValueError:
            continue
        kept = []
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, dict):
                try:
                    kept.append(TradingIndicator.from_wire(row))
                except ValidationError as err:
                    log.debug("trading indicator dropped: %s", err.errors()[0]["msg"])
        indicators[key] = tuple(kept)
    status = TradingStatus(indicators=indicators, updateTime=_optional(_to_millis)(data.get("updateTime")))
    status._raw = data
    return status
