"""Settings: a TOML file with profiles, environment variables, command-line overrides.

Precedence, lowest first:

1. the config file: the platformdirs user config dir's ``config.toml`` if it exists, or instead the
   file named by ``config_path`` / ``PMTUI_CONFIG`` (which must exist). Its top-level keys apply to
   every profile; ``[profiles.NAME]`` overrides them for one profile.
2. environment variables ``PMTUI_API_KEY``, ``PMTUI_API_SECRET``, ``PMTUI_PRIVATE_KEY_FILE``,
   ``PMTUI_PRIVATE_KEY_PASSPHRASE``, ``PMTUI_BASE_URL`` (and ``PMTUI_PROFILE`` to pick a profile).
3. ``overrides`` from command-line flags (None values are ignored).

Credentials are grouped so that a higher layer replaces a lower one's choice as a whole: setting
``private_key_file`` in a profile drops an ``api_secret`` (or ``api_secret_command``) inherited from
the top level, and an ``api_secret`` in the environment drops a ``private_key_file`` from the file.

Every failure is a ``ConfigError`` whose message is one sentence for a person, says which key and
which file (or variable) is at fault, and never contains a secret.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
import stat
import string
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pmtui.errors import ConfigError, SettingProblem
from pmtui.logs import secret_forms
from pmtui.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_TIME_BASE_URL,
    MAX_INTERVAL,
    MAX_RECV_WINDOW,
    MIN_ACCOUNT_INTERVAL,
    MIN_INTERVAL,
)
from pmtui.text import clean
from pmtui.urls import check_url

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIME_BASE_URL",
    "Settings",
    "AlertSettings",
    "SettingProblem",
    "Thresholds",
    "default_config_path",
    "load_settings",
]

MAX_TIMEOUT = 300.0
SECRET_COMMAND_TIMEOUT = 10.0


def _finite_decimal(value: Any) -> Any:
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
        return _finite_decimal(value)

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
    unimmr_below: Decimal | None = Decimal("1.5")
    #: accountStatus anything but NORMAL.
    status_not_normal: bool = True
    #: An open position's distance to its liquidation price below this fraction of mark.
    liq_distance_below: Decimal | None = Decimal("0.10")
    #: Total unrealised PnL (USD-like assets) below this amount; off by default.
    upnl_below: Decimal | None = None
    #: One position's unrealised PnL below this amount; off by default.
    position_upnl_below: Decimal | None = None
    #: No good refresh for this many seconds.
    stale_for: float | None = 30.0
    #: Seconds before the same rule and subject may fire again.
    cooldown: float = 300.0
    #: A fired rule clears only once the value is this fraction past its threshold.
    hysteresis: Decimal = Decimal("0.02")
    #: Also emit an event when a fired rule clears.
    on_clear: bool = False
    #: A command run for each event with the event as JSON on stdin (no shell).
    command: str | None = None
    command_timeout: float = 10.0
    #: A desktop notification through notify-send, when it is installed.
    desktop: bool = False

    @field_validator("unimmr_below", "liq_distance_below", "upnl_below", "position_upnl_below",
                     "hysteresis", mode="before")
    @classmethod
    def _decimal_before(cls, value: Any, info: Any) -> Any:
        if value is False and info.field_name != "hysteresis":
            return None  # `false` turns a rule off
        return _finite_decimal(value)

    @field_validator("stale_for", "cooldown", "command_timeout", mode="before")
    @classmethod
    def _seconds_before(cls, value: Any, info: Any) -> Any:
        if value is False and info.field_name == "stale_for":
            return None
        if isinstance(value, bool):
            raise SettingProblem(
                f"{info.field_name}{{where}} must be a number of seconds, not true/false.",
                f"alerts.{info.field_name}",
            )
        return value

    @field_validator("status_not_normal", "on_clear", "desktop", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, bool):
            raise SettingProblem(
                f"{info.field_name}{{where}} must be true or false.", f"alerts.{info.field_name}"
            )
        return value

    @field_validator("unimmr_below", "liq_distance_below", "upnl_below", "position_upnl_below",
                     "hysteresis")
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
        if name == "hysteresis" and not 0 <= value <= Decimal("0.5"):
            raise SettingProblem(
                f"hysteresis{{where}} is a fraction of the threshold (0.02 is 2%), so it must be"
                f" from 0 to 0.5 (got {value}).",
                "alerts.hysteresis",
            )
        return value

    @field_validator("stale_for", "cooldown", "command_timeout")
    @classmethod
    def _seconds(cls, value: float | None, info: Any) -> float | None:
        name = info.field_name
        if value is None:
            return None
        high = MAX_COMMAND_TIMEOUT if name == "command_timeout" else MAX_ALERT_SECONDS
        low_ok = value >= 0 if name == "cooldown" else value > 0
        if not math.isfinite(value) or not low_ok or value > high:
            low = "from 0" if name == "cooldown" else "more than 0"
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
    base_url: str = DEFAULT_BASE_URL
    #: None: resolved by `resolved_time_base_url()`.
    time_base_url: str | None = None
    #: Seconds between UM account polls.
    interval: float = 2.0
    #: Seconds between /papi/v1/account polls (weight 20).
    account_interval: float = 10.0
    #: recvWindow in milliseconds.
    recv_window: int = 5000
    #: Deadline in seconds for each whole request (connect + answer); connect alone min(5, timeout).
    timeout: float = 10.0
    #: Share of Binance's 6000/min request-weight limit (per IP) pmtui may use itself.
    weight_share: float = 0.5
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

    @field_validator("interval", "account_interval", "timeout", "recv_window", "weight_share",
                     mode="before")
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


def default_config_path() -> Path:
    """The config file read when none is named: e.g. ~/.config/pmtui/config.toml on Linux."""
    return platformdirs.user_config_path("pmtui") / "config.toml"


# --------------------------------------------------------------------------- loading

#: Keys a config table may hold, with the kind of value each expects.
_FILE_KEYS: dict[str, str] = {
    "api_key": "secret",
    "api_secret": "secret",
    "private_key_passphrase": "secret",
    "api_key_command": "command",
    "api_secret_command": "command",
    "private_key_passphrase_command": "command",
    "private_key_file": "path",
    "base_url": "url",
    "time_base_url": "url",
    "interval": "seconds",
    "account_interval": "seconds",
    "timeout": "seconds",
    "recv_window": "millis",
    "weight_share": "fraction",
}
_THRESHOLD_KEYS = tuple(Thresholds.model_fields)
#: Keys of the [alerts] table, with the kind of value each expects.
_ALERT_KEYS: dict[str, str] = {
    "unimmr_below": "rule_decimal",
    "status_not_normal": "bool",
    "liq_distance_below": "rule_decimal",
    "upnl_below": "rule_decimal",
    "position_upnl_below": "rule_decimal",
    "stale_for": "rule_seconds",
    "cooldown": "seconds",
    "hysteresis": "decimal",
    "on_clear": "bool",
    "command": "command",
    "command_timeout": "seconds",
    "desktop": "bool",
}
_SECRET_KEYS = frozenset({"api_key", "api_secret", "private_key_passphrase"})
_COMMANDS = {
    "api_key_command": "api_key",
    "api_secret_command": "api_secret",
    "private_key_passphrase_command": "private_key_passphrase",
}
#: Keys naming the same thing; a layer that sets one drops the others from lower layers.
_SLOTS = (
    ("api_key", "api_key_command"),
    ("api_secret", "api_secret_command", "private_key_file"),
    ("private_key_passphrase", "private_key_passphrase_command"),
)
_SLOT_OF = {key: slot for slot in _SLOTS for key in slot}
_ENV_KEYS = {
    "PMTUI_API_KEY": "api_key",
    "PMTUI_API_SECRET": "api_secret",
    "PMTUI_PRIVATE_KEY_FILE": "private_key_file",
    "PMTUI_PRIVATE_KEY_PASSPHRASE": "private_key_passphrase",
    "PMTUI_BASE_URL": "base_url",
}
_EXPECTED = {
    "secret": "a string in quotes",
    "command": "a command line in quotes",
    "path": "a file path in quotes",
    "url": "a URL in quotes",
    "seconds": "a number of seconds",
    "millis": "a whole number of milliseconds",
    "fraction": "a number such as 0.5",
    "decimal": "a number such as 1.5",
    "bool": "true or false",
    "rule_decimal": "a number, or false to turn the rule off",
    "rule_seconds": "a number of seconds, or false to turn the rule off",
}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class _Source:
    """Where a value came from, for messages and for resolving relative paths."""

    kind: str  # "file", "env" or "cli"
    path: Path | None = None
    table: str | None = None  # e.g. 'profiles.work', 'thresholds' or 'alerts'
    var: str | None = None

    def where(self) -> str:
        if self.kind == "file":
            if self.table:
                return f" in [{self.table}] of {self.path}"
            return f" in {self.path}"
        if self.kind == "env":
            return f" from environment variable {self.var}"
        return " given on the command line"


_Layer = dict[str, tuple[Any, _Source]]


def _table_name(*parts: str) -> str:
    return ".".join(p if _BARE_KEY.match(p) else '"' + p.replace('"', '\\"') + '"' for p in parts)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date or time"


def _permissions_checkable() -> bool:
    """POSIX modes mean nothing on Windows; skip the check there."""
    return os.name != "nt"


def _chmod_hint(path: Path) -> str:
    return f"chmod 600 {shlex.quote(str(path))}"


#: Larger than any config or key file: past it, the path names something else (a log, a disk).
MAX_FILE_BYTES = 1 << 20
_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
               (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def read_small_file(path: Path, what: str) -> bytes:
    """The bytes of a config or key file (`what` names it). Anything but a regular file of at
    most 1 MB is refused with a sentence: reading a FIFO would wait forever, a device never ends.
    Opened non-blocking, so a FIFO is seen for what it is before anything is read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(f"{what.capitalize()} {path} does not exist.") from None
    except IsADirectoryError:
        raise ConfigError(f"{what.capitalize()} {path} is a folder, not a file.") from None
    except PermissionError:
        raise ConfigError(f"Cannot read {what} {path}: permission denied.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{what.capitalize()} {path} is a folder, not a file.")
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
            raise ConfigError(f"{what.capitalize()} {path} is {kind}, not a regular file; pmtui"
                              " reads only regular files.")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror}.") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{what.capitalize()} {path} is larger than 1 MB, too large to be a"
                          f" {what}; is it the right file?")
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    data = read_small_file(path, "config file")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"Config file {path} is not UTF-8 text (line {line}), so it is not TOML."
        ) from None
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            f"Config file {path} nests arrays or tables too deeply to be a pmtui config."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages name keys and at most one character, never a value.
        message = str(exc)
        match = re.search(r"\(at (line \d+, column \d+|end of document)\)$", message)
        reason = message[: match.start()].strip() if match else message
        place = f" at {match.group(1)}" if match else ""
        reason = reason[:1].lower() + reason[1:]
        raise ConfigError(f"Config file {path} is not valid TOML{place}: {reason}.") from None


