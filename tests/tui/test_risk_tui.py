"""The risk model on the dashboard (issue 22): the reconciliation and liquidation move in the
account panel (at 80 and 120 columns), the stress ladder (`L`, and under the positions at
200x50), the exact what-if (`w`), and text from the spot API host shown as data.

States are built by hand (tests/core/test_monitor.real_state with a RiskModel of tests/unit/test_model.book)
except one end-to-end run of the margin-call demo with its risk feed."""

from __future__ import annotations

import re
from decimal import Decimal as D

from textual.widgets import Input

from pmtui import fmt
from pmtui.client import PapiClient
from pmtui.model import RiskModel, reconcile_gap
from pmtui.risk import Estimate
from pmtui.riskfeed import RiskFeed
from pmtui.riskview import liquidation_text, pct, reconciliation_head
from pmtui.settings import Settings
from pmtui.signing import HmacSigner
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.ladder import LadderPanel, LadderScreen
from tests.core.test_monitor import real_state
from tests.support.harness import rendered, screen_text, settled, wait_until
from tests.unit.test_model import bal, book, prices, rates


def hand_app() -> PmtuiApp:
    client = PapiClient(api_key="k", signer=HmacSigner("s"), base_url="http://127.0.0.1:9")
    app = PmtuiApp(settings=Settings(), client=client, title="HAND", start=False)
    app.remember_theme = False
    return app


def exact_model(**overrides) -> RiskModel:
    """tests/unit/test_model.book, reported by Binance 0.4% below the model (it reconciles)."""
    first = RiskModel(book(**overrides))
    return RiskModel(book(reported_unimmr=first.base.unimmr * D("0.996"), **overrides))


def off_model() -> RiskModel:
    """Binance reports 10% above the book, and the collateral rates were not fetched."""
    exact = RiskModel(book())
    return RiskModel(book(reported_unimmr=exact.base.unimmr * D("1.1"), collateral_rates=None))


def gap(model: RiskModel) -> str:
    return pct(reconcile_gap(model.base.unimmr, model.inputs.reported_unimmr))


def facts(app: PmtuiApp) -> str:
    return rendered(app.query_one("#account-facts"))


async def test_the_panel_says_the_models_uniMMR_its_gap_and_the_liquidation_move_at_80_and_120():
    model = exact_model()
    for size in ((80, 24), (120, 40)):
        app = hand_app()
        async with app.run_test(size=size) as pilot:
            app.receive(real_state(risk=model))
            await pilot.pause()
            shown = facts(app)
            assert f"model {fmt.ratio(model.base.unimmr)} · Δ +0.4%" in shown, shown
            assert liquidation_text(model) in shown and "liquidation at -38." in shown, shown
            assert "approximate" not in shown and "…" not in shown, shown


async def test_at_80_columns_binances_uniMMR_keeps_its_age_beside_an_estimate():
    """With an estimate on the digits, Binance's own figure and its age were cut at 80x24
    ("Binance uniMMR 5167.92…"): shorter words now, never a cut figure or age."""
    state = real_state()
    pm = state.pm
    estimate = Estimate(pm.accountEquity - 1, pm.accountMaintMargin)
    for risk in (None, exact_model()):
        app = hand_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.receive(real_state(seq=2, estimate=estimate, estimate_age=3.0, unimmr_age=12.0, risk=risk))
            await pilot.pause()
            shown = facts(app)
            assert f"Binance {fmt.ratio(pm.uniMMR)} 12s ago" in shown.replace("uniMMR ", ""), shown
            assert "…" not in shown, shown
            if risk is not None:
                assert reconciliation_head(risk) in shown


async def test_a_model_beyond_2_percent_says_approximate_and_which_input_is_missing():
    model = off_model()
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        shown = " ".join(facts(app).split())
        assert f"· Δ {gap(model)} · approximate" in shown, shown
        assert f"The risk model is {gap(model)}" in shown and "collateral rates were not fetched" in shown, shown
        assert "liquidation at" not in shown  # a model that does not reconcile says no move


async def test_L_shows_the_ladder_live_and_esc_closes_it():
    model = exact_model()
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen)
        shown = screen_text(app)
        assert "Stress ladder: uniMMR after a price move" in shown and "(approximate)" not in shown
        for head in ("-50%", "-10%", "0%", "+50%"):
            assert head in shown, head
        row = next(line for line in shown.splitlines() if " All " in line)
        rung = {r.move: r for r in model.ladder()}
        assert f"✓ {fmt.ratio(rung[D(0)].unimmr, 1)}" in row, row  # 127.77: one decimal fits the cell
        assert rung[D("-0.5")].liquidated and "× liq." in row and "-" not in row, row  # never a negative uniMMR
        assert "liq. = liquidated" in shown  # the narrow cell's word is said in the legend
        # A new state redraws the open ladder: BTC at 5% haircut more, everything lower.
        worse = exact_model(collateral_rates=rates(USDT="1", BTC="0.5"))
        app.receive(real_state(seq=2, risk=worse))
        await pilot.pause()
        row = next(line for line in screen_text(app).splitlines() if " All " in line)
        assert f"✓ {fmt.ratio(worse.ladder()[5].unimmr, 1)}" in row, row
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LadderScreen)


