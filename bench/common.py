"""Shared helpers: command line, timing, output, the mounted-table harness and process tools.

Every benchmark module can run alone (`python bench/pipeline.py [--quick]`) and prints
`name: value` lines; bench/run.py runs them all, each in its own process, and collects the lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))
BENCH = ROOT / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import pmtui  # noqa: E402

APP_CSS = Path(pmtui.__file__).parent / "tui" / "app.tcss"


def parse_args(doc: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    return parser.parse_args()


def median(values: list[float]) -> float:
    return statistics.median(values)


def time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def emit(figures: dict[str, float | int | str]) -> None:
    """Print `name: value` lines (floats to 4 significant digits)."""
    for name, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
        print(f"{name}: {value}", flush=True)


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a child pmtui: a fresh home, so no developer config or PMTUI_* vars
    change what is measured, and a common SSH-client terminal type."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMTUI_", "TEXTUAL"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        TERM="xterm-256color",
        COLORTERM="truecolor",
        LANG=os.environ.get("LANG", "C.UTF-8"),
    )
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    # An installed pmtui runs from bytecode (pip compiles it); a PYTHONDONTWRITEBYTECODE in the
    # developer's shell would make every measured start compile pmtui's sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()  # after "(comm)": field 3 onwards
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def machine_info() -> dict[str, str]:
    import platform

    import pydantic
    import textual

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "textual": textual.__version__,
        "pydantic": pydantic.__version__,
    }
