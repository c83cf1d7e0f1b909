"""How the dashboard looks: colours that read on both themes (WCAG AA), marks every font has,
focus and STALE that never look alike, and the theme remembered between runs."""

from __future__ import annotations

import pytest
from textual.color import Color

from pmtui.health import Level
from pmtui.tui import uistate
from pmtui.tui.widgets.account import AccountFacts
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.styles import AA, contrast
from tests.support.harness import refresh, settled, wait_until

THEMES = ("textual-dark", "textual-light")
LEVEL_STYLES = ("level--ok", "level--warn", "level--danger", "level--critical",
                "pnl--up", "pnl--down", "side--long", "side--short", "state--stale", "state--error",
                "state--live", "state--paused")


def ratio_of(widget, name: str) -> float:
    """The contrast of one component class as drawn on `widget`: its colour on its background (or
    on the widget's own, when the class sets none)."""
    style = widget.get_component_styles(name)
    ground = style.background if style.has_rule("background") else widget.styles.background
    base = widget.screen.styles.background
    ground = base.blend(ground, ground.a) if ground.a < 1 else ground
    # A widget background with alpha sits on the screen's; a colour with alpha on that.
    ground = Color(ground.r, ground.g, ground.b)
    return contrast(style.color if style.color.a == 1 else ground.blend(style.color, style.color.a), ground)


@pytest.mark.parametrize("theme", THEMES)
async def test_every_level_colour_reads_at_wcag_aa_on_its_background(make_app, theme):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.theme = theme
        await pilot.pause()
        table = app.query_one(PositionsTable)
        facts = app.query_one("#account-facts", AccountFacts)
        figures = {}
        for widget in (table, facts):
            for name in LEVEL_STYLES:
                if (name.startswith("side") and widget is facts) or (name.startswith("state") and widget is table):
                    continue  # app.tcss styles sides in tables only, states in the static panes only
                figures[(type(widget).__name__, name)] = ratio_of(widget, name)
        low = {k: round(v, 2) for k, v in figures.items() if v < AA}
        print(theme, {k[1]: round(v, 2) for k, v in figures.items()})
        assert not low, f"{theme}: below {AA}:1: {low}"
        # The zebra rows are a shade off the table's own background: measure on those too.
        even = table.get_component_styles("table--even-row").background
        ground = table.styles.background.blend(even, even.a)
        for name in ("level--ok", "level--warn", "level--danger"):
            color = table.get_component_styles(name).color
            assert contrast(color, Color(ground.r, ground.g, ground.b)) >= AA, (theme, name)


def test_marks_are_glyphs_every_common_monospace_font_has():
    # ✖ (U+2716) is missing from Fira Code, the font of Textual's SVG screenshots.
    assert [level.mark for level in Level] == ["✓", "▲", "◆", "×"]
    assert all(level.badge.startswith(level.mark + " ") for level in Level)


async def test_the_theme_picked_is_remembered_on_the_next_start(make_app):
    assert uistate.load_theme() is None  # tests/conftest.py gives each test its own state dir
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        app.theme = "textual-light"
        await wait_until(pilot, lambda: uistate.load_theme() == "textual-light", what="theme saved")
    assert uistate.state_path().is_file()
    again = make_app()
    async with again.run_test() as pilot:
        await settled(pilot)
        assert again.theme == "textual-light"


def test_an_unreadable_or_odd_state_file_means_the_default_theme(tmp_path):
    path = tmp_path / "ui.json"
    assert uistate.load_theme(path) is None
    path.write_text("{not json")
    assert uistate.load_theme(path) is None
    path.write_text('["textual-light"]')
    assert uistate.load_theme(path) is None
    uistate.save_theme("nord", path)
    assert uistate.load_theme(path) == "nord"


async def test_focus_and_stale_never_look_alike(make_app, frozen_clock):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        table = app.query_one(PositionsTable)
        assert table.has_focus
        focused = (table.styles.border_top, table.styles.border_title_color)
        assets = app.query_one("#assets")
        unfocused = assets.styles.border_top
        assert focused[0] != unfocused and focused[0][0] == "round"
        frozen_clock.advance(14)
        app.client._http._transport.fault = "503"
        app.main.action_refresh_now()
        await wait_until(pilot, lambda: app.monitor.poller.stale and table.has_class("-stale"))
        await pilot.pause()
        stale = table.styles.border_top
        assert stale[0] == "dashed" and stale != focused[0] and assets.styles.border_top == stale
        assert str(table.border_title).startswith("◌ STALE") and str(assets.border_title).startswith("◌ STALE")


