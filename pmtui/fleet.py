"""The accounts being watched, one or many, as one thing every consumer runs on (the headless
commands, the dashboard; next the daemon and replay): which accounts, one Monitor each on ONE
weight budget (Binance limits request weight per IP, not per account), how their verdicts rank
worst first, and closing them all.

Built in one place, `Fleet.build`, from typed options (FleetOptions, never argparse's Namespace).
One account is a fleet of one (`single`): its output carries no profile prefix, and a failure to
set it up is the command's failure, as it always was. Of several, an account that cannot be
watched (no credentials, a secret command that fails) still is one: it carries its one-sentence
ConfigError instead of a Monitor, and the others go on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmtui.clock import SYSTEM_CLOCK, Clock, SystemClock
from pmtui.errors import ConfigError, PmtuiError
from pmtui.health import Level
from pmtui.text import name as shown_name

if TYPE_CHECKING:
    import httpx
    from pydantic import SecretStr

    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.history import History
    from pmtui.markstream import MarkFeed
    from pmtui.monitor import Monitor
    from pmtui.record import Recorder
    from pmtui.riskfeed import RiskFeed
    from pmtui.settings import Settings


@dataclass(frozen=True)
class FleetOptions:
    """How to watch: which accounts, on which exchange, recording where. What a command does with
    them (JSON or not, thresholds) is the command's own."""

    #: --profile names in the order given (each once); empty: the default profile.
    profiles: tuple[str, ...] = ()
    all_profiles: bool = False
    config: Path | None = None
    demo: bool = False
    hedge: bool = False
    scenario: str = "normal"
    record: bool = False
    history_file: Path | None = None
    #: Flags over the settings (None: not given): base_url, interval, recv_window.
    overrides: tuple[tuple[str, Any], ...] = ()
    #: One of this many dashboards `pmtui serve` runs at once: its budget is 1/tabs of the share.
    tabs: int = 1
    #: A command that fetches once and ends (snapshot, check, whatif): its budget may spend a
    #: minute's share at once (pmtui.budget.ONE_SHOT_BURST_SECONDS).
    one_shot: bool = False

    @property
    def burst_seconds(self) -> float:
        """Seconds of its rate the weight budget may spend at once."""
        from pmtui.budget import BURST_SECONDS, ONE_SHOT_BURST_SECONDS

        return ONE_SHOT_BURST_SECONDS if self.one_shot else BURST_SECONDS

    @property
    def many(self) -> bool:
        """Several accounts (--all-profiles, or --profile more than once): the overview and
        profile-prefixed output. One --profile is a fleet of one."""
        return self.all_profiles or len(self.profiles) > 1

    @property
    def profile(self) -> str | None:
        """The one profile asked for, when one is."""
        return self.profiles[0] if len(self.profiles) == 1 else None

    def history(self, *, reading: bool = False, wanted: bool = False) -> History | None:
        """The history file --record writes to (None without --record, or `wanted`: the settings'
        `record = true`, or the daemon, which records unless `record = false`), or `reading` it.
        The demo's never is the real one: without --history-file, --demo records to (and
        `history --demo` reads) history-demo.sqlite3 beside it."""
        if not (self.record or reading or wanted):
            return None
        from pmtui.history import History, demo_path

        return History(self.history_file if self.history_file is not None or not self.demo else demo_path())


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


# --- settings: which accounts ---------------------------------------------------------------------

def load_settings(options: FleetOptions, profile: str | None) -> Settings:
    """One profile's settings from file, env and flags (None: the default profile)."""
    from pmtui.config import load_settings as load

    return load(config_path=options.config, profile=profile, overrides=dict(options.overrides))


