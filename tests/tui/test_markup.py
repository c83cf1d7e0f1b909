"""Nothing external is ever parsed as Rich/Textual markup.

A "[/]" closes a tag that was never opened and "[bold" opens one that never closes: as markup the
first raises MarkupError (the app exited with a traceback) and the second restyles what follows.
Each test puts them where text from outside reaches the screen — an error message, a symbol, an
asset name, a schema-error value, the account status, the profile name in the title, the filter
box — and checks that the app is still running and shows them literally.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from textual import events
from textual.widgets import Input

from pmtui.alerts import Alerts
from pmtui.demo import DemoExchange
from pmtui.settings import Settings
from pmtui.tui.widgets.detail import DetailScreen
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.status import StatusBar
from pmtui.tui.widgets.summary import SummaryBar
from pmtui.tui.widgets.whatif import WhatIfScreen
from tests.support.harness import SEED, rendered, screen_text, settled, wait_until

UM_ACCOUNT = "/papi/v2/um/account"
PM_ACCOUNT = "/papi/v1/account"
POSITION_RISK = "/papi/v1/um/positionRisk"
SIZE = (100, 30)
MARKUP = "[/]x[bold"


class Hostile(DemoExchange):
    """The demo exchange with answers tampered with: `edit[path]` rewrites a body's JSON in place,
    `error[path]` replaces the answer with (status, JSON body)."""

    def __init__(self, edit: dict[str, Callable[[Any], None]] | None = None,
                 error: dict[str, tuple[int, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(seed=SEED, **kwargs)
        self.edit = dict(edit or {})
        self.error = dict(error or {})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in self.error:
            status, body = self.error[path]
            return httpx.Response(status, json=body, request=request)
        response = await super().handle_async_request(request)
        if path in self.edit and response.status_code == 200:
            data = json.loads(response.content)
            self.edit[path](data)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(200, headers=headers, content=json.dumps(data).encode(), request=request)
        return response


def rename_symbols(data: Any) -> None:
    """Every symbol (UM positions or positionRisk rows) wrapped in markup."""
    rows = data["positions"] if isinstance(data, dict) else data
    for row in rows:
        row["symbol"] = f"[/]{row['symbol']}[bold"


def first_position(data: Any, **fields: Any) -> None:
    data["positions"][0].update(fields)


def flat(text: str) -> str:
    return " ".join(text.split())


async def assert_running(pilot, app) -> None:
    await pilot.pause()
    assert app.is_running and app.return_code is None, "the app exited"


async def test_error_message_with_markup_is_shown_as_text(make_app):
    msg = f"Illegal characters found in parameter 'symbol' {MARKUP}"
    app = make_app(transport=Hostile(error={UM_ACCOUNT: (400, {"code": -1100, "msg": msg})}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await assert_running(pilot, app)
        assert MARKUP in app.monitor.poller.error.message
        assert MARKUP in flat(rendered(app.query_one(StatusBar)))
        assert MARKUP in flat(screen_text(app)), "the toast shows the message literally"


async def test_schema_error_value_with_markup_is_shown_as_text(make_app):
    app = make_app(transport=Hostile(edit={UM_ACCOUNT: lambda d: first_position(d, positionAmt=MARKUP)}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await assert_running(pilot, app)
        assert app.monitor.poller.error.kind == "schema"
        assert repr(MARKUP) in flat(rendered(app.query_one(StatusBar)))


async def test_symbols_with_markup_in_table_detail_what_if_and_alerts(make_app):
    hostile = Hostile(edit={UM_ACCOUNT: rename_symbols, POSITION_RISK: rename_symbols})
    app = make_app(transport=hostile)
    # Every open position is within 100% of its liquidation price: each one fires an alert,
    # and the toast names the worst symbol.
    app.monitor.alerts = Alerts.from_settings(Settings(alerts={"liq_distance_below": 1}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await assert_running(pilot, app)
        table = app.query_one(PositionsTable)
        symbol = str(table.get_cell_at((0, 1)))
        assert symbol.startswith("[/]") and symbol.endswith("[bold")
        assert symbol in screen_text(app)
        assert any(symbol.startswith("[/]") and "liquidation" in n.message for n in app._notifications)

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        await assert_running(pilot, app)
        box = app.screen.query_one("#detail-box")
        assert rendered(box).splitlines()[0].count(symbol) == 1, "the title shows the symbol as text"
        assert f"Symbol {symbol}" in flat(rendered(app.screen.query_one("#detail-body")))
        await pilot.press("escape")

        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WhatIfScreen), what="the what-if screen")
        await pilot.press("minus", "1", "0", "enter")
        await assert_running(pilot, app)
        report = rendered(app.screen.query_one("#shock-report"))
        assert "[/]" in report and "[bold" in report, "the drivers list the symbols as text"


async def test_asset_name_and_account_status_with_markup(make_app):
    def asset(data: Any) -> None:
        data["assets"][0]["asset"] = f"[/]{data['assets'][0]['asset']}[bold"

    def status(data: Any) -> None:
        data["accountStatus"] = MARKUP

    app = make_app(transport=Hostile(edit={UM_ACCOUNT: asset, PM_ACCOUNT: status}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await assert_running(pilot, app)
        shown = screen_text(app)
        assert "[/]" in shown and "[bold" in shown
        # "status not normal" fires: its toast names the status.
        assert any(MARKUP in n.message for n in app._notifications)
        assert MARKUP in flat(screen_text(app))


async def test_profile_name_with_markup_in_the_title(make_app):
    app = make_app(title=f"work {MARKUP}")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await assert_running(pilot, app)
        assert f"work {MARKUP}" in rendered(app.query_one(SummaryBar))


async def test_markup_typed_or_pasted_into_the_filter_box(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot)
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        await wait_until(pilot, lambda: app.focused is box, what="the filter box")
        box.post_message(events.Paste("[/]"))
        await wait_until(pilot, lambda: box.value == "[/]", what="the paste")
        await assert_running(pilot, app)
        # Typed, "/" is a character in the box (it opens the box only from elsewhere).
        await pilot.press(*"/x[bold")
        await assert_running(pilot, app)
        assert box.value == "[/]/x[bold"
        title = rendered(app.query_one(PositionsTable)).splitlines()[0]
        assert "filter: [/]/x[bold" in title
