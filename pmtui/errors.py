"""Typed errors. Each carries one sentence for a person in `.message`, never a secret.

The refresh loop decides what to do from the type alone: retry soon, wait out a ban,
resync the clock, or stop and ask the user to fix their key.
"""

from __future__ import annotations

from pmtui.text import clean


class PmtuiError(Exception):
    """Base of every error pmtui expects. `str(err)` is the sentence shown to a person."""

    #: Whether polling should carry on by itself (False: a person has to fix something first).
    retryable: bool = True
    #: Short label for status bars and logs.
    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        # Messages quote the exchange (`msg`, schema values), files and commands: cleaned here,
        # once, so no error anywhere can carry a terminal control sequence to a person. The cap
        # leaves room for a sentence naming two long paths, not for a hostile web page.
        message = clean(message, 1000)
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        #: Seconds to wait before the next request, when the server or the error says so.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class ConfigError(PmtuiError):
    retryable = False
    kind = "config"


class NetworkError(PmtuiError):
    kind = "network"


class RequestTimeout(NetworkError):
    kind = "timeout"


class ServerError(PmtuiError):
    """HTTP 5xx or Binance -1001: the outcome is unknown, retry with backoff."""

    kind = "server"


class RateLimited(PmtuiError):
    """HTTP 429: back off for `retry_after` seconds."""

    kind = "rate-limit"


class IPBanned(PmtuiError):
    """HTTP 418: the IP is banned until `retry_after` seconds from now."""

    kind = "banned"


class WafBlocked(PmtuiError):
    """HTTP 403: Binance's web application firewall refused the request."""

    kind = "blocked"


class ClockSkew(PmtuiError):
    """Binance -1021: our timestamp is outside recvWindow even after a resync."""

    kind = "clock"


class BadSignature(PmtuiError):
    """Binance -1022: the secret does not match the key."""

    retryable = False
    kind = "signature"


class AuthError(PmtuiError):
    """Binance -2015 / HTTP 401: key invalid, IP not whitelisted, or no permission."""

    retryable = False
    kind = "auth"


class MalformedResponse(PmtuiError):
    """The body is not the JSON we asked for (HTML, truncated, empty)."""

    kind = "malformed"


class SchemaError(PmtuiError):
    """The JSON parsed but does not have the shape of the documented response."""

    kind = "schema"


class ApiError(PmtuiError):
    """Any other Binance error code."""

    kind = "api"
