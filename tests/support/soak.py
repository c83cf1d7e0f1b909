"""Fault soak: the real dashboard, headless, against the imitation PAPI server on a seeded schedule.

The app runs under `App.run_test()` exactly as a person would run it (same client, poller, timers
and widgets) but at an accelerated pace: a refresh every 20 ms, 1-2 s Retry-After and bans, a
1.5 s client timeout. Between stretches of good refreshes the schedule injects one fault at a time:
429 with and without Retry-After, 418, 500, 503, -1001, 403, an HTML page, truncated and empty
bodies, a schema change, a reply slower than the timeout, a connection reset, clock jumps of
several seconds both ways (also with the time endpoint down), and a revoked key. For every fault it
checks, and raises SoakFailure with the seed and step otherwise, that

- the app never crashes or exits, and no traceback or Python noise ever reaches the screen;
- the fault shows in the status bar as one plain sentence, wholly visible at 80x24;
- no request reaches the server while a ban or Retry-After is in force, even when `r` is pressed;
- a revoked key stops polling until the key works again and `r` is pressed;
- the dashboard is LIVE again after each fault, and memory stays flat over the run.

    python -m tests.support.soak --refreshes 5000            # the long soak (a few minutes)
    PMTUI_SOAK=long .venv/bin/pytest tests/hostile/test_soak.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from pmtui.budget import WeightBudget
from pmtui.client import READ_ONLY_PATHS
from pmtui.fleet import FleetOptions, make_client
from pmtui.settings import Settings
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.status import StatusBar
from tests.support.papi_server import API_KEY, API_SECRET, TIME, UM_ACCOUNT, PapiServer
from tests.support.sentences import noise, sentence_problem

SIZE = (80, 24)  # the smallest terminal pmtui promises to fit
FAST = 0.02  # seconds between refreshes while all is well
SHOWN = 0.1  # the interval while a fault is on screen, so a capture sees it before the retry
# The client's timeout: a loaded CI machine answers a good request within it. "Slow" replies take
# 2.5 times as long.
TIMEOUT = 1.5

# Fault name -> the PmtuiError.kind the status bar must show (None: handled without an error).
EXPECTED = {
    "500": "server",
    "503": "server",
    "-1001": "server",
    "403": "blocked",
    "html": "malformed",
    "truncated": "malformed",
    "empty": "malformed",
    "schema": "schema",
    "slow": "timeout",
    "reset": "network",
    "429": "rate-limit",
    "429-no-retry-after": "rate-limit",
    "418": "banned",
    "clock": None,
    "clock-time-down": None,
    "revoked": "auth",
}
TRANSIENT = ("500", "503", "-1001", "403", "html", "truncated", "empty", "schema", "slow", "reset")
BANS = ("429", "429-no-retry-after", "418")
WEIGHTS = {**{k: 6 for k in TRANSIENT}, "429": 3, "429-no-retry-after": 2, "418": 2,
           "clock": 4, "clock-time-down": 2, "revoked": 1}
# A 429 without Retry-After: the client picks its own wait (2 s +-20% on the first strike).
SELF_CHOSEN_WAIT = 1.5
MAX_OFFSET_MS = 15_000


class SoakFailure(AssertionError):
    pass


# --- the schedule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    fault: str
    gap: int  # good refreshes before the fault
    count: int = 1  # consecutive faulty replies
    opts: tuple[tuple[str, Any], ...] = ()

    def opt(self, name: str, default: Any = None) -> Any:
        return dict(self.opts).get(name, default)


def make_schedule(seed: int, refreshes: int) -> list[Step]:
    """About `refreshes` refreshes' worth of steps; every fault kind appears at least once."""
    rng = random.Random(seed)
    first = list(EXPECTED)
    rng.shuffle(first)
    names, weights = zip(*WEIGHTS.items(), strict=True)
    steps: list[Step] = []
    used = 0
    while used < refreshes or first:
        kind = first.pop() if first else rng.choices(names, weights)[0]
        gap = rng.randint(2, 10)
        count = rng.choice((1, 1, 1, 2, 3)) if kind in TRANSIENT else 1
        opts: dict[str, Any] = {}
        if kind == "429":
            opts["retry_after"] = rng.choice((1, 1, 2))
        elif kind == "418":
            opts["retry_after"] = rng.choice((1, 2))
        elif kind == "schema":
            opts["variant"] = rng.choice(("missing", "renamed"))
        elif kind == "-1001":
            opts["status"] = rng.choice((400, 500, 503))
        elif kind in ("clock", "clock-time-down"):
            opts["jump_ms"] = rng.choice((-1, 1)) * rng.randint(2000, 9000)
        steps.append(Step(kind, gap, count, tuple(sorted(opts.items()))))
        used += gap + count + 1
    return steps


