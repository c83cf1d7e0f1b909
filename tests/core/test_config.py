"""Settings: file discovery, profiles, precedence, secret sources, permission checks, validation."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from pmtui import config as config_module
from pmtui.config import default_config_path, load_settings
from pmtui.errors import ConfigError
from pmtui.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_SAPI_URL,
    DEFAULT_TIME_BASE_URL,
    AlertSettings,
    Settings,
    Thresholds,
)

REPO = Path(__file__).resolve().parents[2]
KEY = "FAKEKEY-0123456789abcdef"
SECRET = "FAKESECRET-do-not-print-9f8e7d6c"
PASSPHRASE = "FAKEPASS-hunter2-hunter2"

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escaping is a subset of TOML's)."""
    return json.dumps(value)


def py_command(code: str) -> str:
    """A secret command running this Python, quoted for shlex.split."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def cfg(tmp_path: Path):
    """Write a config file and return its path."""

    def make(text: str, mode: int = 0o600, name: str = "config.toml") -> Path:
        return write(tmp_path / name, text, mode)

    return make


def load_error(**kwargs) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    message = str(info.value)
    assert message == info.value.message
    assert "\n" not in message, "a ConfigError is one sentence on one line"
    assert "Traceback" not in message
    for secret in (SECRET, PASSPHRASE, KEY):
        assert secret not in message
    return message


# ---------------------------------------------------------------- discovery and precedence


def test_no_file_gives_defaults():
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.config_path is None
    assert settings.profile == "default"
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.interval == 2.0 and settings.account_interval == 10.0
    assert settings.recv_window == 5000 and settings.timeout == 10.0
    assert not settings.has_credentials()


def test_default_path_is_isolated_and_read_when_present(tmp_path_factory):
    path = default_config_path()
    assert path.name == "config.toml" and path.parent.name == "pmtui"
    # The autouse fixture moved the user config dir into a pytest tmp folder.
    assert str(tmp_path_factory.getbasetemp()) in str(path)
    write(path, "interval = 3\n")
    settings = load_settings(env={})
    assert settings.interval == 3.0
    assert settings.config_path == path.absolute()


def test_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("PMTUI_BASE_URL", "https://env.example.com/")
    assert load_settings().base_url == "https://env.example.com"


def test_precedence_file_then_env_then_overrides(cfg):
    path = cfg(
        f'api_key = "file-key"\napi_secret = {toml_str(SECRET)}\n'
        'base_url = "https://file.example.com"\ninterval = 3\nrecv_window = 7000\n'
    )
    only_file = load_settings(config_path=path, env={})
    assert only_file.base_url == "https://file.example.com"
    assert only_file.api_key.get_secret_value() == "file-key"

    env = {"PMTUI_BASE_URL": "https://env.example.com", "PMTUI_API_KEY": "env-key"}
    with_env = load_settings(config_path=path, env=env)
    assert with_env.base_url == "https://env.example.com"
    assert with_env.api_key.get_secret_value() == "env-key"
    assert with_env.api_secret.get_secret_value() == SECRET  # untouched by env
    assert with_env.interval == 3.0

    overrides = {"base_url": "https://cli.example.com", "interval": None, "recv_window": 9000}
    with_cli = load_settings(config_path=path, env=env, overrides=overrides)
    assert with_cli.base_url == "https://cli.example.com"
    assert with_cli.interval == 3.0  # None is ignored, the file's value stays
    assert with_cli.recv_window == 9000


def test_env_secret_and_key_file(tmp_path):
    key = write(tmp_path / "keys" / "ed25519.pem", "-----BEGIN PRIVATE KEY-----\n")
    env = {
        "PMTUI_API_KEY": KEY,
        "PMTUI_PRIVATE_KEY_FILE": str(key),
        "PMTUI_PRIVATE_KEY_PASSPHRASE": PASSPHRASE,
    }
    settings = load_settings(env=env)
    assert settings.private_key_file == key
    assert settings.private_key_passphrase.get_secret_value() == PASSPHRASE
    assert settings.has_credentials()
    # Empty variables count as unset.
    assert load_settings(env={"PMTUI_API_KEY": "", "PMTUI_BASE_URL": " "}) == Settings()


def test_overrides_accept_any_field_and_thresholds(cfg):
    path = cfg("[thresholds]\nunimmr_warn = 1.6\n")
    settings = load_settings(
        config_path=path,
        env={},
        overrides={"timeout": 20, "account_interval": 30, "thresholds": {"unimmr_danger": "1.3"}},
    )
    assert settings.timeout == 20.0 and settings.account_interval == 30.0
    assert settings.thresholds.unimmr_warn == Decimal("1.6")
    assert settings.thresholds.unimmr_danger == Decimal("1.3")


def test_unknown_override_is_named():
    message = load_error(overrides={"intervall": 3})
    assert "'intervall'" in message and "command line" in message and "'interval'" in message


def test_wrong_override_type_is_named():
    message = load_error(overrides={"interval": "soon"})
    assert message == "interval given on the command line must be a number of seconds."


def test_pmtui_config_env(cfg):
    path = cfg("interval = 4\n", name="elsewhere.toml")
    settings = load_settings(env={"PMTUI_CONFIG": str(path)})
    assert settings.interval == 4.0
    assert settings.config_path == path


def test_config_path_beats_pmtui_config(cfg):
    first = cfg("interval = 4\n", name="first.toml")
    second = cfg("interval = 6\n", name="second.toml")
    settings = load_settings(config_path=second, env={"PMTUI_CONFIG": str(first)})
    assert settings.interval == 6.0


def test_explicit_file_replaces_default_file(cfg):
    write(default_config_path(), "interval = 9\ntimeout = 3\n")
    path = cfg("interval = 4\n")
    settings = load_settings(config_path=path, env={})
    assert settings.interval == 4.0 and settings.timeout == 10.0  # default file not read at all


def test_missing_explicit_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.toml"
    assert load_error(config_path=missing) == f"Config file {missing} does not exist."
    message = load_error(env={"PMTUI_CONFIG": str(missing)})
    assert str(missing) in message and "PMTUI_CONFIG" in message


def test_tilde_is_expanded_in_config_path():
    home = Path(os.environ["HOME"])
    write(home / "my-pmtui.toml", "interval = 5\n")
    assert load_settings(config_path=Path("~/my-pmtui.toml"), env={}).interval == 5.0
    assert load_settings(env={"PMTUI_CONFIG": "~/my-pmtui.toml"}).interval == 5.0


def test_config_path_is_a_folder(tmp_path):
    assert "is a folder" in load_error(config_path=tmp_path)


# ---------------------------------------------------------------- profiles

PROFILES = f"""
api_key = "top-key"
api_secret = {toml_str(SECRET)}
interval = 3

