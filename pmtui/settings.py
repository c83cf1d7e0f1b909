"""Settings models and the limits they enforce; no file, environment or TOML code here.

`Settings` (with its `Thresholds` and `AlertSettings` tables) is everything pmtui needs to know
before the first request. The models validate themselves: a refused value raises a
`SettingProblem`, one sentence with a ``{where}`` slot the loader fills in with the file, table
or variable the value came from. The loader that fills these models from a config file, the
environment and command-line flags is `pmtui.config`; it derives which keys a config table may
hold, and what type each must have, from these models' fields (their type, plus a `Kind` mark
where the type does not say enough: a str that is a URL, a float that is a share).
"""

from __future__ import annotations

import math
import shlex
import string
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pmtui.errors import SettingProblem
from pmtui.text import clean
from pmtui.urls import check_url, is_loopback

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CM_MARKET_STREAM_URL",
    "DEFAULT_MARKET_STREAM_URL",
    "DEFAULT_SAPI_URL",
    "DEFAULT_STREAM_URL",
    "DEFAULT_TIME_BASE_URL",
    "MAX_INTERVAL",
    "MAX_RECV_WINDOW",
    "MIN_ACCOUNT_INTERVAL",
    "MIN_INTERVAL",
    "ROUTE_LEVELS",
    "AlertSettings",
    "Kind",
    "Settings",
    "Thresholds",
]

DEFAULT_BASE_URL = "https://papi.binance.com"
#: PAPI has no time endpoint; the USD-M futures one shares Binance's clock.
DEFAULT_TIME_BASE_URL = "https://fapi.binance.com"
#: Binance's spot API host, which serves the risk model's market inputs (collateral rates, asset
#: index prices, margin leverage: /sapi/v1/portfolio/...).
DEFAULT_SAPI_URL = "https://api.binance.com"
#: The Portfolio Margin user data stream (the listen key is appended as a path segment).
DEFAULT_STREAM_URL = "wss://fstream.binance.com/pm/ws"
#: The USD-M market stream host: pmtui appends /ws/!markPrice@arr@1s (every mark price, each
#: second, no weight; COIN-M's host is wss://dstream.binance.com).
DEFAULT_MARKET_STREAM_URL = "wss://fstream.binance.com"
#: The COIN-M market stream host: pmtui appends /stream?streams=<pair>@markPrice@1s/... for the
#: pairs the accounts hold (Binance documents no all-market array for COIN-M).
DEFAULT_CM_MARKET_STREAM_URL = "wss://dstream.binance.com"

#: Seconds between UM account polls, at least and at most.
MIN_INTERVAL = 1.0
MAX_INTERVAL = 3600.0
#: Seconds between /papi/v1/account requests (weight 20), at least, whatever asks for one.
MIN_ACCOUNT_INTERVAL = 5.0
#: Binance's largest recvWindow, in milliseconds (one minute).
MAX_RECV_WINDOW = 60_000


@dataclass(frozen=True)
class Kind:
    """Field metadata (``Annotated[str, URL]``): what a setting holds where its Python type does
    not say. pmtui.config reads it to check a config file's value and to word its complaint;
    a field without one gets its kind from its type (SecretStr, Path, bool, Decimal, float)."""

    name: str


URL = Kind("url")  # a str checked by pmtui.urls.check_url
COMMAND = Kind("command")  # a str split like a shell command line
FRACTION = Kind("fraction")  # a float share such as 0.5
MILLIS = Kind("millis")  # a whole number of milliseconds
#: Added to a rule's field in [alerts]: `false` turns the rule off (the value becomes None).
RULE = Kind("rule")
#: The [alerts.routes] table: a list of apprise URLs per level (each a secret: they carry tokens).
ROUTES = Kind("routes")
#: The levels [alerts.routes] may name, least severe first (pmtui.health.Level's labels).
ROUTE_LEVELS = ("warn", "danger", "critical")
#: Most URLs one level may hold: a list longer than that is a mistake, not a paging plan.
MAX_ROUTES = 20

