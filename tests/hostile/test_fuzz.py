"""Property-based tests: whatever the exchange or a config file holds, pmtui either understands it
or says what is wrong in one sentence through its own error types. Nothing else may escape (no
ValidationError, RecursionError, InvalidOperation, TypeError...), and nothing may hang.

Example counts are modest so the suite stays fast (the JSON- and TOML-document ones, the
slowest to draw, fewer still: 60). For a longer hunt:

    PMTUI_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/hostile/test_fuzz.py
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pmtui.config import load_settings
from pmtui.errors import ConfigError, MalformedResponse, SchemaError
from pmtui.models import (
    Asset,
    PmAccount,
    Position,
    PositionRisk,
    UmAccount,
    WireModel,
    decode_json,
    parse_pm_account,
    parse_position_risk,
    parse_um_account,
)
from pmtui.settings import Settings
from tests.support.papi_server import pm_account_body, position_risk_body, um_account_body
from tests.support.sentences import assert_sentence

NOW_MS = 1_760_000_000_000
_SCALE = int(os.environ.get("PMTUI_FUZZ_EXAMPLES", "0") or 0)


def fuzz(examples: int) -> settings:
    """Hypothesis settings: `examples` by default, PMTUI_FUZZ_EXAMPLES for a longer run."""
    return settings(
        max_examples=_SCALE or examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )


# --- raw JSON text, so that numbers like 1e999999 reach the parser as numbers ------------------


class Raw(str):
    """JSON text inserted verbatim (a number token, a deep nest)."""


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


# --- what the parsers must produce ------------------------------------------------------------

PARSERS: dict[str, Callable[[Any], Any]] = {
    "um": parse_um_account,
    "pm": parse_pm_account,
    "risk": parse_position_risk,
}


def check_model(model: WireModel) -> None:
    """Every field is what the rest of pmtui relies on: finite bounded Decimals, sane times,
    printable text."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None:
            continue
        if isinstance(value, Decimal):
            assert value.is_finite(), (name, value)
            _, digits, exponent = value.as_tuple()
            assert len(digits) <= 60 and -60 <= exponent <= 60, (name, value)
            value + 1, value * 2  # cheap arithmetic works  # noqa: B018
        elif isinstance(value, int):
            assert not isinstance(value, bool) and 0 <= value < 10**15, (name, value)
        elif isinstance(value, str):
            assert value.isprintable(), (name, value)
        else:
            raise AssertionError(f"{name} has unexpected type {type(value).__name__}")
    assert isinstance(model.raw, dict)


def check_result(kind: str, result: Any) -> None:
    if kind == "um":
        assert isinstance(result, UmAccount)
        for a in result.assets:
            assert isinstance(a, Asset)
            check_model(a)
        keys = [p.key for p in result.positions]
        assert len(keys) == len(set(keys)), "duplicate (symbol, side) rows reached the tables"
        for p in result.positions:
            assert isinstance(p, Position)
            check_model(p)
    elif kind == "pm":
        assert isinstance(result, PmAccount)
        check_model(result)
    else:
        assert isinstance(result, tuple)
        for r in result:
            assert isinstance(r, PositionRisk)
            check_model(r)


def outcome(kind: str, body: bytes) -> Any:
    """Parse `body` as `kind`: the models, or None after a well-formed SchemaError/MalformedResponse.
    Any other exception propagates and fails the test."""
    try:
        result = PARSERS[kind](decode_json(body))
    except (SchemaError, MalformedResponse) as err:
        assert str(err) == err.message
        assert_sentence(err.message, context=f"{kind} parser")
        assert "Traceback" not in repr(err)
        return None
    check_result(kind, result)
    return result


# --- strategies --------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)

