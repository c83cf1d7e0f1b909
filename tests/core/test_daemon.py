"""`pmtui daemon`: the Fleet headless until SIGTERM, systemd's notifications, the private Unix
socket viewers attach to, and the viewers (watch, check) that render its states with no request
of their own.

The daemon runs in-process on the demo (or on the local PAPI server) wherever it can; one test
starts it as a real process to stop it with SIGTERM as systemd would. Waits are bounded waits for
a condition, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pmtui import attach, commands, wire
from pmtui.daemon import AttachServer, hello, notify, ours, socket_path, watchdog_interval
from pmtui.errors import ConfigError
from pmtui.fleet import Fleet, FleetOptions, select
from pmtui.ledger import DAY_MS, Ledger
from pmtui.state import DATA, MonitorState

REPO = Path(__file__).resolve().parents[2]


async def until(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Notifications:
    """A local stand-in for systemd's $NOTIFY_SOCKET: a Unix datagram socket, messages kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.seen: list[str] = []

    def read(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.seen

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A short private directory for sockets (a Unix socket path has ~100 bytes at most)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pmtui-", dir="/tmp"))
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --- systemd ---------------------------------------------------------------------------------------

def test_notify_sends_a_datagram_to_the_notify_socket_and_nothing_without_one(run_dir):
    n = Notifications(run_dir / "notify")
    try:
        assert notify("READY=1", environ={"NOTIFY_SOCKET": str(n.path)})
        assert notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": str(n.path)})
        assert n.read() == ["READY=1", "WATCHDOG=1"]
    finally:
        n.close()
    assert not notify("READY=1", environ={})  # not under systemd
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": str(run_dir / "gone")})  # never raises


def test_notify_reaches_an_abstract_namespace_socket():
    name = f"pmtui-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert notify("STOPPING=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"STOPPING=1"
    finally:
        sock.close()


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None


def test_the_socket_lives_in_the_runtime_dir():
    assert socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"}) == Path("/run/user/1000/pmtui/daemon.sock")
    # systemd's RuntimeDirectory=pmtui
    assert socket_path({"RUNTIME_DIRECTORY": "/run/pmtui", "XDG_RUNTIME_DIR": "/x"}) == Path("/run/pmtui/daemon.sock")


# --- the daemon, end to end on the demo -----------------------------------------------------------

async def test_daemon_runs_the_demo_tells_systemd_streams_states_and_stops_cleanly_on_sigterm(run_dir, capfd):
    n = Notifications(run_dir / "notify")
    path = run_dir / "sock" / "daemon.sock"
    fleet = Fleet.build(FleetOptions(demo=True), stream=True)
    monitor = fleet.accounts[0].monitor
    ready = asyncio.Event()
    env = {"NOTIFY_SOCKET": str(n.path), "WATCHDOG_USEC": "100000"}
    task = asyncio.ensure_future(commands.daemon(fleet, socket=path, environ=env, ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        assert "READY=1" in n.read()
        await until(lambda: "WATCHDOG=1" in n.read(), "the watchdog")
        # The socket and its directory are private; a viewer gets a hello, then the states.
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert ours(path)
        found, why = await asyncio.to_thread(attach.probe, path)
        assert why is None and found is not None and found.demo and found.watched == ["demo"]
        reader, writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE)
        assert wire.loads(await reader.readline())["type"] == "hello"
        message = wire.loads(await reader.readline())
        assert message["type"] == "state" and message["profile"] == "demo"
        state = wire.Decoder().state(message["state"])
        assert state.view is not None and state.view.pm is not None
    finally:
        if not task.done():  # its handler is installed while it runs (else: the test's own process)
            os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops it
        code = await asyncio.wait_for(task, 20)
        stopping = "STOPPING=1" in n.read()
        n.close()
    assert code == 0 and stopping
    # The viewer still attached at the stop was let go (end of stream), without a traceback.
    while await asyncio.wait_for(reader.readline(), 5):
        pass
    writer.close()
    assert not path.exists()  # the socket removed
    assert monitor is not None and monitor._closed and monitor.client._http.is_closed
    err = capfd.readouterr().err
    # The log: watch's sentences, one line per event, and no traceback.
    assert "uniMMR " in err and " · LIVE" in err and "Traceback" not in err
    assert err.splitlines()[0].startswith("pmtui: daemon watching 1 account")


async def test_the_daemon_serves_its_accounts_metrics_and_stops_serving_them_with_it(run_dir, capfd):
    import re

    import httpx

    fleet = Fleet.build(FleetOptions(demo=True), stream=True)
    ready = asyncio.Event()
    task = asyncio.ensure_future(commands.daemon(fleet, socket=run_dir / "sock" / "daemon.sock",
                                                 metrics_address="127.0.0.1:0", environ={}, ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        said = capfd.readouterr().err  # the address is said before the daemon is ready
        url = re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", said)
        assert url is not None, said
        async with httpx.AsyncClient() as http:
            body = ""

            async def scraped() -> bool:
                nonlocal body
                body = (await http.get(url.group(1))).text
                return 'pmtui_unimmr{profile="demo"}' in body

            deadline = time.monotonic() + 15
            while not await scraped():
                assert time.monotonic() < deadline, body[-500:]
                await asyncio.sleep(0.05)
    finally:
        if not task.done():
            os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(task, 20)
    assert code == 0
    with pytest.raises(httpx.ConnectError):  # closed with the daemon
        httpx.get(url.group(1), timeout=2)


def test_a_daemon_process_stops_cleanly_on_sigterm(run_dir):
    """The one real process: started as systemd would, READY=1, then SIGTERM: exit 0."""
    n = Notifications(run_dir / "notify")
    n.sock.settimeout(60)
    path = run_dir / "s" / "daemon.sock"
    proc = subprocess.Popen([sys.executable, "-m", "pmtui", "--demo", "daemon", "--socket", str(path)], cwd=REPO,
                            env={**os.environ, "NOTIFY_SOCKET": str(n.path)}, stderr=subprocess.PIPE, text=True)
    try:
        n.sock.setblocking(True)
        assert n.sock.recv(100) == b"READY=1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert n.sock.recv(100) == b"STOPPING=1"
    finally:
        if proc.poll() is None:
            proc.kill()
        n.close()
    err = proc.stderr.read()
    assert "Traceback" not in err and err.rstrip().endswith("pmtui: daemon stopped"), err
    assert not path.exists()


# --- the socket: private, one daemon, stale files, bad viewers -------------------------------------

def server(path: Path, requests: list | None = None, said: list | None = None) -> AttachServer:
    return AttachServer(path, hello([("main", None)], demo=False),
                        lambda *r: (requests if requests is not None else []).append(r),
                        (said if said is not None else []).append)


async def test_a_directory_others_may_open_is_refused(run_dir):
    d = run_dir / "open"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    with pytest.raises(ConfigError, match=r"may be opened by others \(mode 755; it must be 700\)"):
        await server(d / "daemon.sock").start()


async def test_a_socket_path_that_is_not_a_socket_is_never_replaced(run_dir):
    d = run_dir / "d"
    d.mkdir(mode=0o700)
    (d / "daemon.sock").write_text("someone's file")
    with pytest.raises(ConfigError, match="is not a socket"):
        await server(d / "daemon.sock").start()
    assert (d / "daemon.sock").read_text() == "someone's file"


async def test_a_stale_socket_is_replaced_and_a_second_daemon_is_refused(run_dir):
    path = run_dir / "d" / "daemon.sock"
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a daemon that crashed: the file is there, nobody listens
    dead.close()
    path.chmod(0o600)
    said: list[str] = []
    first = server(path, said=said)
    await first.start()
    try:
        assert any("replacing" in s and "did not stop cleanly" in s for s in said)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(ConfigError, match="Another pmtui daemon is already running on"):
            await server(path).start()
        assert path.exists()  # the second one took nothing away from the first
        found, why = await asyncio.to_thread(attach.probe, path)
        assert found is not None and found.watched == ["main"]
    finally:
        await first.aclose()
    assert not path.exists()


def state_of(seq: int, changed: frozenset[str] = frozenset({DATA})) -> MonitorState:
    from pmtui.state import StatusInfo

    return MonitorState(seq=seq, changed=changed, view=None, verdict=None, status=StatusInfo(
        paused=False, stopped=False, stale=False, error=None, age=1.0, last_ok_wall=None, interval=5.0,
        next_in=None, fetching=False, latency_ms=None, used_weight=None, offset_ms=None),
        account_note="x" * 20_000)  # a big state: a viewer that does not read soon fills its socket


async def test_a_viewer_speaking_garbage_or_a_huge_line_is_disconnected_and_the_daemon_goes_on(run_dir):
    path = run_dir / "d" / "daemon.sock"
    said: list[str] = []
    requests: list[tuple] = []
    s = server(path, requests, said)
    await s.start()
    try:
        for garbage, sentence in ((b"\x1b[2Jhello\n", "a line that is not JSON"),
                                  (b'{"op":"format disk"}\n', "a request the daemon does not know"),
                                  (b"{" * 10_000, "a line longer than 4096 bytes")):
            reader, writer = await asyncio.open_unix_connection(str(path))
            await reader.readline()  # hello
            writer.write(garbage)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # disconnected
            writer.close()
            await until(lambda sentence=sentence: any(sentence in line for line in said), sentence)
        assert all(line.startswith("pmtui: warning: disconnected viewer #") for line in said)
        # The daemon goes on: a viewer that speaks the protocol is served, its requests taken.
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert wire.loads(await reader.readline())["type"] == "hello"
        writer.write(b'{"op":"refresh"}\n{"v":1,"op":"pause","profile":"main","paused":true}\n')
        await until(lambda: len(requests) == 2, "two requests")
        assert requests == [(None, "refresh", None), ("main", "pause", True)]
        s.publish("main", state_of(7))
        message = wire.loads(await asyncio.wait_for(reader.readline(), 5))
        assert message["type"] == "state" and message["state"]["seq"] == 7
        writer.close()
    finally:
        await s.aclose()


async def test_a_slow_viewer_never_holds_the_daemon_up_and_gets_the_newest_state(run_dir):
    path = run_dir / "d" / "daemon.sock"
    s = server(path)
    await s.start()
    try:
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # connects, never reads
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(str(path))
        reader, writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE)
        await reader.readline()
        await until(lambda: s.viewers == 2, "two viewers")
        for seq in range(1, 301):  # ~6 MB of states: far more than the slow viewer's socket holds
            s.publish("main", state_of(seq))  # never waits for anyone (it cannot: it is not a coroutine)
            await asyncio.sleep(0)
        seqs = []
        while not seqs or seqs[-1] != 300:
            seqs.append(wire.loads(await asyncio.wait_for(reader.readline(), 10))["state"]["seq"])
        assert seqs == sorted(seqs)  # in order, older ones dropped while the reader was behind
        slow_viewer = next(v for v in s._viewers if v.number == 1)
        # Its sender is stuck on a full socket, and one state waits for it: the newest.
        assert len(slow_viewer.mailbox) == 1 and slow_viewer.mailbox._waiting["main"].seq == 300
        writer.close()
        slow.close()
    finally:
        await s.aclose()


# --- states on the wire -----------------------------------------------------------------------------

async def test_a_state_makes_the_round_trip_exactly():
    fleet = Fleet.build(FleetOptions(demo=True, scenario="margin-call"))
    monitor = fleet.accounts[0].monitor
    async with monitor:
        state = await monitor.fetch_once(markets=True, ledger=Ledger(lookback_ms=DAY_MS, clock=fleet.clock))
    assert state.ledger is not None and state.ledger.entries  # a day of the demo's funding and interest
    line = wire.dumps({"type": "state", "profile": "demo", "state": wire.Encoder().state(state)})
    assert b"\n" not in line[:-1]
    back = wire.Decoder().state(wire.loads(line)["state"])
    for name in state.__dataclass_fields__:
        if name not in ("view", "risk"):
            assert getattr(back, name) == getattr(state, name), name
    assert back.view.open_positions == state.view.open_positions and back.view.assets == state.view.assets
    assert back.view.level == state.view.level and back.verdict == state.verdict
    assert back.risk.base == state.risk.base and back.risk.liquidation_move() == state.risk.liquidation_move()
    # The exchange's own strings, exactly: JSON output attached is the same bytes.
    assert back.pm.raw == state.pm.raw and [p.raw for p in back.account.positions] == [
        p.raw for p in state.account.positions]
    from pmtui import output

    assert output.watch_json(back, back.changed, []) == output.watch_json(state, state.changed, [])
    assert [e.raw for e in back.ledger.entries] == [e.raw for e in state.ledger.entries]  # the viewer's `f`
    assert output.watch_line(back) == output.watch_line(state)


async def test_the_marks_status_reaches_an_attached_viewer_and_goes_with_the_daemon(tmp_path):
    """An attached dashboard's status bar says what the daemon's says: `marks ✓`, or `marks:
    polling` and the sentence; a daemon from before the marks sends neither (not live); a daemon
    gone prices nothing live."""
    import dataclasses

    from pmtui.settings import Settings

    polling = "The COIN-M mark price stream has no price for NEWUSD_PERP. Prices come from polling."
    for live, note in ((True, None), (False, polling)):
        state = state_of(4)
        state = dataclasses.replace(state, status=dataclasses.replace(state.status, marks_live=live, marks_note=note))
        back = wire.Decoder().state(json.loads(json.dumps(wire.Encoder().state(state))))
        assert (back.marks_live, back.status.marks_note) == (live, note)
    old = wire.Encoder().state(state)
    del old["status"]["marks_live"], old["status"]["marks_note"]
    back = wire.Decoder().state(old)
    assert not back.marks_live and back.status.marks_note is None
    with pytest.raises(wire.WireError):
        bad = wire.Encoder().state(state)
        bad["status"]["marks_note"] = {"x": 1}
        wire.Decoder().state(bad)
    viewer = attach.RemoteMonitor("main", Settings(), attach.Attachment(tmp_path / "d.sock", demo=False))
    viewer.receive(dataclasses.replace(state, status=dataclasses.replace(state.status, marks_live=True,
                                                                         marks_note=None)))
    assert viewer.state.marks_live
    viewer.lost("connection refused")
    assert not viewer.state.marks_live and viewer.state.status.stale


def test_a_state_with_a_fault_and_alerts_keeps_their_types():
    from decimal import Decimal

    from pmtui.alerts import AlertEvent
    from pmtui.errors import RateLimited
    from pmtui.health import Level

    state = state_of(3)
    err = RateLimited("Too many requests.", status=429, retry_after=3)
    part = AlertEvent("x", "BTCUSDT:LONG", "text", None, "m", Level.WARN, 1.0)
    event = AlertEvent("unimmr_below", "account", Decimal("1.1900"), 1.2, "uniMMR 1.19 is below 1.2.",
                       Level.DANGER, 1.5e9, items=(part,))
    import dataclasses

    state = dataclasses.replace(state, status=dataclasses.replace(state.status, error=err, stale=True),
                                alerts=(event,))
    back = wire.Decoder().state(json.loads(json.dumps(wire.Encoder().state(state))))
    assert back.alerts == (event,) and isinstance(back.alerts[0].value, Decimal)
    assert type(back.status.error) is RateLimited and back.status.error.message == "Too many requests."
    assert back.status.error.status == 429 and back.status.word == "NO DATA" or back.status.word == "STALE"


def test_a_state_that_does_not_read_is_a_wire_error():
    with pytest.raises(wire.WireError, match="a state that does not read"):
        wire.Decoder().state({"seq": 1})
    with pytest.raises(wire.WireError, match="protocol version"):
        wire.loads(b'{"v": 99, "type": "hello"}')


# --- viewers attached ---------------------------------------------------------------------------------

async def test_watch_and_check_attached_make_no_requests_of_their_own(live, run_dir, capfd, monkeypatch):
    """The daemon polls the local exchange; viewers whose settings point at a second one get
    their states from the daemon and never ask it anything (without the daemon they would)."""
    from pmtui import cli
    from tests.support.papi_server import PapiServer

    path = run_dir / "d" / "daemon.sock"
    ready = asyncio.Event()
    task = asyncio.ensure_future(commands.daemon(Fleet.build(FleetOptions(), stream=True), socket=path,
                                                 environ={}, ready=ready.set))
    other = PapiServer().start()
    try:
        await asyncio.wait_for(ready.wait(), 20)
        monkeypatch.setenv("PMTUI_BASE_URL", other.base_url)
        capfd.readouterr()
        # check, through the CLI (in a thread: its own event loop), as cron runs it
        code = await asyncio.to_thread(cli.main, ["check", "--socket", str(path)])
        out, err = capfd.readouterr()
        assert code == 0 and out.startswith("PMTUI OK - uniMMR "), out
        assert f"pmtui: attached to the pmtui daemon on {path}" in err
        # watch, on the fleet the CLI would attach (in this loop, beside the daemon)
        found, _ = await asyncio.to_thread(attach.probe, path)
        assert found is not None
        fleet, _ = attach.attached_fleet(FleetOptions(), select(FleetOptions()), found, path)
        assert fleet is not None
        watching = asyncio.ensure_future(commands.watch(fleet))
        printed: list[str] = []
        await until(lambda: printed.append(capfd.readouterr().out) or "uniMMR " in "".join(printed), "a line")
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        assert " · LIVE" in "".join(printed)
        assert other.count() == 0  # not one request from either viewer: with polling, the UM account at least
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        other.stop()


async def test_a_dashboards_remote_monitor_goes_stale_when_the_daemon_dies_and_comes_back_with_it(run_dir):
    from pmtui.settings import Settings

    path = run_dir / "d" / "daemon.sock"
    requests: list[tuple] = []
    first = server(path, requests)
    await first.start()
    found, _ = await asyncio.to_thread(attach.probe, path)
    assert found is not None
    fleet, said = attach.attached_fleet(FleetOptions(profiles=("main",)), [_account("main", Settings())], found, path)
    assert fleet is not None and said.startswith("attached to the pmtui daemon on")
    monitor = fleet.accounts[0].monitor
    assert isinstance(monitor, attach.RemoteMonitor)
    monitor.attachment.reconnect = 0.05
    seen: list[MonitorState] = []
    monitor.subscribe(seen.append)
    runner = asyncio.ensure_future(monitor.run())
    try:
        await until(lambda: first.viewers == 1, "the viewer")
        first.publish("main", state_of(5))
        await until(lambda: monitor.state.seq == 5, "the daemon's state")
        assert monitor.state.status.word == "LIVE"
        monitor.refresh_now()  # `r` in the viewer: a request to the daemon
        monitor.set_paused(True)
        await until(lambda: len(requests) == 2, "the requests")
        assert requests == [("main", "refresh", None), ("main", "pause", True)]
        await first.aclose()  # the daemon dies
        await until(lambda: monitor.state.status.word == "STALE", "STALE")
        gone = monitor.state
        assert gone.status.error is not None and "The pmtui daemon went away" in gone.status.error.message
        assert any(n.title == "Daemon" for s in seen for n in s.notices)
        await until(lambda: monitor.state.status.age is not None and monitor.state.status.age > 1.0, "ages going on")
        second = server(path)  # it comes back
        await second.start()
        try:
            await until(lambda: second.viewers == 1, "the reattached viewer")
            second.publish("main", state_of(1))
            await until(lambda: monitor.state.seq == 1 and monitor.state.status.word == "LIVE", "LIVE again")
        finally:
            await second.aclose()
    finally:
        await monitor.aclose()
        await asyncio.gather(runner, return_exceptions=True)


def _account(profile: str, settings: Any) -> Any:
    from pmtui.fleet import Account

    return Account(profile, settings)


async def test_a_viewer_does_not_attach_to_the_demo_nor_to_a_daemon_without_its_account(run_dir):
    from pmtui.settings import Settings

    demo = attach.Hello("1", 1, True, (("demo", None),))
    fleet, why = attach.attached_fleet(FleetOptions(), [_account("default", Settings())], demo, run_dir)
    assert fleet is None and "runs the demo" in why
    real = attach.Hello("1", 1, False, (("alpha", None), ("beta", "No API key")))
    fleet, why = attach.attached_fleet(FleetOptions(profiles=("beta",)), [_account("beta", Settings())], real, run_dir)
    assert fleet is None and why.endswith("does not watch beta")


async def test_the_dashboard_attached_renders_the_daemons_states_and_goes_stale_when_it_dies(run_dir):
    from pmtui.settings import Settings
    from pmtui.tui.app import PmtuiApp
    from pmtui.tui.widgets.status import StatusBar
    from tests.support.harness import rendered, wait_until

    def status(app: PmtuiApp) -> str:
        return " ".join(rendered(app.query_one(StatusBar)).split())

    fleet = Fleet.build(FleetOptions(demo=True))
    demo = fleet.accounts[0].monitor
    async with demo:
        state = await demo.fetch_once(risk=False)
    path = run_dir / "d" / "daemon.sock"
    requests: list[tuple] = []
    daemon = AttachServer(path, hello([("demo", None)], demo=True), lambda *r: requests.append(r), lambda _: None)
    await daemon.start()
    daemon.publish("demo", state)
    found, _ = await asyncio.to_thread(attach.probe, path)
    attached, _ = attach.attached_fleet(FleetOptions(demo=True), [_account("demo", Settings())], found, path)
    assert attached is not None
    attached.accounts[0].monitor.attachment.reconnect = 0.05
    app = PmtuiApp.for_fleet(attached)
    app.remember_theme = False
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.view is not None, what="the daemon's state")
            assert app.view.pm.uniMMR == state.pm.uniMMR and len(app.view.open_positions) == 13
            await pilot.press("r")
            await wait_until(pilot, lambda: requests == [("demo", "refresh", None)], what="r sent")
            await daemon.aclose()
            await wait_until(pilot, lambda: "STALE" in status(app), what="STALE")
            assert "The pmtui daemon went away" in status(app)
    finally:
        await daemon.aclose()


async def test_check_attached_to_a_daemon_of_several_accounts_judges_them_all(run_dir, capfd):
    options = FleetOptions(demo=True, all_profiles=True)
    path = run_dir / "d" / "daemon.sock"
    ready = asyncio.Event()
    task = asyncio.ensure_future(commands.daemon(Fleet.build(options, stream=True), socket=path, environ={},
                                                 ready=ready.set))
    try:
        await until(lambda: ready.is_set() or task.done(), "the daemon ready", 20)
        assert not task.done(), task.result()
        found, _ = await asyncio.to_thread(attach.probe, path)
        assert found is not None and found.watched == ["alpha", "bravo", "charlie"]
        fleet, _ = attach.attached_fleet(options, select(options), found, path)
        assert fleet is not None
        capfd.readouterr()
        code = await asyncio.wait_for(commands.check(fleet), 20)  # one connection, closed once by the fleet
        out = capfd.readouterr().out
        assert code == 2 and out.startswith("PMTUI CRITICAL - charlie: ") and "3 accounts checked" in out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_viewer_says_why_it_polls_and_attach_insists(run_dir, capsys):
    from pmtui import cli

    assert cli.main(["--demo", "watch", "--attach", "--no-attach"]) == 2
    assert "--attach and --no-attach ask for opposite things" in capsys.readouterr().err
    nowhere = run_dir / "none.sock"
    assert cli.main(["--demo", "check", "--attach", "--socket", str(nowhere)]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("PMTUI UNKNOWN - --attach: no pmtui daemon runs on") and err.count("\n") == 1
    # A socket left by a daemon that crashed: the viewer says so, and polls by itself.
    path = run_dir / "d" / "daemon.sock"
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    path.chmod(0o600)
    assert cli.main(["--demo", "check", "--socket", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("PMTUI OK - ")
    assert err == f"pmtui: polling the exchange itself: no pmtui daemon answers on {path} (left by one that stopped)\n"
    # One that others may open is not trusted, not even tried.
    path.chmod(0o666)
    assert cli.main(["--demo", "check", "--attach", "--socket", str(path)]) == 3
    assert "is not private to you, so pmtui does not trust it" in capsys.readouterr().err


def test_the_daemon_watches_every_profile_of_the_config_file_unless_some_are_named(tmp_path):
    from pmtui.cli import _daemon_options

    config = tmp_path / "config.toml"
    config.write_text('[profiles.alpha]\napi_key = "k"\napi_secret = "s"\n')
    assert _daemon_options(FleetOptions(config=config)).all_profiles
    assert _daemon_options(FleetOptions(config=config, profiles=("alpha",))) == FleetOptions(
        config=config, profiles=("alpha",))
    assert not _daemon_options(FleetOptions()).all_profiles  # no config file: the one default account
    assert not _daemon_options(FleetOptions(demo=True)).all_profiles  # --demo: the demo account
