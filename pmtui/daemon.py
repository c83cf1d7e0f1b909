"""What `pmtui daemon` adds to a Fleet: systemd's notifications, and the Unix socket viewers attach to.

The command itself (commands.daemon) runs the Monitors and logs their lines; this module holds:

- `notify`: sd_notify(3) in a few lines: READY=1, WATCHDOG=1, STOPPING=1 as datagrams to
  `$NOTIFY_SOCKET` (a path, or '@' for Linux's abstract namespace). Not under systemd: nothing.
- `socket_path` and `AttachServer`: `$XDG_RUNTIME_DIR/pmtui/daemon.sock`, private to the user (the
  directory 0700, the socket 0600; a path anyone else owns or may open is refused, never used).
  A lock file beside it says whether a daemon holds the path: a second daemon is refused, and a
  socket left by one that crashed is replaced. Each viewer gets a hello (the profiles), each
  account's current state, then every new one as JSON lines (pmtui/wire.py). A viewer that
  reads slowly never holds the daemon up: it has one waiting state per account, the newest
  (mailbox.Mailbox). A viewer that speaks anything but the protocol is disconnected with one
  sentence in the log; the daemon goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pmtui.errors import ConfigError
from pmtui.mailbox import Mailbox
from pmtui.state import MonitorState
from pmtui.text import clean
from pmtui.wire import VERSION, Encoder, WireError, dumps

log = logging.getLogger(__name__)

SOCKET_NAME = "daemon.sock"
#: The longest request line a viewer may send ({"op":"pause","profile":…}): anything longer is not one.
MAX_REQUEST = 4096


# --- systemd ------------------------------------------------------------------------------------

def notify(message: str, *, environ: Mapping[str, str] = os.environ) -> bool:
    """Tell systemd `message` (e.g. "READY=1") over $NOTIFY_SOCKET; False when not under systemd
    or it did not take it (a notification is never worth failing for)."""
    address = environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]  # the abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as err:
        log.debug("sd_notify %s failed: %s", message, err)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between two WATCHDOG=1 (half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises),
    or None when systemd does not watch this process."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


# --- the socket's place ---------------------------------------------------------------------------

def socket_path(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_RUNTIME_DIR/pmtui/daemon.sock, else platformdirs' user runtime dir's (systemd's
    RuntimeDirectory=pmtui sets RUNTIME_DIRECTORY: the service's socket is there)."""
    if environ.get("RUNTIME_DIRECTORY"):
        return Path(environ["RUNTIME_DIRECTORY"].split(":")[0]) / SOCKET_NAME
    if environ.get("XDG_RUNTIME_DIR"):
        return Path(environ["XDG_RUNTIME_DIR"]) / "pmtui" / SOCKET_NAME
    import warnings

    import platformdirs

    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: its /tmp fallback, said by the directory checks
        warnings.simplefilter("ignore")
        return platformdirs.user_runtime_path("pmtui") / SOCKET_NAME


def private_problem(path: Path, *, kind: str) -> str | None:
    """Why `path` (a "directory" or "socket") is not private to this user, in a sentence; None
    when it is (owned by us, no access for group or others)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    is_kind = stat.S_ISDIR(st.st_mode) if kind == "directory" else stat.S_ISSOCK(st.st_mode)
    if not is_kind:
        return f"{path} is not a {kind}"
    if st.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        must = "700" if kind == "directory" else "600"
        return f"{path} may be opened by others (mode {stat.S_IMODE(st.st_mode):o}; it must be {must})"
    return None


def ours(path: Path) -> bool:
    """Whether `path` is a daemon socket a viewer may trust: its directory and itself private to
    this user."""
    return (path.exists() and private_problem(path.parent, kind="directory") is None
            and private_problem(path, kind="socket") is None)


def _private_dir(directory: Path) -> None:
    """Create the socket's directory 0700, or refuse one that is not private."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"Cannot create {directory} for the daemon's socket: {err.strerror or err}.") from None
    problem = private_problem(directory, kind="directory")
    parent = os.lstat(directory.parent)
    if problem is None and parent.st_uid not in (os.getuid(), 0):
        # Whoever owns the parent could swap the directory for one of their own.
        problem = f"{directory.parent} belongs to another user (uid {parent.st_uid})"
    if problem is not None:
        raise ConfigError(f"Refusing to put the daemon's socket there: {problem}.")


# --- the server -----------------------------------------------------------------------------------

