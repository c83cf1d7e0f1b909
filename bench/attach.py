"""Viewers attached to `pmtui daemon` vs viewers polling on their own, on the local PAPI server.

Three phases of the same run, each over the same window, all at `--interval 1`:

  attached_1   the daemon and 1 `pmtui watch` attached to it
  attached_5   the daemon and 5 attached `pmtui watch`
  polling_5    5 `pmtui watch --no-attach` (no daemon): each polls the exchange itself

  weight_per_min_*        request weight the exchange saw per minute (budget.WEIGHTS per path)
  viewer_cpu_pct_*        CPU of one viewer (the median of them), % of one core
  daemon_cpu_pct_*        CPU of the daemon, % of one core

Targets (issue 23): attached weight is 1x whatever the number of viewers (attached_5 equals
attached_1), and an extra attached viewer costs no more CPU than a polling one. The exchange is
tests/support/papi_server.py on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cpu_seconds, emit, isolated_env, median, parse_args

from pmtui.budget import WEIGHTS
from tests.support.papi_server import API_KEY, API_SECRET, PapiServer

WARMUP_S = 8.0  # the viewers started in the phase have imported and attached by then


def weight(server: PapiServer) -> int:
    with server._lock:
        return sum(WEIGHTS.get(r.path, 1) for r in server.requests)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pmtui", *args, "--interval", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_socket(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no daemon socket at {path}")
        time.sleep(0.05)


def phase(server: PapiServer, viewers: list[subprocess.Popen[bytes]], daemon: subprocess.Popen[bytes] | None,
          window: float) -> tuple[float, float, float]:
    time.sleep(WARMUP_S)
    procs = viewers + ([daemon] if daemon else [])
    cpu0, w0, t0 = [cpu_seconds(p.pid) for p in procs], weight(server), time.perf_counter()
    time.sleep(window)
    cpu1, w1, t1 = [cpu_seconds(p.pid) for p in procs], weight(server), time.perf_counter()
    pct = [(b - a) / (t1 - t0) * 100 for a, b in zip(cpu0, cpu1, strict=True)]
    per_min = (w1 - w0) / (t1 - t0) * 60
    return per_min, median(pct[:len(viewers)]), pct[-1] if daemon else 0.0


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(15)


def measure(quick: bool) -> dict[str, float]:
    window = 15.0 if quick else 60.0
    server = PapiServer().start()
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as tmp:
            home = Path(tmp)
            env = isolated_env(home) | {"PMTUI_BASE_URL": server.base_url, "PMTUI_API_KEY": API_KEY,
                                        "PMTUI_API_SECRET": API_SECRET, "XDG_RUNTIME_DIR": str(home / "run")}
            (home / "run").mkdir(mode=0o700)
            daemon = start(["daemon"], env)
            try:
                wait_socket(home / "run" / "pmtui" / "daemon.sock")
                viewers = [start(["watch"], env)]
                figures["weight_per_min_attached_1"], figures["viewer_cpu_pct_attached_1"], \
                    figures["daemon_cpu_pct_attached_1"] = phase(server, viewers, daemon, window)
                viewers += [start(["watch"], env) for _ in range(4)]
                figures["weight_per_min_attached_5"], figures["viewer_cpu_pct_attached_5"], \
                    figures["daemon_cpu_pct_attached_5"] = phase(server, viewers, daemon, window)
                stop(viewers)
            finally:
                stop([daemon])
            viewers = [start(["watch", "--no-attach"], env) for _ in range(5)]
            try:
                figures["weight_per_min_polling_5"], figures["viewer_cpu_pct_polling_5"], _ = phase(
                    server, viewers, None, window)
            finally:
                stop(viewers)
    finally:
        server.stop()
    figures["weight_ratio_attached_5_vs_1"] = (figures["weight_per_min_attached_5"]
                                               / max(figures["weight_per_min_attached_1"], 1e-9))
    return figures


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
