"""The settings loader: a TOML file with profiles, environment variables, command-line overrides.

The models it fills (`Settings`, `Thresholds`, `AlertSettings`) live in `pmtui.settings`; this
module reads files, the environment, flags and secret commands into them.

Precedence, lowest first:

1. the config file: the platformdirs user config dir's ``config.toml`` if it exists, or instead the
   file named by ``config_path`` / ``PMTUI_CONFIG`` (which must exist). Its top-level keys apply to
   every profile; ``[profiles.NAME]`` overrides them for one profile.
2. environment variables ``PMTUI_API_KEY``, ``PMTUI_API_SECRET``, ``PMTUI_PRIVATE_KEY_FILE``,
   ``PMTUI_PRIVATE_KEY_PASSPHRASE``, ``PMTUI_BASE_URL``, ``PMTUI_STREAM_URL``,
   ``PMTUI_MARKET_STREAM_URL``, ``PMTUI_CM_MARKET_STREAM_URL`` (and ``PMTUI_PROFILE`` to pick a profile).
3. ``overrides`` from command-line flags (None values are ignored).

Which keys a table may hold, and the type each must have in TOML, come from the models' fields
(`_kind_of`): a field's `pmtui.settings.Kind` mark if it has one, else its type. Every secret
field ``x`` also has an ``x_command`` key, a command that prints it.

Credentials are grouped so that a higher layer replaces a lower one's choice as a whole: setting
``private_key_file`` in a profile drops an ``api_secret`` (or ``api_secret_command``) inherited from
the top level, and an ``api_secret`` in the environment drops a ``private_key_file`` from the file.

Every failure is a ``ConfigError`` whose message is one sentence for a person, says which key and
which file (or variable) is at fault, and never contains a secret.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import shlex
import stat
import subprocess
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from pmtui.errors import ConfigError, SettingProblem
from pmtui.logs import secret_forms
from pmtui.settings import RULE, AlertSettings, Kind, Settings, Thresholds, finite_decimal
from pmtui.text import clean

__all__ = ["config_file", "default_config_path", "load_settings", "profile_names", "read_small_file"]

SECRET_COMMAND_TIMEOUT = 10.0


def default_config_path() -> Path:
    """The config file read when none is named: e.g. ~/.config/pmtui/config.toml on Linux."""
    return platformdirs.user_config_path("pmtui") / "config.toml"


# --------------------------------------------------------------------------- loading

#: A field's kind from its type, when it carries no `Kind` mark.
_TYPE_KINDS: dict[Any, str] = {
    SecretStr: "secret",
    Path: "path",
    bool: "bool",
    Decimal: "decimal",
    float: "seconds",
}
#: Settings fields no config table holds: the loader sets them itself.
_NOT_KEYS = frozenset({"profile", "config_path"})


def _kind_of(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The kind of value (a key of `_EXPECTED`) a config file must give for one field."""
    marks = [m.name for m in field.metadata if isinstance(m, Kind) and m is not RULE]
    args = [a for a in typing.get_args(field.annotation) if a is not type(None)]
    optional = typing.get_origin(field.annotation) in (typing.Union, types.UnionType) and len(args) == 1
    plain = args[0] if optional else field.annotation  # X | None: X
    kind = marks[0] if marks else _TYPE_KINDS.get(plain)
    if kind is None:  # a new field: give it a Kind mark in pmtui.settings
        raise TypeError(f"{model.__name__}.{name}: no config kind for {field.annotation!r}")
    return f"rule_{kind}" if RULE in field.metadata else kind


def _keys_of(model: type[BaseModel]) -> dict[str, str]:
    return {
        name: _kind_of(model, name, field)
        for name, field in model.model_fields.items()
        if name not in _NOT_KEYS
        and not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel))
    }


_SETTING_KEYS = _keys_of(Settings)
_SECRET_KEYS = frozenset(key for key, kind in _SETTING_KEYS.items() if kind == "secret")
#: A command that prints a secret, for each secret (in field order, the order they run in):
#: ``api_secret_command`` -> ``api_secret``.
_COMMANDS = {f"{key}_command": key for key, kind in _SETTING_KEYS.items() if kind == "secret"}
#: Keys a config table may hold (thresholds and alerts apart), with the kind each expects.
_FILE_KEYS: dict[str, str] = {**_SETTING_KEYS, **dict.fromkeys(_COMMANDS, "command")}
_THRESHOLD_KEYS = _keys_of(Thresholds)
#: Keys of the [alerts] table, with the kind of value each expects.
_ALERT_KEYS = _keys_of(AlertSettings)
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
    "PMTUI_STREAM_URL": "stream_url",
    "PMTUI_MARKET_STREAM_URL": "market_stream_url",
    "PMTUI_CM_MARKET_STREAM_URL": "cm_market_stream_url",
    "PMTUI_SAPI_URL": "sapi_url",
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
    "routes": "a table ([alerts.routes]) of warn, danger and critical lists of apprise URLs",
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


