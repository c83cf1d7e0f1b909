"""`pmtui serve`: the dashboard in a browser, through textual-serve, on 127.0.0.1 by default.

textual-serve runs a web page with a terminal (xterm.js) and, for each browser connection to its
websocket, starts the served command in a subprocess and relays its screen and the keys. Here:

- The command is this Python running `pmtui dashboard` with the dashboard's own options; never a
  secret (the child reads the config file and PMTUI_* variables itself, as the dashboard does).
- The page has no authentication: it listens on loopback unless --host names another address,
  and then says so. Use SSH port forwarding to reach it from elsewhere.
- A websocket is not bound by the browser's same-origin policy: any web page the user visits
  could open ws://127.0.0.1:8000/ws and read the account. So the websocket only answers a page
  of its own origin (Origin equal to Host), and a loopback server only answers loopback names
  (DNS rebinding: evil.example resolving to 127.0.0.1 has its own Origin and Host, which agree).
- The page's URLs follow the Host the browser used (textual-serve's fixed `public_url` would
  break an SSH forward to another local port, or a server listening on 0.0.0.0), and the page
  loads nothing from outside (pmtui/tui/templates/serve_index.html: no web fonts). The server
  itself is pmtui/tui/webserver.py.
- Closing the page or stopping the server ends each dashboard process (quit, then a kill after a
  grace period); SIGINT, SIGTERM and SIGHUP exit 128+signal, like `pmtui watch`. A server killed
  outright (kill -9) takes its dashboards along: each asks the kernel for a signal when its
  parent dies (Linux's PR_SET_PDEATHSIG; elsewhere a thread watches the parent).
- At most --max-tabs dashboards at once (default 4), and they share the server's weight budget:
  the server tells each (PMTUI_SERVE_TABS) to keep to its 1/max-tabs part of `weight_share`. A
  static split needs no lock file or IPC to go stale when a process is killed, and however many
  tabs are open the IP's weight stays within the one budget (each client also yields to the
  IP's reported weight, as always).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import ipaddress
import os
import re
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from pmtui.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INSTALL_HINT = "pmtui serve needs textual-serve: install it with pip install 'pmtui[serve]'."
DEFAULT_MAX_TABS = 4
#: What the server tells each dashboard it starts (they inherit its environment): its pid, so
#: the dashboard dies with it, and how many tabs share its weight budget.
SERVER_PID_ENV = "PMTUI_SERVE_PID"
TABS_ENV = "PMTUI_SERVE_TABS"
_PR_SET_PDEATHSIG = 1


def tab_limit_message(limit: int) -> str:
    return (f"pmtui serve: tab limit ({limit}) reached. Close another tab of this dashboard, or "
            "start the server with a higher --max-tabs.")


def served_by(env: Mapping[str, str] = os.environ) -> int | None:
    """The pid of the `pmtui serve` that started this dashboard, or None if it was not served."""
    pid = env.get(SERVER_PID_ENV, "")
    return int(pid) if pid.isdigit() else None


def served_tabs(env: Mapping[str, str] = os.environ) -> int:
    """How many dashboards share this one's weight budget: 1, or the server's --max-tabs when served
    (each keeps to its 1/tabs of the share; pmtui.fleet.FleetOptions.tabs)."""
    tabs = env.get(TABS_ENV, "")
    return int(tabs) if tabs.isdigit() and int(tabs) > 1 else 1


def die_with_server(server: int, signum: int = signal.SIGTERM) -> None:
    """In a served dashboard: get `signum` when the server is gone, however it ended (kill -9
    included), so no dashboard goes on polling the exchange for nobody."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    else:
        def watch() -> None:
            while os.getppid() == server:
                threading.Event().wait(1.0)
            os.kill(os.getpid(), signum)

        threading.Thread(target=watch, name="pmtui-server-watch", daemon=True).start()
    if os.getppid() != server:  # it died before we asked
        os.kill(os.getpid(), signum)