def select(options: FleetOptions, load: Callable[[str | None], Settings] | None = None) -> list[Account]:
    """The accounts these options name, each with its settings or its error sentence.

    `load(profile)` reads one profile's settings (None: the default settings, for the demo). One
    account: its settings, a ConfigError raised (it is the command's failure). With --demo and
    several, the accounts are pmtui.demo.DEMO_ACCOUNTS; otherwise the config file's profiles (and
    "default" if it has credentials of its own), or the --profile names in the order given. An
    unknown name is a ConfigError for the whole command: it is a typo, not an account."""
    from pmtui.config import config_file, default_config_path, profile_names

    if load is None:
        def load(profile: str | None) -> Settings:
            return load_settings(options, profile)

    if not options.many:
        if options.demo:
            # One of the three demo accounts by its name, as --all-profiles shows it; else the demo.
            from pmtui.demo import DEMO_ACCOUNTS

            name = options.profile if options.profile in DEMO_ACCOUNTS and options.scenario == "normal" else "demo"
            return [Account(name, _demo(load(None)))]
        settings = load(options.profile)
        return [Account(settings.profile, settings)]
    names = list(options.profiles)
    if options.all_profiles and names:
        raise ConfigError("--all-profiles and --profile both name the accounts to watch: give one of them.")
    if options.demo:
        from pmtui.demo import DEMO_ACCOUNTS

        unknown = [n for n in names if n not in DEMO_ACCOUNTS]
        if unknown:
            raise ConfigError(f"The demo has no account {unknown[0]!r}; its accounts are"
                              f" {', '.join(DEMO_ACCOUNTS)}.")
        settings = _demo(load(None))
        return [Account(name, settings) for name in (names or DEMO_ACCOUNTS)]
    # The environment's credentials stand in for every profile's (settings precedence): all the
    # "accounts" would be one account, watched several times under different names.
    env_keys = [v for v in ("PMTUI_API_KEY", "PMTUI_API_SECRET", "PMTUI_PRIVATE_KEY_FILE") if os.environ.get(v)]
    if env_keys:
        raise ConfigError(f"{env_keys[0]} is set, and it would stand in for every profile's key: unset it"
                          " to watch several accounts (each profile keeps its key in the config file).")
    if options.all_profiles:
        path, names = profile_names(options.config)
        accounts = [_account(name, load) for name in names]
        default = _account("default", load)
        if default.settings is not None and default.settings.has_credentials():
            accounts.insert(0, default)
        if not accounts:
            raise ConfigError(f"--all-profiles found no accounts in {path}: it has no [profiles.NAME]"
                              " tables and no api_key at the top level.")
        return accounts
    file = config_file(options.config)
    known = profile_names(file)[1] if file is not None else []
    unknown = [n for n in names if n != "default" and n not in known]
    if unknown and file is None:
        raise ConfigError(f"Profile {unknown[0]!r} was asked for but there is no config file"
                          f" (looked for {default_config_path()}).")
    if unknown:
        listed = ", ".join(sorted({"default", *known}))
        raise ConfigError(f"Profile {unknown[0]!r} is not in {file}; known profiles: {listed}.")
    return [_account(name, load) for name in names]


def _demo(settings: Settings) -> Settings:
    """The demo's settings: no heartbeat URL, whose pings would tell an outside watcher that the
    real accounts are seen while only the demo is."""
    if settings.alerts.heartbeat_url is None:
        return settings
    return settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"heartbeat_url": None})})


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


def secrets_of(settings: Settings) -> list[str]:
    """The settings' secrets, for the debug log's redaction: the credentials, and the alert
    route and heartbeat URLs (they carry tokens; httpx logs the URL it requests)."""
    return [
        s.get_secret_value()
        for s in (settings.api_key, settings.api_secret, settings.private_key_passphrase)
        if s is not None
    ] + settings.alerts.route_urls()


# --- clients and monitors ---------------------------------------------------------------------------

def make_client(settings: Settings, options: FleetOptions, transport: httpx.AsyncBaseTransport | None = None,
                budget: WeightBudget | None = None, *, clock: Clock = SYSTEM_CLOCK) -> PapiClient:
    """The client for these settings; with --demo, on `transport` (a new demo exchange if not
    given). `budget`: a WeightBudget shared with other clients (several accounts on one IP).
    `clock`: the fleet's one clock (a test's fake one)."""
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.config import default_config_path
    from pmtui.signing import HmacSigner, Signer, make_signer

    signer: Signer
    api_key: SecretStr | str | None
    if options.demo:
        # The demo signs with its own fake credentials: a configured real key is never used.
        from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange

        api_key, signer = DEMO_API_KEY, HmacSigner(DEMO_API_SECRET)
        if transport is None:
            transport = DemoExchange(hedge=options.hedge, scenario=options.scenario)
    else:
        if not settings.has_credentials():
            raise ConfigError(
                "No API key is configured: put api_key and api_secret in "
                f"{settings.config_path or default_config_path()} (see config.example.toml), "
                "set PMTUI_API_KEY and PMTUI_API_SECRET, or try --demo."
            )
        api_key = settings.api_key
        signer = make_signer(
            api_secret=settings.api_secret,
            private_key_file=settings.private_key_file,
            passphrase=settings.private_key_passphrase,
        )
    return PapiClient(
        api_key=api_key,
        signer=signer,
        base_url=settings.base_url,
        time_base_url=settings.resolved_time_base_url(),
        sapi_url=settings.resolved_sapi_url(),
        recv_window=settings.recv_window,
        timeout=settings.timeout,
        transport=transport,
        clock=clock,
        budget=budget if budget is not None else WeightBudget(settings.weight_share / options.tabs, clock=clock,
                                                              burst_seconds=options.burst_seconds),
    )


