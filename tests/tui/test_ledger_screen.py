"""The Ledger screen (`f`): totals by kind in USD for today, 24 h and 7 d, the events newest first,
a liquidation fill marked CRITICAL, the ledger's sentences; it follows new states; text from the
exchange is drawn as text."""

from __future__ import annotations

from decimal import Decimal as D

from pmtui.client import PapiClient
from pmtui.clock import ManualClock
from pmtui.ledger import LedgerView
from pmtui.models import LedgerEntry, parse_um_income
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.state import LEDGER
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.ledger import LedgerScreen
from tests.core.test_ledger_real import view_of
from tests.core.test_monitor import real_state
from tests.support.harness import screen_text

NOW = 1_765_000_000.0  # 2025-12-06 05:46:40 UTC
HOUR_MS = 3_600_000


def app_at(now: float = NOW) -> PmtuiApp:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9", clock=ManualClock(now))
    app = PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)
    app.remember_theme = False
    return app


def entry(kind: str, amount: str, asset: str, hours_ago: float, info: str = "", id: str = "") -> LedgerEntry:
    t = int(NOW * 1000 - hours_ago * HOUR_MS)
    return LedgerEntry("/papi/v1/um/income", id or f"{kind}{t}", t, kind, kind.upper(), asset, D(amount),
                       "BTCUSDT", info)


async def test_f_shows_totals_by_kind_and_the_events_with_a_liquidation_marked_critical():
    real = view_of("um_force_orders.docs.en.json")  # 2020: in the events, in no total's window
    fill = real.entries[0]
    moved = LedgerEntry(fill.source, fill.id, int(NOW * 1000 - 2 * HOUR_MS), fill.kind, fill.type, None, None,
                        fill.symbol, fill.info, fill.raw)
    t = int(NOW * 1000 - 30 * HOUR_MS)
    (evil,) = parse_um_income([{"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-12.5", "asset": "USDT",
                                "info": "FUNDING\x1b[2J\x1b]0;owned\x07 FEE", "time": t, "tranId": 5}]).entries
    entries = (evil, entry("funding", "-0.001", "BTC", 3), entry("interest", "-0.75", "USDT", 1), moved)
    view = LedgerView(tuple(sorted(entries, key=lambda e: e.time)), since_ms=0, read_to_ms=int(NOW * 1000),
                      notes=("The ledger could not read /papi/v1/cm/income: busy; retrying in a minute.",))
    app = app_at()
    async with app.run_test(size=(140, 45)) as pilot:
        app.receive(real_state())
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, LedgerScreen)
        assert "The ledger has not been read yet" in " ".join(screen_text(app).split())
        app.receive(real_state(seq=2, ledger=view, changed=frozenset({LEDGER})))  # the open screen follows
        await pilot.pause()
        shown = screen_text(app)
        assert "× 1 liquidation fill in the last 7 days" in shown
        funding = next(line for line in shown.splitlines() if " funding " in line and "USD" not in line)
        # today (from 00:00 UTC) and 24 h: the BTC one (no price: apart, in BTC); 7 d: both.
        assert funding.split()[2:-1] == ["-0.001", "BTC", "-0.001", "BTC", "-12.50,", "-0.001", "BTC"], funding
        assert "FUNDING FEE" in shown and "owned" not in shown and "[2J" not in shown  # cleaned when read
        assert "LIQUIDATION" in shown and "SELL 0.001 @ 10913.21000 (filled)" in shown
        assert "The ledger could not read /papi/v1/cm/income: busy; retrying in a minute." in " ".join(shown.split())
        assert "index price now" in shown  # how USD is reached is said
        # A new state redraws the open screen.
        more = LedgerView(view.entries + (entry("commission", "-3", "USDT", 0.5),), since_ms=0,
                          read_to_ms=int(NOW * 1000))
        app.receive(real_state(seq=3, ledger=more, changed=frozenset({LEDGER})))
        await pilot.pause()
        commission = next(line for line in screen_text(app).splitlines() if " commission " in line)
        assert commission.count("-3.00") == 3, commission
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LedgerScreen)