[thresholds]
unimmr_warn = 1.8

[profiles.default]
timeout = 7

[profiles.work]
api_key = "work-key"
interval = 5
base_url = "https://work.example.com"

[profiles.work.thresholds]
unimmr_danger = 1.4

[profiles.ed]
private_key_file = "ed.pem"
"""


def test_default_profile_is_top_level_plus_profiles_default(cfg):
    settings = load_settings(config_path=cfg(PROFILES), env={})
    assert settings.profile == "default"
    assert settings.api_key.get_secret_value() == "top-key"
    assert settings.interval == 3.0
    assert settings.timeout == 7.0
    assert settings.thresholds.unimmr_warn == Decimal("1.8")


def test_named_profile_inherits_and_overrides(cfg):
    settings = load_settings(config_path=cfg(PROFILES), profile="work", env={})
    assert settings.profile == "work"
    assert settings.api_key.get_secret_value() == "work-key"
    assert settings.api_secret.get_secret_value() == SECRET  # inherited
    assert settings.interval == 5.0
    assert settings.timeout == 10.0  # [profiles.default] is not inherited by other profiles
    assert settings.base_url == "https://work.example.com"
    assert settings.thresholds.unimmr_warn == Decimal("1.8")  # inherited threshold
    assert settings.thresholds.unimmr_danger == Decimal("1.4")  # profile threshold


def test_profile_from_env_and_param_beats_env(cfg):
    path = cfg(PROFILES)
    assert load_settings(config_path=path, env={"PMTUI_PROFILE": "work"}).interval == 5.0
    settings = load_settings(config_path=path, profile="default", env={"PMTUI_PROFILE": "work"})
    assert settings.profile == "default" and settings.interval == 3.0


def test_profile_key_file_replaces_inherited_secret(cfg, tmp_path):
    path = cfg(PROFILES)
    write(tmp_path / "ed.pem", "-----BEGIN PRIVATE KEY-----\n")
    settings = load_settings(config_path=path, profile="ed", env={})
    assert settings.api_secret is None
    assert settings.private_key_file == tmp_path / "ed.pem"  # relative to the config's folder
    assert settings.api_key.get_secret_value() == "top-key"
    assert settings.has_credentials()


def test_unknown_profile_lists_known_ones(cfg):
    path = cfg(PROFILES)
    message = load_error(config_path=path, profile="wrok")
    assert message == f"Profile 'wrok' is not in {path}; known profiles: default, ed, work."


def test_profile_without_any_file():
    message = load_error(profile="work")
    assert "'work'" in message and "no config file" in message


def test_profile_must_be_a_table(cfg):
    path = cfg('[profiles]\nwork = "x"\n')
    message = load_error(config_path=path)
    assert "'work'" in message and str(path) in message and "table" in message


def test_two_signing_keys_in_one_table(cfg, tmp_path):
    write(tmp_path / "k.pem", "x")
    path = cfg(f'api_secret = {toml_str(SECRET)}\nprivate_key_file = "k.pem"\n')
    message = load_error(config_path=path)
    assert "api_secret" in message and "private_key_file" in message and "only one" in message


def test_secret_and_its_command_in_one_table(cfg):
    path = cfg(f'api_secret = {toml_str(SECRET)}\napi_secret_command = "true"\n')
    assert "keep only one" in load_error(config_path=path)


# ---------------------------------------------------------------- permissions


@posix_only
def test_world_readable_file_with_secret_is_refused(cfg):
    path = cfg(f"api_secret = {toml_str(SECRET)}\n", mode=0o644)
    message = load_error(config_path=path)
    assert message == (
        f"Config file {path} holds a secret but other users can read it; run: chmod 600 {path}"
    )


@posix_only
@pytest.mark.parametrize("key", ["api_key", "private_key_passphrase"])
def test_any_secret_in_any_table_counts(cfg, key):
    path = cfg(f'[profiles.other]\n{key} = "{KEY}"\n', mode=0o640)
    assert "chmod 600" in load_error(config_path=path)


@posix_only
def test_group_writable_file_with_secret_is_refused(cfg):
    path = cfg(f'api_key = "{KEY}"\n', mode=0o620)
    assert "other users can change it" in load_error(config_path=path)


@posix_only
def test_private_file_with_secret_is_fine(cfg):
    path = cfg(f"api_secret = {toml_str(SECRET)}\n", mode=0o600)
    assert load_settings(config_path=path, env={}).api_secret.get_secret_value() == SECRET


@posix_only
def test_world_readable_file_without_secret_is_fine(cfg):
    path = cfg('interval = 3\napi_secret_command = "true"\n', mode=0o644)
    # The command would run (and fail: `true` prints nothing), but permissions are not the issue.
    assert "printed nothing" in load_error(config_path=path)
    assert load_settings(config_path=cfg("interval = 3\n", mode=0o644), env={}).interval == 3.0


@posix_only
def test_permission_check_skipped_on_windows(cfg, monkeypatch):
    monkeypatch.setattr(config_module, "_permissions_checkable", lambda: False)
    path = cfg(f"api_secret = {toml_str(SECRET)}\n", mode=0o644)
    assert load_settings(config_path=path, env={}).api_secret is not None


@posix_only
def test_world_readable_private_key_file_is_refused(cfg, tmp_path):
    key = write(tmp_path / "id.pem", "-----BEGIN PRIVATE KEY-----\n", mode=0o644)
    path = cfg(f'api_key = "{KEY}"\nprivate_key_file = "id.pem"\n')
    message = load_error(config_path=path)
    assert message == (
        f"Private key file {key} can be read or changed by other users; run: chmod 600 {key}"
    )
    key.chmod(0o600)
    assert load_settings(config_path=path, env={}).private_key_file == key


def test_private_key_file_missing(tmp_path):
    message = load_error(env={"PMTUI_PRIVATE_KEY_FILE": str(tmp_path / "gone.pem")})
    assert "does not exist" in message and "PMTUI_PRIVATE_KEY_FILE" in message


def test_private_key_file_tilde_expanded():
    home = Path(os.environ["HOME"])
    key = write(home / ".keys" / "pm.pem", "x")
    settings = load_settings(overrides={"private_key_file": "~/.keys/pm.pem"}, env={})
    assert settings.private_key_file == key


# ---------------------------------------------------------------- malformed input


def test_malformed_toml_names_file_line_and_column(cfg):
    path = cfg('interval = 3\nbase_url = "https://x.example.com\ntimeout = 5\n')
    message = load_error(config_path=path)
    assert message.startswith(f"Config file {path} is not valid TOML at line 2, column ")
    assert message.endswith(".")


def test_malformed_toml_missing_equals(cfg):
    path = cfg("interval = 3\n\napi_secret\n")
    message = load_error(config_path=path)
    assert "line 3" in message and str(path) in message


def test_non_utf8_file(cfg, tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"interval = \xff\n")
    assert "UTF-8" in load_error(config_path=path)


def test_unknown_key_is_named_with_file_and_suggestion(cfg):
    path = cfg(f"api_sercet = {toml_str(SECRET)}\n")
    message = load_error(config_path=path)
    assert message == f"Unknown key 'api_sercet' in {path} (did you mean 'api_secret'?)."


def test_unknown_key_in_profile_and_thresholds(cfg):
    path = cfg('[profiles.work]\nbase_ulr = "https://x.example.com"\n')
    message = load_error(config_path=path)  # caught even though "work" is not the chosen profile
    assert "'base_ulr'" in message and "[profiles.work]" in message and str(path) in message

    path = cfg("[thresholds]\nunimmr_warning = 1.5\n")
    message = load_error(config_path=path)
    assert "'unimmr_warning'" in message and "[thresholds]" in message
    assert "'unimmr_warn'" in message


def test_unknown_key_without_close_match(cfg):
    path = cfg("zzz = 1\n")
    assert "Unknown key 'zzz'" in load_error(config_path=path)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('interval = "fast"', "interval in {path} must be a number of seconds, not a string."),
        ("recv_window = 5000.5", "recv_window in {path} must be a whole number of milliseconds, not a decimal number."),
        ("timeout = true", "timeout in {path} must be a number of seconds, not true/false."),
        ("base_url = 443", "base_url in {path} must be a URL in quotes, not a whole number."),
        ("private_key_file = []", "private_key_file in {path} must be a file path in quotes, not an array."),
        ("api_secret = 123456", "api_secret in {path} must be a string in quotes, not a whole number."),
        ("thresholds = 3", "thresholds in {path} must be a table ([thresholds]), not a whole number."),
    ],
)
def test_wrong_type_names_key_file_and_expectation(cfg, line, expected):
    path = cfg(line + "\n")
    assert load_error(config_path=path) == expected.format(path=path)


def test_wrong_threshold_value_is_named(cfg):
    path = cfg('[thresholds]\nunimmr_warn = "high"\n')
    message = load_error(config_path=path)
    assert message == f"unimmr_warn in [thresholds] of {path} must be a number such as 1.5, not 'high'."


def test_threshold_strings_and_floats_are_exact_decimals(cfg):
    path = cfg('[thresholds]\nunimmr_critical = 1.05\nposition_loss_warn = "0.04"\n')
    thresholds = load_settings(config_path=path, env={}).thresholds
    assert thresholds.unimmr_critical == Decimal("1.05")
    assert thresholds.position_loss_warn == Decimal("0.04")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("unimmr_warn = 1.1", "unimmr_warn > unimmr_danger > unimmr_critical"),
        ("unimmr_critical = 1.3", "unimmr_warn > unimmr_danger > unimmr_critical"),
        ("position_share_warn = 0.6", "position_share_warn"),
        ("position_loss_danger = 0.3", "position_loss_warn < position_loss_danger"),
        ("unimmr_critical = 0", "must be a number above 0"),
        ("position_share_danger = 1.5", "at most 1"),
    ],
)
def test_threshold_order_is_checked(cfg, table, fragment):
    path = cfg(f"[thresholds]\n{table}\n")
    message = load_error(config_path=path)
    assert fragment in message and f"[thresholds] of {path}" in message


def test_thresholds_model_defaults_and_order():
    t = Thresholds()
    assert t.unimmr_warn > t.unimmr_danger > t.unimmr_critical
    assert t.position_share_warn < t.position_share_danger
    assert t.position_loss_warn < t.position_loss_danger < t.position_loss_critical
    with pytest.raises(ValidationError):
        Thresholds(unimmr_warn="1.1")


# ---------------------------------------------------------------- secret commands


def test_secret_command_success(cfg):
    command = py_command(f"print({SECRET!r})")
    path = cfg(f'api_key = "{KEY}"\napi_secret_command = {toml_str(command)}\n', mode=0o600)
    settings = load_settings(config_path=path, env={})
    assert settings.api_secret.get_secret_value() == SECRET
    assert settings.has_credentials()


def test_secret_command_takes_the_first_line_and_may_live_in_a_world_readable_file(cfg):
    command = py_command(f"print({SECRET!r}); print('url: https://accounts.example.com')")
    path = cfg(f"api_key_command = {toml_str(command)}\n", mode=0o644)
    assert load_settings(config_path=path, env={}).api_key.get_secret_value() == SECRET


def test_all_three_secret_commands(cfg):
    lines = [
        f"{key}_command = {toml_str(py_command(f'print({value!r})'))}"
        for key, value in (("api_key", KEY), ("api_secret", SECRET), ("private_key_passphrase", PASSPHRASE))
    ]
    settings = load_settings(config_path=cfg("\n".join(lines) + "\n"), env={})
    assert settings.secret_values() == [KEY, SECRET, PASSPHRASE]


def test_secret_command_not_run_when_env_gives_the_secret(cfg, tmp_path):
    marker = tmp_path / "ran"
    command = py_command(f"open({str(marker)!r}, 'w').close(); print('x')")
    path = cfg(f"api_secret_command = {toml_str(command)}\n")
    settings = load_settings(config_path=path, env={"PMTUI_API_SECRET": SECRET})
    assert settings.api_secret.get_secret_value() == SECRET
    assert not marker.exists()


def test_secret_command_not_run_when_other_settings_are_wrong(cfg, tmp_path):
    marker = tmp_path / "ran"
    command = py_command(f"open({str(marker)!r}, 'w').close(); print('x')")
    path = cfg(f"api_secret_command = {toml_str(command)}\ninterval = 0.1\n")
    assert "interval" in load_error(config_path=path)
    assert not marker.exists()


def test_secret_command_failure_names_the_key_and_short_stderr(cfg):
    code = "import sys; sys.stderr.write('gpg: decryption failed: No secret key\\n'); sys.exit(2)"
    path = cfg(f"api_secret_command = {toml_str(py_command(code))}\n")
    message = load_error(config_path=path)
    assert message == (
        f"api_secret_command in {path} failed with exit status 2:"
        " gpg: decryption failed: No secret key."
    )


def test_secret_command_failure_never_echoes_stdout_or_long_stderr(cfg):
    code = (
        f"import sys; print({SECRET!r}); sys.stderr.write('got ' + {SECRET!r} + '\\n'); sys.exit(1)"
    )
    path = cfg(f"api_key_command = {toml_str(py_command(code))}\n")
    message = load_error(config_path=path)
    assert message == f"api_key_command in {path} failed with exit status 1: got <redacted>."

    code = "import sys; sys.stderr.write('x' * 500); sys.exit(3)"
    path = cfg(f"api_key_command = {toml_str(py_command(code))}\n")
    assert load_error(config_path=path) == f"api_key_command in {path} failed with exit status 3."


def test_secret_command_timeout(cfg, monkeypatch):
    monkeypatch.setattr(config_module, "SECRET_COMMAND_TIMEOUT", 0.5)
    path = cfg(f"private_key_passphrase_command = {toml_str(py_command('import time; time.sleep(30)'))}\n")
    message = load_error(config_path=path)
    assert message.startswith(f"private_key_passphrase_command in {path} did not finish within 0.5")


def test_secret_command_missing_program(cfg):
    path = cfg('api_secret_command = "pmtui-no-such-program --get"\n')
    message = load_error(config_path=path)
    assert message == f"api_secret_command in {path} failed: program 'pmtui-no-such-program' was not found."


def test_secret_command_prints_nothing(cfg):
    path = cfg(f"api_secret_command = {toml_str(py_command('pass'))}\n")
    assert "printed nothing" in load_error(config_path=path)


def test_secret_command_bad_quoting(cfg):
    path = cfg("api_secret_command = \"pass show 'binance\"\n")
    message = load_error(config_path=path)
    assert "not a valid command line" in message and "api_secret_command" in message


def test_secret_command_from_profile(cfg):
    command = py_command(f"print({SECRET!r})")
    path = cfg(f'api_secret = "top-secret"\n[profiles.p]\napi_secret_command = {toml_str(command)}\n')
    assert load_settings(config_path=path, profile="p", env={}).api_secret.get_secret_value() == SECRET
    assert load_settings(config_path=path, env={}).api_secret.get_secret_value() == "top-secret"


# ---------------------------------------------------------------- URLs


def test_plain_http_to_a_remote_host_is_refused(cfg):
    path = cfg('base_url = "http://papi.example.com"\n')
    message = load_error(config_path=path)
    assert message == (
        f"Refusing plain http:// to papi.example.com (base_url in {path}): API keys must only"
        " travel over HTTPS (http is allowed for loopback test servers)."
    )


def test_plain_http_from_env_and_for_time_url():
    message = load_error(env={"PMTUI_BASE_URL": "http://10.0.0.1:8080"})
    assert "Refusing plain http:// to 10.0.0.1" in message and "PMTUI_BASE_URL" in message
    message = load_error(overrides={"time_base_url": "http://fapi.binance.com"})
    assert message.startswith("Refusing plain http:// to fapi.binance.com (time_base_url given on")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.5.6.7", "http://[::1]:9000", "http://localhost:1234", "http://LOCALHOST"],
)
def test_plain_http_to_loopback_is_allowed(url):
    settings = load_settings(overrides={"base_url": url + "/"}, env={})
    assert settings.base_url == url
    assert settings.resolved_time_base_url() == url


@pytest.mark.parametrize("url", ["ftp://papi.binance.com", "papi.binance.com", "https://", "https://x.example.com?a=1"])
def test_malformed_base_url(url):
    assert "base_url given on the command line must" in load_error(overrides={"base_url": url})


def test_credentials_in_url_are_refused_without_echo():
    message = load_error(overrides={"base_url": f"https://user:{SECRET}@papi.binance.com"})
    assert "user name or password" in message


def test_trailing_slash_stripped(cfg):
    path = cfg('base_url = "https://papi.example.com/"\ntime_base_url = "https://time.example.com//"\n')
    settings = load_settings(config_path=path, env={})
    assert settings.base_url == "https://papi.example.com"
    assert settings.time_base_url == "https://time.example.com"


def test_time_base_url_resolution():
    assert Settings().resolved_time_base_url() == DEFAULT_TIME_BASE_URL == "https://fapi.binance.com"
    assert Settings(base_url="https://papi.binance.com/").resolved_time_base_url() == DEFAULT_TIME_BASE_URL
    custom = Settings(base_url="http://127.0.0.1:9999")
    assert custom.resolved_time_base_url() == "http://127.0.0.1:9999"
    explicit = Settings(base_url="http://127.0.0.1:9999", time_base_url="https://fapi.binance.com/")
    assert explicit.resolved_time_base_url() == "https://fapi.binance.com"


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [60001, 120000])
def test_recv_window_above_60000_is_refused(cfg, value):
    path = cfg(f"recv_window = {value}\n")
    message = load_error(config_path=path)
    assert message == (
        f"recv_window in {path} is {value} ms but Binance accepts at most 60000 (one minute);"
        " the default is 5000."
    )


def test_recv_window_bounds():
    assert load_settings(overrides={"recv_window": 60000}, env={}).recv_window == 60000
    assert load_settings(overrides={"recv_window": 1}, env={}).recv_window == 1
    assert "at least 1 ms" in load_error(overrides={"recv_window": 0})


def test_interval_minimum_is_stated_not_clamped(cfg):
    path = cfg("interval = 0.5\n")
    message = load_error(config_path=path)
    assert message.startswith(f"interval in {path} is 0.5 seconds but the minimum is 1:")
    assert load_settings(overrides={"interval": 1}, env={}).interval == 1.0


def test_account_interval_minimum_and_interval_maximum():
    assert "the minimum is 5" in load_error(overrides={"account_interval": 4.9})
    assert "the maximum is 3600" in load_error(overrides={"interval": 3601})
    assert "finite" in load_error(overrides={"interval": float("nan")})


def test_nan_in_toml_is_refused(cfg):
    assert "finite" in load_error(config_path=cfg("interval = nan\n"))


def test_timeout_bounds():
    assert "timeout given on the command line must be more than 0" in load_error(overrides={"timeout": 0})
    assert load_settings(overrides={"timeout": 0.5}, env={}).timeout == 0.5


def test_settings_direct_construction_validates():
    with pytest.raises(ValidationError):
        Settings(interval=0.2)
    with pytest.raises(ValidationError):
        Settings(base_url="http://example.com")
    with pytest.raises(ValidationError):
        Settings(api_secret="x", private_key_file=Path("/k.pem"))


# ---------------------------------------------------------------- secrets never shown


def test_secrets_never_in_repr_str_or_dump(cfg):
    path = cfg(
        f'api_key = "{KEY}"\napi_secret = {toml_str(SECRET)}\n'
        f"private_key_passphrase = {toml_str(PASSPHRASE)}\n"
    )
    settings = load_settings(config_path=path, env={})
    shown = [
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
        repr(settings.api_secret),
        f"{settings.api_secret}",
    ]
    for text in shown:
        for secret in (KEY, SECRET, PASSPHRASE):
            assert secret not in text
    assert settings.api_secret.get_secret_value() == SECRET
    assert settings.secret_values() == [KEY, SECRET, PASSPHRASE]


def test_secrets_never_in_error_messages(cfg):
    # Errors raised while secrets are loaded: each message goes through load_error's check.
    base = f'api_key = "{KEY}"\napi_secret = {toml_str(SECRET)}\n'
    load_error(config_path=cfg(base + "interval = 0\n"))
    load_error(config_path=cfg(base + "bogus = 1\n"))
    load_error(config_path=cfg(base + "oops\n"))
    load_error(config_path=cfg(base + 'base_url = "http://example.com"\n'))
    load_error(config_path=cfg(base, mode=0o644) if os.name != "nt" else cfg(base + "x=1\n"))
    load_error(env={"PMTUI_API_SECRET": SECRET}, overrides={"api_key": KEY, "interval": "x"})
    load_error(env={"PMTUI_API_SECRET": SECRET, "PMTUI_PRIVATE_KEY_FILE": "/k.pem"})
    # A mistyped secret is named without echoing the value.
    message = load_error(config_path=cfg(f"api_secret = [{toml_str(SECRET)}]\n"))
    assert message.startswith("api_secret in ")


def test_blank_secret_is_refused(cfg):
    assert "api_key in" in load_error(config_path=cfg('api_key = "  "\n'))


# ---------------------------------------------------------------- the example file


def test_example_config_loads(tmp_path):
    example = tmp_path / "config.toml"
    shutil.copy(REPO / "config.example.toml", example)
    example.chmod(0o600)
    settings = load_settings(config_path=example, env={})
    assert settings == Settings(
        api_key=settings.api_key, api_secret=settings.api_secret, config_path=example
    )
    assert settings.has_credentials()
    assert "FAKE" in settings.api_key.get_secret_value()
    local = load_settings(config_path=example, profile="local", env={})
    assert local.base_url == "http://127.0.0.1:8080" and local.recv_window == 10000


def test_example_config_documents_every_field():
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    for key in [*config_module._FILE_KEYS, *Thresholds.model_fields, *AlertSettings.model_fields,
                "[alerts]", "[profiles.", "chmod 600"]:
        assert key in text, key
    assert "IP" in text and "Enable Reading" in text


@posix_only
def test_example_config_with_loose_mode_is_refused(tmp_path):
    example = tmp_path / "config.toml"
    shutil.copy(REPO / "config.example.toml", example)
    example.chmod(0o644)
    assert "chmod 600" in load_error(config_path=example)


# ---------------------------------------------------------------- [alerts] and liquidation distance


def test_alert_and_liq_distance_defaults():
    settings = load_settings(env={})
    a = settings.alerts
    assert a.unimmr_below == Decimal("1.5") and a.status_not_normal is True
    assert a.liq_distance_below == Decimal("0.10") and a.stale_for == 30.0
    assert a.upnl_below is None and a.position_upnl_below is None  # off unless asked for
    assert a.cooldown == 300.0 and a.hysteresis == Decimal("0.02")
    assert a.command is None and a.desktop is False and a.on_clear is True  # the all-clear is told
    t = settings.thresholds
    assert (t.liq_distance_warn, t.liq_distance_danger, t.liq_distance_critical) == (
        Decimal("0.20"), Decimal("0.10"), Decimal("0.05"))


def test_alerts_table_false_turns_rules_off_and_profiles_override(cfg):
    path = cfg(
        "[alerts]\nunimmr_below = 1.3\nstale_for = false\nupnl_below = -5000\n"
        'command = "notify --to \'ops room\'"\ndesktop = true\ncooldown = 0\n'
        "[profiles.quiet.alerts]\nunimmr_below = false\nstatus_not_normal = false\n"
    )
    a = load_settings(config_path=path, env={}).alerts
    assert a.unimmr_below == Decimal("1.3") and a.stale_for is None
    assert a.upnl_below == Decimal("-5000") and a.cooldown == 0.0 and a.desktop is True
    assert a.argv() == ["notify", "--to", "ops room"]
    quiet = load_settings(config_path=path, profile="quiet", env={}).alerts
    assert quiet.unimmr_below is None and quiet.status_not_normal is False
    assert quiet.upnl_below == Decimal("-5000")  # inherited from the top level


def test_alert_overrides_and_liq_thresholds(cfg):
    path = cfg("[thresholds]\nliq_distance_warn = \"0.3\"\n")
    settings = load_settings(
        config_path=path, env={}, overrides={"alerts": {"liq_distance_below": "0.07", "stale_for": False}}
    )
    assert settings.thresholds.liq_distance_warn == Decimal("0.3")
    assert settings.alerts.liq_distance_below == Decimal("0.07") and settings.alerts.stale_for is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[alerts]\nstatus_not_normal = 1\n",
         "status_not_normal in [alerts] of {path} must be true or false, not a whole number."),
        ("[alerts]\nunimmr_below = true\n",
         "unimmr_below in [alerts] of {path} must be a number, or false to turn the rule off;"
         " true is not a threshold."),
        ('[alerts]\nupnl_below = "lots"\n',
         "upnl_below in [alerts] of {path} must be a number, or false to turn the rule off, not 'lots'."),
        ("[alerts]\nliq_distance_below = 10\n",
         "liq_distance_below in [alerts] of {path} is a fraction of the mark price (0.10 is 10%), so it"
         " must be above 0 and at most 1 (got 10)."),
        ("[alerts]\nhysteresis = 0.9\n",
         "hysteresis in [alerts] of {path} is a fraction of the threshold (0.02 is 2%), so it must be"
         " from 0 to 0.5 (got 0.9)."),
        ("[alerts]\ncooldown = -1\n",
         "cooldown in [alerts] of {path} must be from 0 and at most 86400 seconds (got -1)."),
        ("[alerts]\ncommand = \"say 'hi\"\n",
         "command in [alerts] of {path} is not a valid command line (no closing quotation)."),
        ("alerts = 3\n", "alerts in {path} must be a table ([alerts]), not a whole number."),
        ("[profiles.x.alerts]\nstale_for = 0\n",
         "stale_for in [profiles.x.alerts] of {path} must be more than 0 and at most 86400 seconds (got 0)."),
        ("[thresholds]\nliq_distance_critical = 0.15\n",
         "Liquidation distance thresholds in [thresholds] of {path} must fall as risk rises,"
         " liq_distance_warn > liq_distance_danger > liq_distance_critical, but they are 0.20, 0.10 and 0.15."),
        ("[thresholds]\nliq_distance_warn = 20\n",
         "liq_distance_warn in [thresholds] of {path} is a fraction of the mark price (0.10 is 10%), so it"
         " must be at most 1 (got 20)."),
    ],
)
def test_bad_alert_settings_are_one_sentence_naming_key_and_file(cfg, text, expected):
    path = cfg(text)
    profile = "x" if "profiles.x" in text else None
    assert load_error(config_path=path, profile=profile) == expected.format(path=path)


def test_unknown_alert_key_suggests_the_right_one(cfg):
    path = cfg("[alerts]\nunimmr_bellow = 1.4\n")
    message = load_error(config_path=path)
    assert message == f"Unknown key 'unimmr_bellow' in [alerts] of {path} (did you mean 'unimmr_below'?)."
    assert "'cooldwn'" in load_error(overrides={"alerts": {"cooldwn": 1}})


# ---------------------------------------------------------------- secrets and files


def test_failing_command_stderr_is_redacted_in_every_escaped_form(cfg):
    # The command printed its secret (with characters that escape differently), then failed
    # quoting it repr'd, JSON-escaped, URL-encoded and base64'd.
    code = (
        "import sys, json, base64, urllib.parse as u; p = 'pa+ss/w\\\\o\"rd=' * 2; print(p);"
        " sys.stderr.write('bad: ' + ' '.join([repr(p), json.dumps(p), u.quote(p, safe=''),"
        " u.quote_plus(p), base64.b64encode(p.encode()).decode()]) + '\\n'); sys.exit(4)"
    )
    path = cfg(f"api_key = {toml_str(KEY)}\napi_secret_command = {toml_str(py_command(code))}\n")
    message = load_error(config_path=path)
    assert message == (
        f"api_secret_command in {path} failed with exit status 4: bad: '<redacted>' \"<redacted>\""
        " <redacted> <redacted> <redacted>."
    )


def test_failing_command_never_shows_a_key_like_token_pmtui_never_received(cfg):
    leaked = "k3yL1ke" + "Ab12" * 10
    code = f"import sys; sys.stderr.write('op: token {leaked} expired\\n'); sys.exit(3)"
    path = cfg(f"api_secret_command = {toml_str(py_command(code))}\n")
    assert load_error(config_path=path) == (
        f"api_secret_command in {path} failed with exit status 3: op: token <redacted> expired."
    )


@pytest.mark.parametrize("junk", ["\ufeff{}", "{}\r", "{}\r\n", " {} ", "\u200b{}\u00a0", "{}\x00"])
def test_secret_with_a_bom_or_trailing_junk_is_cleaned(cfg, junk):
    path = cfg(f"api_key = {toml_str(junk.format(KEY))}\napi_secret = {toml_str(junk.format(SECRET))}\n")
    settings = load_settings(config_path=path, env={})
    assert settings.api_key.get_secret_value() == KEY
    assert settings.api_secret.get_secret_value() == SECRET
    env = {"PMTUI_API_SECRET": junk.format(SECRET)}
    assert load_settings(env=env).api_secret.get_secret_value() == SECRET
    command = py_command(f"import sys; sys.stdout.buffer.write({junk.format(SECRET).encode()!r})")
    path = cfg(f"api_secret_command = {toml_str(command)}\n")
    assert load_settings(config_path=path, env={}).api_secret.get_secret_value() == SECRET


@pytest.mark.parametrize("inner, what", [("\u200b", "an invisible or control character"),
                                         ("\x1b", "an invisible or control character"),
                                         (" ", "a space")])
def test_secret_with_junk_inside_is_refused_without_echo(cfg, inner, what):
    bad = SECRET[:10] + inner + SECRET[10:]
    path = cfg(f"api_secret = {toml_str(bad)}\n")
    assert load_error(config_path=path) == (
        f"api_secret in {path} has {what} at position 11 of {len(bad)}, which a Binance API key"
        " or secret never has; copy it again."
    )


def test_passphrase_may_hold_spaces_but_not_controls(cfg):
    assert load_settings(env={"PMTUI_PRIVATE_KEY_PASSPHRASE": "correct horse"}) \
        .private_key_passphrase.get_secret_value() == "correct horse"
    path = cfg(f"private_key_passphrase = {toml_str('pass' + chr(7) + 'word')}\n")
    assert "private_key_passphrase in" in load_error(config_path=path)


def _load_in_thread(**kwargs) -> str:
    """load_error, but it must finish: reading a FIFO the old way blocked forever."""
    import threading

    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(load_error(**kwargs)), daemon=True)
    thread.start()
    thread.join(timeout=10)
    return result[0] if result else ""


@posix_only
def test_config_path_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    try:
        message = _load_in_thread(config_path=fifo)
    finally:
        # Whatever happened: unblock a reader still waiting on the pipe.
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert message == (
        f"Config file {fifo} is a named pipe (FIFO), not a regular file; pmtui reads only regular files."
    )


@posix_only
def test_config_path_that_is_a_device_is_refused():
    assert load_error(config_path=Path("/dev/null")) == (
        "Config file /dev/null is a device, not a regular file; pmtui reads only regular files."
    )


def test_config_file_over_one_megabyte_is_refused(cfg):
    path = cfg("# padding\n" * 110_000)
    assert load_error(config_path=path) == (
        f"Config file {path} is larger than 1 MB, too large to be a config file; is it the right file?"
    )


# ---------------------------------------------------------------- the user data stream settings


def test_stream_defaults_and_layers(cfg):
    settings = load_settings(env={})
    assert settings.stream is True and settings.stream_url == "wss://fstream.binance.com/pm/ws"
    path = cfg('stream = false\n[profiles.local]\nstream = true\nstream_url = "ws://127.0.0.1:9000/pm/ws/"\n')
    assert load_settings(config_path=path, env={}).stream is False
    local = load_settings(config_path=path, profile="local", env={})
    assert local.stream is True and local.stream_url == "ws://127.0.0.1:9000/pm/ws"
    env = {"PMTUI_STREAM_URL": "wss://stream.example.com/pm/ws"}
    assert load_settings(config_path=path, profile="local", env=env).stream_url == "wss://stream.example.com/pm/ws"
    assert load_settings(config_path=path, overrides={"stream": True}, env={}).stream is True


def test_market_stream_url_defaults_layers_and_checks(cfg):
    assert load_settings(env={}).market_stream_url == "wss://fstream.binance.com"
    path = cfg('[profiles.local]\nmarket_stream_url = "ws://127.0.0.1:9000/"\n')
    assert load_settings(config_path=path, profile="local", env={}).market_stream_url == "ws://127.0.0.1:9000"
    env = {"PMTUI_MARKET_STREAM_URL": "wss://dstream.binance.com"}
    assert load_settings(config_path=path, profile="local", env=env).market_stream_url == "wss://dstream.binance.com"
    message = load_error(env={"PMTUI_MARKET_STREAM_URL": "ws://fstream.binance.com"})
    assert message.startswith("Refusing plain ws:// to fstream.binance.com (market_stream_url from environment"
                              " variable PMTUI_MARKET_STREAM_URL): market prices must only travel over TLS")


def test_stream_values_are_checked(cfg):
    path = cfg('stream = "yes"\n')
    assert load_error(config_path=path) == f"stream in {path} must be true or false, not a string."
    assert load_error(overrides={"stream": "no"}) == "stream given on the command line must be true or false."
    message = load_error(env={"PMTUI_STREAM_URL": "ws://fstream.binance.com/pm/ws"})
    assert message.startswith(
        "Refusing plain ws:// to fstream.binance.com (stream_url from environment variable PMTUI_STREAM_URL)"
    )
    path = cfg('stream_url = "https://fstream.binance.com/pm/ws"\n')
    assert load_error(config_path=path).startswith(f"stream_url in {path} must be a URL like wss://")
    path = cfg("stream_url = 443\n")
    assert load_error(config_path=path) == f"stream_url in {path} must be a URL in quotes, not a whole number."


def test_config_keys_are_derived_from_the_models():
    keys = config_module._FILE_KEYS
    settings_fields = set(Settings.model_fields) - {"profile", "config_path", "thresholds", "alerts"}
    assert set(keys) == settings_fields | {"api_key_command", "api_secret_command", "private_key_passphrase_command"}
    assert keys["stream"] == "bool" and keys["stream_url"] == keys["base_url"] == "url"
    assert keys["api_secret"] == "secret" and keys["api_secret_command"] == "command"
    assert keys["private_key_file"] == "path" and keys["recv_window"] == "millis"
    assert keys["interval"] == "seconds" and keys["weight_share"] == "fraction"
    assert set(config_module._THRESHOLD_KEYS.values()) == {"decimal"}
    assert set(config_module._THRESHOLD_KEYS) == set(Thresholds.model_fields)
    alerts = config_module._ALERT_KEYS
    assert set(alerts) == set(AlertSettings.model_fields)
    assert alerts["unimmr_below"] == "rule_decimal" and alerts["stale_for"] == "rule_seconds"
    assert alerts["command"] == "command" and alerts["desktop"] == "bool" and alerts["hysteresis"] == "decimal"
    kinds = {*keys.values(), *alerts.values(), *config_module._THRESHOLD_KEYS.values()}
    assert kinds <= set(config_module._EXPECTED)
    # The hand-written tables left (precedence slots, environment variables) name only real keys.
    assert {k for slot in config_module._SLOTS for k in slot} <= set(keys)
    assert set(config_module._ENV_KEYS.values()) <= set(keys)


def test_settings_models_import_without_the_loader():
    code = ("import sys, pmtui.settings; "
            "print(sorted(m for m in ('pmtui.config', 'tomllib', 'platformdirs', 'subprocess') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- the spot API host (risk inputs)


def test_sapi_url_defaults_follow_base_url_and_env(cfg):
    assert Settings().resolved_sapi_url() == DEFAULT_SAPI_URL == "https://api.binance.com"
    # A base_url of its own (a proxy, a test server) serves the /sapi/ inputs too: never Binance.
    assert Settings(base_url="http://127.0.0.1:9999").resolved_sapi_url() == "http://127.0.0.1:9999"
    env = {"PMTUI_SAPI_URL": "https://sapi.example.com/"}
    assert load_settings(env=env).resolved_sapi_url() == "https://sapi.example.com"
    path = cfg('sapi_url = "http://127.0.0.1:8081"\n')
    assert load_settings(config_path=path, env={}).resolved_sapi_url() == "http://127.0.0.1:8081"


def test_sapi_url_plain_http_only_to_loopback(cfg):
    message = load_error(env={"PMTUI_SAPI_URL": "http://api.binance.com"})
    assert message.startswith(
        "Refusing plain http:// to api.binance.com (sapi_url from environment variable PMTUI_SAPI_URL)"
    )
    path = cfg("sapi_url = 443\n")
    assert load_error(config_path=path) == f"sapi_url in {path} must be a URL in quotes, not a whole number."


def test_the_profiles_of_one_file_are_read_with_one_parse(cfg, monkeypatch):
    """--all-profiles loads each profile from the same file: fifty profiles parsed it fifty-one
    times at start. The same bytes parse once; changed bytes parse again."""
    import tomllib

    parses = []
    loads = tomllib.loads
    monkeypatch.setattr(config_module, "_PARSED", None)
    monkeypatch.setattr(tomllib, "loads", lambda text: parses.append(1) or loads(text))
    profiles = "".join(f'[profiles.p{i}]\ninterval = {i + 2}\n' for i in range(5))
    path = cfg(profiles)
    _, names = config_module.profile_names(path, env={})
    got = [load_settings(config_path=path, profile=name, env={}).interval for name in names]
    assert got == [2, 3, 4, 5, 6]
    assert len(parses) == 1
    config_module._read_toml(path)["profiles"]["p0"]["interval"] = 99  # a caller's change stays its own
    assert load_settings(config_path=path, profile="p0", env={}).interval == 2
    path.write_text(profiles.replace("interval = 2\n", "interval = 7\n"))
    assert load_settings(config_path=path, profile="p0", env={}).interval == 7
    assert len(parses) == 2
