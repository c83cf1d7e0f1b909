"""Many accounts at once (`--all-profiles`, or `--profile` given more than once): which accounts,
one Monitor each on ONE shared weight budget (Binance limits request weight per IP, not per
account), and how their verdicts rank, so the overview and `pmtui check` agree on the worst.

A profile that cannot be watched (no credentials, a secret command that fails) is still an
account: it carries its one-sentence ConfigError instead of a Monitor, and the others go on.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pmtui.errors import ConfigError, PmtuiError
from pmtui.health import Level
from pmtui.text import name as shown_name

if TYPE_CHECKING:
    from pmtui.budget import WeightBudget
    from pmtui.monitor import Monitor, MonitorState
    from pmtui.settings import Settings


@dataclass
class Account:
    """One watched account: its profile, and its settings and Monitor, or why it has none."""

    profile: str
    settings: Settings | None = None
    monitor: Monitor | None = None
    #: One sentence: why this account cannot be watched at all (its settings failed to load).
    error: str | None = None


# --- ranking: the same order on the overview and in `check` ---------------------------------------

#: How bad each answer is, worst highest. UNKNOWN (failed, or no uniMMR) counts as bad, above
#: WARN, but a *known* DANGER or CRITICAL outranks it: an account known to be near liquidation
#: matters more than one that could not be read (and `check` exits CRITICAL, not UNKNOWN, then).
SEVERITY = {"OK": 0, "WARN": 1, "UNKNOWN": 2, "DANGER": 3, "CRITICAL": 4}


def severity(level: Level | None) -> int:
    """A verdict level's rank in SEVERITY; None is UNKNOWN."""
    return SEVERITY["UNKNOWN"] if level is None else SEVERITY[level.name]


def rank_key(level: Level | None, unimmr: Decimal | None, profile: str) -> tuple[Any, ...]:
    """Sorts worst first: by severity, then lowest uniMMR (unknown first), then by name."""
    return (-severity(level), unimmr is not None, unimmr if unimmr is not None else Decimal(0), profile)


# --- which accounts ---------------------------------------------------------------------------

def wanted(args: argparse.Namespace) -> bool:
    """Whether these arguments ask for several accounts (one --profile is today's single account)."""
    return bool(getattr(args, "all_profiles", False)) or len(getattr(args, "profiles", None) or []) > 1


def select(args: argparse.Namespace, load: Callable[[str | None], Settings]) -> list[Account]:
    """The accounts these arguments name, each with its settings or its error sentence.

    `load(profile)` reads one profile's settings (None: the default settings, for the demo). With
    --demo the accounts are pmtui.demo.DEMO_ACCOUNTS; otherwise the config file's profiles (and
    "default" if it has credentials of its own), or the --profile names in the order given. An
    unknown name is a ConfigError for the whole command: it is a typo, not an account."""
    from pmtui.config import config_file, default_config_path, profile_names

    names: list[str] = list(dict.fromkeys(getattr(args, "profiles", None) or []))
    if args.all_profiles and names:
        raise ConfigError("--all-profiles and --profile both name the accounts to watch: give one of them.")
    if args.demo:
        from pmtui.demo import DEMO_ACCOUNTS

        unknown = [n for n in names if n not in DEMO_ACCOUNTS]
        if unknown:
            raise ConfigError(f"The demo has no account {unknown[0]!r}; its accounts are"
                              f" {', '.join(DEMO_ACCOUNTS)}.")
        settings = load(None)
        return [Account(name, settings) for name in (names or DEMO_ACCOUNTS)]
    import os

    # The environment's credentials stand in for every profile's (settings precedence): all the
    # "accounts" would be one account, watched several times under different names.
    env_keys = [v for v in ("PMTUI_API_KEY", "PMTUI_API_SECRET", "PMTUI_PRIVATE_KEY_FILE") if os.environ.get(v)]
    if env_keys:
        raise ConfigError(f"{env_keys[0]} is set, and it would stand in for every profile's key: unset it"
                          " to watch several accounts (each profile keeps its key in the config file).")
    if args.all_profiles:
        path, names = profile_names(args.config)
        accounts = [_account(name, load) for name in names]
        default = _account("default", load)
        if default.settings is not None and default.settings.has_credentials():
            accounts.insert(0, default)
        if not accounts:
            raise ConfigError(f"--all-profiles found no accounts in {path}: it has no [profiles.NAME]"
                              " tables and no api_key at the top level.")
        return accounts
    file = config_file(args.config)
    known = profile_names(file)[1] if file is not None else []
    unknown = [n for n in names if n != "default" and n not in known]
    if unknown and file is None:
        raise ConfigError(f"Profile {unknown[0]!r} was asked for but there is no config file"
                          f" (looked for {default_config_path()}).")
    if unknown:
        listed = ", ".join(sorted({"default", *known}))
        raise ConfigError(f"Profile {unknown[0]!r} is not in {file}; known profiles: {listed}.")
    return [_account(name, load) for name in names]