# --- a server that says which fault it served ----------------------------------------------------


@dataclass(frozen=True)
class Served:
    time: float  # time.time() when the reply was decided (it leaves right after)
    path: str
    status: int  # 0: connection reset
    code: int | None
    retry_after: float | None
    fault: str | None


class SoakServer(PapiServer):
    """PapiServer that also logs each reply, and hands both logs over in pieces (memory stays flat)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.served: list[Served] = []
        self._tls = threading.local()

    def start(self) -> SoakServer:
        super().start()
        # Writing a slow reply to a client that gave up is expected here: no tracebacks on stderr.
        self._httpd.handle_error = lambda request, address: None  # type: ignore[union-attr]
        return self

    def _next_fault(self, path: str, method: str = "GET"):  # type: ignore[override]
        fault = super()._next_fault(path, method)
        self._tls.fault = fault
        return fault

    def reply(self, method: str, path: str, query: str, headers: dict[str, str]):  # type: ignore[override]
        self._tls.fault = None
        reply = super().reply(method, path, query, headers)
        code = None
        if reply.status not in (0, 200):
            try:
                code = json.loads(reply.body).get("code")
            except (ValueError, AttributeError):
                pass
        retry = reply.headers.get("Retry-After")
        fault = self._tls.fault
        with self._lock:
            self.served.append(Served(time.time(), path, reply.status, code,
                                      float(retry) if retry else None, fault.kind if fault else None))
        return reply

    def take(self) -> tuple[list, list[Served]]:
        with self._lock:
            requests, served = self.requests[:], self.served[:]
            self.requests.clear()
            self.served.clear()
        return requests, served


# --- watching the app ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Render:
    time: float  # time.monotonic()
    word: str  # LIVE, STALE, ERROR, PAUSED, CONNECTING
    kind: str | None  # the error's kind
    message: str | None  # the error's sentence
    text: str  # the whole status bar, plain


def screen_text(app: PmtuiApp) -> str:
    """What the terminal shows right now, as plain text (the same render as export_screenshot)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def _flat(text: str) -> str:
    return " ".join(text.split())


