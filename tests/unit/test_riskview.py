"""What people read of the risk model: the liquidation move and reconciliation sentences, the
`liq_move_below` alert rule, `check`'s sentence and perfdata, `snapshot --json`'s view.risk and
`pmtui whatif`."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from pmtui import fmt
from pmtui.alerts import Alerts, AlertState, Rule, check_rules
from pmtui.model import RiskModel
from pmtui.riskview import liq_perfdata, liquidation_text, parse_move, pct, reconciliation_text
from pmtui.settings import AlertSettings, Thresholds
from tests.cli.test_cli import run
from tests.unit.test_model import bal, book


def test_a_move_is_shown_toward_zero_never_further_than_it_is():
    assert pct(D("-0.10258")) == "-10.2%" and pct(D("0.35")) == "+35.0%" and pct(D("0")) == "0.0%"
    assert parse_move("-10") == D("-0.1") and parse_move("+5.5%") == D("0.055")
    for bad in ("abc", "-100", "301", "nan", ""):
        with pytest.raises(ValueError, match="MOVE must be a percent"):
            parse_move(bad)


def test_the_liquidation_move_sentence_and_perfdata():
    model = RiskModel(book())
    down = model.liquidation_move().down
    assert liquidation_text(model) == f"liquidation at {pct(down)} (BTC {pct(down)})"
    assert re.fullmatch(r"liq_move_down=-38\.\d%", liq_perfdata(model))
    gone = RiskModel(book(balances=[bal("USDT", umWalletBalance="-99300")]))
    assert liquidation_text(gone) == "liquidation: now (uniMMR at or below 1.05)"
    assert liq_perfdata(gone) == "liq_move_down=0.0% liq_move_up=0.0%"


def test_reconciliation_says_the_gap_or_why_the_model_is_approximate():
    exact = RiskModel(book())
    model = RiskModel(book(reported_unimmr=exact.base.unimmr * D("0.996")))
    assert reconciliation_text(model) == f"model {fmt.ratio(exact.base.unimmr)} · Δ +0.4%"  # 4 places, cut
    off = RiskModel(book(reported_unimmr=exact.base.unimmr * D("1.1"), collateral_rates=None))
    text = reconciliation_text(off)
    assert text.startswith("model ") and "approximate: The collateral rates were not fetched" in text


def test_liq_move_below_fires_on_a_near_liquidation_and_clears_past_hysteresis():
    near = RiskModel(book())  # about -38%
    alerts = Alerts([Rule("liq_move_below", "liq_move_below", D(40))], hysteresis=D("0.02"))
    (event,) = alerts.evaluate(AlertState(risk=near), 0.0, mono=0.0)
    assert event.state == "fired" and event.message.startswith("A fall of 38.")
    assert event.message.endswith("% in every non-stablecoin would take uniMMR to liquidation (alert below 40%).")
    far = RiskModel(book(balances=[bal("USDT", umWalletBalance="1000000")]))  # no fall liquidates
    (cleared,) = alerts.evaluate(AlertState(risk=far), 1.0, mono=1.0)
    assert cleared.state == "cleared"
    assert alerts.evaluate(AlertState(risk=None), 2.0, mono=2.0) == []  # unknown: nothing


def test_liq_move_below_setting_is_a_percent_and_off_by_default():
    assert AlertSettings().liq_move_below is None
    assert AlertSettings(liq_move_below=15).liq_move_below == D(15)
    assert AlertSettings(liq_move_below=False).liq_move_below is None
    with pytest.raises(ValidationError, match="liq_move_below is a percent"):
        AlertSettings(liq_move_below=0)


def test_check_rules_take_the_model():
    from pmtui.models import parse_um_account
    from pmtui.views import build_view
    from tests.cli.test_cli_risk import um_body

    view = build_view(parse_um_account(um_body()), Thresholds())
    result = check_rules(view, alerts=AlertSettings(liq_move_below=40, unimmr_below=None,
                                                         liq_distance_below=None, stale_for=None),
                         risk=RiskModel(book()))
    assert [e.rule for e in result.events] == ["liq_move_below"]


# --- the commands, against the local PAPI imitation (which serves the five inputs too) -----------


def test_snapshot_json_has_view_risk(capsys, live):
    code, out, _ = run(capsys, "snapshot", "--json")
    assert code == 0
    risk = json.loads(out)["view"]["risk"]
    assert set(risk) == {"model", "liquidationMove", "moves", "underlyings", "ladder"}
    assert risk["model"]["reportedUniMMR"] == json.loads(out)["account"]["uniMMR"]
    assert {"/sapi/v1/portfolio/collateralRate", "/papi/v1/um/leverageBracket"} <= set(live.paths())


def test_check_says_no_liquidation_move_from_a_model_that_does_not_reconcile(capsys, live):
    code, out, _ = run(capsys, "check")
    detail, _, perf = out.strip().partition(" | ")
    # The SDK's example rates name only USDC: the model is far off Binance's uniMMR, so a move it
    # finds ("liquidation: now") would be a confident wrong number. check says none.
    assert code == 0 and "liquidation at" not in detail and "liquidation: now" not in detail, detail
    assert "liq_move_" not in perf, perf


def test_check_says_the_liquidation_move_of_a_model_that_reconciles(capsys):
    code, out, _ = run(capsys, "check", "--demo")
    detail, _, perf = out.strip().partition(" | ")
    assert re.search(r"; liquidation at [-+]\d+\.\d%( \([A-Z0-9]+ [-+]\d+\.\d%\))?", detail), detail
    assert re.search(r"\bliq_move_(down|up)=-?\d+\.\d%", perf), perf


def test_whatif_prints_one_scenario(capsys, live):
    code, out, _ = run(capsys, "whatif", "-10", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["move"] == "-0.1" and doc["underlying"] is None and doc["level"]
    code, out, _ = run(capsys, "whatif", "-10")
    assert code == 0 and out.startswith("every non-stablecoin -10.0%: uniMMR ")


def test_whatif_refuses_nonsense_in_one_sentence(capsys, live):
    code, _, err = run(capsys, "whatif", "ten")
    assert code == 2 and "MOVE must be a percent from -99 to +300" in err
    code, _, err = run(capsys, "whatif", "-10", "NOPE")
    assert code == 1 and "NOPE moves nothing in this account's book" in err


def test_the_gap_measured_when_binances_figure_came_is_carried_not_remeasured_on_newer_prices():
    """Binance's uniMMR is up to account_interval old; positions are seconds newer. In a fast
    market, re-measuring the model against the old figure says "approximate" for a model that
    reconciled: the gap measured on the refresh that brought Binance's figure is carried."""
    from pmtui.riskview import off

    exact = RiskModel(book())
    stale_figure = exact.base.unimmr * D("1.08")  # the market moved 8% since Binance's figure
    remeasured = RiskModel(book(reported_unimmr=stale_figure))
    assert off(remeasured) is not None and remeasured.base.approximate
    carried = RiskModel(book(reported_unimmr=stale_figure, reconciled_gap=D("0.003")))
    assert carried.gap == D("0.003") and off(carried) is None and not carried.base.approximate
    assert reconciliation_text(carried) == f"model {fmt.ratio(exact.base.unimmr)} · Δ +0.3%"
    # A gap that was too wide when measured stays wide: the model says so until the next figure.
    wide = RiskModel(book(reported_unimmr=stale_figure, reconciled_gap=D("-0.05")))
    assert off(wide) is not None and wide.base.approximate