def _holds_secret(table: Mapping[str, Any]) -> bool:
    # A loop, not recursion: [a.a.a...] headers nest tables deeper than Python's recursion limit.
    stack = [table]
    while stack:
        for key, value in stack.pop().items():
            if key in _SECRET_KEYS:
                return True
            if isinstance(value, dict):
                stack.append(value)
    return False


def _check_file_permissions(path: Path, data: Mapping[str, Any]) -> None:
    if not _permissions_checkable() or not _holds_secret(data):
        return
    mode = path.stat().st_mode
    if mode & 0o077:
        what = "read" if mode & 0o044 else "change"
        raise ConfigError(
            f"Config file {path} holds a secret but other users can {what} it;"
            f" run: {_chmod_hint(path)}"
        )


def _unknown_key(key: str, where: str, known: Any) -> ConfigError:
    guess = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else " (see config.example.toml for the keys)"
    return ConfigError(f"Unknown key {key!r}{where}{hint}.")


def _check_value(key: str, value: Any, kind: str, source: _Source) -> Any:
    """Check a TOML value's type; return it ready for the model."""
    expected = _EXPECTED[kind]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key}{source.where()} must be {expected}, not {_type_name(value)}.")
        return value
    if kind.startswith("rule_"):
        if value is False:
            return None  # the rule is off
        if value is True:
            raise ConfigError(
                f"{key}{source.where()} must be {expected}; true is not a threshold."
            )
        kind = kind.removeprefix("rule_")
    if kind in ("secret", "command", "path", "url"):
        ok = isinstance(value, str)
    elif kind == "millis":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:  # seconds, fraction, decimal
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "decimal" and isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite():
                raise ConfigError(f"{key}{source.where()} must be {expected}, not {value[:40]!r}.")
            return number
    if not ok:
        raise ConfigError(f"{key}{source.where()} must be {expected}, not {_type_name(value)}.")
    if kind in ("command", "path") and not value.strip():
        raise ConfigError(f"{key}{source.where()} is empty.")
    if kind == "decimal":
        return _finite_decimal(value)
    return value


