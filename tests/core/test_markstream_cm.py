"""COIN-M positions on the public COIN-M mark price stream (pmtui.markstream, `cm_market_stream_url`):
inverse repricing against figures checked by hand from Binance's published COIN-M payloads, the
combined `<pair>@markPrice@1s` streams of the pairs held (and made again when they change), the
Monitor live only while every open position (UM and COIN-M) has a live mark, one sentence per
fault, the demo, and the setting. Clocks are injected; waits are bounded."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from pmtui.clock import ManualClock
from pmtui.errors import ConfigError
from pmtui.markstream import (
    RESUBSCRIBE_S,
    Mark,
    MarkFeed,
    cm_pair,
    cm_unpriceable,
    pairs_url,
    parse_marks,
    reprice_cm,
)
from pmtui.models import parse_cm_account, parse_cm_position_risk
from tests.core.test_markstream import NOW_MS, FastClock, frame, until
from tests.core.test_real_payloads import load_body
from tests.support.papi_server import cm_open_account_body, cm_open_position_risk_body

Q = Decimal("1e-8")  # COIN-M figures are in the coin, to 8 decimals


def cm_parts():
    """10 contracts long of BTCUSD_201225 (1,000 USD) entered at 8,000 and 5 short of BTCUSD_PERP
    (500 USD) entered at 10,000, positionRisk's marks 10,000 and 12,500: every REST figure exact."""
    account = parse_cm_account({
        "assets": [{"asset": "BTC", "crossWalletBalance": "1", "crossUnPnl": "0.015", "maintMargin": "0.0007",
                    "initialMargin": "0.01"}],
        "positions": [
            {"symbol": "BTCUSD_201225", "positionSide": "BOTH", "positionAmt": "10", "initialMargin": "0.005",
             "maintMargin": "0.0005", "unrealizedProfit": "0.025", "entryPrice": "8000"},
            {"symbol": "BTCUSD_PERP", "positionSide": "BOTH", "positionAmt": "-5", "initialMargin": "0.005",
             "maintMargin": "0.0002", "unrealizedProfit": "-0.01", "entryPrice": "10000"},
        ]})
    risks = parse_cm_position_risk([
        {"symbol": "BTCUSD_201225", "positionSide": "BOTH", "positionAmt": "10", "entryPrice": "8000",
         "markPrice": "10000", "unRealizedProfit": "0.025", "notionalValue": "0.1"},
        {"symbol": "BTCUSD_PERP", "positionSide": "BOTH", "positionAmt": "-5", "entryPrice": "10000",
         "markPrice": "12500", "unRealizedProfit": "-0.01", "notionalValue": "-0.04"},
    ])
    return account, risks


def combined(pair: str, marks: dict[str, str], when: int = NOW_MS) -> str:
    """One frame of `<pair>@markPrice@1s` as a combined stream wraps it: {"stream": …, "data": [...]}."""
    return json.dumps({"stream": f"{pair}@markPrice@1s", "data": json.loads(frame(marks, when))})


def published_marks() -> dict[str, Mark]:
    """BTCUSD_201225 from COIN-M's Mark Price Stream page, BTCUSD_PERP from its pair page."""
    one, _ = parse_marks(load_body("market_stream/mark_price_update.cm.en.json"))
    pair, _ = parse_marks(load_body("market_stream/mark_price_pair.cm.zh-CN.json"))
    return {"BTCUSD_201225": one["BTCUSD_201225"], "BTCUSD_PERP": pair["BTCUSD_PERP"]}


def test_binances_pair_example_parses_bare_and_in_the_combined_envelope():
    """The English page's `<pair>@markPrice@1s` example: both symbols of the pair, the delivery
    contract's `"r": ""` no obstacle; the same marks once wrapped as the combined stream sends it."""
    body = load_body("market_stream/mark_price_pair.cm.en.json")
    bare, skipped = parse_marks(body)
    assert skipped == 0 and bare == {"BTCUSD_201225": Mark(Decimal("10934.62615417"), 1596095725000),
                                     "BTCUSD_PERP": Mark(Decimal("11012.31359011"), 1596095725000)}
    assert parse_marks(body) == parse_marks(load_body("market_stream/mark_price_pair.cm.zh-CN.json"))
    # Binance's general page: combined stream events are {"stream":"<streamName>","data":<rawPayload>}.
    wrapped = '{"stream":"btcusd@markPrice@1s","data":' + body + "}"
    assert parse_marks(wrapped) == (bare, 0)
    assert parse_marks(wrapped.encode()) == (bare, 0)


