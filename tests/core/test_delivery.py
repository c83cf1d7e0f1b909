"""Alerts that reach a person: pmtui.delivery's apprise routes, repeats, heartbeat, `alerts test`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pmtui import cli
from pmtui.alerts import CLEARED, FIRED, AlertEvent
from pmtui.config import load_settings
from pmtui.delivery import INSTALL_HINT, Deliverer, Message, Route
from pmtui.demo import DemoExchange
from pmtui.errors import ConfigError
from pmtui.fleet import Account, FleetOptions, make_monitor
from pmtui.health import Level
from pmtui.settings import AlertSettings, Settings
from pmtui.state import MonitorState, StatusInfo

pytest.importorskip("apprise")

TOKEN = "s3cr3tT0kenAbc123"


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it (apprise's json:// plugin)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.gets: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.bodies.append(json.loads(data))
                    receiver.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - a heartbeat ping
                with receiver.lock:
                    receiver.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook?wait=0"

    def messages(self) -> list[str]:
        with self.lock:
            return [f"{b.get('title')} | {b.get('message')}" for b in self.bodies]

    async def wait_for(self, condition: Callable[[list[str]], bool], timeout: float = 5.0) -> list[str]:
        """Wait (at most `timeout` s) until the messages so far meet `condition`."""
        end = time.monotonic() + timeout
        while not condition(self.messages()):
            if time.monotonic() > end:
                raise AssertionError(f"not received within {timeout} s; got {self.messages()}")
            await asyncio.sleep(0.02)
        return self.messages()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def alerts(**routes: list[str]) -> AlertSettings:
    return AlertSettings(routes=routes, blind_for=None)


def event(level: Level = Level.CRITICAL, message: str = "uniMMR 1.02 is below 1.05.", state: str = FIRED,
          rule: str = "unimmr_below", subject: str = "account") -> AlertEvent:
    return AlertEvent(rule, subject, Decimal("1.02"), Decimal("1.5"), message, level, 1_736_942_400.0, state)


def status(*, age: float | None = 1.0, stale: bool = False, paused: bool = False) -> StatusInfo:
    return StatusInfo(paused=paused, stopped=False, stale=stale, error=None, age=age, last_ok_wall=None,
                      interval=2.0, next_in=None, fetching=False, latency_ms=None, used_weight=None,
                      offset_ms=None)


def state(st: StatusInfo, *events: AlertEvent) -> MonitorState:
    return MonitorState(seq=1, changed=frozenset(), view=None, verdict=None, status=st, alerts=tuple(events))


# --- the end-to-end proof ---------------------------------------------------------------------------


async def test_a_margin_call_reaches_a_json_route_within_5_s_again_after_repeat_and_clears(receiver):
    """A Monitor on a demo account in a margin call (uniMMR 1.02): the CRITICAL reaches a local
    HTTP receiver through apprise's json:// plugin, again once `repeat` has passed (a fake clock),
    and the all-clear after it clears."""
    clock = Clock()
    # uniMMR's rule alone, so the messages counted are its own.
    settings = Settings(alerts=AlertSettings(routes={"critical": [receiver.url]}, blind_for=False, repeat=300,
                                             status_not_normal=False, liq_distance_below=False, stale_for=False),
                        risk_model=False)
    monitor = make_monitor(settings, FleetOptions(demo=True), profile="alpha",
                           transport=DemoExchange(unimmr=1.02, seed=1, symbols=20))
    deliverer = Deliverer.for_accounts([Account("alpha", settings, monitor)], clock=clock)
    deliverer.start()
    runner = asyncio.ensure_future(monitor.run())
    try:
        (first,) = await receiver.wait_for(lambda m: len(m) == 1, timeout=5.0)
        assert first.startswith("pmtui CRITICAL: alpha | CRITICAL on alpha: uniMMR 1.01")  # reason and figures
        assert "is below 1.5 (liquidation band)" in first
        assert receiver.paths[0] == "/hook"
        count = 1

        clock.now += 299
        deliverer.tick()
        await deliverer.drain(5)
        assert len(receiver.messages()) == count  # not before `repeat`
        clock.now += 1
        deliverer.tick()
        got = await receiver.wait_for(lambda m: len(m) > count)
        assert got[count].startswith("pmtui CRITICAL (still): alpha | Still CRITICAL on alpha since ")

        # It clears: the all-clear goes where the alert went.
        deliverer.observe("alpha", state(status(), event(Level.OK, "uniMMR 1.60 is back above 1.53.", CLEARED)))
        got = await receiver.wait_for(lambda m: any("cleared" in x for x in m))
        assert "pmtui cleared: alpha | cleared on alpha: uniMMR 1.60 is back above 1.53." in got[-1]
        assert await deliverer.drain(5)
        route = deliverer.routes[0]
        assert route.sent == len(got) and route.failed == 0
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await deliverer.aclose()
        await monitor.aclose()


# --- routing ----------------------------------------------------------------------------------------


class Sent:
    """A sender that records what each route was sent (no network)."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.calls: list[tuple[str, Message]] = []
        self.answers = list(answers or [])

    async def __call__(self, route: Route, message: Message) -> bool:
        self.calls.append((route.url, message))
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, BaseException):
            raise answer
        if answer == "hang":
            await asyncio.Event().wait()
        return bool(answer)


