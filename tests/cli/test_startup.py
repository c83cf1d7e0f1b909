"""Start-up to first data (issue 25): `pmtui --demo` imports only what its first screen needs.

The dashboard is built as `pmtui --demo` builds it, in a process of its own, and the modules
loaded when it would start running are listed (the terminal is never taken over)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Modules the first screen does without: the commands, the WebSocket client (the demo streams from
#: memory; a real stream imports it when it connects), httpx's command-line client (click,
#: pygments), alert delivery, metrics, replay, the report, the web server, private-key signing.
NOT_AT_START = (
    "pmtui.commands", "websockets.asyncio.client", "httpx._main", "click",
    "pygments.lexers", "apprise", "prometheus_client", "pmtui.metrics", "pmtui.replay", "pmtui.report",
    "aiohttp", "cryptography",
)

CODE = f"""
import sys
from pmtui.tui import terminal

def run(guard):
    assert type(guard.app).__name__ == "PmtuiApp"
    print(sorted(m for m in {NOT_AT_START!r} if sys.modules.get(m) is not None))
    return 0

terminal.TerminalGuard.run = run
from pmtui.cli import main
raise SystemExit(main(["--demo"]))
"""


def test_the_demo_dashboard_starts_without_what_its_first_screen_does_not_show(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTUI_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
