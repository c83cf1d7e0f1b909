"""The dashboard as a person uses it: Pilot drives real key presses and clicks at 80x24, and every
test checks both the app's state and what is on the screen.

Refreshes are driven with `r` (or `main.action_refresh_now`) and a long interval, so nothing depends on
timer luck; the few tests about timing itself (pause, auto-recovery, auth stop) use the 1 s minimum.
"""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from typing import Any

import httpx
from textual import events
from textual.app import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from pmtui import fmt
from pmtui.client import AUTH_HELP
from pmtui.demo import DemoExchange
from pmtui.endpoints import LEDGER_ENDPOINTS
from pmtui.tui.app import PmtuiApp
from pmtui.tui.widgets.assets import AssetsTable
from pmtui.tui.widgets.detail import DetailScreen, label
from pmtui.tui.widgets.help import HelpScreen
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.summary import SummaryBar
from pmtui.tui.widgets.table import KeyedTable
from tests.support.harness import FrozenClock, refresh, rendered, screen_text, settled, timed_clock_syncs, wait_until
from tests.support.papi_server import API_KEY, API_SECRET, UM_ACCOUNT, PapiServer

SIZE = (80, 24)
OPEN_ROWS = 13  # the demo's one-way book: 12 USD-M positions and one COIN-M (BTCUSD_PERP)
MARKET = 302  # the demo's rows when `a` shows all: a row per USD-M symbol, and two COIN-M rows


# --- harness (more in tests/support/harness.py) ------------------------------------------------------


def positions(app: PmtuiApp) -> PositionsTable:
    return app.query_one(PositionsTable)


def keys(table: KeyedTable) -> list[str]:
    """Row keys in display order."""
    return table.row_keys


def column(table: KeyedTable, key: str) -> list[str]:
    return [str(table.get_cell(k, key)) for k in table.row_keys]


def status(app: PmtuiApp) -> str:
    """The status bar as drawn, its wrapped lines joined back into sentences."""
    return " ".join(rendered(app.query_one(StatusBar)).split())


def by_key(app: PmtuiApp) -> dict[str, Any]:
    """The current view's position rows by row key."""
    return {r.key: r for r in app.view.positions}


def dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


# --- first look ------------------------------------------------------------------------------


