"""Secret hygiene: a canary key and secret run through every scenario with --debug on.

The API secret, the API key (which belongs only in the X-MBX-APIKEY header of signed requests) and
every signature the server saw must never show up in stdout, stderr, the debug log, the dashboard's
screen, its SVG screenshots, JSON output, notifications, or any exception's message, repr or
formatted traceback. Throughout, the server checks pmtui only ever sent GETs to the documented
read-only paths. Also here: the refusals that keep secrets safe (a config file others can read,
plain http:// to anything but loopback).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from pmtui.budget import WeightBudget
from pmtui.cli import main
from pmtui.client import READ_ONLY_PATHS, PapiClient
from pmtui.endpoints import ADL_ENDPOINTS, LEDGER_ENDPOINTS
from pmtui.errors import ConfigError, PmtuiError
from pmtui.fleet import FleetOptions, make_client
from pmtui.logs import setup_debug_log
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp
from pmtui.urls import check_url
from tests.support.papi_server import (
    BALANCE,
    CM_ACCOUNT,
    CM_POSITION_RISK,
    PM_ACCOUNT,
    POSITION_RISK,
    TIME,
    UM_ACCOUNT,
    PapiServer,
    _error,
)
from tests.support.soak import screen_text

# Unique per run, so a hit can only be a leak (never a coincidence with fixture text).
KEY = "canaryKey" + secrets.token_hex(16)
SECRET = "canarySecret" + secrets.token_hex(20)
SIGNED = {UM_ACCOUNT, PM_ACCOUNT, POSITION_RISK, BALANCE, CM_ACCOUNT, CM_POSITION_RISK,
          # the risk model's inputs (pmtui.riskfeed): signed GETs like the others
          "/sapi/v1/portfolio/collateralRate", "/sapi/v1/portfolio/asset-index-price",
          "/sapi/v1/portfolio/margin-asset-leverage", "/papi/v1/um/leverageBracket", "/papi/v1/cm/leverageBracket",
          # the ledger (pmtui.ledger), the ADL queue and trading locks (pmtui.exposure)
          *(e.path for e in (*LEDGER_ENDPOINTS, *ADL_ENDPOINTS))}

# (name, how to set it up on the server). Each fault hits the UM account, the one call every
# scenario makes; the clock jumps make pmtui resync and sign again.
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("ok", {}),
    ("429", {"retry_after": 1}),
    ("429-no-retry-after", {"retry_after": None}),
    ("418", {"retry_after": 1}),
    ("500", {}),
    ("503", {}),
    ("-1001", {}),
    ("403", {}),
    ("html", {}),
    ("truncated", {}),
    ("empty", {}),
    ("schema", {"variant": "renamed"}),
    ("slow", {"delay": 1.0}),
    ("reset", {}),
    ("echo", {}),
    ("revoked", {}),
    ("clock+7s", {}),
    ("clock-7s", {}),
]


class EchoServer(PapiServer):
    """Also knows the 'echo' fault: an error whose message repeats the query string and the API
    key header back, as a careless proxy might. pmtui must not pass either on to a person."""

    echo = 0

    def reply(self, method: str, path: str, query: str, headers: dict[str, str]):  # type: ignore[override]
        if self.echo and path == UM_ACCOUNT:
            self.echo -= 1
            return _error(400, -1102, f"Illegal parameter in {query}; X-MBX-APIKEY: "
                                      f"{headers.get('x-mbx-apikey')}; api key {headers.get('x-mbx-apikey')}")
        return super().reply(method, path, query, headers)


def apply_fault(server: EchoServer, name: str, opts: dict[str, Any]) -> None:
    server.clear()
    server.clock_offset_ms = 0
    if name == "ok":
        return
    if name == "revoked":
        server.revoke()
    elif name == "echo":
        server.echo = 1
    elif name.startswith("clock"):
        server.clock_offset_ms = 7000 if "+" in name else -7000
    else:
        server.inject(name.removesuffix("-no-retry-after"), path=UM_ACCOUNT, **opts)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    srv = EchoServer(api_key=KEY, api_secret=SECRET).start()
    try:
        yield srv
    finally:
        srv.stop()
    # Whatever happened above: only GETs, only to documented read-only paths, and the key only
    # in the header of signed requests.
    assert srv.requests, "the scenario sent nothing at all"
    for r in srv.requests:
        assert r.method == "GET", r
        assert r.path in READ_ONLY_PATHS, r
        assert (r.headers.get("x-mbx-apikey") == KEY) == (r.path in SIGNED), r
        assert KEY not in r.query and SECRET not in r.query and SECRET not in str(r.headers)


class Evidence:
    """Everything pmtui showed or wrote, by where it came from."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add_error(self, where: str, err: BaseException) -> None:
        self.add(f"{where}: str", str(err))
        self.add(f"{where}: repr", repr(err))
        self.add(f"{where}: args", repr(err.args))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(err)))
        if err.__context__ is not None:  # hidden by `from None`, but still reachable
            self.add(f"{where}: context", f"{err.__context__!s} {err.__context__!r}")

    def check(self, server: PapiServer, **extra: str) -> None:
        raw = {m.group(1) for r in server.requests for m in [re.search(r"signature=([^&]+)", r.query)] if m}
        signatures = raw | {unquote(v) for v in raw}  # as sent (percent-encoded) and decoded
        assert signatures, "no signed request was made"
        forbidden = {"API secret": SECRET, "API key": KEY, "secret's random part": SECRET[12:28],
                     "key's random part": KEY[9:25], **extra}
        forbidden.update({f"signature {s[:12]}…": s for s in signatures})
        forbidden.update({f"start of signature {s[:12]}…": s[:20] for s in signatures})
        assert self.texts
        for where, text in self.texts:
            for what, value in forbidden.items():
                assert value not in text, f"the {what} leaked into {where}"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture, evidence: Evidence, where: str) -> int:
    code = main(argv)
    out, err = capsys.readouterr()
    evidence.add(f"{where} stdout", out)
    evidence.add(f"{where} stderr", err)
    return code


