"""Entry point: argument parsing, building the client, exit codes.

Every expected failure ends as one line on stderr, `pmtui: error: <sentence>`, and a non-zero
exit; an unexpected one does too (its traceback goes only to the --debug log).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pmtui import __version__
from pmtui.errors import ConfigError, PmtuiError

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
    g.add_argument("--profile", metavar="NAME", default=d, help="profile from the config file")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmtui",
        description="Terminal dashboard for Binance Portfolio Margin accounts. "
        "With no command, opens the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"pmtui {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    snap = sub.add_parser("snapshot", help="fetch once and print assets and open positions")
    snap.add_argument("--json", action="store_true", help="JSON with the API's decimal strings unchanged")
    snap.add_argument("--all", action="store_true", help="include zero positions and assets")
    _common(snap, suppress=True)

    check = sub.add_parser("check", help="one status line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    _common(check, suppress=True)

    hist = sub.add_parser("history", help="print or export what --record recorded")
    hist.add_argument("--since", metavar="WHEN", type=_when,
                      help="from this long ago (12h, 30m, 2d) or this time (2025-06-01T08:00); default: all")
    hist.add_argument("--until", metavar="WHEN", type=_when, help="up to (not including) this time")
    hist.add_argument("--format", choices=["table", "csv", "json"], default="table",
                      help="table (default), or csv/json with the exact decimal strings")
    _common(hist, suppress=True)

    dash = sub.add_parser("dashboard", help="open the dashboard (the default)")
    _common(dash, suppress=True)
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


def make_client(settings, args: argparse.Namespace):
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.config import default_config_path
    from pmtui.signing import Signer, make_signer

    signer: Signer
    if args.demo:
        # The demo signs with its own fake credentials: a configured real key is never used.
        from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
        from pmtui.signing import HmacSigner

        api_key, signer = DEMO_API_KEY, HmacSigner(DEMO_API_SECRET)
        transport = DemoExchange(hedge=args.hedge, scenario=args.scenario)
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
        recv_window=settings.recv_window,
        timeout=settings.timeout,
        transport=transport,
        budget=WeightBudget(settings.weight_share),
    )


def secrets_of(settings) -> list[str]:
    return [
        s.get_secret_value()
        for s in (settings.api_key, settings.api_secret, settings.private_key_passphrase)
        if s is not None
    ]


def _record(settings, args, snap) -> None:
    """--record for the one-shot commands: this snapshot as one history row."""
    from pmtui.history import History, sample_from_view

    profile = "demo" if args.demo else settings.profile
    History(args.history_file).record(sample_from_view(snap.view(settings.thresholds), profile))


async def _snapshot(settings, args) -> int:
    from pmtui import output
    from pmtui.snapshot import fetch_snapshot

    async with make_client(settings, args) as client:
        snap = await fetch_snapshot(client)
    parts: dict[str, Any] = dict(pm=snap.pm, risks=snap.risks, unavailable=snap.unavailable)
    if args.json:
        print(output.snapshot_json(snap.account, include_zero=args.all, **parts))
    else:
        print(output.snapshot_table(snap.account, settings.thresholds, include_zero=args.all, **parts))
    if args.record:
        _record(settings, args, snap)
    return 0


async def _check(settings, args) -> int:
    from pmtui import output
    from pmtui.health import Level
    from pmtui.snapshot import fetch_snapshot

    async with make_client(settings, args) as client:
        snap = await fetch_snapshot(client)
    level, line = output.check_line(
        snap.account, settings.thresholds, pm=snap.pm, risks=snap.risks, alerts=settings.alerts,
        unavailable=snap.unavailable,
    )
    print(line)
    if args.record:
        try:
            _record(settings, args, snap)
        except PmtuiError as err:  # the account's state is the answer; recording is a side job
            print(f"pmtui: warning: {err.message}", file=sys.stderr)
    if level is None:  # no current uniMMR, and the key may read it: never OK blind
        return EXIT_UNKNOWN
    return {Level.OK: EXIT_OK, Level.WARN: EXIT_WARNING}.get(level, EXIT_CRITICAL)


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

    app = PmtuiApp(settings=settings, client=make_client(settings, args), title=title, history=history,
                   profile="demo" if args.demo else settings.profile)
    # Hang-ups, SIGTERM/SIGINT and a dead terminal end the run within seconds, 128+signal.
    return TerminalGuard(app).run()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a usage error, which a monitoring system reads as CRITICAL.
        words = sys.argv[1:] if argv is None else list(argv)
        if exc.code == 2 and "check" in words:
            print("PMTUI UNKNOWN - invalid command-line arguments (see pmtui check --help)")
            raise SystemExit(EXIT_UNKNOWN) from None
        raise


def _fail(command: str, message: str) -> int:
    """One line on stderr; `check` also puts its UNKNOWN status line on stdout, as monitors read it."""
    if command == "check":
        print(f"PMTUI UNKNOWN - {message}")
    print(f"pmtui: error: {message}", file=sys.stderr)
    return EXIT_UNKNOWN if command == "check" else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    command = args.command or "dashboard"
    try:
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
        if command == "history":
            return _history(settings, args)
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
