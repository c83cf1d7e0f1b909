"""4. Idle cost: `pmtui --demo --interval 1` left running in an 80x24 pseudo-terminal.

  idle_cpu_pct    CPU time of the process (utime + stime from /proc/<pid>/stat) over the window,
                  as a share of one core. The demo exchange runs inside the process, so its
                  work (building and signing-checking each response) is included.
  bytes_per_tick  bytes written to the terminal over the window / refreshes in the window: what
                  an SSH session carries per refresh. Only prices move in the demo.

The baseline runs at the same time in a second 80x24 pty: a Textual app that updates one Static
with the time every second (bench/clock_app.py), the floor for any once-a-second Textual screen.
Its bytes are per tick (per second). The window starts 2 s after the first data is painted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import BENCH, ROOT, cpu_seconds, emit, isolated_env, parse_args
from term import Terminal

MARKER = b"BTCUSDT"  # both programs paint it once they show data
WARMUP_S = 2.0


def measure(quick: bool) -> dict[str, float]:
    window = 15.0 if quick else 60.0
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as tmp:
        home = Path(tmp)
        env = isolated_env(home)
        counter = home / "refreshes"
        env["BENCH_COUNT_FILE"] = str(counter)
        pmtui = [sys.executable, str(BENCH / "counted_pmtui.py"), "--demo", "--interval", "1"]
        clock = [sys.executable, str(BENCH / "clock_app.py")]
        with Terminal(pmtui, env=env, cwd=ROOT) as ours, Terminal(clock, env=env, cwd=ROOT) as base:
            for term in (ours, base):
                if term.wait_for(MARKER, timeout=30) is None:
                    raise RuntimeError(f"no data painted: {bytes(term.output[-2000:])!r}")
            for term in (ours, base):
                term.drain(WARMUP_S / 2)

            def sample() -> tuple[float, float, float, int, int, int]:
                return (time.perf_counter(), cpu_seconds(ours.pid), cpu_seconds(base.pid),
                        ours.bytes_read, base.bytes_read, int(counter.read_bytes() or 0))

            t0, ours_cpu0, base_cpu0, ours_b0, base_b0, refresh0 = sample()
            end = t0 + window
            while (left := end - time.perf_counter()) > 0:  # read both, so neither blocks on a full pty
                ours.read(min(left, 0.2))
                base.read(min(max(0.0, end - time.perf_counter()), 0.2))
            t1, ours_cpu1, base_cpu1, ours_b1, base_b1, refresh1 = sample()
    elapsed = t1 - t0
    refreshes = refresh1 - refresh0
    return {
        "idle_cpu_pct": 100 * (ours_cpu1 - ours_cpu0) / elapsed,
        "bytes_per_tick": (ours_b1 - ours_b0) / max(1, refreshes),
        "baseline_idle_cpu_pct": 100 * (base_cpu1 - base_cpu0) / elapsed,
        "baseline_bytes_per_tick": (base_b1 - base_b0) / elapsed,
        "idle_cpu_ratio": (ours_cpu1 - ours_cpu0) / max(1e-9, base_cpu1 - base_cpu0),
        "bytes_per_tick_ratio": ((ours_b1 - ours_b0) / max(1, refreshes)) / max(1.0, (base_b1 - base_b0) / elapsed),
        "idle_refreshes": refreshes,
        "idle_window_s": elapsed,
        "idle_bytes_per_s": (ours_b1 - ours_b0) / elapsed,
    }


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