class AttachServer:
    """The Unix socket viewers attach to. `publish(profile, state)` from the Monitors' subscribers;
    `requests(profile, op, paused)` is called for each viewer request."""

    def __init__(self, path: Path, hello: dict[str, Any],
                 on_request: Callable[[str | None, str, bool | None], None],
                 say: Callable[[str], None]) -> None:
        self.path = path
        self.hello = hello
        self.on_request = on_request
        self.say = say  # one sentence for the log
        self._encoders: dict[str, Encoder] = {}
        self._last: dict[str, MonitorState] = {}
        self._lines: dict[str, tuple[MonitorState, bytes]] = {}
        self._viewers: set[_Viewer] = set()
        self._server: asyncio.AbstractServer | None = None
        self._lock_fd: int | None = None
        self._count = 0

    async def start(self) -> None:
        """Take the path (refusing one that is not private, or that a live daemon holds) and listen."""
        _private_dir(self.path.parent)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"Another pmtui daemon is already running on {self.path}: stop it first,"
                              " or give this one its own --socket.") from None
        self._lock_fd = fd
        try:
            problem = private_problem(self.path, kind="socket")
            if problem is not None:
                raise ConfigError(f"Refusing to replace {self.path}: {problem.removeprefix(str(self.path) + ' ')}.")
            if self.path.exists():
                self.say(f"pmtui: note: replacing {self.path}, left by a daemon that did not stop cleanly")
                self.path.unlink()
            # Created 0600 from the start: no moment when another user could connect.
            old = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                               limit=MAX_REQUEST)
            finally:
                os.umask(old)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def aclose(self) -> None:
        """Stop listening, end every viewer's connection, remove the socket."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for viewer in list(self._viewers):
            viewer.task.cancel()
        await asyncio.gather(*(v.task for v in list(self._viewers)), return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        self._release()

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def publish(self, profile: str, state: MonitorState) -> None:
        """A new state of this account, for every viewer (never waits for any)."""
        self._last[profile] = state
        for viewer in self._viewers:
            viewer.mailbox.put(profile, state)

    def line(self, profile: str, state: MonitorState) -> bytes:
        """The state's message, encoded once however many viewers take it."""
        last = self._lines.get(profile)
        if last is not None and last[0] is state:
            return last[1]
        encoder = self._encoders.setdefault(profile, Encoder())
        line = dumps({"type": "state", "profile": profile, "state": encoder.state(state)})
        self._lines[profile] = (state, line)
        return line

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        viewer = _Viewer(self._count, asyncio.current_task())  # type: ignore[arg-type]
        self._viewers.add(viewer)
        for profile, state in self._last.items():
            viewer.mailbox.put(profile, state)
        writer.write(dumps({"type": "hello", **self.hello}))
        sender = asyncio.ensure_future(self._send(viewer, writer))
        try:
            why = await self._read(viewer, reader)
            if why is not None:
                self.say(f"pmtui: warning: disconnected viewer #{viewer.number}: it sent {why}")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # The daemon stops (aclose): the stream's own callback would report a cancelled
            # handler as an error with its traceback, so this one ends normally.
            pass
        finally:
            self._viewers.discard(viewer)
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _read(self, viewer: _Viewer, reader: asyncio.StreamReader) -> str | None:
        """Requests until the viewer hangs up (None), or why it is disconnected."""
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # the stream's limit: a line longer than any request
                return f"a line longer than {MAX_REQUEST} bytes"
            if not line:
                return None
            try:
                self._request(_request(line))
            except WireError as err:
                return str(err)

    def _request(self, request: dict[str, Any]) -> None:
        op, profile, paused = request.get("op"), request.get("profile"), request.get("paused")
        if op not in ("refresh", "pause") or not (profile is None or isinstance(profile, str)):
            raise WireError(f"a request the daemon does not know ({clean(json.dumps(request), 80)})")
        if op == "pause" and not (paused is None or isinstance(paused, bool)):
            raise WireError('a pause request whose "paused" is not true or false')
        if profile is not None and profile not in {p["profile"] for p in self.hello["profiles"] if not p["error"]}:
            raise WireError(f"a request for an account the daemon does not watch ({clean(profile, 40)!r})")
        self.on_request(profile, op, paused)

    async def _send(self, viewer: _Viewer, writer: asyncio.StreamWriter) -> None:
        """Each account's newest state as the viewer can take it: while it is slow, older ones are
        dropped (the encoding is the daemon's, once per state, not once per viewer)."""
        while True:
            profile, state = await viewer.mailbox.get()
            writer.write(self.line(profile, state))
            await writer.drain()


def _request(line: bytes) -> dict[str, Any]:
    """A viewer's request line: a JSON object with "op" (its "v", if given, this version)."""
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise WireError("a line that is not JSON") from None
    if not isinstance(request, dict):
        raise WireError("a line that is not a JSON object")
    if request.get("v", VERSION) != VERSION:
        raise WireError(f"protocol version {clean(str(request.get('v')), 20)!r}, not {VERSION}")
    return request


class _Viewer:
    def __init__(self, number: int, task: asyncio.Task[Any]) -> None:
        self.number = number
        self.task = task
        self.mailbox: Mailbox[str] = Mailbox()


def hello(profiles: Sequence[tuple[str, str | None]], *, demo: bool) -> dict[str, Any]:
    """The daemon's greeting: who it is and which accounts it watches (and why not, for some)."""
    from pmtui import __version__

    return {"pmtui": __version__, "pid": os.getpid(), "demo": demo,
            "profiles": [{"profile": p, "error": e} for p, e in profiles]}
