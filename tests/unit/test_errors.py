"""pmtui.errors: the docstring's exception tree names every error class pmtui has, with its parent
and whether it is retried, so the documentation cannot fall behind the code."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pmtui
from pmtui import errors
from pmtui.errors import PmtuiError

#: One entry of the tree: "- Name -> Parent: what it means; retried or stops." up to the next one.
ENTRY = re.compile(r"^- (\w+) -> (\w+)\b(.*?)(?=^- |\n\n)", re.MULTILINE | re.DOTALL)


def all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *all_subclasses(sub)]
    return found


def error_classes() -> dict[str, type]:
    # Errors defined outside errors.py (HistoryError...) exist only once their module is imported.
    for module in pkgutil.walk_packages(pmtui.__path__, "pmtui."):
        if module.name != "pmtui.__main__":
            importlib.import_module(module.name)
    classes = [c for c in all_subclasses(PmtuiError) if c.__module__.startswith("pmtui.")]
    return {c.__name__: c for c in classes}


def documented() -> dict[str, tuple[str, str]]:
    return {name: (parent, text) for name, parent, text in ENTRY.findall(errors.__doc__ or "")}


def test_every_error_class_is_documented_with_its_parent() -> None:
    classes, doc = error_classes(), documented()
    assert len(classes) >= 17
    assert doc["PmtuiError"][0] == "Exception"
    for name, cls in classes.items():
        assert name in doc, f"{name} is missing from the tree in pmtui/errors.py's docstring"
        parent = next(b for b in cls.__bases__ if issubclass(b, PmtuiError))
        assert doc[name][0] == parent.__name__, name
    assert set(doc) == {"PmtuiError", *classes}, "the tree names a class that does not exist"


def test_documented_retry_matches_retryable() -> None:
    classes = {"PmtuiError": PmtuiError, **error_classes()}
    for name, (_, text) in documented().items():
        stops = re.search(r"\b(stops|not retried)\b", text, re.IGNORECASE) is not None
        assert stops == (not classes[name].retryable), name
