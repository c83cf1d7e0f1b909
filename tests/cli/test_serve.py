"""`pmtui serve`: where it listens, what it serves, which requests it answers, and the dashboard
in a real headless browser (Debian's chromium driven by Playwright; .ci/run installs both).

Nothing leaves the machine: the server listens on 127.0.0.1, the dashboard runs on the embedded
demo exchange, and the browser is started with its background networking off and every request
to anything but the server aborted (and counted: the test fails if there was one).
"""

from __future__ import annotations

import argparse
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pmtui.cli import _common, _parse, main
from pmtui.errors import ConfigError
from pmtui.tui.serve import INSTALL_HINT, bind_address, host_name, listen, no_auth_warning, refusal, served_command

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Chromium on a closed network: without the background services off, its connections fail.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def command_of(*argv: str) -> list[str]:
    """The words of the command `pmtui serve ARGV` would serve."""
    args = _parse(["serve", *argv])
    command = served_command(args, lambda parser: _common(parser, suppress=False), python="PY")
    words = shlex.split(command)
    assert words[:5] == ["exec", "PY", "-m", "pmtui", "dashboard"]
    return words[5:]


# --- where it listens ----------------------------------------------------------------------------


def test_listens_on_loopback_unless_told_otherwise():
    assert bind_address(None) == ("127.0.0.1", None)
    assert bind_address("localhost") == ("127.0.0.1", None)
    assert bind_address("127.0.0.2") == ("127.0.0.2", None)
    assert bind_address("::1") == ("::1", None)
    assert bind_address("[::1]") == ("::1", None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "10.0.0.1"])
def test_any_other_address_warns_that_the_page_is_open(host):
    address, warning = bind_address(host)
    assert address == host
    assert warning == no_auth_warning(host)


def test_the_warning_is_one_sentence_saying_what_to_do_instead():
    text = no_auth_warning("0.0.0.0")
    assert text.startswith("pmtui: warning: ") and text.endswith(".") and "\n" not in text
    assert text.count(". ") == 0  # one sentence
    for words in ("0.0.0.0", "no authentication", "anyone", "sees the account", "127.0.0.1", "SSH"):
        assert words in text


@pytest.mark.parametrize("host", ["example.com", "my-server", "300.1.1.1", "", "127.0.0.1:80", "http://x"])
def test_a_host_that_is_not_an_address_is_refused_in_one_sentence(host):
    with pytest.raises(ConfigError) as info:
        bind_address(host)
    message = info.value.message
    assert "is not an IP address" in message and "127.0.0.1" in message and "\n" not in message


def test_a_taken_port_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            listen("127.0.0.1", port)
    assert info.value.message == (
        f"Port {port} is already in use on 127.0.0.1 (another pmtui serve?): choose another with --port."
    )


def test_an_address_of_another_machine_is_one_sentence():
    with pytest.raises(ConfigError) as info:
        listen("192.0.2.1", 0)  # TEST-NET-1: never an address of this machine
    assert info.value.message == (
        "192.0.2.1 is not an address of this machine: choose one of its own with --host."
    )


