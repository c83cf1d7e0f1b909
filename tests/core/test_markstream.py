"""The public mark price stream (pmtui.markstream): Binance's published payloads, repricing an
account on the marks, and every fault against a real WebSocket server on 127.0.0.1 — each one
sentence, and the accounts it concerns back on polling. Clocks are injected; waits are bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from pmtui.clock import ManualClock
from pmtui.errors import BadFrame, ConfigError
from pmtui.markstream import (
    FLAP_CONNECTIONS,
    MARK_PRICE_PATH,
    MAX_BAD_FRAMES,
    AccountMarks,
    Mark,
    MarkFeed,
    maint_margin,
    parse_marks,
    reprice,
)
from pmtui.models import PositionRisk, UmAccount
from pmtui.riskinputs import SymbolBrackets
from tests.core.test_real_payloads import load_body
from tests.support.papi_server import position_risk_body, um_account_body
from tests.support.ws_server import WsServer

WAIT = 5.0
NOW_MS = 1_736_942_400_000  # ManualClock's wall time at start, in ms


async def until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class FastClock(ManualClock):
    """A ManualClock whose sleeps (the reconnect backoff) pass at once, moving time on."""

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


def frame(marks: dict[str, str], when: int = NOW_MS) -> str:
    return json.dumps([{"e": "markPriceUpdate", "E": when, "s": s, "p": p, "i": p, "P": p, "r": "0.0001",
                        "T": when + 3_600_000} for s, p in marks.items()])


# --- Binance's payloads ------------------------------------------------------------------------


def test_binances_published_mark_price_examples_parse():
    one, skipped = parse_marks(load_body("market_stream/mark_price_update.en.json"))
    assert one == {"BTCUSDT": Mark(Decimal("11794.15000000"), 1562305380000)} and skipped == 0
    pair, _ = parse_marks(load_body("market_stream/mark_price_pair.cm.zh-CN.json"))
    assert pair["BTCUSD_201225"].price == Decimal("10934.62615417")  # a delivery contract: "r": "", "T": 0
    assert pair["BTCUSD_PERP"] == Mark(Decimal("11012.31359011"), 1596095725000)


def test_the_all_market_example_as_printed_is_refused_and_with_its_comma_parses():
    """The docs' !markPrice@arr example lacks a comma after "i": not JSON, one sentence."""
    body = load_body("market_stream/mark_price_all_market.en.odd.json")
    with pytest.raises(BadFrame, match="not valid JSON"):
        parse_marks(body)
    fixed = body.replace('"11784.62659091"', '"11784.62659091",', 1)
    assert parse_marks(fixed)[0] == {"BTCUSDT": Mark(Decimal("11185.87786614"), 1562305380000)}


@pytest.mark.parametrize("garbage, words", [
    (b"\xff\xfe", "not UTF-8"), ("{not json", "not valid JSON"), ('"a string"', "not a list"),
    ("[NaN]", "not valid JSON"), ('[{"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": "abc"}]', "without one"),
])
def test_garbage_is_one_sentence(garbage, words):
    with pytest.raises(BadFrame, match=words):
        parse_marks(garbage)


def test_bad_elements_are_left_out_and_counted():
    good = {"e": "markPriceUpdate", "E": NOW_MS, "s": "BTCUSDT", "p": "90000.1"}
    bad = [{"e": "markPriceUpdate", "E": NOW_MS, "s": "ETH USDT", "p": "1"},  # not a symbol
           {"e": "markPriceUpdate", "E": NOW_MS, "s": "XUSDT", "p": "0"},  # no mark
           {"e": "markPriceUpdate", "E": True, "s": "YUSDT", "p": "1"},
           {"e": "kline", "E": NOW_MS, "s": "ZUSDT", "p": "1"}, 7]
    marks, skipped = parse_marks(json.dumps([good, *bad]))
    assert marks == {"BTCUSDT": Mark(Decimal("90000.1"), NOW_MS)} and skipped == len(bad)


