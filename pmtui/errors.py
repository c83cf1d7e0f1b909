"""Typed errors. Each carries one sentence for a person in `.message` (also `str(err)`), never a
secret, and a short `kind` label for status bars and logs.

The refresh loop (`pmtui.poller.Poller`) decides what to do from the class alone, through its
`retryable` attribute: True means polling carries on by itself with backoff, the last good data
staying on screen marked STALE; False means polling stops until a person acts (`Poller.stopped`).

The tree (class -> parent: what it means; retried or stops):

- PmtuiError -> Exception: base of every error pmtui expects; retried unless a subclass says not.
- ConfigError -> PmtuiError: a setting, config file, key file or secret command is wrong; stops
  (raised before the first request, it ends the command with the sentence).
- SettingProblem -> ConfigError (and ValueError): a value a settings validator or
  `pmtui.urls.check_url` refused, with a ``{where}`` slot the loader fills with the file, table
  or variable; the loader turns it into a plain ConfigError. Stops.
- NetworkError -> PmtuiError: the exchange could not be reached (DNS, refused, reset, TLS);
  retried.
- RequestTimeout -> NetworkError: no whole answer within the request's deadline (connect and
  entire response); retried.
- ServerError -> PmtuiError: HTTP 5xx or a transient Binance code (-1000, -1001, -1006, -1007);
  retried.
- RateLimited -> PmtuiError: HTTP 429 or Binance -1003, -1008, -1015; retried after
  `retry_after`, and until then the client refuses to send.
- IPBanned -> PmtuiError: HTTP 418, the IP is banned for `retry_after` seconds; retried after
  it, the client refusing to send until then.
- WafBlocked -> PmtuiError: HTTP 403 from Binance's web application firewall; retried.
- RegionBlocked -> PmtuiError: Binance refuses this machine's location (HTTP 451 "restricted
  location", or a CloudFront 403 page blocking the country); stops: no retry makes it pass.
- ClockSkew -> PmtuiError: Binance -1021, our timestamp outside recvWindow even after one
  resync; retried.
- BadServerTime -> PmtuiError: the time endpoint answered a time that cannot be right (0,
  negative, far from its own Date header); retried.
- BadSignature -> PmtuiError: Binance -1022, the secret does not match the key; stops.
- AuthError -> PmtuiError: HTTP 401 or Binance -2015, -2014, -2008, -1002, -9000, -21001: the
  key is invalid, may not read this, or the account is not Portfolio Margin; stops. Also the
  only reason an optional endpoint (/papi/v1/account) is given up for good.
- MalformedResponse -> PmtuiError: the body is not the JSON asked for (HTML, cut off, empty,
  far too large); retried.
- SchemaError -> PmtuiError: the JSON parsed but does not have the documented shape; retried.
- ApiError -> PmtuiError: any other Binance error code; retried.
- ListenKeyInvalid -> PmtuiError: Binance -1125 on the listen key's keep-alive: the key is gone;
  retried (the user data stream gets a new key).
- BadFrame -> PmtuiError: a user data stream frame pmtui cannot read; retried (one is ignored,
  a run of them reconnects the stream).
- RequestRejected -> ApiError: Binance -1100 ... -1199, the exchange refused what pmtui sent
  (a pmtui bug to report); retried in case it was the exchange's.
- HistoryError -> PmtuiError (in `pmtui.history`): the history file cannot be read or written;
  not retried: the dashboard stops recording with one message, `pmtui history` exits with it.
- DaemonGone -> PmtuiError (in `pmtui.attach`): the daemon a viewer was attached to went away;
  its last states stay on screen, marked stale, and the viewer reattaches when it is back.
- ReplayError -> PmtuiError (in `pmtui.replay`): a recorded state that does not read; `pmtui
  replay` says so in one sentence.
- ReportError -> PmtuiError (in `pmtui.report`): a period with nothing recorded to report;
  `pmtui report` says so in one sentence and exits 1.

Binance's own `code` decides the type before the HTTP status does: the same error can come with
HTTP 200, 4xx or 5xx. A new subclass must be added to this list (tests/unit/test_errors.py checks).
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


class RegionBlocked(PmtuiError):
    """HTTP 451, or a CDN 403 page naming the country: Binance refuses requests from where this
    machine is. Waiting does not change the location, so polling stops until a person acts."""

    retryable = False
    kind = "location"


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


class ListenKeyInvalid(PmtuiError):
    """Binance -1125 on a listen-key keep-alive: the key no longer exists (expired, or closed by
    another program on the account). The stream gets a new key; never carries the key itself."""

    kind = "listen-key"


class BadFrame(PmtuiError):
    """A user-data-stream frame that is not an event pmtui can read (not JSON, wrong types, huge)."""

    kind = "stream"


class RequestRejected(ApiError):
    """Binance -1100 … -1199: the exchange refused what pmtui sent (a pmtui bug to report)."""

    kind = "rejected"
