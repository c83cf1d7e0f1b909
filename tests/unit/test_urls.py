"""pmtui.urls: the one URL check settings and the client share (https/wss, plain only to loopback)."""

from __future__ import annotations

import pytest

from pmtui.errors import ConfigError, SettingProblem
from pmtui.urls import check_url, is_loopback


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "127.0.0.1", "127.9.9.9", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "::2", "localhost.example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_https_anywhere_http_only_to_loopback() -> None:
    assert check_url(" https://papi.binance.com/ ", "base_url") == "https://papi.binance.com"
    assert check_url("http://127.0.0.1:8080//", "base_url") == "http://127.0.0.1:8080"
    with pytest.raises(SettingProblem) as info:
        check_url("http://papi.example.com", "base_url")
    assert str(info.value) == (
        "Refusing plain http:// to papi.example.com (base_url): API keys must only travel over"
        " HTTPS (http is allowed for loopback test servers)."
    )
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert info.value.keys == ("base_url",)
    assert info.value.sentence(" in /x.toml").startswith(
        "Refusing plain http:// to papi.example.com (base_url in /x.toml)")


def test_websocket_urls() -> None:
    url = "wss://fstream.binance.com/pm/ws"
    assert check_url(url + "/", "stream_url", websocket=True) == url
    assert check_url("ws://[::1]:9000/pm/ws", "stream_url", websocket=True) == "ws://[::1]:9000/pm/ws"
    with pytest.raises(SettingProblem, match=r"^Refusing plain ws:// to fstream.binance.com \(stream_url\)"):
        check_url("ws://fstream.binance.com/pm/ws", "stream_url", websocket=True)
    for wrong in ("https://fstream.binance.com/pm/ws", "fstream.binance.com"):
        with pytest.raises(SettingProblem, match=r"^stream_url must be a URL like wss://"):
            check_url(wrong, "stream_url", websocket=True)
    with pytest.raises(SettingProblem, match=r"^base_url must be a URL like https://"):
        check_url("wss://fstream.binance.com", "base_url")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://x.example.com?a=1", "must not have a query or fragment"),
        ("https://x.example.com/#top", "must not have a query or fragment"),
        ("https://user:hunter2@x.example.com", "must not contain a user name or password"),
        ("https://x.example.com:99999", "is not a valid URL"),
        ("https://", "must be a URL like https://"),
    ],
)
def test_refusals_name_the_setting(url: str, words: str) -> None:
    with pytest.raises(SettingProblem) as info:
        check_url(url, "time_base_url")
    message = str(info.value)
    assert message.startswith("time_base_url") and words in message and message.endswith(".")
    assert "hunter2" not in message