async def test_each_event_goes_to_the_routes_of_its_own_level_and_its_all_clear_to_those_told():
    sent = Sent()
    d = Deliverer({"alpha": alerts(warn=["json://w/"], danger=["json://d/"], critical=["json://c/"]),
                   "bravo": alerts(critical=["json://c/", "json://b/"])}, sender=sent)
    assert [r.url for r in d.routes] == ["json://w/", "json://d/", "json://c/", "json://b/"]
    d.start()
    d.events("alpha", [event(Level.WARN, rule="upnl_below")])
    d.events("alpha", [event(Level.CRITICAL)])
    d.events("bravo", [event(Level.CRITICAL)])
    d.events("alpha", [event(Level.OK, "back", CLEARED)])
    d.events("alpha", [event(Level.OK, "never told", CLEARED, rule="stale_for")])  # nobody was told
    await d.drain(5)
    await d.aclose()
    got = sorted((url, m.title) for url, m in sent.calls)  # routes send side by side
    assert got == sorted([("json://w/", "pmtui WARN: alpha"), ("json://c/", "pmtui CRITICAL: alpha"),
                   ("json://c/", "pmtui CRITICAL: bravo"), ("json://b/", "pmtui CRITICAL: bravo"),
                   ("json://c/", "pmtui cleared: alpha")])


async def test_repeat_covers_only_critical_and_stops_when_the_engine_no_longer_holds_it():
    clock, sent = Clock(), Sent()
    d = Deliverer({"alpha": alerts(warn=["json://w/"], danger=["json://d/"], critical=["json://c/"])}, sender=sent,
                  clock=clock)
    d.events("alpha", [event(Level.DANGER, rule="liq_distance_below", subject="BTCUSDT:LONG")])
    d.events("alpha", [event(Level.CRITICAL)])
    d.events("alpha", [event(Level.WARN, rule="stale_for"), event(Level.OK, rule="liq_distance_below",
                                                                 subject="BTCUSDT:LONG", state=CLEARED)])
    d.events("alpha", [event(Level.CRITICAL, rule="stale_for", state="escalated")])
    assert [(r.url, m.title) for r in d.routes for m in _queued_on(r)] == [
        ("json://w/", "pmtui WARN: alpha"), ("json://d/", "pmtui DANGER: alpha"), ("json://d/", "pmtui cleared: alpha"),
        ("json://c/", "pmtui CRITICAL: alpha"), ("json://c/", "pmtui CRITICAL: alpha")]
    clock.now += 300
    d.tick()
    # Both CRITICALs are due (one message per rule), to the critical routes only.
    assert [(r.url, m.title) for r in d.routes for m in _queued_on(r)] == [
        ("json://c/", "pmtui CRITICAL (still): alpha"), ("json://c/", "pmtui CRITICAL (still): alpha")]
    clock.now += 299
    d.tick()
    assert _queued(d) == []

    class Engine:  # a Monitor's rule engine that cleared it without telling people (on_clear = false)
        def active(self) -> list[Any]:
            return []

    d._monitors["alpha"] = type("M", (), {"alerts": Engine()})()  # type: ignore[assignment]
    clock.now += 300
    d.tick()
    assert len(_queued(d)) == 0