def _table_layers(
    table: Mapping[str, Any], source: _Source, *, top: bool
) -> tuple[_Layer, _Layer, _Layer]:
    """Check one table (top level or a profile); return its settings, thresholds and alerts layers."""
    settings: _Layer = {}
    thresholds: _Layer = {}
    alerts: _Layer = {}
    known = [*_FILE_KEYS, "thresholds", "alerts", *(["profiles"] if top else [])]
    for key, value in table.items():
        if key == "profiles" and top:
            continue
        if key == "alerts":
            name_of_table = f"{source.table}.alerts" if source.table else "alerts"
            inner = _Source("file", source.path, name_of_table)
            if not isinstance(value, dict):
                raise ConfigError(
                    f"alerts{source.where()} must be a table ([alerts]), not {_type_name(value)}."
                )
            for name, item in value.items():
                if name not in _ALERT_KEYS:
                    raise _unknown_key(name, inner.where(), _ALERT_KEYS)
                alerts[name] = (_check_value(name, item, _ALERT_KEYS[name], inner), inner)
            continue
        if key == "thresholds":
            table = f"{source.table}.thresholds" if source.table else "thresholds"
            inner = _Source("file", source.path, table)
            if not isinstance(value, dict):
                raise ConfigError(
                    f"thresholds{source.where()} must be a table ([thresholds]), not"
                    f" {_type_name(value)}."
                )
            for name, number in value.items():
                if name not in _THRESHOLD_KEYS:
                    raise _unknown_key(name, inner.where(), _THRESHOLD_KEYS)
                thresholds[name] = (_check_value(name, number, "decimal", inner), inner)
            continue
        if key not in _FILE_KEYS:
            raise _unknown_key(key, source.where(), known)
        settings[key] = (_check_value(key, value, _FILE_KEYS[key], source), source)
    for slot in _SLOTS:
        present = [k for k in slot if k in settings]
        if len(present) > 1:
            raise ConfigError(
                f"Both {present[0]} and {present[1]} are set{source.where()}; keep only one."
            )
    return settings, thresholds, alerts


