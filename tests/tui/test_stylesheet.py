"""pmtui.tui.stylesheet: component classes resolved once per CSS path give Textual's own styles."""

from __future__ import annotations

import pytest
from textual.css import stylesheet as textual_stylesheet
from textual.css.stylesheet import Stylesheet as TextualStylesheet
from textual.dom import DOMNode
from textual.widgets._footer import FooterKey

from pmtui.tui import stylesheet
from tests.support.harness import settled


def component_rules(app) -> dict[tuple[str, str | None, int, str], dict]:
    """Every widget's resolved component classes, by (type, id, place in the DOM, class)."""
    found = {}
    for place, node in enumerate(app.screen.walk_children(with_self=True)):
        for name, styles in node._component_styles.items():
            found[(type(node).__name__, node.id, place, name)] = styles.base.get_rules()
    return found


async def shown(make_app, theme: str) -> dict:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        app.theme = theme
        await pilot.pause()
        return component_rules(app)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_cached_component_styles_are_textuals_own(make_app, monkeypatch, theme):
    cached_first = await shown(make_app, theme)
    cached_again = await shown(make_app, theme)  # from the cache, for every widget
    with monkeypatch.context() as m:
        m.setattr(stylesheet.Stylesheet, "_process_component_classes", TextualStylesheet._process_component_classes)
        m.setattr(stylesheet.Stylesheet, "_parse_rules", TextualStylesheet._parse_rules)
        textual = await shown(make_app, theme)
    assert len(textual) > 100  # the tables' and panels' colour classes, the footer keys'
    assert cached_first == textual and cached_again == textual


async def test_a_second_dashboard_matches_no_colour_class_again(make_app, monkeypatch):
    await shown(make_app, "textual-dark")
    matched: list[str] = []
    apply = TextualStylesheet.apply

    def counting(self, node, **kwargs):
        if type(node).__name__ == "DOMNode":  # the virtual node Textual builds per component class
            matched.append(next(iter(node.classes)))
        return apply(self, node, **kwargs)

    monkeypatch.setattr(TextualStylesheet, "apply", counting)
    await shown(make_app, "textual-dark")
    assert matched == []


async def test_a_second_dashboard_parses_no_css_again(make_app, monkeypatch):
    await shown(make_app, "textual-dark")
    parsed: list[str] = []
    parse = textual_stylesheet.parse

    def counting(scope, css, read_from, **kwargs):
        parsed.append(str(read_from))
        return parse(scope, css, read_from, **kwargs)

    monkeypatch.setattr(textual_stylesheet, "parse", counting)
    await shown(make_app, "textual-dark")
    assert parsed == []


async def test_the_footer_keys_are_born_compact_and_not_restyled_for_it(make_app, monkeypatch):
    restyled: list[str] = []
    update = FooterKey.update_node_styles

    def counting(self, **kwargs):
        restyled.append(self.key)
        return update(self, **kwargs)

    monkeypatch.setattr(FooterKey, "update_node_styles", counting)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        keys = list(app.screen.query(FooterKey))
        assert len(keys) > 5 and all(key.has_class("-compact") for key in keys)
        assert restyled == []  # Textual's FooterKey would add "-compact" once mounted: a restyle each


async def test_a_restyle_that_changes_no_colour_class_keeps_their_styles(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        # Every widget's CSS path changes (no rule names the class): the rules found for the new
        # paths are cached the first time.
        app.screen.add_class("-restyled")
        await pilot.pause()
        app.screen.remove_class("-restyled")
        await pilot.pause()
        before = component_rules(app)
        kept = {id(styles) for node in app.screen.walk_children() for styles in node._component_styles.values()}
        built: list[str] = []
        monkeypatch.setattr(stylesheet, "DOMNode", lambda classes: built.append(classes) or DOMNode(classes=classes))
        app.screen.add_class("-restyled")
        await pilot.pause()
        assert built == []  # no virtual node per colour class, no match: the same rules are kept
        assert component_rules(app) == before
        assert kept == {id(s) for node in app.screen.walk_children() for s in node._component_styles.values()}
