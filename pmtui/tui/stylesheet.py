"""Textual's stylesheet, with widgets' component classes resolved once per place in the DOM.

Every pmtui widget that colours text declares the same dozen or so component classes
(`widgets/styles.py`: level--ok, pnl--up, …), and Textual's footer two per key. Textual resolves
each of them on every restyle of the widget (mount, a class toggled on it or an ancestor, focus,
a theme change) by building a throwaway DOM node per class and matching every rule of the
stylesheet against it: most of the time Textual spends applying CSS, and about a fifth of the
dashboard's start-up.

What that match finds depends only on the CSS (its text and variables: the theme) and on the
widget's CSS path (each node's type, id, classes and pseudo-classes), so the rules found are
kept per CSS, path and class, for the process: a second dashboard (the next account, a test)
finds them too. Not for a class that some rule could match by position (`:first-child`, `:odd`,
`:focus-within`, …), which a CSS path does not capture: that one keeps Textual's way.

Textual also parses each widget's CSS once per stylesheet, so once per dashboard: 40 ms of its
~650 ms start. The rules parsed depend only on the CSS, where it was read from and the variables, so
they too are kept for the process (Textual's own cache keeps them per stylesheet and never
changes them).
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.css.model import RuleSet
from textual.css.styles import RulesMap
from textual.css.stylesheet import Stylesheet as TextualStylesheet
from textual.dom import DOMNode

#: (CSS fingerprint, CSS path, component class) -> the rules Textual's match found. A few
#: hundred entries for a dashboard; emptied if something makes it grow past any real use.
_RESOLVED: dict[tuple[Any, ...], RulesMap] = {}
_MOST = 20_000
#: (CSS fingerprint, component class) -> whether those rules depend on nothing but the path.
_BY_PATH: dict[tuple[Any, ...], bool] = {}
#: (CSS, where read from, default or not, tie breaker, scope, variables) -> its parsed rules.
_PARSED: dict[tuple[Any, ...], list[RuleSet]] = {}
#: The pseudo-classes a CSS path captures (a widget's hover, focus and disabled; the app's).
_IN_PATH = frozenset({"hover", "focus", "blur", "disabled", "enabled", "dark", "light", "inline", "ansi", "nocolor"})


def _path_key(node: DOMNode) -> tuple[Any, ...]:
    return tuple(
        (n._css_type_name, n.id, n.classes,
         tuple(sorted(n.pseudo_classes)) if isinstance(n, App) else n._pseudo_classes_cache_key)
        for n in node.css_path_nodes
    )


class Stylesheet(TextualStylesheet):
    _fingerprint: int | None = None

    def parse(self) -> None:
        super().parse()
        self._fingerprint = self._css_fingerprint()

    def reparse(self) -> None:
        super().reparse()
        self._fingerprint = self._css_fingerprint()

    def _parse_rules(
        self, css: str, read_from: Any, is_default_rules: bool = False, tie_breaker: int = 0, scope: str = ""
    ) -> list[RuleSet]:
        key = (css, read_from, is_default_rules, tie_breaker, scope, tuple(sorted(self._variables.items())))
        rules = _PARSED.get(key)
        if rules is None:
            if len(_PARSED) > _MOST:
                _PARSED.clear()
            rules = _PARSED[key] = super()._parse_rules(css, read_from, is_default_rules, tie_breaker, scope)
        return rules

    def _css_fingerprint(self) -> int:
        return hash((tuple(self.source.items()),
                     tuple(sorted(self._variables.items()))))

    def _by_path(self, component: str) -> bool:
        """Whether the rules a `component` node could match depend on nothing but its CSS path."""
        key = (self._fingerprint, component)
        known = _BY_PATH.get(key)
        if known is None:
            rules = self.rules_map
            candidates = (rule for name in (f".{component}", "*", "DOMNode") for rule in rules.get(name, ()))
            # The last selector is the virtual node's own: it has no pseudo-classes, so one there
            # never matches, whatever the path. The ancestors' must be ones the path captures.
            known = _BY_PATH[key] = all(
                selector.pseudo_classes <= _IN_PATH
                for rule in candidates for selector_set in rule.selector_set
                for selector in selector_set.selectors[:-1]
            )
        return known

    def _process_component_classes(self, node: DOMNode) -> None:
        components = node._get_component_classes()
        if not components or self._fingerprint is None or not all(map(self._by_path, components)):
            super()._process_component_classes(node)
            return
        if len(_RESOLVED) > _MOST:
            _RESOLVED.clear()
            _BY_PATH.clear()
        path = (self._fingerprint, _path_key(node))
        old = node._component_styles.copy()
        node._component_styles.clear()
        changed = False
        # As Textual does it (a virtual node per class, its styles kept), minus the matching.
        for component in sorted(components):
            rules = _RESOLVED.get((path, component))
            kept = old.get(component)
            if rules is not None and kept is not None and kept.base._rules == rules and not kept.inline._rules:
                # The rules found are those the styles already hold (the change was elsewhere in
                # the path, as most are): keep them, as Textual's equal new ones would be.
                node._component_styles[component] = kept
                continue
            virtual = DOMNode(classes=component)
            virtual._attach(node)
            if rules is None:
                self.apply(virtual, animate=False)
                _RESOLVED[(path, component)] = virtual.styles.base.get_rules()
            else:
                self.replace_rules(virtual, rules)
            if not changed and old.get(component) != virtual.styles:
                changed = True
            node._component_styles[component] = virtual.styles
        if changed:
            node.refresh()