def test_the_url_is_the_combined_stream_of_the_pairs_sorted_and_lowercased():
    assert pairs_url("wss://dstream.binance.com", ["ETHUSD", "BTCUSD", "btcusd"]) == (
        "wss://dstream.binance.com/stream?streams=btcusd@markPrice@1s/ethusd@markPrice@1s")
    account = parse_cm_account({"assets": [], "positions": [
        {"symbol": s, "positionSide": "BOTH", "positionAmt": "1", "initialMargin": "0", "maintMargin": "0", **extra}
        for s, extra in [("BTCUSD_PERP", {}), ("ETHUSD_251226", {}), ("LINKUSD_PERP", {"pair": "LINKUSD"}),
                         ("ODD_PERP", {"pair": "ODDUSD"}), ("BAD SYMBOL_PERP", {}), ("X_PERP", {"pair": "a/b"})]]})
    # The pair is the symbol's part before "_", or the row's `pair`; nothing else goes into a URL.
    assert [cm_pair(p) for p in account.positions] == ["BTCUSD", "ETHUSD", "LINKUSD", "ODDUSD", None, None]


def test_binances_coin_m_mark_price_example_parses():
    marks, skipped = parse_marks(load_body("market_stream/mark_price_update.cm.en.json"))
    assert skipped == 0
    assert marks == {"BTCUSD_201225": Mark(Decimal("10934.62615417"), 1596095725000)}


def test_an_inverse_position_moves_by_contracts_times_size_times_one_over_entry_minus_one_over_mark():
    account, risks = cm_parts()
    moved = reprice_cm(account, risks, published_marks(), since_ms=0)
    assert moved is not None and moved.oldest_ms == 1596095725000
    long, short = moved.account.open_positions
    long_risk, short_risk = moved.risks
    # By hand: 1000 x (1/8000 - 1/10934.62615417) = 0.125 - 0.09145260 = 0.03354740 BTC;
    #         -500 x (1/10000 - 1/11012.31359011) = -500 x 0.00000919256 = -0.00459628 BTC.
    assert long.unrealizedProfit.quantize(Q) == Decimal("0.03354740") == long_risk.unRealizedProfit.quantize(Q)
    assert short.unrealizedProfit.quantize(Q) == Decimal("-0.00459628") == short_risk.unRealizedProfit.quantize(Q)
    # Notional in the coin: 1000 / 10934.62615417 and -500 / 11012.31359011; marks are the stream's.
    assert long_risk.notionalValue.quantize(Q) == Decimal("0.09145260")
    assert short_risk.notionalValue.quantize(Q) == Decimal("-0.04540372")
    assert (long_risk.markPrice, short_risk.markPrice) == (Decimal("10934.62615417"), Decimal("11012.31359011"))
    # Maintenance margin: its USD figure is fixed, so in BTC it scales with 1/mark.
    assert long.maintMargin.quantize(Q) == Decimal("0.00045726")  # 0.0005 x 10000 / 10934.62615417
    assert short.maintMargin.quantize(Q) == Decimal("0.00022702")  # 0.0002 x 12500 / 11012.31359011
    btc = moved.account.assets[0]
    assert btc.crossUnPnl.quantize(Q) == Decimal("0.02895112") and btc.maintMargin.quantize(Q) == Decimal("0.00068428")
    assert btc.crossWalletBalance == Decimal("1")  # a price move is no wallet change
    # What REST sent is kept as sent.
    assert risks[0].markPrice == Decimal("10000") and account.assets[0].crossUnPnl == Decimal("0.015")