def make_monitor(settings: Settings, options: FleetOptions, *, profile: str, history: History | None = None,
                 stream: bool = False, transport: httpx.AsyncBaseTransport | None = None,
                 budget: WeightBudget | None = None, risk_feed: RiskFeed | None = None,
                 clock: Clock = SYSTEM_CLOCK, mark_feed: MarkFeed | None = None,
                 cm_mark_feed: MarkFeed | None = None) -> Monitor:
    """The one core every consumer runs on. `stream`: also listen to the user data stream (unless
    the settings turn it off). `transport`: the demo exchange (or a test's) under the client.
    `risk_feed`: the risk model's market inputs, shared by the fleet (a new one if not given).
    `clock`: the one clock the client, the Monitor, its pollers and its stream read.
    `mark_feed`: the fleet's public mark price stream, shared by its Monitors (with `stream`; the
    demo's is its own exchange's); `cm_mark_feed` the same for COIN-M positions."""
    from pmtui.market import cache_path
    from pmtui.monitor import Monitor
    from pmtui.riskfeed import RiskFeed
    from pmtui.settings import DEFAULT_BASE_URL, DEFAULT_STREAM_URL
    from pmtui.stream import UserStream

    if transport is None and options.demo:
        from pmtui.demo import DemoExchange

        transport = DemoExchange(hedge=options.hedge, scenario=options.scenario)
    client = make_client(settings, options, transport, budget, clock=clock)
    # The demo's exchangeInfo is the demo's own: never cached where a real one would be read.
    monitor = Monitor(settings=settings, client=client, history=history, profile=profile,
                      markets_cache=None if options.demo else cache_path(), clock=clock,
                      risk_feed=None if not settings.risk_model
                      else risk_feed or RiskFeed(account_interval=settings.account_interval, clock=clock))
    # The demo streams from memory; a demo stand-in that cannot stream gets no stream (never the
    # real exchange's).
    connect = getattr(transport, "connect", None) if options.demo else None
    stream_url = settings.stream_url
    # A listen key from another REST server (a proxy, a test server) means nothing to Binance's
    # stream: with a base_url of its own, pmtui streams only from a stream_url of its own.
    paired = options.demo or stream_url != DEFAULT_STREAM_URL or client.base_url == DEFAULT_BASE_URL
    if stream and settings.stream and paired and (connect is not None or not options.demo):
        monitor.attach_stream(UserStream(
            client, stream_url,
            on_event=monitor.on_push_event, on_status=monitor.on_push_status,
            **({"connect": connect} if connect is not None else {}),
        ))
    if stream and settings.stream:
        _attach_marks(monitor, settings, options, client, connect, (mark_feed, cm_mark_feed), clock)
    return monitor


