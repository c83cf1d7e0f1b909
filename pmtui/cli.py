"""Entry point: argument parsing, building the client, exit codes.

Every expected failure ends as one line on stderr, `pmtui: error: <sentence>`, and a non-zero
exit; an unexpected one does too (its traceback goes only to the --debug log).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pmtui import __version__
from pmtui.errors import ConfigError, PmtuiError
from pmtui.text import name as shown_name

if TYPE_CHECKING:
    from pmtui.fleet import Account, Fleet, FleetOptions

log = logging.getLogger("pmtui")

# `pmtui check` exit codes, as monitoring systems (Nagios, Icinga, Zabbix checks) read them.
EXIT_UNKNOWN = 3


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
                   help="history SQLite file (default: the user data dir's history.sqlite3; "
                   "with --demo, history-demo.sqlite3)")
    g.add_argument("--kiosk", action="store_true", default=d or False,
                   help="dashboard: view only, for a wall screen; q, ctrl+q, ctrl+c and pause do nothing")
    g.add_argument("--attach", action="store_true", default=d or False,
                   help="dashboard, watch, check: show a running pmtui daemon's states, or fail (the default "
                   "when its socket exists and is yours: no requests of their own)")
    g.add_argument("--no-attach", action="store_true", default=d or False,
                   help="dashboard, watch, check: poll the exchange even when a pmtui daemon runs")
    g.add_argument("--socket", metavar="PATH", type=Path, default=d,
                   help="the daemon's Unix socket (default: $XDG_RUNTIME_DIR/pmtui/daemon.sock)")


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


def _timeout(text: str) -> float:
    """check --timeout: seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds like 8")
    return value


