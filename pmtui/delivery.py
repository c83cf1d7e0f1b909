"""Alerts that reach a person off the terminal: apprise routes per level, a CRITICAL repeated
while it holds, an alert when pmtui cannot see an account, and a dead-man URL.

`Deliverer` is fed what every account's Monitor publishes (`observe(profile, state)`; `attach`
subscribes it to a fleet's monitors, as the dashboard, `watch` and the daemon do). It never
blocks its caller: each route has a bounded queue and a task of its own that sends through
apprise in a thread, retries with backoff (`sleep` is injected, as the clock is) and counts what
it sent, retried, failed and dropped (`Route.sent`, `.retried`, `.failed`, `.dropped`, and
`Deliverer.pings_sent`, `.pings_failed` for the heartbeat URL: what metrics read). A failure
is one log sentence naming the route as apprise's privacy mode shows it: a URL carries a token,
so it is never shown whole.

Routing: an event goes to the routes of its own level (a CRITICAL to `critical`, not also to
`warn`: list a URL under several levels to get them all); its all-clear goes to every route that
was told of it. A CRITICAL is sent again every `repeat` seconds while it holds. An account with no
current data for `blind_for` seconds (stale, unreachable, a revoked key, refreshing paused, a
Monitor that stopped publishing) is a CRITICAL of its own, "pmtui cannot see account X for N
minutes", cleared when it is current again. While an account is current, its `heartbeat_url` is
fetched (GET) every minute, so a dead host is noticed from outside (healthchecks.io style).

apprise is optional (the `alerts` extra): without it, routes give one sentence in `problems` and
nothing is sent; everything else goes on.

Use (the dashboard, `watch`, the daemon)::

    deliverer = Deliverer.for_accounts(fleet.watched)  # subscribes to each Monitor
    for sentence in deliverer.problems: ...           # say each once
    deliverer.start()                                 # on the running loop
    ...
    await deliverer.aclose()                          # a moment for what is queued, then stop

A caller with events but no Monitor (states from elsewhere) calls `observe(profile, state)` or
`events(profile, events)` itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pmtui.alerts import CLEARED, AlertEvent
from pmtui.health import Level
from pmtui.settings import ROUTE_LEVELS, AlertSettings
from pmtui.text import clean

if TYPE_CHECKING:
    from pmtui.fleet import Account
    from pmtui.monitor import Monitor
    from pmtui.state import MonitorState

log = logging.getLogger(__name__)

INSTALL_HINT = ("Alert routes are configured but apprise is not installed: install pmtui[alerts]"
                " (pip install 'pmtui[alerts]'); until then alerts reach only this terminal.")
#: The route level an event's level goes to.
LEVEL_ROUTE = {Level.WARN: "warn", Level.DANGER: "danger", Level.CRITICAL: "critical"}
#: apprise's notify types (apprise.NotifyType's values), by what a message says.
FAILURE, WARNING, SUCCESS, INFO = "failure", "warning", "success", "info"
#: The heartbeat alert's rule name (an AlertEvent's rule names the others).
BLIND = "blind_for"
#: Seconds between two fetches of a heartbeat URL.
PING_EVERY = 60.0
#: An account whose Monitor published nothing for this long is not current, whatever it last said.
SILENT_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: plain text (apprise escapes it for HTML or Markdown services)."""

    title: str
    body: str
    kind: str = INFO  # an apprise notify type


class Route:
    """One apprise URL and the (profile, level) pairs it takes, with its counters."""

    def __init__(self, url: str, name: str, target: Any, queue_size: int) -> None:
        self.url = url  # the secret: never shown, never logged
        self.name = name  # the URL as apprise's privacy mode shows it
        self.target = target  # an apprise.Apprise holding this one URL
        self.wants: set[tuple[str, str]] = set()
        self.sent = self.failed = self.retried = self.dropped = 0
        self.queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        self.busy = False

    @property
    def levels(self) -> list[str]:
        return [level for level in ROUTE_LEVELS if any(lv == level for _, lv in self.wants)]

    def __repr__(self) -> str:  # never the URL
        return f"Route({self.name}, sent={self.sent}, failed={self.failed})"


