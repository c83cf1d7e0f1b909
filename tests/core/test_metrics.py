"""pmtui.metrics: the collector over hand-built states (figures, absent series, hostile labels,
the cap), the HTTP endpoint and its faults, the textfile, and the client's response counts."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pmtui import cli, metrics
from pmtui.errors import ConfigError
from pmtui.fleet import Account, Fleet, FleetOptions
from pmtui.health import Level, Verdict
from pmtui.model import Crossing
from pmtui.models import UmAccount
from pmtui.settings import Thresholds
from pmtui.state import MonitorState, StatusInfo
from pmtui.stream import PushStatus
from pmtui.views import build_view
from tests.unit.test_risk import pm, position, risk, usdt

T0 = 1_750_000_000.0
HOSTILE = 'EVIL"}\nfake_metric{x="1"} 9\\\x1b[31m\x07USDT'


def status(**kw: Any) -> StatusInfo:
    base: dict[str, Any] = dict(paused=False, stopped=False, stale=False, error=None, age=2.0, last_ok_wall=T0 - 2,
                                interval=5.0, next_in=3.0, fetching=False, latency_ms=10.0, used_weight=120,
                                offset_ms=0)
    return StatusInfo(**(base | kw))


def state(*, with_pm: bool = True, positions=(), risks=(), account_status: str = "NORMAL", unimmr: str = "1.8",
          **kw: Any) -> MonitorState:
    um = UmAccount(assets=(usdt(mm="1000"),), positions=tuple(positions))
    the_pm = pm(unimmr=unimmr, equity="9000", mm="5000", status=account_status) if with_pm else None
    view = build_view(um, Thresholds(), risks=list(risks), pm=the_pm)
    fields: dict[str, Any] = dict(seq=1, changed=frozenset({"data"}), view=view, verdict=view.verdict(),
                                  status=status(), account=um, pm=the_pm)
    return MonitorState(**(fields | kw))


class FakeMonitor:
    """What the collector needs of a Monitor: its newest state, subscribe, the client's counts."""

    def __init__(self, first: MonitorState, responses: dict[tuple[str, int], int] | None = None) -> None:
        self.state = first
        self.subscribers: list[Any] = []
        self.client = SimpleNamespace(responses=dict(responses or {}))

    def subscribe(self, callback):
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def publish(self, new: MonitorState) -> None:
        self.state = new
        for callback in list(self.subscribers):
            callback(new)


def fleet_of(*accounts: Account, many: bool = True) -> Fleet:
    options = FleetOptions(profiles=tuple(a.profile for a in accounts) if many else ())
    return Fleet(list(accounts), options)


