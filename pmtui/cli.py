"""Entry point: argument parsing, building the client, exit codes.

Every expected failure ends as one line on stderr, `pmtui: error: <sentence>`, and a non-zero
exit; an unexpected one does too (its traceback goes only to the --debug log).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pmtui import __version__
from pmtui.errors import ConfigError, PmtuiError

if TYPE_CHECKING:
    from pmtui.settings import Thresholds

log = logging.getLogger("pmtui")

# `pmtui check` exit codes, as monitoring systems (Nagios, Icinga, Zabbix checks) read them.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options every command takes, before or after the command name."""
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("connection and settings")
    g.add_argument("--demo", action="store_true", default=d or False,
                   help="use the embedded demo exchange (no keys, no network)")
    g.add_argument("--hedge", action="store_true", default=d or False,
                   help="demo: hedge mode (LONG and SHORT rows per symbol)")
    g.add_argument("--scenario", choices=["normal", "margin-call"], default=d or "normal",
                   help="demo: 'margin-call' drifts the account through every health band")
    # Two dests, joined in _parse: argparse lets a command's own options replace the ones before it.
    g.add_argument("--profile", metavar="NAME", action="append", dest="profile_after" if suppress else "profile",
                   default=d, help="profile from the config file; more than once: several accounts at once")
    g.add_argument("--all-profiles", action="store_true", default=d or False,
                   help="every profile in the config file at once (with --demo: three demo accounts)")
    g.add_argument("--config", metavar="PATH", type=Path, default=d,
                   help="config file (default: the user config dir's config.toml; env PMTUI_CONFIG)")
    g.add_argument("--base-url", metavar="URL", default=d, help="API base URL (https, or http to loopback)")
    g.add_argument("--interval", metavar="SECONDS", type=float, default=d,
                   help="seconds between account refreshes (minimum 1)")
    g.add_argument("--recv-window", metavar="MS", type=int, default=d,
                   help="recvWindow in ms (1..60000, default 5000)")
    g.add_argument("--debug", action="store_true", default=d or False,
                   help="write a debug log (secrets redacted) to the user log dir")
    g.add_argument("--record", action="store_true", default=d or False,
                   help="record each refresh (uniMMR, equity, margin, uPnL) to the history file")
    g.add_argument("--history-file", metavar="PATH", type=Path, default=d,
                   help="history SQLite file (default: the user data dir's history.sqlite3)")