class _Problems(logging.Handler):
    """Collects pmtui log records that mean a bug slipped past the error types."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "unexpected" in record.getMessage() or "worker failed" in record.getMessage():
            self.records.append(f"{record.name}: {record.getMessage()}")


class Watcher:
    """Records every status bar render and notification of a running app."""

    def __init__(self, app: PmtuiApp) -> None:
        self.app = app
        self.renders: list[Render] = []
        self.notes: list[str] = []
        self.checked = 0
        bar = app.query_one(StatusBar)
        original_render, original_notify = bar.render_text, app.notify

        def render_text(info, *args):
            text = original_render(info, *args)
            word = bar.state_word(info)[0]
            err = info.error
            self.renders.append(Render(time.monotonic(), word, err.kind if err else None,
                                       err.message if err else None, text.plain))
            return text

        def notify(message, *args, **kwargs):
            self.notes.append(str(message))
            return original_notify(message, *args, **kwargs)

        bar.render_text = render_text  # type: ignore[method-assign]
        app.notify = notify  # type: ignore[method-assign]

    def since(self, index: int) -> list[Render]:
        return self.renders[index:]

    def drain(self) -> None:
        """Check what was recorded so far, then forget it (memory stays flat)."""
        for r in self.renders:
            self.checked += 1
            if found := noise(r.text):
                raise SoakFailure(f"Python noise {found!r} in the status bar: {r.text!r}")
            if r.message is not None:
                message = r.message
                if problem := sentence_problem(message):
                    raise SoakFailure(f"status bar message {message!r}: {problem}")
                if "Unexpected internal error" in message:
                    raise SoakFailure(f"a bug surfaced as an internal error: {message!r}")
        for note in self.notes:
            if found := noise(note):
                raise SoakFailure(f"Python noise {found!r} in a notification: {note!r}")
        self.renders.clear()
        self.notes.clear()


# --- the report --------------------------------------------------------------------------------


@dataclass
class SoakReport:
    seed: int
    steps: int = 0
    refreshes: int = 0  # polls the app made
    failed_refreshes: int = 0
    faults: Counter = field(default_factory=Counter)  # fault steps by name
    faulty_replies: int = 0  # replies the server sent with a fault
    recoveries: int = 0
    max_recovery_s: float = 0.0
    requests: int = 0
    ban_windows: int = 0  # 429/418 replies whose quiet period was checked
    refresh_presses_in_bans: int = 0
    screens: int = 0  # full-screen captures checked
    renders: int = 0  # status bar renders checked
    seconds: float = 0.0
    rss_mb: list[tuple[int, float]] = field(default_factory=list)  # (refreshes, MB)

    @property
    def rss_growth_mb(self) -> float:
        """RSS growth from the first sample (after warm-up) to the last."""
        return self.rss_mb[-1][1] - self.rss_mb[0][1] if len(self.rss_mb) > 1 else 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))
        rss = " -> ".join(f"{mb:.1f}" for _, mb in self.rss_mb[:: max(1, len(self.rss_mb) // 6)])
        return (
            f"soak seed {self.seed}: {self.refreshes} refreshes ({self.failed_refreshes} failed) in "
            f"{self.seconds:.1f} s; {sum(self.faults.values())} faults ({self.faulty_replies} faulty "
            f"replies): {kinds}; {self.recoveries} recoveries to LIVE (slowest {self.max_recovery_s:.2f} s); "
            f"{self.requests} requests, {self.ban_windows} ban windows kept "
            f"({self.refresh_presses_in_bans} r presses during bans); {self.screens} screens and "
            f"{self.renders} status renders checked; RSS MB {rss} (growth {self.rss_growth_mb:+.1f} MB "
            f"after warm-up)"
        )


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the run -----------------------------------------------------------------------------------


class Soak:
    def __init__(self, server: SoakServer, app: PmtuiApp, pilot: Any, report: SoakReport,
                 rng: random.Random) -> None:
        self.server, self.app, self.pilot, self.report, self.rng = server, app, pilot, report, rng
        self.watch = Watcher(app)
        self.step_no = 0
        self.step: Step | None = None
        poll = app.monitor.poller.poll

        async def counted_poll() -> bool:
            ok = await poll()
            report.failed_refreshes += not ok
            return ok

        app.monitor.poller.poll = counted_poll  # type: ignore[method-assign]

    # helpers

    def fail(self, what: str) -> SoakFailure:
        recent = [f"{r.word} {r.message or ''}".strip() for r in self.watch.renders[-5:]]
        return SoakFailure(
            f"seed {self.report.seed}, step {self.step_no} ({self.step}): {what}; "
            f"last status renders: {recent}"
        )

    def alive(self) -> None:
        app = self.app
        crash = getattr(app, "_exception", None)
        if not app.is_running or app.return_code is not None or crash is not None:
            raise self.fail(f"the app stopped (return code {app.return_code}, {crash!r})")

    async def until(self, cond: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.alive()
            if result := cond():
                return result
            if time.monotonic() > deadline:
                raise self.fail(f"timed out after {timeout:g} s waiting for {what}")
            await asyncio.sleep(0.005)

    def first(self, start: int, pred: Callable[[Render], bool]) -> tuple[int, Render] | None:
        for i, r in enumerate(self.watch.renders[start:], start):
            if pred(r):
                return i, r
        return None

    async def check_screen(self, message: str | None = None) -> None:
        """Capture the screen: no Python noise anywhere, and (given an error on show) the
        poller's error sentence wholly visible."""
        app = self.app
        if message is None:
            await asyncio.sleep(0.04)  # two frames (pilot.pause() waits for an idle app: rare here)
            self._check_noise(screen_text(app))
            return
        # Hold the next refresh back while the screen catches up (a layout pass after the status
        # bar grew), so a busy machine cannot turn a slow frame into a false "cut off".
        monitor = app.monitor
        pace = monitor.poller.interval
        monitor.set_interval(3600)
        try:
            deadline = time.monotonic() + 2.0
            while True:
                await asyncio.sleep(0.02)
                text = screen_text(app)
                error = app.monitor.poller.error
                shown = error.message if error is not None else None
                if shown is None or _flat(shown) in _flat(text) or time.monotonic() > deadline:
                    break
            self._check_noise(text)
            if shown is not None and _flat(shown) not in _flat(text):
                raise self.fail(f"the status message is cut off on an {SIZE[0]}x{SIZE[1]} screen: "
                                f"{shown!r}\n{text}")
        finally:
            monitor.set_interval(pace)  # the refresh the app had planned, on its own terms (bans included)

    def _check_noise(self, text: str) -> None:
        self.report.screens += 1
        if "Traceback" in text:
            raise self.fail("a traceback on screen")
        if found := noise(text):
            raise self.fail(f"Python noise on screen: {found!r}")

    # phases

    async def good_refreshes(self, n: int) -> None:
        start_polls = self.app.monitor.poller.polls
        mark = len(self.watch.renders)
        await self.until(lambda: self.app.monitor.poller.polls >= start_polls + n and not self.app.monitor.fetching,
                         10 + n * 0.5, f"{n} good refreshes")
        if bad := self.first(mark, lambda r: r.message is not None):
            raise self.fail(f"an error with no fault injected: {bad[1].message!r}")

    def inject(self, step: Step) -> None:
        server, kind = self.server, step.fault
        if kind == "revoked":
            server.revoke()
        elif kind in ("clock", "clock-time-down"):
            offset = server.clock_offset_ms + step.opt("jump_ms")
            if abs(offset) > MAX_OFFSET_MS:
                offset = server.clock_offset_ms - step.opt("jump_ms")
            if kind == "clock-time-down":
                # Behind the client's idea of server time: -1021, then a resync that fails.
                offset = min(offset, (self.app.client.time_offset_ms or 0) - 2000)
                server.inject("500", path=TIME)
            server.clock_offset_ms = offset
        elif kind == "429-no-retry-after":
            server.inject("429", path=UM_ACCOUNT, retry_after=None)
        else:
            server.inject(kind, step.count, path=UM_ACCOUNT, **dict(step.opts))

    async def fault(self, step: Step) -> None:
        app, report = self.app, self.report
        expected = EXPECTED[step.fault]
        mark = len(self.watch.renders)
        app.monitor.poller.interval = SHOWN
        started = time.monotonic()
        self.inject(step)
        if expected is None:
            await self.clock_step(step, mark)
            app.monitor.poller.interval = FAST
            return
        found = await self.until(lambda: self.first(mark, lambda r: r.message is not None),
                                 10 + TIMEOUT * 3, f"the {step.fault} fault in the status bar")
        index, render = found
        if render.kind != expected:
            raise self.fail(f"expected a {expected!r} error, the status bar shows {render.kind!r}: "
                            f"{render.message!r}")
        await self.check_screen(render.message)
        app.monitor.poller.interval = FAST
        if step.fault == "revoked":
            await self.revoked(index)
        elif step.fault in BANS:
            for _ in range(self.rng.randint(1, 2)):  # impatient: must not send anything
                await asyncio.sleep(self.rng.uniform(0.05, 0.4))
                await self.pilot.press("r")
                report.refresh_presses_in_bans += 1
        waited = step.opt("retry_after") or 5
        live = await self.until(lambda: self.first(index, lambda r: r.word == "LIVE"),
                                15 + 2 * waited, "LIVE again after the fault")
        report.recoveries += 1
        report.max_recovery_s = max(report.max_recovery_s, live[1].time - started)
        if self.server.pending_faults:
            raise self.fail(f"{self.server.pending_faults} injected faults were never requested")

    async def revoked(self, index: int) -> None:
        app, server = self.app, self.server
        render = self.watch.renders[index]
        if render.word != "ERROR" or "press r" not in render.text:
            raise self.fail(f"a revoked key must show ERROR and how to resume: {render.text!r}")
        await self.until(lambda: not app.monitor.fetching, 5, "the failed refresh to end")
        before = server.count()
        await asyncio.sleep(0.3)  # 15 intervals: a poller that kept knocking would show here
        if server.count() != before:
            raise self.fail(f"{server.count() - before} requests while stopped on a revoked key")
        server.restore()
        await asyncio.sleep(0.1)
        if server.count() != before:
            raise self.fail("polling resumed before r was pressed")
        await self.pilot.press("r")

    async def clock_step(self, step: Step, mark: int) -> None:
        """A clock jump is handled inside the client (-1021, resync, retry once): data stays live,
        and a large offset shows in the status bar."""
        app, server = self.app, self.server
        start_polls = app.monitor.poller.polls
        await self.until(lambda: app.monitor.poller.polls >= start_polls + 3 and not app.monitor.fetching,
                         10, "refreshes after a clock jump")
        errors = [r for r in self.watch.since(mark) if r.message is not None]
        if any(r.kind != "clock" for r in errors):
            raise self.fail(f"unexpected error after a clock jump: {errors[0].message!r}")
        await self.until(lambda: self.first(mark, lambda r: r.word == "LIVE") and app.monitor.poller.error is None,
                         10, "LIVE after a clock jump")
        await self.until(lambda: not app.monitor.fetching, 5, "the refresh to end")
        rejected = any(s.code == -1021 for s in list(self.server.served))
        offset = app.client.time_offset_ms or 0
        if rejected and step.fault == "clock" and abs(offset - server.clock_offset_ms) > 1000:
            raise self.fail(f"after a resync the client's offset is {offset} ms, the server's "
                            f"{server.clock_offset_ms} ms")
        if rejected and step.fault == "clock-time-down" and abs(offset - server.clock_offset_ms) > 2000:
            raise self.fail(f"the Date-header fallback is off: {offset} ms vs {server.clock_offset_ms} ms")
        text = app.query_one(StatusBar).render_text(app.status_info()).plain
        shows = re.search(r"clock [+-]\d+\.\ds", text) is not None
        if shows != (abs(offset) >= 1000):
            raise self.fail(f"clock offset {offset} ms, status bar: {text!r}")
        self.report.recoveries += 1
        self.server.clear()  # a time-endpoint fault not needed (no -1021) must not linger

    def audit(self) -> None:
        """The server's side of the step: only read-only GETs, and silence during every ban."""
        requests, served = self.server.take()
        report = self.report
        report.requests += len(requests)
        report.faulty_replies += sum(1 for s in served if s.fault is not None)
        for r in requests:
            if r.method != "GET" or r.path not in READ_ONLY_PATHS:
                raise self.fail(f"a {r.method} request to {r.path} was sent")
        arrivals = sorted(r.time for r in requests)
        for s in served:
            if s.status not in (418, 429):
                continue
            wait = s.retry_after if s.retry_after is not None else SELF_CHOSEN_WAIT
            report.ban_windows += 1
            early = [t - s.time for t in arrivals if s.time < t < s.time + wait - 0.005]
            if early:
                raise self.fail(f"{len(early)} request(s) reached the server {early[0]:.3f} s into "
                                f"a {wait:g} s {'ban' if s.status == 418 else 'Retry-After'} wait")

    async def run(self, schedule: Iterable[Step], samples: int = 8) -> None:
        app, report = self.app, self.report
        schedule = list(schedule)
        await self.until(lambda: self.first(0, lambda r: r.word == "LIVE"), 15, "the first LIVE")
        sample_every = max(1, len(schedule) // samples)
        warm = max(1, len(schedule) // 5)
        for self.step_no, self.step in enumerate(schedule, 1):
            await self.good_refreshes(self.step.gap)
            await self.fault(self.step)
            report.faults[self.step.fault] += 1
            report.steps += 1
            self.audit()
            report.renders += len(self.watch.renders)
            self.watch.drain()
            if self.step_no >= warm and (self.step_no - warm) % sample_every == 0:
                await self.check_screen()
                gc.collect()
                report.rss_mb.append((app.monitor.poller.polls, rss_mb()))
        await self.good_refreshes(5)
        await self.check_screen()
        self.audit()
        self.watch.drain()
        gc.collect()
        report.rss_mb.append((app.monitor.poller.polls, rss_mb()))


async def soak(refreshes: int = 200, seed: int = 1, *, schedule: list[Step] | None = None,
               progress: Callable[[str], None] | None = None,
               setup: Callable[[PmtuiApp], None] | None = None) -> SoakReport:
    """Run the dashboard through `refreshes` refreshes of faults; raise SoakFailure on any breach."""
    report = SoakReport(seed=seed)
    steps = schedule if schedule is not None else make_schedule(seed, refreshes)
    server = SoakServer().start()
    problems = _Problems()
    pmtui_log = logging.getLogger("pmtui")
    old_level, old_propagate = pmtui_log.level, pmtui_log.propagate
    pmtui_log.setLevel(logging.DEBUG)  # "poll worker failed" and friends are debug records
    pmtui_log.propagate = False  # thousands of them must not pile up in pytest's log capture
    pmtui_log.addHandler(problems)
    started = time.monotonic()
    try:
        settings = Settings(base_url=server.base_url, interval=1.0, timeout=TIMEOUT,
                            api_key=API_KEY, api_secret=API_SECRET)
        client = make_client(settings, FleetOptions())
        # The accelerated pace (a refresh every 20 ms) is far past the weight budget, which would
        # hold it to a real exchange's pace: the soak is about faults, test_budget about weight.
        client.budget = WeightBudget(1.0, limit=10**9)
        app = PmtuiApp(settings=settings, client=client, title="soak")
        app.monitor.poller.min_interval = 0.01  # the accelerated pace; Settings keep their 1 s minimum
        # No ledger reads: their first burst (a week back, seven endpoints) shares this process with
        # the server and the app, and the soak is about the account's own faults (the ledger's:
        # tests/hostile/test_ledger_hostile.py).
        app.monitor.ledger.first_delay = float("inf")
        app.monitor.poller.interval = FAST
        if (account := getattr(app.monitor, "account_poller", None)) is not None:
            account.min_interval, account.interval = 0.01, 10 * FAST  # 10 s vs 1 s in real life
        async with app.run_test(size=SIZE) as pilot:
            if setup is not None:
                setup(app)
            run = Soak(server, app, pilot, report, random.Random(seed))
            if progress is None:
                await run.run(steps)
            else:
                chunk = 50
                for i in range(0, len(steps), chunk):
                    await run.run(steps[i:i + chunk], samples=2)
                    report.refreshes = app.monitor.poller.polls
                    progress(f"{min(i + chunk, len(steps))}/{len(steps)} steps, {app.monitor.poller.polls} "
                             f"refreshes, {time.monotonic() - started:.0f} s, RSS {rss_mb():.1f} MB")
            report.refreshes = app.monitor.poller.polls
            run.alive()
        if problems.records:
            raise SoakFailure(f"seed {seed}: pmtui logged a bug: {problems.records[:3]}")
    finally:
        pmtui_log.removeHandler(problems)
        pmtui_log.setLevel(old_level)
        pmtui_log.propagate = old_propagate
        server.stop()
        report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=5000, help="about how many refreshes (default 5000)")
    parser.add_argument("--seed", type=int, default=None, help="schedule seed (default: random, printed)")
    parser.add_argument("--accounts", type=float, default=None, metavar="SECONDS",
                        help="instead: three streaming accounts, absurd figures included, for SECONDS")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    if args.accounts is not None:
        print(f"accounts soak: seed {seed}, {args.accounts:g} s", flush=True)
        accounts = asyncio.run(accounts_soak(args.accounts, seed, progress=lambda s: print(s, flush=True)))
        print(accounts.summary())
        return 1 if accounts.problems else 0
    print(f"soak: seed {seed}, about {args.refreshes} refreshes", flush=True)
    try:
        report = asyncio.run(soak(args.refreshes, seed, progress=lambda s: print(s, flush=True)))
    except SoakFailure as err:
        print(f"SOAK FAILED: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


# --- three accounts, streaming, absurd figures (issue 20) -----------------------------------------

ABSURD_MARGIN = "9" * 51 + ".12345678"  # 59 digits
PM_PATH = "/papi/v1/account"


@dataclass
class AccountsReport:
    seconds: float = 0.0
    events: dict[str, int] = field(default_factory=dict)  # pushed events each account's stream read
    refreshes: dict[str, int] = field(default_factory=dict)
    requests_per_min: dict[str, float] = field(default_factory=dict)  # UM account requests
    weight_per_min: dict[str, float] = field(default_factory=dict)
    max_gap_s: dict[str, float] = field(default_factory=dict)  # longest wait between good refreshes
    final: dict[str, str] = field(default_factory=dict)  # LIVE/STALE, push, age at the end
    ban_windows: int = 0
    requests_in_bans: int = 0
    deletes: int = 0
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rss = " -> ".join(f"{mb:.0f}" for _, mb in self.rss_mb[:: max(1, len(self.rss_mb) // 8)])
        after = [mb for t, mb in self.rss_mb if t >= 120]
        growth = after[-1] - after[0] if len(after) > 1 else 0.0
        lines = [f"accounts soak: {self.seconds:.0f} s; RSS MB {rss} (growth after 2 min {growth:+.1f}); "
                 f"{self.ban_windows} Retry-After windows, {self.requests_in_bans} requests inside them; "
                 f"{self.deletes} listen-key DELETEs"]
        for name in self.final:
            lines.append(f"  {name}: {self.events.get(name, 0)} pushed events, {self.refreshes.get(name, 0)} "
                         f"refreshes, {self.requests_per_min.get(name, 0):.1f} UM requests/min, "
                         f"{self.weight_per_min.get(name, 0):.0f} weight/min, longest gap "
                         f"{self.max_gap_s.get(name, 0):.1f} s; end: {self.final[name]}")
        lines += [f"  problem: {p}" for p in self.problems[:10]]
        return "\n".join(lines)


def _risk(when: int, u: str, s: str, m: str = "15.11708371") -> str:
    return json.dumps({"e": "riskLevelChange", "E": when, "u": u, "s": s, "eq": "30.23416728",
                       "ae": "30.23416728", "m": m})


def _order(when: int) -> str:
    return json.dumps({"e": "ORDER_TRADE_UPDATE", "E": when, "T": when, "fs": "UM",
                       "o": {"s": "BTCUSDT", "c": "bot\x1b[2J[bold]x[/]", "S": "BUY", "o": "LIMIT", "X": "NEW"}})


def _script(server: PapiServer, seconds: float, kind: str, rng: random.Random) -> list[tuple[Any, ...]]:
    """One connection's worth of stream for `seconds`: chatty (5 order events/s), absurd (risk
    events with absurd, stale and future-dated figures) or quiet (a few account updates)."""
    now = server.now_ms
    actions: list[tuple[Any, ...]] = []
    t = 0.0
    while t < seconds:
        if kind == "chatty":
            actions += [("send", lambda: _order(now())), ("sleep", 0.2)]
            t += 0.2
            continue
        if kind == "absurd":
            choice = rng.choice(("huge", "stale", "future", "flood", "digits", "normal"))
            if choice == "huge":
                actions.append(("send", lambda: _risk(now(), "1e30", "NORMAL")))
            elif choice == "stale":
                actions.append(("send", lambda: _risk(now() - 600_000, "5.2", "NORMAL")))
            elif choice == "future":
                actions.append(("send", lambda: _risk(now() + 10 * 365 * 86_400_000, "1.1", "REDUCE_ONLY")))
            elif choice == "flood":
                actions.append(("flood", 5000, lambda i: _risk(now(), "1.3", "MARGIN_CALL")))
            elif choice == "digits":
                actions.append(("send", lambda: _risk(now(), "1.25", "MARGIN_CALL", ABSURD_MARGIN[:39])))
            else:
                actions.append(("send", lambda: _risk(now(), "3.5", "NORMAL")))
        else:
            actions.append(("send", lambda: json.dumps({"e": "ACCOUNT_UPDATE", "E": now(), "fs": "UM",
                                                        "a": {"m": "ORDER", "B": [], "P": []}})))
        actions.append(("sleep", rng.uniform(2, 8)))
        t += 5
    return actions


async def accounts_soak(seconds: float = 600.0, seed: int = 1, *,
                        progress: Callable[[str], None] | None = None) -> AccountsReport:
    """Three accounts on one IP's weight budget, each with its own imitation PAPI server and
    stream, as `watch` runs them: `chatty` pushes 5 order events a second, `absurd` answers
    uniMMR 1e30 and 59-digit margins over REST and pushes absurd, stale, future-dated and flooding
    risk events, `quiet` is ordinary but gets a 429 with Retry-After now and then. At the end
    every account must be LIVE and current, with its stream up; memory flat after two minutes."""
    from pmtui.budget import WeightBudget as Budget
    from pmtui.monitor import Monitor
    from pmtui.stream import UserStream
    from tests.support.papi_server import pm_account_body
    from tests.support.ws_server import WsServer

    rng = random.Random(seed)
    report = AccountsReport()
    budget = Budget(1.0)  # the real per-IP budget: the accounts share it
    names = ("chatty", "absurd", "quiet")
    servers = {n: SoakServer().start() for n in names}
    streams = {n: await WsServer().start() for n in names}
    absurd = servers["absurd"]
    absurd.set_body(PM_PATH, {**pm_account_body(absurd.now_ms()), "uniMMR": "1E+30",
                              "accountEquity": ABSURD_MARGIN, "actualEquity": ABSURD_MARGIN,
                              "accountMaintMargin": "0.00000001"})
    for n in names:
        for _ in range(20):  # reconnects get a script too
            streams[n].script(*_script(servers[n], seconds, n, rng))
    monitors: dict[str, Monitor] = {}
    for n in names:
        settings = Settings(base_url=servers[n].base_url, api_key=API_KEY, api_secret=API_SECRET,
                            interval=2.0, stream_url=streams[n].url, profile=n)
        client = make_client(settings, argparse.Namespace(demo=False), None, budget)
        m = Monitor(settings=settings, client=client, profile=n)
        m.ledger.first_delay = float("inf")  # as in the one-account soak: its faults, not the ledger's
        m.attach_stream(UserStream(client, streams[n].url, on_event=m.on_push_event, on_status=m.on_push_status))
        monitors[n] = m
    problems = _Problems()
    pmtui_log = logging.getLogger("pmtui")
    old_level, old_propagate = pmtui_log.level, pmtui_log.propagate
    pmtui_log.setLevel(logging.DEBUG)
    pmtui_log.propagate = False
    pmtui_log.addHandler(problems)
    last_ok = {n: time.monotonic() for n in names}
    max_gap = {n: 0.0 for n in names}
    from pmtui.mailbox import Mailbox

    box: Mailbox[str] = Mailbox()  # as `watch` hands states over

    def watcher(name: str) -> Callable[[Any], None]:
        def seen(state: Any) -> None:
            box.put(name, state)
            if "data" in state.changed and not state.stale:
                now = time.monotonic()
                max_gap[name] = max(max_gap[name], now - last_ok[name])
                last_ok[name] = now
        return seen

    for n, m in monitors.items():
        m.subscribe(watcher(n))
    from pmtui.budget import weight_of

    um_requests = {n: 0 for n in names}
    weights = {n: 0 for n in names}
    recent: dict[str, list[float]] = {n: [] for n in names}  # arrivals of the last two audits
    windows: dict[str, list[Served]] = {n: [] for n in names}  # 429s whose window is not yet checked

    def audit() -> None:
        """Count what each server saw and check every Retry-After window, taking the servers'
        logs in pieces (kept whole for ten minutes, they would be this process's growth)."""
        for n, server in servers.items():
            requests, served = server.take()
            um_requests[n] += sum(r.path == UM_ACCOUNT for r in requests)
            weights[n] += sum(weight_of(r.path) for r in requests)
            report.deletes += sum(r.method == "DELETE" for r in requests)
            arrivals = recent[n][-200:] + [r.time for r in requests]
            recent[n] = arrivals
            for s in windows[n] + [s for s in served if s.status in (418, 429)]:
                if s not in windows[n]:
                    report.ban_windows += 1
                wait = s.retry_after if s.retry_after is not None else SELF_CHOSEN_WAIT
                report.requests_in_bans += sum(1 for t in arrivals if s.time < t < s.time + wait - 0.005)
            # A window is checked again after the next piece (its requests may arrive later), once.
            windows[n] = [s for s in served if s.status in (418, 429)]

    runners = [asyncio.ensure_future(m.run()) for m in monitors.values()]
    started = time.monotonic()
    next_429 = started + 30
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            await asyncio.sleep(1.0)
            while len(box):  # a reader that keeps up (print would go here)
                await box.get()
            for r in runners:
                if r.done():
                    raise SoakFailure(f"a monitor stopped: {r.exception()!r}")
            if time.monotonic() >= next_429:
                servers["quiet"].inject("429", path=UM_ACCOUNT, retry_after=rng.choice((1, 2)))
                next_429 = time.monotonic() + rng.uniform(40, 90)
            if int(elapsed) % 15 == 0:
                audit()
                gc.collect()
                report.rss_mb.append((elapsed, rss_mb()))
                if progress is not None:
                    progress(f"{elapsed:.0f} s, RSS {rss_mb():.0f} MB, " + ", ".join(
                        f"{n} {'LIVE' if not m.poller.stale else 'STALE'} age {m.poller.age() or 0:.1f} "
                        f"push {'up' if m.push and m.push.up else m.push.reason if m.push else 'down'} events "
                        f"{m.stream.status.events if m.stream else 0}"  # type: ignore[attr-defined]
                        for n, m in monitors.items()))
        # The end: every account live and current, its stream up.
        report.seconds = time.monotonic() - started
        for n, m in monitors.items():
            age = m.poller.age()
            up = m.push is not None and m.push.up
            live = not m.poller.stale and age is not None and age < 3 * m.poller.interval
            report.final[n] = f"{'LIVE' if live else 'STALE'}, age {age or 0:.1f} s, push {'up' if up else 'down'}"
            if not live or not up:
                report.problems.append(f"{n} not live and current at the end: {report.final[n]}")
            stream = m.stream
            report.events[n] = stream.status.events if stream is not None else 0  # type: ignore[attr-defined]
            report.refreshes[n] = m.poller.polls
            report.max_gap_s[n] = max_gap[n]
        audit()
        for n in names:
            minutes = report.seconds / 60
            report.requests_per_min[n] = um_requests[n] / minutes
            report.weight_per_min[n] = weights[n] / minutes
        if report.requests_in_bans:
            report.problems.append(f"{report.requests_in_bans} requests inside Retry-After windows")
        if problems.records:
            report.problems.append(f"pmtui logged a bug: {problems.records[:3]}")
    finally:
        for m in monitors.values():
            await m.aclose()
        for r in runners:
            r.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        for n in names:
            deletes = [r for r in servers[n].requests if r.method == "DELETE"]
            report.deletes += len(deletes)
            servers[n].stop()
            await streams[n].stop()
        pmtui_log.removeHandler(problems)
        pmtui_log.setLevel(old_level)
        pmtui_log.propagate = old_propagate
    gc.collect()
    report.rss_mb.append((time.monotonic() - started, rss_mb()))
    return report


if __name__ == "__main__":
    sys.exit(main())