#: The last config file parsed: its bytes and what they parse to. --all-profiles reads the file
#: once per profile (and once for their names): fifty profiles parsed fifty times each at start.
_PARSED: tuple[bytes, dict[str, Any]] | None = None


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML (a copy of its own: callers may change it); the same bytes parse once."""
    global _PARSED
    data = read_small_file(path, "config file")
    if _PARSED is not None and _PARSED[0] == data:
        return copy.deepcopy(_PARSED[1])
    parsed = _parse_toml(path, data)
    try:
        copied = copy.deepcopy(parsed)
    except RecursionError:  # absurdly deep: not kept, and the checks that follow say why
        return parsed
    _PARSED = (data, parsed)
    return copied


def _parse_toml(path: Path, data: bytes) -> dict[str, Any]:
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


#: Keys whose values are secret besides the credentials: apprise URLs and a dead-man URL carry tokens.
_PRIVATE_KEYS = _SECRET_KEYS | {"routes", "heartbeat_url"}


def _holds_secret(table: Mapping[str, Any]) -> bool:
    # A loop, not recursion: [a.a.a...] headers nest tables deeper than Python's recursion limit.
    stack = [table]
    while stack:
        for key, value in stack.pop().items():
            if key in _PRIVATE_KEYS:
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
    if kind == "routes":
        ok = isinstance(value, dict)  # the levels and lists: AlertSettings checks them
    elif kind in ("secret", "command", "path", "url"):
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
        return finite_decimal(value)
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
            name_of_table = f"{source.table}.thresholds" if source.table else "thresholds"
            inner = _Source("file", source.path, name_of_table)
            if not isinstance(value, dict):
                raise ConfigError(
                    f"thresholds{source.where()} must be a table ([thresholds]), not"
                    f" {_type_name(value)}."
                )
            for name, number in value.items():
                if name not in _THRESHOLD_KEYS:
                    raise _unknown_key(name, inner.where(), _THRESHOLD_KEYS)
                thresholds[name] = (_check_value(name, number, _THRESHOLD_KEYS[name], inner), inner)
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
    table = {"alerts": _ALERT_KEYS, "thresholds": _THRESHOLD_KEYS}.get(loc[0] if len(loc) > 1 else "")
    kind = (table or _FILE_KEYS).get(name)
    expected = _EXPECTED[kind] if kind else "a valid value"
    if source is None or source.kind != "file":
        expected = expected.removesuffix(" in quotes")
    return ConfigError(f"{name}{source.where() if source else ''} must be {expected}.")


def config_file(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read: `config_path`, else PMTUI_CONFIG (either must exist), else the
    default one if it exists (None if not)."""
    env = os.environ if env is None else env
    if config_path is not None:
        path = Path(config_path).expanduser().absolute()
        explicit = True
    elif (env.get("PMTUI_CONFIG") or "").strip():
        path = Path(env["PMTUI_CONFIG"].strip()).expanduser().absolute()
        explicit = True
    else:
        path = default_config_path().absolute()
        explicit = False
    if not path.exists():
        if explicit:
            via = "" if config_path is not None else " named by PMTUI_CONFIG"
            raise ConfigError(f"Config file {path}{via} does not exist.")
        return None
    return path


def profile_names(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Path, list[str]]:
    """The config file and the names of its [profiles.NAME] tables, in file order (for
    --all-profiles). A missing file is a ConfigError: there are no profiles to list."""
    path = config_file(config_path, env)
    if path is None:
        raise ConfigError(
            f"--all-profiles watches the profiles of a config file, and there is none (looked for"
            f" {default_config_path()}); name one with --config, or try --demo --all-profiles."
        )
    profiles = _read_toml(path).get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"profiles in {path} must be tables like [profiles.work], not {_type_name(profiles)}."
        )
    return path, [str(name) for name in profiles]


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
    path = config_file(config_path, env)

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