# Number tokens written straight into the JSON text: huge, tiny, long, odd.
raw_numbers = st.sampled_from([
    "1e999999", "-1e999999", "1e-999999", "1E+999999999", "9e99999", "1e400", "-0", "0e0",
    "1" + "0" * 80, "0." + "0" * 80 + "1", "123456789012345678901234567890.123456789",
    "9" * 4400, "1.5e3", "-2.5E-3", "NaN", "Infinity", "-Infinity", "1e61", "1e60",
]).map(Raw)
odd_strings = st.sampled_from([
    "", " ", "1e999999", "-1e-999999", "1E+999999999", "NaN", "nan", "sNaN", "Infinity", "-inf",
    "1_000", " 12.5 ", "0x10", "1,5", "١٢٣", "²", "1e", ".", "-", "+1", "1" * 5000, "\x00",
    "\x1b[31mRED", "12\n", "\u202e", "0" * 61, "1." + "0" * 70,
]) | st.text(max_size=30) | st.from_regex(r"\A-?[0-9]{1,80}(\.[0-9]{0,80})?([eE][+-]?[0-9]{1,9})?\Z")
weird_values = (
    raw_numbers
    | odd_strings
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | json_values
    | st.integers(min_value=1, max_value=5000).map(lambda n: Raw("[" * n + "]" * n))
    | st.integers(min_value=1, max_value=5000).map(lambda n: Raw('{"a":' * n + "1" + "}" * n))
)

BODIES: dict[str, Callable[[int], Any]] = {
    "um": um_account_body,
    "pm": pm_account_body,
    "risk": position_risk_body,
}


def _rows_of(kind: str, doc: Any) -> list[dict]:
    if kind == "um":
        return doc["assets"] + doc["positions"]
    if kind == "pm":
        return [doc]
    return doc


@st.composite
def mutated_bodies(draw: st.DrawFn, kind: str) -> bytes:
    """A valid-shaped payload with a few fields replaced, dropped, added, or rows duplicated."""
    doc = BODIES[kind](NOW_MS)
    if kind == "um" and draw(st.booleans()):
        # Hedge mode rows and a bigger book, to give duplicates something to collide with.
        extra = copy.deepcopy(doc["positions"][0])
        extra["positionSide"] = draw(st.sampled_from(["LONG", "SHORT", "BOTH"]))
        doc["positions"].append(extra)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        rows = _rows_of(kind, doc)
        if not rows:
            break
        row = draw(st.sampled_from(rows))
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "extra", "duplicate"]))
        field = draw(st.sampled_from(sorted(row))) if row else "x"
        if action == "replace":
            row[field] = draw(weird_values)
        elif action == "drop":
            row.pop(field, None)
        elif action == "extra":
            row[draw(st.text(max_size=12))] = draw(weird_values)
        elif action == "duplicate" and kind != "pm":
            target = doc["positions"] if kind == "um" and "symbol" in row else (
                doc["assets"] if kind == "um" else doc)
            clone = copy.deepcopy(row)
            if clone and draw(st.booleans()):
                clone[draw(st.sampled_from(sorted(clone)))] = draw(weird_values)
            target.insert(draw(st.integers(min_value=0, max_value=len(target))), clone)
    if kind == "um" and draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["assets", "positions"]))] = draw(weird_values)
    return to_json(doc).encode()


@st.composite
def corrupted_bytes(draw: st.DrawFn, kind: str) -> bytes:
    """A valid body cut short, with bytes flipped, inserted or prefixed."""
    data = bytearray(json.dumps(BODIES[kind](NOW_MS)).encode())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "prefix"]))
        pos = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if op == "cut":
            del data[pos:]
        elif op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[:0] = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b" \n", b"<", b"]"]))
    return bytes(data)


# --- the account parsers -----------------------------------------------------------------------

KINDS = pytest.mark.parametrize("kind", ["um", "pm", "risk"])


@KINDS
@fuzz(60)
@given(doc=json_values)
def test_any_json_shape_parses_or_is_a_schema_error(kind: str, doc: Any) -> None:
    outcome(kind, to_json(doc).encode())


@fuzz(60)
@given(assets=json_values, positions=json_values)
def test_any_rows_in_the_um_account_shape(assets: Any, positions: Any) -> None:
    outcome("um", to_json({"assets": assets, "positions": positions}).encode())