def test_the_url_is_checked_like_every_other():
    assert MarkFeed("wss://fstream.binance.com/").url == "wss://fstream.binance.com/ws/!markPrice@arr@1s"
    assert MarkFeed("ws://127.0.0.1:9").url.endswith(MARK_PRICE_PATH)
    with pytest.raises(ConfigError) as refused:
        MarkFeed("ws://fstream.binance.com")
    assert refused.value.message.format(where="") == (
        "Refusing plain ws:// to fstream.binance.com (market_stream_url): market prices must only travel"
        " over TLS (ws is allowed for loopback test servers).")


# --- repricing -----------------------------------------------------------------------------------


def parts() -> tuple[UmAccount, tuple[PositionRisk, ...]]:
    return (UmAccount.model_validate(um_account_body(NOW_MS)),
            tuple(PositionRisk.model_validate(r) for r in position_risk_body(NOW_MS)))


def test_a_move_of_the_mark_moves_upnl_notional_margin_and_the_asset():
    account, risks = parts()
    marks = {"BTCUSDT": Mark(Decimal("69385.6"), NOW_MS), "ETHUSDT": Mark(Decimal("2889.12000000"), NOW_MS)}
    got = reprice(account, risks, marks, since_ms=NOW_MS - 1000, now_ms=NOW_MS + 500)
    assert got is not None and got.age == 0.5
    btc = next(p for p in got.account.positions if p.symbol == "BTCUSDT")
    move = Decimal("0.200") * (Decimal("69385.6") - Decimal("86732.00000000"))  # -3469.28
    assert btc.unrealizedProfit == Decimal("-98.10000000") + move
    assert btc.notional == Decimal("0.200") * Decimal("69385.6")
    # No brackets: Binance's maintenance margin scaled with the notional (-20%).
    assert btc.maintMargin == Decimal("34.69280000") * Decimal("13877.12") / Decimal("17346.40000000")
    usdt = got.account.assets[0]
    assert usdt.crossUnPnl == Decimal("-132.55000000") + move
    assert usdt.maintMargin == Decimal("61.42300000") + btc.maintMargin - Decimal("34.69280000")
    row = next(r for r in got.risks if r.symbol == "BTCUSDT")
    assert row.markPrice == Decimal("69385.6") and row.liquidationPrice == Decimal("38112.44102511")
    eth = next(p for p in got.account.positions if p.symbol == "ETHUSDT")
    assert eth == next(p for p in account.positions if p.symbol == "ETHUSDT")  # its mark did not move
    assert account.assets[0].crossUnPnl == Decimal("-132.55000000")  # the fetched parts stay as they were


def test_brackets_give_the_maintenance_margin_by_binances_rule():
    row = SymbolBrackets.model_validate({"symbol": "BTCUSDT", "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
         "maintMarginRatio": 0.004, "cum": 0},
        {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000,
         "maintMarginRatio": 0.005, "cum": 50}]})
    account, risks = parts()
    feed = AccountMarks(MarkFeed("ws://127.0.0.1:9"))
    table = feed.brackets((row,))
    assert maint_margin(Decimal("-60000"), Decimal("1"), Decimal("1"), table["BTCUSDT"]) == Decimal("250.000")
    marks = {"BTCUSDT": Mark(Decimal("69385.6"), NOW_MS), "ETHUSDT": Mark(Decimal("2889.12"), NOW_MS)}
    got = reprice(account, risks, marks, since_ms=0, brackets=table)
    assert got is not None
    assert next(p for p in got.account.positions if p.symbol == "BTCUSDT").maintMargin == \
        Decimal("0.004") * Decimal("13877.12")


def test_marks_older_than_the_positions_or_missing_change_nothing():
    account, risks = parts()
    old = {"BTCUSDT": Mark(Decimal("1"), NOW_MS - 5000), "ETHUSDT": Mark(Decimal("1"), NOW_MS - 5000)}
    assert reprice(account, risks, old, since_ms=NOW_MS) is None
    assert reprice(account, risks, {"BTCUSDT": Mark(Decimal("1"), NOW_MS)}, since_ms=0) is None  # no ETH mark
    assert reprice(account, None, old, since_ms=0) is None  # no positionRisk: no mark to move from


