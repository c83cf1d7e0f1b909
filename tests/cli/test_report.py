"""`pmtui report` as a user types it, and its HTML page in a real headless chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat

import pytest

from pmtui.cli import main
from tests.cli.test_serve import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.tui.test_replay import record

SINCE = "2026-12-06T00:00+00:00"  # before the recording (test_replay's T0, 2026-12-06 23:33 UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "h.sqlite3"
    asyncio.run(record(path, refreshes=20))  # the demo's margin call: OK, WARN, DANGER
    return path


def test_report_prints_markdown_of_the_recorded_period(history, capsys):
    assert main(["report", "--demo", "--history-file", str(history), "--since", SINCE]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# pmtui report: demo\n")
    assert "| OK → WARN |" in out and "| WARN → DANGER |" in out
    assert "BTCUSDT: MM " in out  # the position that drove it (tests/core/test_report.py checks it is)
    assert "## Alerts" in out and "| fired | danger | liq\\_distance\\_below | BTCUSDT:BOTH |" in out


def test_report_writes_a_private_html_file(history, tmp_path, capsys):
    out = tmp_path / "night.html"
    out.write_text("an older report")
    os.chmod(out, 0o644)
    assert main(["report", "--demo", "--history-file", str(history), "--since", SINCE, "--format", "html",
                 "--output", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds account data
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "an older report" not in page
    assert capsys.readouterr().out == ""
    bad = tmp_path / "no-such-folder" / "r.html"
    assert main(["report", "--demo", "--history-file", str(history), "--since", SINCE, "--output", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"pmtui: error: Cannot write the report to {bad}: ") and err.count("\n") == 1


def test_no_recording_or_an_empty_period_is_one_sentence(history, tmp_path, capsys):
    missing = tmp_path / "none.sqlite3"
    assert main(["report", "--demo", "--history-file", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pmtui: error: Nothing recorded for profile demo in the last 24 hours") and \
        err.count("\n") == 1
    assert main(["report", "--demo", "--history-file", str(history), "--since", "2026-12-07T00:00+00:00"]) == 1
    assert "pmtui: error: Nothing recorded for profile demo since " in capsys.readouterr().err
    assert main(["report", "--demo", "--all-profiles"]) == 2
    assert "report reads one profile at a time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["report", "--demo", "--since", "yesterday-ish"])
    assert info.value.code == 2
    assert "is not a time" in capsys.readouterr().err


@pytest.mark.browser
def test_the_html_report_in_a_real_browser(history, tmp_path):
    browser = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if browser is None:
        require_browser(f"chromium is not installed ({CHROMIUM}): apt-get install chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_browser("Playwright is not installed: pip install -e '.[test]'")
    page_file = tmp_path / "report.html"
    assert main(["report", "--demo", "--history-file", str(history), "--since", SINCE, "--format", "html",
                 "--output", str(page_file)]) == 0
    url = page_file.as_uri()
    asked: list[str] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS, headless=True)
        context = chromium.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
        context.set_default_timeout(30_000)

        def only_the_file(route):
            asked.append(route.request.url)
            (route.continue_ if route.request.url == url else route.abort)()

        context.route("**/*", only_the_file)
        page = context.new_page()
        page.goto(url)
        box = page.locator("svg#unimmr-chart").bounding_box()
        line = page.locator("svg#unimmr-chart polyline").first.bounding_box()
        headings = page.locator("h2").all_inner_texts()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)  # pytest keeps recent tmp_paths
        chromium.close()
    assert asked == [url]  # self-contained: nothing else fetched
    assert box is not None and box["width"] > 500 and box["height"] > 200
    assert line is not None and line["width"] > 100 and line["height"] > 20  # the ratio fell: a real line
    assert headings == ["uniMMR", "Level changes", "Alerts", "Faults and data gaps"]
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
