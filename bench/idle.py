"""4. Idle cost: `pmtui --demo --interval 1` left running in an 80x24 pseudo-terminal.

  idle_cpu_pct    CPU time of the process (utime + stime from /proc/<pid>/stat) over the window,
                  as a share of one core. The demo exchange runs inside the process, so its
                  work (building and signing-checking each response) is included.
  bytes_per_tick  bytes written to the terminal over the window / refreshes in the window: what
                  an SSH session carries per refresh. Only prices move in the demo.

The terminal claims truecolor (TERM=xterm-256color, COLORTERM=truecolor), the most bytes per
colour. OpenSSH does not forward COLORTERM by default, so a third pty runs the same dashboard
without it (256 colours): bytes_per_tick_256color.

The baseline runs at the same time in another 80x24 pty: a Textual app that updates one Static
with the time every second (bench/clock_app.py), the floor for any once-a-second Textual screen.
Its bytes are per tick (per second). The window starts 2 s after the first data is painted and is
read in 5 s chunks; each figure is the median over the chunks.
"""

from __future__ import annotations

import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from common import BENCH, ROOT, cpu_seconds, emit, isolated_env, median, parse_args
from term import Terminal

MARKER = b"BTCUSDT"  # both programs paint it once they show data
WARMUP_S = 2.0
CHUNK_S = 5.0


def measure(quick: bool) -> dict[str, float]:
    window = 15.0 if quick else 60.0
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as tmp:
        home = Path(tmp)
        env = isolated_env(home)
        counter, counter_256 = home / "refreshes", home / "refreshes-256"
        env_256 = {k: v for k, v in env.items() if k != "COLORTERM"}
        env["BENCH_COUNT_FILE"], env_256["BENCH_COUNT_FILE"] = str(counter), str(counter_256)
        pmtui = [sys.executable, str(BENCH / "counted_pmtui.py"), "--demo", "--interval", "1"]
        clock = [sys.executable, str(BENCH / "clock_app.py")]
        with Terminal(pmtui, env=env, cwd=ROOT) as ours, Terminal(clock, env=env, cwd=ROOT) as base, \
                Terminal(pmtui, env=env_256, cwd=ROOT) as ours_256:
            terms = (ours, base, ours_256)
            for term in terms:
                if term.wait_for(MARKER, timeout=30) is None:
                    raise RuntimeError(f"no data painted: {bytes(term.output[-2000:])!r}")
            for term in terms:
                term.drain(WARMUP_S / len(terms))

            def sample() -> tuple[float, float, float, int, int, int, int, int]:
                return (time.perf_counter(), cpu_seconds(ours.pid), cpu_seconds(base.pid),
                        ours.bytes_read, base.bytes_read, int(counter.read_bytes() or 0),
                        ours_256.bytes_read, int(counter_256.read_bytes() or 0))

            samples = [sample()]
            end = samples[0][0] + window
            while end - time.perf_counter() > 0:  # read all, so none blocks on a full pty
                for term in terms:
                    term.read(min(max(0.0, end - time.perf_counter()), 0.1))
                if time.perf_counter() - samples[-1][0] >= CHUNK_S or time.perf_counter() >= end:
                    samples.append(sample())

    # Per chunk of CHUNK_S seconds: CPU share, bytes per refresh; the figures are their medians.
    chunks = list(pairwise(samples))

    def per_chunk(fn) -> float:
        return median([fn(a, b) for a, b in chunks])

    def share(i: int):
        return lambda a, b: 100 * (b[i] - a[i]) / (b[0] - a[0])

    def per_refresh(i: int, r: int):
        return lambda a, b: (b[i] - a[i]) / max(1, b[r] - a[r])

    first, last = samples[0], samples[-1]
    cpu, base_cpu = per_chunk(share(1)), per_chunk(share(2))
    per_tick = per_chunk(per_refresh(3, 5))
    base_per_tick = per_chunk(lambda a, b: (b[4] - a[4]) / (b[0] - a[0]))
    return {
        "idle_cpu_pct": cpu,
        "bytes_per_tick": per_tick,
        "baseline_idle_cpu_pct": base_cpu,
        "baseline_bytes_per_tick": base_per_tick,
        "idle_cpu_ratio": cpu / max(1e-9, base_cpu),
        "bytes_per_tick_ratio": per_tick / max(1.0, base_per_tick),
        "bytes_per_tick_256color": per_chunk(per_refresh(6, 7)),
        "idle_cpu_pct_whole_window": 100 * (last[1] - first[1]) / (last[0] - first[0]),
        "idle_refreshes": last[5] - first[5],
        "idle_window_s": last[0] - first[0],
        "idle_chunks": len(chunks),
    }


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