def _account(profile: str, load: Callable[[str | None], Settings]) -> Account:
    try:
        settings = load(profile)
    except ConfigError as err:
        return Account(profile, error=err.message)
    if not settings.has_credentials():
        from pmtui.config import default_config_path

        where = settings.config_path or default_config_path()
        return Account(profile, settings, error=f"No API key is configured for profile {profile!r}: put"
                       f" api_key and api_secret in its [profiles.{shown_name(profile)}] table of {where}.")
    return Account(profile, settings)


def shared_budget(accounts: Sequence[Account]) -> WeightBudget:
    """One budget for every account's client: the weight limit is the IP's. Its share is the
    smallest any account's settings allow, so no profile's limit is passed."""
    from pmtui.budget import WeightBudget

    shares = [a.settings.weight_share for a in accounts if a.settings is not None]
    return WeightBudget(min(shares, default=0.5))


# --- check ------------------------------------------------------------------------------------

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
        return "UNKNOWN" if self.level is None else _CHECK_WORDS[self.level]


_CHECK_WORDS = {Level.OK: "OK", Level.WARN: "WARNING", Level.DANGER: "CRITICAL", Level.CRITICAL: "CRITICAL"}
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
    code = {"OK": 0, "WARNING": 1, "CRITICAL": 2}.get(worst.word, 3)
    return code, line


def check_result(profile: str, state: MonitorState | None, level: Level | None, line: str | None,
                 error: PmtuiError | str | None = None) -> CheckResult:
    if error is not None:
        return CheckResult(profile, None, error=error if isinstance(error, str) else error.message)
    unimmr = state.view.unimmr if state is not None and state.view is not None else None
    return CheckResult(profile, level, line, unimmr=unimmr)


# --- the commands, for many accounts ------------------------------------------------------------

def attach_monitors(accounts: Sequence[Account], args: argparse.Namespace, *, history: Any = None,
                    stream: bool = False) -> WeightBudget:
    """A Monitor for each account that has settings, all on one weight budget (returned); with
    --demo each on its own demo exchange, all of them on one IP's weight count. An account whose
    client cannot be made (a bad private key file) keeps that sentence as its error."""
    from pmtui import cli

    from pmtui.riskfeed import RiskFeed

    budget = shared_budget(accounts)
    # Market data is the same for every account: one feed of the risk model's inputs for all.
    intervals = [a.settings.account_interval for a in accounts if a.settings is not None]
    risk_feed = RiskFeed(account_interval=max(intervals, default=10.0))
    first = None
    for account in accounts:
        if account.error is not None or account.settings is None:
            continue
        exchange = None
        if args.demo:
            from pmtui.demo import DEMO_ACCOUNTS, DemoExchange

            exchange = DemoExchange(hedge=args.hedge, same_ip=first, **DEMO_ACCOUNTS[account.profile])
            first = first or exchange
        try:
            account.monitor = cli.make_monitor(account.settings, args, history=history, stream=stream,
                                               exchange=exchange, budget=budget, profile=account.profile,
                                               risk_feed=risk_feed)
        except PmtuiError as err:
            account.error = err.message
    return budget


async def _close(accounts: Sequence[Account]) -> None:
    import asyncio

    await asyncio.gather(*(a.monitor.aclose() for a in accounts if a.monitor is not None))


def _unexpected(err: Exception) -> str:
    import logging

    logging.getLogger("pmtui").debug("unexpected error", exc_info=err)
    return f"unexpected internal error ({type(err).__name__}); run again with --debug and report the log."


async def check(accounts: Sequence[Account], args: argparse.Namespace) -> int:
    """`pmtui check` for every account at once (concurrently, on one budget): one status line,
    the worst account's exit code."""
    import asyncio
    import sys

    from pmtui import cli, output
    from pmtui.history import History, sample_from_view

    async def one(account: Account) -> CheckResult:
        if account.monitor is None or account.settings is None:
            return check_result(account.profile, None, None, None, account.error or "not watched")
        try:
            thresholds = cli.check_thresholds(account.settings.thresholds, args.warning, args.critical)
            # As `check` for one account: the balances too, for the risk model's liquidation move.
            state = await account.monitor.fetch_once()
        except PmtuiError as err:
            return check_result(account.profile, None, None, None, err)
        except Exception as err:  # a bug for one account must not hide the others' answers
            return check_result(account.profile, None, None, None, _unexpected(err))
        assert state.account is not None  # fetch_once raises unless the UM account came
        level, line = output.check_line(
            state.account, thresholds, pm=state.pm, risks=state.risks, alerts=account.settings.alerts,
            unavailable=state.unavailable, risk=state.risk,
        )
        if args.record and state.view is not None:
            try:
                History(args.history_file).record(sample_from_view(state.view, account.profile))
            except PmtuiError as err:  # the account's state is the answer; recording is a side job
                print(f"pmtui: warning: {shown_name(account.profile)}: {err.message}", file=sys.stderr)
        return check_result(account.profile, state, level, line)

    attach_monitors(accounts, args)
    try:
        results = await asyncio.gather(*(one(a) for a in accounts))
    finally:
        await _close(accounts)
    code, line = combine(results)
    print(line)
    return code