def test_coin_m_marks_older_than_the_positions_or_missing_change_nothing():
    account, risks = cm_parts()
    marks = published_marks()
    assert reprice_cm(account, risks, marks, since_ms=1596095725001) is None  # older than the request
    assert reprice_cm(account, risks, {"BTCUSD_PERP": marks["BTCUSD_PERP"]}, since_ms=0) is None
    assert cm_unpriceable(account, risks) is None
    assert cm_unpriceable(account, None) == ("Without COIN-M positionRisk there is no mark to move the COIN-M"
                                             " positions from. Prices come from polling.")
    no_value = parse_cm_position_risk([{**r.raw, "notionalValue": None} for r in risks])
    assert cm_unpriceable(account, no_value) == (
        "COIN-M positionRisk gives no mark price or notional for BTCUSD_201225, so the stream's marks cannot"
        " move it. Prices come from polling.")


# --- the COIN-M feed on a real WebSocket server ------------------------------------------------


def cm_feed(url: str, clock: ManualClock, **options) -> MarkFeed:
    return MarkFeed(url, setting="cm_market_stream_url", label="COIN-M mark price stream", pairs=True, clock=clock,
                    **options)


async def test_the_coin_m_stream_is_read_on_its_own_url_and_its_faults_name_it(ws_server):
    clock = FastClock()
    ws_server.script(("send", combined("btcusd", {"BTCUSD_PERP": "11012.31359011"})), ("send", "not json"),
                     ("hold",))
    feed = cm_feed(ws_server.url.removesuffix("/pm/ws"), clock)
    off = feed.subscribe(lambda: None, key="account")
    feed.want("account", {"BTCUSD"})
    try:
        await until(lambda: feed.status.bad_frames == 1)
        assert ws_server.paths == ["/stream?streams=btcusd@markPrice@1s"]
        assert feed.status.reason == "The COIN-M mark price stream sent a frame that is not valid JSON"
        assert feed.problem({"BTCUSD_PERP"}) is None
        assert feed.problem({"ETHUSD_PERP"}) == ("The COIN-M mark price stream has no price for ETHUSD_PERP."
                                                 " Prices come from polling.")
    finally:
        off()
        await until(lambda: not feed.status.up)
        await feed.aclose()
    assert feed.problem({"BTCUSD_PERP"}) == "The COIN-M mark price stream is stopped. Prices come from polling."


def test_the_coin_m_url_is_checked_like_every_other():
    with pytest.raises(ConfigError) as err:
        cm_feed("ws://example.com", ManualClock())
    assert "cm_market_stream_url" in err.value.message
    assert "market prices must only travel over TLS" in err.value.message
    # No pair held, no URL: it is the combined stream of the pairs the accounts hold.
    assert cm_feed("wss://dstream.binance.com", ManualClock()).url is None


async def test_no_connection_without_coin_m_positions_and_a_new_pair_resubscribes_once_settled(ws_server):
    """No pair held: no connection. The first pair: connected at once. A new one: the same
    connection until the set has held still RESUBSCRIBE_S, then one for both (no backoff, still
    up). The last account leaving: the connection closes and none is made."""
    clock = ManualClock()
    more, settled, gone = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ws_server.script(("send", combined("btcusd", {"BTCUSD_PERP": "86480.25"})), ("wait", more),
                     ("send", combined("btcusd", {"BTCUSD_PERP": "86481"})),
                     ("send", combined("btcusd", {"BTCUSD_PERP": "86481.5"})), ("wait", settled),
                     ("send", combined("btcusd", {"BTCUSD_PERP": "86482"})), ("hold",))
    ws_server.script(("send", combined("btcusd", {"BTCUSD_PERP": "86483"})),
                     ("send", combined("ethusd", {"ETHUSD_PERP": "2889.12"})), ("wait", gone),
                     ("send", combined("btcusd", {"BTCUSD_PERP": "86484"})), ("hold",))
    feed = cm_feed(ws_server.url.removesuffix("/pm/ws"), clock)
    watch = feed.subscribe(lambda: None)
    off_a, off_b = feed.subscribe(lambda: None, key="a"), feed.subscribe(lambda: None, key="b")
    try:
        await until(lambda: feed.status.reason == "the COIN-M mark price stream has no pair to follow")
        assert ws_server.paths == [] and feed.url is None
        feed.want("a", {"BTCUSD"})
        assert feed.problem({"BTCUSD_PERP"}) == (  # at once, to the account that holds it
            "Connecting to the COIN-M mark price stream. Prices come from polling.")
        await until(lambda: feed.mark("BTCUSD_PERP") is not None)
        assert ws_server.paths == ["/stream?streams=btcusd@markPrice@1s"] and feed.status.up
        feed.want("b", {"ETHUSD", "BTCUSD"})
        more.set()
        # Not settled yet: both frames read on the same connection (a premature resubscribe would
        # have left after the first and read the next connection's 86483).
        await until(lambda: feed.mark("BTCUSD_PERP").price in (Decimal("86481.5"), Decimal("86483")))
        assert feed.mark("BTCUSD_PERP").price == Decimal("86481.5") and len(ws_server.paths) == 1
        clock.advance(RESUBSCRIBE_S)
        settled.set()
        await until(lambda: feed.mark("ETHUSD_PERP") is not None)
        assert ws_server.paths[1] == "/stream?streams=btcusd@markPrice@1s/ethusd@markPrice@1s"
        assert feed.status.up and feed.status.connections == 2 and not feed.backoffs
        assert feed.problem({"BTCUSD_PERP", "ETHUSD_PERP"}) is None
        off_a()
        off_b()  # leaving drops an account's pairs
        assert feed.wanted == frozenset()
        clock.advance(RESUBSCRIBE_S)
        gone.set()
        await until(lambda: ws_server.closed_by_client == 2 and not feed.status.up)
        assert feed.url is None and len(ws_server.paths) == 2
    finally:
        watch()
        await feed.aclose()


