"""The header line never shows a figure more current than it is (issue 19): between two uniMMR
fetches (the digits show an estimate) Binance's older figure in it says its age instead of
reading as current as the clock beside it; and at a narrow width it drops a figure whole, never
cutting one short."""

from __future__ import annotations

import re

from pmtui import fmt
from pmtui.client import PapiClient
from pmtui.risk import Estimate
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.summary import SummaryBar
from tests.core.test_monitor import real_state
from tests.support.harness import frozen_clock, make_app, refresh, rendered, settled  # noqa: F401


def hand_app() -> PmtuiApp:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    return PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)


async def test_between_uniMMR_fetches_the_header_says_how_old_binances_figure_is():
    """The demo at OK fetches uniMMR every 30 s or so: the header read `✓ OK uniMMR 9.9973 ...
    13:44:33` while that figure was 27 s old and the digits showed the estimate ≈7.3."""
    app = hand_app()
    pm = real_state().pm
    estimate = Estimate(pm.accountEquity - 1, pm.accountMaintMargin)
    binance = fmt.ratio(pm.uniMMR)
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(seq=2, estimate=estimate, estimate_age=0.0, unimmr_age=27.0))
        await pilot.pause()
        header = rendered(app.query_one(SummaryBar))
        assert f"uniMMR {binance} (27s ago)" in header, header
        # Binance's own figure comes: it is as current as the positions, no age.
        app.receive(real_state(seq=3, unimmr_age=0.0))
        await pilot.pause()
        header = rendered(app.query_one(SummaryBar))
        assert f"uniMMR {binance}" in header and "ago" not in header, header


async def test_at_80_columns_the_header_never_cuts_uniMMR_short(make_app, frozen_clock):  # noqa: F811
    """DANGER in the margin-call demo: the reason (a position's distance to liquidation) is long,
    and the header read `uniMMR 2…`, a figure cut to its first digit."""
    app = make_app(clock=frozen_clock, scenario="margin-call", step=36, title="DEMO margin-call")  # as the CLI names it
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        for _ in range(4):
            frozen_clock.advance(2)
            await refresh(pilot)
            header = rendered(app.query_one(SummaryBar))
            assert "DANGER" in header or "CRITICAL" in header, header
            assert "uniMMR" not in header or re.search(r"uniMMR ≈?\d+\.\d{4}\b", header), header