async def snapshot(accounts: Sequence[Account], args: argparse.Namespace) -> int:
    """`pmtui snapshot` for every account: one section per account (JSON: one object keyed by
    profile, an account that failed as {"error": sentence}). Exit 1 if any account failed."""
    import asyncio
    import json
    import shutil
    import sys

    from pmtui import output

    async def one(account: Account) -> tuple[str, MonitorState | None, str | None]:
        if account.monitor is None:
            return account.profile, None, account.error or "not watched"
        try:
            return account.profile, await account.monitor.fetch_once(markets=not args.json), None
        except PmtuiError as err:
            return account.profile, None, err.message
        except Exception as err:
            return account.profile, None, _unexpected(err)

    attach_monitors(accounts, args)
    try:
        results = await asyncio.gather(*(one(a) for a in accounts))
    finally:
        await _close(accounts)
    by_profile = {a.profile: a for a in accounts}
    sections: list[str] = []
    failed = 0
    width = max(40, shutil.get_terminal_size((140, 24)).columns)
    for profile, state, error in results:
        if error is not None or state is None or state.account is None:
            failed += 1
            print(f"pmtui: error: {shown_name(profile)}: {error}", file=sys.stderr)
            if args.json:
                sections.append(f"{json.dumps(profile)}: {json.dumps({'error': error})}")
            else:
                sections.append(f"== {shown_name(profile)} ==\nerror: {error}")
            continue
        parts = output.parts_of(state)
        if args.json:
            doc = output.snapshot_json(state.account, include_zero=args.all, view=state.view,
                                       verdict=state.verdict, **parts)
            # Text, not a re-parse: the API's numbers keep their exact digits.
            sections.append(f"{json.dumps(profile)}: " + doc.replace("\n", "\n  "))
        else:
            account = by_profile[profile]
            assert account.settings is not None and account.monitor is not None
            table = output.snapshot_table(state.account, account.settings.thresholds, include_zero=args.all,
                                          width=width, markets=account.monitor.markets, **parts)
            sections.append(f"== {shown_name(profile)} ==\n{table}")
    if args.json:
        print("{\n  " + ",\n  ".join(sections) + "\n}")
    else:
        print("\n\n".join(sections))
    return 1 if failed else 0


async def watch(accounts: Sequence[Account], args: argparse.Namespace) -> int:
    """`pmtui watch` for every account: one line per new state of any of them, each line led by
    its profile (`alpha: …`; JSON: a "profile" field first). Accounts that cannot be watched are
    said once on stderr. Stops on Ctrl-C, SIGTERM or a hang-up, as for one account."""
    import asyncio
    import json
    import signal
    import sys

    from pmtui import output
    from pmtui.monitor import ALERTS, DATA, FAULT, PUSH

    history = None
    if args.record:
        from pmtui.history import History

        history = History(args.history_file)
    attach_monitors(accounts, args, history=history, stream=True)
    watched = [a for a in accounts if a.monitor is not None]
    for account in accounts:
        if account.monitor is None:
            print(f"pmtui: error: {shown_name(account.profile)}: {account.error}", file=sys.stderr)
    if not watched:
        await _close(accounts)
        return 1
    queue: asyncio.Queue[tuple[str, MonitorState]] = asyncio.Queue()
    worth = {DATA, FAULT, PUSH, ALERTS}
    def listener(profile: str) -> Callable[[MonitorState], None]:
        def put(state: MonitorState) -> None:
            if state.changed & worth:  # printed from here, not the subscriber: a closed pipe ends it
                queue.put_nowait((profile, state))
        return put

    for account in watched:
        assert account.monitor is not None
        account.monitor.subscribe(listener(account.profile))
    runners = [asyncio.ensure_future(a.monitor.run()) for a in watched if a.monitor is not None]
    everything: asyncio.Future[Any] = asyncio.gather(*runners)
    stopped_by: list[int] = []

    def stop(signum: int) -> None:
        stopped_by.append(signum)
        everything.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop, sig)
    shown: dict[str, MonitorState] = {}
    last_fault: dict[str, str | None] = {}
    try:
        while not everything.done():
            getter: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
            await asyncio.wait([getter, everything], return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            profile, state = getter.result()
            fault = state.status.error.message if state.status.error is not None else None
            if not state.changed - {FAULT} and not state.alerts and fault == last_fault.get(profile):
                continue  # the same fault again (each retry): said once is enough
            last_fault[profile] = fault
            if args.json:
                before = shown.get(profile)
                positions = output.changed_positions(before.view if before else None, state.view)
                line = output.watch_json(state, state.changed, positions)
                print(f'{{"profile":{json.dumps(profile)},{line[1:]}', flush=True)
            else:
                print(f"{shown_name(profile)}: {output.watch_line(state)}", flush=True)
            if DATA in state.changed:
                shown[profile] = state
    finally:
        everything.cancel()
        try:
            await everything
        except BaseException:
            pass
        await _close(accounts)
    return 128 + stopped_by[0] if stopped_by else 0