def scrape(collector: metrics.FleetCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The exposition as text, parsed back by prometheus-client's own parser: name -> labels -> value."""
    text = generate_latest(metrics.registry_of(collector)).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def one(found: dict, name: str, **labels: str) -> float:
    return found[name][tuple(sorted(labels.items()))]


def test_every_figure_of_an_account_is_a_series_with_its_value():
    s = state(positions=[position("BTCUSDT", amt="2", notional="200", mm="10"),
                         position("ETHUSDT", side="BOTH", amt="-1", notional="-100", mm="5")],
              risks=[risk("BTCUSDT", amt="2", mark="100", liq="80"), risk("ETHUSDT", amt="-1", mark="100", liq="125")])
    s = replace(s, status=status(push=PushStatus(up=True, reason=None, since=0.0, events=3)))
    monitor = FakeMonitor(s, {("/papi/v1/account", 200): 4, ("/papi/v2/um/account", 503): 1})
    found = scrape(metrics.FleetCollector(fleet_of(Account("alpha", monitor=monitor)), clock=lambda: T0))
    assert one(found, "pmtui_unimmr", profile="alpha") == 1.8
    assert one(found, "pmtui_account_equity_usd", profile="alpha") == 9000
    assert one(found, "pmtui_maint_margin_usd", profile="alpha") == 5000
    assert one(found, "pmtui_headroom_usd", profile="alpha") == 9000 - 1.05 * 5000
    assert one(found, "pmtui_level", profile="alpha") == s.verdict.level == Level.OK
    assert one(found, "pmtui_account_status", profile="alpha", status="NORMAL") == 1
    assert one(found, "pmtui_account_status", profile="alpha", status="MARGIN_CALL") == 0
    assert one(found, "pmtui_position_liq_distance_ratio", profile="alpha", symbol="BTCUSDT", side="long",
               market="um") == 0.2
    assert one(found, "pmtui_position_liq_distance_ratio", profile="alpha", symbol="ETHUSDT", side="short",
               market="um") == 0.25
    assert one(found, "pmtui_position_notional_usd", profile="alpha", symbol="ETHUSDT", side="short",
               market="um") == -100
    assert one(found, "pmtui_data_age_seconds", profile="alpha") == 2.0  # the injected clock's
    assert one(found, "pmtui_last_success_timestamp_seconds", profile="alpha") == T0 - 2
    assert one(found, "pmtui_account_up", profile="alpha") == 1
    assert one(found, "pmtui_stream_up", profile="alpha") == 1
    assert one(found, "pmtui_exchange_used_weight_1m") == 120
    assert one(found, "pmtui_requests_total", endpoint="/papi/v1/account", code="200") == 4
    assert one(found, "pmtui_requests_total", endpoint="/papi/v2/um/account", code="503") == 1
    assert one(found, "pmtui_build_info", version=metrics.__version__) == 1


def test_a_figure_pmtui_does_not_have_is_an_absent_series_never_a_zero():
    # The key may not read /papi/v1/account (no uniMMR), nothing fetched yet, no stream, no weight.
    blind = replace(state(with_pm=False), status=status(age=None, last_ok_wall=None, used_weight=None,
                                                         error=None))
    blind = replace(blind, verdict=Verdict(Level.WARN, (), unknown=True))
    found = scrape(metrics.FleetCollector(fleet_of(Account("alpha", monitor=FakeMonitor(blind)),
                                                   Account("broken", error="No API key is configured."))))
    for name in ("pmtui_unimmr", "pmtui_account_equity_usd", "pmtui_maint_margin_usd", "pmtui_headroom_usd",
                 "pmtui_level", "pmtui_account_status", "pmtui_data_age_seconds",
                 "pmtui_last_success_timestamp_seconds", "pmtui_stream_up", "pmtui_exchange_used_weight_1m",
                 "pmtui_liquidation_move_ratio", "pmtui_position_liq_distance_ratio"):
        assert name not in found, name
    # Not current, and an account that cannot be watched at all: each says so, as 0.
    assert one(found, "pmtui_account_up", profile="alpha") == 0
    assert one(found, "pmtui_account_up", profile="broken") == 0


def test_a_stale_account_keeps_its_last_figures_and_is_not_up():
    s = replace(state(), status=status(stale=True, age=300.0, last_ok_wall=T0 - 300))
    found = scrape(metrics.FleetCollector(fleet_of(Account("a", monitor=FakeMonitor(s))), clock=lambda: T0))
    assert one(found, "pmtui_unimmr", profile="a") == 1.8
    assert one(found, "pmtui_data_age_seconds", profile="a") == 300
    assert one(found, "pmtui_account_up", profile="a") == 0


def test_an_unknown_account_status_is_its_own_series_cleaned():
    s = state(account_status="new_\x1b[2Jstatus")
    found = scrape(metrics.FleetCollector(fleet_of(Account("a", monitor=FakeMonitor(s)))))
    current = {dict(k)["status"]: v for k, v in found["pmtui_account_status"].items()}
    # The wire model already cleaned it, marked with U+FFFD (models.CLEANED_MARK): kept so.
    assert current["NEW_STATUS\ufffd"] == 1 and current["NORMAL"] == 0
    assert sum(current.values()) == 1


def row(symbol: str, distance: str | None, long: bool = True, venue: str = "UM") -> Any:
    return SimpleNamespace(position=SimpleNamespace(symbol=symbol, is_long=long), venue=venue,
                           liq_distance=None if distance is None else D(distance), notional_usd=D(1))


def test_hostile_symbols_stay_one_line_of_data_and_never_repeat_a_series(monkeypatch):
    """Quotes, newlines, backslashes and escape codes in a symbol: no control character reaches
    the exposition, it parses back to the same series, and symbols that clean alike keep one."""
    rows = [row(HOSTILE, "0.5"), row(HOSTILE.replace("\n", "\r"), "0.6"), row("A" * 500, "0.7"),
            row("BTCUSDT", "0.1", venue="CM")]
    s = replace(state(), view=SimpleNamespace(open_positions=tuple(rows), headroom=None, pm=None))
    collector = metrics.FleetCollector(fleet_of(Account('we"ird\nprofile', monitor=FakeMonitor(s))))
    text = generate_latest(metrics.registry_of(collector)).decode()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "fake_metric" not in [line.split("{")[0] for line in text.splitlines()]  # no injected sample
    found = scrape(collector)
    liq = found["pmtui_position_liq_distance_ratio"]
    symbols = sorted(dict(k)["symbol"] for k in liq)
    assert symbols == sorted(['EVIL"} fake_metric{x="1"} 9\\USDT', "A" * 63 + "…", "BTCUSDT"])
    assert {dict(k)["profile"] for k in liq} == {'we"ird\\x0aprofile'}  # the name's escape, shown
    assert {dict(k)["market"] for k in liq} == {"um", "cm"}
    # The cap: nearest liquidation first.
    monkeypatch.setattr(metrics, "MAX_POSITIONS", 2)
    kept = scrape(collector)["pmtui_position_liq_distance_ratio"]
    assert sorted(kept.values()) == [0.1, 0.5]


def test_the_exposition_of_a_real_fetch_carries_no_secret():
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET

    async def fetched() -> Fleet:
        fleet = Fleet.build(FleetOptions(demo=True))
        assert fleet.accounts[0].monitor is not None
        await fleet.accounts[0].monitor.fetch_once()
        await fleet.aclose()
        return fleet

    fleet = asyncio.run(fetched())
    text = generate_latest(metrics.registry_of(metrics.FleetCollector(fleet, follow=False))).decode()
    assert DEMO_API_KEY not in text and DEMO_API_SECRET not in text and "signature" not in text
    assert 'pmtui_requests_total{code="200",endpoint="/papi/v1/account"} 1.0' in text  # the client's hook


class Model:
    """A risk model stand-in: its liquidation move, and how often it was asked."""

    def __init__(self, crossing: Crossing) -> None:
        self.crossing = crossing
        self.asked = 0

    def liquidation_move(self) -> Crossing:
        self.asked += 1
        return self.crossing


def test_the_liquidation_move_is_exported_once_per_model_and_absent_when_the_model_is_off(monkeypatch):
    import pmtui.riskview

    verdicts: dict[int, str | None] = {}
    monkeypatch.setattr(pmtui.riskview, "off", lambda model: verdicts.get(id(model)))
    model = Model(Crossing(D("1.05"), D("-0.25"), None))
    monitor = FakeMonitor(replace(state(), risk=model))
    collector = metrics.FleetCollector(fleet_of(Account("a", monitor=monitor)))
    found = scrape(collector)
    assert found["pmtui_liquidation_move_ratio"] == {(("direction", "down"), ("profile", "a")): -0.25}
    scrape(collector)
    assert model.asked == 1  # a search: once per model, not per scrape
    off = Model(Crossing(D("1.05"), D("-0.1"), D("0.2")))
    verdicts[id(off)] = "it does not reconcile with Binance's uniMMR"
    monitor.publish(replace(state(), risk=off))
    assert "pmtui_liquidation_move_ratio" not in scrape(collector)


# --- the address, the server ----------------------------------------------------------------------

@pytest.mark.parametrize("text, host, port, warns", [
    ("9464", "127.0.0.1", 9464, False),
    (":9000", "127.0.0.1", 9000, False),
    ("localhost:0", "127.0.0.1", 0, False),
    ("[::1]:9464", "::1", 9464, False),
    ("127.0.0.2:80", "127.0.0.2", 80, False),
    ("0.0.0.0:9464", "0.0.0.0", 9464, True),
    ("192.0.2.7:9464", "192.0.2.7", 9464, True),
])
def test_addresses(text, host, port, warns):
    got_host, got_port, warning = metrics.parse_address(text)
    assert (got_host, got_port) == (host, port)
    assert (warning is not None) == warns
    if warning:
        assert warning.startswith("pmtui: warning: ") and "no authentication" in warning


@pytest.mark.parametrize("text, words", [("example.com:9464", "is not an IP address"), ("127.0.0.1", "has no port"),
                                         ("127.0.0.1:99999", "has no port"), ("", "has no port")])
def test_bad_addresses_are_one_sentence(text, words):
    with pytest.raises(ValueError, match=words):
        metrics.parse_address(text)


def test_the_server_follows_new_states_and_stops():
    monitor = FakeMonitor(state(unimmr="1.8"))
    server = metrics.start_metrics(fleet_of(Account("a", monitor=monitor)), "127.0.0.1:0")
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
        assert 'pmtui_unimmr{profile="a"} 1.8' in httpx.get(server.url, timeout=5).text
        monitor.publish(state(unimmr="1.3"))
        assert 'pmtui_unimmr{profile="a"} 1.3' in httpx.get(server.url, timeout=5).text
    finally:
        server.close()
    assert monitor.subscribers == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, timeout=5)