def test_a_carried_gap_says_the_age_of_the_figure_it_was_measured_on():
    """Beside "Binance uniMMR 8.8813 14s ago", "model 8.8518 · Δ 0.0%" read as a contradiction:
    the Δ is the one measured on that 14 s old figure, and says so."""
    from pmtui.riskview import reconciliation_head

    exact = RiskModel(book())
    carried = RiskModel(book(reported_unimmr=exact.base.unimmr * D("1.003"), reconciled_gap=D("0")))
    assert reconciliation_head(carried, "14s") == f"model {fmt.ratio(exact.base.unimmr)} · Δ 0.0% 14s ago"
    measured = RiskModel(book(reported_unimmr=exact.base.unimmr))
    assert reconciliation_head(measured, "14s") == f"model {fmt.ratio(exact.base.unimmr)} · Δ 0.0%"


def _many_underlyings(seed: int):
    """A book of eight underlyings, long and short at random sizes (some liquidate the account
    alone on a fall, some on a rise, some never), on 20,000 USDT and some BTC."""
    import random

    from pmtui.model import Inputs, UmLeg
    from tests.unit.test_model import NOW_MS, brackets, prices, rates

    rnd = random.Random(seed)
    coins = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "LINK")
    legs, marks = [], {"USDT": "1"}
    for i, coin in enumerate(coins):
        mark = D(60000) / D(2 ** i)
        marks[coin] = str(mark)
        size = D(rnd.choice((-3, -1, 1, 2, 5))) * D(rnd.randint(1, 9)) / 10 * 2 ** i
        legs.append(UmLeg(f"{coin}USDT", size, mark))
    um_brackets = [brackets(f"{c}USDT", (50000, "0.004", "0"), (250000, "0.005", "50"), (10**9, "0.05", "9425"))
                   for c in coins]
    return Inputs(balances=[bal("USDT", umWalletBalance=str(rnd.randint(20, 60) * 1000)),
                            bal("BTC", crossMarginAsset="0.5")],
                  um=legs, cm=[], um_brackets=um_brackets, cm_brackets=[],
                  collateral_rates=rates(USDT="1", BTC="0.95"), index_prices=prices(**marks),
                  margin_leverage=[], now_ms=NOW_MS)


@pytest.mark.parametrize("seed", range(12))
def test_the_nearest_underlying_is_found_without_scanning_every_other_to_the_end(seed):
    """The account panel says each refresh which underlying alone liquidates soonest: asking the
    others only for a move as near as the best gives the same answer, for a fraction of the work
    (each whole scan is 31 points, −99% … +300%, then the root refined)."""
    from pmtui.riskview import nearest_move, nearest_underlying

    inputs = _many_underlyings(seed)
    full = RiskModel(inputs)
    everyone = [(u, m) for u in full.underlyings[:10] if (m := nearest_move(full, u)) is not None]
    expected = min(everyone, key=lambda x: (abs(x[1]), x[0])) if everyone else None
    model = RiskModel(inputs)
    asked: list[object] = []
    gap = model._gap
    model._gap = lambda *a: asked.append(a) or gap(*a)  # type: ignore[method-assign]
    assert nearest_underlying(model) == expected
    assert model.nearest_liquidation(within=D("Infinity")) == nearest_move(full)  # the whole book's
    whole = len(asked)
    assert nearest_underlying(model) == expected and len(asked) == whole  # kept: a tick asks again
    counted = RiskModel(inputs)
    every: list[object] = []
    gap = counted._gap
    counted._gap = lambda *a: every.append(a) or gap(*a)  # type: ignore[method-assign]
    for u in counted.underlyings[:10]:
        counted.liquidation_move(underlying=u)
    # A near liquidation bounds the others' scans most: a third to a half of the work then.
    near = expected is not None and abs(expected[1]) < D("0.3")
    assert whole < len(every) * (D("0.6") if near else 1)