async def test_new_pairs_are_no_sign_of_a_stream_that_will_not_hold(ws_server):
    """Three resubscribes inside FLAP_WINDOW_S are pmtui's own doing: still live, no backoff."""
    from pmtui.markstream import FLAP_CONNECTIONS

    clock = ManualClock()
    steps = [asyncio.Event() for _ in range(FLAP_CONNECTIONS)]

    def now() -> str:
        return combined("btcusd", {"BTCUSD_PERP": "86480.25"}, int(clock.time() * 1000))

    for step in steps:
        ws_server.script(("send", now), ("wait", step), ("send", now), ("hold",))
    ws_server.script(("send", now), ("hold",))
    feed = cm_feed(ws_server.url.removesuffix("/pm/ws"), clock)
    off = feed.subscribe(lambda: None)
    try:
        feed.want("a", {"BTCUSD"})
        await until(lambda: feed.status.up)
        for i, (step, pair) in enumerate(zip(steps, ("ETHUSD", "LINKUSD", "SOLUSD"), strict=True)):
            feed.want(pair, {pair})
            clock.advance(RESUBSCRIBE_S)
            step.set()
            await until(lambda i=i: feed.status.connections == i + 2 and feed.status.up)
        assert feed.status.connections == FLAP_CONNECTIONS + 1 and not feed.backoffs
        assert feed.problem({"BTCUSD_PERP"}) is None
    finally:
        off()
        await feed.aclose()


# --- the Monitor: live only while every open position has a live mark ----------------------------


def monitor_with_cm(clock: ManualClock, cm_feed_: MarkFeed | None, rename: str | None = None):
    """A Monitor on canned REST (the UM book of tests/support, one open BTCUSD_PERP short) and a
    connected USD-M feed fed by hand; `cm_feed_` its COIN-M feed."""
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings
    from pmtui.signing import HmacSigner
    from tests.cli.test_cli_risk import Canned
    from tests.support.papi_server import pm_account_body, position_risk_body, um_account_body

    cm, cm_risks = cm_open_account_body(NOW_MS), cm_open_position_risk_body(NOW_MS)
    if rename is not None:
        for row in [*cm["positions"], *cm_risks]:
            if row["symbol"] == "BTCUSD_PERP":
                row["symbol"] = rename
    transport = Canned(um=(200, um_account_body(NOW_MS)), risk=(200, position_risk_body(NOW_MS)),
                       pm=(200, pm_account_body(NOW_MS)), cm=(200, cm), cm_risk=(200, cm_risks))
    client = PapiClient(api_key="k", signer=HmacSigner("s"), transport=transport,
                        budget=WeightBudget(1.0, limit=10**9), clock=clock)
    m = Monitor(settings=Settings(risk_model=False), client=client)
    feed = MarkFeed("ws://127.0.0.1:9", clock=clock, server_ms=client.server_now_ms)
    feed._set(up=True, reason=None)  # a connected stream, fed by hand
    m.attach_marks(feed, cm_feed_)
    return m, feed