# --- the stream against a real server ------------------------------------------------------------


def feed_for(ws: WsServer, clock: ManualClock, **options) -> MarkFeed:
    return MarkFeed(ws.url.removesuffix("/pm/ws"), clock=clock, **options)


async def test_marks_arrive_on_the_public_path_and_price_an_account(ws_server):
    clock = FastClock()
    ws_server.script(("send", frame({"BTCUSDT": "90000", "ETHUSDT": "3000"})), ("hold",))
    feed = feed_for(ws_server, clock)
    calls = []
    off = feed.subscribe(lambda: calls.append(1))
    try:
        await until(lambda: feed.mark("BTCUSDT") is not None)
        assert ws_server.paths == [MARK_PRICE_PATH]
        assert feed.problem({"BTCUSDT", "ETHUSDT"}) is None and calls
        assert feed.problem({"DOGEUSDT"}) == ("The mark price stream has no price for DOGEUSDT."
                                              " Prices come from polling.")
        clock.advance(5)  # no frame for 5 s of the injected clock: it lags
        assert feed.problem({"BTCUSDT"}) == ("The mark price stream is 5 s behind (last price of BTCUSDT)."
                                             " Prices come from polling.")
    finally:
        off()
        await feed.aclose()


async def test_garbage_frames_are_said_then_the_stream_is_made_again(ws_server):
    clock = FastClock()
    ws_server.script(*[("send", "garbage")] * MAX_BAD_FRAMES, ("hold",))
    ws_server.script(("send", frame({"BTCUSDT": "90000"})), ("hold",))
    feed = feed_for(ws_server, clock)
    off = feed.subscribe(lambda: None)
    try:
        await until(lambda: feed.mark("BTCUSDT") is not None)
        assert ws_server.accepted == 2 and feed.status.bad_frames == MAX_BAD_FRAMES
        assert feed.problem({"BTCUSDT"}) is None
    finally:
        off()
        await feed.aclose()


async def test_a_stream_that_stops_is_one_sentence_and_comes_back(ws_server):
    clock = FastClock()
    resume = asyncio.Event()
    ws_server.script(("send", frame({"BTCUSDT": "90000"})), ("close", 1001))
    ws_server.script(("wait", resume), ("send", frame({"BTCUSDT": "91000"})), ("hold",))
    feed = feed_for(ws_server, clock)
    off = feed.subscribe(lambda: None)
    try:
        await until(lambda: ws_server.accepted == 2)
        await until(lambda: feed.status.connections == 2)
        assert feed.problem({"BTCUSDT"}) is not None  # a frame is pending: not live yet, or down
        resume.set()
        await until(lambda: feed.mark("BTCUSDT") is not None and feed.mark("BTCUSDT").price == 91000)
        assert feed.problem({"BTCUSDT"}) is None
    finally:
        off()
        await feed.aclose()


async def test_a_stream_that_is_down_says_why(ws_server):
    clock = FastClock()
    for _ in range(3):
        ws_server.script(("refuse", 403))
    ws_server.script(("hold",))
    feed = feed_for(ws_server, clock)
    seen: list[str | None] = []
    off = feed.subscribe(lambda: seen.append(feed.problem({"BTCUSDT"})))
    try:
        await until(lambda: "The exchange refused the mark price stream (HTTP 403). Prices come from polling."
                    in seen)
    finally:
        off()
        await feed.aclose()


async def test_a_stream_that_reconnects_every_second_is_not_live(ws_server):
    clock = FastClock()
    for _ in range(FLAP_CONNECTIONS + 1):
        ws_server.script(("send", lambda: frame({"BTCUSDT": "90000"}, int(clock.time() * 1000))), ("close", 1011))
    ws_server.script(("send", lambda: frame({"BTCUSDT": "90000"}, int(clock.time() * 1000))), ("hold",))
    feed = feed_for(ws_server, clock)
    off = feed.subscribe(lambda: None)
    try:
        await until(lambda: feed.status.connections >= FLAP_CONNECTIONS + 2 and feed.status.up)
        problem = feed.problem({"BTCUSDT"})
        assert problem is not None and "reconnected 3 times in 30 s" in problem
        clock.advance(31)  # it held: live again once the mark is current
        assert feed.problem(()) is None
    finally:
        off()
        await feed.aclose()