def test_serve_errors_end_in_one_line_without_traceback(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--demo", "--port", str(port)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == f"pmtui: error: Port {port} is already in use on 127.0.0.1 (another pmtui serve?): " \
        "choose another with --port.\n"
    assert main(["serve", "--demo", "--host", "my-server"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("pmtui: error: --host 'my-server' is not an IP address") and err.count("\n") == 1


@pytest.mark.parametrize("port", ["-1", "65536", "http", "80.5"])
def test_a_bad_port_is_a_usage_error(capsys, port):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--demo", "--port", port])
    assert info.value.code == 2
    assert "is not a port number (0 to 65535)" in capsys.readouterr().err


def test_serve_checks_the_key_before_serving(capsys):
    # No key configured: the dashboard's own sentence, now, rather than a page that closes.
    code = main(["serve", "--port", "0"])
    out, err = capsys.readouterr()
    assert code == 1 and err.startswith("pmtui: error: No API key is configured")


def test_without_textual_serve_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import fails
    monkeypatch.delitem(sys.modules, "pmtui.tui.webserver", raising=False)
    code = main(["serve", "--demo", "--port", "0"])
    assert code == 1
    assert capsys.readouterr().err == f"pmtui: error: {INSTALL_HINT}\n"
    assert INSTALL_HINT == "pmtui serve needs textual-serve: install it with pip install 'pmtui[serve]'."


# --- what it serves ------------------------------------------------------------------------------


def test_the_served_command_is_the_dashboard_with_the_options_given():
    assert command_of() == []
    assert command_of("--demo") == ["--demo"]
    words = command_of("--demo", "--hedge", "--scenario", "margin-call", "--interval", "3",
                       "--recv-window", "7000", "--debug", "--record", "--port", "9000", "--host", "::1")
    assert words == ["--demo", "--hedge", "--scenario", "margin-call", "--interval", "3.0",
                     "--recv-window", "7000", "--debug", "--record"]
    # Options before the command name count too; serve's own (--port, --host) are not passed on.
    args = _parse(["--demo", "--profile", "main", "serve", "--port", "9000"])
    command = served_command(args, lambda parser: _common(parser, suppress=False), python="PY")
    assert shlex.split(command)[5:] == ["--demo", "--profile", "main"]


def test_several_accounts_are_served_as_several_accounts():
    # Each --profile once, in order, wherever it was given (not the letters of one name).
    args = _parse(["--profile", "alpha", "serve", "--profile", "bravo", "--profile", "alpha"])
    command = served_command(args, lambda parser: _common(parser, suppress=False), python="PY")
    assert shlex.split(command)[5:] == ["--profile", "alpha", "--profile", "bravo"]
    assert command_of("--demo", "--all-profiles") == ["--demo", "--all-profiles"]


def test_serve_with_all_profiles_serves_the_overview(capsys, served):
    # Several accounts go to the server too (not to a dashboard in this terminal).
    assert main(["serve", "--demo", "--all-profiles", "--port", "8124"]) == 0
    ((host, port, command),) = served
    assert (host, port) == ("127.0.0.1", 8124)
    assert shlex.split(command)[5:] == ["--demo", "--all-profiles"]


def test_paths_are_absolute_and_quoted_for_the_shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = command_of("--config", "my conf;rm -rf ~.toml", "--base-url", "http://127.0.0.1:1/$(id)",
                       "--history-file", "h.sqlite3")
    assert words == ["--config", str(tmp_path / "my conf;rm -rf ~.toml"), "--base-url",
                     "http://127.0.0.1:1/$(id)", "--history-file", str(tmp_path / "h.sqlite3")]


def test_every_dashboard_option_is_passed_on():
    # A new option in _common must reach the served dashboard (or served_command says it cannot).
    parser = argparse.ArgumentParser(add_help=False)
    _common(parser, suppress=False)
    options = {max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    flags = {o for o in options if parser._option_string_actions[o].nargs == 0}
    argv = [w for o in sorted(options) for w in ([o] if o in flags else [o, {"--scenario": "margin-call"}.get(o, "7")])]
    words = command_of(*argv)
    assert {w for w in words if w.startswith("--")} == options


@pytest.fixture
def served(monkeypatch) -> list[tuple[str, int, str]]:
    """`pmtui serve` in-process up to the server: the (host, port, command) it would serve."""
    calls: list[tuple[str, int, str]] = []
    monkeypatch.setattr("pmtui.tui.serve.listen", lambda host, port: (host, port))

    def run(self, sock, out):
        calls.append((*sock, self.command))
        return 0

    monkeypatch.setattr("pmtui.tui.webserver.DashboardServer.run", run)
    return calls


def test_no_secret_is_on_the_served_command_line(monkeypatch, tmp_path, capsys, served):
    # Keys in the config file and in the environment: the served command names the file only.
    secret, key = "s3cr3t-" + "x" * 40, "k3y-" + "y" * 40
    monkeypatch.setenv("PMTUI_API_SECRET", secret)
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.main]\napi_key = "{key}"\n')
    config.chmod(0o600)
    assert main(["serve", "--config", str(config), "--profile", "main", "--port", "0"]) == 0
    ((host, port, command),) = served
    assert (host, port) == ("127.0.0.1", 0)
    assert shlex.split(command)[5:] == ["--profile", "main", "--config", str(config)]
    assert secret not in command and key not in command
    assert secret not in capsys.readouterr().err


def test_a_non_loopback_host_is_served_with_the_warning(capsys, served):
    assert main(["serve", "--demo", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert served == [("0.0.0.0", 8123, served[0][2])]
    assert capsys.readouterr().err == no_auth_warning("0.0.0.0") + "\n"
    assert main(["serve", "--demo", "--host", "127.0.0.1"]) == 0  # loopback, even explicit: no warning
    assert served[1][:2] == ("127.0.0.1", 8000)
    assert capsys.readouterr().err == ""


# --- which requests it answers -------------------------------------------------------------------


def test_host_names():
    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("localhost") == "localhost"
    assert host_name("[::1]:8000") == "::1"
    for bad in ("", "a b", "x/y", "127.0.0.1:8000:1", "evil.example@127.0.0.1"):
        assert host_name(bad) is None


def test_a_loopback_server_answers_only_loopback_names():
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:9000", "127.0.0.1"):
        assert refusal(host, None, loopback_only=True, websocket=False) is None
    # DNS rebinding: a name that resolves to 127.0.0.1 is still not a loopback name.
    assert refusal("evil.example:8000", None, loopback_only=True, websocket=False) == \
        "Host 'evil.example' is not a loopback name"
    assert refusal(None, None, loopback_only=True, websocket=False) == "no valid Host header"
    # --host 0.0.0.0: the machine's names are not known; the person was warned.
    assert refusal("server.lan:8000", None, loopback_only=False, websocket=False) is None


def test_the_websocket_answers_only_its_own_page():
    ok = dict(loopback_only=True, websocket=True)
    assert refusal("127.0.0.1:8000", "http://127.0.0.1:8000", **ok) is None
    assert refusal("localhost:9000", "http://LOCALHOST:9000", **ok) is None  # an SSH forward
    # Another web page the user has open: cross-site websocket hijacking.
    assert refusal("127.0.0.1:8000", "https://evil.example", **ok) == "a websocket from another origin"
    assert refusal("127.0.0.1:8000", "http://127.0.0.1:8001", **ok) == "a websocket from another origin"
    assert refusal("127.0.0.1:8000", "null", **ok) == "a websocket from another origin"
    assert refusal("127.0.0.1:8000", None, **ok) == "a websocket without an Origin"
    wide = dict(loopback_only=False, websocket=True)
    assert refusal("server.lan:8000", "http://server.lan:8000", **wide) is None
    assert refusal("server.lan:8000", "http://evil.example", **wide) == "a websocket from another origin"


# --- in a real browser ---------------------------------------------------------------------------

# textual-serve's page keeps its xterm.js terminal in a closure: catch the session object when its
# constructor assigns `fitAddon`, so the test reads the terminal's own buffer (what it shows).
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "fitAddon", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "fitAddon", {value, writable: true, configurable: true, enumerable: true});
    window.__session = this;
  },
});
window.__rows = () => {
  const t = window.__session && window.__session.terminal;
  if (!t) return [];
  const rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = t.buffer.active.getLine(t.buffer.active.viewportY + y);
    let text = "";
    for (let x = 0; x < t.cols; x++) {
      const chars = line ? line.getCell(x).getChars() : "";
      text += chars.length === 1 ? chars : (chars ? "?" : " ");  // one character per cell
    }
    rows.push(text);
  }
  return rows;
};
"""


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def start_server(*argv: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "pmtui", "serve", "--demo", "--port", "0", *argv], cwd=REPO,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], 30)
    line = server.stdout.readline() if ready else ""
    if "serving the dashboard on http://127.0.0.1:" not in line:
        server.kill()
        pytest.fail(f"pmtui serve did not start: {line!r} {server.stderr.read() if server.stderr else ''}")
    return server, line.split(" on ")[1].split()[0]


def test_the_server_answers_only_its_own_page_and_kills_a_stuck_dashboard():
    server, url = start_server()
    try:
        # The page's URLs follow the Host the browser used: here an SSH forward from local port 9000.
        page = httpx.get(url + "/", headers={"Host": "localhost:9000"}, timeout=10)
        assert page.status_code == 200
        assert 'data-session-websocket-url="ws://localhost:9000/ws"' in page.text
        assert 'src="http://localhost:9000/static/js/textual.js"' in page.text
        assert "https://" not in page.text and "googleapis" not in page.text  # nothing from outside
        assert httpx.get(url + "/", headers={"Host": "evil.example:9000"}, timeout=10).status_code == 403
        ws_url = url.replace("http://", "ws://") + "/ws?width=80&height=24"
        for origin in ("https://evil.example", None):
            with pytest.raises(InvalidStatus) as info:
                connect(ws_url, origin=origin, open_timeout=10).close()
            assert info.value.response.status_code == 403
        assert descendants(server.pid) == set()  # refused before any dashboard started
        with connect(ws_url, origin=url, open_timeout=10) as ws:
            assert isinstance(ws.recv(timeout=30), bytes)  # the dashboard's first frame
            (dashboard,) = descendants(server.pid)
            os.kill(dashboard, signal.SIGSTOP)  # it can no longer quit when asked
        wait_for(lambda: not descendants(server.pid), 15, "the stuck dashboard to be killed")
        server.send_signal(signal.SIGINT)
        assert server.wait(20) == 128 + signal.SIGINT
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)
    out, err = server.communicate()
    assert err.splitlines() == [
        "pmtui: serve: refused / from 127.0.0.1: Host 'evil.example' is not a loopback name",
        "pmtui: serve: refused /ws from 127.0.0.1: a websocket from another origin",
        "pmtui: serve: refused /ws from 127.0.0.1: a websocket without an Origin",
        "pmtui: serve: a dashboard did not quit within 3.0 s: killed",
    ]


def gone(pid: int) -> bool:
    """Ended (a zombie nobody reaped yet counts: it runs no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_a_server_killed_outright_takes_its_dashboards_along():
    server, url = start_server()
    try:
        ws_url = url.replace("http://", "ws://") + "/ws?width=80&height=24"
        with connect(ws_url, origin=url, open_timeout=10) as ws:
            assert isinstance(ws.recv(timeout=30), bytes)  # the dashboard's first frame
            (dashboard,) = descendants(server.pid)
            environ = Path(f"/proc/{dashboard}/environ").read_bytes().split(b"\0")
            # It knows its server, and its part of the one weight budget (4 tabs by default).
            assert f"PMTUI_SERVE_PID={server.pid}".encode() in environ
            assert b"PMTUI_SERVE_TABS=4" in environ
            server.kill()  # SIGKILL: no handler of the server's runs
            server.wait(10)
            wait_for(lambda: gone(dashboard), 15, "the dashboard to end with its server")
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)
        server.communicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_die_with_server_ends_a_process_whose_parent_was_killed():
    # A parent (the server) and its child (a dashboard) that holds no pipe of the parent's: only
    # die_with_server can tell it that the parent is gone.
    child = ("import os, sys, threading; from pmtui.tui.serve import die_with_server; "
             "die_with_server(os.getppid()); print('ready', flush=True); threading.Event().wait()")
    parent = ("import subprocess, sys, threading; "
              f"g = subprocess.Popen([sys.executable, '-c', {child!r}], stdin=subprocess.DEVNULL); "
              "print(g.pid, flush=True); threading.Event().wait()")
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(proc.stdout.readline())
        assert proc.stdout.readline() == "ready\n"
        proc.kill()
        proc.wait(10)
        wait_for(lambda: gone(grandchild), 15, "the child to end with its parent")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if not gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_tabs_are_capped():
    server, url = start_server("--max-tabs", "1")
    try:
        ws_url = url.replace("http://", "ws://") + "/ws?width=80&height=24"
        with connect(ws_url, origin=url, open_timeout=10) as ws:
            assert isinstance(ws.recv(timeout=30), bytes)
            page = httpx.get(url + "/", timeout=10)
            assert page.status_code == 503
            assert page.text.startswith("pmtui serve: tab limit (1) reached.")
            # A page opened before: its terminal says so, and no second dashboard starts.
            with connect(ws_url, origin=url, open_timeout=10) as second:
                said = second.recv(timeout=10)
                assert isinstance(said, bytes) and said.startswith(b"pmtui serve: tab limit (1) reached.")
            assert len(descendants(server.pid)) == 1
        # The tab closed: room for the next.
        wait_for(lambda: httpx.get(url + "/", timeout=10).status_code == 200, 15, "the tab to be free again")
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 128 + signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)
    out, err = server.communicate()
    assert "Traceback" not in out + err


