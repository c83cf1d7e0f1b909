"""The one check every URL pmtui talks to passes: settings validators and the client both use it.

Secrets (an API key in a header, a listen key in a stream URL) travel only over TLS: https:// and
wss:// go anywhere, plain http:// and ws:// only to loopback test servers (127.0.0.0/8, ::1,
localhost). A URL may not carry a user name, a password, a query or a fragment; a trailing slash
is dropped. A refusal is a `SettingProblem` (a `ConfigError`): one sentence naming the setting,
with ``{where}`` left for the loader to fill in.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pmtui.errors import SettingProblem
from pmtui.text import clean

__all__ = ["check_url", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, without brackets) is this machine."""
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, what: str, *, websocket: bool = False) -> str:
    """`value` without surrounding spaces and trailing slashes, or a `SettingProblem` naming `what`
    (the setting, e.g. ``base_url``). With `websocket`, wss:// (ws:// to loopback) instead of
    https:// (http:// to loopback)."""
    secure, plain = ("wss", "ws") if websocket else ("https", "http")
    url = value.strip().rstrip("/")
    shown = clean(url, 80)  # a URL from a file or the environment may hold anything
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SettingProblem(f"{what}{{where}} is not a valid URL ({shown!r}).", what) from None
    if parts.username is not None or parts.password is not None:
        # Do not echo it: whatever sits before the "@" may be a password.
        raise SettingProblem(
            f"{what}{{where}} must not contain a user name or password; pmtui sends the API key"
            " in a header.",
            what,
        )
    host = parts.hostname or ""
    if parts.scheme not in (secure, plain) or not host:
        raise SettingProblem(
            f"{what}{{where}} must be a URL like {secure}://host/path ({plain}:// only for loopback"
            f" test servers); got {shown!r}.",
            what,
        )
    if parts.query or parts.fragment:
        raise SettingProblem(f"{what}{{where}} must not have a query or fragment (got {shown!r}).", what)
    if parts.scheme == plain and not is_loopback(host):
        if websocket and what in ("market_stream_url", "cm_market_stream_url"):  # public, yet a tampered one misleads
            reason = "market prices must only travel over TLS (ws is allowed for loopback test servers)."
        elif websocket:
            reason = "the account's stream must only travel over TLS (ws is allowed for loopback test servers)."
        else:
            reason = "API keys must only travel over HTTPS (http is allowed for loopback test servers)."
        raise SettingProblem(f"Refusing plain {plain}:// to {clean(host, 60)} ({what}{{where}}): {reason}", what)
    return url
