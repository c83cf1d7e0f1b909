"""MonitorStates as JSON lines, for viewers attached to `pmtui daemon` (pmtui/daemon.py, attach.py).

One message per line, each an object with the protocol version `v` and a `type`:

    {"v": 1, "type": "hello", "pmtui": "1.2.0", "pid": 4242, "demo": false,
     "profiles": [{"profile": "main", "error": null}, ...]}
    {"v": 1, "type": "state", "profile": "main", "state": {...}}

and from a viewer `{"op": "refresh"}` or `{"op": "pause", "paused": true}`, each with an optional
"profile" (none: every account).

A state travels as what it was built from, never as a picture of it: each exchange object as the
exchange's own JSON (its decimal strings exactly, so `watch --json` prints the same bytes
attached), and the view, the balance rows and the risk model rebuilt from those parts on the
viewer by the same pure functions the daemon used. The small plain parts (verdict, estimate,
notices, the stream's health) go through pydantic's TypeAdapter: Decimal as a string, the level
as its number. A state is published every second; its big parts mostly are the same objects as
in the last one, so both ends keep the last encoding of each (by identity here, by text there).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from pmtui import errors
from pmtui.alerts import AlertEvent
from pmtui.health import Level, Verdict
from pmtui.ledger import BY_PATH as LEDGER_BY_PATH
from pmtui.ledger import LedgerView
from pmtui.market import SymbolRules
from pmtui.model import Inputs, RiskModel
from pmtui.models import (
    ADL_MAX,
    AdlQuantile,
    Balance,
    CmAccount,
    CmPositionRisk,
    LedgerEntry,
    PmAccount,
    PositionRisk,
    UmAccount,
    parse_adl_quantiles,
    parse_balance,
    parse_cm_account,
    parse_cm_position_risk,
    parse_position_risk,
    parse_um_account,
    wire_decimal,
)
from pmtui.risk import Estimate
from pmtui.riskinputs import parse_brackets
from pmtui.settings import Thresholds
from pmtui.state import MonitorState, Notice, StatusInfo
from pmtui.stream import PushStatus
from pmtui.views import AccountView, balance_rows, build_view

VERSION = 1
#: The longest line either end reads: a state of thousands of positions fits, a flood does not.
MAX_LINE = 64 * 1024 * 1024

_VERDICT = TypeAdapter(Verdict)
_ESTIMATE = TypeAdapter(Estimate)
_NOTICES = TypeAdapter(tuple[Notice, ...])
_PUSH = TypeAdapter(PushStatus)
_RULES = TypeAdapter(dict[str, SymbolRules])
_INPUTS = TypeAdapter(Inputs)


class WireError(ValueError):
    """A message that is not this protocol's: the sentence says what is wrong with it."""


