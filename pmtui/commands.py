"""The headless commands, each written once over a Fleet of one account or many: `snapshot`,
`check`, `watch` and `history`. They only render MonitorStates; judging is the core's.

A fleet of one prints as pmtui always has (no profile prefix; a failure is the command's own
`pmtui: error: …` line); several accounts print a section, a line prefix or a JSON key per
account, and `check` ranks them so the worst decides the exit code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pmtui import output
from pmtui.endpoints import (
    BALANCE,
    CM_ACCOUNT,
    CM_ADL,
    CM_BRACKETS,
    CM_POSITION_RISK,
    COLLATERAL_RATE,
    INDEX_ALL_WEIGHT,
    MARGIN_LEVERAGE,
    PM_ACCOUNT,
    SERVER_TIME,
    UM_ACCOUNT,
    UM_ACCOUNT_CONFIG,
    UM_ADL,
    UM_BRACKETS,
    UM_POSITION_RISK,
    UM_TRADING_STATUS,
)
from pmtui.errors import ConfigError, PmtuiError
from pmtui.fleet import Account, Fleet, FleetOptions, rank_key
from pmtui.health import Level
from pmtui.ledger import DAY_MS, FORCED, Ledger
from pmtui.text import name as shown_name

if TYPE_CHECKING:
    from pmtui.lines import LineWriter
    from pmtui.mailbox import Mailbox
    from pmtui.settings import Settings, Thresholds
    from pmtui.state import MonitorState

log = logging.getLogger("pmtui")

# `pmtui check` exit codes, as monitoring systems (Nagios, Icinga, Zabbix checks) read them.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


def unexpected(err: BaseException) -> str:
    """The sentence for a bug: its details go only to the --debug log."""
    log.debug("unexpected error", exc_info=err)
    return f"unexpected internal error ({type(err).__name__}); run again with --debug and report the log."


def _error(fleet: Fleet, profile: str, message: str) -> None:
    label = fleet.label(profile)
    print(f"pmtui: error: {label + ': ' if label else ''}{message}", file=sys.stderr)


async def _fetch_all(fleet: Fleet, fetch: Callable[[Account], Any], timeout: float | None = None,
                     said: float | None = None) -> list[tuple[Account, Any, str | None]]:
    """`fetch(account)` for every account at once (one budget paces them): each account's state,
    or the sentence why it has none. A bug for one account must not hide the others' answers.
    `timeout`: seconds to wait for them all; an account not read by then says so (that it was
    not read within `said` seconds, the timeout asked for)."""
    async def one(account: Account) -> tuple[Account, Any, str | None]:
        if account.monitor is None:
            return account, None, account.error or "not watched"
        try:
            return account, await fetch(account), None
        except PmtuiError as err:
            log.debug("%s failed: %s (%s)", account.profile, err.message, type(err).__name__)
            return account, None, err.message
        except Exception as err:
            return account, None, unexpected(err)

    tasks = [asyncio.ensure_future(one(a)) for a in fleet.accounts]
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        within = said if said is not None else timeout or 0.0
        late = f"not read within {within:g} s (--timeout): the exchange or the weight budget was too slow."
        return [task.result() if task.done() else (account, None, late)
                for account, task in zip(fleet.accounts, tasks, strict=True)]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fleet.aclose()


def _record(fleet: Fleet, profile: str, state: MonitorState) -> None:
    """--record for the one-shot commands: this state as one history row and one recorded state
    (pmtui.record). Recording is a side job: a failure is a warning, the state is still the answer."""
    history = fleet.options.history()
    if history is None or state.view is None:
        return
    from pmtui.history import sample_from_view
    from pmtui.record import record_now

    try:
        history.record(sample_from_view(state.view, profile))
        settings = next((a.settings for a in fleet.accounts if a.profile == profile and a.settings), None)
        record_now(history.path, profile, state, retention_days=settings.retention_days if settings else None,
                   max_size_mb=settings.max_size if settings else None)
    except PmtuiError as err:
        label = fleet.label(profile)
        print(f"pmtui: warning: {label + ': ' if label else ''}{err.message}", file=sys.stderr)


# --- snapshot ---------------------------------------------------------------------------------------

async def snapshot(fleet: Fleet, *, as_json: bool = False, include_zero: bool = False) -> int:
    """Fetch once and print each account (JSON: the API's objects unchanged plus `view`; several
    accounts: one object keyed by profile, an account that failed as {"error": sentence}). Exit 1
    if any account failed."""
    # The table shows prices to each symbol's tick size; JSON keeps the API's strings.
    async def fetch(account: Account) -> MonitorState:
        assert account.monitor is not None
        # JSON adds the last day's ledger, its rows as the API sent them (pmtui.ledger).
        book = Ledger(lookback_ms=DAY_MS, clock=fleet.clock) if as_json else None
        return await account.monitor.fetch_once(markets=not as_json, ledger=book)

    results = await _fetch_all(fleet, fetch)
    # The terminal's width (or COLUMNS); 140 into a pipe or file.
    width = max(40, shutil.get_terminal_size((140, 24)).columns)
    sections: list[str] = []
    failed = 0
    for account, state, error in results:
        if error is not None or state is None or state.account is None:
            failed += 1
            _error(fleet, account.profile, error or "no data")
            if as_json:
                sections.append(f"{json.dumps(account.profile)}: {json.dumps({'error': error})}")
            else:
                sections.append(f"== {shown_name(account.profile)} ==\nerror: {error}")
            continue
        parts = output.parts_of(state)
        if as_json:
            doc = output.snapshot_json(state.account, include_zero=include_zero, view=state.view,
                                       verdict=state.verdict, **parts)
            # Text, not a re-parse: the API's numbers keep their exact digits.
            sections.append(doc if fleet.single else f"{json.dumps(account.profile)}: " + doc.replace("\n", "\n  "))
        else:
            assert account.settings is not None and account.monitor is not None
            table = output.snapshot_table(state.account, account.settings.thresholds, include_zero=include_zero,
                                          width=width, markets=account.monitor.markets, **parts)
            sections.append(table if fleet.single else f"== {shown_name(account.profile)} ==\n{table}")
        _record(fleet, account.profile, state)
    if fleet.single:
        if not failed:
            print(sections[0])
    elif as_json:
        print("{\n  " + ",\n  ".join(sections) + "\n}")
    else:
        print("\n\n".join(sections))
    return 1 if failed else 0


# --- ledger -----------------------------------------------------------------------------------------

async def ledger(fleet: Fleet, *, since_ms: int, fmt: str = "table") -> int:
    """Each account's ledger from `since_ms` (epoch ms) to now: funding, commission, interest,
    realized PnL, liquidation and ADL fills. table: totals by kind and the events; csv: the events;
    json: the API's rows unchanged by endpoint. Several accounts: a section (json: a key, csv: a
    `profile` column) each. Exit 1 if any account failed."""
    async def fetch(account: Account) -> MonitorState:
        assert account.monitor is not None
        now_ms = int(fleet.clock.time() * 1000)
        book = Ledger(lookback_ms=max(now_ms - since_ms, 0), clock=fleet.clock)
        return await account.monitor.fetch_once(account=False, position_risk=False, balance=False, cm=False,
                                                risk=False, ledger=book)

    results = await _fetch_all(fleet, fetch)
    width = max(40, shutil.get_terminal_size((140, 24)).columns)
    sections: list[str] = []
    failed = 0
    for account, state, error in results:
        if error is not None or state is None or state.ledger is None:
            failed += 1
            _error(fleet, account.profile, error or "no data")
            if fmt == "json":
                sections.append(f"{json.dumps(account.profile)}: {json.dumps({'error': error})}")
            elif fmt == "table":
                sections.append(f"== {shown_name(account.profile)} ==\nerror: {error}")
            continue
        view = state.ledger
        if fmt == "json":
            doc = json.dumps(output.ledger_json(view, since_ms), indent=2, default=output.json_default)
            sections.append(doc if fleet.single else f"{json.dumps(account.profile)}: " + doc.replace("\n", "\n  "))
        elif fmt == "csv":
            for note in (*view.notes, *view.unavailable.values()):  # CSV is data only: the sentences go aside
                print(f"pmtui: {shown_name(account.profile) + ': ' if not fleet.single else ''}note: {note}",
                      file=sys.stderr)
            text = output.ledger_csv(view.between(since_ms))
            if not fleet.single:  # one table: the profile first on each line
                head, *lines = text.splitlines()
                text = "\n".join([f"profile,{head}", *(f"{json.dumps(account.profile)},{line}" for line in lines)])
            sections.append(text.rstrip("\n"))
        else:
            from pmtui.ledger import prices_from

            table = output.ledger_table(view, int(fleet.clock.time() * 1000), since_ms=since_ms,
                                        prices=prices_from(state.risk), width=width)
            sections.append(table if fleet.single else f"== {shown_name(account.profile)} ==\n{table}")
    if fleet.single:
        if not failed:  # its error was said on stderr
            print(sections[0])
    elif fmt == "json":
        print("{\n  " + ",\n  ".join(sections) + "\n}")
    elif fmt == "csv":
        if sections:
            first, *rest = sections
            print("\n".join([first, *(s.split("\n", 1)[1] for s in rest if "\n" in s)]))
    else:
        print("\n\n".join(sections))
    return 1 if failed else 0


# --- check ------------------------------------------------------------------------------------------

def check_thresholds(t: Thresholds, warning: Decimal | None, critical: Decimal | None) -> Thresholds:
    """`-w`/`-c` over the configured thresholds: WARNING at or below `warning`, CRITICAL (the
    dashboard's DANGER and worse) at or below `critical`."""
    w = warning if warning is not None else t.unimmr_warn
    c = critical if critical is not None else t.unimmr_danger
    if not w > c:
        raise ConfigError(f"check: the warning uniMMR ({w}) must be above the critical one ({c}).")
    from pmtui.settings import Thresholds

    # The liquidation band only has to stay below: DANGER and CRITICAL both exit 2.
    low = t.unimmr_critical if t.unimmr_critical < c else c / 2
    return Thresholds(**(t.model_dump() | {"unimmr_warn": w, "unimmr_danger": c, "unimmr_critical": low}))


def judge(state: MonitorState, settings: Settings, thresholds: Thresholds) -> tuple[Level | None, str]:
    """One account's check: its level (None: UNKNOWN) and status line, from every part of its
    state (UM, COIN-M, uniMMR, what the key may not read) and its alert rules."""
    assert state.account is not None  # fetch_once raises unless the UM account came
    return output.check_line(
        state.account, thresholds, pm=state.pm, risks=state.risks, alerts=settings.alerts,
        unavailable=state.unavailable, cm=state.cm, cm_risks=state.cm_risks, risk=state.risk,
        ledger=state.ledger, adl=state.adl, locks=state.locks,
    )


@dataclass(frozen=True)
class CheckResult:
    """One account's `check` answer: its level (None: UNKNOWN), status line, or why it failed."""

    profile: str
    level: Level | None
    line: str | None = None
    error: str | None = None
    unimmr: Decimal | None = None

    @property
    def word(self) -> str:
        return output.check_word(self.level)

    @property
    def code(self) -> int:
        return {"OK": EXIT_OK, "WARNING": EXIT_WARNING, "CRITICAL": EXIT_CRITICAL}.get(self.word, EXIT_UNKNOWN)


_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def perf_label(profile: str) -> str:
    """A profile name as a perfdata label prefix: letters, digits, '_', '.', '-' only (Nagios
    labels may not hold '=' or quotes, and a space would need quoting)."""
    return _LABEL_UNSAFE.sub("_", profile).strip("_") or "profile"


def _parts(line: str) -> tuple[str, str]:
    """A check_line's detail (after 'PMTUI WORD - ') and perfdata (after ' | ')."""
    head, _, perf = line.partition(" | ")
    return head.split(" - ", 1)[1] if " - " in head else head, perf


def combine(results: Sequence[CheckResult]) -> tuple[int, str]:
    """The exit code and the one status line for several accounts: the worst account (SEVERITY:
    CRITICAL over UNKNOWN over WARNING over OK) decides both; the line names it, says how many
    accounts were checked and how each fared, and carries every account's perfdata, each label
    prefixed by its profile (`alpha_uniMMR=1.80;1.5;1.2`)."""
    ordered = sorted(results, key=lambda r: rank_key(r.level, r.unimmr, r.profile))
    worst = ordered[0]
    if worst.error is not None:
        detail = f"could not check: {worst.error.rstrip('.')}"  # the line goes on: "…; 3 accounts checked"
    else:
        assert worst.line is not None
        detail = _parts(worst.line)[0]
    counts = ", ".join(f"{shown_name(r.profile)} {r.word}" for r in ordered[:8])
    if len(ordered) > 8:
        counts += f" and {len(ordered) - 8} more"
    perf: list[str] = []
    used: set[str] = set()
    for r in results:
        if r.line is None:
            continue
        items = _parts(r.line)[1].split()
        names = [item.partition("=")[0] for item in items]
        label = perf_label(r.profile)
        # Two names that sanitise alike ("a b", "a_b") keep apart, and so do a prefix and an item
        # that run together alike ("main" + "account_maint_margin", "main account" + "maint_margin").
        while label in used or any(f"{label}_{n}" in used for n in names):
            label += "_"
        used.add(label)
        used.update(f"{label}_{n}" for n in names)
        perf += [f"{label}_{item}" for item in items]
    checked = f"{len(results)} account{'s' if len(results) != 1 else ''} checked"
    summary = f"{shown_name(worst.profile)}: {detail}; {checked} ({counts})".replace("|", "/")
    line = f"PMTUI {worst.word} - {summary}" + (f" | {' '.join(perf)}" if perf else "")
    return worst.code, line


#: Seconds `check` waits for its accounts by default: a Nagios check is killed at 10 s, and the
#: process needs a moment to start and to print. An account not read by then is UNKNOWN.
CHECK_TIMEOUT = 8.0
#: What `check` reads of one account for its verdict, at most: the UM account, uniMMR
#: (/papi/v1/account), positionRisk, the COIN-M account and positionRisk, the ADL queues and the
#: trading locks. (56 for an account without COIN-M positions.)
CHECK_WEIGHT = sum(e.weight for e in (UM_ACCOUNT, PM_ACCOUNT, UM_POSITION_RISK, CM_ACCOUNT, CM_POSITION_RISK,
                                      UM_ADL, CM_ADL, UM_ACCOUNT_CONFIG, UM_TRADING_STATUS))
#: What the risk model adds: each account's /papi/v1/balance, and once for all its market inputs
#: (pmtui.riskfeed: collateral rates, margin leverage, both brackets, every index price at most).
RISK_WEIGHT = BALANCE.weight
RISK_FEED_WEIGHT = COLLATERAL_RATE.weight + MARGIN_LEVERAGE.weight + UM_BRACKETS.weight + CM_BRACKETS.weight \
    + INDEX_ALL_WEIGHT


def check_reads_model(accounts: int, capacity: float) -> bool:
    """Whether a check of this many accounts reads the risk model's inputs for the liquidation move
    it says (the verdict does not need them): only when they fit in the one-shot's burst beside
    every account's verdict (`capacity`: what the budget may send at once), so a check never waits
    on the budget for them. 3,000 weight (weight_share 0.5) carry them for up to 35 accounts."""
    return accounts * (CHECK_WEIGHT + RISK_WEIGHT) + RISK_FEED_WEIGHT + SERVER_TIME.weight <= capacity


async def check(fleet: Fleet, *, warning: Decimal | None = None, critical: Decimal | None = None,
                prom_textfile: Path | None = None, timeout: float | None = CHECK_TIMEOUT, spent: float = 0.0) -> int:
    """One status line for cron / Nagios over every account (fetched at once, on one budget): the
    worst account's exit code. A fleet of one prints its own line. `prom_textfile`: also write the
    accounts' metrics there for node_exporter (a failure to is a warning: the line still decides).
    `timeout`: seconds to wait for the accounts (None: as long as they take), of which `spent`
    are gone already (the process's start); one not read by then is UNKNOWN, with the others'
    answers beside it."""
    watched = [a.monitor for a in fleet.watched if a.monitor is not None]
    # An attached fleet's monitors have no client (the daemon's are read): no budget, no model.
    budget = fleet.budget or next((m.client.budget for m in watched if m.client is not None), None)
    model = budget is not None and check_reads_model(len(watched), budget.capacity)

    async def fetch(account: Account) -> tuple[MonitorState, Thresholds]:
        assert account.monitor is not None and account.settings is not None
        t = check_thresholds(account.settings.thresholds, warning, critical)
        # /papi/v1/balance only for the risk model (its liquidation move needs every asset's net):
        # uniMMR already counts the loans. The model when it fits the burst, and always when a
        # liq_move_below rule needs it (then it is part of the verdict).
        risk = account.settings.risk_model and (model or account.settings.alerts.liq_move_below is not None)
        # The last day's liquidation and ADL fills (forceOrders, 50 + 50) when forced_fill is on, for
        # one account: for many, 100 weight each is more than the one-shot burst carries within a
        # Nagios timeout (50 accounts took 2 minutes); the daemon, which reads them minutes apart,
        # alerts on them for a fleet.
        forced = Ledger(sources=FORCED, lookback_ms=DAY_MS, clock=fleet.clock) \
            if account.settings.alerts.forced_fill and fleet.single else None
        return await account.monitor.fetch_once(balance=risk, risk=risk, ledger=forced), t

    results: list[CheckResult] = []
    waited = None if timeout is None else max(0.0, timeout - spent)
    for account, fetched, error in await _fetch_all(fleet, fetch, waited, timeout):
        if error is not None:
            results.append(CheckResult(account.profile, None, error=error))
            continue
        assert account.settings is not None
        state, thresholds = fetched
        level, line = judge(state, account.settings, thresholds)
        unimmr = state.view.unimmr if state.view is not None else None
        results.append(CheckResult(account.profile, level, line, unimmr=unimmr))
        _record(fleet, account.profile, state)
    if prom_textfile is not None:
        from pmtui.metrics import write_textfile

        try:
            write_textfile(fleet, prom_textfile)
        except PmtuiError as err:
            print(f"pmtui: warning: {err.message}", file=sys.stderr)
    if fleet.single:
        result = results[0]
        if result.error is not None:
            print(f"PMTUI UNKNOWN - {result.error}")
            _error(fleet, result.profile, result.error)
            return EXIT_UNKNOWN
        assert result.line is not None
        print(result.line)
        # No current uniMMR, and the key may read it: never OK blind (UNKNOWN, exit 3).
        return result.code
    code, line = combine(results)
    print(line)
    return code


# --- watch ------------------------------------------------------------------------------------------

class WatchLines:
    """What `watch` says of each new state, written once for `watch` (stdout), the daemon's log
    (stderr, for journald) and a watch attached to the daemon: one line per refresh, fault,
    recovery, pushed event and alert, led by the profile when there are several (JSON: a
    "profile" field first); a fault that repeats, or the same picture again, is said once; what
    the dashboard would toast ("Recording stopped") goes to `err`."""

    def __init__(self, fleet: Fleet, out: LineWriter, err: LineWriter, *, as_json: bool = False) -> None:
        self.fleet, self.out, self.err, self.as_json = fleet, out, err, as_json
        self._shown: dict[str, MonitorState] = {}
        self._last_fault: dict[str, str | None] = {}
        self._last_line: dict[str, str] = {}

    def say(self, profile: str, state: MonitorState) -> None:
        from pmtui.lines import notice_line
        from pmtui.state import DATA, FAULT, MARKS

        label = self.fleet.label(profile)
        printed = bool(state.changed & WORTH_A_LINE)
        for notice in state.notices:  # what the dashboard would toast ("Recording stopped"): stderr
            if not (printed and notice.title in SAID_IN_LINE):
                self.err.write(notice_line(notice.severity, f"{label}: {notice.message}" if label else notice.message))
        if not printed or (MARKS in state.changed and not state.alerts):
            return  # the positions at the stream's marks, each second: refreshes and alerts say enough
        if state.view is None and state.status.error is None and not state.alerts:
            return  # nothing known yet (the user stream can be up before the first data): no line
        fault = state.status.error.message if state.status.error is not None else None
        if not (state.changed & WORTH_A_LINE) - {FAULT} and not state.alerts and fault == self._last_fault.get(profile):
            return  # the same fault again (each retry): said once is enough
        self._last_fault[profile] = fault
        if self.as_json:
            before = self._shown.get(profile)
            positions = output.changed_positions(before.view if before else None, state.view)
            line = output.watch_json(state, state.changed, positions)
            self.out.write(line if self.fleet.single else f'{{"profile":{json.dumps(profile)},{line[1:]}')
        else:
            line = output.watch_line(state)
            line = f"{label}: {line}" if label else line
            # At start the account, positionRisk and exchangeInfo each publish the same picture
            # within one second: one line says it.
            if line != self._last_line.get(profile):
                self.out.write(line)
            self._last_line[profile] = line
        if DATA in state.changed:
            self._shown[profile] = state


async def follow(queue: Mailbox[str], until: asyncio.Future[Any], handle: Callable[[str, MonitorState], None]) -> None:
    """Hand each account's newest waiting state to `handle` until `until` is done."""
    while not until.done():
        getter: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
        await asyncio.wait([getter, until], return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return
        handle(*getter.result())


def _not_watched(fleet: Fleet) -> None:
    for account in fleet.accounts:
        if account.monitor is None:
            _error(fleet, account.profile, account.error or "not watched")


async def watch(fleet: Fleet, *, as_json: bool = False, metrics_address: str | None = None) -> int:
    """The core without a screen: one line per new state of any account (WatchLines). Accounts
    that cannot be watched are said once on stderr. Output goes through a LineWriter: a reader
    that stops reading never stops the Monitors or a signal, one that goes away ends the command
    (exit 0). Stops on Ctrl-C, SIGTERM or a hang-up: 128 + the signal (130, 143, 129).
    `metrics_address`: also serve the accounts' Prometheus metrics there (pmtui.metrics; a port
    taken is the command's error)."""
    from pmtui.lines import LineWriter
    from pmtui.mailbox import Mailbox

    watched = fleet.watched
    _not_watched(fleet)
    if not watched:
        await fleet.aclose()
        return 1
    # Bounded: one waiting state per account, newest wins (a flood of pushed events on one account
    # neither grows memory nor holds back the others' lines).
    queue: Mailbox[str] = Mailbox()
    for account in watched:
        assert account.monitor is not None
        account.monitor.subscribe(partial(queue.put, account.profile))
    metrics = None
    if metrics_address is not None:
        from pmtui.metrics import start_metrics

        try:
            metrics = start_metrics(fleet, metrics_address)
        except PmtuiError:
            await fleet.aclose()
            raise
        print(f"pmtui: metrics on {metrics.url}", file=sys.stderr, flush=True)
    runners = [asyncio.ensure_future(a.monitor.run()) for a in watched if a.monitor is not None]
    everything: asyncio.Future[Any] = asyncio.gather(*runners)
    stopped_by: list[int] = []

    def stop(signum: int) -> None:
        stopped_by.append(signum)
        everything.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop, sig)
    out = LineWriter(on_closed=lambda: loop.call_soon_threadsafe(everything.cancel))
    err = LineWriter(sys.stderr.fileno())
    # Alerts off the terminal (apprise routes, repeats, heartbeat): never in the way of the lines.
    from pmtui.delivery import Deliverer
    from pmtui.lines import notice_line

    deliverer = Deliverer.for_accounts(watched, on_problem=lambda sentence: err.write(notice_line("warning", sentence)))
    for problem in deliverer.problems:
        err.write(notice_line("warning", problem))
    deliverer.start()
    if metrics is not None:
        metrics.collector.deliverer = deliverer
    try:
        await follow(queue, everything, WatchLines(fleet, out, err, as_json=as_json).say)
    finally:
        everything.cancel()
        try:
            await everything
        except BaseException:
            pass
        await deliverer.aclose()
        if metrics is not None:
            await asyncio.to_thread(metrics.close)
        await fleet.aclose()
    if not stopped_by:
        out.drain(1.0)  # what is queued, unless the reader is stuck
        err.drain(1.0)
    return 128 + stopped_by[0] if stopped_by else 0


# --- daemon -----------------------------------------------------------------------------------------

class DaemonPlugin(Protocol):
    """Something more the daemon does with the states (Prometheus metrics, alert routes): it sees
    every state of every account, and runs beside the Monitors until the daemon stops. Neither
    may block: `on_state` is called from the Monitors' loop."""

    def on_state(self, profile: str, state: MonitorState) -> None: ...

    async def run(self) -> None: ...

    async def aclose(self) -> None: ...


async def daemon(fleet: Fleet, *, socket: Path | None = None, plugins: Sequence[DaemonPlugin] = (),
                 metrics_address: str | None = None, environ: Mapping[str, str] | None = None,
                 ready: Callable[[], None] = lambda: None) -> int:
    """`pmtui daemon`: every account's Monitor (stream included) until SIGTERM or SIGINT, with no
    screen: each event one line on stderr (journald's), the sentences `watch` prints; each state
    to the viewers attached to the Unix socket (`socket`: pmtui.daemon.socket_path's by default;
    a path that is not private, or that another daemon holds, is refused in one sentence);
    systemd told READY=1 once every account's first refresh has ended (data or fault),
    WATCHDOG=1 while the loop runs and STOPPING=1 at the end. A clean stop closes every
    Monitor (stream sockets, clients, history) and the socket, and exits 0. `plugins`: metrics
    and alert delivery, wired by the CLI (see DaemonPlugin). `metrics_address`: serve the
    accounts' Prometheus metrics there, as `watch` does. `ready` is called with READY=1
    (tests wait on it)."""
    import os

    from pmtui import daemon as d
    from pmtui.lines import LineWriter
    from pmtui.mailbox import Mailbox
    from pmtui.state import DATA, FAULT

    env = os.environ if environ is None else environ
    err = LineWriter(sys.stderr.fileno())
    watched = fleet.watched
    for account in fleet.accounts:
        if account.monitor is None:
            err.write(f"pmtui: error: {shown_name(account.profile)}: {account.error or 'not watched'}")
    if not watched:
        await fleet.aclose()
        err.drain(1.0)
        return 1
    monitors = {a.profile: a.monitor for a in watched if a.monitor is not None}

    def request(profile: str | None, op: str, paused: bool | None) -> None:
        for name, monitor in monitors.items():
            if profile is None or name == profile:
                if op == "refresh":
                    monitor.refresh_now()
                else:
                    monitor.set_paused(not monitor.poller.paused if paused is None else paused)

    path = socket or d.socket_path(env)
    server = d.AttachServer(path, d.hello([(a.profile, a.error) for a in fleet.accounts], demo=fleet.options.demo),
                            request, err.write)
    try:
        await server.start()
    except BaseException:
        await fleet.aclose()
        raise
    metrics = None
    if metrics_address is not None:
        from pmtui.metrics import start_metrics

        try:
            metrics = start_metrics(fleet, metrics_address)
        except PmtuiError:
            await server.aclose()
            await fleet.aclose()
            raise
        err.write(f"pmtui: metrics on {metrics.url}")
    # Alerts off the terminal (apprise routes, repeats, heartbeat), as watch and the dashboard do.
    from pmtui.delivery import Deliverer
    from pmtui.lines import notice_line

    deliverer = Deliverer.for_accounts(watched, on_problem=lambda sentence: err.write(notice_line("warning", sentence)))
    for problem in deliverer.problems:
        err.write(notice_line("warning", problem))
    deliverer.start()
    if metrics is not None:
        metrics.collector.deliverer = deliverer
    err.write(f"pmtui: daemon watching {len(monitors)} account{'s' if len(monitors) != 1 else ''};"
              f" viewers attach at {path}")
    queue: Mailbox[str] = Mailbox()
    waiting = set(monitors)  # accounts whose first refresh has not ended yet

    def listener(profile: str) -> Callable[[MonitorState], None]:
        def on_state(state: MonitorState) -> None:
            queue.put(profile, state)
            server.publish(profile, state)
            for plugin in plugins:
                try:
                    plugin.on_state(profile, state)
                except Exception:  # a plugin's bug must not stop the others, nor the collector
                    log.debug("daemon plugin failed", exc_info=True)
            if waiting and state.changed & {DATA, FAULT}:
                waiting.discard(profile)
                if not waiting:
                    d.notify("READY=1", environ=env)
                    ready()
        return on_state

    for profile, monitor in monitors.items():
        monitor.subscribe(listener(profile))
    tasks = [asyncio.ensure_future(m.run()) for m in monitors.values()]
    tasks += [asyncio.ensure_future(p.run()) for p in plugins]
    beat = d.watchdog_interval(env)
    if beat is not None:
        tasks.append(asyncio.ensure_future(_watchdog(beat, env)))
    everything: asyncio.Future[Any] = asyncio.gather(*tasks)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, everything.cancel)
    try:
        await follow(queue, everything, WatchLines(fleet, err, err).say)
    finally:
        d.notify("STOPPING=1", environ=env)
        everything.cancel()
        try:
            await everything
        except BaseException:
            pass
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await server.aclose()
        await deliverer.aclose()
        if metrics is not None:
            await asyncio.to_thread(metrics.close)
        await asyncio.gather(*(p.aclose() for p in plugins), return_exceptions=True)
        await fleet.aclose()
        err.write("pmtui: daemon stopped")
        err.drain(1.0)
    return 0