def _attach_marks(monitor: Monitor, settings: Settings, options: FleetOptions, client: PapiClient,
                  connect: Any, feeds: tuple[MarkFeed | None, MarkFeed | None], clock: Clock) -> None:
    """The public mark price stream under the Monitor: the fleet's shared one; the demo's own
    exchange's (each demo account is a market of its own). Like the user data stream, a
    `base_url` of its own (a proxy, a test server) streams marks only from a
    `market_stream_url` of its own: never Binance's prices beside another server's positions.
    COIN-M positions the same, on `cm_market_stream_url` (without it they are not live)."""
    import functools

    from pmtui.markstream import MarkFeed
    from pmtui.settings import DEFAULT_BASE_URL, DEFAULT_CM_MARKET_STREAM_URL, DEFAULT_MARKET_STREAM_URL

    feed, cm_feed = feeds
    if options.demo:
        if connect is None:
            return
        feed = MarkFeed(settings.market_stream_url, clock=clock, connect=connect, server_ms=client.server_now_ms)
        cm_feed = MarkFeed(settings.cm_market_stream_url, **_CM_FEED, clock=clock,
                           connect=functools.partial(connect, coin_m=True), server_ms=client.server_now_ms)
    else:
        own = client.base_url != DEFAULT_BASE_URL
        if settings.market_stream_url == DEFAULT_MARKET_STREAM_URL and own:
            return
        feed = feed or MarkFeed(settings.market_stream_url, clock=clock, server_ms=client.server_now_ms)
        if not (settings.cm_market_stream_url == DEFAULT_CM_MARKET_STREAM_URL and own):
            cm_feed = cm_feed or MarkFeed(settings.cm_market_stream_url, **_CM_FEED, clock=clock,
                                          server_ms=client.server_now_ms)
        else:
            cm_feed = None
    monitor.attach_marks(feed, cm_feed)


#: How a COIN-M mark price stream is made (pmtui.markstream.MarkFeed's setting and name).
_CM_FEED: dict[str, Any] = {"setting": "cm_market_stream_url", "label": "COIN-M mark price stream", "pairs": True}


def shared_budget(accounts: Sequence[Account], tabs: int = 1, clock: Clock = SYSTEM_CLOCK,
                  burst_seconds: float | None = None) -> WeightBudget:
    """One budget for every account's client: the weight limit is the IP's. Its share is the
    smallest any account's settings allow, so no profile's limit is passed (a served tab's part
    of it: 1/tabs)."""
    from pmtui.budget import WeightBudget

    shares = [a.settings.weight_share for a in accounts if a.settings is not None]
    from pmtui.budget import BURST_SECONDS

    return WeightBudget(min(shares, default=0.5) / tabs, clock=clock,
                        burst_seconds=BURST_SECONDS if burst_seconds is None else burst_seconds)


def _mark_feed(accounts: Sequence[Account], options: FleetOptions, clock: Clock, cm: bool = False) -> MarkFeed | None:
    """One mark price stream for every account (the first account's `market_stream_url`, or with
    `cm` its `cm_market_stream_url`; the market is the same for all), unless the settings turn
    streaming off. The demo's are its own."""
    from pmtui.markstream import MarkFeed

    settings = [a.settings for a in accounts if a.settings is not None and a.error is None]
    if options.demo or not settings or not settings[0].stream:
        return None
    if cm:
        return MarkFeed(settings[0].cm_market_stream_url, **_CM_FEED, clock=clock)
    return MarkFeed(settings[0].market_stream_url, clock=clock)
def pace(accounts: Sequence[Account], budget: WeightBudget, clock: Clock) -> None:
    """One planner of REST cadences for every account on the budget (pmtui.cadence): calm accounts
    whose state is pushed are reconciled every 30-60 s, the rest at their interval, those at WARN
    or worse last to slow down when the budget is short."""
    from pmtui.budget import FIRST_SCREEN_WEIGHT
    from pmtui.cadence import Pacer

    monitors = [a.monitor for a in accounts if a.monitor is not None]
    pacer = Pacer(lambda: [m.standing() for m in monitors], lambda: budget.rate, clock.monotonic)
    for monitor in monitors:
        monitor.pacer = pacer
    # Every account's first screen at once (each first refresh asks for its positions only,
    # pmtui.monitor): borrowed from the budget's next seconds, so no minute sends more.
    budget.lend(len(monitors) * FIRST_SCREEN_WEIGHT)


# --- the fleet --------------------------------------------------------------------------------------