def live_um(m, feed: MarkFeed) -> None:
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("86732.00000000"), now), "ETHUSDT": Mark(Decimal("2889.12"), now)})


async def test_coin_m_positions_are_repriced_and_the_account_is_live_only_with_their_marks_too():
    clock = ManualClock()
    cm = cm_feed("ws://127.0.0.1:9", clock)
    m, feed = monitor_with_cm(clock, cm)
    cm.server_ms = m.client.server_now_ms
    cm._set(up=True, reason=None)
    assert await m.refresh()
    before = m.state
    assert before.cm is not None and before.cm.open_positions
    live_um(m, feed)
    m._on_marks()
    # The USD-M stream prices every UM position, yet the COIN-M one has no mark: not live.
    assert not m.state.marks_live and m.state.status.marks_note == (
        "The COIN-M mark price stream has no price for BTCUSD_PERP. Prices come from polling.")
    now = m.client.server_now_ms()
    cm.marks["BTCUSD_PERP"] = Mark(Decimal("69184.2"), now)  # BTC 20% down from REST's 86480.25
    clock.advance(0.5)
    m._on_marks()
    after = m.state
    assert after.marks_live and after.status.marks_note is None
    row = next(r for r in after.view.open_positions if r.position.symbol == "BTCUSD_PERP")
    assert row.mark_price == Decimal("69184.2")
    # Short 10 contracts x 100 USD: uPnL moves by -1000 x (1/86480.25 - 1/69184.2) BTC, a gain of
    # 1000 x (0.00001445416728 - 0.00001156333382) = 0.00289083 BTC; notional 1000 USD at the new mark.
    move = Decimal(-1000) * (1 / Decimal("86480.25") - 1 / Decimal("69184.2"))
    assert move.quantize(Q) == Decimal("0.00289083")
    assert row.position.unrealizedProfit == Decimal("0.00012345") + move
    assert row.notional_usd.quantize(Decimal("0.01")) == Decimal("-1000.00")
    assert after.cm is before.cm and after.cm_risks is before.cm_risks  # REST's parts are kept as sent
    assert after.estimate is not None and after.estimate_age == pytest.approx(0.5, abs=0.01)
    # The COIN-M stream drops: only its sentence, and REST's COIN-M figures again.
    cm._set(up=False, reason="the connection to the COIN-M mark price stream broke")
    m._on_marks()
    down = m.state
    assert not down.marks_live and down.status.marks_note == (
        "The connection to the COIN-M mark price stream broke. Prices come from polling.")
    row = next(r for r in down.view.open_positions if r.position.symbol == "BTCUSD_PERP")
    assert row.mark_price == Decimal("86480.25000000")


async def test_an_account_tells_the_coin_m_feed_its_pairs_and_a_symbol_it_does_not_hold_changes_nothing():
    clock = ManualClock()
    cm = cm_feed("ws://127.0.0.1:9", clock)
    m, feed = monitor_with_cm(clock, cm)
    cm.server_ms = m.client.server_now_ms
    cm._set(up=True, reason=None)
    assert cm.wanted == frozenset()
    assert await m.refresh()
    live_um(m, feed)
    m._on_marks()
    assert cm.wanted == {"btcusd"}  # its one COIN-M position, BTCUSD_PERP
    cm.marks["BTCUSD_PERP"] = Mark(Decimal("80000"), m.client.server_now_ms())
    m._on_marks()
    live = m.state
    assert live.marks_live
    # The pair's delivery contract (no position in it) arrives on the same stream: nothing moves.
    cm.marks["BTCUSD_251226"] = Mark(Decimal("81000"), m.client.server_now_ms())
    m._on_marks()
    assert m.state is live


async def test_an_unknown_coin_m_symbol_sends_only_its_account_back_to_polling():
    clock = ManualClock()
    cm = cm_feed("ws://127.0.0.1:9", clock)
    cm._set(up=True, reason=None)
    plain, feed = monitor_with_cm(clock, cm)
    odd, odd_feed = monitor_with_cm(clock, cm, rename="NEWUSD_PERP")
    cm.server_ms = plain.client.server_now_ms
    for m, f in ((plain, feed), (odd, odd_feed)):
        assert await m.refresh()
        live_um(m, f)
    cm.marks["BTCUSD_PERP"] = Mark(Decimal("80000"), plain.client.server_now_ms())
    for m in (plain, odd):
        m._on_marks()
    assert plain.state.marks_live
    assert not odd.state.marks_live and odd.state.status.marks_note == (
        "The COIN-M mark price stream has no price for NEWUSD_PERP. Prices come from polling.")