def test_a_served_dashboard_keeps_to_its_part_of_the_weight_budget(monkeypatch):
    from pmtui.cli import options_of
    from pmtui.fleet import load_settings, make_client
    from pmtui.tui.serve import TABS_ENV

    options = options_of(_parse(["--demo"]))
    settings = load_settings(options, None)
    assert make_client(settings, options).budget.share == settings.weight_share
    monkeypatch.setenv(TABS_ENV, "4")
    options = options_of(_parse(["--demo"]))
    assert make_client(settings, options).budget.share == settings.weight_share / 4


def test_max_tabs_must_be_a_small_number(capsys):
    for bad in ("0", "-1", "x", "65"):
        with pytest.raises(SystemExit) as info:
            main(["serve", "--demo", "--max-tabs", bad])
        assert info.value.code == 2
        assert "is not a number of tabs (1 to 64)" in capsys.readouterr().err


def require_browser(message: str) -> None:
    """No chromium here: skip, saying why, unless PMTUI_REQUIRE_BROWSER=1 (.ci/run, which
    installs it) makes that a failure."""
    if os.environ.get("PMTUI_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (PMTUI_REQUIRE_BROWSER=1)")
    pytest.skip(reason=message)


def test_without_a_browser_the_browser_test_is_skipped_unless_ci_requires_it(monkeypatch):
    monkeypatch.delenv("PMTUI_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        require_browser("chromium is not installed")
    monkeypatch.setenv("PMTUI_REQUIRE_BROWSER", "1")  # .ci/run, which installs chromium
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        require_browser("chromium is not installed")


@pytest.mark.browser
def test_the_dashboard_in_a_real_browser(tmp_path):
    browser = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if browser is None:
        require_browser(f"chromium is not installed ({CHROMIUM}): apt-get install chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_browser("Playwright is not installed: pip install -e '.[test]'")
    server, url = start_server()
    outside: list[str] = []
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=browser, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1280, "height": 800},
            )
            context.set_default_timeout(30_000)

            def only_the_server(route):
                if route.request.url.startswith(url + "/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_server)
            context.add_init_script(CATCH_TERMINAL)

            def open_page():
                page = context.new_page()
                page.goto(url + "/")
                # Live demo data: the positions table with its rows, and the balances table (it
                # comes a moment after the positions, from 40 lines on, and pushes them down).
                page.wait_for_function(
                    "() => { const s = window.__rows().join('\\n');"
                    " return s.includes('Positions') && s.includes('BTCUSDT') && s.includes('LIVE')"
                    " && s.includes('─ Balances'); }",
                    timeout=60_000,
                )
                return page

            def positions_sort(page) -> str:
                rows = page.evaluate("window.__rows()")
                borders = [r for r in rows if "sort:" in r]
                return borders[-1].split("sort:")[1].strip(" ─╯│") if borders else ""

            page = open_page()
            # The tab's title says the verdict and uniMMR ("pmtui ✓ OK 10.7"), from the dashboard.
            page.wait_for_function(r"() => /^pmtui \S+ (OK|WARN|DANGER|CRITICAL) \d+\.\d$/.test(document.title)")
            rows = page.evaluate("window.__rows()")
            assert positions_sort(page).startswith("MM share")
            # The positions header is the row below the title; click its Notional column.
            title = next(i for i, r in enumerate(rows) if "─ Positions" in r)
            row, col = title + 1, rows[title + 1].index("Notional") + 2
            box = page.locator(".xterm-screen").bounding_box()
            cols, lines = page.evaluate("[window.__session.terminal.cols, window.__session.terminal.rows]")
            page.mouse.click(box["x"] + (col + 0.5) * box["width"] / cols,
                             box["y"] + (row + 0.5) * box["height"] / lines)
            page.wait_for_function(
                "() => { const b = window.__rows().filter(r => r.includes('sort:'));"
                " return b.length && b[b.length - 1].includes('sort: Notional'); }"
            )
            assert positions_sort(page).startswith("Notional")
            page.screenshot(path=str(tmp_path / "serve.png"))  # pytest keeps the last runs' tmp_path
            assert (tmp_path / "serve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            # One dashboard per tab; closing a tab ends its dashboard, not the other's.
            first = wait_for(lambda: descendants(server.pid), 10, "the first tab's dashboard")
            second_page = open_page()
            both = wait_for(lambda: (d := descendants(server.pid)) - first and d, 10, "a second dashboard")
            assert len(both) == 2, both
            page.close()
            wait_for(lambda: descendants(server.pid) == both - first, 15, "the first dashboard to end")

            # SIGTERM with a page open: the server closes it, its dashboard ends, exit 143.
            server.send_signal(signal.SIGTERM)
            code = server.wait(20)
            assert code == 128 + signal.SIGTERM
            assert all(not Path(f"/proc/{pid}").exists() for pid in both)
            wait_for(lambda: second_page.evaluate("document.body.classList.contains('-closed')"), 10,
                     "the page to say the session ended")
            context.close()
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)
    out, err = server.communicate()
    assert "Traceback" not in out + err, out + err
    assert outside == []  # the page asked nothing of any other server