@dataclass(slots=True)
class _Held:
    """An alert a route was told of, until it clears: for the repeat and the all-clear."""

    level: Level
    message: str
    since: float  # wall time it fired
    last_sent: float  # clock time it was last sent
    told: set[str] = field(default_factory=set)  # route levels it went to
    started: float = 0.0  # clock time the account was last seen (the heartbeat alert)


def _apprise() -> Any:
    """The apprise module, quietened, or None when the extra is not installed."""
    try:
        import apprise
    except ImportError:
        return None
    # apprise and requests log through the standard logging; with no handler of pmtui's there,
    # Python's last resort would print their warnings onto the dashboard's terminal.
    for name in ("apprise", "urllib3"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return apprise


def scheme_only(url: str) -> str:
    """A URL reduced to its scheme, for a URL apprise cannot parse (so cannot redact)."""
    scheme = url.partition("://")[0] if "://" in url else "?"
    return f"{clean(scheme, 20)}://…"


def redact_http(url: str) -> str:
    """A heartbeat URL as it may be shown: scheme and host (the path is the check's key)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{clean(parts.hostname or '?', 80)}/…"


def _target(apprise: Any, url: str) -> tuple[Any, str]:
    """An apprise.Apprise for one URL and its redacted name; (None, name) when apprise refuses it."""
    try:
        plugin = apprise.Apprise.instantiate(url)
    except Exception:  # a plugin's parser on a hostile URL: the URL is unusable, not pmtui
        plugin = None
    if plugin is None:
        return None, scheme_only(url)
    target = apprise.Apprise()
    target.add(plugin)
    # Without its query: apprise's own options (method, retry, ...) say nothing to a person.
    return target, clean(plugin.url(privacy=True).partition("?")[0], 200)


async def _apprise_send(route: Route, message: Message) -> bool:
    """apprise's notify is synchronous (requests): a thread keeps the event loop free."""
    result = await asyncio.to_thread(route.target.notify, body=message.body, title=message.title,
                                     notify_type=message.kind, body_format="text")
    return bool(result)


async def _http_ping(url: str, timeout: float) -> bool:
    import httpx

    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(url)
    return response.is_success


def _clock_text(wall: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(wall))


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else f"{int(seconds)} seconds"


class Deliverer:
    """Routes alert events to apprise URLs per profile and level; see the module's docstring."""

    def __init__(
        self,
        profiles: Mapping[str, AlertSettings],
        *,
        sender: Callable[[Route, Message], Awaitable[bool]] | None = None,
        pinger: Callable[[str, float], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        tries: int = 4,
        backoff: float = 2.0,
        timeout: float = 30.0,
        queue_size: int = 50,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = dict(profiles)
        #: Where a delivery failure's sentence goes (a toast, a stderr line); None: the log only.
        self.on_problem = on_problem
        self._sender = sender or _apprise_send
        self._pinger = pinger or _http_ping
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self.tries, self.backoff, self.timeout = tries, backoff, timeout
        #: One sentence each: why some or all routes cannot be used (apprise missing, a bad URL).
        self.problems: list[str] = []
        self.routes: list[Route] = []
        by_url: dict[str, Route] = {}
        wanted = [(p, level, u.get_secret_value()) for p, a in self.settings.items()
                  for level, urls in a.routes.items() for u in urls]
        # A test's sender needs no apprise; pmtui's own does.
        module = _apprise() if wanted and sender is None else None
        if wanted and module is None and sender is None:
            self.problems.append(INSTALL_HINT)
            wanted = []
        for profile, level, url in wanted:
            route = by_url.get(url)
            if route is None:
                target, name = _target(module, url) if module is not None else (None, scheme_only(url))
                if module is not None and target is None:
                    self.problems.append(f"Alert route {name} ({level}) is not a URL apprise knows; it is"
                                         " left out (see https://github.com/caronc/apprise/wiki).")
                    continue
                route = by_url[url] = Route(url, name, target, queue_size)
                self.routes.append(route)
            route.wants.add((profile, level))
        #: Heartbeat URLs and the profiles that must all be current for a ping.
        self.heartbeats: dict[str, list[str]] = {}
        for profile, a in self.settings.items():
            if a.heartbeat_url is not None:
                self.heartbeats.setdefault(a.heartbeat_url.get_secret_value(), []).append(profile)
        self.pings_sent = self.pings_failed = 0
        now = clock()
        self._held: dict[tuple[str, str, str], _Held] = {}
        self._seen: dict[str, float] = dict.fromkeys(self.settings, now)  # last current data
        self._heard: dict[str, float] = {}  # last state published
        self._live: dict[str, bool] = {}
        self._why: dict[str, str] = {}
        self._pinged: dict[str, float] = {}
        self._pinging: set[str] = set()
        self._ping_failing: set[str] = set()
        self._monitors: dict[str, Monitor] = {}
        self._unsubscribes: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[Any]] = []

    @classmethod
    def for_accounts(cls, accounts: Iterable[Account], **kwargs: Any) -> Deliverer:
        """For the watched accounts of a fleet (those with settings and a Monitor of their own: a
        viewer attached to the daemon leaves delivery to the daemon, or each viewer would page too)."""
        watched = [a for a in accounts if a.settings is not None and a.monitor is not None and not a.monitor.remote]
        deliverer = cls({a.profile: a.settings.alerts for a in watched if a.settings is not None}, **kwargs)
        deliverer.attach(watched)
        return deliverer

    @property
    def active(self) -> bool:
        """Whether there is anything to deliver to (a route or a heartbeat URL)."""
        return bool(self.routes or self.heartbeats)

    # --- feeding it -------------------------------------------------------------------------------

    def attach(self, accounts: Iterable[Account]) -> None:
        """Subscribe to each account's Monitor. Its rule engine also says which alerts still hold
        (a CRITICAL whose all-clear people are not told, on_clear = false, stops repeating)."""
        for account in accounts:
            if account.monitor is not None:
                self._monitors[account.profile] = account.monitor
                self._unsubscribes.append(account.monitor.subscribe(partial(self.observe, account.profile)))

    def observe(self, profile: str, state: MonitorState) -> None:
        """A published state: its alert events, and whether the account is current. Cheap and
        never blocking: it is called on the Monitor's loop."""
        if profile not in self.settings:
            return
        now = self._clock()
        status = state.status
        self._heard[profile] = now
        if status.age is not None:
            self._seen[profile] = max(self._seen[profile], now - status.age)
        self._live[profile] = status.word == "LIVE"
        error = status.error.message if status.error is not None else None
        self._why[profile] = (clean(error, 300) if error else
                              "refreshing is paused" if status.paused else f"its data is {status.word}")
        if state.alerts:
            self.events(profile, state.alerts)
        if self._live[profile]:
            held = self._held.pop((profile, BLIND, "account"), None)
            if held is not None:
                blind = _minutes(now - held.started)
                self._send(profile, held.told, Message(
                    f"pmtui cleared: {profile}",
                    f"pmtui sees account {profile} again; it could not for {blind}.", SUCCESS))

    def events(self, profile: str, events: Iterable[AlertEvent]) -> None:
        """Alert events of one account, as the Monitor published them for people."""
        now = self._clock()
        for event in events:
            if event.state == CLEARED:
                told: set[str] = set()
                for part in event.parts:
                    held = self._held.pop((profile, event.rule, part.subject), None)
                    if held is not None:
                        told |= held.told
                if told:  # only routes that were told of it hear the all-clear
                    self._send(profile, told, Message(f"pmtui cleared: {profile}",
                                                      self._body("cleared", profile, event), SUCCESS))
                continue
            level = LEVEL_ROUTE.get(event.level)
            if level is None:
                continue
            for part in event.parts:
                key = (profile, event.rule, part.subject)
                held = self._held.setdefault(key, _Held(part.level, part.message, event.time, now))
                held.level, held.message, held.last_sent = part.level, part.message, now
                held.told.add(level)
            kind = FAILURE if event.level >= Level.DANGER else WARNING
            self._send(profile, {level}, Message(f"pmtui {event.level.name}: {profile}",
                                                 self._body(event.level.name, profile, event), kind))

    @staticmethod
    def _body(word: str, profile: str, event: AlertEvent) -> str:
        # Everything in it is plain text: the event's sentence (cleaned: it names what the
        # exchange said), the profile (cleaned by Settings), the time.
        return clean(f"{word} on {profile}: {event.message} ({_clock_text(event.time)})", 1000)

    def _send(self, profile: str, levels: set[str], message: Message) -> None:
        # Plain text on one line each, whatever a profile name or an exchange's text held.
        message = Message(clean(message.title, 200), clean(message.body, 1000), message.kind)
        for route in self.routes:
            if any((profile, level) in route.wants for level in levels):
                try:
                    route.queue.put_nowait(message)
                except asyncio.QueueFull:
                    route.dropped += 1
                    self._say(f"Alert route {route.name} has {route.queue.qsize()} messages waiting;"
                              " this one is dropped.")

    # --- time passing: repeats, the heartbeat alert, the dead-man URL ---------------------------

    def tick(self) -> None:
        """Repeat what is due, start heartbeat alerts, ping heartbeat URLs. Called every second."""
        now = self._clock()
        self._forget_cleared()
        for profile, a in self.settings.items():
            key = (profile, BLIND, "account")
            if a.blind_for is None or key in self._held or self._current(profile, now):
                continue
            if now - self._seen[profile] >= a.blind_for:
                held = self._held[key] = _Held(Level.CRITICAL, "", self._wall(), now, {"critical"},
                                               self._seen[profile])
                self._send(profile, held.told, self._blind_message(profile, now, held))
        due: dict[tuple[str, str], list[_Held]] = {}
        for (profile, rule, _subject), held in self._held.items():
            repeat = self.settings[profile].repeat
            if held.level >= Level.CRITICAL and repeat is not None and now - held.last_sent >= repeat:
                due.setdefault((profile, rule), []).append(held)
        for (profile, rule), helds in due.items():
            for held in helds:
                held.last_sent = now
            first = helds[0]
            if rule == BLIND:
                message = self._blind_message(profile, now, first, still=True)
            else:
                more = f" (+{len(helds) - 1} more)" if len(helds) > 1 else ""
                body = clean(f"Still CRITICAL on {profile} since {_clock_text(first.since)}:"
                             f" {first.message}{more}", 1000)
                message = Message(f"pmtui CRITICAL (still): {profile}", body, FAILURE)
            self._send(profile, {"critical"}, message)  # a repeat is a CRITICAL: its own level's routes
        self._ping(now)

    def _silent(self, profile: str, now: float) -> bool:
        heard = self._heard.get(profile)
        return heard is None or now - heard > SILENT_AFTER

    def _blind_message(self, profile: str, now: float, held: _Held, still: bool = False) -> Message:
        why = "its Monitor has stopped publishing" if self._silent(profile, now) else self._why.get(
            profile, "no data has come yet")
        body = f"pmtui cannot see account {profile} for {_minutes(now - held.started)}: {why.rstrip('.')}."
        return Message(f"pmtui CRITICAL{' (still)' if still else ''}: {profile}", body, FAILURE)

    def _forget_cleared(self) -> None:
        """Drop what the rule engines no longer hold (their all-clear was not for people)."""
        for profile, monitor in self._monitors.items():
            holding = {(rule, subject) for rule, subject, _ in monitor.alerts.active()}
            for key in [k for k in self._held if k[0] == profile and k[1] != BLIND]:
                if (key[1], key[2]) not in holding:
                    del self._held[key]

    def _current(self, profile: str, now: float) -> bool:
        return (self._live.get(profile, False) and not self._silent(profile, now)
                and (profile, BLIND, "account") not in self._held)

    def _ping(self, now: float) -> None:
        for url, profiles in self.heartbeats.items():
            if url in self._pinging or now - self._pinged.get(url, float("-inf")) < PING_EVERY:
                continue
            if all(self._current(p, now) for p in profiles):
                self._pinged[url] = now
                self._pinging.add(url)
                self._spawn(self._ping_once(url))

    async def _ping_once(self, url: str) -> None:
        try:
            ok = await asyncio.wait_for(self._pinger(url, 10.0), 15.0)
            why = "it did not answer with success"
        except TimeoutError:
            ok, why = False, "no answer within 15 s"
        except Exception as exc:  # httpx's errors name the URL: say only the kind
            ok, why = False, type(exc).__name__
        finally:
            self._pinging.discard(url)
        if ok:
            self.pings_sent += 1
            self._ping_failing.discard(url)
            return
        self.pings_failed += 1
        if url not in self._ping_failing:  # said once until it works again, not every minute
            self._ping_failing.add(url)
            self._say(f"The heartbeat URL {redact_http(url)} could not be reached ({why}); pmtui tries"
                      " again every minute.")

    # --- sending --------------------------------------------------------------------------------

    def _say(self, sentence: str) -> None:
        """One sentence per failure (every URL in it redacted): to `on_problem`, or the log."""
        if self.on_problem is None:
            log.warning("%s", sentence)
            return
        log.debug("%s", sentence)
        try:
            self.on_problem(sentence)
        except Exception:  # a closed screen or stream must not stop delivery
            log.debug("on_problem failed", exc_info=True)

    async def attempt(self, route: Route, message: Message) -> tuple[bool, str]:
        """One try at one route: whether it worked, and why not in a few words."""
        try:
            if await asyncio.wait_for(self._sender(route, message), self.timeout):
                return True, ""
            return False, "the service did not accept it or could not be reached"
        except TimeoutError:
            return False, f"no answer within {self.timeout:g} s"
        except Exception as exc:  # never its text: it may hold the URL
            return False, f"{type(exc).__name__} while sending"

    async def deliver(self, route: Route, message: Message) -> bool:
        """Send with retries and backoff; counted; one sentence logged when it finally fails."""
        delay = self.backoff
        why = ""
        for attempt in range(1, self.tries + 1):
            ok, why = await self.attempt(route, message)
            if ok:
                route.sent += 1
                return True
            if attempt < self.tries:
                route.retried += 1
                await self._sleep(delay)
                delay = min(delay * 2, 300.0)
        route.failed += 1
        self._say(f"Alert route {route.name} could not deliver {message.title!r} after {self.tries} tries"
                  f" ({why}).")
        return False

    async def _work(self, route: Route) -> None:
        while True:
            message = await route.queue.get()
            route.busy = True
            try:
                await self.deliver(route, message)
            finally:
                route.busy = False

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.tick()
            except Exception:  # the heartbeat must keep going
                log.debug("alert delivery tick failed", exc_info=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)
        return task

    def start(self) -> None:
        """Start the route workers and the ticker on the running loop (nothing when inactive)."""
        if not self.active:
            return
        for route in self.routes:
            self._spawn(self._work(route))
        self._spawn(self._ticks())

    async def drain(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until every queued message has been tried."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while any(r.queue.qsize() or r.busy for r in self.routes) and loop.time() < end:
            await asyncio.sleep(0.05)
        return not any(r.queue.qsize() or r.busy for r in self.routes)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Stop listening; give what is queued `timeout` seconds; stop the tasks."""
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        self._unsubscribes.clear()
        if self._tasks:
            await self.drain(timeout)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- pmtui alerts test ------------------------------------------------------------------------

    async def test(self, level: str | None = None) -> list[tuple[Route, list[str], bool, str]]:
        """One test message through every route (of `level` only, when given), at once: each
        route, the levels it was tested for, whether it worked and why not."""
        async def one(route: Route) -> tuple[Route, list[str], bool, str]:
            levels = [lv for lv in route.levels if level is None or lv == level]
            profiles = sorted({p for p, lv in route.wants if lv in levels})
            message = Message("pmtui test", clean(f"A test from pmtui: {' and '.join(levels)} alerts of"
                                                  f" {', '.join(profiles)} reach you here.", 1000), INFO)
            ok, why = await self.attempt(route, message)
            route.sent += ok
            route.failed += not ok
            return route, levels, ok, why

        chosen = [r for r in self.routes if level is None or level in r.levels]
        return list(await asyncio.gather(*(one(r) for r in chosen)))