async def test_coin_m_garbage_sends_back_only_the_accounts_holding_coin_m(ws_server):
    """A COIN-M stream that sends nothing readable: after 5 frames in a row it is made again and
    says so; the account with a COIN-M position is on polling, one without stays live."""
    from pmtui.markstream import MAX_BAD_FRAMES
    from tests.core.test_markstream import monitor_with_marks

    clock = FastClock()
    ws_server.script(("send", combined("btcusd", {"BTCUSD_PERP": "86480.25"})),
                     *[("send", "{garbage")] * MAX_BAD_FRAMES, ("hold",))
    cm = cm_feed(ws_server.url.removesuffix("/pm/ws"), clock)
    holder, feed = monitor_with_cm(clock, cm)
    plain, _ = monitor_with_marks(clock, feed)  # UM positions only
    plain.attach_marks(feed, cm)
    cm.server_ms = feed.server_ms = holder.client.server_now_ms
    for m in (holder, plain):
        assert await m.refresh()
    off = cm.subscribe(lambda: None, key="holder")
    cm.want("holder", {"BTCUSD"})
    try:
        await until(lambda: cm.status.connections >= 2 and not cm.status.up)
        live_um(holder, feed)
        for m in (holder, plain):
            m._on_marks()
        assert plain.state.marks_live
        assert not holder.state.marks_live and holder.state.status.marks_note == (
            "The COIN-M mark price stream sent 5 frames in a row pmtui could not read. Prices come from polling.")
    finally:
        off()
        await cm.aclose()


async def test_coin_m_positions_without_a_coin_m_stream_are_not_live():
    clock = ManualClock()
    m, feed = monitor_with_cm(clock, None)
    assert await m.refresh()
    live_um(m, feed)
    m._on_marks()
    assert not m.state.marks_live and "No COIN-M mark price stream" in (m.state.status.marks_note or "")


# --- the fleet, the setting, the demo ------------------------------------------------------------


async def test_the_fleet_shares_one_coin_m_stream_from_cm_market_stream_url():
    from pmtui.config import load_settings
    from pmtui.fleet import Account, Fleet, FleetOptions
    from pmtui.settings import Settings

    def fleet(**settings) -> Fleet:
        accounts = [Account(n, Settings(api_key="k", api_secret="s", **settings)) for n in ("a", "b")]
        return Fleet.build(FleetOptions(all_profiles=True), accounts, stream=True)

    paired = fleet(base_url="http://127.0.0.1:9", market_stream_url="ws://127.0.0.1:9",
                   cm_market_stream_url="ws://127.0.0.1:8")
    assert paired.cm_marks is not None and paired.cm_marks.base_url == "ws://127.0.0.1:8" and paired.cm_marks.pairs
    assert all(a.monitor.marks.cm_feed is paired.cm_marks for a in paired.watched)
    # A base_url of its own without a cm_market_stream_url of its own: never Binance's COIN-M prices.
    own = fleet(base_url="http://127.0.0.1:9", market_stream_url="ws://127.0.0.1:9")
    assert own.cm_marks is None and all(a.monitor.marks.cm_feed is None for a in own.watched)
    binance = fleet()
    assert binance.cm_marks is not None and binance.cm_marks.base_url == "wss://dstream.binance.com"
    for f in (paired, own, binance):
        await f.aclose()
    assert load_settings(env={"PMTUI_CM_MARKET_STREAM_URL": "ws://127.0.0.1:7"}).cm_market_stream_url == (
        "ws://127.0.0.1:7")
    with pytest.raises(ConfigError) as err:
        load_settings(env={"PMTUI_CM_MARKET_STREAM_URL": "ws://10.0.0.1"})
    assert "cm_market_stream_url" in err.value.message


