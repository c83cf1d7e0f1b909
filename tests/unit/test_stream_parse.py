"""parse_event over Binance's own example payloads (tests/fixtures/real/stream, see SOURCES.md)
and over garbage; the stream URL check."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pmtui.errors import BadFrame, ConfigError
from pmtui.stream import (
    MAX_FRAME,
    AccountChange,
    ListenKeyExpired,
    RiskLevelChange,
    parse_event,
)
from pmtui.text import is_clean
from pmtui.urls import check_url
from tests.core.test_real_payloads import load_body_text


def check_stream_url(url: str) -> str:
    return check_url(url, "stream_url", websocket=True)


STREAM = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "stream"
FIXTURES = sorted(p.name for p in STREAM.glob("*.json"))
GOOD = [name for name in FIXTURES if not name.endswith(".odd.json")]
ODD = [name for name in FIXTURES if name.endswith(".odd.json")]


def body(name: str) -> str:
    return load_body_text((STREAM / name).read_text(encoding="utf-8"))


def test_every_fixture_has_an_origin_and_a_sources_row():
    sources = (STREAM.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert len(FIXTURES) >= 8
    for name in FIXTURES:
        assert (STREAM / f"{name}.origin").is_file(), name
        assert f"`stream/{name}`" in sources, name


EXPECTED = {
    "risk_level_change.en.json": RiskLevelChange(
        1587727187525, Decimal("1.99999999"), "MARGIN_CALL", Decimal("30.23416728"),
        Decimal("30.23416728"), Decimal("15.11708371")),
    "risk_level_change.zh-CN.json": RiskLevelChange(
        1587727187525, Decimal("1.99999999"), "MARGIN_CALL", Decimal("30.23416728"),
        Decimal("30.23416728"), Decimal("15.11708371")),
    "order_trade_update.en.json": AccountChange("ORDER_TRADE_UPDATE", 1568879465651),
    "account_update.zh-CN.json": AccountChange("ACCOUNT_UPDATE", 1564745798939),
    "open_order_loss.en.json": AccountChange("openOrderLoss", 1678710578788),
    "margin_account_update.en.json": AccountChange("outboundAccountPosition", 1564034571105),
    # E printed as a string of digits; the listenKey in the event is not kept.
    "listen_key_expired.options.json": ListenKeyExpired(1736996475556),
}


@pytest.mark.parametrize("name", GOOD)
def test_real_payloads_parse(name):
    assert name in EXPECTED, f"add the expected event of {name}"
    event = parse_event(body(name))
    assert event == EXPECTED[name]
    assert parse_event(body(name).encode()) == event  # a binary frame of the same text
    assert "WsCMN0a4" not in repr(event)


@pytest.mark.parametrize("name", ODD)
def test_real_payloads_that_are_not_json_as_printed_are_refused_in_one_sentence(name):
    with pytest.raises(BadFrame) as caught:
        parse_event(body(name))
    assert str(caught.value) == "The stream sent a frame that is not valid JSON."


def test_the_odd_ones_are_only_printing_slips():
    """Repaired the way SOURCES.md says, each odd example is the event it documents."""
    account = body("account_update.en.odd.json").replace("}，", "},")
    assert parse_event(account) == AccountChange("ACCOUNT_UPDATE", 1564745798939)
    liability = body("liability_change.zh-CN.odd.json").replace('“BORROW”', '"BORROW",')
    assert parse_event(liability) == AccountChange("liabilityChange", 1573200697110)
    expired = body("listen_key_expired.pm.odd.json").replace("'", '"')
    assert parse_event(expired) == ListenKeyExpired(1576653824250)


def test_both_spellings_of_the_risk_event_and_the_combined_stream_envelope():
    frame = {"e": "RISK_LEVEL_CHANGE", "E": 5, "u": "1.1", "s": "REDUCE_ONLY"}
    assert parse_event(json.dumps(frame)) == RiskLevelChange(5, Decimal("1.1"), "REDUCE_ONLY", None, None, None)
    wrapped = json.dumps({"stream": "somekey", "data": frame})
    assert parse_event(wrapped).event_time == 5


def test_empty_strings_are_not_given_and_text_is_cleaned():
    frame = {"e": "riskLevelChange", "E": 5, "u": "", "s": "MARGIN\x1b[31m_CALL\u202e", "eq": "", "ae": "1", "m": 2}
    event = parse_event(json.dumps(frame))
    assert event.uniMMR is None and event.equity is None
    assert event.actual_equity == Decimal("1") and event.maint_margin == Decimal("2")
    assert event.status == "MARGIN_CALL" and is_clean(event.status)


def test_unknown_event_types_are_ignored():
    assert parse_event('{"e":"TRADE_LITE","E":1}') is None
    assert parse_event('{"e":"markPriceUpdate"}') is None  # no time needed for what is ignored


@pytest.mark.parametrize("frame,sentence", [
    ("", "The stream sent a frame that is not valid JSON."),
    ("<html>502 Bad Gateway</html>", "The stream sent a frame that is not valid JSON."),
    ('{"e":"ACCOUNT_UPDATE","E":1', "The stream sent a frame that is not valid JSON."),
    ('{"e":"riskLevelChange","E":1,"u":NaN}', "The stream sent a frame that is not valid JSON."),
    ("[" * 100_000 + "]" * 100_000, "The stream sent a frame that is not valid JSON."),
    (b"\xff\xfe\x00", "The stream sent a frame that is not UTF-8 text."),
    ("[1, 2]", "The stream sent a frame that is not a JSON object."),
    ('"ACCOUNT_UPDATE"', "The stream sent a frame that is not a JSON object."),
    ("{}", "The stream sent a frame without an event type."),
    ('{"e": 5, "E": 1}', "The stream sent a frame without an event type."),
    ('{"e": "ACCOUNT_UPDATE"}', "The stream sent a ACCOUNT_UPDATE event without a valid event time."),
    ('{"e": "ACCOUNT_UPDATE", "E": true}', "The stream sent a ACCOUNT_UPDATE event without a valid event time."),
    ('{"e": "ACCOUNT_UPDATE", "E": -5}', "The stream sent a ACCOUNT_UPDATE event without a valid event time."),
    ('{"e": "ACCOUNT_UPDATE", "E": 1e30}', "The stream sent a ACCOUNT_UPDATE event without a valid event time."),
    ('{"e": "ACCOUNT_UPDATE", "E": "12x"}', "The stream sent a ACCOUNT_UPDATE event without a valid event time."),
    ('{"e": "listenKeyExpired", "E": 99999999999999999999}',
     "The stream sent a listenKeyExpired event without a valid event time."),
    ('{"e": "riskLevelChange", "E": 1, "u": "lots"}',
     "The stream sent a riskLevelChange whose uniMMR is not a number."),
    ('{"e": "riskLevelChange", "E": 1, "u": "Infinity"}',
     "The stream sent a riskLevelChange whose uniMMR is not a number."),
    ('{"e": "riskLevelChange", "E": 1, "m": true}',
     "The stream sent a riskLevelChange whose maintenance margin is not a number."),
    ('{"e": "riskLevelChange", "E": 1, "eq": [1]}', "The stream sent a riskLevelChange whose equity is not a number."),
    ('{"e": "riskLevelChange", "E": 1, "ae": "1' + "0" * 100 + '"}',
     "The stream sent a riskLevelChange whose actual equity is not a number."),
    ('{"e": "riskLevelChange", "E": 1, "s": 3}', "The stream sent a riskLevelChange whose status is not text."),
])
def test_garbage_is_one_clear_sentence(frame, sentence):
    with pytest.raises(BadFrame) as caught:
        parse_event(frame)
    assert str(caught.value) == sentence
    assert caught.value.retryable


def test_a_huge_frame_is_refused_unread():
    frame = '{"e":"ACCOUNT_UPDATE","E":1,"pad":"' + "x" * MAX_FRAME + '"}'
    with pytest.raises(BadFrame) as caught:
        parse_event(frame)
    assert str(caught.value) == "The stream sent a frame larger than 1024 KiB; it was dropped unread."


def test_a_hostile_event_type_is_cleaned_in_the_sentence():
    with pytest.raises(BadFrame) as caught:
        parse_event('{"e": "ACCOUNT_UPDATE", "E": null}')
    assert is_clean(str(caught.value))
    # Unknown types are ignored whatever they hold, so their text never reaches a sentence.
    assert parse_event('{"e": "\\u001b]0;pwned\\u0007", "E": null}') is None


# --- the stream URL (pmtui.urls.check_url) ------------------------------------------------------


@pytest.mark.parametrize("url,expected", [
    ("wss://fstream.binance.com/pm/ws", "wss://fstream.binance.com/pm/ws"),
    ("  wss://fstream.binance.com/pm/ws/  ", "wss://fstream.binance.com/pm/ws"),
    ("ws://127.0.0.1:8765/pm/ws", "ws://127.0.0.1:8765/pm/ws"),
    ("ws://localhost/pm/ws", "ws://localhost/pm/ws"),
    ("ws://[::1]:9000/ws", "ws://[::1]:9000/ws"),
    ("wss://example.test:9443", "wss://example.test:9443"),
])
def test_stream_urls_accepted(url, expected):
    assert check_stream_url(url) == expected


@pytest.mark.parametrize("url,sentence", [
    ("https://fstream.binance.com/pm/ws",
     "stream_url must be a URL like wss://host/path (ws:// only for loopback test servers); "
     "got 'https://fstream.binance.com/pm/ws'."),
    ("fstream.binance.com/pm/ws", "stream_url must be a URL like wss://host/path (ws:// only for loopback "
     "test servers); got 'fstream.binance.com/pm/ws'."),
    ("", "stream_url must be a URL like wss://host/path (ws:// only for loopback test servers); got ''."),
    ("ws://fstream.binance.com/pm/ws",
     "Refusing plain ws:// to fstream.binance.com (stream_url): the account's stream must only travel over "
     "TLS (ws is allowed for loopback test servers)."),
    ("ws://10.0.0.5/pm/ws",
     "Refusing plain ws:// to 10.0.0.5 (stream_url): the account's stream must only travel over "
     "TLS (ws is allowed for loopback test servers)."),
    ("wss://fstream.binance.com/pm/ws?x=1",
     "stream_url must not have a query or fragment (got 'wss://fstream.binance.com/pm/ws?x=1')."),
    ("wss://fstream.binance.com/pm/ws#top",
     "stream_url must not have a query or fragment (got 'wss://fstream.binance.com/pm/ws#top')."),
    ("wss://user:pw@fstream.binance.com/pm/ws",
     "stream_url must not contain a user name or password; pmtui sends the API key in a header."),
    ("wss://fstream.binance.com:99999/pm/ws",
     "stream_url is not a valid URL ('wss://fstream.binance.com:99999/pm/ws')."),
    ("wss://\x1b]0;pwned\x07fstream.binance.com/pm/ws?x",
     "stream_url is not a valid URL ('wss://fstream.binance.com/pm/ws?x')."),
])
def test_stream_urls_refused_in_one_sentence(url, sentence):
    with pytest.raises(ConfigError) as caught:
        check_stream_url(url)
    assert str(caught.value) == sentence
    assert not caught.value.retryable
