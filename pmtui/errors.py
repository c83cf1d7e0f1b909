"""Typed errors. Each carries one sentence for a person in `.message`, never a secret.

The refresh loop decides what to do from the type alone:

- retried with backoff (`retryable` True), the last data staying on screen marked STALE:
  NetworkError and RequestTimeout, ServerError (HTTP 5xx; Binance -1000, -1001, -1006, -1007),
  RateLimited (429; -1003, -1008, -1015) and IPBanned (418), which also make the client refuse to
  send until their `retry_after` is over, WafBlocked (403), ClockSkew (-1021, after one resync),
  BadServerTime (the time endpoint answered nonsense), MalformedResponse, SchemaError, ApiError
  and its RequestRejected (-1100 … -1199: a pmtui bug to report; retried in case it was the
  exchange's);
- stop polling until a person acts (`retryable` False): ConfigError, BadSignature (-1022) and
  AuthError (401; -2015, -2014, -2008, -1002: the key may not read this, which is also the only
  reason an optional endpoint is given up for good).

Binance's own `code` decides the type before the HTTP status does: the same error can come with
HTTP 200, 4xx or 5xx.
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
        #: Seconds to wait before the next request, when the server or the error says so
        #: (already bounded by the client: a server cannot make pmtui wait for years).
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class ConfigError(PmtuiError):
    retryable = False
    kind = "config"


class SettingProblem(ConfigError, ValueError):
    """A value a settings validator refused, phrased so the loader can add where it came from.

    `template` is one sentence holding the marker ``{where}``, replaced by e.g.
    `` in /x/config.toml`` or `` from environment variable PMTUI_BASE_URL`` (or nothing, which is
    what `str()` shows). `keys` are the settings to blame, most likely first (``thresholds.x`` for
    thresholds). A ValueError too, so pydantic reports it as a validation error; a ConfigError, so
    code outside the settings models (the client checking its URLs) can raise it as one.
    """

    def __init__(self, template: str, *keys: str) -> None:
        self.template = template
        self.keys = keys
        super().__init__(self.sentence(""))

    def sentence(self, where: str) -> str:
        return self.template.replace("{where}", where)


class NetworkError(PmtuiError):
    kind = "network"


class RequestTimeout(NetworkError):
    """No whole answer within the request's deadline (connect and entire response)."""

    kind = "timeout"


class ServerError(PmtuiError):
    """HTTP 5xx or a transient Binance code (-1000, -1001, -1006, -1007): retry with backoff."""

    kind = "server"


class RateLimited(PmtuiError):
    """HTTP 429 or Binance -1003/-1008/-1015: back off for `retry_after` seconds."""

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


class BadServerTime(PmtuiError):
    """The time endpoint answered a time that cannot be right (0, negative, far from its Date)."""

    kind = "clock"


class BadSignature(PmtuiError):
    """Binance -1022: the secret does not match the key."""

    retryable = False
    kind = "signature"


class AuthError(PmtuiError):
    """HTTP 401 or Binance -2015/-2014/-2008/-1002: the key is invalid or may not read this."""

    retryable = False
    kind = "auth"


class MalformedResponse(PmtuiError):
    """The body is not the JSON we asked for (HTML, truncated, empty, far too large)."""

    kind = "malformed"


class SchemaError(PmtuiError):
    """The JSON parsed but does not have the shape of the documented response."""

    kind = "schema"


class ApiError(PmtuiError):
    """Any other Binance error code."""

    kind = "api"


class RequestRejected(ApiError):
    """Binance -1100 … -1199: the exchange refused what pmtui sent (a pmtui bug to report)."""

    kind = "rejected"