@dataclass
class Fleet:
    """The accounts being watched, each with its Monitor or the sentence why not, on one budget."""

    accounts: list[Account]
    options: FleetOptions = field(default_factory=FleetOptions)
    budget: WeightBudget | None = None
    #: The one writer of every account's states to the history file (None: not recording).
    recorder: Recorder | None = None
    #: The one clock every account's client, Monitor, pollers and stream read.
    clock: Clock = SYSTEM_CLOCK
    #: The public mark price stream every Monitor shares (None: not streaming).
    marks: MarkFeed | None = None
    #: The COIN-M one (None: not streaming).
    cm_marks: MarkFeed | None = None

    @classmethod
    def build(cls, options: FleetOptions, accounts: Sequence[Account] | None = None, *, stream: bool = False,
              history: History | None = None, clock: Clock | None = None) -> Fleet:
        """A Monitor for each account that has settings, all on one weight budget; with --demo each
        on its own demo exchange, all of them on one IP's weight count. Of several, an account
        whose client cannot be made (a bad private key file) keeps that sentence as its error; a
        fleet of one raises it. `stream`: the Monitors listen to the user data stream too.
        `history`: every state of every account is recorded to that file (pmtui.record), by one
        writer thread, with the first account's retention settings; the daemon passes
        `options.history(wanted=...)` here to record while nobody watches.
        `clock`: the one clock of the fleet (made here: the system's, unless a test passes one)."""
        clock = clock if clock is not None else SystemClock()
        chosen = list(accounts) if accounts is not None else select(options)
        single = not options.many
        budget = None if single else shared_budget(chosen, options.tabs, clock, options.burst_seconds)
        from pmtui.riskfeed import RiskFeed

        # Market data is the same for every account on the IP: one feed of the risk model's inputs.
        intervals = [a.settings.account_interval for a in chosen if a.settings is not None]
        risk_feed = RiskFeed(account_interval=max(intervals, default=10.0), clock=clock)
        marks = _mark_feed(chosen, options, clock) if stream else None
        cm_marks = _mark_feed(chosen, options, clock, cm=True) if stream else None
        first = None
        for account in chosen:
            if account.error is not None or account.settings is None:
                continue
            transport = None
            if options.demo:
                from pmtui.demo import DEMO_ACCOUNTS, DemoExchange

                named = DEMO_ACCOUNTS.get(account.profile, {"scenario": options.scenario})
                on_ip: dict[str, Any] = {"same_ip": first} if first is not None else {}  # one IP for all
                transport = DemoExchange(hedge=options.hedge, **named, **on_ip)
                first = first or transport
            try:
                # The demo accounts are each a market of their own: each its own feed of market data.
                account.monitor = make_monitor(account.settings, options, profile=account.profile, history=history,
                                               stream=stream, transport=transport, budget=budget,
                                               risk_feed=None if options.demo else risk_feed, clock=clock,
                                               mark_feed=marks, cm_mark_feed=cm_marks)
            except PmtuiError as err:
                if single:
                    raise
                account.error = err.message
        if budget is not None and not options.one_shot:
            pace(chosen, budget, clock)
        recorder = None
        if history is not None:
            from pmtui.record import Recorder

            first_settings = next((a.settings for a in chosen if a.settings is not None), None)
            recorder = Recorder(history.path,
                                retention_days=first_settings.retention_days if first_settings else None,
                                max_size_mb=first_settings.max_size if first_settings else None)
            from pmtui.ledgerstore import LedgerStore

            for account in chosen:
                if account.monitor is not None:
                    recorder.attach(account.monitor)
                    account.monitor.ledger_store = LedgerStore(history.path, account.profile)
        if marks is not None:
            users = [a.monitor for a in chosen if a.monitor is not None and a.monitor.marks is not None]
            if users and users[0].marks is not None and users[0].marks.feed is marks:
                marks.server_ms = users[0].client.server_now_ms  # the exchange's clock, as measured
            else:
                marks = None
        if cm_marks is not None:
            users = [a.monitor for a in chosen if a.monitor is not None and a.monitor.marks is not None
                     and a.monitor.marks.cm_feed is cm_marks]
            if users:
                cm_marks.server_ms = users[0].client.server_now_ms
            else:
                cm_marks = None
        return cls(chosen, options, budget, recorder, clock, marks, cm_marks)

    @property
    def single(self) -> bool:
        """One account: its output carries no profile prefix."""
        return not self.options.many

    @property
    def watched(self) -> list[Account]:
        """The accounts with a Monitor."""
        return [a for a in self.accounts if a.monitor is not None]

    def label(self, profile: str) -> str:
        """How output names an account: nothing for a fleet of one, else its profile as text."""
        return "" if self.single else shown_name(profile)

    async def aclose(self) -> None:
        """Close every account's Monitor (its client, its stream)."""
        await asyncio.gather(*(a.monitor.aclose() for a in self.accounts if a.monitor is not None))
        for feed in (self.marks, self.cm_marks):
            if feed is not None:
                await feed.aclose()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)  # what is queued is written first

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