@pytest.fixture
def cli_env(server: EchoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The canaries in the environment; a config file (no secrets) with a short timeout."""
    config = tmp_path / "config.toml"
    config.write_text(f'base_url = "{server.base_url}"\ntimeout = 0.5\n')
    config.chmod(0o600)
    monkeypatch.setenv("PMTUI_API_KEY", KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", SECRET)
    monkeypatch.setenv("PMTUI_CONFIG", str(config))
    return config


# --- the headless commands ---------------------------------------------------------------------


@pytest.mark.parametrize("name, opts", FAULTS, ids=[f[0] for f in FAULTS])
def test_headless_commands_never_show_secrets(name: str, opts: dict[str, Any], server: EchoServer,
                                              cli_env: Path, capsys: pytest.CaptureFixture,
                                              restore_logging: None) -> None:
    evidence = Evidence()
    codes = {}
    for command in (["snapshot"], ["snapshot", "--json"], ["check"]):
        apply_fault(server, name, opts)
        where = f"{' '.join(command)} under {name}"
        codes[command[-1]] = run_cli(["--debug", *command], capsys, evidence, where)
    if name in ("ok", "clock+7s", "clock-7s"):
        assert codes == {"snapshot": 0, "--json": 0, "check": 0}, codes
        json_out = [t for w, t in evidence.texts if w.startswith("snapshot --json") and "stdout" in w][0]
        assert json.loads(json_out)["positions"], "the JSON output is the account"
    else:
        assert codes["snapshot"] == 1 and codes["check"] == 3, codes
    logs = list(Path.home().rglob("pmtui.log"))
    assert len(logs) == 1, "the debug log was written"
    log_text = logs[0].read_text()
    assert "DEBUG pmtui: pmtui " in log_text  # the real log: one per command
    evidence.add("debug log", log_text)
    evidence.check(server)


def test_config_readable_by_others_is_refused_before_any_request(
    server: EchoServer, tmp_path: Path, capsys: pytest.CaptureFixture, restore_logging: None
) -> None:
    evidence = Evidence()
    path = tmp_path / "config.toml"
    path.write_text(f'base_url = "{server.base_url}"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    for mode, verb in ((0o644, "read"), (0o640, "read"), (0o604, "read"), (0o620, "change")):
        path.chmod(mode)
        assert run_cli(["--config", str(path), "--debug", "snapshot"], capsys, evidence, oct(mode)) == 1
        err = evidence.texts[-1][1]
        assert f"holds a secret but other users can {verb} it" in err
        assert f"run: chmod 600 {path}" in err
    assert not server.requests
    path.chmod(0o600)
    assert run_cli(["--config", str(path), "snapshot"], capsys, evidence, "0o600") == 0
    evidence.check(server)


@pytest.mark.parametrize(
    "url",
    ["http://papi.binance.com", "http://10.0.0.1:8080", "http://localhost.example.com",
     "http://127.0.0.1.nip.io", "http://[::ffff:10.0.0.1]", "http://0.0.0.0:9"],
)
def test_plain_http_is_refused_except_to_loopback(url: str, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  restore_logging: None) -> None:
    monkeypatch.setenv("PMTUI_API_KEY", KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", SECRET)
    for argv in (["--base-url", url, "--debug", "snapshot"], ["--debug", "check"]):
        monkeypatch.setenv("PMTUI_BASE_URL", url)
        code = main(argv)
        out, err = capsys.readouterr()
        assert code in (1, 3)
        assert "Refusing plain http://" in err and "HTTPS" in err, err
        assert SECRET not in out + err and KEY not in out + err
    with pytest.raises(ConfigError, match="Refusing plain http://"):
        PapiClient(api_key=KEY, signer=HmacSigner(SECRET), base_url=url)
    with pytest.raises(ConfigError, match="Refusing plain http://"):
        PapiClient(api_key=KEY, signer=HmacSigner(SECRET), base_url="https://papi.binance.com",
                   time_base_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://127.0.0.2:9", "http://[::1]:9",
                                 "http://localhost:9", "https://papi.binance.com"])
def test_loopback_http_and_https_are_allowed(url: str) -> None:
    assert check_url(url, "base_url") == url


async def test_only_read_only_paths_can_be_requested(server: EchoServer) -> None:
    client = PapiClient(api_key=KEY, signer=HmacSigner(SECRET), base_url=server.base_url)
    async with client:
        await client.um_account()
        for path in ("/papi/v1/um/order", "/papi/v1/listenKey", "/sapi/v1/capital/withdraw/apply",
                     "/papi/v2/um/account/../../v1/um/order"):
            with pytest.raises(ValueError, match="not a read-only endpoint"):
                await client.signed_get(path)
    assert {r.path for r in server.requests} == {TIME, UM_ACCOUNT}


# --- the dashboard -----------------------------------------------------------------------------


async def test_dashboard_never_shows_secrets(server: EchoServer, tmp_path: Path,
                                             restore_logging: None) -> None:
    evidence = Evidence()
    log_file = setup_debug_log([KEY, SECRET], path=tmp_path / "debug.log")
    settings = Settings(base_url=server.base_url, timeout=0.5, api_key=KEY, api_secret=SECRET)
    app = PmtuiApp(settings=settings, client=make_client(settings, FleetOptions()),
                   title="canary")
    # Two refreshes per fault, back to back: the debounce and the budget (test_budget) would
    # only make each one wait.
    app.monitor.refresh_debounce = 0.0
    app.client.budget = WeightBudget(1.0, limit=10**9)
    # Only the test refreshes: with the app's own 1 s timer, a refresh of its own could follow the
    # faulted one at once (under load, before the wait below looked) and clear the error it waits
    # for. Each poll's outcome is kept, so the wait reads the one it caused, not the latest.
    poller = app.monitor.poller
    poller.interval = 600.0
    outcomes: list[tuple[bool, PmtuiError | None]] = []
    poll = poller.poll

    async def kept_poll() -> bool:
        ok = await poll()
        outcomes.append((ok, poller.error))
        return ok

    poller.poll = kept_poll  # type: ignore[method-assign]
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, *a, **k: (notes.append(str(message)), notify(message, *a, **k))[1]  # type: ignore[method-assign]
    shot_dir = tmp_path / "shots"
    shot_dir.mkdir()
    async with app.run_test(size=(100, 30)):

        async def refresh(ok: bool) -> PmtuiError | None:
            """Refresh now (key r: also what a person does after fixing the key) until it ends
            well (ok) or in an error (not ok); that poll's error."""
            seen = asked = len(outcomes)
            app.main.action_refresh_now()
            deadline = asyncio.get_running_loop().time() + 30  # a hang's bound, not a measure
            while app.monitor.fetching or all(good != ok for good, _ in outcomes[seen:]):
                assert asyncio.get_running_loop().time() < deadline, f"no refresh under {name}: {outcomes[seen:]}"
                if not app.monitor.fetching and len(outcomes) > asked:
                    # That poll ended the other way: on a loaded machine a good reply can miss the
                    # 0.5 s timeout (CI's run saw it under "ok"), and only the test refreshes. Again.
                    asked = len(outcomes)
                    app.client._blocked_until = app.client.budget.blocked_until = 0.0
                    app.main.action_refresh_now()
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # let the screen paint
            return next(error for good, error in outcomes[seen:] if good == ok)

        for name, opts in FAULTS:
            apply_fault(server, name, opts)
            error = await refresh(ok=name in ("ok", "clock+7s", "clock-7s"))
            if error is not None:
                evidence.add_error(f"dashboard error under {name}", error)
            evidence.add(f"screen under {name}", screen_text(app))
            # The saved file is export_screenshot()'s SVG (one export per fault: each costs ~0.3 s).
            saved = Path(app.save_screenshot(f"{name}.svg", path=str(shot_dir)))
            evidence.add(f"saved screenshot under {name}", saved.read_text())
            apply_fault(server, "ok", {})
            # Bans and pauses are the soak's business; here, move on.
            app.client._blocked_until = app.client.budget.blocked_until = 0.0
            await refresh(ok=True)
    assert {w.split(" under ")[1].split(":")[0] for w, _ in evidence.texts
            if w.startswith("dashboard error")} >= {
        "429", "418", "500", "html", "schema", "slow", "reset", "echo", "revoked"}
    for note in notes:
        evidence.add("notification", note)
    evidence.add("debug log", log_file.read_text())
    assert "GET /papi/v2/um/account" in log_file.read_text()
    evidence.check(server)


# --- the client's errors themselves ------------------------------------------------------------


async def test_client_errors_hold_no_secrets(server: EchoServer) -> None:
    evidence = Evidence()
    client = PapiClient(api_key=KEY, signer=HmacSigner(SECRET), base_url=server.base_url, timeout=0.5)
    async with client:
        for name, opts in FAULTS:
            apply_fault(server, name, opts)
            client._blocked_until = 0.0  # look at each fault's own error, not the last ban's
            try:
                await client.um_account()
            except PmtuiError as err:
                evidence.add_error(f"client error under {name}", err)
        evidence.add("client repr", repr(client))
    assert sum(1 for w, _ in evidence.texts if w.endswith(": str")) >= 14
    evidence.check(server)


def test_private_key_and_passphrase_never_show(server: EchoServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture,
                                               restore_logging: None) -> None:
    """An encrypted Ed25519 key: its passphrase and PEM body stay as private as an API secret."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    passphrase = "canaryPass" + secrets.token_hex(12)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    key_file = tmp_path / "binance-ed25519.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    server.public_key = key.public_key()
    config = tmp_path / "config.toml"
    config.write_text(f'base_url = "{server.base_url}"\ntimeout = 0.5\napi_key = "{KEY}"\n'
                      f'private_key_file = "{key_file}"\nprivate_key_passphrase = "{passphrase}"\n')
    config.chmod(0o600)
    monkeypatch.setenv("PMTUI_CONFIG", str(config))
    evidence = Evidence()
    for name in ("ok", "echo", "500", "revoked"):
        for command in (["snapshot"], ["snapshot", "--json"], ["check"]):
            apply_fault(server, name, {})
            code = run_cli(["--debug", *command], capsys, evidence, f"{command} under {name}")
            assert (code == 0) == (name == "ok"), (name, command, code)
    evidence.add("debug log", next(Path.home().rglob("pmtui.log")).read_text())
    pem_body = pem.decode().splitlines()[1]
    evidence.check(server, passphrase=passphrase, **{"private key PEM": pem_body})


# --- secret commands, the debug log, files and folders ------------------------------------------


def test_a_failing_secret_command_never_puts_its_secret_on_checks_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`sh -c 'echo $SECRET >&2; exit 3'`: the secret is one pmtui never received, on stderr."""
    monkeypatch.setenv("SECRET", SECRET)
    monkeypatch.setenv("PMTUI_API_KEY", KEY)
    config = tmp_path / "config.toml"
    config.write_text("api_secret_command = \"sh -c 'echo $SECRET >&2; exit 3'\"\n")
    config.chmod(0o600)
    assert main(["--config", str(config), "check"]) == 3
    out, err = capsys.readouterr()
    sentence = f"api_secret_command in {config} failed with exit status 3: <redacted>."
    assert out == f"PMTUI UNKNOWN - {sentence}\n" and err == f"pmtui: error: {sentence}\n"
    assert SECRET[12:] not in out + err


def test_debug_log_redacts_escaped_encoded_and_base64_forms(tmp_path: Path, restore_logging: None) -> None:
    import base64
    import logging
    from urllib.parse import quote, quote_plus

    secret = "canary\nSecret+/=" + secrets.token_hex(8)  # a newline, and characters that encode
    path = setup_debug_log([secret], tmp_path / "debug.log")
    log = logging.getLogger("pmtui.test")
    log.debug("headers %r", {"X-MBX-APIKEY": secret})
    log.debug("json %s", json.dumps({"k": secret}))
    log.debug("url %s %s", quote(secret, safe=""), quote_plus(secret))
    log.debug("basic %s", base64.b64encode(f"user:{secret}".encode()).decode())
    log.debug("raw %s", base64.urlsafe_b64encode(secret.encode()).decode())
    log.debug("cleaned %s", PmtuiError(f"bad key {secret}").message)
    text = path.read_text()
    assert text.count("<redacted>") >= 7
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""),
                 quote_plus(secret), basic[8:-4], base64.urlsafe_b64encode(secret.encode()).decode(),
                 "canary Secret", secret[-16:]):
        assert form not in text, form