@KINDS
@fuzz(100)
@given(data=st.data())
def test_mutated_payloads_parse_or_are_schema_errors(kind: str, data: st.DataObject) -> None:
    outcome(kind, data.draw(mutated_bodies(kind)))


@KINDS
@fuzz(100)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(kind: str, body: bytes) -> None:
    outcome(kind, body)


@KINDS
@fuzz(100)
@given(data=st.data())
def test_corrupted_bodies(kind: str, data: st.DataObject) -> None:
    outcome(kind, data.draw(corrupted_bytes(kind)))


@fuzz(100)
@given(value=odd_strings | raw_numbers | st.integers() | st.floats(allow_nan=True))
def test_an_amount_is_a_bounded_decimal_or_refused(value: Any) -> None:
    """One field at a time: an amount either becomes the same number or is refused."""
    doc = pm_account_body(NOW_MS)
    doc["uniMMR"] = value
    result = outcome("pm", to_json(doc).encode())
    if result is not None and isinstance(value, str) and not isinstance(value, Raw):
        assert result.uniMMR == Decimal(value.strip())


@pytest.mark.parametrize("token", ["1e999999", "1E+9999999", "-1e999999", "9" * 4300 + "e999999"])
@pytest.mark.parametrize("field", ["updateTime", "uniMMR"])
def test_huge_exponents_are_refused_at_once(token: str, field: str) -> None:
    """A ten-byte number must not cost a huge integer (Decimal('1e999999') -> int took ~30 s,
    and 1E+9999999 effectively forever). The bound is loose on purpose: it catches a hang."""
    doc = pm_account_body(NOW_MS)
    doc[field] = Raw(token)
    started = time.perf_counter()
    result = outcome("pm", to_json(doc).encode())
    # uniMMR is required: refused. updateTime is optional: unknown (None), the payload parses.
    assert result is None if field == "uniMMR" else result.updateTime is None
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("depth", [10, 500, 5000, 100_000])
def test_deep_nesting_is_refused_cleanly(depth: int) -> None:
    nest = Raw("[" * depth + "]" * depth)
    for kind, doc in (("um", {"assets": [], "positions": [{"symbol": nest}]}),
                      ("risk", [nest]), ("pm", {"uniMMR": nest})):
        assert outcome(kind, to_json(doc).encode()) is None


def test_null_and_wrong_types_are_named_as_json_types() -> None:
    """A person reading the status bar knows JSON (null, a list), not Python (NoneType)."""
    for value, word in ((None, "null"), ([1], "list"), ({"a": 1}, "dict"), (True, "true/false"),
                        (Raw("1.5"), "a number")):
        # A required text field (accountStatus is optional now: a wrong type there is "not given").
        doc = um_account_body(NOW_MS)
        doc["positions"][0]["symbol"] = value
        with pytest.raises(SchemaError) as info:
            parse_um_account(decode_json(to_json(doc).encode()))
        assert word in info.value.message, info.value.message


# --- config files ------------------------------------------------------------------------------

CANARY_SECRET = "fuzz-canary-secret-Qw7Zr9Lk3Vb"
SETTING_KEYS = [
    "api_key", "api_secret", "private_key_passphrase", "private_key_file", "base_url",
    "time_base_url", "interval", "account_interval", "timeout", "recv_window", "stream", "stream_url",
]
THRESHOLD_KEYS = [
    "unimmr_warn", "unimmr_danger", "unimmr_critical", "position_share_warn",
    "position_share_danger", "position_loss_warn", "position_loss_danger", "position_loss_critical",
]
# Never generated: *_command keys run programs. Their handling is tested in test_config.py.
COMMAND_KEYS = re.compile(r"_command")