async def until(condition: Callable[[], Any], timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def _queued_on(route: Route) -> list[Message]:
    out = []
    while not route.queue.empty():
        out.append(route.queue.get_nowait())
    return out


def _queued(d: Deliverer) -> list[Message]:
    return [m for route in d.routes for m in _queued_on(route)]


# --- failures: retried, counted, one sentence, never blocking ----------------------------------------


async def test_a_failing_route_is_retried_with_backoff_counted_and_said_once(caplog):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    url = f"json://user:{TOKEN}@127.0.0.1:{closed_port()}/x"  # refused: nothing listens there
    d = Deliverer({"alpha": alerts(critical=[url])}, sleep=sleep, tries=4, backoff=2.0)
    route = d.routes[0]
    assert TOKEN not in route.name and "****" in route.name
    with caplog.at_level(logging.WARNING, logger="pmtui"):
        assert not await d.deliver(route, Message("pmtui CRITICAL: alpha", "body", "failure"))
    assert slept == [2.0, 4.0, 8.0]
    assert (route.sent, route.retried, route.failed) == (0, 3, 1)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("pmtui")]
    assert len(lines) == 1 and lines[0].count(".") >= 1
    assert f"Alert route {route.name} could not deliver 'pmtui CRITICAL: alpha' after 4 tries" in lines[0]
    assert TOKEN not in caplog.text


async def test_a_flaky_route_succeeds_on_a_retry():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sent = Sent([False, RuntimeError(f"boom {TOKEN}"), True])
    d = Deliverer({"alpha": alerts(critical=["json://c/"])}, sender=sent, sleep=sleep)
    assert await d.deliver(d.routes[0], Message("t", "b"))
    assert slept == [2.0, 4.0] and (d.routes[0].sent, d.routes[0].retried, d.routes[0].failed) == (1, 2, 0)


async def test_a_slow_route_never_blocks_the_caller_and_a_full_queue_drops_and_counts(caplog):
    sent = Sent(["hang"] * 100)
    d = Deliverer({"alpha": alerts(critical=["json://slow/"])}, sender=sent, queue_size=3, timeout=60)
    d.start()
    route = d.routes[0]
    d.observe("alpha", state(status(), event()))
    await until(lambda: route.busy)  # the worker took it and hangs on it
    for _ in range(10):  # the Monitor's call, synchronous: it returns although the route hangs
        d.observe("alpha", state(status(), event()))
    assert route.dropped == 7 and route.queue.qsize() == 3  # bounded: 3 wait, the rest are counted
    await d.aclose(timeout=0.1)  # gives up on the hanging send: shutdown is not held either
    assert caplog.messages[0] == "Alert route json://… has 3 messages waiting; this one is dropped."


async def test_a_route_that_does_not_answer_in_time_is_a_failure_in_a_few_words():
    d = Deliverer({"alpha": alerts(critical=["json://slow/"])}, sender=Sent(["hang"]), timeout=0.05)
    assert await d.attempt(d.routes[0], Message("t", "b")) == (False, "no answer within 0.05 s")


# --- what a message may contain ---------------------------------------------------------------------


async def test_hostile_reason_text_reaches_the_route_as_plain_text(receiver):
    d = Deliverer({"al\x1b[2Jpha": alerts(critical=[receiver.url])})  # a profile name is text from a file
    d.start()
    hostile = "\x1b[31m\x1b]0;owned\x07[bold]BTC[/bold] <script>x</script>\r\nline2\x9b2J is near liquidation."
    d.events("al\x1b[2Jpha", [event(message=hostile)])
    (got,) = await receiver.wait_for(lambda m: len(m) == 1)
    await d.aclose()
    assert receiver.bodies[0]["title"] == "pmtui CRITICAL: alpha"
    body = receiver.bodies[0]["message"]
    assert body == "CRITICAL on alpha: [bold]BTC[/bold] <script>x</script> line2 is near liquidation. (12:00 UTC)"
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in body)


