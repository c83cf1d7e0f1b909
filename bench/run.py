"""Run pmtui's six benchmarks and write BENCHMARKS.md.

    python bench/run.py            full run (a few minutes), writes BENCHMARKS.md
    python bench/run.py --quick    fewer repetitions, under a minute; prints only, unless --write

Each benchmark runs in a process of its own (bench/<name>.py, which can also run alone) and
prints `name: value` lines; every figure is measured side by side with its baseline in the same
run and reported as a median. Timings are never pass/fail tests: this only reports them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from common import BENCH, ROOT, machine_info

MODULES = ("pipeline", "table_tick", "startup", "idle", "memory", "term_bytes", "push", "risk_engine", "record",
           "attach", "fleet", "big_book")


@dataclass(frozen=True)
class Target:
    figure: str
    label: str
    baseline: str  # the figure measured alongside, for context
    ratio: str | None  # the figure that is the ratio to the baseline, if any
    limit: float
    unit: str
    why: str  # the target, in words

    def met(self, value: float) -> bool:
        return value <= self.limit


TARGETS = (
    Target("pipeline_ratio", "Refresh pipeline (2000 rows, bytes -> table cells) / json.loads",
           "json_loads_ms", None, 3.0, "x", "<= 3x json.loads"),
    Target("table_tick_ratio", "Table update / clear + add_rows (2000 rows, 5% cells changed)",
           "table_rebuild_ms", None, 0.1, "x", "<= 1/10 of the rebuild"),
    Target("table_tick_ms", "Table update, median", "table_rebuild_ms", "table_tick_ratio",
           16.0, "ms", "< 16 ms (one frame)"),
    Target("table_frame_ms_2000", "Table update + paint (2000 rows, hedge, 5% cells changed)",
           "table_rebuild_frame_ms", None, 16.0, "ms", "<= 16 ms (one frame)"),
    Target("first_data_s", "Start-up to first data painted (--demo)", "import_textual_s",
           "first_data_ratio", 1.0, "s", "<= 1.0 s"),
    Target("idle_cpu_pct", "Idle CPU, 1 s interval, 80x24 (% of one core)", "baseline_idle_cpu_pct",
           "idle_cpu_ratio", 3.0, "%", "<= 3%"),
    Target("bytes_per_tick", "Bytes to the terminal per refresh, 80x24", "baseline_bytes_per_tick",
           "bytes_per_tick_ratio", 4096, "B", "<= 4 KB"),
    Target("bytes_per_refresh_80x24", "Bytes per refresh, 80x24 (bench/term_bytes.py)",
           "bytes_per_refresh_80x24_datatable", None, 4096, "B", "<= 4 KB"),
    Target("bytes_per_refresh_120x40", "Bytes per refresh, 120x40", "bytes_floor_120x40", None,
           6144, "B", "<= 6 KB"),
    Target("bytes_per_refresh_200x50", "Bytes per refresh, 200x50", "bytes_per_refresh_200x50_datatable",
           None, 8192, "B", "<= 8 KB"),
    Target("bytes_per_refresh_80x24_hedge", "Bytes per refresh, 80x24, hedge mode", "bytes_floor_80x24_hedge",
           None, 4096, "B", "<= 4 KB"),
    Target("bytes_floor_ratio_80x24", "Bytes per refresh / a perfect diff's, 80x24", "bytes_floor_80x24",
           None, 1.5, "x", "<= 1.5x the diff floor"),
    Target("bytes_floor_ratio_200x50", "Bytes per refresh / a perfect diff's, 200x50", "bytes_floor_200x50",
           None, 1.5, "x", "<= 1.5x the diff floor"),
    Target("cpu_ratio_vs_rich_live", "CPU, 80x24, 1 s refresh / a Rich Live script's (same demo data)",
           "cpu_pct_80x24_rich_live", None, 1.0, "x", "<= 1x the Rich Live script"),
    Target("bytes_ratio_vs_rich_live", "Bytes per refresh, 80x24 / the Rich Live script's",
           "bytes_per_refresh_80x24_rich_live", None, 1.0, "x", "<= 1x the Rich Live script"),
    Target("push_latency_ms", "Pushed riskLevelChange -> frame painted, median", "baseline_ws_roundtrip_ms",
           None, 100.0, "ms", "<= 100 ms"),
    Target("push_latency_max_ms", "Pushed riskLevelChange -> frame painted, max", "baseline_ws_roundtrip_ms",
           None, 100.0, "ms", "<= 100 ms"),
    Target("big_block_max_ms", "Longest event-loop step per refresh, 1,000 open positions, 80x24",
           "small_block_max_ms", None, 16.0, "ms", "<= 16 ms (one frame)"),
    Target("big_push_latency_ms", "Pushed riskLevelChange -> frame painted, 1,000 positions, median",
           "small_push_latency_ms", None, 100.0, "ms", "<= 100 ms"),
    Target("big_push_latency_max_ms", "Pushed riskLevelChange -> frame painted, 1,000 positions, max",
           "small_push_latency_max_ms", None, 100.0, "ms", "<= 100 ms"),
    Target("risk_engine_ms", "Risk engine: model + ladder (11 x 10 underlyings) + both liquidation "
           "searches, 200 positions (CPU)", "decimal_sum_ms", None, 20.0, "ms", "<= 20 ms on one core"),
    Target("record_bytes_per_day", "Recording: history file growth per account per day, every state, "
           "2 s interval, 13 positions", "raw_json_bytes_per_day", "record_ratio", 20 * 1024 * 1024, "B",
           "<= 20 MB a day"),
    Target("weight_ratio_attached_5_vs_1", "Exchange weight per minute, 5 viewers attached to the daemon / 1",
           "weight_per_min_polling_5", None, 1.05, "x", "<= 1x (N attached viewers cost one)"),
    Target("fleet_staleness_max_s_ranked_50", "50 accounts, one IP: how old the prices of any account's shown "
           "positions and liquidation distances are (the mark price stream's, else REST's)",
           "fleet_staleness_max_s_polling_50", None, 2.0, "s", "<= 2 s (issue 25)"),
    Target("warn_rest_age_max_s_ranked_50", "50 accounts: oldest REST data of an account at WARN",
           "warn_rest_age_max_s_polling_50", None, 5.0, "s", "<= 5 s"),
    Target("weight_per_min_ranked_50", "50 accounts: REST weight per minute", "weight_per_min_polling_50", None,
           3000, "", "<= 3,000 (the budget)"),
    Target("first_data_all_s_ranked_50", "50 accounts: start to first data for all (local server)",
           "first_data_all_s_polling_50", None, 3.0, "s", "<= 3 s"),
    Target("cpu_pct_ranked_50", "50 accounts: CPU, % of one core", "cpu_pct_polling_50", None, 25.0, "%", "<= 25%"),
    Target("rss_mb_ranked_50", "50 accounts: RSS", "rss_mb_polling_50", None, 200.0, "MB", "<= 200 MB"),
    Target("check_all_profiles_50_s", "`check --all-profiles`, 50 accounts, process start to exit",
           "check_one_profile_s", None, 10.0, "s", "<= 10 s (a Nagios check's timeout)"),
    Target("rss_growth_mb", "RSS growth, 100 -> last refresh", "rss_after_100_mb", "rss_ratio",
           5.0, "MB", "<= 5 MB"),
)

BASELINE_NAMES = {
    "small_block_max_ms": "the same, 12 positions (ms)",
    "small_push_latency_ms": "the same, 12 positions (ms)",
    "small_push_latency_max_ms": "the same, 12 positions (ms)",
    "json_loads_ms": "json.loads of the same bytes (ms)",
    "table_rebuild_ms": "a Textual DataTable's clear() + add_rows of the same rows (ms)",
    "import_textual_s": 'python -c "import textual.app" (s)',
    "baseline_idle_cpu_pct": "a Textual clock app, same pty (%)",
    "baseline_bytes_per_tick": "a Textual clock app, per 1 s tick (B)",
    "rss_after_100_mb": "RSS after 100 refreshes (MB)",
    "table_rebuild_frame_ms": "DataTable clear() + add_rows + paint (ms)",
    "bytes_per_refresh_80x24_datatable": "the DataTable-based tables of before, same run (B)",
    "bytes_per_refresh_200x50_datatable": "the DataTable-based tables of before, same run (B)",
    "bytes_floor_80x24": "a perfect diff of the same screens (B)",
    "bytes_floor_120x40": "a perfect diff of the same screens (B)",
    "bytes_floor_200x50": "a perfect diff of the same screens (B)",
    "bytes_floor_80x24_hedge": "a perfect diff of the same screens (B)",
    "cpu_pct_80x24_rich_live": "bench/rich_live.py, its own 80x24 pty, same window (% of one core)",
    "bytes_per_refresh_80x24_rich_live": "bench/rich_live.py, its own 80x24 pty, same window (B)",
    "baseline_ws_roundtrip_ms": "the same frame over a bare local WebSocket (ms)",
    "decimal_sum_ms": "a plain Decimal sum of the same book (ms)",
    "raw_json_bytes_per_day": "the same states as raw JSON documents, one per state (B a day)",
    "weight_per_min_polling_5": "5 viewers polling on their own, same run (weight per minute)",
    "fleet_staleness_max_s_polling_50": "today's polling (no mark stream), every account every interval, same run (s)",
    "warn_rest_age_max_s_polling_50": "today's polling, same run (s)",
    "weight_per_min_polling_50": "today's polling, same run",
    "first_data_all_s_polling_50": "today's polling, same run (s)",
    "cpu_pct_polling_50": "today's polling, same run (%)",
    "rss_mb_polling_50": "today's polling, same run (MB)",
    "check_one_profile_s": "`check --profile a00`, one account, same run (s)",
}


def run_module(name: str, quick: bool) -> dict[str, float]:
    cmd = [sys.executable, str(BENCH / f"{name}.py")] + (["--quick"] if quick else [])
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    figures: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        key, sep, value = line.partition(":")
        if sep:
            try:
                figures[key.strip()] = float(value)
            except ValueError:
                pass
    if proc.wait() != 0:
        raise SystemExit(f"bench/{name}.py failed (exit {proc.returncode})")
    print(f"# {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return figures


def fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def report(figures: dict[str, float], quick: bool, seconds: float, command: str,
           load: tuple[float, float] | None = None) -> str:
    info = machine_info()
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "# pmtui benchmarks",
        "",
        f"Measured {now} with `{command}` ({'quick' if quick else 'full'} mode, {seconds:.0f} s), "
        "written by bench/run.py; do not edit by hand.",
        "",
        f"Machine: {info['cpu']}; {info['os']}; Python {info['python']}, Textual {info['textual']}, "
        f"pydantic {info['pydantic']}. No display: the terminal figures come from a pseudo-terminal.",
        "",
    ]
    if load is not None:
        lines += [
            f"Load average (1 min) at the start and the end of the run: {load[0]:.2f} / {load[1]:.2f} "
            "(the machine is shared: other work may have run beside these figures).",
            "",
        ]
    lines += [
        "| Figure | Value | Baseline (same run) | Ratio | Target | Result |",
        "|---|---|---|---|---|---|",
    ]
    for t in TARGETS:
        value = figures.get(t.figure)
        if value is None:
            continue
        base = figures.get(t.baseline)
        ratio_value = figures.get(t.ratio) if t.ratio else value if t.unit == "x" else None
        base_text = f"{fmt(base)} — {BASELINE_NAMES[t.baseline]}" if base is not None else "—"
        lines.append(
            f"| {t.label} | **{fmt(value)} {t.unit}** | {base_text} | "
            f"{fmt(ratio_value) + 'x' if ratio_value is not None else '—'} | {t.why} | "
            f"{'pass' if t.met(value) else '**miss**'} |"
        )
    lines += ["", "All figures of this run (`name: value`, medians; ms, s, %, bytes, MB):", "", "```"]
    lines += [f"{name}: {fmt(value)}" for name, value in figures.items()]
    lines += ["```", ""]
    notes = BENCH / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    parser.add_argument("--write", action="store_true", help="with --quick: write BENCHMARKS.md anyway")
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these (never writes)")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures: dict[str, float] = {}
    for name in args.only or MODULES:
        figures.update(run_module(name, args.quick))
    seconds = time.perf_counter() - started
    print(f"# total: {seconds:.1f} s ({'quick' if args.quick else 'full'})")
    for t in TARGETS:
        if t.figure in figures:
            print(f"# {t.figure}: {fmt(figures[t.figure])} {t.unit} target {t.why}: "
                  f"{'pass' if t.met(figures[t.figure]) else 'MISS'}")
    if args.only or (args.quick and not args.write):
        return 0
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    load = (load_before, os.getloadavg()[0])
    (ROOT / "BENCHMARKS.md").write_text(report(figures, args.quick, seconds, command, load))
    print("# wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
