"""Recording: every published state of every account, to the history file, compact and off the
event loop.

Each state is recorded as the document `pmtui watch --json` prints for it (output.state_doc: the
API's objects with their decimal strings untouched, what pmtui made of them, the verdict and its
reason, the alerts fired or cleared, the status sentence, and which kinds of change it carries),
in the `states` table of pmtui.history's SQLite file, beside its five-number `samples`:

- a row per BATCH_SIZE consecutive states of a profile (a *batch row*: its first state's time,
  and in `meta` each state's time, level and flags), its body the first state whole (a
  *keyframe*) or as a *delta* on the row before's last, and each following state as a delta (the
  leaves that changed since the state before), laid out by path so that a price's successive
  values sit side by side; deflated while the row fills (it is rewritten at each commit), LZMA
  once it is full. Rows of the formats before (a state a row: whole, or a delta, zlib) still
  read. The document is stored without what pmtui derived from the API's objects (its `view`,
  the risk model's block), derived again on reading from them and the model's inputs (an
  `inputs` row written when they change), and with the figures Binance repeats or derives by
  formula as markers ("the stored form" below): what reads back is exactly the recorded
  document. Every
  KEYFRAME_EVERY-th state of a profile, and the first one a Recorder writes, is a keyframe (and
  starts a row), so a reader decodes at most that many states to reach any state, and never
  across two processes.
- a state that changes nothing (the same document) is not recorded: its kinds of change go to
  the next one. A clock tick is recorded only when it changes more than the estimate's age (its
  verdict, its staleness, its status sentence).

Reading: `read_states` decodes every state of a range (each document's view derived when first
read: `Recorded.doc`); `open_states` (the replay's) reads only each row's time, kind, level and
flags (a batch row's meta), and decodes a state when asked for, from its keyframe.

Writing runs in one thread per file (the Recorder), fed through a bounded queue: a disk that cannot
keep up loses the oldest states, counted in a warning, never the dashboard's time. It commits at
least once a second in WAL mode, so `kill -9` loses at most the last second and never the file.
Retention (`retention_days`, `max_size` in MB) is enforced by the same thread. A file that cannot
be written (read-only folder, full disk) is one sentence (`error`) and the end of recording; the
Monitor says it once and goes on.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import logging
import lzma
import os
import sqlite3
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pmtui import output
from pmtui.history import History, HistoryError, Sample, _reason
from pmtui.history import insert as insert_sample
from pmtui.state import CLOCK, MARKS, STATUS, MonitorState, Notice
from pmtui.text import clean

log = logging.getLogger(__name__)

#: One keyframe per this many rows of a profile (about 5 minutes at a 2 s interval).
KEYFRAME_EVERY = 150
#: States waiting for the writer; past this the oldest are dropped (and counted).
QUEUE_SIZE = 2000
#: Seconds between two commits at most: what `kill -9` may lose.
COMMIT_EVERY = 1.0
#: Seconds between two retention passes.
RETENTION_EVERY = 60.0
#: The first dropped state is said, then again every this many more.
DROPS_SAID = 1000
#: Row kinds: the whole document (0, 1: the first format, still read), or its stored form (2, 3).
KEYFRAME, DELTA, STORED_KEYFRAME, STORED_DELTA = 0, 1, 2, 3
#: A stored delta whose values are deflated against the last delta's too (see encode_delta).
STORED_DELTA_ON_LAST = 4
#: The batched format (what is written now): a row holds up to BATCH_SIZE consecutive states of
#: a profile in their stored form (see encode_batch), the first one whole (BATCH_KEY) or all as
#: changes on the row before's last (BATCH); its `meta` column says each one's time, level and
#: flags. One row rather than thirty: SQLite's cost per row and index entry goes, and a price's
#: successive values compress side by side.
BATCH_KEY, BATCH = 5, 6
BATCHES = (BATCH_KEY, BATCH)
KEYFRAMES = (KEYFRAME, STORED_KEYFRAME, BATCH_KEY)
_KEYS = "(" + ", ".join("?" * len(KEYFRAMES)) + ")"  # SQL: kind IN _KEYS
#: A batch row's body starts with its encoding: deflate (while it fills, rewritten each second),
#: LZMA (once full: a sixth smaller than deflate on these texts; a 1 MiB window is more than a row).
DEFLATED, LZMA = b"\0", b"\1"
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}]
#: States a batch row holds at most (half a keyframe's stretch: 2.5 minutes at a 2 s interval).
BATCH_SIZE = 75
#: A row's flags (what a replay needs to know of it without decoding it): it has data or a fault
#: to show, it carries alerts, it carries a fault.
HAS_DATA, ALERTS_FLAG, ERROR_FLAG = 1, 2, 4

STATES_SCHEMA = """
CREATE TABLE IF NOT EXISTS states (
    id      INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    profile TEXT    NOT NULL,
    level   TEXT,
    unimmr  TEXT,
    kind    INTEGER NOT NULL,
    flags   INTEGER,
    meta    BLOB,           -- before the body: read without walking a long body's overflow pages
    body    BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS states_by_profile ON states (profile, id);
CREATE INDEX IF NOT EXISTS states_by_time ON states (time_ms);
CREATE TABLE IF NOT EXISTS inputs (
    id      INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    profile TEXT    NOT NULL,
    body    BLOB    NOT NULL
);
"""


# --- documents and their deltas -------------------------------------------------------------------

def state_doc(state: MonitorState, changed: frozenset[str] | set[str] | None = None,
              before: MonitorState | None = None) -> dict[str, Any]:
    """The recorded document of a state: `watch --json`'s object for it."""
    positions = output.changed_positions(before.view if before else None, state.view)
    doc: dict[str, Any] = json.loads(output.watch_json(state, state.changed if changed is None else changed, positions))
    return doc


def diff(a: Any, b: Any, path: list[Any], out: list[list[Any]]) -> list[list[Any]]:
    """The changes from `a` to `b`: [path, value] to set, [path] to delete. Lists of the same
    length change item by item; otherwise a changed value is set whole."""
    if isinstance(a, dict) and isinstance(b, dict):
        out.extend([[*path, k]] for k in a if k not in b)
        for k, v in b.items():
            if k not in a:
                out.append([[*path, k], v])
            elif a[k] != v or type(a[k]) is not type(v):
                diff(a[k], v, [*path, k], out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y or type(x) is not type(y):
                diff(x, y, [*path, i], out)
    else:
        out.append([path, b])
    return out


def patch(doc: Any, changes: list[list[Any]]) -> Any:
    """A new document: `doc` with `changes` (from diff) applied. `doc` is left as it was: only the
    containers on a changed path are copied, the rest is shared (so a reader keeps every state
    it decoded at the cost of what changed, never a deep copy)."""
    copied: set[int] = set()

    def fresh(value: Any) -> Any:
        if id(value) in copied:
            return value
        value = value.copy()
        copied.add(id(value))
        return value

    root = doc
    for change in changes:
        path = change[0]
        if not path:
            root = change[1]
            continue
        root = fresh(root)
        parent = root
        for key in path[:-1]:
            child = fresh(parent[key])
            parent[key] = child
            parent = child
        if len(change) == 1:
            del parent[path[-1]]
        else:
            parent[path[-1]] = change[1]
    return root


def _pack(value: Any) -> bytes:
    return zlib.compress(_json(value), 6)


def _unpack(body: bytes) -> Any:
    return json.loads(zlib.decompress(body))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _deflate(data: bytes, zdict: bytes, raw: bool = False) -> bytes:
    # raw: no zlib header and checksum (6 bytes a stream: a row's body is a few hundred)
    bits = -15 if raw else 15
    c = zlib.compressobj(6, zlib.DEFLATED, bits, zdict=zdict) if zdict else zlib.compressobj(6, zlib.DEFLATED, bits)
    return c.compress(data) + c.flush()


def _inflate(data: bytes, zdict: bytes, raw: bool = False) -> bytes:
    bits = -15 if raw else 15
    d = zlib.decompressobj(bits, zdict=zdict) if zdict else zlib.decompressobj(bits)
    return d.decompress(data) + d.flush()


def _op(before: Any, change: list[Any]) -> list[Any]:
    """A change's value as stored: `[]` (deleted), `[value]`, or `[n, tail]` for a string that
    keeps the old one's first n characters (a price that moved keeps its leading digits)."""
    if len(change) == 1:
        return []
    old, new = _at(before, change[0]), change[1]
    if isinstance(old, str) and isinstance(new, str):
        n = len(os.path.commonprefix([old, new]))
        return [n, new[n:]]
    return [new]


def _change(doc: Any, path: list[Any], op: list[Any]) -> list[Any]:
    """The change an _op stands for, on the document it was taken from."""
    if not op:
        return [path]
    if len(op) == 1:
        return [path, op[0]]
    return [path, _at(doc, path)[:op[0]] + op[1]]


def encode_delta(before: Any, changes: list[list[Any]], last: bytes) -> tuple[bytes, bytes]:
    """A delta's body (row kind STORED_DELTA_ON_LAST, one state a row: the format before batches,
    still read), and what the next delta is deflated against (this one's paths and values).
    Paths and values apart, each deflated against the last delta's; values as _op stores them.
    Raw deflate streams: no header or checksum per row."""
    ops = [_op(before, change) for change in changes]
    last_paths, _, last_ops = last.partition(b"\0")
    paths, values = _json([c[0] for c in changes]), _json(ops)
    packed = _deflate(paths, last_paths, raw=True)
    body = _varint(len(packed)) + packed + _deflate(values, last_ops, raw=True)
    return body, paths + b"\0" + values


def decode_delta(doc: Any, body: bytes, last: bytes, kind: int = STORED_DELTA_ON_LAST) -> tuple[Any, bytes]:
    """A new document, `doc` with the delta applied, and what the next delta is deflated against
    (a delta of the first kinds, DELTA and STORED_DELTA: its paths only, values on their own)."""
    if kind == STORED_DELTA_ON_LAST:
        last_paths, _, last_ops = last.partition(b"\0")
        size, start = _unvarint(body)
        paths_json = _inflate(body[start:start + size], last_paths, raw=True)
        ops_json = _inflate(body[start + size:], last_ops, raw=True)
        context = paths_json + b"\0" + ops_json
    else:
        (size,) = struct.unpack(">I", body[:4])
        paths_json = _inflate(body[4:4 + size], last.partition(b"\0")[0])
        ops_json = _inflate(body[4 + size:], b"")
        context = paths_json
    paths, ops = json.loads(paths_json), json.loads(ops_json)
    return patch(doc, [_change(doc, path, op) for path, op in zip(paths, ops, strict=True)]), context


def encode_batch(key: Any, deltas: list[list[tuple[list[Any], list[Any]]]]) -> bytes:
    """The text of a batch row: its first state whole (`key`; None when the row goes on from the
    row before), then each following state's changes as (path, _op) pairs, laid out by path: the
    row's paths once, each state's path numbers (a deleted path as -1 - its number), and each
    path's values in turn, so that the successive values of one price sit side by side (what
    deflate compresses best). Four JSON texts apart: the first two are the next row's dictionary."""
    paths: list[list[Any]] = []
    numbers: dict[bytes, int] = {}
    columns: list[list[list[Any]]] = []
    states = []
    for delta in deltas:
        mine = []
        for path, op in delta:
            n = numbers.setdefault(_json(path), len(paths))
            if n == len(paths):
                paths.append(path)
                columns.append([])
            if op:
                columns[n].append(op)
            mine.append(n if op else -1 - n)
        states.append(mine)
    return b"\0".join((_json(paths), _json(states), _json(columns), _json(key)))


def decode_batch(doc: Any, text: bytes) -> tuple[list[Any], bytes]:
    """The documents of a batch row's states (`doc`: the row before's last, unless the row starts
    whole), and the next row's dictionary."""
    paths_json, states_json, columns_json, key_json = text.split(b"\0", 3)
    paths, columns, key = json.loads(paths_json), json.loads(columns_json), json.loads(key_json)
    docs = []
    if key is not None:
        doc = key
        docs.append(doc)
    taken = [0] * len(paths)
    for mine in json.loads(states_json):
        changes = []
        for n in mine:
            if n < 0:
                changes.append([paths[-1 - n]])
            else:
                changes.append(_change(doc, paths[n], columns[n][taken[n]]))
                taken[n] += 1
        doc = patch(doc, changes)
        docs.append(doc)
    return docs, _dictionary(text)


def _dictionary(text: bytes) -> bytes:
    """What the next batch row is deflated against: this one's paths and path numbers (the same
    from one minute to the next)."""
    return b"\0".join(text.split(b"\0", 2)[:2])


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _unvarint(data: bytes) -> tuple[int, int]:
    """The number at the start of `data`, and where what follows it starts."""
    n = shift = 0
    for i, byte in enumerate(data):
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return n, i + 1
        shift += 7
    raise ValueError("a delta cut short")


def _at(doc: Any, path: list[Any]) -> Any:
    try:
        for key in path:
            doc = doc[key]
    except (KeyError, IndexError, TypeError):
        return None  # a new key
    return doc


# --- the stored form: the view left out, derived again on reading ----------------------------------
#
# A row (kinds STORED_KEYFRAME / STORED_DELTA) holds the document without its `view`, which is what
# pmtui made of the API's objects: every figure in it moves with every price, and it is most of the
# bytes. The few facts the view rests on that the objects do not hold go in the document's "~"
# entry: the estimate, the risk model's own inputs of that moment (index prices, the gap to
# Binance's uniMMR, its problems, its clock) and the id of an `inputs` row, written when the
# slow inputs change (thresholds, brackets, collateral rates, margin leverage). Reading derives the
# view from them by the same functions the Monitor used, then applies the row's residual (the
# leaves where the derived view differs from the recorded one, if any): the document read back is
# always the one recorded.

#: The model's inputs that change rarely: in the `inputs` table, not in every row.
SLOW_INPUTS = ("um_brackets", "cm_brackets", "collateral_rates", "tiered_collateral_rates", "margin_leverage",
               "max_age_ms", "stablecoins")
#: The model's inputs read from the document itself (stored in "~" only when they differ).
DOC_INPUTS = ("balances", "um", "cm", "open_loss", "reported_unimmr")


def slow_inputs(state: MonitorState) -> dict[str, Any] | None:
    """The `inputs` row of a state: its thresholds, and the risk model's slow inputs (the
    brackets of the symbols it holds only: the exchange's whole list is hundreds of kilobytes)."""
    if state.view is None:
        return None
    found: dict[str, Any] = {"thresholds": state.view.thresholds.model_dump(mode="json")}
    model = state.risk
    if model is not None:
        dumped = _risk_dump(model)
        found["risk"] = {k: dumped["inputs"][k] for k in SLOW_INPUTS}
        found["riskThresholds"] = dumped["thresholds"]
    return found


def _risk_dump(model: Any) -> dict[str, Any]:
    from pmtui.wire import _risk

    return _risk(model)


def stored_doc(full: dict[str, Any], state: MonitorState, inputs_id: int, inputs: dict[str, Any] | None,
               time_ms: int) -> dict[str, Any]:
    """What a row holds of the document `full` of `state`: all but the view, and what it needs
    to derive the view again (see above)."""
    stored = {k: v for k, v in full.items() if k != "view"}
    if "view" not in full or inputs is None:
        return stored
    if full.get("changedPositions") == _open_keys(full["view"]):
        stored["changedPositions"] = ALL  # every open position moved: the usual refresh
    stored["positions"] = _copies(full.get("positions"), full.get("positionRisk"), brackets=_brackets(inputs))
    if "assets" in full:
        stored["assets"] = _sums(full.get("assets"), _restored(full).get("positions"))
    if isinstance(full.get("positionRisk"), list):
        stored["positionRisk"] = [_formulas(r) for r in full["positionRisk"]]
    if "alerts" in full:
        stored["alerts"] = _alerts(full["alerts"])
    cm = full.get("cm")
    if isinstance(cm, dict) and isinstance(cm.get("positionRisk"), list):
        stored["cm"] = {**cm, "positionRisk": [_cm_formulas(r) for r in cm["positionRisk"]]}
    facts: dict[str, Any] = {"in": inputs_id}
    shown = full["view"]["account"]
    facts["upnl"] = shown.get("totalUnrealizedProfit")  # the replay's sparkline, without deriving the view
    # The charts' nearest liquidation distance, likewise (the nearest only: the chart draws that).
    liq = [p["liqDistance"] for p in full["view"].get("positions", ()) if isinstance(p.get("liqDistance"), str)]
    nearest = sorted(liq, key=_number)[:1]
    if nearest != _nearest_liq(stored):  # else read from the positionRisk rows (liq_distances)
        facts["liq"] = nearest
    if "equityEstimate" in shown:  # as shown: the same figures make the same words
        facts["est"] = [shown["equityEstimate"], shown["maintMarginEstimate"]]
        facts["estAge"] = shown.get("estimateAge")
    if state.view is not None:  # the view's slow facts the API's objects do not hold
        adl = {row.key: row.adl for row in state.view.open_positions if row.adl is not None}
        if adl:
            facts["adl"] = adl
        if state.view.locks:
            facts["locks"] = list(state.view.locks)
    if state.risk is not None:
        live = _risk_dump(state.risk)["inputs"]
        derived = _doc_inputs(stored, inputs=inputs)
        facts["risk"] = {
            "index_prices": live["index_prices"], "reconciled_gap": live["reconciled_gap"],
            "problems": live["problems"],
            "now": None if live["now_ms"] is None else live["now_ms"] - time_ms,
            **{k: live[k] for k in DOC_INPUTS if live[k] != derived[k]},
        }
    stored["~"] = facts
    residual = diff(derive_view(stored, time_ms, inputs), full["view"], [], [])
    if residual:
        facts["view"] = residual
    return stored


#: changedPositions when it names every open position (the view says which are open).
ALL = "*"
#: A UM account's position field that is its positionRisk row's (the same figure, sent twice).
SAME = {"=": "positionRisk"}
#: (field of /papi/v1/um/account's position, the same figure's field in its positionRisk row)
TWICE = (("notional", "notional"), ("unrealizedProfit", "unRealizedProfit"))


def _open_keys(view: dict[str, Any]) -> list[str]:
    from pmtui.views import row_key

    return sorted(row_key(p["symbol"], p["positionSide"], p["venue"]) for p in view.get("positions", ()))


def _copies(positions: Any, risks: Any, restore: bool = False,
            brackets: dict[str, list[dict[str, Any]]] | None = None) -> Any:
    """The UM positions with each figure their positionRisk row repeats as SAME, their initial
    margin as IM when it is notional / leverage to the 8th decimal, and their maintenance margin
    as MM when it is what their symbol's recorded brackets make of their notional (or,
    `restore`, those figures back). Any other shape is left as it is."""
    if not isinstance(positions, list) or not isinstance(risks, list):
        return positions
    by_key = {(r.get("symbol"), r.get("positionSide")): r for r in risks if isinstance(r, dict)}
    if restore:
        by_key = {k: _formulas(r, restore=True) for k, r in by_key.items()}
    out = []
    for p in positions:
        twin = by_key.get((p.get("symbol"), p.get("positionSide"))) if isinstance(p, dict) else None
        if twin is not None:
            p = dict(p)
            for mine, theirs in TWICE:
                if restore and p.get(mine) == SAME:
                    p[mine] = twin[theirs]
                elif not restore and isinstance(p.get(mine), str) and p.get(mine) == twin.get(theirs):
                    p[mine] = SAME
            im = _formula("im", twin)
            if restore and p.get("initialMargin") == IM and im is not None:
                p["initialMargin"] = im
            elif not restore and isinstance(p.get("initialMargin"), str) and p["initialMargin"] == im:
                p["initialMargin"] = IM
            mm = _maint(twin.get("notional"), (brackets or {}).get(str(p.get("symbol"))))
            if restore and p.get("maintMargin") == MM and mm is not None:
                p["maintMargin"] = mm
            elif not restore and isinstance(p.get("maintMargin"), str) and p["maintMargin"] == mm:
                p["maintMargin"] = MM
        out.append(p)
    return out


#: A UM position's maintenance margin, |notional| x its bracket's rate - the bracket's cum, to the 8th decimal.
MM = {"=": "|notional|*mmr-cum"}


def _brackets(inputs: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The UM brackets an `inputs` row holds, by symbol."""
    found = ((inputs or {}).get("risk") or {}).get("um_brackets") or ()
    return {b["symbol"]: b.get("brackets") or [] for b in found if isinstance(b, dict) and "symbol" in b}


def _maint(notional: Any, tiers: list[dict[str, Any]] | None) -> str | None:
    if not tiers or not isinstance(notional, str):
        return None
    try:
        n = abs(Decimal(notional))
        for t in tiers:
            if Decimal(str(t["notionalFloor"])) <= n < Decimal(str(t["notionalCap"])):
                value = n * Decimal(str(t["maintMarginRatio"])) - Decimal(str(t["cum"]))
                return f"{value.quantize(_Q8):f}"
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
    return None


#: A figure Binance derives from others of its row, when it is that to the 8th decimal.
NOTIONAL, UPNL, IM = {"=": "amt*mark"}, {"=": "amt*(mark-entry)"}, {"=": "|notional|/leverage"}
_Q8 = Decimal("1E-8")


def _formula(name: str, row: dict[str, Any]) -> str | None:
    from decimal import ROUND_HALF_EVEN, InvalidOperation

    try:
        amt, mark = Decimal(row["positionAmt"]), Decimal(row["markPrice"])
        if name == "notional":
            value = amt * mark
        elif name == "upnl":
            value = amt * (mark - Decimal(row["entryPrice"]))
        else:
            value = abs(Decimal(row["notional"])) / Decimal(row["leverage"])
        return f"{value.quantize(_Q8, ROUND_HALF_EVEN):f}"
    except (KeyError, TypeError, ValueError, ArithmeticError, InvalidOperation):
        return None


def _swap(row: Any, fields: tuple[tuple[str, Any, str], ...], formula: Callable[[str, Any], str | None],
          restore: bool) -> Any:
    """`row` with each (field, marker, name) as its marker where the field equals `formula` (or
    the formula back where the marker stands)."""
    if not isinstance(row, dict):
        return row
    row = dict(row)
    for field_, marker, name in fields:
        if restore and row.get(field_) == marker:
            row[field_] = formula(name, row)
        elif not restore and isinstance(row.get(field_), str) and row[field_] == formula(name, row):
            row[field_] = marker
    return row


def _formulas(row: Any, restore: bool = False) -> Any:
    """A positionRisk row with its notional and uPnL as their formulas when they are (or back)."""
    return _swap(row, (("notional", NOTIONAL, "notional"), ("unRealizedProfit", UPNL, "upnl")), _formula, restore)


#: An alert's ISO time when it is its time_ms's, its items when they are its own words (one subject).
ISO, OWN = {"=": "iso(time_ms)"}, {"=": "own"}
_ITEM = ("subject", "state", "level", "value", "message")


def _alerts(alerts: Any, restore: bool = False) -> Any:
    """The alerts (AlertEvent.to_dict's) with what they repeat as ISO and OWN (or, `restore`, back)."""
    if not isinstance(alerts, list):
        return alerts
    out = []
    for a in alerts:
        if isinstance(a, dict):
            a = dict(a)
            ms = a.get("time_ms")
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000)) if type(ms) is int else None
            own = [{k: a.get(k) for k in _ITEM}]
            if restore:
                if a.get("time") == ISO:
                    a["time"] = iso
                if a.get("items") == OWN:
                    a["items"] = own
            else:
                if iso is not None and a.get("time") == iso:
                    a["time"] = ISO
                items = a.get("items")
                if items == own and list(items[0]) == list(_ITEM):  # in that order: the same text
                    a["items"] = OWN
        out.append(a)
    return out


#: A COIN-M positionRisk row's figures Binance derives from its amount (contracts), contract size
#: (USD), entry and mark price, when they are that to the 8th decimal.
CM_NOTIONAL, CM_UPNL = {"=": "amt*size/mark"}, {"=": "amt*size*(1/entry-1/mark)"}


def _cm_formula(name: str, row: dict[str, Any]) -> str | None:
    from decimal import ROUND_HALF_EVEN, InvalidOperation

    from pmtui.model import cm_contract_size

    try:
        size = Decimal(row["positionAmt"]) * cm_contract_size(str(row["symbol"]).split("USD")[0])
        mark = Decimal(row["markPrice"])
        if name == "notional":
            value = size / mark
        else:
            value = size * (1 / Decimal(row["entryPrice"]) - 1 / mark)
        return f"{value.quantize(_Q8, ROUND_HALF_EVEN):f}"
    except (KeyError, TypeError, ValueError, ArithmeticError, InvalidOperation):
        return None


def _cm_formulas(row: Any, restore: bool = False) -> Any:
    """A COIN-M positionRisk row with its notionalValue and uPnL as their formulas when they are (or back)."""
    return _swap(row, (("notionalValue", CM_NOTIONAL, "notional"), ("unRealizedProfit", CM_UPNL, "upnl")),
                 _cm_formula, restore)


def _restored(doc: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored document's API objects as they came (its formulas and copies computed again)."""
    if "alerts" in doc:
        doc = {**doc, "alerts": _alerts(doc["alerts"], restore=True)}
    cm = doc.get("cm")
    if isinstance(cm, dict) and isinstance(cm.get("positionRisk"), list):
        doc = {**doc, "cm": {**cm, "positionRisk": [_cm_formulas(r, restore=True) for r in cm["positionRisk"]]}}
    risks = doc.get("positionRisk")
    if isinstance(risks, list):
        doc = {**doc, "positionRisk": [_formulas(r, restore=True) for r in risks]}
    positions = _copies(doc.get("positions"), risks, restore=True, brackets=_brackets(inputs))
    if "assets" not in doc:
        return {**doc, "positions": positions}
    return {**doc, "positions": positions, "assets": _sums(doc.get("assets"), positions, restore=True)}


#: A UM asset's figure that is the sum of its positions' (those whose symbol ends with the asset).
SUM = {"=": "sum"}
#: (field of /papi/v1/um/account's asset, its positions' field it sums); its initialMargin is
#: positionInitialMargin + openOrderInitialMargin.
SUMS = (("crossUnPnl", "unrealizedProfit"), ("maintMargin", "maintMargin"),
        ("positionInitialMargin", "initialMargin"))


def _sums(assets: Any, positions: Any, restore: bool = False) -> Any:
    """The UM assets with each figure that is its positions' sum (to the digit) as SUM (or,
    `restore`, back). Any other shape is left as it is."""
    if not isinstance(assets, list) or not isinstance(positions, list):
        return assets
    out = []
    for a in assets:
        if isinstance(a, dict) and isinstance(a.get("asset"), str):
            a = dict(a)
            mine = [p for p in positions if isinstance(p, dict) and str(p.get("symbol", "")).endswith(a["asset"])]
            figures = {field_: _total([p.get(theirs) for p in mine]) for field_, theirs in SUMS}
            if restore:
                for field_, _ in SUMS:
                    if a.get(field_) == SUM:
                        a[field_] = figures[field_]
                if a.get("initialMargin") == SUM:
                    a["initialMargin"] = _total([a.get("positionInitialMargin"), a.get("openOrderInitialMargin")])
            else:
                im = _total([a.get("positionInitialMargin"), a.get("openOrderInitialMargin")])
                if isinstance(a.get("initialMargin"), str) and a["initialMargin"] == im:
                    a["initialMargin"] = SUM
                for field_, _ in SUMS:
                    if mine and isinstance(a.get(field_), str) and a[field_] == figures[field_]:
                        a[field_] = SUM
        out.append(a)
    return out


def _total(figures: list[Any]) -> str | None:
    try:
        return f"{sum((Decimal(f) for f in figures), Decimal(0)):f}"
    except (TypeError, ValueError, ArithmeticError):
        return None


def _parts(doc: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's objects of a recorded document, parsed."""
    from pmtui.models import (
        parse_balance,
        parse_cm_account,
        parse_cm_position_risk,
        parse_pm_account,
        parse_position_risk,
        parse_um_account,
    )

    doc = _restored(doc, inputs)
    cm_doc = doc.get("cm")
    return {
        "account": parse_um_account({"assets": doc["assets"], "positions": doc["positions"]}),
        "pm": parse_pm_account(doc["account"]) if doc.get("account") is not None else None,
        "risks": parse_position_risk(doc["positionRisk"]) if doc.get("positionRisk") is not None else None,
        "cm": parse_cm_account(cm_doc["account"]) if cm_doc else None,
        "cm_risks": parse_cm_position_risk(cm_doc["positionRisk"])
        if cm_doc and cm_doc.get("positionRisk") is not None else None,
        "balances": parse_balance(doc["balance"]) if doc.get("balance") is not None else None,
    }


def _doc_inputs(doc: dict[str, Any], parts: dict[str, Any] | None = None,
                inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's inputs a document holds, dumped as wire's Inputs adapter dumps them."""
    from pmtui.model import Inputs, cm_legs, um_legs
    from pmtui.riskfeed import _current
    from pmtui.wire import _INPUTS

    p = parts or _parts(doc, inputs)
    account, cm, pm = p["account"], p["cm"], p["pm"]
    model_inputs = Inputs(
        balances=_current(p["balances"] or (), account, cm),
        um=um_legs(p["risks"] or (), {r.key: r.maintMargin for r in account.positions}),
        cm=cm_legs(p["cm_risks"] or (), {r.key: r.maintMargin for r in cm.positions} if cm is not None else {}),
        open_loss=(pm.totalMarginOpenLoss or Decimal(0)) if pm is not None else Decimal(0),
        reported_unimmr=pm.uniMMR if pm is not None else None)
    dumped: dict[str, Any] = _INPUTS.dump_python(model_inputs, mode="json")
    return {k: dumped[k] for k in DOC_INPUTS}


def risk_model(doc: dict[str, Any], time_ms: int, inputs: dict[str, Any] | None,
               parts: dict[str, Any] | None = None) -> Any:
    """The risk model of a stored document as the Monitor had it (pmtui.model.RiskModel), or None
    when it had none or the row does not say."""
    from pmtui.wire import _risk_of

    facts = doc.get("~") or {}
    own = facts.get("risk")
    if own is None or inputs is None or "risk" not in inputs:
        return None
    fast = {k: v for k, v in own.items() if k != "now"}
    fast["now_ms"] = None if own.get("now") is None else own["now"] + time_ms
    for k, v in _doc_inputs(doc, parts, inputs).items():
        fast.setdefault(k, v)
    return _risk_of({"inputs": {**inputs["risk"], **fast}, "thresholds": inputs["riskThresholds"]})


def derive_view(doc: dict[str, Any], time_ms: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """The view of a stored document, derived (before its residual)."""
    from types import SimpleNamespace

    from pmtui.exposure import usd_prices
    from pmtui.risk import Estimate
    from pmtui.settings import Thresholds
    from pmtui.views import build_view
    from pmtui.wire import _joined

    p = _parts(doc, inputs)
    risks = p["risks"]
    joined = _joined([[r.symbol, r.positionSide, r.raw] for r in risks]) if risks is not None else None
    facts = doc.get("~") or {}
    model = risk_model(doc, time_ms, inputs, p)
    # As the Monitor built it: its exposure, next tiers, ADL queue and locks from the same inputs.
    fed = model.inputs if model is not None else None
    view = build_view(p["account"], Thresholds.model_validate(inputs["thresholds"]), risks=joined, pm=p["pm"],
                      markets={}, cm=p["cm"], cm_risks=p["cm_risks"], balances=p["balances"],
                      prices=usd_prices(fed.index_prices if fed is not None else None),
                      brackets=(fed.um_brackets, fed.cm_brackets) if fed is not None else (None, None),
                      locks=tuple(str(r) for r in facts.get("locks") or ()))
    adl = facts.get("adl") or {}
    for row in view.open_positions:  # as the Monitor joined them (its rows' quantiles only)
        q = adl.get(row.key)
        row.adl = q if type(q) is int else None
    verdict = SimpleNamespace(word=doc.get("level"), reason=doc.get("reason"), stale=doc.get("stale"))
    estimate = Estimate(Decimal(facts["est"][0]), Decimal(facts["est"][1])) if "est" in facts else None
    derived = output.view_json(view, verdict, estimate=estimate,  # type: ignore[arg-type]
                               estimate_age=facts.get("estAge"))
    if model is not None:
        derived["risk"] = model.to_json()
    return derived


def full_doc(doc: dict[str, Any], time_ms: int, inputs: dict[str, Any] | None) -> dict[str, Any]:
    """The recorded document (watch --json's object) of a stored one: its view derived again."""
    facts = doc.get("~")
    if facts is None or inputs is None:
        return {k: v for k, v in doc.items() if k != "~"}
    doc = _restored(doc, inputs)
    view = patch(derive_view(doc, time_ms, inputs), facts.get("view") or [])
    full: dict[str, Any] = {}
    for k, v in doc.items():
        if k == "changed":
            full["view"] = view  # where watch --json has it
        if k == "changedPositions" and v == ALL:
            v = _open_keys(view)
        if k != "~":
            full[k] = v
    return full


# --- the writer -----------------------------------------------------------------------------------

@dataclass
class _Profile:
    """What the writer remembers of a profile: its last state's document and state, and the
    batch row it is filling."""

    doc: dict[str, Any] | None = None  # as stored
    full: dict[str, Any] | None = None  # as recorded
    state: MonitorState | None = None
    rows: int = 0  # states since the last keyframe
    pending: frozenset[str] = frozenset()  # kinds of change of the states not written since
    inputs: dict[str, Any] | None = None  # the last `inputs` row written, and its id
    inputs_id: int = 0
    # The batch row being filled: its first state whole (or None), the others' changes, each
    # one's time, level and flags, its id once inserted, its dictionary (the row before's).
    key: dict[str, Any] | None = None
    deltas: list[list[tuple[list[Any], list[Any]]]] = field(default_factory=list)
    meta: list[tuple[int, str | None, int]] = field(default_factory=list)
    row_id: int | None = None
    context: bytes = b""
    dirty: bool = False
    sealed: bool = False


class Recorder:
    """One thread writing states (and the five-number samples) to one history file.

    `put` never blocks: it queues the state (the oldest waiting one goes when the queue is full).
    `close` writes what is queued and stops. After a failure `error` holds one sentence and
    nothing more is written."""

    def __init__(self, path: Path | str, *, retention_days: float | None = None, max_size_mb: float | None = None,
                 queue_size: int = QUEUE_SIZE, clock: Callable[[], float] = time.time,
                 keyframe_every: int = KEYFRAME_EVERY) -> None:
        self.path = Path(path).expanduser()
        self.retention_days = retention_days
        self.max_size_mb = max_size_mb
        self.keyframe_every = keyframe_every
        self.clock = clock
        self.error: str | None = None
        self.dropped = 0
        self.written = 0
        self._queue: deque[tuple[str, Any]] = deque()
        self._queue_size = queue_size
        self._cond = threading.Condition()
        self._closing = False
        self._profiles: dict[str, _Profile] = {}
        self._thread: threading.Thread | None = None
        self._pruned = float("-inf")

    # --- the event loop's side --------------------------------------------------------------

    def put(self, profile: str, state: MonitorState) -> None:
        self._put(("state", (profile, state, int(self.clock() * 1000))))

    def put_sample(self, sample: Sample) -> None:
        self._put(("sample", sample))

    def _put(self, item: tuple[str, Any]) -> None:
        if self.error is not None or self._closing:
            return
        with self._cond:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.info("recording cannot keep up with the disk: %d states dropped so far", self.dropped)
            self._queue.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pmtui-record", daemon=True)
                self._thread.start()
            self._cond.notify()

    def attach(self, monitor: Any) -> Callable[[], None]:
        """Record every state `monitor` publishes; when recording fails, the monitor says so once
        (a notice: a toast on the dashboard, a line on stderr headless) and goes on."""
        told = False
        monitor.history = None  # its samples come here too: one writer, one sentence if it fails
        monitor.recorder = self

        dropped = 0

        def say(message: str) -> None:
            # Not from inside this publish: the notice is a state of its own, right after.
            asyncio.get_running_loop().call_soon(functools.partial(
                monitor.publish, STATUS, notices=[Notice("Recording", message, "warning", timeout=8)]))

        def on_state(state: MonitorState) -> None:
            nonlocal told, dropped
            if MARKS in state.changed and not state.alerts:
                return  # the positions at the stream's marks, each second: REST's refreshes are recorded
            if self.error is None:
                self.put(monitor.profile, state)
                if self.dropped and (not dropped or self.dropped >= dropped + DROPS_SAID):
                    dropped = self.dropped
                    say(f"The disk cannot keep up with recording: {dropped} states were not recorded.")
            elif not told:
                told = True
                say(self.error)

        unsubscribe: Callable[[], None] = monitor.subscribe(on_state)
        return unsubscribe

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread (blocking: call it in a thread from async code)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.dropped:
            log.info("recording dropped %d states the disk could not keep up with", self.dropped)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = connect(self.path)
        except HistoryError as err:
            self._fail(err.message)
            return
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait(COMMIT_EVERY)
                    items = list(self._queue)
                    self._queue.clear()
                    closing = self._closing
                if items:
                    with conn:  # one transaction per batch: at most a second's states
                        for kind, item in items:
                            if kind == "state":
                                self._write_state(conn, *item)
                            else:
                                insert_sample(conn, item)
                        self.flush(conn)
                now = self.clock()  # read once: the pass's time is the one it is said to run at
                if now - self._pruned >= RETENTION_EVERY:
                    self._pruned = now
                    prune(conn, now, self.retention_days, self.max_size_mb)
                if closing:
                    with conn:
                        self.flush(conn, seal=True)
                    conn.execute("PRAGMA incremental_vacuum")  # the pages the batch rows' updates left
                    return
        except (sqlite3.Error, OSError) as exc:
            reason = _reason(exc) if isinstance(exc, sqlite3.Error) else (exc.strerror or type(exc).__name__)
            self._fail(f"Cannot record to {self.path}: {reason}.")
        finally:
            conn.close()

    def _fail(self, sentence: str) -> None:
        self.error = f"{sentence} Recording stopped."  # and the dashboard goes on without it
        log.info("%s", self.error)  # the Monitors say it to people (attach)
        with self._cond:
            self._queue.clear()

    def _write_state(self, conn: sqlite3.Connection, profile: str, state: MonitorState, time_ms: int) -> None:
        mine = self._profiles.setdefault(profile, _Profile())
        changed = mine.pending | state.changed
        full = state_doc(state, changed, mine.state)
        inputs = slow_inputs(state)
        if inputs is not None and (inputs != mine.inputs or not mine.inputs_id):
            mine.inputs_id = conn.execute("INSERT INTO inputs (time_ms, profile, body) VALUES (?, ?, ?)",
                                          (time_ms, profile, _pack(inputs))).lastrowid or 0
            mine.inputs = inputs
        doc = stored_doc(full, state, mine.inputs_id, inputs, time_ms)
        changes = None
        if mine.doc is not None and mine.full is not None:
            # Nothing new but the kinds of change (or, on a tick, the estimate's age): no state.
            moved = [c for c in diff(mine.full, full, [], [])
                     if c[0] and c[0][0] not in ("changed", "changedPositions")]
            if not moved or (changed <= {CLOCK, STATUS}
                             and all(c[0] == ["view", "account", "estimateAge"] for c in moved)):
                mine.pending = changed
                return
            changes = diff(mine.doc, doc, [], [])
        keyframe = changes is None or mine.rows + 1 >= self.keyframe_every
        if keyframe or len(mine.meta) >= BATCH_SIZE:  # a new row
            self._flush(conn, profile, mine, seal=True)
            mine.context = b"" if keyframe else _dictionary(encode_batch(mine.key, mine.deltas))
            mine.key, mine.deltas, mine.meta, mine.row_id, mine.sealed = None, [], [], None, False
        if keyframe:
            mine.key = doc
        else:
            assert changes is not None
            mine.deltas.append([(c[0], _op(mine.doc, c)) for c in changes])
        flags = (HAS_DATA if "assets" in full or full.get("error") else 0) \
            | (ALERTS_FLAG if full.get("alerts") else 0) | (ERROR_FLAG if full.get("error") else 0)
        mine.meta.append((time_ms, full.get("level"), flags))
        mine.dirty = True
        mine.doc, mine.full, mine.state, mine.pending = doc, full, state, frozenset()
        mine.rows = 0 if keyframe else mine.rows + 1
        self.written += 1

    def _flush(self, conn: sqlite3.Connection, profile: str, mine: _Profile, seal: bool = False) -> None:
        """The batch row being filled, written (inserted, or updated with the states since): each
        commit writes it, so a killed process loses at most the states of the last second. Deflated
        while it fills (fast: it is written again each second); `seal`: full, written a last time
        with LZMA (slower, a sixth smaller)."""
        if not mine.meta or mine.sealed or not (mine.dirty or seal):
            return
        text = encode_batch(mine.key, mine.deltas)
        if seal:
            body = LZMA + lzma.compress(text, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            mine.sealed = True
        else:
            body = DEFLATED + _deflate(text, b"" if mine.key is not None else mine.context, raw=True)
        first = mine.meta[0][0]
        meta = _pack({"t": [t - first for t, _, _ in mine.meta], "l": [m[1] for m in mine.meta],
                      "f": [m[2] for m in mine.meta]})
        kind = BATCH_KEY if mine.key is not None else BATCH
        level, flags = mine.meta[-1][1], functools.reduce(lambda a, m: a | m[2], mine.meta, 0)
        if mine.row_id is None or not conn.execute(  # (a row max_size deleted: written again)
                "UPDATE states SET level = ?, body = ?, flags = ?, meta = ? WHERE id = ?",
                (level, body, flags, meta, mine.row_id)).rowcount:
            mine.row_id = conn.execute(
                "INSERT INTO states (time_ms, profile, level, kind, body, flags, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (first, profile, level, kind, body, flags, meta)).lastrowid
        mine.dirty = False

    def flush(self, conn: sqlite3.Connection, seal: bool = False) -> None:
        for profile, mine in self._profiles.items():
            self._flush(conn, profile, mine, seal)


def connect(path: Path) -> sqlite3.Connection:
    """The history file opened for writing (created private), in WAL mode, with both tables."""
    history = History(path)
    conn = history._connect(create=True)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
        conn.executescript(STATES_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(states)")}
        if "flags" not in columns:
            conn.execute("ALTER TABLE states ADD COLUMN flags INTEGER")  # a file of the first format
        if "meta" not in columns:
            conn.execute("ALTER TABLE states ADD COLUMN meta BLOB")  # a file from before batch rows
    except sqlite3.Error as exc:
        conn.close()
        raise HistoryError(f"Cannot record to {path}: {_reason(exc)}.") from None
    return conn


def record_now(path: Path | str, profile: str, state: MonitorState, *, retention_days: float | None = None,
               max_size_mb: float | None = None) -> None:
    """One state as a keyframe, written at once, and retention applied (the one-shot commands'
    --record). HistoryError with a sentence when the file cannot be written."""
    recorder = Recorder(path)
    conn = connect(recorder.path)
    try:
        with conn:
            recorder._write_state(conn, profile, state, int(time.time() * 1000))
            recorder.flush(conn, seal=True)
        prune(conn, time.time(), retention_days, max_size_mb)
    except sqlite3.Error as exc:
        raise HistoryError(f"Cannot record to {recorder.path}: {_reason(exc)}.") from None
    finally:
        conn.close()


# --- retention -----------------------------------------------------------------------------------

def prune(conn: sqlite3.Connection, now: float, retention_days: float | None, max_size_mb: float | None) -> int:
    """Delete what is older than `retention_days`, then the oldest until the file's data fits in
    `max_size_mb`. A profile's rows go up to its first keyframe after the cut, so every row left
    can still be decoded. Returns the rows deleted."""
    deleted = 0
    if retention_days is not None:
        deleted += _cut(conn, int((now - retention_days * 86400) * 1000))
    if max_size_mb is not None:
        limit = max_size_mb * 1024 * 1024
        for _ in range(20):  # each pass drops the oldest tenth of the time recorded
            if _data_bytes(conn) <= limit:
                break
            first, last = conn.execute("SELECT min(time_ms), max(time_ms) FROM states").fetchone()
            if first is None or first == last:
                break
            cut = _cut(conn, first + max(1, (last - first) // 10))
            deleted += cut
            if not cut:
                break
    if deleted:
        conn.execute("PRAGMA incremental_vacuum")
    return deleted


def _cut(conn: sqlite3.Connection, before_ms: int) -> int:
    with conn:
        n = conn.execute("DELETE FROM samples WHERE time_ms < ?", (before_ms,)).rowcount
        for (profile,) in conn.execute("SELECT DISTINCT profile FROM states").fetchall():
            # Up to the first keyframe at or after the cut; without one, only a profile all older.
            (keep,) = conn.execute("SELECT min(id) FROM states WHERE profile = ? AND kind IN " + _KEYS
                                   + " AND time_ms >= ?", (profile, *KEYFRAMES, before_ms)).fetchone()
            if keep is None:
                (newest, last) = conn.execute("SELECT max(time_ms), max(id) FROM states WHERE profile = ?",
                                              (profile,)).fetchone()
                if newest >= before_ms:
                    continue  # its newest rows are deltas on an older keyframe: kept until the next one
                keep = last + 1
            n += conn.execute("DELETE FROM states WHERE profile = ? AND id < ?", (profile, keep)).rowcount
            # The inputs rows no row left refers to: all but the newest before the first row kept.
            (first,) = conn.execute("SELECT min(time_ms) FROM states WHERE profile = ?", (profile,)).fetchone()
            (last,) = conn.execute("SELECT max(id) FROM inputs WHERE profile = ? AND time_ms <= ?",
                                   (profile, first if first is not None else before_ms)).fetchone()
            if last is not None:
                conn.execute("DELETE FROM inputs WHERE profile = ? AND id < ?", (profile, last))
    return n


def _data_bytes(conn: sqlite3.Connection) -> int:
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int((pages - free) * size)


# --- reading -------------------------------------------------------------------------------------

class _Derived:
    """Recorded.doc: a row in the stored form derives its document when first asked for."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return None  # the dataclass field's default
        if obj._doc is None and obj.stored is not None:
            try:
                obj._doc = full_doc(obj.stored, obj.time_ms, obj.inputs)
            except Exception:  # any part malformed: the view is what cannot be read
                raise HistoryError("A recorded state of the history file cannot be read (written by another"
                                   " program, or damaged).") from None
        return obj._doc

    def __set__(self, obj: Any, value: Any) -> None:
        obj._doc = value


@dataclass(eq=False)
class Recorded:
    """One recorded state: when, whose, and its document (watch --json's object; it shares what
    did not change with the states around it: read it, do not change it). A row in the stored
    form (`stored`: the document without its view; `inputs`: the `inputs` row it refers to)
    derives its document when `doc` is first read, not when the file is."""

    time_ms: int
    profile: str
    doc: dict[str, Any] = _Derived()  # type: ignore[assignment]
    stored: dict[str, Any] | None = field(default=None, repr=False)
    inputs: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def top(self) -> dict[str, Any]:
        """The document as far as it is cheap: all but its view (the stored form; else `doc`)."""
        known: dict[str, Any] | None = self.__dict__.get("_doc")
        if known is None and self.stored is not None:
            return self.stored
        return self.doc

    def risk_model(self) -> Any:
        """The risk model the Monitor had at that moment (pmtui.model.RiskModel), or None."""
        if self.stored is None or self.inputs is None:
            return None
        try:
            return risk_model(self.stored, self.time_ms, self.inputs)
        except Exception:  # a model that does not read is no ladder, never a failed replay
            return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recorded) and (self.time_ms, self.profile, self.doc) == (
            other.time_ms, other.profile, other.doc)

    __hash__ = None  # type: ignore[assignment]


def read_states(path: Path | str, *, profile: str | None = None, since_ms: int | None = None,
                until_ms: int | None = None) -> list[Recorded]:
    """The recorded states with since_ms <= time < until_ms, oldest first (a file without states
    has none). HistoryError with a sentence when the file cannot be read."""
    history = History(path)
    conn = history._connect(create=False)
    try:
        return sorted(_read(conn, profile, since_ms, until_ms), key=lambda r: r.time_ms)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # a file from before states were recorded
        raise HistoryError(f"Cannot read the history file {history.path}: {_reason(exc)}.") from None
    except sqlite3.Error as exc:
        raise HistoryError(f"Cannot read the history file {history.path}: {_reason(exc)}.") from None
    except (zlib.error, lzma.LZMAError, struct.error, ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise HistoryError(f"The history file {history.path} has recorded states pmtui cannot read"
                           " (written by another program, or damaged).") from None
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, profile: str | None, since_ms: int | None,
          until_ms: int | None) -> Iterator[Recorded]:
    if profile is not None:
        profiles = [profile]
    else:
        profiles = [p for (p,) in conn.execute("SELECT DISTINCT profile FROM states")]
    meta = _meta_column(conn)
    for name in profiles:
        start = None
        if since_ms is not None:
            (start,) = conn.execute("SELECT max(id) FROM states WHERE profile = ? AND kind IN " + _KEYS
                                    + " AND time_ms <= ?", (name, *KEYFRAMES, since_ms)).fetchone()
        rows = conn.execute(
            f"SELECT id, time_ms, profile, kind, body, {meta} FROM states WHERE profile = ? AND id >= ?"
            + (" AND time_ms < ?" if until_ms is not None else "") + " ORDER BY id",
            (name, start or 0, *(() if until_ms is None else (until_ms,))))
        for _, _, rec in _decoded(rows, _inputs(conn, name)):
            if (since_ms is None or rec.time_ms >= since_ms) and (until_ms is None or rec.time_ms < until_ms):
                yield rec


def _decoded(rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
             inputs: dict[int, Any]) -> Iterator[tuple[int, int, Recorded]]:
    """Each state of `rows` (id, time, profile, kind, body, meta; one profile's, in order from a
    keyframe) as (row id, its place in the row, the state). Each shares what did not change with
    the one before: read-only."""
    doc: Any = None
    context = b""
    for row_id, t, profile, kind, body, meta in rows:
        name = clean(str(profile))
        if kind in BATCHES:
            if kind == BATCH and doc is None:
                continue  # a row whose keyframe retention deleted
            docs, context = decode_batch(doc if kind == BATCH else None, _batch_text(body, kind, context))
            for i, (when, doc) in enumerate(zip(_times(t, meta), docs, strict=True)):
                yield row_id, i, _recorded(when, name, doc, inputs)
            continue
        if kind in KEYFRAMES:
            doc, context = _unpack(body), b""
        elif doc is None:
            continue  # deltas whose keyframe retention deleted
        else:
            doc, context = decode_delta(doc, body, context, kind)
        if kind in (KEYFRAME, DELTA):
            yield row_id, 0, Recorded(int(t), name, doc)
        else:
            yield row_id, 0, _recorded(int(t), name, doc, inputs)


def _batch_text(body: bytes, kind: int, context: bytes) -> bytes:
    """A batch row's text: its body is LZMA (sealed) or deflated (while it filled) after a byte saying which."""
    if body[:1] == LZMA:
        return lzma.decompress(body[1:], format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    if body[:1] != DEFLATED:
        raise ValueError("a batch row of an unknown encoding")
    return _inflate(body[1:], context if kind == BATCH else b"", raw=True)


def _recorded(time_ms: int, name: str, doc: Any, inputs: dict[Any, Any]) -> Recorded:
    return Recorded(time_ms, name, stored=doc, inputs=inputs.get((doc.get("~") or {}).get("in")))


def _times(time_ms: int, meta: bytes) -> list[int]:
    return [int(time_ms) + dt for dt in _unpack(meta)["t"]]


def _inputs(conn: sqlite3.Connection, profile: str | None = None) -> dict[int, Any]:
    if not _has_inputs(conn):
        return {}
    where = (" WHERE profile = ?", (profile,)) if profile is not None else ("", ())
    return {i: _unpack(body) for i, body in conn.execute("SELECT id, body FROM inputs" + where[0], where[1])}


def _has_inputs(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inputs'").fetchone() is not None


def _meta_column(conn: sqlite3.Connection) -> str:
    """The `meta` column, or NULL in a file from before batch rows."""
    return "meta" if "meta" in {row[1] for row in conn.execute("PRAGMA table_info(states)")} else "NULL"


class LazyStates(Sequence[Recorded]):
    """A profile's recorded states, opened without decoding them: only each row's time, kind,
    level and flags (and a batch row's meta) are read; a state is decoded when asked for, from
    its keyframe on, and the few stretches (keyframe to keyframe) last asked for are kept.

    Each state known (a day holds 43,200: lists side by side, not an object each) is its row's id
    and its place in the row; `starts` are the keyframes' indexes, `shown` the states shown."""

    KEPT = 8

    def __init__(self, path: Path, ids: list[int], places: list[int], starts: list[int], shown: list[int],
                 times: list[int], levels: list[str | None], flags: list[int | None]) -> None:
        self.path = path
        self._ids, self._places, self._starts, self._shown = ids, places, starts, shown
        self.times = [times[i] for i in shown]
        self.levels = [levels[i] for i in shown]
        self.flags = [flags[i] for i in shown]
        self._kept: dict[int, list[Recorded]] = {}

    def __len__(self) -> int:
        return len(self._shown)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        entry = self._shown[index]
        start = self._starts[bisect.bisect_right(self._starts, entry) - 1]
        stretch = self._kept.get(start)
        if stretch is None:
            stretch = self._decode(start)
            if len(self._kept) >= self.KEPT:
                self._kept.pop(next(iter(self._kept)))
            self._kept[start] = stretch
        return stretch[entry - start]

    def _decode(self, start: int) -> list[Recorded]:
        end = next((s for s in self._starts if s > start), len(self._ids))
        first, last = self._ids[start], self._ids[end - 1]
        history = History(self.path)
        conn = history._connect(create=False)
        try:
            rows = conn.execute(f"SELECT id, time_ms, profile, kind, body, {_meta_column(conn)} FROM states"
                                " WHERE id >= ? AND id <= ? AND profile = (SELECT profile FROM states WHERE id = ?)"
                                " ORDER BY id", (first, last, first)).fetchall()
            found = {(row_id, place): rec for row_id, place, rec in _decoded(rows, _inputs(conn))}
            return [found[(self._ids[i], self._places[i])] for i in range(start, end)]
        except (sqlite3.Error, zlib.error, lzma.LZMAError, struct.error, ValueError, TypeError, KeyError,
                IndexError, AttributeError):
            raise HistoryError(f"The history file {history.path} has recorded states pmtui cannot read"
                               " (written by another program, or damaged).") from None
        finally:
            conn.close()


def open_states(path: Path | str, profile: str, *, since_ms: int | None = None,
                until_ms: int | None = None) -> LazyStates:
    """A profile's states with since_ms <= time < until_ms, oldest first, decoded on demand
    (the states before the first data, connecting, left out). HistoryError with a sentence when
    the file cannot be read."""
    history = History(path)
    conn = history._connect(create=False)
    since = since_ms if since_ms is not None else -(2**62)
    until = until_ms if until_ms is not None else 2**62
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(states)")}
        # From the keyframe at or before `since` on: every state shown can be decoded.
        (start,) = conn.execute("SELECT max(id) FROM states WHERE profile = ? AND kind IN " + _KEYS
                                + " AND time_ms <= ?", (profile, *KEYFRAMES, since)).fetchone()
        rows = conn.execute(
            f"SELECT id, time_ms, kind, level, {'flags' if 'flags' in columns else 'NULL'},"
            f" {'meta' if 'meta' in columns else 'NULL'} FROM states WHERE profile = ? AND id >= ?"
            " AND time_ms < ? ORDER BY id", (profile, start or 0, until)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            rows = []
        else:
            raise HistoryError(f"Cannot read the history file {history.path}: {_reason(exc)}.") from None
    except sqlite3.Error as exc:
        raise HistoryError(f"Cannot read the history file {history.path}: {_reason(exc)}.") from None
    finally:
        conn.close()
    ids: list[int] = []
    places: list[int] = []
    starts: list[int] = []
    times: list[int] = []
    levels: list[str | None] = []
    flags: list[int | None] = []
    try:
        for row_id, t, kind, level, flag, meta in rows:
            if kind in KEYFRAMES:
                starts.append(len(ids))
            if kind in BATCHES:
                m = _unpack(meta)
                n = len(m["t"])
                if len(m["l"]) != n or len(m["f"]) != n:
                    raise ValueError("a batch row's meta does not add up")
                ids.extend([row_id] * n)
                places.extend(range(n))
                times.extend([int(t) + dt for dt in m["t"]])
                levels.extend(m["l"])
                flags.extend(m["f"])
            else:
                ids.append(row_id)
                places.append(0)
                times.append(int(t))
                levels.append(level)
                flags.append(flag)
    except (zlib.error, ValueError, TypeError, KeyError):
        raise HistoryError(f"The history file {history.path} has recorded states pmtui cannot read"
                           " (written by another program, or damaged).") from None
    # From the first keyframe on (every state shown can be decoded), those in the range, not the
    # moments before the first data (connecting): they show nothing.
    inside = [i for i in range(starts[0] if starts else len(ids), len(ids)) if since <= times[i] < until]
    shown = [i for i in inside if (f := flags[i]) is None or f & HAS_DATA] or inside
    return LazyStates(history.path, ids, places, starts, shown, times, levels, flags)


def _number(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return Decimal("Infinity")
    return value if value.is_finite() else Decimal("Infinity")


def liq_distances(rec: Recorded) -> list[Any]:
    """A recorded state's positions' liquidation distances (view.positions[].liqDistance), as
    view rows pmtui.charts.liq_of_doc reads, without deriving the view when the row keeps them
    or its positionRisk rows give the nearest (as they do unless the row says otherwise)."""
    facts = rec.top.get("~")
    if isinstance(facts, dict) and isinstance(facts.get("liq"), list):
        return [{"liqDistance": v} for v in facts["liq"]]
    if isinstance(facts, dict) and "in" in facts:
        known = rec.__dict__.get("_liq")  # kept: the replay asks again at each step
        if known is None:
            known = rec.__dict__["_liq"] = _nearest_liq(rec.top)
        if known != ["?"]:
            return [{"liqDistance": v} for v in known]
    return list((rec.doc.get("view") or {}).get("positions") or ())


def _nearest_liq(doc: dict[str, Any]) -> list[str]:
    """The nearest liquidation distance of a stored document's open positions from its UM and
    COIN-M positionRisk rows, |mark - liquidation| / mark as pmtui.risk.liq_distance has it ([]
    when none; the writer keeps the view's own figure when this is not it). From the strings, not
    the parsed rows: a replay asks it of hundreds of states at a time."""
    found = []
    try:
        for row in (*(doc.get("positionRisk") or ()), *((doc.get("cm") or {}).get("positionRisk") or ())):
            if Decimal(row["positionAmt"]) == 0:
                continue
            mark, liquidation = Decimal(row["markPrice"]), Decimal(row["liquidationPrice"])
            if mark > 0 and liquidation > 0:
                found.append(abs(mark - liquidation) / mark)
    except (KeyError, TypeError, AttributeError, ArithmeticError):
        return ["?"]  # never the view's: the row keeps its own
    return [str(output._dec(min(found)))] if found else []