def test_alerts_test_says_per_route_redacted_whether_it_worked(receiver, tmp_path, capsys, caplog):
    refused = f"json://user:{TOKEN}@127.0.0.1:{closed_port()}/x"
    config = tmp_path / "config.toml"
    config.write_text(f'[alerts.routes]\ncritical = ["{receiver.url}", "{refused}"]\nwarn = ["{receiver.url}"]\n')
    config.chmod(0o600)
    code = cli.main(["alerts", "test", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ok      warn+critical") and f"json://127.0.0.1:{receiver.port}/hook" in lines[0]
    assert lines[1].startswith("FAILED  critical") and "json://user:****@127.0.0.1:" in lines[1]
    assert lines[1].endswith(": the service did not accept it or could not be reached")
    assert TOKEN not in out + err + caplog.text
    assert receiver.messages() == ["pmtui test | A test from pmtui: warn and critical alerts of default reach you"
                                   " here."]

    code = cli.main(["alerts", "test", "--config", str(config), "--level", "warn"])
    out, _ = capsys.readouterr()
    assert code == 0 and len(out.splitlines()) == 1 and out.startswith("ok      warn ")


def test_alerts_test_without_routes_says_so(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("[alerts]\nrepeat = 600\n")
    assert cli.main(["alerts", "test", "--config", str(config)]) == 1
    assert capsys.readouterr().err == ("pmtui: error: No alert routes are configured: add apprise URLs to"
                                       " [alerts.routes] in the config file (see config.example.toml).\n")


async def test_without_apprise_routes_give_one_sentence_and_nothing_breaks(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise raises ImportError
    d = Deliverer({"alpha": alerts(critical=[f"json://user:{TOKEN}@127.0.0.1/"])})
    assert d.problems == [INSTALL_HINT] and "install pmtui[alerts]" in INSTALL_HINT and not d.routes
    d.start()
    d.observe("alpha", state(status(), event()))  # nothing to send to, nothing raised
    await d.aclose()
    config = tmp_path / "config.toml"
    config.write_text(f'[alerts.routes]\ncritical = ["json://user:{TOKEN}@127.0.0.1/"]\n')
    config.chmod(0o600)
    assert await asyncio.to_thread(cli.main, ["alerts", "test", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"pmtui: error: {INSTALL_HINT}\n"


def test_a_url_apprise_does_not_know_is_left_out_with_a_sentence():
    d = Deliverer({"alpha": alerts(critical=[f"nosuchservice://{TOKEN}@host/"])})
    assert not d.routes
    assert d.problems == ["Alert route nosuchservice://… (critical) is not a URL apprise knows; it is left out"
                          " (see https://github.com/caronc/apprise/wiki)."]


# --- heartbeat --------------------------------------------------------------------------------------


async def test_an_account_not_seen_for_blind_for_is_a_critical_repeated_and_cleared():
    clock, sent = Clock(), Sent()
    d = Deliverer({"alpha": AlertSettings(routes={"critical": ["json://c/"]}, blind_for=300, repeat=600)},
                  sender=sent, clock=clock)
    d.observe("alpha", state(status(age=0.5)))
    d.tick()
    clock.now += 200
    d.observe("alpha", state(status(age=200.5, stale=True)))
    d.tick()
    assert _queued(d) == []  # 200 s blind: not yet
    clock.now += 100
    d.observe("alpha", state(status(age=300.5, stale=True)))
    d.tick()
    (fired,) = _queued(d)
    assert (fired.title, fired.body) == ("pmtui CRITICAL: alpha",
                                         "pmtui cannot see account alpha for 5 minutes: its data is STALE.")
    d.tick()
    assert _queued(d) == []  # once, not every second
    clock.now += 600  # the Monitor went silent too: repeated, with the new figure
    d.tick()
    (again,) = _queued(d)
    assert again.body == "pmtui cannot see account alpha for 15 minutes: its Monitor has stopped publishing."
    d.observe("alpha", state(status(age=1.0)))
    (cleared,) = _queued(d)
    assert (cleared.title, cleared.kind) == ("pmtui cleared: alpha", "success")
    assert cleared.body == "pmtui sees account alpha again; it could not for 15 minutes."


async def test_the_heartbeat_url_is_fetched_every_minute_only_while_every_account_is_current():
    clock = Clock()
    pinged: list[str] = []

    async def pinger(url: str, timeout: float) -> bool:
        pinged.append(url)
        return True

    url = f"https://hc-ping.com/{TOKEN}"
    both = AlertSettings(heartbeat_url=url)
    d = Deliverer({"alpha": both, "bravo": both}, pinger=pinger, clock=clock)
    d.observe("alpha", state(status()))
    d.tick()
    assert not d._tasks and pinged == []  # bravo has not been seen yet
    d.observe("bravo", state(status()))
    d.tick()
    d.tick()
    await until(lambda: d.pings_sent == 1)
    assert pinged == [url]  # once a minute, not once a tick
    clock.now += 60
    d.observe("alpha", state(status(stale=True, age=60)))
    d.observe("bravo", state(status()))
    d.tick()
    assert not d._tasks and pinged == [url]  # alpha is stale: silence, so healthchecks notices
    d.observe("alpha", state(status()))
    d.tick()
    await until(lambda: d.pings_sent == 2)
    assert pinged == [url, url]


async def test_the_heartbeat_url_gets_a_real_get(receiver):
    url = f"http://127.0.0.1:{receiver.port}/{TOKEN}"
    d = Deliverer({"alpha": AlertSettings(heartbeat_url=url)})
    d.observe("alpha", state(status()))
    d.tick()
    await until(lambda: d.pings_sent == 1, timeout=5)
    assert receiver.gets == [f"/{TOKEN}"]


async def test_a_heartbeat_url_that_fails_is_one_redacted_sentence(caplog):
    async def pinger(url: str, timeout: float) -> bool:
        raise OSError(f"cannot reach {url}")

    clock = Clock()
    d = Deliverer({"alpha": AlertSettings(heartbeat_url=f"https://hc-ping.com/{TOKEN}")}, pinger=pinger, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pmtui"):
        for expected in (1, 2):
            d.observe("alpha", state(status()))
            d.tick()
            await until(lambda: d.pings_failed == expected)  # noqa: B023 - awaited here
            clock.now += 60
    # Said once, not every minute.
    assert caplog.messages == ["The heartbeat URL https://hc-ping.com/… could not be reached (OSError); pmtui"
                               " tries again every minute."]


# --- settings ---------------------------------------------------------------------------------------


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_routes_load_per_profile_and_are_secret(tmp_path):
    path = _config(tmp_path, f'[alerts]\nrepeat = 600\n[alerts.routes]\ncritical = ["tgram://{TOKEN}/1"]\n'
                             '[profiles.work.alerts.routes]\nwarn = ["json://127.0.0.1/w"]\n')
    top = load_settings(config_path=path, env={})
    assert top.alerts.repeat == 600 and list(top.alerts.routes) == ["critical"]
    assert TOKEN not in repr(top) and TOKEN not in str(top.model_dump())
    work = load_settings(config_path=path, profile="work", env={})
    # A profile's routes table replaces the top level's as a whole.
    assert {k: [u.get_secret_value() for u in v] for k, v in work.alerts.routes.items()} == {
        "warn": ["json://127.0.0.1/w"]}
    assert work.alerts.route_urls() == ["json://127.0.0.1/w"]
    assert top.alerts.route_urls() == [f"tgram://{TOKEN}/1"]


@pytest.mark.parametrize(("text", "sentence"), [
    ('[alerts]\nroutes = "json://x/"\n',
     "routes in [alerts] of {path} must be a table ([alerts.routes]) of warn, danger and critical lists of"
     " apprise URLs, not a string."),
    ('[alerts.routes]\npage = ["json://x/"]\n',
     "routes in [alerts] of {path} has a level 'page'; the levels are warn, danger, critical."),
    (f'[alerts.routes]\ncritical = "tgram://{TOKEN}/1"\n',
     'routes.critical in [alerts] of {path} must be a list of apprise URLs in quotes, such as critical ='
     ' ["json://host/path"].'),
    (f'[alerts.routes]\nwarn = ["{TOKEN}"]\n',
     'routes.warn in [alerts] of {path}: entry 1 is not an apprise URL (like "tgram://bottoken/ChatID").'),
    ("[alerts]\nrepeat = 5\n", "repeat in [alerts] of {path} must be at least 60 and at most 86400 seconds"
                               " (got 5)."),
    (f'[alerts]\nheartbeat_url = "http://hc-ping.com/{TOKEN}"\n',
     "heartbeat_url in [alerts] of {path} must be an https:// URL (http:// only to a loopback test server),"
     " such as https://hc-ping.com/your-check-uuid."),
])
def test_bad_route_settings_are_one_sentence_without_the_url(tmp_path, text, sentence):
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=path, env={})
    assert caught.value.message == sentence.format(path=path)
    assert TOKEN not in caught.value.message


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_a_config_with_routes_must_be_private(tmp_path):
    path = _config(tmp_path, f'[alerts.routes]\ncritical = ["tgram://{TOKEN}/1"]\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="holds a secret but other users can read it"):
        load_settings(config_path=path, env={})


def test_route_urls_are_redacted_in_the_debug_log():
    from pmtui.fleet import secrets_of

    settings = Settings(alerts=AlertSettings(routes={"critical": [f"tgram://{TOKEN}/1"]},
                                             heartbeat_url=f"https://hc-ping.com/{TOKEN}x"))
    assert f"tgram://{TOKEN}/1" in secrets_of(settings) and f"https://hc-ping.com/{TOKEN}x" in secrets_of(settings)


# --- wired in: the dashboard and `pmtui watch` ------------------------------------------------------


def _demo_app(settings: Settings):
    from pmtui.client import PapiClient
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET
    from pmtui.signing import HmacSigner
    from pmtui.tui.app import PmtuiApp

    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET),
                        transport=DemoExchange(seed=7, symbols=20))
    return PmtuiApp(settings=settings, client=client, title="DEMO")


#: A rule that always holds on the demo account (its uniMMR is far below 1000), and a route per level.
def _always(url: str) -> AlertSettings:
    return AlertSettings(unimmr_below=1000, blind_for=False,
                         routes={lv: [url] for lv in ("warn", "danger", "critical")})


async def test_the_dashboard_sends_its_alerts_through_the_routes(receiver):
    app = _demo_app(Settings(interval=60, risk_model=False, alerts=_always(receiver.url)))
    async with app.run_test():
        got = await receiver.wait_for(lambda m: any("below 1000" in x for x in m))
    assert any(x.startswith("pmtui ") and ": default | " in x and "uniMMR" in x for x in got)


async def test_the_dashboard_says_in_one_toast_that_apprise_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)
    app = _demo_app(Settings(interval=60, risk_model=False, alerts=_always(f"json://u:{TOKEN}@127.0.0.1/")))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert [n.message for n in app._notifications][:1] == [INSTALL_HINT]


async def test_watch_sends_its_alerts_through_the_routes(receiver, tmp_path, capfd):
    import signal

    from pmtui import commands
    from pmtui.fleet import Fleet, select

    routes = "".join(f'{level} = ["{receiver.url}"]\n' for level in ("warn", "danger", "critical"))
    config = _config(tmp_path, f"risk_model = false\n[alerts]\nunimmr_below = 1000\n[alerts.routes]\n{routes}")
    options = FleetOptions(demo=True, config=config)
    fleet = Fleet.build(options, select(options), stream=True)
    watching = asyncio.ensure_future(commands.watch(fleet))
    printed: list[str] = []

    def on_its_line() -> bool:
        printed.append(capfd.readouterr().out)
        return "below 1000" in "".join(printed)

    try:
        await receiver.wait_for(lambda m: any("below 1000" in x for x in m))
        # The same alert on watch's line: the route and the line go their own ways, either first.
        deadline = asyncio.get_running_loop().time() + 15  # a hang's bound, not a measure
        while not on_its_line():
            assert asyncio.get_running_loop().time() < deadline, "".join(printed)
            await asyncio.sleep(0.05)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # watch's own handler ends it, as a supervisor would
        assert await asyncio.wait_for(watching, 10) == 143


def test_the_demo_never_pings_the_heartbeat_url(tmp_path):
    from pmtui.fleet import select

    config = _config(tmp_path, f'[alerts]\nheartbeat_url = "https://hc-ping.com/{TOKEN}"\n')
    assert load_settings(config_path=config, env={}).alerts.heartbeat_url is not None
    for options in (FleetOptions(demo=True, config=config), FleetOptions(demo=True, all_profiles=True, config=config)):
        assert all(a.settings is not None and a.settings.alerts.heartbeat_url is None for a in select(options))


async def test_a_failure_sentence_goes_to_on_problem_when_given(caplog):
    """The dashboard toasts it and watch writes it on stderr, instead of the log."""
    async def sleep(seconds: float) -> None:
        pass

    said: list[str] = []
    d = Deliverer({"alpha": alerts(critical=["json://c/"])}, sender=Sent([False] * 4), sleep=sleep,
                  on_problem=said.append)
    with caplog.at_level(logging.WARNING, logger="pmtui"):
        assert not await d.deliver(d.routes[0], Message("pmtui CRITICAL: alpha", "b"))
    assert said == ["Alert route json://… could not deliver 'pmtui CRITICAL: alpha' after 4 tries (the service did"
                    " not accept it or could not be reached)."]
    assert caplog.messages == []


def test_metrics_count_each_routes_messages_without_its_url():
    from prometheus_client import generate_latest

    from pmtui import metrics
    from pmtui.fleet import Fleet

    d = Deliverer({"alpha": AlertSettings(routes={"critical": [f"json://u:{TOKEN}@127.0.0.1/c"],
                                                  "warn": [f"json://u:{TOKEN}@127.0.0.1/c", "json://127.0.0.1/w"]},
                                          heartbeat_url=f"https://hc-ping.com/{TOKEN}")}, sender=Sent())
    first, second = d.routes
    first.sent, first.retried, first.failed, second.dropped, d.pings_failed = 3, 2, 1, 4, 5
    collector = metrics.FleetCollector(Fleet([], FleetOptions()))
    collector.deliverer = d
    text = generate_latest(metrics.registry_of(collector)).decode()
    assert 'pmtui_alert_messages_total{result="sent",route="1:warn+critical"} 3.0' in text
    assert 'pmtui_alert_messages_total{result="failed",route="1:warn+critical"} 1.0' in text
    assert 'pmtui_alert_messages_total{result="dropped",route="2:warn"} 4.0' in text
    assert 'pmtui_heartbeat_pings_total{result="failed"} 5.0' in text
    assert TOKEN not in text and "127.0.0.1" not in text and "hc-ping" not in text


def test_a_viewer_attached_to_the_daemon_leaves_delivery_to_the_daemon():
    """N dashboards on one daemon must not page N times: a RemoteMonitor's account gets no route."""

    class Remote:
        remote = True

        def subscribe(self, callback: Any) -> Callable[[], None]:
            raise AssertionError("a viewer's deliverer must not follow the daemon's states")

    settings = Settings(alerts=alerts(critical=["json://127.0.0.1:1/"]))
    deliverer = Deliverer.for_accounts([Account("alpha", settings, Remote())])  # type: ignore[arg-type]
    assert not deliverer.active and deliverer.settings == {}
