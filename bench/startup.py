"""3. Start-up: process start to the first data painted by `pmtui --demo`, against
`python -c "import textual.app"`.

pmtui runs in an 80x24 pseudo-terminal; "first data painted" is the moment the terminal receives
the symbol of the largest demo position (BTCUSDT, which the positions table shows only once the
first refresh has been rendered). The baseline runs to its exit. Both start the same
interpreter, runs alternate, and the figure is the median.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, isolated_env, median, parse_args
from term import Terminal

MARKER = b"BTCUSDT"
PMTUI = [sys.executable, "-m", "pmtui", "--demo"]
BASELINE = [sys.executable, "-c", "import textual.app"]


def first_data(env: dict[str, str]) -> float:
    with Terminal(PMTUI, env=env, cwd=ROOT) as term:
        seconds = term.wait_for(MARKER, timeout=30)
    if seconds is None:
        raise RuntimeError(f"pmtui --demo painted no {MARKER.decode()} within 30 s:\n"
                           f"{bytes(term.output[-2000:])!r}")
    return seconds


def baseline(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(BASELINE, env=env, cwd=ROOT, check=True)
    return time.perf_counter() - start


def measure(quick: bool) -> dict[str, float]:
    runs = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as home:
        env = isolated_env(Path(home))
        baseline(env)  # warm the file cache and bytecode for both, untimed
        first_data(env)
        ours, base = [], []
        for _ in range(runs):
            ours.append(first_data(env))
            base.append(baseline(env))
    return {
        "first_data_s": median(ours),
        "import_textual_s": median(base),
        "first_data_ratio": median(ours) / median(base),
        "first_data_max_s": max(ours),
        "startup_runs": runs,
    }


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