async def _watchdog(every: float, environ: Mapping[str, str]) -> None:
    """WATCHDOG=1 as long as the event loop runs this (a loop stuck in a blocking call goes
    silent, and systemd restarts the service)."""
    from pmtui.daemon import notify

    while True:
        notify("WATCHDOG=1", environ=environ)
        await asyncio.sleep(every)


#: Notices whose news a printed watch line already carries (its alerts, its fault, LIVE again).
SAID_IN_LINE = frozenset({"Alert", "Alert cleared", "Refresh failed", "Action needed", "Recovered", "Internal error"})
#: What in a state is worth a line (a tick of the clock, or a change of status alone, is not).
WORTH_A_LINE = frozenset({"data", "fault", "push", "alerts"})


# --- alerts test -----------------------------------------------------------------------------------

async def alerts_test(accounts: Sequence[Account], level: str | None = None) -> int:
    """`pmtui alerts test`: a test message through every alert route of these accounts (of one
    level when given), one line per route, redacted: 0 when every one worked, else 1."""
    from pmtui.delivery import Deliverer

    for account in accounts:
        if account.settings is None:
            print(f"pmtui: error: {shown_name(account.profile)}: {account.error}", file=sys.stderr)
    deliverer = Deliverer({a.profile: a.settings.alerts for a in accounts if a.settings is not None})
    for problem in deliverer.problems:
        print(f"pmtui: error: {problem}", file=sys.stderr)
    results = await deliverer.test(level)
    if not results:
        if not deliverer.problems:
            which = f"{level} alert routes" if level else "alert routes"
            print(f"pmtui: error: No {which} are configured: add apprise URLs to [alerts.routes] in the"
                  " config file (see config.example.toml).", file=sys.stderr)
        return 1
    for route, levels, ok, why in results:
        print(f"{'ok' if ok else 'FAILED':6}  {'+'.join(levels):21}  {route.name}" + ("" if ok else f": {why}"))
    return 0 if all(ok for _, _, ok, _ in results) and not deliverer.problems else 1