async def test_the_ladder_says_approximate_and_why_when_the_model_is_off():
    model = off_model()
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        shown = " ".join(screen_text(app).split())
        assert "Stress ladder: uniMMR after a price move (approximate)" in shown
        assert f"approximate: The risk model is {gap(model)}" in shown


async def test_without_the_model_the_ladder_says_why_and_the_what_if_is_the_linear_estimate():
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state())
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert "The risk model is not ready yet" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("w")
        await pilot.pause()
        shown = " ".join(screen_text(app).split())
        assert "What-if: price shock (linear estimate)" in shown
        assert "An estimate: linear notional scaling" in shown and "The risk model is not ready yet" in shown


def report(app: PmtuiApp) -> str:
    return rendered(app.screen.query_one("#model-report"))


async def test_w_replays_a_move_of_one_underlying_on_the_exact_model():
    model = exact_model()
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        assert app.screen.query_one("#whatif-box").border_title == "What-if: price move (exact model)"
        box = app.screen.query_one("#shock", Input)
        for typed, under in (("BTC -10", "BTC"), ("-10% btcusdt", "BTC"), ("-10", None)):
            box.value = typed
            await pilot.press("enter")
            await pilot.pause()
            shown = report(app)
            after = model.scenario(D("-0.1"), under)
            what = "BTC -10.0%" if under else "every non-stablecoin -10.0%"
            assert f"Exact: {what}" in shown, shown
            assert fmt.ratio(after.unimmr) in shown and fmt.money(after.adjusted_equity) in shown, shown
        box.value = "USDT -10"
        await pilot.press("enter")
        await pilot.pause()
        assert "USDT is a stablecoin: the model never moves it." in rendered(app.screen.query_one("#shock-report"))
        box.value = "BTC -60"  # past the liquidation move (about -38%)
        await pilot.press("enter")
        await pilot.pause()
        shown = report(app)
        row = next(line for line in shown.splitlines() if "liquidated × CRITICAL" in line)
        assert not re.search(r"-\d", row), row  # never a negative uniMMR
        down = pct(model.liquidation_move(underlying="BTC").down)
        assert f"Liquidated before this move: uniMMR reaches 1.05 on the way, at {down}." in shown
        equity = next(line for line in shown.splitlines() if "adjusted equity" in line)
        assert equity.rstrip().endswith("—"), equity


async def test_the_what_if_says_approximate_when_the_model_is_off():
    model = off_model()
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        app.screen.query_one("#shock", Input).value = "-10"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#whatif-box").border_title == "What-if: price move (approximate)"
        assert "Approximate: every non-stablecoin" in report(app)
        note = " ".join(rendered(app.screen.query_one("#shock-note")).split())
        assert note.startswith(f"approximate: The risk model is {gap(model)}"), note


async def test_names_and_sentences_from_the_spot_host_are_shown_as_data():
    """An asset named with markup (and one with an escape sequence, cleaned at parse) and a
    refusal sentence carrying markup: drawn as written, never as styles or terminal control."""
    hostile, escaped = "[bold red]PWN[/]", "EVIL\x1b[2J"
    inputs = dict(
        balances=[bal("USDT", umWalletBalance="10000"), bal("BTC", crossMarginAsset="1"),
                  bal(hostile, crossMarginAsset="100"), bal(escaped, crossMarginAsset="50")],
        collateral_rates=rates(USDT="1", BTC="0.95", **{hostile: "0.9", "EVIL\ufffd": "0.9"}),
        index_prices=prices(USDT="1", BTC="50000", **{hostile: "10", "EVIL\ufffd": "10"}),
        problems=("The model has no margin leverages: [link=http://x]refused[/link] [b]now[/b].",),
    )
    model = RiskModel(book(**inputs))
    app = hand_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.receive(real_state(risk=model))
        await pilot.pause()
        assert "[link=http://x]refused[/link] [b]now[/b]" in " ".join(facts(app).split())
        await pilot.press("L")
        await pilot.pause()
        shown = screen_text(app)
        assert hostile in shown and "EVIL\ufffd" in shown, shown
        assert "\x1b" not in shown
        assert "[link=http://x]refused[/link]" in " ".join(shown.split())


