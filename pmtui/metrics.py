"""Prometheus metrics of a Fleet: `/metrics` over HTTP (`watch --metrics-address`, the daemon) and
node_exporter's textfile collector (`check --prom-textfile`).

One custom collector reads, at scrape time, the latest MonitorState each account published (and
each client's response counts): nothing is computed twice and no figure is kept that the states do
not hold. A figure pmtui does not have is an absent series, never a 0 (a 0 uniMMR would read as
liquidated). Label values from the exchange pass through `text.clean` (no control characters,
capped) and prometheus-client escapes quotes, backslashes and newlines in the exposition; the
positions' series are bounded by MAX_POSITIONS per account. No metric carries a secret: only
profile names, symbols, endpoint paths and figures.

The HTTP server is prometheus-client's (a daemon thread): the collector only reads immutable
states, which the Monitors hand to it on their own loop (`subscribe`), so a scrape never touches a
Monitor's working parts.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pmtui import __version__
from pmtui.errors import ConfigError
from pmtui.text import clean
from pmtui.text import name as shown_name

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from pmtui.delivery import Deliverer
    from pmtui.fleet import Fleet
    from pmtui.model import Crossing, RiskModel
    from pmtui.state import MonitorState

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9464
DEFAULT_ADDRESS = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
#: Most positions exported per account, nearest liquidation first: a hostile or runaway answer
#: with thousands of rows must not become thousands of series.
MAX_POSITIONS = 500
#: Longest label value kept (symbols are ~20 characters; anything longer is not a real one).
LABEL_LEN = 64
#: Binance's accountStatus values (health's levels know them): each is a series, 1 for the current.
ACCOUNT_STATUSES = ("NORMAL", "MARGIN_CALL", "SUPPLY_MARGIN", "REDUCE_ONLY", "ACTIVE_LIQUIDATION",
                    "FORCE_LIQUIDATION", "BANKRUPTED")


def _label(value: object) -> str:
    """A label value from outside: printable, one line, capped."""
    return clean(value, LABEL_LEN)


def _profile(profile: str) -> str:
    """A profile name as a label: control characters shown escaped, so two names never merge."""
    return shown_name(profile, 200)


def _num(value: Decimal | int | float) -> float:
    """The one place money leaves Decimal: Prometheus samples are float64 (exact to ~15 digits)."""
    return float(value)


class FleetCollector(Collector):
    """The fleet's metrics, built at each scrape from the newest state of every account.

    `follow`: keep the newest state as each Monitor publishes it (a running fleet: call this on
    the Monitors' loop, before or while they run); without it, the states the Monitors hold now
    (a one-shot command that has fetched). `clock`: wall time for the data's age."""

    def __init__(self, fleet: Fleet, *, follow: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.clock = clock
        # profile -> newest state; replaced whole on the Monitors' loop, copied whole by a scrape.
        self._states: dict[str, MonitorState] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._moves: dict[str, tuple[RiskModel, Crossing | None]] = {}
        #: The alert Deliverer (pmtui.delivery) beside this fleet, when there is one: its counters.
        self.deliverer: Deliverer | None = None
        for account in fleet.watched:
            assert account.monitor is not None
            self._states[account.profile] = account.monitor.state
            if follow:
                self._unsubscribe.append(account.monitor.subscribe(self._follower(account.profile)))

    def _follower(self, profile: str) -> Callable[[MonitorState], None]:
        def keep(state: MonitorState) -> None:
            self._states[profile] = state
        return keep

    def close(self) -> None:
        """Stop following the Monitors."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def describe(self) -> list[Metric]:
        return []  # the families vary with the data: the registry must not collect to find them

    def collect(self) -> Iterator[Metric]:
        states = self._states.copy()
        now = self.clock()
        p = ["profile"]
        build = GaugeMetricFamily("pmtui_build_info", "pmtui's version (always 1)", labels=["version"])
        build.add_metric([__version__], 1)
        unimmr = GaugeMetricFamily("pmtui_unimmr", "Binance's uniMMR (/papi/v1/account), as last fetched", labels=p)
        equity = GaugeMetricFamily("pmtui_account_equity_usd", "accountEquity in USD", labels=p)
        maint = GaugeMetricFamily("pmtui_maint_margin_usd", "accountMaintMargin in USD", labels=p)
        headroom = GaugeMetricFamily("pmtui_headroom_usd", "how far equity can fall before uniMMR reaches 1.05 (USD)",
                                     labels=p)
        level = GaugeMetricFamily("pmtui_level", "the verdict's level: 0 OK, 1 WARN, 2 DANGER, 3 CRITICAL "
                                  "(absent: UNKNOWN)", labels=p)
        status = GaugeMetricFamily("pmtui_account_status", "Binance's accountStatus (1: the current one)",
                                   labels=["profile", "status"])
        pos = ["profile", "symbol", "side", "market"]
        liq = GaugeMetricFamily("pmtui_position_liq_distance_ratio",
                                "|mark - liquidation price| / mark of each open position", labels=pos)
        notional = GaugeMetricFamily("pmtui_position_notional_usd", "signed notional of each open position (USD)",
                                     labels=pos)
        move = GaugeMetricFamily("pmtui_liquidation_move_ratio", "the risk model's smallest move of every "
                                 "non-stablecoin (down < 0, up > 0) taking uniMMR to liquidation",
                                 labels=["profile", "direction"])
        age = GaugeMetricFamily("pmtui_data_age_seconds", "seconds since the account's last good update", labels=p)
        last = GaugeMetricFamily("pmtui_last_success_timestamp_seconds", "Unix time of the last good update",
                                 labels=p)
        up = GaugeMetricFamily("pmtui_account_up", "1 while the account's data is current (LIVE), else 0",
                               labels=p)
        stream = GaugeMetricFamily("pmtui_stream_up", "1 while the user data stream is connected", labels=p)
        weight = GaugeMetricFamily("pmtui_exchange_used_weight_1m",
                                   "X-MBX-USED-WEIGHT-1M: the IP's request weight in the current minute")
        requests = CounterMetricFamily("pmtui_requests", "responses from the exchange by endpoint and HTTP status",
                                       labels=["endpoint", "code"])
        used: list[int] = []
        for account in self.fleet.accounts:
            name = _profile(account.profile)
            state = states.get(account.profile)
            if state is None:  # cannot be watched (no key, a config error): never up
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1 if state.status.word == "LIVE" else 0)
            self._account(name, account.profile, state, now, unimmr=unimmr, equity=equity, maint=maint,
                          headroom=headroom, level=level, status=status, liq=liq, notional=notional,
                          move=move, age=age, last=last, stream=stream)
            if state.status.used_weight is not None:
                used.append(state.status.used_weight)
        if used:
            weight.add_metric([], max(used))  # one IP: the newest minute's count is the largest
        counts: dict[tuple[str, int], int] = {}
        for account in self.fleet.watched:
            assert account.monitor is not None
            for key, n in dict(account.monitor.client.responses).items():
                counts[key] = counts.get(key, 0) + n
        for (endpoint, code), n in sorted(counts.items()):
            requests.add_metric([endpoint, str(code)], n)
        alerts, pings = self._delivery()
        yield from (build, unimmr, equity, maint, headroom, level, status, liq, notional, move, age, last, up,
                    stream, weight, requests, alerts, pings)

    def _delivery(self) -> tuple[CounterMetricFamily, CounterMetricFamily]:
        """Alert messages per route and heartbeat pings. A route is named by its place and levels
        ("1:critical"), never by its URL: that carries a token."""
        alerts = CounterMetricFamily("pmtui_alert_messages", "alert messages per route ([alerts.routes], by place "
                                     "and levels) by result: sent, retried, failed (after every try), dropped "
                                     "(its queue full)", labels=["route", "result"])
        pings = CounterMetricFamily("pmtui_heartbeat_pings", "heartbeat_url fetches by result (sent, failed)",
                                    labels=["result"])
        d = self.deliverer
        if d is not None:
            for i, route in enumerate(d.routes, 1):
                for result in ("sent", "retried", "failed", "dropped"):
                    alerts.add_metric([f"{i}:{'+'.join(route.levels)}", result], getattr(route, result))
            if d.heartbeats:
                pings.add_metric(["sent"], d.pings_sent)
                pings.add_metric(["failed"], d.pings_failed)
        return alerts, pings

    def _account(self, name: str, profile: str, state: MonitorState, now: float, **f: Any) -> None:
        info = state.status
        if info.last_ok_wall is not None:
            f["last"].add_metric([name], info.last_ok_wall)
            f["age"].add_metric([name], max(0.0, now - info.last_ok_wall))
        if info.push is not None:
            f["stream"].add_metric([name], 1 if info.push.up else 0)
        if state.verdict is not None and not state.verdict.unknown:
            f["level"].add_metric([name], int(state.verdict.level))
        view = state.view
        pm = state.pm if state.pm is not None else view.pm if view is not None else None
        if pm is not None:
            f["unimmr"].add_metric([name], _num(pm.uniMMR))
            f["equity"].add_metric([name], _num(pm.accountEquity))
            f["maint"].add_metric([name], _num(pm.accountMaintMargin))
            if view is not None and (room := view.headroom) is not None:
                f["headroom"].add_metric([name], _num(room.amount))
            if pm.accountStatus is not None:
                current = _label(pm.accountStatus).upper()
                for known in dict.fromkeys((*ACCOUNT_STATUSES, current)):
                    f["status"].add_metric([name, known], 1 if known == current else 0)
        if view is not None:
            self._positions(name, view.open_positions, f["liq"], f["notional"])
        crossing = self._liquidation_move(profile, state.risk)
        if crossing is not None:
            for direction, value in (("down", crossing.down), ("up", crossing.up)):
                if value is not None:
                    f["move"].add_metric([name, direction], _num(value))

    @staticmethod
    def _positions(name: str, rows: Any, liq: GaugeMetricFamily, notional: GaugeMetricFamily) -> None:
        # Nearest liquidation first, so the cap drops the least urgent; labels that clean alike
        # (a hostile symbol) keep the first, as Prometheus refuses a scrape with a repeated series.
        ordered = sorted(rows, key=lambda r: (r.liq_distance is None, r.liq_distance or 0))
        seen: set[tuple[str, ...]] = set()
        for row in ordered:
            if len(seen) >= MAX_POSITIONS:
                break
            labels = (name, _label(row.position.symbol), "long" if row.position.is_long else "short",
                      row.venue.lower())
            if labels in seen:
                continue
            seen.add(labels)
            if row.liq_distance is not None:
                liq.add_metric(list(labels), _num(row.liq_distance))
            if (value := row.notional_usd) is not None:
                notional.add_metric(list(labels), _num(value))

    def _liquidation_move(self, profile: str, model: RiskModel | None) -> Crossing | None:
        """The model's liquidation move, once per model (a search); None without a model or when it
        does not reconcile with Binance's uniMMR (riskview.off: its moves must not be used)."""
        if model is None:
            return None
        kept = self._moves.get(profile)
        if kept is not None and kept[0] is model:
            return kept[1]
        from pmtui.riskview import off

        crossing = None if off(model) is not None else model.liquidation_move()
        self._moves[profile] = (model, crossing)
        return crossing


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry of its own holding only `collector` (not the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


# --- serving -------------------------------------------------------------------------------------

def parse_address(text: str) -> tuple[str, int, str | None]:
    """`--metrics-address`: HOST:PORT, [IPv6]:PORT, or a PORT alone (on 127.0.0.1). The host is an
    IP address or localhost (a name could resolve anywhere). Returns (host, port, the warning to
    print when the host is not loopback); a ValueError with one sentence otherwise."""
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{text!r} has no port: give HOST:PORT, such as {DEFAULT_ADDRESS}.")
    port = int(port_text)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("", "localhost"):
        return DEFAULT_HOST, port, None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address: give one such as {DEFAULT_HOST} (the default), "
                         "or 0.0.0.0 for every interface.") from None
    if address.is_loopback:
        return str(address), port, None
    return str(address), port, (
        f"pmtui: warning: the metrics on {address} have no authentication and no encryption: anyone who can "
        "reach them sees the accounts' figures, so prefer the default 127.0.0.1 (scrape over SSH or a local "
        "Prometheus).")


@dataclass
class MetricsServer:
    """A running `/metrics` endpoint; `close()` stops it and stops following the Monitors."""

    host: str
    port: int
    collector: FleetCollector
    _httpd: WSGIServer
    _thread: Any

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.collector.close()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def start_metrics(fleet: Fleet, address: str = DEFAULT_ADDRESS, *,
                  warn: Callable[[str], None] | None = None) -> MetricsServer:
    """Serve the fleet's metrics at http://ADDRESS/metrics until `close()`. Call it on the
    Monitors' loop (it follows their states). An address off loopback is served with a warning
    (`warn`, default stderr); a port taken or an address not this machine's is a ConfigError
    with one sentence."""
    try:
        host, port, warning = parse_address(address)
    except ValueError as err:
        raise ConfigError(f"--metrics-address: {err}") from None
    collector = FleetCollector(fleet)
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry_of(collector))
    except OSError as err:
        collector.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if err.errno == errno.EADDRINUSE:
            message = f"Port {port} is already in use on {host}: choose another with --metrics-address."
        elif err.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is not an address of this machine: choose one of its own with --metrics-address."
        elif err.errno == errno.EACCES:
            message = f"Not allowed to listen on {where} (ports below 1024 need root): choose another port."
        else:
            message = f"Cannot serve metrics on {where}: {err.strerror or err}."
        raise ConfigError(message) from None
    if warning:
        (warn or (lambda line: print(line, file=sys.stderr)))(warning)
    return MetricsServer(host, httpd.server_port, collector, httpd, thread)


# --- node_exporter's textfile collector ----------------------------------------------------------

def write_textfile(fleet: Fleet, path: Path, *, clock: Callable[[], float] = time.time) -> None:
    """The fleet's metrics now, into `path` for node_exporter's textfile collector: written to a
    temporary file beside it and renamed over it (a reader never sees half a file), readable by
    all (0644: node_exporter runs as its own user; the file holds figures, never a secret). A
    ConfigError with one sentence when it cannot be written."""
    try:
        write_to_textfile(str(path), registry_of(FleetCollector(fleet, follow=False, clock=clock)))
        os.chmod(path, 0o644)
    except OSError as err:
        raise ConfigError(f"Could not write the metrics to {path}: {err.strerror or err}.") from None