def test_a_port_already_taken_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        monitor = FakeMonitor(state())
        with pytest.raises(ConfigError) as caught:
            metrics.start_metrics(fleet_of(Account("a", monitor=monitor)), f"127.0.0.1:{port}")
    assert caught.value.message == (f"Port {port} is already in use on 127.0.0.1: choose another with "
                                    "--metrics-address.")
    assert monitor.subscribers == []  # nothing left following


def test_an_address_off_loopback_is_served_with_the_warning(monkeypatch):
    bound: list[tuple[int, str]] = []

    def fake_server(port, addr, registry):  # no real socket on a real interface in a test
        bound.append((port, addr))
        return SimpleNamespace(server_port=port, shutdown=lambda: None, server_close=lambda: None), \
            SimpleNamespace(join=lambda timeout: None)

    monkeypatch.setattr(metrics, "start_http_server", fake_server)
    said: list[str] = []
    server = metrics.start_metrics(fleet_of(Account("a", monitor=FakeMonitor(state()))), "0.0.0.0:9464",
                                   warn=said.append)
    server.close()
    assert bound == [(9464, "0.0.0.0")]
    assert said == [metrics.parse_address("0.0.0.0:9464")[2]]
    said.clear()
    metrics.start_metrics(fleet_of(), "127.0.0.1:9464", warn=said.append).close()
    assert said == []