toml_keys = st.sampled_from(SETTING_KEYS + THRESHOLD_KEYS + ["thresholds", "profiles", "alerts"]) | st.text(
    min_size=1, max_size=12
)
toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["https://papi.binance.com", "http://example.com", "http://127.0.0.1:9",
                       "ftp://x", "https://u:p@host", "wss://fstream.binance.com/pm/ws", "ws://example.com",
                       "1.5", "0", "-1", "1e999999", CANARY_SECRET])
    | st.sampled_from([Raw("1979-05-27T07:32:00Z"), Raw("07:32:00"), Raw("1979-05-27")])
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(toml_keys, children, max_size=4),
    max_leaves=12,
)


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are TOML basic-string escapes (bar surrogates)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    """A TOML document: scalars and arrays at the top, dicts as [tables] (one level deep)."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


toml_docs = st.dictionaries(
    toml_keys,
    toml_values
    | st.dictionaries(st.sampled_from(THRESHOLD_KEYS) | toml_keys, toml_values, max_size=4)
    | st.dictionaries(st.sampled_from(["work", "paper", "x y"]),
                      st.dictionaries(st.sampled_from(SETTING_KEYS) | toml_keys, toml_scalars, max_size=3),
                      max_size=2),
    max_size=6,
)


def _keys_in(doc: Any) -> set[str]:
    keys: set[str] = set()
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return keys


def load_config_text(path: Path, data: bytes, mode: int = 0o600) -> Settings | ConfigError:
    path.write_bytes(data)
    path.chmod(mode)
    try:
        return load_settings(config_path=path, env={})
    except ConfigError as err:
        return err


def check_config_error(err: ConfigError, path: Path, keys: set[str]) -> None:
    message = err.message
    assert str(err) == message
    assert_sentence(message, needs_period=False, context="config")
    assert CANARY_SECRET not in message and CANARY_SECRET not in repr(err)
    assert str(path) in message, f"the file is not named: {message!r}"
    candidates = keys | set(SETTING_KEYS) | set(THRESHOLD_KEYS) | {"profiles", "thresholds"}
    named = {k for k in candidates if repr(k) in message or (
        len(k) > 1 and re.search(rf"(?<![\w'\"]){re.escape(k)}(?![\w'\"])", message))}
    # Whole-file problems (readable by others) name the fix instead of a line.
    whole_file = r"\bline \d+|end of document|run: chmod 600 |too deeply"
    assert re.search(whole_file, message) or named, (
        f"neither a line nor a key is named: {message!r}"
    )


@fuzz(150)
@given(text=st.text(max_size=200))
def test_config_arbitrary_text(tmp_path: Path, text: str) -> None:
    result = load_config_text(tmp_path / "config.toml", text.encode("utf-8", "surrogatepass"))
    if isinstance(result, ConfigError):
        check_config_error(result, tmp_path / "config.toml", set())


@fuzz(100)
@given(data=st.binary(max_size=200))
def test_config_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    result = load_config_text(tmp_path / "config.toml", data)
    if isinstance(result, ConfigError):
        check_config_error(result, tmp_path / "config.toml", set())


@fuzz(60)
@given(doc=toml_docs, mode=st.sampled_from([0o600, 0o600, 0o644]))
def test_config_documents_load_or_name_the_key(tmp_path: Path, doc: dict[str, Any], mode: int) -> None:
    keys = _keys_in(doc)
    assume(not any(COMMAND_KEYS.search(k) for k in keys))
    path = tmp_path / "config.toml"
    result = load_config_text(path, to_toml(doc).encode("utf-8", "surrogatepass"), mode)
    if isinstance(result, ConfigError):
        check_config_error(result, path, keys)
    else:
        assert isinstance(result, Settings)
        assert CANARY_SECRET not in repr(result) and CANARY_SECRET not in str(result.model_dump())


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000,
        "interval = " + "{x = " * 3000 + "1" + "}" * 3000,
        "[" + "a." * 3000 + "b]",
        "thresholds." + "a." * 3000 + "b = 1",
    ],
    ids=["deep-array", "deep-inline-table", "deep-table-header", "deep-dotted-key"],
)
def test_deeply_nested_config_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    result = load_config_text(path, text.encode())
    assert isinstance(result, ConfigError), result
    check_config_error(result, path, {"a", "thresholds", "interval"})