async def test_a_mark_dated_far_ahead_is_not_taken(ws_server):
    clock = FastClock()
    ws_server.script(("send", frame({"BTCUSDT": "1"}, NOW_MS + 3_600_000)), ("send", frame({"ETHUSDT": "2"})),
                     ("hold",))
    feed = feed_for(ws_server, clock)
    off = feed.subscribe(lambda: None)
    try:
        await until(lambda: feed.mark("ETHUSDT") is not None)
        assert feed.mark("BTCUSDT") is None
    finally:
        off()
        await feed.aclose()


# --- the Monitor on the marks ------------------------------------------------------------------


def monitor_with_marks(clock: ManualClock, feed: MarkFeed | None = None, rename: dict[str, str] | None = None):
    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings
    from pmtui.signing import HmacSigner
    from tests.cli.test_cli_risk import Canned
    from tests.support.papi_server import pm_account_body

    um, risks = um_account_body(NOW_MS), position_risk_body(NOW_MS)
    for row in [*um["positions"], *risks]:
        row["symbol"] = (rename or {}).get(row["symbol"], row["symbol"])
    transport = Canned(um=(200, um), risk=(200, risks), pm=(200, pm_account_body(NOW_MS)))
    client = PapiClient(api_key="k", signer=HmacSigner("s"), transport=transport,
                        budget=WeightBudget(1.0, limit=10**9), clock=clock)
    monitor = Monitor(settings=Settings(risk_model=False), client=client)
    if feed is None:
        feed = MarkFeed("ws://127.0.0.1:9", clock=clock, server_ms=client.server_now_ms)
        feed._set(up=True, reason=None)  # a connected stream, fed by hand below
    monitor.attach_marks(feed)
    return monitor, feed


async def test_a_move_of_one_mark_reprices_the_account_as_an_estimate_with_its_age():
    from pmtui.state import MARKS

    clock = ManualClock()
    m, feed = monitor_with_marks(clock)
    assert await m.refresh()
    before = m.state
    assert not before.marks_live and before.status.marks_note == (
        "The mark price stream has no price for BTCUSDT. Prices come from polling.")
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("69385.6"), now), "ETHUSDT": Mark(Decimal("2889.12"), now)})
    clock.advance(0.4)
    m._on_marks()
    after = m.state
    assert MARKS in after.changed and after.marks_live and after.status.marks_note is None
    row = after.view.row("UM:BTCUSDT:BOTH") or next(r for r in after.view.open_positions
                                                     if r.position.symbol == "BTCUSDT")
    assert row.mark_price == Decimal("69385.6")
    assert row.liq_distance == (Decimal("69385.6") - Decimal("38112.44102511")) / Decimal("69385.6")
    assert after.view.upnl == before.view.upnl + Decimal("0.200") * (Decimal("69385.6") - Decimal("86732"))
    # uniMMR: Binance's figure stays in the header; the digits show the estimate, 0.4 s old.
    assert after.view.pm.uniMMR == Decimal("166.10853477")
    assert after.estimate is not None and after.estimate.uniMMR < Decimal("166.10853477")
    assert after.estimate_age == pytest.approx(0.4, abs=0.01)
    assert after.account is before.account  # what REST sent is kept as sent (the JSON output prints it)
    # The stream goes down: the account says so and falls back to REST's figures.
    feed._set(up=False, reason="the connection to the mark price stream broke")
    m._on_marks()
    down = m.state
    assert not down.marks_live and down.status.marks_note == (
        "The connection to the mark price stream broke. Prices come from polling.")
    assert down.view.upnl == before.view.upnl and down.estimate is None


async def test_a_quiet_stream_is_found_by_the_tick():
    clock = ManualClock()
    m, feed = monitor_with_marks(clock)
    assert await m.refresh()
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("90000"), now), "ETHUSDT": Mark(Decimal("3000"), now)})
    m._on_marks()
    assert m.state.marks_live
    clock.advance(4)  # no frame: the next tick says so
    state = m.tick()
    assert not state.marks_live and "is 4 s behind" in (state.status.marks_note or "")