def _file_layers(
    path: Path, data: Mapping[str, Any], profile: str
) -> list[tuple[_Layer, _Layer, _Layer]]:
    """The top level, then the chosen profile. Every profile is checked, so typos surface early."""
    top_source = _Source("file", path)
    layers = [_table_layers(data, top_source, top=True)]
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"profiles in {path} must be tables like [profiles.work], not {_type_name(profiles)}."
        )
    chosen = None
    for name, table in profiles.items():
        source = _Source("file", path, _table_name("profiles", name))
        if not isinstance(table, dict):
            raise ConfigError(
                f"Profile {name!r} in {path} must be a table ([{source.table}]), not"
                f" {_type_name(table)}."
            )
        checked = _table_layers(table, source, top=False)
        if name == profile:
            chosen = checked
    if chosen is not None:
        layers.append(chosen)
    elif profile != "default":
        known = ", ".join(sorted({"default", *profiles}))
        raise ConfigError(f"Profile {profile!r} is not in {path}; known profiles: {known}.")
    return layers


def _merge(into: _Layer, layer: _Layer) -> None:
    for key, entry in layer.items():
        for other in _SLOT_OF.get(key, ()):
            into.pop(other, None)
        into[key] = entry


def _env_layer(env: Mapping[str, str]) -> _Layer:
    layer: _Layer = {}
    for var, key in _ENV_KEYS.items():
        value = env.get(var)
        if value is not None and value.strip():
            layer[key] = (value.strip(), _Source("env", var=var))
    for slot in _SLOTS:
        present = [k for k in slot if k in layer]
        if len(present) > 1:
            names = " and ".join(layer[k][1].var or k for k in present)
            raise ConfigError(f"Both {names} are set; keep only one.")
    return layer


