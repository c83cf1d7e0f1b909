"""The dashboard's one verdict: the header, the big uniMMR digits and the compact view for small
terminals say what `pmtui check` says, never OK on stale or missing data; uniMMR's age and its
sooner fetch; alerts that escalate through the cooldown.

Exchanges here: the canned transport of tests/cli/test_cli_risk.py (hand-made bodies, changeable
between refreshes), the seeded demo with a fault switch, and the local PAPI server on 127.0.0.1.
Clocks are frozen where ages or cadences matter.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Digits

from pmtui.alerts import CLEARED, FIRED, Alerts, rules_from
from pmtui.settings import AlertSettings, Settings
from pmtui.tui.widgets.account import AccountFacts, AccountPanel
from pmtui.tui.widgets.summary import CompactView, SummaryBar
from tests.cli.test_cli_risk import Canned, RefusingServer, pm_body, risk_body, um_body
from tests.support.harness import refresh, rendered, screen_text, settled
from tests.support.papi_server import API_KEY, API_SECRET, PM_ACCOUNT, UM_ACCOUNT

SIZE = (80, 24)
PM = "/papi/v1/account"


def header(app) -> str:
    return rendered(app.query_one(SummaryBar))


def digits(app) -> Digits:
    return app.query_one("#unimmr", Digits)


def caption(app) -> str:
    return rendered(app.query_one("#unimmr-age")).strip()


def facts(app) -> str:
    return rendered(app.query_one(AccountFacts))


async def poll(pilot) -> None:
    """One refresh as the timer starts it (not `r`, which also forces the account fetch)."""
    app = pilot.app
    before = app.monitor.poller.polls
    app.monitor.poll_now()
    await settled(pilot, before + 1)


@pytest.fixture
def server():
    s = RefusingServer().start()
    try:
        yield s
    finally:
        s.stop()


def on_server(make_app, server, **kwargs):
    return make_app(base_url=server.base_url, api_key=API_KEY, api_secret=API_SECRET, **kwargs)


# --- one verdict ---------------------------------------------------------------------------------


async def test_header_and_digits_say_critical_when_a_position_is_near_liquidation(make_app):
    """uniMMR 1.92 is the normal band, but BTCUSDT is 2.4% from its liquidation price: the header
    used to say `✓ OK uniMMR 1.92` while `check` said CRITICAL on the same data."""
    app = make_app(transport=Canned(pm=(200, pm_body("1.92000000")), risk=(200, risk_body(liq="48800.00000000"))))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        top = header(app)
        assert "× CRITICAL" in top and "BTCUSDT 2.4% from liquidation" in top and "✓ OK" not in top
        assert "uniMMR 1.9200" in top  # uniMMR itself is still said
        # The digits are uniMMR's own figure, coloured by its own band (normal); the badge right
        # beside them (and the header) carry the verdict, CRITICAL.
        assert digits(app).value == "1.9200" and digits(app).has_class("-ok")
        assert not digits(app).has_class("-critical")
        assert "× CRITICAL" in facts(app) and "BTCUSDT 2.4% from liquidation" in facts(app)
        assert app.state.verdict == app.view.verdict() and app.view.level.name == "CRITICAL"


async def test_stale_data_never_looks_current(make_app, frozen_clock):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "✓ OK" in header(app) and digits(app).has_class("-ok") and caption(app) == "uniMMR 0s ago"
        frozen_clock.advance(14)
        app.client._http._transport.fault = "503"
        await refresh(pilot)
        assert app.monitor.poller.stale
        top = header(app)
        assert "◌ STALE · last OK" in top and "✓" not in top
        assert digits(app).has_class("-stale") and caption(app) == "◌ STALE 14s"
        assert "◌ STALE" in facts(app) and "✓" not in facts(app)
        app.client._http._transport.fault = None
        await refresh(pilot)
        assert "✓ OK" in header(app) and "STALE" not in header(app) + caption(app)
        assert not digits(app).has_class("-stale")


async def test_unimmr_age_is_on_screen_and_a_failing_account_fetch_makes_it_stale(make_app, frozen_clock, server):
    app = on_server(make_app, server, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert caption(app) == "uniMMR 0s ago"
        frozen_clock.advance(7)
        app.monitor.tick()
        await pilot.pause()
        assert caption(app) == "uniMMR 7s ago"
        # The UM account is fine, /papi/v1/account fails for a passing reason: uniMMR is old.
        server.inject("500", path=PM_ACCOUNT)
        await refresh(pilot)
        assert app.monitor.poller.error is None and app.monitor.account_poller.error is not None
        assert "◌ STALE · last OK" in header(app) and caption(app) == "◌ STALE 7s"
        frozen_clock.advance(5)  # the account keeps MIN_ACCOUNT_INTERVAL spacing, even on `r`
        await refresh(pilot)  # it passes again
        assert "✓ OK" in header(app) and caption(app) == "uniMMR 0s ago"


async def test_no_unimmr_yet_is_unknown_not_ok(make_app, server):
    server.set_mode("500", path=PM_ACCOUNT)
    app = on_server(make_app, server)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert app.view is not None and app.view.pm is None
        top = header(app)
        assert "? UNKNOWN" in top and "uniMMR unknown" in top and "OK" not in top
        assert digits(app).value == "-.--" and caption(app) == "? UNKNOWN"


async def test_a_key_that_may_not_read_the_account_is_judged_by_the_um_ratio_and_says_so(make_app, server):
    server.refused = frozenset({PM_ACCOUNT})
    app = on_server(make_app, server)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert app.monitor.account_poller.stopped
        top = header(app)
        assert "✓ OK" in top and "UM margin ratio 164.7247 (uniMMR unavailable" in top
        assert digits(app).value == "164.7247" and caption(app) == "UM ratio 0s ago"
        assert "unavailable" in facts(app)


# --- the account endpoint, sooner when its band may have changed ----------------------------------


async def test_account_is_fetched_sooner_when_the_um_account_moves_its_band(make_app, frozen_clock):
    exchange = Canned(pm=(200, pm_body("2.00000000")))  # equity 2000, maintenance margin 1000
    app = make_app(transport=exchange, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert exchange.seen.count(PM) == 1 and app.settings.account_interval == 10
        # 700 lost on the UM account: uniMMR about 1.3, the margin-call band. 3 s after the last
        # fetch it waits (MIN_ACCOUNT_INTERVAL is 5 s)...
        exchange.routes[UM_ACCOUNT] = (200, um_body(upnl="-700.00000000"))
        frozen_clock.advance(3)
        await poll(pilot)
        assert exchange.seen.count(PM) == 1
        # ...5 s after it, still 5 s before its 10 s cadence: now.
        exchange.routes[PM] = (200, pm_body("1.30000000"))
        frozen_clock.advance(2)
        await poll(pilot)
        assert exchange.seen.count(PM) == 2 and app.view.unimmr == Decimal("1.30000000")
        assert "▲ WARN" in header(app)
        # A move within the band (about 1.25) waits for the cadence (due at 15 s; this is 11 s).
        exchange.routes[UM_ACCOUNT] = (200, um_body(upnl="-750.00000000"))
        frozen_clock.advance(6)
        await poll(pilot)
        assert exchange.seen.count(PM) == 2
        frozen_clock.advance(4)
        await poll(pilot)
        assert exchange.seen.count(PM) == 3


# --- alerts ---------------------------------------------------------------------------------------


class Recorder:
    """Stands in for the Notifier: what the command hook would have been sent."""

    def __init__(self) -> None:
        self.events = []

    def send(self, events):
        self.events += list(events)
        return []

    async def drain(self, timeout=None):
        pass


async def test_escalation_after_a_recovery_gets_a_toast_a_bell_and_the_command(make_app, monkeypatch,
                                                                                frozen_clock):
    """Margin call at 1.30, recovery to 3.0, REDUCE_ONLY at 1.08 within five minutes: the third
    used to be swallowed by the cooldown (no toast, no bell, no command)."""
    exchange = Canned(pm=(200, pm_body("1.30000000")))
    app = make_app(transport=exchange, clock=frozen_clock)
    app.monitor.alerts = Alerts(rules_from(AlertSettings(liq_distance_below=False, stale_for=False)), cooldown=300,
                              on_clear=False)
    app.monitor.notifier = recorder = Recorder()
    toasts, bells = [], []
    monkeypatch.setattr(app, "notify", lambda message, **kw: toasts.append((kw.get("title"), message)))
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert [t for t, _ in toasts] == ["Alert"] and len(bells) == 1
        exchange.routes[PM] = (200, pm_body("3.00000000"))
        frozen_clock.advance(5)  # MIN_ACCOUNT_INTERVAL: `r` fetches uniMMR again only after it
        await refresh(pilot)
        assert [e.state for e in recorder.events[-2:]] == [CLEARED, CLEARED]  # the hook hears it
        assert len(toasts) == 1  # on_clear is off: people are not told
        exchange.routes[PM] = (200, pm_body("1.08000000"))
        frozen_clock.advance(5)
        await refresh(pilot)
        assert len(bells) == 2 and toasts[-1][0] == "Alert" and "1.08" in toasts[-1][1]
        last = recorder.events[-2:]
        assert [(e.rule, e.state, e.level.name) for e in last] == [
            ("unimmr_below", FIRED, "DANGER"), ("status_not_normal", FIRED, "DANGER")]


# --- small terminals ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(20, 10), (40, 12)])
async def test_compact_view_says_level_unimmr_and_stale_after_faults(make_app, frozen_clock, size):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        compact = app.query_one(CompactView)
        assert compact.display and not app.query_one(AccountPanel).display
        shown = screen_text(app)
        assert "✓ OK" in shown and "uniMMR 10.3371" in shown and "LIVE" in shown
        frozen_clock.advance(14)
        app.client._http._transport.fault = "503"
        await refresh(pilot)
        shown = screen_text(app)
        assert "◌ STALE" in shown and "last OK" in shown and "✓ OK" not in shown, shown
        assert "uniMMR 10.3371" in shown and "14s" in shown


@pytest.mark.parametrize("size", [(20, 10), (40, 12)])
async def test_compact_view_says_error_when_the_key_is_refused(make_app, server, size):
    app = on_server(make_app, server)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        server.revoke()
        await refresh(pilot)
        shown = screen_text(app)
        assert "ERROR" in shown and "◌ STALE" in shown and "✓ OK" not in shown, shown
        assert "uniMMR 166.1085" in shown and "refused the API key" in " ".join(shown.split())


async def test_the_full_dashboard_from_its_size_up(make_app):
    app = make_app()
    async with app.run_test(size=(60, 18)) as pilot:
        await settled(pilot)
        assert not app.query_one(CompactView).display and app.query_one(AccountPanel).display
        assert "Positions" in screen_text(app)


def book_bodies(liqs: dict[str, str]) -> tuple[dict, list]:
    """A UM account holding one long of each symbol at mark 100, and its positionRisk with the
    given liquidation prices."""
    um = um_body()
    um["positions"] = [{"symbol": s, "initialMargin": "10", "maintMargin": "1", "unrealizedProfit": "0",
                        "positionSide": "BOTH", "positionAmt": "1", "updateTime": 1, "notional": "100"}
                       for s in liqs]
    risks = [{"symbol": s, "positionSide": "BOTH", "positionAmt": "1", "entryPrice": "100", "markPrice": "100",
              "liquidationPrice": liq, "leverage": "20", "unRealizedProfit": "0", "notional": "100"}
             for s, liq in liqs.items()]
    return um, risks


async def test_one_refresh_is_one_alert_per_rule_and_the_all_clear_is_told(make_app, monkeypatch, frozen_clock):
    """Four positions near liquidation in one refresh: one toast, one bell, one log line (it was
    one per position); when they recover, and when a margin call ends, a toast and the log say so."""
    near = {"AAAUSDT": "92", "BTCUSDT": "99.9", "ETHUSDT": "97.7", "SOLUSDT": "95"}
    um, risks = book_bodies(near)
    exchange = Canned(um=(200, um), risk=(200, risks))
    app = make_app(transport=exchange, clock=frozen_clock)
    app.monitor.alerts = Alerts.from_settings(Settings())  # the defaults: on_clear is on
    app.monitor.notifier = recorder = Recorder()
    toasts, bells = [], []
    monkeypatch.setattr(app, "notify", lambda message, **kw: toasts.append((kw.get("title"), message)))
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert toasts == [("Alert", "4 positions within 10% of liquidation: BTCUSDT long 0.1%, ETHUSDT long 2.3%,"
                                    " SOLUSDT long 5% +1 more.")]
        assert len(bells) == 1 and len(recorder.events) == 1
        log = app.query_one("#history")
        assert [e.state for e in log._events] == [FIRED]
        um, risks = book_bodies({s: "50" for s in near})
        exchange.routes.update({"/papi/v2/um/account": (200, um), "/papi/v1/um/positionRisk": (200, risks)})
        frozen_clock.advance(5)
        await refresh(pilot)
        assert toasts[-1][0] == "Alert cleared"
        assert toasts[-1][1].startswith("4 positions no longer within 10% of liquidation: AAAUSDT long 50%,")
        assert [e.state for e in log._events] == [FIRED, CLEARED] and len(bells) == 1
        exchange.routes[PM] = (200, pm_body("1.30000000"))
        frozen_clock.advance(5)
        await refresh(pilot)
        assert toasts[-1][0] == "Alert" and len(bells) == 2
        exchange.routes[PM] = (200, pm_body("3.00000000"))
        frozen_clock.advance(5)
        await refresh(pilot)
        assert toasts[-1] == ("Alert cleared", "uniMMR 3 is back above 1.53: margin call over."
                                               " Account status is NORMAL again (MARGIN_CALL is over).")
        assert [e.state for e in log._events][-2:] == [CLEARED, CLEARED]