async def test_the_demo_serves_coin_m_marks_as_binance_documents_them():
    """Its COIN-M host serves combined `<pair>@markPrice@1s` streams (the envelope, the array),
    at the mark its positionRisk reports; not the USD-M all-market path, nor a malformed name."""
    from websockets.exceptions import InvalidStatus

    from pmtui.demo import DemoExchange

    demo = DemoExchange(seed=7)
    text = demo.pair_frame("btcusd")
    assert text is not None and json.loads(text)["stream"] == "btcusd@markPrice@1s"
    cm, skipped = parse_marks(text)
    um, _ = parse_marks(demo.mark_frame())
    assert skipped == 0 and set(cm) == {"BTCUSD_PERP"} and "BTCUSD_PERP" not in um
    assert demo.pair_frame("ethusd") is None  # no symbol of that pair in the demo's market
    body = await _cm_position_risk(demo)
    held = {r["symbol"]: Decimal(r["markPrice"]) for r in body if Decimal(r["positionAmt"]) != 0}
    assert held == {s: m.price for s, m in cm.items()}
    async with demo.connect(pairs_url("wss://dstream.binance.com", {"ETHUSD", "BTCUSD"}), coin_m=True) as ws:
        assert set(parse_marks(await ws.recv())[0]) == {"BTCUSD_PERP"}
    for url in ("wss://dstream.binance.com/ws/!markPrice@arr@1s",
                "wss://dstream.binance.com/stream?streams=BTCUSD@markPrice@1s",
                "wss://dstream.binance.com/stream?streams=btcusd@markPrice@1s/btcusd@aggTrade"):
        with pytest.raises(InvalidStatus):
            await demo.connect(url, coin_m=True)


async def _cm_position_risk(demo) -> list:
    from pmtui.client import PapiClient
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET
    from pmtui.signing import HmacSigner

    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=demo)
    try:
        return [r.raw for r in await client.cm_position_risk()]
    finally:
        await client.aclose()


async def test_the_demo_prices_its_coin_m_position_live_from_its_own_coin_m_stream():
    from pmtui.fleet import Fleet, FleetOptions

    fleet = Fleet.build(FleetOptions(demo=True), stream=True)
    monitor = fleet.watched[0].monitor
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: monitor.state.view is not None and monitor.state.cm is not None
                    and monitor.state.marks_live)
        assert monitor.state.cm.open_positions
        assert monitor.marks is not None and monitor.marks.cm_feed is not None
        assert monitor.marks.cm_feed.mark("BTCUSD_PERP") is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fleet.aclose()


async def test_an_attached_viewer_draws_the_repriced_view_the_daemon_draws():
    """The daemon's view at the stream's marks crosses the wire as it is (not REST's figures
    beneath it), beside `marks ✓`; what REST sent stays exactly as sent."""
    import json

    from pmtui import wire

    clock = ManualClock()
    cm = cm_feed("ws://127.0.0.1:9", clock)
    m, feed = monitor_with_cm(clock, cm)
    cm.server_ms = m.client.server_now_ms
    cm._set(up=True, reason=None)
    assert await m.refresh()
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("69385.6"), now), "ETHUSDT": Mark(Decimal("2889.12"), now)})
    cm.marks["BTCUSD_PERP"] = Mark(Decimal("69184.2"), now)
    m._on_marks()
    state = m.state
    assert state.marks_live and state.view.account is not state.account and state.view.cm is not state.cm
    back = wire.Decoder().state(json.loads(json.dumps(wire.Encoder().state(state))))
    assert back.marks_live and back.status.marks_note is None

    def figures(view):  # the rows' figures (a row's equality also compares the raw dict it came in)
        return [(r.position.model_dump(), r.risk.model_dump() if r.risk is not None else None, r.level,
                 r.liq_distance, r.share) for r in view.open_positions]

    assert figures(back.view) == figures(state.view)
    assert (back.view.upnl, back.view.maint_margin, back.view.totals) == (
        state.view.upnl, state.view.maint_margin, state.view.totals)
    rows = {r.position.symbol: r.mark_price for r in back.view.open_positions}
    assert rows["BTCUSD_PERP"] == Decimal("69184.2") and rows["BTCUSDT"] == Decimal("69385.6")
    assert back.cm.raw == state.cm.raw and [p.raw for p in back.account.positions] == [
        p.raw for p in state.account.positions]