# --- whatif -----------------------------------------------------------------------------------------

async def whatif(fleet: Fleet, move: Decimal, asset: str | None, *, as_json: bool = False) -> int:
    """`pmtui whatif MOVE [ASSET]`: one scenario of the risk model on a fresh fetch of the one
    account (a move of every non-stablecoin, or of one underlying)."""
    from pmtui import riskview
    from pmtui.text import clean

    wanted = clean(asset, 20).upper() if asset else None
    account = fleet.accounts[0]
    assert fleet.single and account.monitor is not None
    async with account.monitor as monitor:
        state = await monitor.fetch_once()
    model = state.risk
    if model is None:
        raise ConfigError("The risk model is turned off (risk_model = false in the config): whatif needs it.")
    if wanted is not None and wanted not in model.underlyings:
        held = ", ".join(model.underlyings[:10]) or "none"
        raise ConfigError(f"{wanted} moves nothing in this account's book (its underlyings: {held}).")
    if as_json:
        print(json.dumps(riskview.scenario_json(model, move, wanted), indent=2))
    else:
        print(riskview.scenario_line(model, move, wanted))
    return 0


# --- history ----------------------------------------------------------------------------------------

def history(options: FleetOptions, *, profile: str | None, since: int | None, until: int | None, fmt: str,
            width: int = 140) -> int:
    """What --record recorded, as a table (`width` columns), CSV or JSON."""
    from pmtui.history import export_csv, export_json

    history = options.history(reading=True)
    assert history is not None
    rows = history.read(since, until, profile=profile)
    if fmt == "csv":
        export_csv(rows, sys.stdout)
    elif fmt == "json":
        export_json(rows, sys.stdout)
    else:
        print(output.history_table(rows, width=width))
    return 0