def _port(text: str) -> int:
    """serve --port: 0..65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"  # pmtui.metrics' (imported only when metrics are asked for)


def _metrics_address(text: str) -> str:
    """--metrics-address: checked here, so a bad one is a usage error before anything starts."""
    from pmtui.metrics import parse_address

    try:
        parse_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


DEFAULT_MAX_TABS = 4  # pmtui.tui.serve's (not imported here: the parser must not import aiohttp's side)


def _tabs(text: str) -> int:
    """serve --max-tabs: 1..64."""
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of tabs (1 to 64)")
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
    check.add_argument("--timeout", metavar="SECONDS", type=_timeout, default=None,
                       help="an account not read within SECONDS is UNKNOWN (default 8: under a Nagios "
                       "check's 10 s, with the process's start)")
    check.add_argument("--prom-textfile", metavar="PATH", type=Path,
                       help="also write the accounts' Prometheus metrics to PATH (node_exporter's textfile "
                       "collector: a .prom file in its --collector.textfile.directory), atomically")
    _common(check, suppress=True)

    watch = sub.add_parser(
        "watch", help="headless: one line per new state until interrupted (for pipelines and log shippers)",
        description="Runs the dashboard's core without a screen and prints one line per new state: "
        "every refresh, fault, recovery, pushed event and alert. Stops on Ctrl-C or SIGTERM.",
    )
    watch.add_argument("--json", action="store_true",
                       help="JSON lines: the fields of snapshot --json, plus level, reason and what changed")
    watch.add_argument("--metrics-address", metavar="HOST:PORT", nargs="?", const=DEFAULT_METRICS_ADDRESS,
                       type=_metrics_address,
                       help=f"also serve Prometheus metrics at http://HOST:PORT/metrics (alone: "
                       f"{DEFAULT_METRICS_ADDRESS}; any address off loopback is open to whoever reaches it)")
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
    hist.add_argument("--states", action="store_true",
                      help="every recorded state whole (positions with prices, balances, verdict, alerts) "
                      "instead of the five figures; with --format json")
    _common(hist, suppress=True)

    led = sub.add_parser(
        "ledger", help="funding, commission, interest, realized PnL and liquidation/ADL fills since a time",
        description="Reads the account's income, interest and forced-order history from the exchange "
        "(read-only; Binance keeps about three months) and prints totals by kind and every event.")
    led.add_argument("--since", metavar="WHEN", type=_when, default="24h",
                     help="from this long ago (24h, 7d) or this time (2025-06-01T08:00); default: 24h")
    led.add_argument("--format", choices=["table", "csv", "json"], default="table",
                     help="table (default: totals by kind and the events), csv (the events), or json "
                     "(the API's rows unchanged, by endpoint)")
    _common(led, suppress=True)

    rep = sub.add_parser(
        "replay", help="the dashboard on recorded states (--record, the daemon): read-only, no requests",
        description="Opens the dashboard on the states recorded for one profile: ←/→ step one state, "
        "[/] jump to the previous/next event (alert, level change, fault), space plays at 1x/10x/60x. "
        "Reads the recording 12 hours either side of --at, from --since on, or else of the last 24 hours.")
    when = rep.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="WHEN", type=_when,
                      help="open at the state nearest this time (2026-12-07 03:14) or this long ago (3h)")
    when.add_argument("--since", metavar="WHEN", type=_when,
                      help="from this long ago (12h) or this time (2026-12-07T03:00); default: the last 24 hours")
    _common(rep, suppress=True)

    rpt = sub.add_parser(
        "report", help="a post-mortem of a recorded period: uniMMR chart, level changes and what drove them, "
        "alerts, faults",
        description="Reads one profile's recorded states (--record, the daemon) and writes a post-mortem: "
        "the uniMMR over the period with the band lines, each level change with the positions whose "
        "maintenance margin or loss moved most, the alerts, faults and gaps in the recording. "
        "No requests. Markdown by default; --format html is one self-contained page with the chart as SVG.")
    rpt.add_argument("--since", metavar="WHEN", type=_when,
                     help="from this long ago (12h) or this time (2026-12-07T03:00); default: the last 24 hours")
    rpt.add_argument("--format", choices=["md", "html"], default="md", help="md (default) or html")
    rpt.add_argument("--output", metavar="FILE", type=Path,
                     help="write the report to FILE (private to you) instead of stdout")
    _common(rpt, suppress=True)

    dmn = sub.add_parser(
        "daemon", help="headless collector (systemd): every profile on one budget; viewers attach to it",
        description="Watches every profile of the config file (or those named with --profile) as "
        "one fleet on one weight budget, until SIGTERM or SIGINT (exit 0). Each event is one line on "
        "stderr (journald), the sentences of pmtui watch. Dashboards, watch and check on this host "
        "attach to its Unix socket (--socket) instead of polling. Under systemd (Type=notify) it "
        "says READY=1 once the first states are in, and feeds the watchdog.",
    )
    dmn.add_argument("--metrics-address", metavar="HOST:PORT", nargs="?", const=DEFAULT_METRICS_ADDRESS,
                     type=_metrics_address,
                     help=f"serve Prometheus metrics at http://HOST:PORT/metrics (alone: {DEFAULT_METRICS_ADDRESS}; "
                     "any address off loopback is open to whoever reaches it)")
    _common(dmn, suppress=True)

    alerts = sub.add_parser("alerts", help="alert routes: `alerts test` sends a test message through each")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", parser_class=_Parser, required=True)
    alerts_test = alerts_sub.add_parser(
        "test", help="send a test message through every alert route and say which worked",
        description="Sends a test message through every apprise URL in [alerts.routes] (of the profiles "
        "chosen) and prints one line per route, its URL redacted: ok or FAILED and why. Exit 0 when "
        "every route worked, 1 otherwise.")
    alerts_test.add_argument("--level", choices=["warn", "danger", "critical"],
                             help="only the routes of this level")
    _common(alerts_test, suppress=True)

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
    serve.add_argument("--max-tabs", metavar="N", type=_tabs, default=DEFAULT_MAX_TABS,
                       help=f"dashboards at once (default {DEFAULT_MAX_TABS}); they share one weight budget")
    _common(serve, suppress=True)
    return parser


def options_of(args: argparse.Namespace) -> FleetOptions:
    """The typed options a Fleet is built from, out of the parsed arguments."""
    from pmtui.fleet import FleetOptions
    from pmtui.tui.serve import served_tabs

    overrides = {"base_url": args.base_url, "interval": args.interval, "recv_window": args.recv_window}
    return FleetOptions(
        profiles=tuple(args.profiles), all_profiles=args.all_profiles, config=args.config, demo=args.demo,
        hedge=args.hedge, scenario=args.scenario, record=args.record, history_file=args.history_file,
        overrides=tuple(overrides.items()), tabs=served_tabs(),
    )


def _dashboard(fleet: Fleet, args: argparse.Namespace) -> int:
    from pmtui.tui.app import PmtuiApp
    from pmtui.tui.serve import die_with_server, served_by
    from pmtui.tui.terminal import TerminalGuard

    server = served_by()
    if server is not None:
        die_with_server(server)  # a dashboard that `pmtui serve` started ends with its server
    app = PmtuiApp.for_fleet(fleet)
    app.freeze_heap = True
    app.kiosk = args.kiosk
    app.page_title = server is not None  # the browser tab's title says the verdict
    # Hang-ups, SIGTERM/SIGINT and a dead terminal end the run within seconds, 128+signal.
    try:
        return TerminalGuard(app).run()
    finally:
        if fleet.recorder is not None:
            fleet.recorder.close()  # what is still queued goes to the file before pmtui exits


def _replay(options: FleetOptions, args: argparse.Namespace) -> int:
    """`pmtui replay`: the dashboard on one profile's recorded states; no client, no requests."""
    from pmtui.replay import ReplayMonitor, load
    from pmtui.tui.replay import ReplayApp
    from pmtui.tui.terminal import TerminalGuard

    history = options.history(reading=True)
    path = history.path if history is not None else None
    if path is not None and path.is_file() and path.stat().st_size > 5_000_000:
        # Hours of states take seconds to decode (~0.5 ms each): say what is happening meanwhile.
        print(f"pmtui: reading the states recorded in {path}…", file=sys.stderr, flush=True)
    profile, settings, records, start = load(options, at_ms=args.at, since_ms=args.since)
    monitor = ReplayMonitor(profile, settings, records, start=start)
    title = f"DEMO {profile}" if options.demo else shown_name(profile)
    return TerminalGuard(ReplayApp(settings=settings, monitor=monitor, title=title)).run()