async def test_twenty_accounts_on_one_ip_see_a_20_percent_move_from_one_stream(papi_server, ws_server):
    """The end-to-end proof: twenty profiles on the local test exchange, one mark price stream.
    BTCUSDT falls 20%: every account shows it (mark, uPnL, an estimated uniMMR) without a REST
    request and without the injected clock moving (so well within 2 s), and REST stays within
    the shared budget."""
    import time

    from pmtui.fleet import Account, Fleet, FleetOptions
    from pmtui.settings import Settings
    from tests.support.papi_server import API_KEY, API_SECRET, UM_ACCOUNT

    clock = ManualClock(wall=time.time())  # the exchange's clock and ours agree; ours does not move
    base = ws_server.url.removesuffix("/pm/ws")
    accounts = [Account(f"acct{i:02}", Settings(api_key=API_KEY, api_secret=API_SECRET, base_url=papi_server.base_url,
                                                market_stream_url=base, risk_model=False, interval=600.0,
                                                account_interval=600.0))
                for i in range(20)]
    move, stop = asyncio.Event(), asyncio.Event()
    ws_server.script(("send", lambda: frame({"BTCUSDT": "86732.00000000", "ETHUSDT": "2889.12000000"},
                                            papi_server.now_ms())),
                     ("wait", move),
                     ("send", lambda: frame({"BTCUSDT": "69385.60000000", "ETHUSDT": "2889.12000000"},
                                            papi_server.now_ms())),
                     ("wait", stop), ("close", 1001))
    for _ in range(5):
        ws_server.script(("refuse", 503))
    # one_shot: the first refresh of twenty accounts goes out in one burst of the shared budget.
    fleet = Fleet.build(FleetOptions(all_profiles=True, one_shot=True), accounts, stream=True, clock=clock)
    monitors = [a.monitor for a in fleet.watched]
    assert len(monitors) == 20 and fleet.marks is not None
    assert all(m.marks is not None and m.marks.feed is fleet.marks for m in monitors)
    tasks = [asyncio.create_task(m.run()) for m in monitors]
    try:
        await until(lambda: all(m.state.view is not None and m.state.marks_live for m in monitors), 30)
        assert ws_server.accepted == 1  # one connection for all twenty
        rest = papi_server.count(UM_ACCOUNT)
        start = clock.monotonic()
        move.set()

        def moved(m) -> bool:
            row = next(r for r in m.state.view.open_positions if r.position.symbol == "BTCUSDT")
            return row.mark_price == Decimal("69385.60000000")

        await until(lambda: all(moved(m) for m in monitors), 10)
        assert clock.monotonic() - start < 2.0
        assert papi_server.count(UM_ACCOUNT) == rest  # the marks moved them, not a REST refresh
        for m in monitors:
            s = m.state
            assert s.estimate is not None and s.estimate.uniMMR < s.view.pm.uniMMR
            assert s.risks is not None and s.risks[0].markPrice == Decimal("86732.00000000")  # REST's, as sent
        assert fleet.budget is not None and fleet.budget.sent <= fleet.budget.capacity
        # The stream stops: every account says so and shows REST's figures again.
        stop.set()
        await until(lambda: not any(m.state.marks_live or moved(m) for m in monitors), 10)
        assert all("mark price stream" in (m.state.status.marks_note or "") for m in monitors)
        assert all(m.state.estimate is None for m in monitors)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fleet.aclose()


async def test_a_symbol_the_stream_never_priced_sends_only_its_account_back_to_polling():
    clock = ManualClock()
    plain, feed = monitor_with_marks(clock)
    odd, _ = monitor_with_marks(clock, feed, rename={"ETHUSDT": "NEWCOINUSDT"})
    for m in (plain, odd):
        assert await m.refresh()
    now = plain.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("80000"), now), "ETHUSDT": Mark(Decimal("3000"), now)})
    for m in (plain, odd):
        m._on_marks()
    assert plain.state.marks_live
    assert not odd.state.marks_live and odd.state.status.marks_note == (
        "The mark price stream has no price for NEWCOINUSDT. Prices come from polling.")
    btc = next(r for r in odd.state.view.open_positions if r.position.symbol == "BTCUSDT")
    assert btc.mark_price == Decimal("86732.00000000")  # all of it stays on REST's figures