def _override_layers(overrides: Mapping[str, Any]) -> tuple[_Layer, _Layer, _Layer]:
    source = _Source("cli")
    settings: _Layer = {}
    thresholds: _Layer = {}
    alerts: _Layer = {}
    for key, value in overrides.items():
        if value is None or key in ("profile", "config_path"):
            continue
        if key == "alerts":
            if isinstance(value, AlertSettings):
                value = value.model_dump()
            if not isinstance(value, Mapping):
                raise ConfigError("alerts given on the command line must be a table of settings.")
            for name, item in value.items():
                if name not in _ALERT_KEYS:
                    raise _unknown_key(name, source.where(), _ALERT_KEYS)
                if item is not None:  # None: not given; False turns a rule off
                    alerts[name] = (item, source)
            continue
        if key == "thresholds":
            if isinstance(value, Thresholds):
                value = value.model_dump()
            if not isinstance(value, Mapping):
                raise ConfigError(
                    "thresholds given on the command line must be a table of numbers."
                )
            for name, number in value.items():
                if name not in _THRESHOLD_KEYS:
                    raise _unknown_key(name, source.where(), _THRESHOLD_KEYS)
                if number is not None:
                    thresholds[name] = (number, source)
            continue
        if key not in _FILE_KEYS:
            raise _unknown_key(key, source.where(), _FILE_KEYS)
        if _FILE_KEYS[key] == "command" and not (isinstance(value, str) and value.strip()):
            raise ConfigError(f"{key} given on the command line must be a non-empty command line.")
        settings[key] = (value, source)
    return settings, thresholds, alerts


def _resolve_path(value: Any, source: _Source) -> Any:
    if not isinstance(value, (str, os.PathLike)):
        return value  # the model reports the wrong type
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = source.path.parent if source.kind == "file" and source.path else Path.cwd()
        path = base / path
    return path


def _check_private_key_file(path: Path, source: _Source) -> None:
    where = source.where()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"private_key_file{where} is {path}, which does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read private_key_file {path}{where}: {exc.strerror}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"private_key_file{where} is {path}, which is not a regular file.")
    if _permissions_checkable() and st.st_mode & 0o077:
        raise ConfigError(
            f"Private key file {path} can be read or changed by other users;"
            f" run: {_chmod_hint(path)}"
        )
    if not os.access(path, os.R_OK):
        raise ConfigError(f"Cannot read private_key_file {path}{where}: permission denied.")


def _run_secret_command(key: str, command: str, source: _Source, known: list[str]) -> str:
    label = f"{key}{source.where()}"
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # e.g. "No closing quotation"; never echo the command itself
        raise ConfigError(f"{label} is not a valid command line ({str(exc).lower()}).") from None
    if not argv:
        raise ConfigError(f"{label} is empty.")
    program = argv[0]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=SECRET_COMMAND_TIMEOUT)
    except FileNotFoundError:
        raise ConfigError(f"{label} failed: program {program!r} was not found.") from None
    except PermissionError:
        raise ConfigError(f"{label} failed: program {program!r} is not executable.") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{label} did not finish within {SECRET_COMMAND_TIMEOUT:g} seconds; is it waiting"
            " for input?"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{label} could not be started: {exc.strerror}.") from None
    output = result.stdout.decode("utf-8", errors="replace").strip()
    if result.returncode != 0:
        if result.returncode < 0:
            status = f"was killed by signal {-result.returncode}"
        else:
            status = f"failed with exit status {result.returncode}"
        detail = _safe_stderr(result.stderr, [*output.splitlines(), *known])
        raise ConfigError(f"{label} {status}{': ' + detail if detail else ''}.")
    try:
        text = result.stdout.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{label} printed something that is not UTF-8 text.") from None
    # The first line, as `pass` and git credential helpers do; a secret is never multi-line.
    secret = text.splitlines()[0].strip() if text else ""
    if not secret:
        raise ConfigError(f"{label} printed nothing; it must print the secret on its first line.")
    return secret


# A run of key-like characters: redacted when long, or when it mixes letters and digits.
_TOKEN = re.compile(r"[A-Za-z0-9+/=_~%.-]{16,}")


def _key_like(token: str) -> bool:
    return len(token) >= 32 or (any(c.isdigit() for c in token) and any(c.isalpha() for c in token))


def _safe_stderr(stderr: bytes, secrets: list[str]) -> str:
    """The first line of stderr, short and redacted: `secrets` (the command's own output, the
    secrets already known) in every escaped form, then any token that looks like a key, since
    a failing command may echo a secret pmtui never received (`echo $SECRET >&2; exit 3`)."""
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    if not lines or len(lines[0]) > 200:
        return ""  # a page of output is not an error message: say only how it failed
    line = lines[0]
    forms = {f for s in secrets if len(s.strip()) >= 4 for f in secret_forms(s.strip())}
    for form in sorted(forms, key=len, reverse=True):
        line = line.replace(form, "<redacted>")
    line = _TOKEN.sub(lambda m: "<redacted>" if _key_like(m.group()) else m.group(), clean(line))
    return line.rstrip(".")