def _serve(options: FleetOptions, args: argparse.Namespace) -> int:
    """The dashboard through textual-serve: one dashboard process per browser tab, each started
    with this command's dashboard options (never a secret: each reads the config itself)."""
    from pmtui.tui.serve import INSTALL_HINT, bind_address, listen, served_command

    host, warning = bind_address(args.host)
    try:
        from pmtui.tui.webserver import DashboardServer
    except ImportError as err:
        if (err.name or "").partition(".")[0] in {"textual_serve", "aiohttp", "aiohttp_jinja2", "jinja2"}:
            raise ConfigError(INSTALL_HINT) from None
        raise
    # What the dashboard would refuse (no key configured, a key file that does not load) is said
    # here, once, rather than by a page that closes as soon as it opens. Several accounts
    # (settings None): each account's overview row says what is wrong with it instead.
    settings = None
    if not options.many:
        from pmtui.fleet import load_settings, make_client, secrets_of

        settings = load_settings(options, options.profile)
        if args.debug:
            _debug_log("serve", [settings.profile], secrets_of(settings))
        asyncio.run(make_client(settings, options).aclose())
    command = served_command(args, lambda parser: _common(parser, suppress=False))
    sock = listen(host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    title = "pmtui " + ("DEMO" if args.demo else settings.profile if settings is not None else "accounts")
    return DashboardServer(command, host=host, port=args.port, title=title, max_tabs=args.max_tabs).run(
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
    # --attach True, --no-attach False, neither None (attach when a daemon of ours is there).
    args.attach_both = args.attach and args.no_attach
    args.attach = True if args.attach else False if args.no_attach else None
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


def _debug_log(command: str, profiles: list[str], secrets: list[str]) -> None:
    """--debug: the log file (secrets redacted), said on stderr."""
    from pmtui.logs import setup_debug_log

    print(f"pmtui: debug log: {setup_debug_log(secrets)}", file=sys.stderr)
    log.debug("pmtui %s, command %s, profiles %s", __version__, command, profiles)


def _run(command: str, options: FleetOptions, args: argparse.Namespace) -> int:
    """Build the Fleet these options name, and hand it to the command or the dashboard."""
    from pmtui.fleet import Fleet, secrets_of, select

    chosen = select(options)
    if args.debug:
        _debug_log(command, [a.profile for a in chosen],
                   [s for a in chosen if a.settings is not None for s in secrets_of(a.settings)])
    stream = command in ("watch", "dashboard", "daemon")
    fleet = _attached(command, options, chosen, args)
    if fleet is None:
        # The daemon records by default (`record = false` turns it off); the others with --record.
        wanted = any(a.settings.records(default=command == "daemon") for a in chosen if a.settings is not None)
        fleet = Fleet.build(options, chosen, stream=stream,
                            history=options.history(wanted=wanted) if stream else None)
    if command == "dashboard" and not fleet.watched:
        asyncio.run(fleet.aclose())
        first = chosen[0]
        raise ConfigError(f"No account can be watched: {shown_name(first.profile)}: {first.error}")
    if command == "dashboard":
        return _dashboard(fleet, args)
    # Only here: the dashboard's start does without the commands and their output (rich tables).
    from pmtui import commands

    if command == "snapshot":
        return asyncio.run(commands.snapshot(fleet, as_json=args.json, include_zero=args.all))
    if command == "check":
        return asyncio.run(commands.check(fleet, warning=args.warning, critical=args.critical,
                                          prom_textfile=args.prom_textfile,
                                          timeout=args.timeout or commands.CHECK_TIMEOUT,
                                          spent=time.monotonic() - getattr(args, "started", time.monotonic())))
    if command == "watch":
        return asyncio.run(commands.watch(fleet, as_json=args.json, metrics_address=args.metrics_address))
    if command == "daemon":
        # Here the lead wires the metrics server and alert routes in as DaemonPlugins.
        return asyncio.run(commands.daemon(fleet, socket=args.socket, metrics_address=args.metrics_address))
    if command == "ledger":
        return asyncio.run(commands.ledger(fleet, since_ms=args.since, fmt=args.format))
    if command == "whatif":
        from pmtui import riskview

        try:
            move = riskview.parse_move(args.move)
        except ValueError as err:
            asyncio.run(fleet.aclose())
            return _usage(command, str(err).rstrip("."))
        return asyncio.run(commands.whatif(fleet, move, args.asset, as_json=args.json))
    return _dashboard(fleet, args)


def _attached(command: str, options: FleetOptions, chosen: list[Account], args: argparse.Namespace) -> Fleet | None:
    """The fleet on a running daemon's states, for a viewer (dashboard, watch, check) that may
    attach: with --attach, or when the daemon's socket exists and is this user's. None: poll as
    always (said on stderr when a daemon's socket is there but not used). --attach without a
    daemon to attach to is a ConfigError."""
    if command not in ("dashboard", "watch", "check") or args.attach is False:
        return None
    from pmtui import attach
    from pmtui.daemon import socket_path

    path = args.socket or socket_path()
    hello, why = attach.probe(path)
    fleet = None
    if hello is not None:
        fleet, why = attach.attached_fleet(options, chosen, hello, path)
    if fleet is not None:
        attach.say(why or "attached")
        return fleet
    if args.attach:
        raise ConfigError(f"--attach: {why or f'no pmtui daemon runs on {path}'}.")
    if why is not None:
        attach.say(f"polling the exchange itself: {why}")
    return None


def _daemon_options(options: FleetOptions) -> FleetOptions:
    """The daemon watches every profile of the config file unless some are named (a file without
    [profiles.NAME] tables, or none at all: the one default account, as other commands)."""
    if options.profiles or options.all_profiles or options.demo:
        return options
    from pmtui.config import config_file, profile_names

    file = config_file(options.config)
    if file is not None and profile_names(file)[1]:
        return dataclasses.replace(options, all_profiles=True)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()  # check --timeout counts from here: a monitor's timeout counts the start too
    # httpx's package imports its own command-line client when click is installed (apprise brings
    # it): click, pygments' lexers, rich's syntax and progress, a tenth of a second at every start
    # for nothing pmtui uses. A None here makes that import fail, and httpx goes on without it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    args = _parse(argv)
    args.started = started
    command = args.command or "dashboard"
    try:
        code = _main(args, command)
        sys.stdout.flush()  # here, where a reader gone is caught, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader went away (`pmtui snapshot | head -3`): a normal end, nothing to report.
        # Point stdout at devnull so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNKNOWN if command == "check" else 0


def _main(args: argparse.Namespace, command: str) -> int:
    if not args.demo and (args.hedge or args.scenario != "normal"):
        # Never a live request with a demo-only option: the person meant the demo.
        return _usage(command, "--hedge and --scenario are for the demo exchange: add --demo")
    options = options_of(args)
    if command in ("snapshot", "check", "whatif", "ledger"):
        options = dataclasses.replace(options, one_shot=True)
    if args.attach_both:
        return _usage(command, "--attach and --no-attach ask for opposite things: give one of them")
    try:
        if command == "daemon":
            options = _daemon_options(options)
        if options.many:
            if command in ("history", "whatif", "replay", "report"):
                return _usage(command, f"{command} reads one profile at a time: give one --profile, not several")
            if args.demo and args.scenario != "normal":
                return _usage(command, "--scenario is for the one demo account; --all-profiles has three of its own")
        if command == "history":
            from pmtui import commands

            if args.states and args.format != "json":
                return _usage(command, "--states prints JSON: add --format json")
            if args.states:
                return commands.history_states(options, profile=args.profile, since=args.since, until=args.until)

            return commands.history(options, profile=args.profile, since=args.since, until=args.until,
                                    fmt=args.format, width=max(40, shutil.get_terminal_size((140, 24)).columns))
        if command == "serve":
            return _serve(options, args)
        if command == "replay":
            return _replay(options, args)
        if command == "report":
            from pmtui import commands

            return commands.report(options, since=args.since, fmt=args.format, output_file=args.output)
        if command == "alerts":
            from pmtui import commands
            from pmtui.fleet import select

            return asyncio.run(commands.alerts_test(select(options), args.level))
        return _run(command, options, args)
    except PmtuiError as err:
        log.debug("failed: %s (%s)", err.message, type(err).__name__)
        return _fail(command, err.message)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # main's
    except Exception as err:  # a bug: say so in one line; details only in the debug log
        log.debug("unexpected error", exc_info=True)
        return _fail(
            command,
            f"unexpected internal error ({type(err).__name__}); run again with --debug and report the log.",
        )