def test_the_demo_serves_the_mark_stream_at_the_prices_its_positions_carry():
    from pmtui.demo import DemoExchange

    demo = DemoExchange(seed=7)
    marks, skipped = parse_marks(demo.mark_frame())
    assert skipped == 0 and marks
    body = asyncio.run(_position_risk(demo))
    held = {r["symbol"]: Decimal(r["markPrice"]) for r in body if Decimal(r["positionAmt"]) != 0}
    assert held and all(marks[s].price == price for s, price in held.items() if s in marks)
    assert set(held) <= set(marks)


async def _position_risk(demo) -> list:
    from pmtui.client import PapiClient
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET
    from pmtui.signing import HmacSigner

    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=demo)
    try:
        return [r.raw for r in await client.position_risk()]
    finally:
        await client.aclose()


async def test_the_demo_fleet_streams_marks_from_its_own_exchange():
    from pmtui.fleet import Fleet, FleetOptions

    fleet = Fleet.build(FleetOptions(demo=True), stream=True)
    monitor = fleet.watched[0].monitor
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: monitor.state.view is not None and monitor.state.marks_live)
        assert monitor.marks is not None and monitor.marks.feed.status.connections == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fleet.aclose()


async def test_watch_does_not_print_a_line_a_second_for_the_marks():
    """`watch` says each REST refresh and each alert; the states the marks publish every second
    would be 50 lines a second for 50 accounts."""
    import dataclasses

    from pmtui.commands import WatchLines
    from pmtui.fleet import Fleet
    from pmtui.state import DATA, MARKS

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, line: str) -> None:
            self.lines.append(line)

    clock = ManualClock()
    m, feed = monitor_with_marks(clock)
    assert await m.refresh()
    out = Lines()
    say = WatchLines(Fleet([]), out, Lines()).say  # type: ignore[arg-type]
    say("a", m.state)
    assert len(out.lines) == 1
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("80000"), now), "ETHUSDT": Mark(Decimal("3000"), now)})
    m._on_marks()
    assert m.state.changed >= {DATA, MARKS}
    say("a", m.state)
    assert len(out.lines) == 1
    say("a", dataclasses.replace(m.state, changed=frozenset({DATA})))  # a refresh: said
    assert len(out.lines) == 2


async def test_a_frame_that_repeats_the_prices_rebuilds_nothing_but_keeps_the_age_current():
    clock = ManualClock()
    m, feed = monitor_with_marks(clock)
    assert await m.refresh()
    now = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("80000"), now), "ETHUSDT": Mark(Decimal("3000"), now)})
    m._on_marks()
    seq = m.state.seq
    clock.advance(2)
    later = m.client.server_now_ms()
    feed.marks.update({"BTCUSDT": Mark(Decimal("80000"), later), "ETHUSDT": Mark(Decimal("3000"), later)})
    m._on_marks()
    assert m.state.seq == seq  # nothing moved: no new view, no state
    assert m.tick().estimate_age == 0.0  # the tick's state: the prices are as current as the last frame