def footer_line(app) -> str:
    from tests.support.harness import screen_text
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def test_each_screen_footer_shows_its_own_keys_and_80_columns_keep_help(make_app, frozen_clock):
    from pmtui.tui.widgets.detail import DetailScreen
    from pmtui.tui.widgets.help import HelpScreen
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        # The footer re-draws its keys a moment after the screen changes: wait for it to show
        # a key of the new screen, then check that no key of the old one is left.
        await wait_until(pilot, lambda: "? Help" in footer_line(app) and "q Quit" in footer_line(app),
                         what="the dashboard's footer")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen) and "Close" in footer_line(app),
                         what="the detail screen's footer")
        line = footer_line(app)
        assert "Quit" not in line and "Refresh" not in line, line
        await pilot.press("escape", "question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen) and "Close" in footer_line(app),
                         what="the help screen's footer")
        line = footer_line(app)
        assert "Filter" not in line, line


async def test_paused_says_since_when(make_app, frozen_clock):
    from pmtui.tui.widgets.status import StatusBar
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        frozen_clock.advance(5)
        await pilot.press("p")
        await wait_until(pilot, lambda: "PAUSED" in app.query_one(StatusBar).render_text(app.status_info()).plain)
        text = app.query_one(StatusBar).render_text(app.status_info()).plain
        assert "paused since 12:00:05" in text and "p resumes" in text, text


async def test_each_cell_has_its_own_colour_and_the_mark_the_worst(make_app, frozen_clock):
    """Margin-call demo: a row CRITICAL by its liquidation distance colours its MM% cell by the
    share's own level (plain when small), not the row's, and its uPnL by its sign. From step 46
    of the scenario, where the verdict turns CRITICAL."""
    app = make_app(clock=frozen_clock, scenario="margin-call", step=46)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        for _ in range(20):
            frozen_clock.advance(2)
            await refresh(pilot)
        table = app.query_one(PositionsTable)
        columns = [c.key for c in table.COLUMNS]
        seen = 0
        for row in app.view.open_positions:
            cells = dict(zip(columns, table.cells(row, 0.0), strict=True))
            assert cells["health"].style == table.level_style(row.level)
            assert row.level == max(row.share_level, row.loss_level, row.liq_level)
            if row.share_level is Level.OK:
                assert cells["share"].style == ""
            else:
                assert cells["share"].style == table.level_style(row.share_level)
            if row.level is Level.CRITICAL and row.share_level < Level.CRITICAL:
                seen += 1
            pnl = row.position.unrealizedProfit
            if pnl:
                assert cells["upnl"].style == table.pnl_style(pnl)
        assert seen, "no CRITICAL row whose share is less than critical in this replay"


# --- glanceability at the sizes people use (issue 19) --------------------------------------------


async def test_at_200x50_the_side_column_is_narrow_fits_and_the_positions_show_every_column(make_app, frozen_clock):
    from pmtui.tui.widgets.history import HistoryPanel
    from pmtui.tui.widgets.status import StatusBar
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(200, 50)) as pilot:
        await settled(pilot)
        side = app.query_one(HistoryPanel).region
        log = app.query_one("#alert-log").region
        assert side.width <= 60, side  # not a third of the width
        assert log.bottom <= app.query_one(StatusBar).region.y, (log, "the Alerts box runs past the bottom")
        assert app.query_one(PositionsTable).hidden_columns == (0, 0)


async def test_at_80x24_the_footer_keeps_what_if_and_history(make_app, frozen_clock):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.pause()
        line = footer_line(app)
        assert "w What-if" in line and "h History" in line and "? Help" in line, line


async def test_at_80x24_paused_keeps_the_status_bar_on_one_line(make_app, frozen_clock):
    from pmtui.tui.widgets.status import StatusBar
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("p")
        bar = app.query_one(StatusBar)
        await wait_until(pilot, lambda: "PAUSED" in bar.render().plain)
        await pilot.pause()
        assert bar.size.height == 1, bar.render().plain
        assert "p resumes" in bar.render().plain


async def test_at_80x24_history_leaves_the_positions_rows(make_app, frozen_clock):
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("h")
        await pilot.pause()
        table = app.query_one(PositionsTable)
        assert app.query_one("#history").display
        assert table.scrollable_content_region.height - 1 >= 4  # rows under the header