def report(options: FleetOptions, *, since: int | None, fmt: str, output_file: Path | None = None) -> int:
    """`pmtui report`: the post-mortem of one profile's recorded period (pmtui.report), as
    markdown or one HTML page, on stdout or to `output_file` (private: it holds account data)."""
    from pmtui import report as post_mortem
    from pmtui.replay import load

    profile, settings, records, _ = load(options, since_ms=since)
    text = post_mortem.render(post_mortem.build(profile, records, settings, since_ms=since), fmt)
    if output_file is None:
        sys.stdout.write(text)
        return 0
    try:
        fd = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, 0o600)  # an older file of the same name may have been readable by others
            f.write(text)
    except OSError as err:
        raise ConfigError(f"Cannot write the report to {output_file}: {err.strerror or type(err).__name__}.") from None
    print(f"pmtui: report written to {output_file}", file=sys.stderr)
    return 0


def history_states(options: FleetOptions, *, profile: str | None, since: int | None, until: int | None) -> int:
    """`history --states --format json`: every recorded state, oldest first, as a JSON array of
    {"time", "timeMs", "profile", "state"}: the state is `watch --json`'s object for it, decimal
    strings as the API sent them."""
    from pmtui.history import _iso
    from pmtui.record import read_states

    history = options.history(reading=True)
    assert history is not None
    rows = read_states(history.path, profile=profile, since_ms=since, until_ms=until)
    json.dump([{"time": _iso(r.time_ms), "timeMs": r.time_ms, "profile": r.profile, "state": r.doc}
               for r in rows], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