async def test_marks_at_the_prices_rest_already_shows_rebuild_nothing():
    """The demo's stream carries the very prices its positionRisk does: each frame between two
    refreshes (and each tick after a refresh) rebuilt the view and the risk model and published a
    state, a repaint of the whole dashboard for figures that did not move (idle CPU 2.5 -> 10%)."""
    from pmtui.state import DATA, MARKS

    clock = ManualClock()
    m, feed = monitor_with_marks(clock)
    assert await m.refresh()
    rest = {"BTCUSDT": Decimal("86732"), "ETHUSDT": Decimal("2889.12")}  # positionRisk's marks
    feed.marks.update({s: Mark(p, m.client.server_now_ms()) for s, p in rest.items()})
    m._on_marks()
    assert m.state.marks_live  # the verdict changed: that is news
    clock.advance(1)
    assert await m.refresh()
    published: list = []
    m.subscribe(published.append)
    view = m.view
    m.tick()  # the marks are now older than the positions: REST's figures stood already
    clock.advance(0.5)
    feed.marks.update({s: Mark(p, m.client.server_now_ms()) for s, p in rest.items()})
    m._on_marks()  # newer than the positions, at the prices they carry
    assert m.view is view
    assert [s.changed for s in published if s.changed & {DATA, MARKS}] == []
    assert m.tick().marks_live
    # A mark that moves a position is news again.
    feed.marks["BTCUSDT"] = Mark(Decimal("86000"), m.client.server_now_ms())
    m._on_marks()
    assert m.view is not view and MARKS in m.state.changed


async def test_frames_that_keep_coming_but_lag_are_not_live(ws_server):
    clock = FastClock()
    ws_server.script(("send", frame({"BTCUSDT": "90000"}, NOW_MS - 12_000)), ("hold",))
    feed = feed_for(ws_server, clock)
    off = feed.subscribe(lambda: None)
    try:
        await until(lambda: feed.mark("BTCUSDT") is not None)
        assert feed.status.up and feed.problem({"BTCUSDT"}) == (
            "The mark price stream is 12 s behind (last price of BTCUSDT). Prices come from polling.")
    finally:
        off()
        await feed.aclose()


def test_an_account_the_marks_cannot_move_says_so():
    from pmtui.markstream import unpriceable

    account, risks = parts()
    assert unpriceable(account, risks) is None
    assert unpriceable(account, None) == (
        "Without positionRisk there is no mark to move the positions from. Prices come from polling.")
    no_eth = tuple(r for r in risks if r.symbol != "ETHUSDT")
    assert unpriceable(account, no_eth) == ("positionRisk gives no mark price for ETHUSDT, so the stream's"
                                            " marks cannot move it. Prices come from polling.")
    bare = account.model_copy(update={"assets": ()})
    assert "lists no asset BTCUSDT is margined in" in (unpriceable(bare, risks) or "")
    feed = MarkFeed("ws://127.0.0.1:9")
    feed._set(up=True, reason=None)
    feed.marks.update({"BTCUSDT": Mark(Decimal("1"), NOW_MS), "ETHUSDT": Mark(Decimal("1"), NOW_MS)})
    feed.server_ms = lambda: NOW_MS
    mine = AccountMarks(feed)
    assert mine.apply(account, no_eth, None) is None and not mine.live  # never "live" while showing REST's


async def test_a_base_url_of_its_own_streams_marks_only_from_a_market_stream_url_of_its_own():
    """Binance's prices beside another server's positions would be nonsense (and a test server's
    fleet must never reach the real exchange); `stream = false` streams nothing."""
    from pmtui.fleet import Account, Fleet, FleetOptions
    from pmtui.settings import Settings

    def fleet(**settings) -> Fleet:
        return Fleet.build(FleetOptions(), [Account("a", Settings(api_key="k", api_secret="s", **settings))],
                           stream=True)

    own = fleet(base_url="http://127.0.0.1:9")
    assert own.marks is None and all(a.monitor.marks is None for a in own.watched)
    paired = fleet(base_url="http://127.0.0.1:9", market_stream_url="ws://127.0.0.1:9")
    assert paired.marks is not None and all(a.monitor.marks.feed is paired.marks for a in paired.watched)
    assert paired.marks.url == "ws://127.0.0.1:9/ws/!markPrice@arr@1s"
    off = fleet(base_url="http://127.0.0.1:9", market_stream_url="ws://127.0.0.1:9", stream=False)
    assert off.marks is None and all(a.monitor.marks is None for a in off.watched)
    binance = fleet()
    assert binance.marks is not None and binance.marks.url == "wss://fstream.binance.com/ws/!markPrice@arr@1s"
    for f in (own, paired, off, binance):
        await f.aclose()