def _build(
    values: _Layer, thresholds: _Layer, alerts: _Layer, profile: str, config_path: Path | None
) -> Settings:
    data: dict[str, Any] = {k: v for k, (v, _) in values.items() if k not in _COMMANDS}
    data["thresholds"] = {k: v for k, (v, _) in thresholds.items()}
    data["alerts"] = {k: v for k, (v, _) in alerts.items()}
    origins = {k: s for k, (_, s) in values.items()}
    origins.update({f"thresholds.{k}": s for k, (_, s) in thresholds.items()})
    origins.update({f"alerts.{k}": s for k, (_, s) in alerts.items()})
    try:
        return Settings(profile=profile, config_path=config_path, **data)
    except ValidationError as exc:
        raise _explain(exc, origins) from None


def _explain(exc: ValidationError, origins: Mapping[str, _Source]) -> ConfigError:
    error = exc.errors()[0]
    loc = tuple(str(part) for part in error["loc"])
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, SettingProblem):
        for key in problem.keys:
            if key in origins:
                return ConfigError(problem.sentence(origins[key].where()))
        return ConfigError(problem.sentence(""))
    # A type pydantic refused (only reachable through overrides or an odd profile name).
    key = ".".join(loc) or "a setting"
    source = origins.get(key)
    name = loc[-1] if loc else key
    if loc[:1] == ("alerts",):
        kind = _ALERT_KEYS.get(name)
    else:
        kind = _FILE_KEYS.get(name) or ("decimal" if name in _THRESHOLD_KEYS else None)
    expected = _EXPECTED[kind] if kind else "a valid value"
    if source is None or source.kind != "file":
        expected = expected.removesuffix(" in quotes")
    return ConfigError(f"{name}{source.where() if source else ''} must be {expected}.")


def load_settings(
    *,
    config_path: Path | None = None,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file, the environment and the overrides into checked `Settings`.

    Raises `ConfigError` (one sentence, no secret) for anything wrong. Secret commands run here,
    once, and only for secrets no higher layer provides.
    """
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    if config_path is None and overrides.get("config_path") is not None:
        config_path = Path(overrides["config_path"])
    if profile is None:
        from_env = (env.get("PMTUI_PROFILE") or "").strip()
        profile = overrides.get("profile") or from_env or "default"

    # 1. the config file
    if config_path is not None:
        path: Path | None = Path(config_path).expanduser().absolute()
        explicit = True
    elif (env.get("PMTUI_CONFIG") or "").strip():
        path = Path(env["PMTUI_CONFIG"].strip()).expanduser().absolute()
        explicit = True
    else:
        path = default_config_path().absolute()
        explicit = False
    if path is not None and not path.exists():
        if explicit:
            via = "" if config_path is not None else " named by PMTUI_CONFIG"
            raise ConfigError(f"Config file {path}{via} does not exist.")
        path = None

    values: _Layer = {}
    thresholds: _Layer = {}
    alerts: _Layer = {}
    if path is not None:
        data = _read_toml(path)
        _check_file_permissions(path, data)
        for settings_layer, threshold_layer, alert_layer in _file_layers(path, data, profile):
            _merge(values, settings_layer)
            thresholds.update(threshold_layer)
            alerts.update(alert_layer)
    elif profile != "default":
        raise ConfigError(
            f"Profile {profile!r} was asked for but there is no config file"
            f" (looked for {default_config_path()})."
        )

    # 2. environment, 3. overrides
    _merge(values, _env_layer(env))
    cli_values, cli_thresholds, cli_alerts = _override_layers(overrides)
    _merge(values, cli_values)
    thresholds.update(cli_thresholds)
    alerts.update(cli_alerts)

    if "private_key_file" in values:
        raw, source = values["private_key_file"]
        values["private_key_file"] = (_resolve_path(raw, source), source)

    # Check everything else before running commands (which may prompt for a gpg passphrase).
    settings = _build(values, thresholds, alerts, profile, path)
    if settings.private_key_file is not None:
        _check_private_key_file(settings.private_key_file, values["private_key_file"][1])
    commands = [key for key in _COMMANDS if key in values]
    if not commands:
        return settings
    for key in commands:
        command, source = values.pop(key)
        known = [v.get_secret_value() if isinstance(v, SecretStr) else v
                 for k, (v, _) in values.items() if k in _SECRET_KEYS and isinstance(v, (str, SecretStr))]
        secret = _run_secret_command(key, command, source, known)
        values[_COMMANDS[key]] = (secret, source)
    return _build(values, thresholds, alerts, profile, path)