def dumps(message: dict[str, Any]) -> bytes:
    """One message as one line."""
    return json.dumps({"v": VERSION, **message}, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict[str, Any]:
    """One line as a message of this version, or WireError."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise WireError("a line that is not JSON") from None
    if not isinstance(message, dict):
        raise WireError("a line that is not a JSON object")
    if message.get("v") != VERSION:
        raise WireError(f"protocol version {str(message.get('v'))[:20]!r}, not {VERSION}")
    return message


# --- the parts ------------------------------------------------------------------------------------

def _raws(rows: Iterable[Any] | None) -> list[Any] | None:
    return None if rows is None else [r.raw for r in rows]


def _pm(pm: PmAccount | None) -> dict[str, Any] | None:
    # A pushed riskLevelChange updates the fields of a copy that keeps the polled raw dict: both go.
    return None if pm is None else {"fields": pm.model_dump(mode="json"), "raw": pm.raw}


def _pm_of(data: dict[str, Any] | None) -> PmAccount | None:
    if data is None:
        return None
    pm = PmAccount.model_validate(data["fields"])
    pm._raw = data["raw"]
    return pm


def _um(account: UmAccount | None) -> dict[str, Any] | None:
    return None if account is None else {"assets": _raws(account.assets), "positions": _raws(account.positions)}


def _status(info: StatusInfo) -> dict[str, Any]:
    err = info.error
    return {
        **{name: getattr(info, name) for name in _STATUS_PLAIN},
        "error": None if err is None else {"class": type(err).__name__, "message": err.message, "kind": err.kind,
                                           "status": err.status, "code": err.code, "retryable": err.retryable},
        "push": None if info.push is None else _PUSH.dump_python(info.push, mode="json"),
        # Whether the public mark price streams price the account, and why not: the viewer's
        # status bar says what the daemon's would.
        "marks_live": info.marks_live,
        "marks_note": info.marks_note,
    }


_STATUS_PLAIN = ("paused", "stopped", "stale", "age", "last_ok_wall", "interval", "next_in", "fetching",
                 "latency_ms", "used_weight", "offset_ms", "budget_wait", "paused_since")


def _error_of(data: dict[str, Any] | None) -> errors.PmtuiError | None:
    if data is None:
        return None
    kind = getattr(errors, str(data.get("class")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, errors.PmtuiError) else errors.PmtuiError
    err = cls.__new__(cls)
    errors.PmtuiError.__init__(err, str(data["message"]), status=data.get("status"), code=data.get("code"))
    err.kind = str(data.get("kind") or err.kind)
    err.retryable = bool(data.get("retryable", True))
    return err


def _status_of(data: dict[str, Any]) -> StatusInfo:
    push = data.get("push")
    note = data.get("marks_note")  # .get: a daemon from before the mark price stream sends neither
    if note is not None and not isinstance(note, str):
        raise WireError("a marks_note that is not text")
    return StatusInfo(**{name: data[name] for name in _STATUS_PLAIN}, error=_error_of(data.get("error")),
                      push=None if push is None else _PUSH.validate_python(push),
                      marks_live=data.get("marks_live") is True, marks_note=note)


def _value(value: Decimal | float | str | None) -> Any:
    """An alert's value or threshold, its type kept: a Decimal is {"d": "1.5"}."""
    return {"d": str(value)} if isinstance(value, Decimal) else value


def _value_of(data: Any) -> Decimal | float | str | None:
    return Decimal(data["d"]) if isinstance(data, dict) else data


def _alert(event: AlertEvent) -> dict[str, Any]:
    return {"rule": event.rule, "subject": event.subject, "value": _value(event.value),
            "threshold": _value(event.threshold), "message": event.message, "level": int(event.level),
            "time": event.time, "state": event.state, "items": [_alert(e) for e in event.items]}


def _alert_of(data: dict[str, Any]) -> AlertEvent:
    return AlertEvent(rule=data["rule"], subject=data["subject"], value=_value_of(data["value"]),
                      threshold=_value_of(data["threshold"]), message=data["message"], level=Level(data["level"]),
                      time=data["time"], state=data["state"], items=tuple(_alert_of(e) for e in data["items"]))


def _plain(data: Any) -> Any:
    """Raw rows with the numbers Binance sent unquoted (read as Decimal: the brackets' ratios) as
    exact strings, which the parsers read back as the same Decimals."""
    return None if data is None else json.loads(json.dumps(data, default=str))
def _moved(row: Any) -> dict[str, Any]:
    """A row the mark price stream moved: its raw dict (model_copy keeps REST's) with its figures
    as they are now, so a viewer draws the same repriced view as the daemon."""
    return {**row.raw, **{name: format(value, "f") for name, value in row if isinstance(value, Decimal)}}


def _view(view: AccountView, state: MonitorState) -> dict[str, Any]:
    """What build_view made the view of; a part that is the state's own is said by reference."""
    symbols = {row.position.symbol for row in view.open_positions}
    um_moved = view.account is not state.account
    cm_moved = view.cm is not None and view.cm is not state.cm
    um_row = _moved if um_moved else (lambda row: row.raw)
    cm_row = _moved if cm_moved else (lambda row: row.raw)
    cm = view.cm
    return {
        "account": "=" if not um_moved else {"assets": [_moved(a) for a in view.account.assets],
                                              "positions": [_moved(p) for p in view.account.positions]},
        "pm": "=" if view.pm is state.pm else _pm(view.pm),
        # positionRisk as joined to the rows, by their keys (build_view takes the mapping as is).
        "risks": [[*key, um_row(row)] for key, row in view.risks.items()],
        "cm": "=" if cm is state.cm else None if cm is None else [
            {**cm.raw, "assets": [_moved(a) for a in cm.assets], "positions": [_moved(p) for p in cm.positions]}],
        "cm_risks": [cm_row(row) for row in view.cm_risks.values()],
        "thresholds": view.thresholds.model_dump(mode="json"),
        # Only the symbols of its rows: the whole exchange's rules are thousands of entries.
        "markets": _RULES.dump_python({s: m for s, m in view.markets.items() if s in symbols}, mode="json"),
        # Exposure, tiers, the ADL queue and locks (pmtui.exposure): the brackets of its rows only.
        "balances": "=" if view.balances is state.balances else _raws(view.balances),
        "prices": {asset: str(price) for asset, price in view.prices.items()},
        "brackets": [_plain([b.raw for s, b in table.items() if s in symbols])
                     for table in (view.um_brackets, view.cm_brackets)],
        "adl": {row.key: row.adl for row in view.open_positions if row.adl is not None},
        "locks": list(view.locks),
    }


def _view_of(data: dict[str, Any], state: dict[str, Any], parts: dict[str, Any]) -> AccountView:
    account = parts["account"] if data["account"] == "=" else parse_um_account(data["account"])
    pm = parts["pm"] if data["pm"] == "=" else _pm_of(data["pm"])
    cm = parts["cm"] if data["cm"] == "=" else parse_cm_account(data["cm"][0]) if data["cm"] else None
    balances = data.get("balances")
    brackets = data.get("brackets") or [[], []]
    view = build_view(account, Thresholds.model_validate(data["thresholds"]),
                      risks=_joined(data["risks"]), pm=pm,
                      markets=_RULES.validate_python(data["markets"]), cm=cm,
                      cm_risks=parse_cm_position_risk(data["cm_risks"]),
                      balances=parts["balances"] if balances == "=" else
                      None if balances is None else parse_balance(balances),
                      prices={str(a): wire_decimal(p) for a, p in (data.get("prices") or {}).items()},
                      brackets=(parse_brackets(brackets[0]), parse_brackets(brackets[1])),
                      locks=tuple(str(r) for r in data.get("locks") or ()))
    adl = data.get("adl") or {}
    for row in view.open_positions:  # as the Monitor joined them (its rows' quantiles only)
        q = adl.get(row.key)
        row.adl = q if type(q) is int and 0 <= q <= ADL_MAX else None
    return view


def _joined(pairs: list[list[Any]]) -> dict[tuple[str, str], PositionRisk]:
    rows = parse_position_risk([raw for *_, raw in pairs])
    return {(str(symbol), str(side)): row for (symbol, side, _), row in zip(pairs, rows, strict=True)}


def _risk(model: RiskModel) -> dict[str, Any]:
    inputs = model.inputs
    # The model reads the brackets of its legs' symbols only: the exchange's whole list is
    # hundreds of kilobytes.
    um = {leg.symbol for leg in inputs.um}
    cm = {leg.symbol for leg in inputs.cm}
    inputs = dataclasses.replace(
        inputs,
        um_brackets=None if inputs.um_brackets is None else [b for b in inputs.um_brackets if b.symbol in um],
        cm_brackets=None if inputs.cm_brackets is None else [b for b in inputs.cm_brackets if b.symbol in cm],
    )
    return {"inputs": _INPUTS.dump_python(inputs, mode="json"),
            "thresholds": model.thresholds.model_dump(mode="json")}


def _risk_of(data: dict[str, Any]) -> RiskModel:
    return RiskModel(_INPUTS.validate_python(data["inputs"]), Thresholds.model_validate(data["thresholds"]))


def _ledger(view: LedgerView) -> dict[str, Any]:
    """The ledger as its rows were sent, by endpoint (the viewer parses them again, as the Monitor did)."""
    return {"since": view.since_ms, "readTo": view.read_to_ms, "rows": view.raw_rows(),
            "notes": list(view.notes), "unavailable": dict(view.unavailable)}


def _ledger_of(data: dict[str, Any]) -> LedgerView:
    entries: list[LedgerEntry] = []
    for path, rows in data["rows"].items():
        endpoint = LEDGER_BY_PATH[path].endpoint  # KeyError: not a ledger path, so not a state
        wrapped = {"rows": rows} if endpoint.path in _ROWS_IN_OBJECT else rows
        entries.extend(endpoint.parse(wrapped).entries)
    entries.sort(key=lambda e: (e.time, e.source, e.id))
    return LedgerView(tuple(entries), data["since"], data["readTo"], tuple(str(n) for n in data["notes"]),
                      {str(k): str(v) for k, v in data["unavailable"].items()})


_ROWS_IN_OBJECT = {"/papi/v1/margin/marginInterestHistory", "/papi/v1/portfolio/negative-balance-exchange-record"}


# --- a whole state --------------------------------------------------------------------------------

class Encoder:
    """States as JSON objects. The big parts of a state (view, risk model, balances) are mostly
    the same objects as the last state's: their encodings are kept by identity, not redone."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple[object, ...], Any]] = {}
        self._count = 0

    def _once(self, name: str, obj: object, encode: Any, *also: object) -> Any:
        """{"id": n, "data": …}: the same n for the same object (and the same `also` objects
        its encoding refers to), so the viewer decodes it once."""
        if obj is None:
            return None
        kept = self._kept.get(name)
        if kept is not None and len(kept[0]) == 1 + len(also) and all(
                a is b for a, b in zip(kept[0], (obj, *also), strict=True)):
            return kept[1]
        self._count += 1
        value = {"id": self._count, "data": encode()}
        self._kept[name] = ((obj, *also), value)  # held, so their ids cannot be reused meanwhile
        return value

    def state(self, s: MonitorState) -> dict[str, Any]:
        return {
            "seq": s.seq,
            "changed": sorted(s.changed),
            "view": self._once("view", s.view, lambda: _view(s.view, s), s.account, s.pm, s.cm),  # type: ignore[arg-type]
            "verdict": None if s.verdict is None else _VERDICT.dump_python(s.verdict, mode="json"),
            "status": _status(s.status),
            "account": self._once("account", s.account, lambda: _um(s.account)),
            "pm": self._once("pm", s.pm, lambda: _pm(s.pm)),
            "risks": self._once("risks", s.risks, lambda: _raws(s.risks)),
            "cm": self._once("cm", s.cm, lambda: s.cm.raw),  # type: ignore[union-attr]
            "cm_risks": self._once("cm_risks", s.cm_risks, lambda: _raws(s.cm_risks)),
            "unavailable": s.unavailable,
            "account_note": s.account_note,
            "unimmr_age": s.unimmr_age,
            "fallback": s.fallback,
            "estimate": None if s.estimate is None else _ESTIMATE.dump_python(s.estimate, mode="json"),
            "estimate_age": s.estimate_age,
            "alerts": [_alert(e) for e in s.alerts],
            "notices": _NOTICES.dump_python(s.notices, mode="json"),
            "balances": self._once("balances", s.balances, lambda: _raws(s.balances)),
            "balance_stale": s.balance_stale,
            "balance_note": s.balance_note,
            "risk": self._once("risk", s.risk, lambda: _risk(s.risk)),  # type: ignore[arg-type]
            "ledger": self._once("ledger", s.ledger, lambda: _ledger(s.ledger)),  # type: ignore[arg-type]
            "extra_notes": s.extra_notes,
            "adl": [_plain(_raws(rows)) for rows in s.adl],
            "locks": list(s.locks),
        }


class Decoder:
    """JSON objects back to states. A big part whose encoding is the same as the last one's is
    the same object again (the dashboard redraws by identity, and rebuilding costs)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, Any]] = {}

    def _once(self, name: str, part: dict[str, Any] | None, decode: Any) -> Any:
        if part is None:
            return None
        key = int(part["id"])
        kept = self._kept.get(name)
        if kept is not None and kept[0] == key:
            return kept[1]
        value = decode(part["data"])
        self._kept[name] = (key, value)
        return value

    def state(self, d: dict[str, Any]) -> MonitorState:
        """A state, or WireError when the object is not one."""
        try:
            return self._state(d)
        except WireError:
            raise
        except Exception as err:  # any part malformed: the whole message is
            raise WireError(f"a state that does not read ({type(err).__name__})") from None

    def _state(self, d: dict[str, Any]) -> MonitorState:
        balances: tuple[Balance, ...] | None = self._once("balances", d["balances"], parse_balance)
        cm: CmAccount | None = self._once("cm", d["cm"], parse_cm_account)
        cm_risks: tuple[CmPositionRisk, ...] | None = self._once("cm_risks", d["cm_risks"], parse_cm_position_risk)
        parts = {"account": self._once("account", d["account"], parse_um_account),
                 "pm": self._once("pm", d["pm"], _pm_of), "cm": cm, "balances": balances}
        risks: tuple[PositionRisk, ...] | None = self._once("risks", d["risks"], parse_position_risk)
        view = self._once("view", d["view"], lambda v: _view_of(v, d, parts))
        return MonitorState(
            seq=int(d["seq"]),
            changed=frozenset(str(c) for c in d["changed"]),
            view=view,
            verdict=None if d["verdict"] is None else _VERDICT.validate_python(d["verdict"]),
            status=_status_of(d["status"]),
            account=parts["account"],
            pm=parts["pm"],
            risks=risks,
            cm=cm,
            cm_risks=cm_risks,
            unavailable={str(k): str(v) for k, v in d["unavailable"].items()},
            account_note=d["account_note"],
            unimmr_age=d["unimmr_age"],
            fallback=bool(d["fallback"]),
            estimate=None if d["estimate"] is None else _ESTIMATE.validate_python(d["estimate"]),
            estimate_age=d["estimate_age"],
            alerts=tuple(_alert_of(e) for e in d["alerts"]),
            notices=_NOTICES.validate_python(d["notices"]),
            balances=balances,
            # Judged as the Monitor judges them (refused: none).
            balance_rows=() if balances is None else self._once(
                "balance_rows", d["balances"], lambda _: balance_rows(balances, include_zero=True)),
            balance_stale=bool(d["balance_stale"]),
            balance_note=d["balance_note"],
            risk=self._once("risk", d["risk"], _risk_of),
            ledger=self._once("ledger", d.get("ledger"), _ledger_of),  # .get: a daemon from before the ledger
            extra_notes={str(k): str(v) for k, v in (d.get("extra_notes") or {}).items()},
            adl=_adl_of(d.get("adl")),
            locks=tuple(str(r) for r in d.get("locks") or ()),
        )


def _adl_of(data: Any) -> tuple[tuple[AdlQuantile, ...] | None, tuple[AdlQuantile, ...] | None]:
    um, cm = data if isinstance(data, list) and len(data) == 2 else (None, None)
    return (None if um is None else parse_adl_quantiles(um), None if cm is None else parse_adl_quantiles(cm))