def test_watch_with_a_port_taken_says_so_in_one_line_and_exits_1(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = cli.main(["--demo", "watch", "--metrics-address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"pmtui: error: Port {port} is already in use on 127.0.0.1: choose another with --metrics-address.\n"


def test_a_bad_metrics_address_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--demo", "watch", "--metrics-address", "metrics.example:9464"])
    assert exited.value.code == 2
    assert "'metrics.example' is not an IP address" in capsys.readouterr().err


def test_the_address_alone_means_the_default():
    args = cli._parse(["watch", "--metrics-address"])
    assert args.metrics_address == metrics.DEFAULT_ADDRESS == cli.DEFAULT_METRICS_ADDRESS
    assert cli._parse(["watch"]).metrics_address is None


# --- the textfile ---------------------------------------------------------------------------------

def test_check_writes_the_textfile_atomically_and_readable(tmp_path: Path, capsys):
    path = tmp_path / "pmtui.prom"
    code = cli.main(["--demo", "check", "--prom-textfile", str(path)])
    line = capsys.readouterr().out
    assert code in (0, 1, 2) and line.startswith("PMTUI ")
    text = path.read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    unimmr = families["pmtui_unimmr"].samples[0]
    perfdata = dict(item.split("=", 1) for item in line.split(" | ")[1].split())
    assert unimmr.labels == {"profile": "demo"}
    assert unimmr.value == float(perfdata["uniMMR"].split(";")[0])  # the same fetch as the line's
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["pmtui.prom"]  # no temporary file left beside it


def test_a_textfile_that_cannot_be_written_is_a_warning_and_the_check_still_answers(tmp_path: Path, capsys):
    path = tmp_path / "missing" / "pmtui.prom"
    code = cli.main(["--demo", "check", "--prom-textfile", str(path)])
    out, err = capsys.readouterr()
    assert out.startswith("PMTUI ") and code != 3
    assert err == f"pmtui: warning: Could not write the metrics to {path}: No such file or directory.\n"


# --- the client's hook ----------------------------------------------------------------------------

async def test_the_client_counts_every_response_by_path_and_status():
    from pmtui.client import PapiClient
    from pmtui.errors import PmtuiError
    from pmtui.signing import HmacSigner

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fapi/v1/time":
            return httpx.Response(200, json={"serverTime": 1_750_000_000_000})
        return httpx.Response(503, text="Service Unavailable")

    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9",
                        transport=httpx.MockTransport(answer))
    async with client:
        with pytest.raises(PmtuiError):
            await client.um_account()
    assert client.responses[("/fapi/v1/time", 200)] >= 1
    assert client.responses[("/papi/v2/um/account", 503)] >= 1
    assert set(client.responses) == {("/fapi/v1/time", 200), ("/papi/v2/um/account", 503)}


def test_the_readme_lists_every_metric_the_collector_exports():
    text = generate_latest(metrics.registry_of(metrics.FleetCollector(fleet_of()))).decode()
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\|.*?(?=\|)", section, re.MULTILINE))
    documented = {name for cell in listed for name in re.findall(r"`(pmtui_\w+)`", cell)}
    assert documented == exported