def test_folders_pmtui_creates_for_logs_and_data_are_private(restore_logging: None) -> None:
    import stat as st

    from pmtui.history import History, Sample, default_path
    from pmtui.logs import log_path

    log = setup_debug_log([])
    History().record(Sample(1_750_000_000_000, "main", None, None, None, None, "ok"))
    home = Path.home()
    for leaf in (log.parent, default_path().parent):
        assert leaf == log_path().parent or leaf.name == "pmtui"
        folder = leaf
        while folder != home:  # every folder pmtui made under the (fresh) home: 0700
            assert st.S_IMODE(folder.stat().st_mode) == 0o700, folder
            folder = folder.parent


def test_debug_in_an_unwritable_log_folder_says_which_and_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        restore_logging: None) -> None:
    from pmtui.logs import log_path

    state = tmp_path / "state"
    state.write_text("a file where the log folder's parent should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    assert main(["--debug", "--demo", "check"]) == 3
    out, err = capsys.readouterr()
    assert err == (f"pmtui: error: Cannot write the debug log in {log_path().parent}: a file of that"
                   f" name is in the way ({state}).\n")


def test_debug_in_a_read_only_log_folder_says_permission_denied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        restore_logging: None) -> None:
    from pmtui.logs import log_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    (tmp_path / "pmtui").mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere (as in CI): the kernel's answer for anyone else
        real_mkdir = Path.mkdir

        def refuse(self, *args, **kwargs):
            if self.parent == tmp_path / "pmtui":
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["--debug", "--demo", "check"]) == 3
    assert capsys.readouterr().err == (f"pmtui: error: Cannot write the debug log in {log_path().parent}:"
                                       f" permission denied ({tmp_path / 'pmtui' / 'log'}).\n")