#: Longest request deadline, in seconds.
MAX_TIMEOUT = 300.0


def finite_decimal(value: Any) -> Any:
    """A TOML or flag number ready for a Decimal field: a float by its shortest repr; true/false refused."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, float):
        return Decimal(repr(value))  # 1.05 stays 1.05, not 1.0500000000000000444
    return value


class Thresholds(BaseModel):
    """Health thresholds. uniMMR falls as risk rises; shares and losses rise."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    unimmr_warn: Decimal = Decimal("1.5")
    unimmr_danger: Decimal = Decimal("1.2")
    unimmr_critical: Decimal = Decimal("1.05")
    #: A position's share of the account's maintenance margin.
    position_share_warn: Decimal = Decimal("0.25")
    position_share_danger: Decimal = Decimal("0.5")
    #: A position's loss as a share of the account's margin balance.
    position_loss_warn: Decimal = Decimal("0.05")
    position_loss_danger: Decimal = Decimal("0.10")
    position_loss_critical: Decimal = Decimal("0.25")
    #: A position's distance from mark to liquidation price, as a fraction of the mark price.
    liq_distance_warn: Decimal = Decimal("0.20")
    liq_distance_danger: Decimal = Decimal("0.10")
    liq_distance_critical: Decimal = Decimal("0.05")

    @field_validator("*", mode="before")
    @classmethod
    def _before(cls, value: Any) -> Any:
        return finite_decimal(value)

    @field_validator("*")
    @classmethod
    def _positive(cls, value: Decimal, info: Any) -> Decimal:
        name = info.field_name
        if not value.is_finite() or value <= 0:
            raise SettingProblem(
                f"{name}{{where}} must be a number above 0 (got {value}).", f"thresholds.{name}"
            )
        if name.startswith("position_share") and value > 1:
            raise SettingProblem(
                f"{name}{{where}} is a share of the account's maintenance margin, so it must be"
                f" at most 1 (got {value}).",
                f"thresholds.{name}",
            )
        if name.startswith("liq_distance") and value > 1:
            raise SettingProblem(
                f"{name}{{where}} is a fraction of the mark price (0.10 is 10%), so it must be"
                f" at most 1 (got {value}).",
                f"thresholds.{name}",
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        u = (self.unimmr_warn, self.unimmr_danger, self.unimmr_critical)
        if not u[0] > u[1] > u[2]:
            raise SettingProblem(
                "uniMMR thresholds{where} must fall as risk rises, unimmr_warn > unimmr_danger >"
                f" unimmr_critical, but they are {u[0]}, {u[1]} and {u[2]}.",
                "thresholds.unimmr_danger",
                "thresholds.unimmr_critical",
                "thresholds.unimmr_warn",
            )
        if not self.position_share_warn < self.position_share_danger:
            raise SettingProblem(
                "position_share_warn{where} must be below position_share_danger, but they are"
                f" {self.position_share_warn} and {self.position_share_danger}.",
                "thresholds.position_share_warn",
                "thresholds.position_share_danger",
            )
        loss = (self.position_loss_warn, self.position_loss_danger, self.position_loss_critical)
        if not loss[0] < loss[1] < loss[2]:
            raise SettingProblem(
                "Position loss thresholds{where} must rise with risk, position_loss_warn <"
                " position_loss_danger < position_loss_critical, but they are"
                f" {loss[0]}, {loss[1]} and {loss[2]}.",
                "thresholds.position_loss_danger",
                "thresholds.position_loss_critical",
                "thresholds.position_loss_warn",
            )
        liq = (self.liq_distance_warn, self.liq_distance_danger, self.liq_distance_critical)
        if not liq[0] > liq[1] > liq[2]:
            raise SettingProblem(
                "Liquidation distance thresholds{where} must fall as risk rises, liq_distance_warn >"
                " liq_distance_danger > liq_distance_critical, but they are"
                f" {liq[0]}, {liq[1]} and {liq[2]}.",
                "thresholds.liq_distance_danger",
                "thresholds.liq_distance_critical",
                "thresholds.liq_distance_warn",
            )
        return self


MAX_ALERT_SECONDS = 86400.0
MAX_COMMAND_TIMEOUT = 300.0


class AlertSettings(BaseModel):
    """The `[alerts]` table: which rules watch the account, and where their events go.

    A rule set to None (``false`` in TOML) is off. Amounts are Decimal; seconds are float.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: uniMMR (or, without /papi/v1/account, the UM margin ratio) below this.
    unimmr_below: Annotated[Decimal | None, RULE] = Decimal("1.5")
    #: accountStatus anything but NORMAL.
    status_not_normal: bool = True
    #: An open position at the front of the ADL queue (adlQuantile 4: deleveraged first).
    adl_front: bool = True
    #: An open position's distance to its liquidation price below this fraction of mark.
    liq_distance_below: Annotated[Decimal | None, RULE] = Decimal("0.10")
    #: The move of every non-stablecoin (a fall, or a rise for a short book) that would take uniMMR
    #: to liquidation (the risk model's liquidation move) below this many percent; off by default.
    liq_move_below: Annotated[Decimal | None, RULE] = None
    #: Total unrealised PnL (USD-like assets) below this amount; off by default.
    upnl_below: Annotated[Decimal | None, RULE] = None
    #: One position's unrealised PnL below this amount; off by default.
    position_upnl_below: Annotated[Decimal | None, RULE] = None
    #: No good refresh for this many seconds.
    stale_for: Annotated[float | None, RULE] = 30.0
    #: A liquidation or ADL fill in the ledger (/papi/v1/um|cm/forceOrders): CRITICAL, once a fill.
    forced_fill: bool = True
    #: Seconds before the same rule and subject may fire again.
    cooldown: float = 300.0
    #: A fired rule clears only once the value is this fraction past its threshold.
    hysteresis: Decimal = Decimal("0.02")
    #: Also tell people (toast, alert log, desktop) when a fired rule clears: the all-clear.
    on_clear: bool = True
    #: A command run for each event with the event as JSON on stdin (no shell).
    command: Annotated[str | None, COMMAND] = None
    command_timeout: float = 10.0
    #: A desktop notification through notify-send, when it is installed.
    desktop: bool = False
    #: Off-terminal delivery (pmtui.delivery, the `alerts` extra): apprise URLs per level
    #: ("warn", "danger", "critical"); an event goes to the routes of its own level.
    routes: Annotated[dict[str, tuple[SecretStr, ...]], ROUTES] = Field(default_factory=dict)
    #: Seconds between repeats of a CRITICAL to its routes while it holds; false: told once.
    repeat: Annotated[float | None, RULE] = 300.0
    #: Seconds pmtui may go without current data for an account before that is an alert itself
    #: (CRITICAL, to the critical routes: a dead collector or a revoked key must not look calm).
    blind_for: Annotated[float | None, RULE] = 300.0
    #: A dead-man URL (healthchecks.io style) pmtui GETs every minute while the account is current.
    heartbeat_url: SecretStr | None = None

    @field_validator("unimmr_below", "liq_distance_below", "upnl_below", "position_upnl_below",
                     "hysteresis", "liq_move_below", mode="before")
    @classmethod
    def _decimal_before(cls, value: Any, info: Any) -> Any:
        if value is False and info.field_name != "hysteresis":
            return None  # `false` turns a rule off
        return finite_decimal(value)

    @field_validator("stale_for", "cooldown", "command_timeout", "repeat", "blind_for", mode="before")
    @classmethod
    def _seconds_before(cls, value: Any, info: Any) -> Any:
        if value is False and info.field_name in ("stale_for", "repeat", "blind_for"):
            return None
        if isinstance(value, bool):
            raise SettingProblem(
                f"{info.field_name}{{where}} must be a number of seconds, not true/false.",
                f"alerts.{info.field_name}",
            )
        return value

    @field_validator("status_not_normal", "forced_fill", "adl_front", "on_clear", "desktop", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, bool):
            raise SettingProblem(
                f"{info.field_name}{{where}} must be true or false.", f"alerts.{info.field_name}"
            )
        return value

    @field_validator("unimmr_below", "liq_distance_below", "upnl_below", "position_upnl_below",
                     "hysteresis", "liq_move_below")
    @classmethod
    def _decimals(cls, value: Decimal | None, info: Any) -> Decimal | None:
        name = info.field_name
        if value is None:
            return None
        if not value.is_finite():
            raise SettingProblem(f"{name}{{where}} must be a finite number.", f"alerts.{name}")
        if name == "unimmr_below" and value <= 0:
            raise SettingProblem(
                f"unimmr_below{{where}} must be a number above 0 such as 1.5 (got {value}).",
                "alerts.unimmr_below",
            )
        if name == "liq_distance_below" and not 0 < value <= 1:
            raise SettingProblem(
                "liq_distance_below{where} is a fraction of the mark price (0.10 is 10%), so it"
                f" must be above 0 and at most 1 (got {value}).",
                "alerts.liq_distance_below",
            )
        if name == "liq_move_below" and not 0 < value <= 99:
            raise SettingProblem(
                "liq_move_below{where} is a percent (15 is a 15% fall), so it must be above 0 and"
                f" at most 99 (got {value}).",
                "alerts.liq_move_below",
            )
        if name == "hysteresis" and not 0 <= value <= Decimal("0.5"):
            raise SettingProblem(
                f"hysteresis{{where}} is a fraction of the threshold (0.02 is 2%), so it must be"
                f" from 0 to 0.5 (got {value}).",
                "alerts.hysteresis",
            )
        return value

    @field_validator("stale_for", "cooldown", "command_timeout", "repeat", "blind_for")
    @classmethod
    def _seconds(cls, value: float | None, info: Any) -> float | None:
        name = info.field_name
        if value is None:
            return None
        high = MAX_COMMAND_TIMEOUT if name == "command_timeout" else MAX_ALERT_SECONDS
        # A repeat or a heartbeat faster than a minute would page a person every few seconds.
        if name in ("repeat", "blind_for"):
            low_ok, low = value >= 60, "at least 60"
        elif name == "cooldown":
            low_ok, low = value >= 0, "from 0"
        else:
            low_ok, low = value > 0, "more than 0"
        if not math.isfinite(value) or not low_ok or value > high:
            raise SettingProblem(
                f"{name}{{where}} must be {low} and at most {high:g} seconds (got {value:g}).",
                f"alerts.{name}",
            )
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            argv = shlex.split(value)
        except ValueError as exc:  # e.g. "No closing quotation"
            raise SettingProblem(
                f"command{{where}} is not a valid command line ({str(exc).lower()}).",
                "alerts.command",
            ) from None
        if not argv:
            raise SettingProblem("command{where} is empty.", "alerts.command")
        return value

    @field_validator("routes", mode="before")
    @classmethod
    def _routes_before(cls, value: Any) -> Any:
        """Levels and lists checked here, one sentence each; a URL is never echoed (it holds a
        token). Whether apprise knows a URL is pmtui.delivery's to say (apprise is optional)."""
        if not isinstance(value, dict):
            raise SettingProblem("routes{where} must be a table like [alerts.routes] with warn, danger and"
                                 " critical lists of apprise URLs.", "alerts.routes")
        for level, urls in value.items():
            if level not in ROUTE_LEVELS:
                raise SettingProblem(f"routes{{where}} has a level {clean(str(level), 40)!r}; the levels are"
                                     f" {', '.join(ROUTE_LEVELS)}.", "alerts.routes")
            if isinstance(urls, (str, SecretStr)) or not isinstance(urls, (list, tuple)):
                raise SettingProblem(f"routes.{level}{{where}} must be a list of apprise URLs in quotes, such as"
                                     f' {level} = ["json://host/path"].', "alerts.routes")
            if len(urls) > MAX_ROUTES:
                raise SettingProblem(f"routes.{level}{{where}} holds {len(urls)} URLs; at most {MAX_ROUTES}.",
                                     "alerts.routes")
            for i, url in enumerate(urls, 1):
                text = url.get_secret_value() if isinstance(url, SecretStr) else url
                if not isinstance(text, str) or "://" not in text.strip():
                    raise SettingProblem(f"routes.{level}{{where}}: entry {i} is not an apprise URL (like"
                                         ' "tgram://bottoken/ChatID").', "alerts.routes")
        return {level: tuple(u if isinstance(u, SecretStr) else SecretStr(u.strip()) for u in urls)
                for level, urls in value.items()}

    @field_validator("heartbeat_url")
    @classmethod
    def _heartbeat_url(cls, value: SecretStr | None) -> SecretStr | None:
        """https (http only to a loopback test server); never echoed: the path is the check's key."""
        if value is None:
            return None
        url = value.get_secret_value().strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        ok = parts is not None and bool(parts.hostname) and (
            parts.scheme == "https" or parts.scheme == "http" and is_loopback(parts.hostname or ""))
        if not ok:
            raise SettingProblem("heartbeat_url{where} must be an https:// URL (http:// only to a loopback"
                                 " test server), such as https://hc-ping.com/your-check-uuid.",
                                 "alerts.heartbeat_url")
        return SecretStr(url)

    def route_urls(self) -> list[str]:
        """Every route URL and the heartbeat URL, for a log filter that redacts them. Never display."""
        urls = [u.get_secret_value() for level in self.routes.values() for u in level]
        return urls + ([self.heartbeat_url.get_secret_value()] if self.heartbeat_url is not None else [])

    def argv(self) -> list[str] | None:
        """The command split like a shell would (it runs without one), or None."""
        return shlex.split(self.command) if self.command else None


class Settings(BaseModel):
    """Everything pmtui needs to know before the first request. Secrets never show in repr/dump."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    profile: str = "default"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    #: Ed25519 or RSA private key in PEM (Binance "self-generated" keys); replaces api_secret.
    private_key_file: Path | None = None
    private_key_passphrase: SecretStr | None = None
    base_url: Annotated[str, URL] = DEFAULT_BASE_URL
    #: None: resolved by `resolved_time_base_url()`.
    time_base_url: Annotated[str | None, URL] = None
    #: Binance's spot API host for the risk model's /sapi/v1/portfolio/... inputs; None: resolved
    #: by `resolved_sapi_url()`.
    sapi_url: Annotated[str | None, URL] = None
    #: Seconds between UM account polls.
    interval: float = 2.0
    #: Seconds between /papi/v1/account polls (weight 20); /papi/v1/balance (weight 20) keeps it too.
    account_interval: float = 10.0
    #: recvWindow in milliseconds.
    recv_window: Annotated[int, MILLIS] = 5000
    #: Deadline in seconds for each whole request (connect + answer); connect alone min(5, timeout).
    timeout: float = 10.0
    #: Share of Binance's 6000/min request-weight limit (per IP) pmtui may use itself.
    weight_share: Annotated[float, FRACTION] = 0.5
    #: Take pushes from the user data stream (a websocket); false: GET polling only.
    stream: bool = True
    #: Run the risk model (uniMMR from its inputs, the liquidation move): its inputs add up to
    #: ~50 weight a minute and reach sapi_url; false: Binance's uniMMR alone, no model requests.
    risk_model: bool = True
    #: Record every state to the history file (pmtui.record): true records on the dashboard as
    #: --record does; false never records. Unset: the dashboard records only with --record, the
    #: daemon always (see `records`).
    record: bool | None = None
    #: Recorded states and samples older than this many days are deleted.
    retention_days: float = 30.0
    #: The history file's recorded data is kept under this many MB (the oldest goes first).
    max_size: float = 1024.0
    #: The user data stream's websocket URL (wss; ws only to loopback test servers).
    stream_url: Annotated[str, URL] = DEFAULT_STREAM_URL
    #: The public market stream's base (wss; ws only to loopback): the all-market mark price
    #: stream, shared by every account, reprices positions between REST refreshes.
    market_stream_url: Annotated[str, URL] = DEFAULT_MARKET_STREAM_URL
    #: The same for COIN-M positions (the COIN-M market stream host; the pairs' combined stream).
    cm_market_stream_url: Annotated[str, URL] = DEFAULT_CM_MARKET_STREAM_URL
    thresholds: Thresholds = Field(default_factory=Thresholds)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    #: The config file actually read, if any.
    config_path: Path | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_url(value, "base_url")

    @field_validator("time_base_url")
    @classmethod
    def _time_base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "time_base_url")

    @field_validator("sapi_url")
    @classmethod
    def _sapi_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "sapi_url")

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        return check_url(value, "stream_url", websocket=True)

    @field_validator("market_stream_url")
    @classmethod
    def _market_stream_url(cls, value: str) -> str:
        return check_url(value, "market_stream_url", websocket=True)

    @field_validator("cm_market_stream_url")
    @classmethod
    def _cm_market_stream_url(cls, value: str) -> str:
        return check_url(value, "cm_market_stream_url", websocket=True)

    @field_validator("stream", "record", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, bool) and not (value is None and info.field_name == "record"):
            raise SettingProblem(f"{info.field_name}{{where}} must be true or false.", info.field_name)
        return value

    @field_validator("interval", "account_interval", "timeout", "recv_window", "weight_share",
                     "retention_days", "max_size", mode="before")
    @classmethod
    def _no_bool(cls, value: Any, info: Any) -> Any:
        if isinstance(value, bool):
            raise SettingProblem(
                f"{info.field_name}{{where}} must be a number, not true/false.", info.field_name
            )
        return value

    @field_validator("interval", "account_interval")
    @classmethod
    def _interval(cls, value: float, info: Any) -> float:
        name = info.field_name
        low = MIN_INTERVAL if name == "interval" else MIN_ACCOUNT_INTERVAL
        if not math.isfinite(value):
            raise SettingProblem(f"{name}{{where}} must be a finite number of seconds.", name)
        if value < low:
            raise SettingProblem(
                f"{name}{{where}} is {value:g} seconds but the minimum is {low:g}: polling"
                " faster risks Binance's request-weight limit and an IP ban.",
                name,
            )
        if value > MAX_INTERVAL:
            raise SettingProblem(
                f"{name}{{where}} is {value:g} seconds but the maximum is {MAX_INTERVAL:g}"
                " (one hour).",
                name,
            )
        return value

    @field_validator("retention_days", "max_size")
    @classmethod
    def _positive(cls, value: float, info: Any) -> float:
        unit = "days" if info.field_name == "retention_days" else "MB"
        if not math.isfinite(value) or value <= 0:
            raise SettingProblem(f"{info.field_name}{{where}} must be a positive number of {unit} (got {value:g}).",
                                 info.field_name)
        return value

    def records(self, *, default: bool) -> bool:
        """Whether to record: the `record` setting when set, else `default` (--record on the
        dashboard; True for the daemon, which records while nobody watches)."""
        return default if self.record is None else self.record

    @field_validator("weight_share")
    @classmethod
    def _weight_share(cls, value: float) -> float:
        if not math.isfinite(value) or not 0.05 <= value <= 1:
            raise SettingProblem(
                f"weight_share{{where}} must be between 0.05 and 1 (a share of Binance's 6000 per"
                f" minute; got {value:g}); the default is 0.5.",
                "weight_share",
            )
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
            raise SettingProblem(
                f"timeout{{where}} must be more than 0 and at most {MAX_TIMEOUT:g} seconds"
                f" (got {value:g}).",
                "timeout",
            )
        return value

    @field_validator("recv_window")
    @classmethod
    def _recv_window(cls, value: int) -> int:
        if value > MAX_RECV_WINDOW:
            raise SettingProblem(
                f"recv_window{{where}} is {value} ms but Binance accepts at most"
                f" {MAX_RECV_WINDOW} (one minute); the default is 5000.",
                "recv_window",
            )
        if value < 1:
            raise SettingProblem(
                f"recv_window{{where}} must be at least 1 ms (got {value}); the default is 5000.",
                "recv_window",
            )
        return value

    @field_validator("api_key", "api_secret", "private_key_passphrase")
    @classmethod
    def _secret(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        """Junk a copy-paste, a Windows editor or a secret command leaves at the ends (a BOM,
        CR, NUL, zero-width or no-break spaces) is removed; a control character (or, in a key or
        secret, any space) inside is refused, never shown: HMAC with it would only fail later as
        a bad signature."""
        if value is None:
            return None
        name = info.field_name
        raw = value.get_secret_value()
        passphrase = name == "private_key_passphrase"
        # A passphrase may begin or end with a space on purpose; a Binance key or secret never.
        text = raw.strip(_SECRET_JUNK if passphrase else _SECRET_JUNK + string.whitespace)
        if not text.strip():
            raise SettingProblem(f"{name}{{where}} is empty.", name)
        for i, ch in enumerate(text):
            if ch.isspace() and not (passphrase and ch == " ") or not ch.isprintable():
                what = "a space" if ch.isspace() else "an invisible or control character"
                which = "a passphrase pmtui accepts" if passphrase else "a Binance API key or secret"
                raise SettingProblem(
                    f"{name}{{where}} has {what} at position {i + 1} of {len(text)}, which"
                    f" {which} never has; copy it again.",
                    name,
                )
        return value if text == raw else SecretStr(text)

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        # Shown in the title and recorded in history: a name from a file or the environment is
        # data, cleaned like any other external text.
        value = clean(value)
        if not value:
            raise SettingProblem("The profile name{where} is empty.", "profile")
        return value

    @model_validator(mode="after")
    def _one_signing_key(self) -> Settings:
        if self.api_secret is not None and self.private_key_file is not None:
            raise SettingProblem(
                "Both api_secret and private_key_file are set{where}; a Binance API key signs"
                " with one or the other, so remove one.",
                "private_key_file",
                "api_secret",
            )
        return self

    def resolved_time_base_url(self) -> str:
        """Where to ask for server time: PAPI has no time endpoint, so fapi unless told."""
        if self.time_base_url is not None:
            return self.time_base_url
        if self.base_url == DEFAULT_BASE_URL:
            return DEFAULT_TIME_BASE_URL
        return self.base_url

    def resolved_sapi_url(self) -> str:
        """Where the /sapi/ inputs go: Binance's spot API host unless told, or unless base_url is
        a server of its own (a proxy, a test server), which then serves them too: pmtui never
        sends a request to Binance on behalf of a base_url that is not Binance's."""
        if self.sapi_url is not None:
            return self.sapi_url
        if self.base_url == DEFAULT_BASE_URL:
            return DEFAULT_SAPI_URL
        return self.base_url

    def has_credentials(self) -> bool:
        """An API key plus something to sign with (an HMAC secret or a private key file)."""
        return self.api_key is not None and (
            self.api_secret is not None or self.private_key_file is not None
        )

    def secret_values(self) -> list[str]:
        """The secrets' plain values, for a log filter that redacts them. Never display these."""
        secrets = (self.api_key, self.api_secret, self.private_key_passphrase)
        return [s.get_secret_value() for s in secrets if s is not None]


#: What may surround a secret by accident: BOM, CR/LF, NUL, zero-width and no-break spaces.
_SECRET_JUNK = "\ufeff\u200b\u200c\u200d\u2060\u00a0\r\n\x00"
