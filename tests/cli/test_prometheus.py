"""The metrics against the real thing: Debian's `prometheus` scrapes `pmtui --demo daemon
--metrics-address` on 127.0.0.1 and its HTTP API answers pmtui_unimmr with the figure the daemon
logged; `promtool` passes the exposition and deploy/prometheus/pmtui.rules.yml, which the same
Prometheus loads.

Without `prometheus`/`promtool` installed these skip, unless PMTUI_REQUIRE_PROMETHEUS=1 (.ci/run
installs Debian's package and sets it, so CI cannot skip them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "pmtui.rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "pmtui.json"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install prometheus; .ci/run does)"
        if os.environ.get("PMTUI_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message + " and PMTUI_REQUIRE_PROMETHEUS=1")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float, why=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {why()}")
        time.sleep(0.1)


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def test_promtool_passes_the_alerting_rules():
    done = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_prometheus_scrapes_the_daemon_and_answers_its_unimmr(tmp_path: Path):
    """`pmtui daemon` as systemd would run it, with metrics on; Prometheus scrapes it."""
    import re
    import shutil
    import tempfile

    prometheus, promtool = tool("prometheus"), tool("promtool")
    # Both start at once: Prometheus 2.x's scrape manager takes its first targets ~5 s after start.
    target = f"127.0.0.1:{free_port()}"
    run_dir = Path(tempfile.mkdtemp(prefix="pmtui-", dir="/tmp"))  # a Unix socket's path is short
    watch = subprocess.Popen(
        [sys.executable, "-m", "pmtui", "--demo", "daemon", "--metrics-address", target,
         "--socket", str(run_dir / "daemon.sock")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {json.dumps(str(RULES))}\n"
        "scrape_configs:\n  - job_name: pmtui\n"
        f"    static_configs:\n      - targets: [{json.dumps(target)}]\n")
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    printed: list[str] = []  # the uniMMR of each of the daemon's lines (4 places, as watch says it)
    said: list[str] = []  # the daemon's log (stderr)

    def read_errors() -> None:
        for line in watch.stderr:  # type: ignore[union-attr]
            said.append(line)
            if (found := re.search(r" · uniMMR (\d+\.\d+) · ", line)) is not None:
                printed.append(found.group(1))

    threading.Thread(target=read_errors, daemon=True).start()
    try:
        # The exposition itself, as promtool lints it (names, units, types, HELP).
        wait_for(lambda: printed and said, "the daemon's first line", 20, why=lambda: "".join(said))
        assert said[0] == f"pmtui: metrics on http://{target}/metrics\n"
        scraped = httpx.get(f"http://{target}/metrics", timeout=5).text
        assert "pmtui_unimmr{" in scraped
        lint = subprocess.run([promtool, "check", "metrics"], input=scraped, capture_output=True, text=True,
                              timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        api = f"http://127.0.0.1:{port}/api/v1"
        answer: list[float] = []

        def answered() -> bool:
            try:
                result = httpx.get(f"{api}/query", params={"query": "pmtui_unimmr"}, timeout=2).json()["data"]["result"]
            except (httpx.HTTPError, ValueError, KeyError):
                return False  # not listening yet
            if not result:
                return False
            answer[:] = [float(result[0]["value"][1])]
            assert result[0]["metric"] == {"__name__": "pmtui_unimmr", "profile": "demo", "instance": target,
                                           "job": "pmtui"}
            # The figure of a state the daemon logged too, there to 4 places (a scrape may run a
            # line ahead of it).
            return any(abs(answer[0] - float(u)) < 0.0001 for u in printed)

        wait_for(answered, "Prometheus to answer pmtui_unimmr with a uniMMR the daemon logged", 20,
                 why=lambda: f"Prometheus said {answer}, the daemon logged {printed[-5:]}")
        assert answer[0] > 1  # the demo's normal scenario: a real figure, not a 0 stand-in
        groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
        assert [(g["name"], len(g["rules"])) for g in groups] == [("pmtui", 10)]
        # Every query of the Grafana dashboard is PromQL this Prometheus runs, and finds data (but
        # the risk model's move, absent while the model does not reconcile with Binance's uniMMR).
        def empty() -> list[str]:
            missing = []
            for expr in dashboard_queries():
                body = httpx.get(f"{api}/query", params={"query": expr.replace("$profile", ".*")}, timeout=5).json()
                assert body["status"] == "success", (expr, body)
                if not body["data"]["result"] and "pmtui_liquidation_move_ratio" not in expr:
                    missing.append(expr)  # rate() needs a second scrape
            return missing

        wait_for(lambda: not empty(), "data for every dashboard query", 10, why=empty)
    finally:
        server.terminate()
        server.wait(timeout=15)
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=15) == 0  # the daemon's clean stop, as under systemd
        shutil.rmtree(run_dir, ignore_errors=True)
