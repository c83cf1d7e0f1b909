"""Shared fixtures: the ones below, and those of the helper modules listed in `pytest_plugins`."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Every test may ask for these modules' fixtures by name, without importing them:
# frozen_clock and make_app (harness), hostile, papi_server, ws_server.
pytest_plugins = [
    "tests.support.harness", "tests.support.hostile_server", "tests.support.papi_server", "tests.support.ws_server",
]

# Hypothesis' default deadline (200 ms an example) fails a property on a loaded 2-core CI machine,
# not on a bug: no deadline for the tests that keep the defaults. Example counts are each test's.
settings.register_profile("pmtui", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "pmtui"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Python's cyclic garbage collector was a quarter of a Textual test's CPU: every 700 new
    objects a young collection, and every so often a full one through the ~160,000 objects of the
    imported modules, test modules and collected items, none of which will ever be garbage.
    Freezing those (they are never scanned again) and collecting young objects every 10,000
    allocations instead cuts its time by about two thirds. Garbage is still collected, cycles later.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep a developer's own config, data, logs and PMTUI_* variables out of every test.

    platformdirs reads these variables on each call, so pointing them at a fresh folder makes
    `default_config_path()` (and any data/log dir) land inside the test's own tmp folder.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
        # A developer's running `pmtui daemon` stays out too: viewers attach to its socket.
        ("XDG_RUNTIME_DIR", "run"),
        ("APPDATA", "AppData/Roaming"),
        ("LOCALAPPDATA", "AppData/Local"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for var in list(os.environ):
        # PMTUI_REQUIRE_* are the suite's own switches (.ci/run's: no skipping), not pmtui's.
        if var.startswith("PMTUI_") and not var.startswith("PMTUI_REQUIRE_"):
            monkeypatch.delenv(var)
    # `snapshot` fits the terminal it runs in: the tests' tables are those of a 140-column one,
    # whatever terminal (or pytest-xdist worker) runs them. Tests of other widths set their own.
    monkeypatch.setenv("COLUMNS", "140")
    monkeypatch.setenv("LINES", "40")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """--debug adds file handlers to global loggers: take them away afterwards."""
    names = ("pmtui", "httpx", "httpcore")
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture
def live(monkeypatch, papi_server):
    """Environment pointing pmtui at the local PAPI imitation server."""
    # Imported here, not at the top: a plugin module imported before pytest registers it misses
    # pytest's assertion rewriting (PytestAssertRewriteWarning).
    from tests.support.papi_server import API_KEY, API_SECRET

    monkeypatch.setenv("PMTUI_BASE_URL", papi_server.base_url)
    monkeypatch.setenv("PMTUI_API_KEY", API_KEY)
    monkeypatch.setenv("PMTUI_API_SECRET", API_SECRET)
    return papi_server


@pytest.fixture
def exchange(monkeypatch):
    """`--demo` talks to the Canned transport made by this fixture's function."""
    from tests.cli.test_cli_risk import Canned  # imports the plugin modules: see `live`

    def install(**routes) -> Canned:
        canned = Canned(**routes)
        monkeypatch.setattr("pmtui.demo.DemoExchange", lambda **kwargs: canned)
        return canned

    return install