async def test_first_screen_shows_the_account_live(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        assert table.row_count == OPEN_ROWS
        assert app.focused is table
        shown = screen_text(app)
        for word in ("DEMO", "uniMMR", "Equity", "headroom", "Assets", "Positions 13 (open)", "BTCUSDT", "LIVE"):
            assert word in shown, word
        assert "STALE" not in shown and "Traceback" not in shown
        assert "LIVE" in status(app) and "weight" in status(app)
        # The header shows the view's uniMMR and total uPnL, formatted.
        summary = rendered(app.query_one(SummaryBar))
        assert f"uniMMR {fmt.ratio(app.view.unimmr)}" in summary
        assert f"{app.view.upnl:+,.2f}" in summary
        assert app.view.level.badge in summary  # a word and a mark, not colour alone


async def test_default_sort_is_largest_maintenance_margin_first(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        rows = by_key(app)
        mm = [rows[k].maint_usd for k in keys(table)]  # a COIN-M row by its USD value
        assert mm == sorted(mm, reverse=True) and mm[0] > mm[-1]
        # Sorted by MM% (the same order as Maint., whose column the demo's COIN-M row pushes off
        # screen at 80 columns): the sorted column is on screen, its mark in the header.
        assert "sort: MM share ▼" in rendered(table) and "(off screen)" not in rendered(table)
        assert "MM% ▼" in rendered(table)
        assert table.cursor_row == 0 and table.cursor_key() == keys(table)[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert "MM% ▼" in rendered(positions(app)) and "Maint." in rendered(positions(app))


# --- moving around ---------------------------------------------------------------------------


async def test_cursor_keys_j_k_arrows_pages_top_bottom(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("down")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("up", "up")
        assert table.cursor_row == 0
        await pilot.press("G")
        assert table.cursor_row == OPEN_ROWS - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        # Pages need more rows than fit: show all rows (hundreds).
        await pilot.press("a")
        await pilot.pause()
        assert table.row_count == MARKET
        await pilot.press("pagedown")
        page = table.cursor_row
        assert 5 <= page < 30
        await pilot.press("pagedown")
        assert table.cursor_row >= 2 * page - 1
        assert table.scroll_y > 0
        await pilot.press("pageup", "pageup")
        assert table.cursor_row == 0
        await pilot.press("G")
        assert table.cursor_row == MARKET - 1
        assert table.scroll_y == table.max_scroll_y > 0
        # The cursor row is drawn highlighted where the user looks: the last row is on screen.
        last = keys(table)[-1].split(":")[0]
        assert last in rendered(table)


async def test_tab_moves_between_the_assets_and_positions_panes(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assets = app.query_one(AssetsTable)
        assert app.focused is positions(app)
        await pilot.press("tab")
        assert app.focused is assets
        await pilot.press("j")
        assert assets.cursor_row == 1
        await pilot.press("tab")
        assert app.focused is positions(app)  # the hidden filter box is skipped
        await pilot.press("shift+tab")
        assert app.focused is assets


async def test_q_quits(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0
        assert not app.is_running


# --- refresh: r, p, + and - ----------------------------------------------------------------------


async def test_r_refreshes_now_and_the_data_moves(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        demo: DemoExchange = app.client._http._transport
        steps, before = demo.step, app.view
        await refresh(pilot, "r")
        assert app.monitor.poller.polls == 2 and demo.step == steps + 1
        assert app.view is not before
        pnl = column(positions(app), "upnl")
        await refresh(pilot, "r")
        assert column(positions(app), "upnl") != pnl  # prices moved, cells updated in place
        assert "LIVE" in status(app)


async def test_p_pauses_and_nothing_is_fetched_until_resumed(make_app):
    app = make_app(interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("p")
        assert app.monitor.poller.paused
        polls = app.monitor.poller.polls
        assert "PAUSED" in status(app)
        assert "next" not in status(app)  # no countdown while paused
        # Interval changes while paused must not fetch either.
        await pilot.press("plus", "minus")
        await pilot.pause(1.4)  # longer than the 1 s interval
        assert app.monitor.poller.polls == polls
        assert "PAUSED" in status(app)
        await pilot.press("p")
        assert not app.monitor.poller.paused
        await settled(pilot, polls + 1)  # resuming fetches at once
        assert "LIVE" in status(app)


async def test_plus_and_minus_step_the_interval(make_app):
    # 15 s to start: no refresh falls due while the keys are pressed, however slow the machine.
    app = make_app(interval=15.0)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        seen = []
        for _ in range(3):
            await pilot.press("plus")
            seen.append(app.monitor.poller.interval)
        assert seen == [30, 60, 120]
        assert "next 120s of 120s" in status(app)  # the pending refresh is re-armed with the new interval
        assert app.monitor.poller.polls == 1  # changing the interval is not a refresh
        await pilot.press(*["minus"] * 9)
        assert app.monitor.poller.interval == 1  # 60, 30, 15, 10, 5, 3, 2, 1, and never faster than 1 s
        await pilot.press(*["plus"] * 10)
        assert app.monitor.poller.interval == 300  # the top step
        assert "of 300s" in status(app)


# --- sorting ---------------------------------------------------------------------------------


async def test_s_cycles_the_sort_column_and_numbers_sort_as_numbers(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        rows = by_key(app)
        await pilot.press("s", "s")  # MM% -> Maint. -> Amount (by size: largest first)
        assert (table.sort_column, table.sort_reverse) == ("amount", True)
        amounts = [rows[k].position.positionAmt for k in keys(table)]
        assert [abs(a) for a in amounts] == sorted((abs(a) for a in amounts), reverse=True)
        # As text these would sort differently (e.g. "4375" < "34.648"): prove it is numeric.
        shown = column(table, "amount")
        assert shown != sorted(shown, key=lambda t: t.lstrip("-"), reverse=True)
        assert [abs(dec(t)) for t in shown] == sorted((abs(dec(t)) for t in shown), reverse=True)
        assert "Amount ▼" in rendered(table) and "sort: Amount ▼" in rendered(table)
        # Pressing s once per column comes back round to the start.
        for _ in range(len(PositionsTable.COLUMNS) - 2):
            await pilot.press("s")
        assert table.sort_column == "share"


async def test_S_reverses_the_sort(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        before = keys(table)
        await pilot.press("S")
        assert table.sort_reverse is False
        assert keys(table) == list(reversed(before))
        assert "MM% ▲" in rendered(table)
        await pilot.press("S")
        assert keys(table) == before


async def test_notional_and_upnl_sort_by_absolute_value(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        rows = by_key(app)
        table.sort_by("notional")
        notional = [rows[k].notional_usd for k in keys(table)]
        assert [abs(n) for n in notional] == sorted((abs(n) for n in notional), reverse=True)
        assert notional != sorted(notional, reverse=True)  # shorts are negative: signed order differs
        table.sort_by("upnl")
        pnl = [rows[k].upnl_usd for k in keys(table)]
        assert [abs(p) for p in pnl] == sorted((abs(p) for p in pnl), reverse=True)
        assert pnl != sorted(pnl, reverse=True)
        # The biggest loser ranks with the biggest winners: its cell reads negative near the top.
        shown = column(table, "upnl")
        assert any(t.startswith("-") for t in shown[: len(shown) // 2])


async def test_clicking_a_header_sorts_by_it_and_again_reverses(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        rows = by_key(app)

        def header_offset(col_key: str) -> tuple[int, int]:
            span = table.column_span(col_key)
            if span is None:
                raise KeyError(col_key)  # not on screen
            # Inside the label (past the left border), on the header line below the top border.
            return 1 + span[0] + 1, 1

        assert await pilot.click(PositionsTable, offset=header_offset("upnl"))
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("upnl", True)
        pnl = [abs(rows[k].upnl_usd) for k in keys(table)]
        assert pnl == sorted(pnl, reverse=True)
        assert "uPnL ▼" in rendered(table)
        assert await pilot.click(PositionsTable, offset=header_offset("upnl"))
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("upnl", False)
        assert "uPnL ▲" in rendered(table)
        # A text column starts A to Z.
        assert await pilot.click(PositionsTable, offset=header_offset("symbol"))
        await pilot.pause()
        assert keys(table) == sorted(keys(table))


async def test_cursor_stays_on_its_row_across_re_sorts(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("j", "j", "j")
        chosen = table.cursor_key()
        moved = False
        for key in ("s", "S", "s", "s", "S"):
            await pilot.press(key)
            assert table.cursor_key() == chosen, key
            assert table.cursor_row == table.get_row_index(chosen)
            moved |= table.cursor_row != 3
        assert moved  # the row really changed place, and the cursor followed it


# --- the filter ------------------------------------------------------------------------------


async def type_filter(pilot: Pilot, text: str, submit: bool = False) -> None:
    await pilot.press("slash")
    await pilot.press(*text)
    if submit:
        await pilot.press("enter")
    await pilot.pause()


async def test_slash_filters_by_symbol_as_you_type_and_esc_clears(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        box = app.query_one("#filter", Input)
        assert not box.display
        await pilot.press("slash")
        assert box.display and app.focused is box
        counts = []
        for typed in ("b", "bt", "btc"):
            await pilot.press(typed[-1])
            # The box's Changed message bubbles to the app over several hops: under load the
            # press can return before it arrives (the loaded suite saw 0 rows here).
            await wait_until(pilot, lambda typed=typed: app.filter_text == typed, what=f"filter {typed!r}")
            counts.append(table.row_count)
        assert counts[0] < OPEN_ROWS  # narrows at the first letter
        assert counts[-1] == 3  # the COIN-M BTCUSD_PERP too
        assert sorted(keys(table)) == ["BTCUSDC:BOTH", "BTCUSDT:BOTH", "CM:BTCUSD_PERP:BOTH"]
        assert "filter: btc" in rendered(table) and "Positions 3 of 13" in rendered(table)
        await pilot.press("B")  # any case: "btcB" matches nothing
        assert table.row_count == 0
        await pilot.press("backspace", "backspace", "backspace", "backspace", "e", "t", "h")
        assert keys(table) == ["ETHUSDT:BOTH"]
        await pilot.press("escape")
        assert not box.display and box.value == "" and app.filter_text == ""
        assert app.focused is table
        assert table.row_count == OPEN_ROWS
        assert "filter" not in rendered(table)


async def burst(pilot: Pilot, *names: str) -> None:
    """Keys arriving together, as from a fast typist, a paste or `tmux send-keys`: all are queued
    before the app handles the first (pilot.press waits for the app between keys)."""
    app = pilot.app
    for name in names:
        key = _character_to_key(name) if len(name) == 1 and not name.isalnum() else name
        char = name if len(name) == 1 else {"enter": "\r", "escape": "\x1b"}.get(name)
        app.post_message(events.Key(key, char))  # what the driver does for each key read
    for _ in range(4):  # the app forwards keys to widgets, which bubble the unhandled ones back
        await pilot.pause()


async def test_fast_typing_lands_in_the_filter_and_back_in_the_table(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await burst(pilot, "slash", *"btc", "enter", "j")
        box = app.query_one("#filter", Input)
        assert box.value == "btc" and box.display  # the active filter stays on screen
        assert sorted(keys(table)) == ["BTCUSDC:BOTH", "BTCUSDT:BOTH", "CM:BTCUSD_PERP:BOTH"]
        assert app.focused is table and table.cursor_row == 1  # "j" after enter moved the cursor
        second = keys(table)[1]
        assert table.cursor_key() == second
        await burst(pilot, "escape", "j", "j")
        assert app.filter_text == "" and table.row_count == OPEN_ROWS  # no "jj" in the hidden box
        # The cursor kept its row through the unfiltering, then moved two down.
        assert app.focused is table and table.cursor_row == table.get_row_index(second) + 2
        # Bound letters right behind "/" are filter text, not commands (a: all rows, r: refresh, p: pause).
        await burst(pilot, "slash", *"arp")
        assert app.query_one("#filter", Input).value == "arp"
        assert not app.show_all and not app.monitor.poller.paused and app.monitor.poller.polls == 1


FILTER_TERMS = [
    ("side:long", lambda r: r.position.positionAmt > 0),
    ("side:short", lambda r: r.position.positionAmt < 0),
    ("asset:USDC", lambda r: r.position.symbol.endswith("USDC")),
    ("loss", lambda r: r.position.unrealizedProfit < 0),
    ("profit", lambda r: r.position.unrealizedProfit > 0),
    ("usdt side:short loss", lambda r: r.position.symbol.endswith("USDT")
     and r.position.positionAmt < 0 and r.position.unrealizedProfit < 0),
]


async def test_filter_terms(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        box = app.query_one("#filter", Input)
        for text, holds in FILTER_TERMS:
            wanted = sorted(r.key for r in app.view.open_positions if holds(r))
            assert 0 < len(wanted) < OPEN_ROWS, text  # the seed makes each term mean something
            await pilot.press("slash")
            box.value = text  # what typing does, without a key press per letter (typing: below)
            await pilot.press("enter")
            assert sorted(keys(table)) == wanted, text
            assert f"filter: {text}" in rendered(table)  # the active filter is shown
            assert f"Positions {len(wanted)} of {OPEN_ROWS}" in rendered(table)
            assert app.focused is table  # enter hands the keys back to the table
            await pilot.press("escape")  # esc clears from the table too
            assert table.row_count == OPEN_ROWS and "filter" not in rendered(table)


async def test_o_opens_a_sort_menu_of_every_column_by_name(make_app):
    from textual.widgets import OptionList

    from pmtui.tui.widgets.sortmenu import SortMenu

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("o")
        assert isinstance(app.screen, SortMenu)
        menu = app.screen.query_one(OptionList)
        labels = [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]
        assert len(labels) == len(table.COLUMNS) and labels[0].startswith("Health")
        assert any(label.startswith("MM share ▼") for label in labels)  # the current sort
        assert any("(off screen)" in label for label in labels)  # at 80 columns some are
        await pilot.press("home", "enter")  # Health: any column, directly
        assert not isinstance(app.screen, SortMenu)
        assert table.sort_column == "health" and "sort: Health" in rendered(table)
        await pilot.press("o", "end", "enter")  # the last column, off screen at 80 columns: scrolled to
        assert table.sort_column == "age" and "(off screen)" not in rendered(table)
        await pilot.press("o", "escape")
        assert table.sort_column == "age" and not isinstance(app.screen, SortMenu)


async def test_a_filter_term_pmtui_cannot_use_is_said_not_zero_rows(make_app):
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        table = positions(app)
        box = app.query_one("#filter", Input)
        assert "level:warn" in box.placeholder and "liq:10" in box.placeholder and "profit" in box.placeholder
        await pilot.press("slash", *"levle:warn")
        title = rendered(table).splitlines()[0]
        assert "unknown filter levle:" in title and box.has_class("-invalid")
        assert table.row_count == OPEN_ROWS  # the bad term is left out, not matched against nothing
        await pilot.press("escape")
        await pilot.press("slash", *"liq:10")
        assert not box.has_class("-invalid") and "unknown" not in rendered(table)


async def test_letters_typed_in_the_filter_are_text_not_commands(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        typed = "aprs qgGjkS?+-"  # every key the dashboard binds that an Input takes as text
        await pilot.press("slash", *typed)
        assert app.query_one("#filter", Input).value == typed
        assert app.is_running and not app.monitor.poller.paused and not app.show_all
        assert app.monitor.poller.polls == 1 and app.screen is app.screen_stack[0]
        assert (table.sort_column, table.sort_reverse) == ("share", True)
        assert table.row_count == 0  # nothing matches all of that
        assert "Positions 0 of 13" in rendered(table)


# --- refresh keeps what the person set up --------------------------------------------------------


async def test_filter_sort_and_cursor_survive_refreshes(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await type_filter(pilot, "usdt", submit=True)
        # MM% -> Maint., Amount, Entry, Mark, Liq. price, Lev., ADL, Initial, Upd., health, Symbol, Side,
        # Notional, uPnL
        await pilot.press(*"s" * 14)
        assert table.sort_column == "upnl"
        await pilot.press("j", "j")
        chosen = table.cursor_key()
        for _ in range(4):
            await refresh(pilot)
            rows = by_key(app)
            assert app.filter_text == "usdt"
            assert all(k.split(":")[0].endswith("USDT") for k in keys(table))
            assert table.row_count == sum(1 for r in app.view.open_positions if "USDT" in r.key)
            assert (table.sort_column, table.sort_reverse) == ("upnl", True)
            pnl = [abs(rows[k].upnl_usd) for k in keys(table)]
            assert pnl == sorted(pnl, reverse=True)
            assert table.cursor_key() == chosen
            assert "filter: usdt" in rendered(table) and "uPnL ▼" in rendered(table)


async def test_scroll_position_survives_refresh(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.press("k", "k")
        chosen, row, scroll = table.cursor_key(), table.cursor_row, table.scroll_y
        assert scroll > 0
        for _ in range(3):
            await refresh(pilot)
            assert table.row_count == MARKET
            assert table.cursor_key() == chosen and table.cursor_row == row
            assert table.scroll_y == scroll


LEDGER_PATHS = {e.path for e in LEDGER_ENDPOINTS}


class ScriptedExchange(httpx.AsyncBaseTransport):
    """UM account answers from a script (one per request, the last repeats). No signature check:
    this exists to move rows around on purpose; the demo and the local server check signatures."""

    def __init__(self, books: list[list[tuple[str, str, str]]]) -> None:
        self.books = books  # each: (symbol, positionAmt, maintMargin)
        self.served = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = int(time.time() * 1000)
        if request.url.path == "/fapi/v1/time":
            return httpx.Response(200, json={"serverTime": now})
        if request.url.path in ("/papi/v1/um/positionRisk", "/papi/v1/balance"):
            return httpx.Response(200, json=[])
        if request.url.path == "/fapi/v1/exchangeInfo":  # no tick sizes: not a UM account answer
            return httpx.Response(200, json={"symbols": []})
        if request.url.path in ("/papi/v1/account", "/papi/v1/cm/account", "/papi/v1/um/adlQuantile",
                                "/papi/v1/um/accountConfig", "/papi/v1/um/apiTradingStatus"):
            # A key without access: the rest must work.
            return httpx.Response(401, json={"code": -2015, "msg": "Invalid API-key, IP, or permissions."})
        if request.url.path in LEDGER_PATHS:  # the ledger, read beside: nothing happened (not a UM answer)
            return httpx.Response(200, json={"rows": [], "total": 0} if "margin/" in request.url.path
                                  or "negative" in request.url.path else [])
        book = self.books[min(self.served, len(self.books) - 1)]
        self.served += 1
        rows = [
            {"symbol": s, "positionSide": "BOTH", "positionAmt": amt, "notional": str(Decimal(amt) * 100),
             "unrealizedProfit": "1.5", "initialMargin": str(Decimal(mm) * 10), "maintMargin": mm,
             "updateTime": now - 5000}
            for s, amt, mm in book
        ]
        total = sum(Decimal(mm) for _, _, mm in book)
        asset = {"asset": "USDT", "crossWalletBalance": "100000", "crossUnPnl": "0", "maintMargin": str(total),
                 "initialMargin": "0", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                 "updateTime": now}
        return httpx.Response(200, content=json.dumps({"assets": [asset], "positions": rows}).encode())


async def test_cursor_follows_its_row_when_a_refresh_reorders_and_replaces_rows(make_app):
    books = [
        [("AAAUSDT", "1", "40"), ("BBBUSDT", "1", "30"), ("CCCUSDT", "1", "20"), ("DDDUSDT", "-1", "10")],
        # CCC's margin jumps: it moves to the top; BBB goes away; EEE arrives.
        [("AAAUSDT", "1", "40"), ("CCCUSDT", "1", "50"), ("DDDUSDT", "-1", "10"), ("EEEUSDT", "1", "45")],
        # Most rows vanish at once (the table starts over internally): CCC stays, others are new.
        [("CCCUSDT", "1", "5"), ("FFFUSDT", "1", "60"), ("GGGUSDT", "1", "70"), ("HHHUSDT", "1", "80"),
         ("IIIUSDT", "1", "90")],
    ]
    app = make_app(transport=ScriptedExchange(books))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        assert keys(table) == ["AAAUSDT:BOTH", "BBBUSDT:BOTH", "CCCUSDT:BOTH", "DDDUSDT:BOTH"]
        await pilot.press("j", "j")
        assert table.cursor_key() == "CCCUSDT:BOTH"
        await refresh(pilot)
        assert keys(table) == ["CCCUSDT:BOTH", "EEEUSDT:BOTH", "AAAUSDT:BOTH", "DDDUSDT:BOTH"]
        assert table.cursor_key() == "CCCUSDT:BOTH" and table.cursor_row == 0
        assert column(table, "mm")[0] == "50.00"
        await refresh(pilot)
        assert keys(table)[-1] == "CCCUSDT:BOTH"
        assert table.cursor_key() == "CCCUSDT:BOTH" and table.cursor_row == 4


# --- rows: zero rows, hedge mode ---------------------------------------------------------------


async def test_zero_rows_are_hidden_until_a_shows_all(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table, assets = positions(app), app.query_one(AssetsTable)
        assert table.row_count == OPEN_ROWS
        assert len(app.view.positions) == MARKET  # the account sends hundreds of zero rows
        assert keys(assets) == ["USDT", "USDC"]  # BNB is all zero
        assert "(open)" in rendered(table)
        chosen = table.cursor_key()
        await pilot.press("a")
        await pilot.pause()
        assert table.row_count == MARKET
        assert "BNB" in keys(assets)
        assert f"Positions {MARKET} (all rows)" in rendered(table)
        assert table.cursor_key() == chosen
        sides = column(table, "side")
        assert sides.count("—") == MARKET - OPEN_ROWS  # flat rows read as flat, not long or short
        await refresh(pilot)
        assert table.row_count == MARKET
        await pilot.press("a")
        await pilot.pause()
        assert table.row_count == OPEN_ROWS and keys(assets) == ["USDT", "USDC"]
        assert "Positions 13 (open) · money in USD" in rendered(table)
        assert table.cursor_key() == chosen


async def test_hedge_mode_shows_long_and_short_rows_of_one_symbol(make_app):
    app = make_app(hedge=True)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        shown = keys(table)
        both = [k.split(":")[0] for k in shown if k.endswith(":LONG") and k.replace(":LONG", ":SHORT") in shown]
        assert "BTCUSDT" in both and len(both) >= 2
        long_row, short_row = table.get_row_index("BTCUSDT:LONG"), table.get_row_index("BTCUSDT:SHORT")
        assert str(table.get_cell("BTCUSDT:LONG", "side")) == "↑ LONG"
        assert str(table.get_cell("BTCUSDT:SHORT", "side")) == "↓ SHORT"
        rows = by_key(app)
        assert rows["BTCUSDT:LONG"].position.positionAmt > 0 > rows["BTCUSDT:SHORT"].position.positionAmt
        assert long_row != short_row
        # Side by side: whatever the sort, a symbol's two rows are next to each other, placed by
        # the larger of the two (maintenance margin, the default sort).
        for symbol in both:
            assert abs(table.get_row_index(f"{symbol}:LONG") - table.get_row_index(f"{symbol}:SHORT")) == 1
        assert keys(table)[0].startswith("BTCUSDT:")
        await pilot.press("s")  # Amount, largest first: the groups stay together
        for symbol in both:
            assert abs(table.get_row_index(f"{symbol}:LONG") - table.get_row_index(f"{symbol}:SHORT")) == 1
        table.sort_by("share", True)  # back to the default for what follows
        await pilot.pause()
        # Both are on screen as separate lines, never merged.
        lines = [ln for ln in rendered(table).splitlines() if "BTCUSDT" in ln]
        assert len(lines) == 2 and any("LONG" in ln for ln in lines) and any("SHORT" in ln for ln in lines)
        await pilot.press("slash")
        app.query_one("#filter", Input).value = "btcusdt side:short"
        await pilot.press("enter")
        assert keys(table) == ["BTCUSDT:SHORT"]
        await pilot.press("escape", "a")
        await pilot.pause()
        assert table.row_count == 2 * MARKET


# --- detail, help, command palette -------------------------------------------------------------


async def test_enter_opens_the_detail_panel_with_every_raw_field(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("j")
        key = table.cursor_key()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.key == key
        raw = by_key(app)[key].position.raw
        assert len(raw) >= 8
        shown = screen_text(app)
        for name in raw:  # each by a person's name, with the field's own beside it
            assert name in shown and label(name) in shown, name
        row = by_key(app)[key]
        assert f"Unrealized PnL           {fmt.money(row.position.unrealizedProfit)} USDT" in shown
        assert "camelCase" not in label("someCamelCase") and label("maxNotionalValue") == "Max notional"
        assert "UTC" in shown and "Share of maint. margin" in shown
        assert "Entry price" in shown and "Mark price" in shown and "entryPrice" in shown
        # It follows its row across a refresh, then esc closes it.
        await refresh(pilot, key=None)
        assert isinstance(app.screen, DetailScreen)
        assert fmt.money(by_key(app)[key].position.unrealizedProfit) in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)
        assert app.filter_text == "" and app.focused is table


async def test_prices_and_amounts_show_to_each_symbols_tick_and_step(make_app):
    """Once exchangeInfo is in (a background request at start), Entry, Mark and Liq. price show
    to the symbol's tick size and Amount to its step size, with thousands separators."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: app.view is not None and app.view.markets, what="tick sizes")
        await pilot.pause()
        table = positions(app)
        row = table.row_keys.index("BTCUSDT:BOTH")
        for name in ("entry", "mark"):
            assert re.fullmatch(r"\d{2},\d{3}\.\d", column(table, name)[row]), name  # tick 0.1
        btc = by_key(app)["BTCUSDT:BOTH"]
        assert column(table, "mark")[row] == fmt.price(btc.mark_price, Decimal("0.1"))
        assert column(table, "amount")[row] == fmt.quantity(btc.position.positionAmt, Decimal("0.001"))
        # Every other open row: as many decimals as its tick has (the demo's are 10**-n).
        for key, mark in zip(table.row_keys, column(table, "mark"), strict=True):
            if key.startswith("CM:"):  # COIN-M: no USD-M exchangeInfo, 6 significant digits
                assert len(mark.replace(",", "").replace(".", "")) <= fmt.PRICE_DIGITS, (key, mark)
                continue
            tick = app.view.markets[key.split(":")[0]].tick_size
            assert len(mark.partition(".")[2]) == max(0, -tick.as_tuple().exponent), (key, mark)


async def test_question_mark_opens_help(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = screen_text(app)
        for text in ("pmtui help", "move, page", "refresh now", "filter positions", "quit"):
            assert text in shown, text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_lists_and_runs_the_apps_actions(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Refresh now", "Pause or resume", "Filter positions", "Show all rows", "Sort positions",
                "Reverse sort", "Refresh less often", "Refresh more often", "Help"} <= titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"pause or")
        await wait_until(pilot, lambda: "Pause or resume" in screen_text(app), what="palette match")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.monitor.poller.paused, what="paused via the palette")
        assert "PAUSED" in status(app)


# --- faults, over a real local HTTP server ----------------------------------------------------


def server_app(make_app, server: PapiServer, interval: float = 60.0) -> PmtuiApp:
    return make_app(base_url=server.base_url, api_key=API_KEY, api_secret=API_SECRET, interval=interval)


def um_requests(server: PapiServer) -> int:
    return sum(1 for r in server.requests if r.path == UM_ACCOUNT)


async def test_fault_sequence_ok_500_garbage_ok_goes_stale_and_recovers(make_app, papi_server, monkeypatch):
    # The "Upd." column is an age against the wall clock: frozen, the last good rows stay equal
    # cell for cell however long the faults take (requests still use the real clock: the server
    # checks their timestamps).
    import pmtui.tui.widgets.positions

    monkeypatch.setattr(pmtui.tui.widgets.positions, "time", FrozenClock(time.time()).module())
    # Only the test's refreshes: a timed one (60 s) came in too when a loaded machine took that long.
    app = server_app(make_app, papi_server, interval=3600.0)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        good = [table.get_row(k) for k in keys(table)]
        assert keys(table) == ["BTCUSDT:BOTH", "ETHUSDT:BOTH"]  # SOLUSDT is flat: hidden
        assert "LIVE" in status(app)

        papi_server.inject("500", path=UM_ACCOUNT)
        await refresh(pilot)
        assert app.monitor.poller.stale and app.monitor.poller.error.kind == "server"
        bar = status(app)
        assert "STALE" in bar and "internal error (HTTP 500)" in bar
        assert [table.get_row(k) for k in keys(table)] == good  # the last good data stays
        assert table.has_class("-stale") and "STALE" in rendered(app.query_one(SummaryBar))

        for garbage, sentence in (("html", "web page instead of data"), ("truncated", "not valid JSON"),
                                  ("schema", "no list of positions")):
            papi_server.inject(garbage, path=UM_ACCOUNT)
            await refresh(pilot)
            bar = status(app)
            assert "STALE" in bar and sentence in bar, garbage
            assert [table.get_row(k) for k in keys(table)] == good
            assert app.is_running

        await refresh(pilot)
        assert app.monitor.poller.error is None and not app.monitor.poller.stale
        bar = status(app)
        assert "LIVE" in bar and "STALE" not in bar and "web page" not in bar
        assert not table.has_class("-stale") and "STALE" not in rendered(app.query_one(SummaryBar))
        assert um_requests(papi_server) == 6
        assert "Traceback" not in screen_text(app)


async def test_a_fault_recovers_by_itself(make_app, papi_server):
    """With no key pressed, the next timed fetch fails (STALE on screen) and the one after
    recovers (LIVE). Each refresh's outcome is recorded as the Monitor publishes it, and the
    status bar as the app renders that state, so nothing depends on sampling at the right moment."""
    app = server_app(make_app, papi_server, interval=1.0)
    seen: list[tuple[bool, str]] = []
    show_state = app.show_state

    def record(state, changed=None) -> None:
        show_state(state, changed)
        done = (changed or state.changed) & {"data", "fault"}
        if done:
            seen.append(("data" in done, status(app)))
            if len(seen) == 1:  # the next fetch (the timed one, however late) fails once
                papi_server.inject("503", path=UM_ACCOUNT)

    app.show_state = record
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(seen) >= 3, timeout=20, what="a failed then a good timed fetch")
        (ok1, bar1), (ok2, bar2), (ok3, bar3) = seen[:3]
        assert (ok1, ok2, ok3) == (True, False, True)
        assert "LIVE" in bar1 and "STALE" in bar2 and "LIVE" in bar3 and "STALE" not in bar3
        assert um_requests(papi_server) >= 3 and papi_server.pending_faults == 0


async def test_revoked_key_stops_polling_says_what_to_fix_and_r_retries(make_app, papi_server):
    app = server_app(make_app, papi_server, interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        papi_server.revoke()
        await refresh(pilot)
        assert app.monitor.poller.stopped
        bar = status(app)
        assert "ERROR" in bar
        assert "refused the API key" in bar
        assert "Fix it, then press r." in bar  # the whole sentence fits, down to what to do
        assert app.monitor.poller.error.message == AUTH_HELP
        sent, polls = len(papi_server.requests), app.monitor.poller.polls
        await pilot.pause(1.3)  # more than the interval: nothing may go out
        # (Counted from the stop: a loaded machine may fit a timed poll in before the revoke.)
        assert len(papi_server.requests) == sent
        assert app.monitor.poller.polls == polls
        assert positions(app).row_count == 2  # the data is still there, marked stale
        papi_server.restore()
        await refresh(pilot)
        assert not app.monitor.poller.stopped and app.monitor.poller.error is None
        assert "LIVE" in status(app) and "API key" not in status(app)


async def test_status_bar_shows_a_large_clock_offset(make_app, papi_server):
    papi_server.clock_offset_ms = 4000  # the exchange's clock is 4 s ahead of this machine's
    app = server_app(make_app, papi_server)
    trips = timed_clock_syncs(app.client)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert app.monitor.poller.error is None  # the client synced its clock, so requests still pass
        bar = status(app)
        assert "LIVE" in bar and "weight" in bar  # the latency goes first when the line is full
        # Measured over a real round trip: off by at most half of it (plus 2 ms of rounding),
        # however slow a loaded machine makes that trip.
        assert abs(app.client.time_offset_ms - 4000) <= max(trips) * 500 + 2
        assert f"clock {app.client.time_offset_ms / 1000:+.1f}s" in bar, bar


async def test_a_tick_or_fetch_ending_during_shutdown_does_not_crash(make_app):
    """The 1 s tick and a fetch finishing can fire while quitting tears the widgets down; that
    once printed a traceback on exit (NoMatches '#positions')."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await app.query_one(PositionsTable).remove()
        app.monitor.tick()
        app.monitor.publish("data")
        await pilot.pause()
        assert app.is_running


async def test_what_if_past_liquidation_says_where_it_comes_and_keeps_the_note_visible(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("w")
        shock = app.screen.query_one("#shock", Input)
        big = max((r for r in app.view.open_positions if r.venue == "UM"), key=lambda r: abs(r.notional_usd or 0))
        # Against the largest position: three times its price move takes the account past 1.05.
        shock.value = f"{'-95' if big.position.is_long else '+300'} {big.position.symbol}"
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert re.search(r"Liquidated before this move: uniMMR reaches 1\.05 at about [-+]?[\d.]+%", text), text
        row = next(line for line in text.splitlines() if "uniMMR" in line and "liquidated" in line)
        assert not re.search(r"-\d", row.split("uniMMR", 1)[1])  # no negative uniMMR as if it meant anything
        equity = next(line for line in text.splitlines() if " equity " in line)
        assert re.search(r"equity\s+[\d,.]+\s+—\s", equity)  # now, then "—": nor a negative equity
        # The caveat stays on screen below the scrolling list, even at 80x24.
        assert "An estimate: linear notional scaling" in text
        await pilot.press("escape")
        await pilot.press("w")
        app.screen.query_one("#shock", Input).value = "-1"
        await pilot.press("enter")
        await pilot.pause()
        assert "Liquidated before" not in screen_text(app)  # a small move is an ordinary estimate


async def test_what_if_moves_the_coin_m_position_and_its_wallet_too(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        cm = next(r for r in app.view.open_positions if r.venue == "CM")
        await pilot.press("w")
        app.screen.query_one("#shock", Input).value = f"-10 {cm.position.symbol}"
        await pilot.press("enter")
        await pilot.pause()
        report = rendered(app.screen.query_one("#shock-report"))
        # Only the COIN-M market moved: the position, and the BTC it is margined in.
        assert cm.position.symbol in report and "BTC wallet" in report and "BTCUSDT" not in report
        assert "COIN-M in USD, with its coin wallet" in screen_text(app)


async def test_keys_in_a_burst_right_after_ctrl_u_or_backspace_in_the_filter_are_kept(make_app):
    """Over SSH keys arrive in bursts: the filter's editing keys used to bubble to the app and
    run after the letters behind them, erasing them (issue 19)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        box = app.query_one("#filter", Input)
        await burst(pilot, "slash", *"abc", "ctrl+u", *"btcusdt")
        assert box.value == "btcusdt"
        await burst(pilot, "backspace", "backspace", *"dc", "ctrl+w", *"eth")
        assert box.value == "eth"


async def test_the_sort_label_says_off_screen_of_the_layout_on_screen_now(make_app):
    """Sorting by a column scrolled out of view scrolls to it: the label must not say
    "(off screen)" of the layout before that scroll (it did, until the next refresh)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = positions(app)
        await pilot.press("s")  # MM% -> Maint., right of what 80 columns show
        assert table.sort_column == "mm" and table.column_span("mm") is not None
        assert table.border_subtitle == "sort: Maint. margin ▼", table.border_subtitle
        await pilot.resize_terminal(200, 50)
        await pilot.press("o", "end", "enter")  # Updated: on screen at 200 columns
        assert table.border_subtitle == "sort: Updated ▼", table.border_subtitle
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: table.column_span("age") is None)
        await pilot.pause()
        assert table.border_subtitle == "sort: Updated ▼ (off screen)", table.border_subtitle