def _when(text: str) -> int:
    """--since/--until: '12h', '30m', '2d' ago, or an ISO date/time; epoch ms."""
    from pmtui.history import parse_when

    try:
        return parse_when(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _ratio(text: str) -> Decimal:
    """-w/-c: a positive uniMMR like 1.5."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a uniMMR like 1.5")
    return value


def _port(text: str) -> int:
    """serve --port: 0..65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, `pmtui: error: …` and where to look, exit 2 (check: 3)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (try {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pmtui",
        description="Terminal dashboard for Binance Portfolio Margin accounts. "
        "With no command, opens the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"pmtui {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    snap = sub.add_parser("snapshot", help="fetch once and print assets and open positions")
    snap.add_argument("--json", action="store_true", help="JSON with the API's decimal strings unchanged")
    snap.add_argument("--all", action="store_true", help="include zero positions and assets")
    _common(snap, suppress=True)

    check = sub.add_parser(
        "check", help="one status line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        description="One monitoring line (Nagios/Icinga style, perfdata after '|'): the dashboard's "
        "verdict (uniMMR's band, accountStatus, the nearest liquidation) and the alert rules.",
        epilog="exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (could not fetch, no uniMMR, "
        "or invalid arguments)\nseveral accounts (--all-profiles, --profile twice): the worst decides, "
        "CRITICAL over UNKNOWN over WARNING", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("-w", "--warning", metavar="UNIMMR", type=_ratio,
                       help="WARNING at or below this uniMMR (default: thresholds.unimmr_warn, 1.5)")
    check.add_argument("-c", "--critical", metavar="UNIMMR", type=_ratio,
                       help="CRITICAL at or below this uniMMR (default: thresholds.unimmr_danger, 1.2)")
    _common(check, suppress=True)

    watch = sub.add_parser(
        "watch", help="headless: one line per new state until interrupted (for pipelines and log shippers)",
        description="Runs the dashboard's core without a screen and prints one line per new state: "
        "every refresh, fault, recovery, pushed event and alert. Stops on Ctrl-C or SIGTERM.",
    )
    watch.add_argument("--json", action="store_true",
                       help="JSON lines: the fields of snapshot --json, plus level, reason and what changed")
    _common(watch, suppress=True)

    whatif = sub.add_parser(
        "whatif", help="one price move on the risk model: uniMMR after it, for scripts",
        description="Fetches the account once and replays a price move on pmtui's risk model "
        "(Binance's uniMMR formula on the account's own inputs: haircuts, uPnL, brackets). MOVE is "
        "a percent (-10, +5.5); ASSET moves one underlying (BTC), else every non-stablecoin moves.",
    )
    whatif.add_argument("move", metavar="MOVE", help="a percent from -99 to +300, e.g. -10")
    whatif.add_argument("asset", metavar="ASSET", nargs="?", help="one underlying, e.g. BTC (default: all)")
    whatif.add_argument("--json", action="store_true", help="one JSON object, decimals as strings")
    _common(whatif, suppress=True)

    hist = sub.add_parser("history", help="print or export what --record recorded")
    hist.add_argument("--since", metavar="WHEN", type=_when,
                      help="from this long ago (12h, 30m, 2d) or this time (2025-06-01T08:00); default: all")
    hist.add_argument("--until", metavar="WHEN", type=_when, help="up to (not including) this time")
    hist.add_argument("--format", choices=["table", "csv", "json"], default="table",
                      help="table (default), or csv/json with the exact decimal strings")
    _common(hist, suppress=True)

    dash = sub.add_parser("dashboard", help="open the dashboard (the default)")
    _common(dash, suppress=True)

    serve = sub.add_parser(
        "serve", help="the dashboard in a web browser (textual-serve), on 127.0.0.1 unless --host",
        description="Serves the dashboard as a web page: each browser tab runs its own dashboard with "
        "the options given here. The page has no authentication, so it listens on 127.0.0.1 unless "
        "--host says otherwise; from another machine, forward the port over SSH "
        "(ssh -L 8000:127.0.0.1:8000 server, then open http://127.0.0.1:8000). Stops on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", metavar="ADDRESS",
                       help="IP address to listen on (default 127.0.0.1; any other is open to whoever reaches it)")
    serve.add_argument("--port", metavar="PORT", type=_port, default=8000,
                       help="TCP port (default 8000; 0: any free one, printed)")
    _common(serve, suppress=True)
    return parser


def load(args: argparse.Namespace):
    """Settings from file, env and flags."""
    from pmtui.config import load_settings

    overrides: dict[str, Any] = {
        "base_url": args.base_url,
        "interval": args.interval,
        "recv_window": args.recv_window,
    }
    return load_settings(config_path=args.config, profile=args.profile, overrides=overrides)


def demo_exchange(args: argparse.Namespace):
    from pmtui.demo import DemoExchange

    return DemoExchange(hedge=args.hedge, scenario=args.scenario)


def make_client(settings, args: argparse.Namespace, exchange=None, budget=None):
    """The client for these settings; with --demo, on `exchange` (a new demo one if not given).
    `budget`: a WeightBudget shared with other clients (several accounts on one IP)."""
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.config import default_config_path
    from pmtui.signing import Signer, make_signer

    signer: Signer
    if args.demo:
        # The demo signs with its own fake credentials: a configured real key is never used.
        from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET
        from pmtui.signing import HmacSigner

        api_key, signer = DEMO_API_KEY, HmacSigner(DEMO_API_SECRET)
        transport = exchange if exchange is not None else demo_exchange(args)
    else:
        if not settings.has_credentials():
            raise ConfigError(
                "No API key is configured: put api_key and api_secret in "
                f"{settings.config_path or default_config_path()} (see config.example.toml), "
                "set PMTUI_API_KEY and PMTUI_API_SECRET, or try --demo."
            )
        api_key, transport = settings.api_key, None
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
        budget=budget if budget is not None else WeightBudget(settings.weight_share),
    )


def secrets_of(settings) -> list[str]:
    return [
        s.get_secret_value()
        for s in (settings.api_key, settings.api_secret, settings.private_key_passphrase)
        if s is not None
    ]


def make_monitor(settings, args, *, history=None, stream: bool = False, exchange=None, budget=None,
                 profile: str | None = None, risk_feed=None):
    """The one core every command runs on: the dashboard, `watch`, `snapshot` and `check`.
    `stream`: also listen to the user data stream (unless the settings turn it off). For one of
    several accounts (pmtui.accounts): its demo `exchange`, the shared `budget`, its `profile`,
    the shared `risk_feed` (the risk model's market inputs; a new one if not given)."""
    from pmtui.monitor import Monitor
    from pmtui.riskfeed import RiskFeed

    if exchange is None and args.demo:
        exchange = demo_exchange(args)
    client = make_client(settings, args, exchange, budget)
    # The demo's exchangeInfo is the demo's own: never cached where a real one would be read.
    from pmtui.market import cache_path

    monitor = Monitor(settings=settings, client=client, history=history, profile=profile or _profile(settings, args),
                      markets_cache=None if args.demo else cache_path(),
                      risk_feed=risk_feed or RiskFeed(account_interval=settings.account_interval))
    # The demo streams from memory; a demo stand-in that cannot stream gets no stream (never the
    # real exchange's).
    connect = getattr(exchange, "connect", None) if args.demo else None
    from pmtui.settings import DEFAULT_BASE_URL, DEFAULT_STREAM_URL
    from pmtui.stream import UserStream

    stream_url = settings.stream_url
    # A listen key from another REST server (a proxy, a test server) means nothing to Binance's
    # stream: with a base_url of its own, pmtui streams only from a stream_url of its own.
    paired = args.demo or stream_url != DEFAULT_STREAM_URL or client.base_url == DEFAULT_BASE_URL
    if stream and settings.stream and paired and (connect is not None or not args.demo):
        monitor.attach_stream(UserStream(
            client, stream_url,
            on_event=monitor.on_push_event, on_status=monitor.on_push_status,
            **({"connect": connect} if connect is not None else {}),
        ))
    return monitor


def _profile(settings, args) -> str:
    return "demo" if args.demo else settings.profile


def _record(settings, args, state) -> None:
    """--record for the one-shot commands: this snapshot as one history row."""
    from pmtui.history import History, sample_from_view

    History(args.history_file).record(sample_from_view(state.view, _profile(settings, args)))


async def _snapshot(settings, args) -> int:
    from pmtui import output

    async with make_monitor(settings, args) as monitor:
        # The table shows prices to each symbol's tick size; JSON keeps the API's strings.
        state = await monitor.fetch_once(markets=not args.json)
    parts = output.parts_of(state)
    if args.json:
        print(output.snapshot_json(state.account, include_zero=args.all, view=state.view,
                                   verdict=state.verdict, **parts))
    else:
        # The terminal's width (or COLUMNS); 140 into a pipe or file.
        width = max(40, shutil.get_terminal_size((140, 24)).columns)
        print(output.snapshot_table(state.account, settings.thresholds, include_zero=args.all, width=width,
                                    markets=monitor.markets, **parts))
    if args.record:
        _record(settings, args, state)
    return 0


async def _whatif(settings, args) -> int:
    """`pmtui whatif MOVE [ASSET]`: one scenario of the risk model on a fresh fetch."""
    import json

    from pmtui import riskview
    from pmtui.text import clean

    try:
        move = riskview.parse_move(args.move)
    except ValueError as err:
        return _usage("whatif", str(err).rstrip("."))
    asset = clean(args.asset, 20).upper() if args.asset else None
    async with make_monitor(settings, args) as monitor:
        state = await monitor.fetch_once()
    model = state.risk
    assert model is not None  # make_monitor always gives the monitor a risk feed
    if asset is not None and asset not in model.underlyings:
        held = ", ".join(model.underlyings[:10]) or "none"
        raise ConfigError(f"{asset} moves nothing in this account's book (its underlyings: {held}).")
    if args.json:
        print(json.dumps(riskview.scenario_json(model, move, asset), indent=2))
    else:
        print(riskview.scenario_line(model, move, asset))
    return 0


def check_thresholds(t: Thresholds, warning: Decimal | None, critical: Decimal | None):
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


async def _check(settings, args) -> int:
    from pmtui import output
    from pmtui.health import Level

    thresholds = check_thresholds(settings.thresholds, args.warning, args.critical)
    async with make_monitor(settings, args) as monitor:
        # /papi/v1/balance too: the risk model's liquidation move needs every asset's net.
        state = await monitor.fetch_once()
    level, line = output.check_line(
        state.account, thresholds, pm=state.pm, risks=state.risks, alerts=settings.alerts,
        unavailable=state.unavailable, cm=state.cm, cm_risks=state.cm_risks, risk=state.risk,
    )
    print(line)
    if args.record:
        try:
            _record(settings, args, state)
        except PmtuiError as err:  # the account's state is the answer; recording is a side job
            print(f"pmtui: warning: {err.message}", file=sys.stderr)
    if level is None:  # no current uniMMR, and the key may read it: never OK blind
        return EXIT_UNKNOWN
    return {Level.OK: EXIT_OK, Level.WARN: EXIT_WARNING}.get(level, EXIT_CRITICAL)


async def _watch(settings, args) -> int:
    """Print each new state until interrupted; SIGTERM ends it cleanly (the stream's listen key
    is deleted, the client closed)."""
    import signal

    from pmtui import output
    from pmtui.monitor import ALERTS, DATA, FAULT, PUSH

    history = None
    if args.record:
        from pmtui.history import History

        history = History(args.history_file)
    queue: asyncio.Queue = asyncio.Queue()
    worth = {DATA, FAULT, PUSH, ALERTS}
    async with make_monitor(settings, args, history=history, stream=True) as monitor:
        # Print from here, not from the subscriber: a closed pipe must end the command.
        monitor.subscribe(lambda state: queue.put_nowait(state) if state.changed & worth else None)
        runner = asyncio.ensure_future(monitor.run())
        loop = asyncio.get_running_loop()
        stopped_by: list[int] = []

        def stop(signum: int) -> None:
            stopped_by.append(signum)
            runner.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop, sig)
        shown = None
        last_fault: str | None = None
        try:
            while not runner.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                state = getter.result()
                fault = state.status.error.message if state.status.error is not None else None
                if not state.changed - {FAULT} and not state.alerts and fault == last_fault:
                    continue  # the same fault again (each retry): said once is enough
                last_fault = fault
                if args.json:
                    positions = output.changed_positions(shown.view if shown else None, state.view)
                    print(output.watch_json(state, state.changed, positions), flush=True)
                else:
                    print(output.watch_line(state), flush=True)
                if DATA in state.changed:
                    shown = state
        finally:
            runner.cancel()
            try:
                await runner
            except BaseException:
                pass
    # Like the dashboard: 128 + the signal that ended it (130 Ctrl-C, 143 SIGTERM, 129 hang-up).
    return 128 + stopped_by[0] if stopped_by else 0


def _history(settings, args) -> int:
    from pmtui import output
    from pmtui.history import History, export_csv, export_json

    rows = History(args.history_file).read(args.since, args.until, profile=args.profile)
    if args.format == "csv":
        export_csv(rows, sys.stdout)
    elif args.format == "json":
        export_json(rows, sys.stdout)
    else:
        print(output.history_table(rows))
    return 0


def _dashboard(settings, args) -> int:
    from pmtui.app import PmtuiApp

    if args.demo:
        title = "DEMO" + (" hedge" if args.hedge else "") + (" margin-call" if args.scenario != "normal" else "")
    else:
        title = settings.profile
    history = None
    if args.record:
        from pmtui.history import History

        history = History(args.history_file)
    from pmtui.terminal import TerminalGuard

    app = PmtuiApp(settings=settings, monitor=make_monitor(settings, args, history=history, stream=True), title=title)
    # Hang-ups, SIGTERM/SIGINT and a dead terminal end the run within seconds, 128+signal.
    return TerminalGuard(app).run()


def _serve(settings, args) -> int:
    """The dashboard through textual-serve: one dashboard process per browser tab, each started
    with this command's dashboard options (never a secret: each reads the config itself)."""
    from pmtui.serve import INSTALL_HINT, bind_address, listen, served_command

    host, warning = bind_address(args.host)
    try:
        from pmtui.webserver import DashboardServer
    except ImportError as err:
        if (err.name or "").partition(".")[0] in {"textual_serve", "aiohttp", "aiohttp_jinja2", "jinja2"}:
            raise ConfigError(INSTALL_HINT) from None
        raise
    # What the dashboard would refuse (no key configured, a key file that does not load) is said
    # here, once, rather than by a page that closes as soon as it opens. Several accounts
    # (settings None): each account's overview row says what is wrong with it instead.
    if settings is not None:
        asyncio.run(make_client(settings, args).aclose())
    command = served_command(args, lambda parser: _common(parser, suppress=False))
    sock = listen(host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    title = "pmtui " + ("DEMO" if args.demo else settings.profile if settings is not None else "accounts")
    return DashboardServer(command, host=host, port=args.port, title=title).run(
        sock, lambda line: print(line, flush=True))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a usage error, which a monitoring system reads as CRITICAL.
        words = sys.argv[1:] if argv is None else list(argv)
        if exc.code == 2 and "check" in words:
            print("PMTUI UNKNOWN - invalid command-line arguments (see pmtui check --help)")
            raise SystemExit(EXIT_UNKNOWN) from None
        raise
    # --profile before and after the command name, in order, each once; one of them is today's
    # single account (args.profile), more than one several accounts (args.profiles).
    names = [*(getattr(args, "profile", None) or []), *(getattr(args, "profile_after", None) or [])]
    args.profiles = list(dict.fromkeys(names))
    args.profile = args.profiles[0] if len(args.profiles) == 1 else None
    return args


def _usage(command: str, message: str) -> int:
    """A usage error found after parsing: one line, exit 2 (3 for check, as monitors read it)."""
    if command == "check":
        print(f"PMTUI UNKNOWN - {message}")
    print(f"pmtui: error: {message} (try pmtui --help)", file=sys.stderr)
    return EXIT_UNKNOWN if command == "check" else 2


def _fail(command: str, message: str) -> int:
    """One line on stderr; `check` also puts its UNKNOWN status line on stdout, as monitors read it."""
    if command == "check":
        print(f"PMTUI UNKNOWN - {message}")
    print(f"pmtui: error: {message}", file=sys.stderr)
    return EXIT_UNKNOWN if command == "check" else 1


def _many(command: str, args: argparse.Namespace) -> int:
    """Several accounts at once (--all-profiles, --profile more than once): pmtui.accounts."""
    from pmtui import accounts

    if command in ("history", "whatif"):
        return _usage(command, f"{command} reads one profile at a time: give one --profile, not several")
    if args.demo and args.scenario != "normal":
        return _usage(command, "--scenario is for the one demo account; --all-profiles has three of its own")

    def settings_of(profile: str | None):
        return load(argparse.Namespace(**(vars(args) | {"profile": profile})))

    chosen = accounts.select(args, settings_of)
    if args.debug:
        secrets = [s for a in chosen if a.settings is not None for s in secrets_of(a.settings)]
        from pmtui.logs import setup_debug_log

        print(f"pmtui: debug log: {setup_debug_log(secrets)}", file=sys.stderr)
        log.debug("pmtui %s, command %s, profiles %s", __version__, command, [a.profile for a in chosen])
    if command == "check":
        return asyncio.run(accounts.check(chosen, args))
    if command == "snapshot":
        return asyncio.run(accounts.snapshot(chosen, args))
    if command == "watch":
        return asyncio.run(accounts.watch(chosen, args))
    if command == "serve":
        return _serve(None, args)
    return _dashboard_many(chosen, args)


def _dashboard_many(chosen, args: argparse.Namespace) -> int:
    from pmtui import accounts
    from pmtui.app import PmtuiApp
    from pmtui.terminal import TerminalGuard
    from pmtui.text import name as shown

    history = None
    if args.record:
        from pmtui.history import History

        history = History(args.history_file)
    accounts.attach_monitors(chosen, args, history=history, stream=True)
    if not any(a.monitor is not None for a in chosen):
        raise ConfigError(f"No account can be watched: {shown(chosen[0].profile)}: {chosen[0].error}")
    app = PmtuiApp.for_accounts(chosen, demo=args.demo)
    return TerminalGuard(app).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    command = args.command or "dashboard"
    if not args.demo and (args.hedge or args.scenario != "normal"):
        # Never a live request with a demo-only option: the person meant the demo.
        return _usage(command, "--hedge and --scenario are for the demo exchange: add --demo")
    from pmtui import accounts

    try:
        if accounts.wanted(args):
            return _many(command, args)  # several accounts: the same faults end the same way
        settings = load(args)
        if args.debug:
            from pmtui.logs import setup_debug_log

            path = setup_debug_log(secrets_of(settings))
            print(f"pmtui: debug log: {path}", file=sys.stderr)
            log.debug("pmtui %s, command %s, profile %s", __version__, command, settings.profile)
        if command == "snapshot":
            return asyncio.run(_snapshot(settings, args))
        if command == "check":
            return asyncio.run(_check(settings, args))
        if command == "watch":
            return asyncio.run(_watch(settings, args))
        if command == "history":
            return _history(settings, args)
        if command == "whatif":
            return asyncio.run(_whatif(settings, args))
        if command == "serve":
            return _serve(settings, args)
        return _dashboard(settings, args)
    except PmtuiError as err:
        log.debug("failed: %s (%s)", err.message, type(err).__name__)
        return _fail(command, err.message)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`pmtui snapshot | head`): nothing to report. Point stdout at
        # devnull so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNKNOWN if command == "check" else 1
    except Exception as err:  # a bug: say so in one line; details only in the debug log
        log.debug("unexpected error", exc_info=True)
        return _fail(
            command,
            f"unexpected internal error ({type(err).__name__}); run again with --debug and report the log.",
        )