def _key_file(tmp_path: Path, data: bytes, name: str = "key") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_openssh_key_gets_a_conversion_command_that_works(tmp_path: Path) -> None:
    import shlex
    import subprocess

    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from pmtui.signing import Ed25519Signer, make_signer

    key = ed25519.Ed25519PrivateKey.generate()
    data = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH, s.NoEncryption())
    path = _key_file(tmp_path, data, "id ed25519")  # a space: the command must quote the path
    with pytest.raises(ConfigError) as info:
        make_signer(api_secret=None, private_key_file=path)
    message = info.value.message
    pem = Path(f"{path}.pem")
    assert message.startswith(f"The private key file {path} is in OpenSSH format, which pmtui cannot read;")
    assert message.endswith(f" and set private_key_file to {shlex.quote(str(pem))}.")
    command = message.split("convert it to PEM with: ", 1)[1].split(" and set private_key_file to ")[0]
    done = subprocess.run(["sh", "-c", command], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert pem.stat().st_mode & 0o777 == 0o600
    signer = make_signer(api_secret=None, private_key_file=pem)
    assert isinstance(signer, Ed25519Signer)
    assert signer._key.private_bytes_raw() == key.private_bytes_raw()


def test_protected_openssh_key_is_converted_from_an_unprotected_copy(tmp_path: Path) -> None:
    # cryptography cannot write a protected OpenSSH key without bcrypt: flip the cipher name
    # of an unprotected one, which is all the check reads.
    import base64 as b64

    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from pmtui.signing import make_signer

    data = ed25519.Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH,
                                                              s.NoEncryption())
    lines = data.decode().splitlines()
    blob = b64.b64decode("".join(lines[1:-1]))
    blob = blob.replace(b"\0\0\0\x04none", b"\0\0\0\x0aaes256-ctr", 1)
    path = _key_file(tmp_path, (f"{lines[0]}\n{b64.b64encode(blob).decode()}\n{lines[-1]}\n").encode())
    with pytest.raises(ConfigError) as info:
        make_signer(api_secret=None, private_key_file=path)
    assert f"(umask 077; cp {path} {path}.tmp && ssh-keygen -q -p -N '' -f {path}.tmp && " in info.value.message


def test_public_key_and_odd_key_files_are_refused_with_a_sentence(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from pmtui.signing import make_signer

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    path = _key_file(tmp_path, public.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match="holds a public key: private_key_file must name the private key"):
        make_signer(api_secret=None, private_key_file=path)
    big = _key_file(tmp_path, b"-----BEGIN PRIVATE KEY-----\n" + b"A" * (1 << 20), "big")
    with pytest.raises(ConfigError, match=f"Private key file {big} is larger than 1 MB"):
        make_signer(api_secret=None, private_key_file=big)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is a named pipe"):
        make_signer(api_secret=None, private_key_file=fifo)