# --- where to listen -----------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bind_address(host: str | None) -> tuple[str, str | None]:
    """The address to listen on for `--host` (None: not given) and the warning to print, if any.

    Only an IP address or `localhost` (a name could resolve anywhere); loopback unless --host
    says otherwise, and then the page is open to whoever reaches it, which the warning says."""
    if host is None:
        return DEFAULT_HOST, None
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.lower() == "localhost":
        return DEFAULT_HOST, None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        raise ConfigError(
            f"--host {host!r} is not an IP address: give one such as 127.0.0.1 (the default), "
            "or 0.0.0.0 for every interface."
        ) from None
    if address.is_loopback:
        return str(address), None
    return str(address), no_auth_warning(str(address))


def no_auth_warning(host: str) -> str:
    return (
        f"pmtui: warning: the page on {host} has no authentication and no encryption: anyone who "
        "can reach it sees the account, so prefer the default 127.0.0.1 with SSH port forwarding."
    )


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one sentence on why there can be none."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        where = url_of(host, port).removeprefix("http://")
        if err.errno == errno.EADDRINUSE:
            message = f"Port {port} is already in use on {host} (another pmtui serve?): choose another with --port."
        elif err.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is not an address of this machine: choose one of its own with --host."
        elif err.errno == errno.EACCES:
            message = f"Not allowed to listen on {where} (ports below 1024 need root): choose another with --port."
        else:
            message = f"Cannot listen on {where}: {err.strerror or err}."
        raise ConfigError(message) from None
    sock.setblocking(False)
    return sock


# --- what to serve -------------------------------------------------------------------------------


def served_command(args: argparse.Namespace, common: Callable[[argparse.ArgumentParser], None],
                   python: str = sys.executable) -> str:
    """The shell command textual-serve starts per connection: `python -m pmtui dashboard` with the
    options `common` defines (the dashboard's: --demo, --profile, --config, ...) as given in
    `args`. `exec`: the shell becomes the dashboard, so stopping it stops the dashboard."""
    parser = argparse.ArgumentParser(add_help=False)
    common(parser)
    words = [python, "-m", "pmtui", "dashboard"]
    for action in parser._actions:
        if not action.option_strings:
            continue
        option = max(action.option_strings, key=len)  # the long spelling
        value = getattr(args, action.dest, None)
        if action.dest == "profile":  # _parse joined --profile before and after the command here
            value = getattr(args, "profiles", None) or ()
        if isinstance(action, argparse._StoreTrueAction):
            words += [option] if value else []
        elif isinstance(action, argparse._AppendAction):
            for item in value or ():
                words += _option(option, str(item))
        elif isinstance(action, argparse._StoreAction):
            if value is not None and value != action.default:
                words += _option(option, str(value.absolute() if isinstance(value, Path) else value))
        else:  # a new kind of option: say so in the tests rather than drop it silently
            raise TypeError(f"pmtui serve cannot pass {option} ({type(action).__name__}) to the dashboard")
    return "exec " + shlex.join(words)


def _option(option: str, value: str) -> list[str]:
    # A value that starts with "-" (a profile named "-x") would read as an option of its own.
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


# --- which requests to answer --------------------------------------------------------------------

_HOST_HEADER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def host_name(host_header: str) -> str | None:
    """The name in a Host header (`127.0.0.1:8000` -> `127.0.0.1`, `[::1]:80` -> `::1`); None if
    it is not a plain host[:port]."""
    match = _HOST_HEADER.match(host_header)
    return match.group(1).strip("[]") if match else None


def refusal(host_header: str | None, origin: str | None, *, loopback_only: bool,
            websocket: bool) -> str | None:
    """Why this request is refused, or None to answer it.

    A loopback server answers only loopback Host names (a rebound DNS name is refused); the
    websocket, which carries the account, answers only a page served from the same Host."""
    name = host_name(host_header or "")
    if name is None:
        return "no valid Host header"
    if loopback_only and not is_loopback(name):
        return f"Host {name!r} is not a loopback name"
    if websocket:
        if origin is None:
            return "a websocket without an Origin"
        if origin.lower() not in (f"http://{host_header}".lower(), f"https://{host_header}".lower()):
            return "a websocket from another origin"
    return None


def to_int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default
