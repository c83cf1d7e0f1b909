"""6. Bytes a refresh sends to a real terminal, and how far that is from a perfect diff.

`pmtui --demo --interval 1` runs in pseudo-terminals of 80x24, 120x40 and 200x50 (and 80x24 in
hedge mode), all at once; bench/counted_pmtui.py counts the refreshes. Beside them, in the same
run: the dashboard with its frames sent as Textual writes them (PMTUI_SCREEN_DIFF=0, `_nodiff`),
and the dashboard of before issue 12 (the DataTable-based tables of bench/datatable_pmtui.py and
no screen diff, `_datatable`) at 80x24 and 200x50: the baselines.

  bytes_per_refresh_<size>   bytes read from the pty over the window / refreshes served.
  bytes_floor_<size>         what a perfect diff would have needed for the same screens: the
                             captured stream is replayed into a `pyte` screen; after each burst
                             of output (a frame) the cells that differ from the previous frame
                             are counted as the bytes of their characters, a cursor move to each
                             run of changed cells (runs closer than 6 cells are bridged, writing
                             the cells between), and an SGR sequence (its real length: truecolor
                             colours, bold...) wherever the style differs from the last written.
  bytes_floor_ratio_<size>   bytes_per_refresh / floor per refresh (target <= 1.5).
  cpu_ratio_vs_rich_live     CPU per refresh served of pmtui at 80x24 over the window / that of
                             bench/rich_live.py (the open positions in a Rich Live table from the
                             same demo exchange, one redraw per fetch) in its own 80x24 pty, same
                             window (cpu_pct_ratio_vs_rich_live: the same, per second).
  bytes_ratio_vs_rich_live   bytes per refresh, pmtui at 80x24 / the Rich Live script.

Only prices move in the demo, plus the clock and ages in the header and status bar (which the
floor counts too). The window starts 2 s after the first data is painted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyte
from common import BENCH, ROOT, cpu_seconds, emit, isolated_env, parse_args
from term import Terminal

MARKER = b"BTCUSDT"
WARMUP_S = 2.0
BRIDGE = 6  # unchanged cells a diff rewrites rather than move the cursor past them

RUNS = (  # name, program, cols, rows, extra arguments
    ("80x24", "counted_pmtui.py", 80, 24, ()),
    ("120x40", "counted_pmtui.py", 120, 40, ()),
    ("200x50", "counted_pmtui.py", 200, 50, ()),
    ("80x24_hedge", "counted_pmtui.py", 80, 24, ("--hedge",)),
    ("80x24_nodiff", "counted_pmtui.py", 80, 24, ()),  # the new table, frames as Textual writes them
    ("80x24_datatable", "datatable_pmtui.py", 80, 24, ()),  # before issue 12: both off
    ("200x50_datatable", "datatable_pmtui.py", 200, 50, ()),
    ("80x24_rich_live", "rich_live.py", 80, 24, ()),  # a ~60-line Rich Live script, same data
)
NO_DIFF = ("_nodiff", "_datatable")  # runs with PMTUI_SCREEN_DIFF=0


def _colour_len(colour: str, base: int) -> int:
    """Length of the SGR parameters for a pyte colour ('default', a name, or 6 hex digits)."""
    if colour == "default":
        return 2
    if len(colour) == 6:
        try:
            r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            return 2
        return len(f"{base};2;{r};{g};{b}")
    return 2


def _sgr_len(char: pyte.screens.Char) -> int:
    params = [_colour_len(char.fg, 38), _colour_len(char.bg, 48)]
    params += [1 for flag in (char.bold, char.italics, char.underscore, char.reverse, char.strikethrough) if flag]
    return 3 + sum(params) + len(params) - 1  # ESC [ ... m, ';' between


def _style(char: pyte.screens.Char) -> tuple:
    return (char.fg, char.bg, char.bold, char.italics, char.underscore, char.reverse, char.strikethrough)


def diff_floor(bursts: list[bytes], cols: int, rows: int, skip: int) -> int:
    """Bytes a perfect diff needs for every frame after the first `skip` bursts."""
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    previous: list[list[tuple]] | None = None
    total = 0
    for n, burst in enumerate(bursts):
        stream.feed(burst)
        current = [[(c.data, _style(c)) for c in (screen.buffer[y][x] for x in range(cols))] for y in range(rows)]
        if previous is not None and n >= skip:
            last_style = None
            for y in range(rows):
                changed = [x for x in range(cols) if current[y][x] != previous[y][x]]
                if not changed:
                    continue
                runs: list[list[int]] = [[changed[0], changed[0]]]
                for x in changed[1:]:
                    if x - runs[-1][1] <= BRIDGE:
                        runs[-1][1] = x
                    else:
                        runs.append([x, x])
                for start, end in runs:
                    total += len(f"\x1b[{y + 1};{start + 1}H")
                    for x in range(start, end + 1):
                        char = screen.buffer[y][x]
                        style = _style(char)
                        if style != last_style:
                            total += _sgr_len(char)
                            last_style = style
                        total += len(char.data.encode()) or 0
        previous = current
    return total


def measure(quick: bool) -> dict[str, float]:
    window = 10.0 if quick else 30.0
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as tmp:
        home = Path(tmp)
        terms: list[tuple[str, Terminal, Path, int, int]] = []
        try:
            for name, program, cols, rows, extra in RUNS:
                env = isolated_env(home / name)
                counter = home / f"refreshes-{name}"
                env["BENCH_COUNT_FILE"] = str(counter)
                env["PYTHONPATH"] = f"{ROOT}:{BENCH}"
                if name.endswith(NO_DIFF):
                    env["PMTUI_SCREEN_DIFF"] = "0"
                argv = [sys.executable, str(BENCH / program), "--demo", "--interval", "1", *extra]
                terms.append((name, Terminal(argv, cols=cols, rows=rows, env=env, cwd=ROOT), counter, cols, rows))
            for name, term, *_ in terms:
                if term.wait_for(MARKER, timeout=60) is None:
                    raise RuntimeError(f"{name}: no data painted: {bytes(term.output[-2000:])!r}")
            end = time.perf_counter() + WARMUP_S
            while time.perf_counter() < end:
                for _, term, *_ in terms:
                    term.read(0.02)
            # The window: every burst read, per terminal (a burst is a frame, or most of one).
            bursts: dict[str, list[bytes]] = {name: [bytes(term.output)] for name, term, *_ in terms}
            start = {name: (term.bytes_read, int(counter.read_bytes() or 0), cpu_seconds(term.pid))
                     for name, term, counter, *_ in terms}
            began = time.perf_counter()
            end = began + window
            while time.perf_counter() < end:
                for name, term, *_ in terms:
                    data = term.read(0.02)
                    if data:
                        bursts[name].append(data)
            cpu = {name: cpu_seconds(term.pid) - start[name][2] for name, term, *_ in terms}
            elapsed = time.perf_counter() - began
            for name, term, counter, cols, rows in terms:
                read0, count0, _ = start[name]
                refreshes = max(1, int(counter.read_bytes() or 0) - count0)
                sent = term.bytes_read - read0
                figures[f"bytes_per_refresh_{name}"] = sent / refreshes
                floor = diff_floor(bursts[name], cols, rows, skip=1) / refreshes
                figures[f"bytes_floor_{name}"] = floor
                figures[f"bytes_floor_ratio_{name}"] = (sent / refreshes) / max(1.0, floor)
                figures[f"refreshes_{name}"] = refreshes
                figures[f"cpu_pct_{name}"] = 100 * cpu[name] / elapsed
                figures[f"cpu_ms_per_refresh_{name}"] = 1000 * cpu[name] / refreshes
        finally:
            for _, term, *_ in terms:
                term.close()
    # Per refresh served: both sleep their interval after each refresh, and the Rich script's
    # refresh takes longer (its redraw), so it serves ~3% fewer refreshes in the same window.
    figures["cpu_ratio_vs_rich_live"] = (figures["cpu_ms_per_refresh_80x24"]
                                         / max(1e-9, figures["cpu_ms_per_refresh_80x24_rich_live"]))
    figures["cpu_pct_ratio_vs_rich_live"] = figures["cpu_pct_80x24"] / max(1e-9, figures["cpu_pct_80x24_rich_live"])
    figures["bytes_ratio_vs_rich_live"] = (figures["bytes_per_refresh_80x24"]
                                           / max(1.0, figures["bytes_per_refresh_80x24_rich_live"]))
    figures["term_bytes_window_s"] = window
    return figures


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