async def test_the_margin_call_demo_ladder_reads_liquidated_and_fills_the_room_at_200x50(make_app):
    """End to end: the demo serves the model's inputs; its model reconciles with its uniMMR, and
    a fall liquidates the margin-call book: "liquidated", never a negative uniMMR."""
    app = make_app(scenario="margin-call")
    app.monitor.risk_feed = RiskFeed(account_interval=app.settings.account_interval)
    async with app.run_test(size=(200, 50)) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.state is not None and app.state.risk is not None
                         and not app.state.risk.base.approximate, what="the risk model's inputs")
        await pilot.pause()
        model = app.state.risk
        assert "Δ 0.0%" in facts(app) or "Δ +0.0%" in facts(app) or "Δ -0.0%" in facts(app), facts(app)
        assert "Stress ladder" in str(app.query_one("#ladder-panel").border_title)
        panel = rendered(app.query_one("#ladder-panel-matrix"))
        assert "× liquidated" in panel, panel
        await pilot.press("L")
        await pilot.pause()
        matrix = rendered(app.screen.query_one("#ladder-matrix"))
        gone = [u or "All" for u in (None, *model.underlyings[:10]) if any(r.liquidated for r in model.ladder(u))]
        assert gone, "the margin-call book is liquidated by some move of the ladder"
        for line in matrix.splitlines()[1:]:
            name = line.split()[0]
            assert ("× liquidated" in line) == (name in gone), line
            assert not re.search(r"(?<![\w%])-\d", line), line  # never a negative uniMMR


async def test_the_ladder_panel_settles_when_no_model_and_a_model_come_in_one_frame():
    """None then a model before the stylesheet caught up: each deferred redraw re-applied its own
    (old) model's class, and the two toggled each other for ever (a busy loop at start-up)."""
    model = exact_model()
    app = hand_app()
    async with app.run_test(size=(200, 50)) as pilot:
        panel = app.query_one(LadderPanel)
        toggles = []
        set_class = panel.set_class
        panel.set_class = lambda *a, **k: (toggles.append(a), set_class(*a, **k))[1]  # type: ignore[method-assign]
        panel.show(None, "waiting")
        app.receive(real_state(risk=model))  # the app shows the model on the panel next
        for _ in range(5):
            await pilot.pause()
        assert len(toggles) <= 3, toggles
        assert not panel.has_class("-no-model") and panel.display
        assert "✓" in rendered(app.query_one("#ladder-panel-matrix"))


async def test_a_new_model_each_refresh_redraws_the_ladder_panel_without_a_layout():
    """At 200x50 the ladder stands beside the positions and each refresh brings a new model: its
    figures change, not its size, and a layout (every refresh) repainted the whole screen."""
    from pmtui.model import UmLeg
    from pmtui.tui.widgets.ladder import LadderMatrix

    app = hand_app()
    async with app.run_test(size=(200, 50)) as pilot:
        app.receive(real_state(risk=exact_model()))
        matrix = app.query_one("#ladder-panel-matrix", LadderMatrix)
        await wait_until(pilot, lambda: "✓" in rendered(matrix), what="the first ladder")
        before = rendered(matrix)
        layouts: list[bool] = []
        refresh = matrix.refresh
        matrix.refresh = lambda *a, **k: layouts.append(k.get("layout", False)) or refresh(*a, **k)  # type: ignore[method-assign]
        app.receive(real_state(seq=2, risk=exact_model(um=[UmLeg("BTCUSDT", D(-3), D(50000))])))
        await wait_until(pilot, lambda: rendered(matrix) != before, what="the new model's ladder")
        assert layouts and True not in layouts


async def test_a_new_model_with_the_same_ladder_cells_draws_nothing():
    """Each refresh brings a new model, and mostly the same cells (uniMMR to two decimals): the
    matrix (a Rich table) is drawn again only when a cell changes."""
    from pmtui.tui.widgets.ladder import LadderMatrix

    app = hand_app()
    async with app.run_test(size=(200, 50)) as pilot:
        app.receive(real_state(risk=exact_model()))
        matrix = app.query_one("#ladder-panel-matrix", LadderMatrix)
        await wait_until(pilot, lambda: "✓" in rendered(matrix), what="the first ladder")
        updates: list[object] = []
        update = matrix.update
        matrix.update = lambda *a, **k: updates.append(a) or update(*a, **k)  # type: ignore[method-assign]
        app.receive(real_state(seq=2, risk=exact_model()))  # the same book, a new model
        await wait_until(pilot, lambda: app.state.seq == 2, what="the second state")
        await pilot.pause()
        assert matrix.model is app.state.risk and updates == []
