"""Fifty accounts on one IP: freshness, REST weight, first data, CPU, RSS and `check --all-profiles`,
with the fleet's risk-ranked cadence (pmtui.cadence) beside today's polling measured in the same run.

Each fleet runs in a process of its own (`--run`), watching N profiles of a config file on local
test exchanges (tests/support/papi_server.py and ws_server.py, in a process of their own:
`--serve`, 127.0.0.1 only) as `pmtui watch --all-profiles` would: one weight budget, every
account's user data stream live. One account in 25 sits at WARN (uniMMR 1.35), the rest are
calm. "polling" is today's cadence (every account asks every `interval` s and the budget serves
whoever asks first); "ranked" is the fleet's plan. The four fleets (20 and 50 accounts, each
way) run at once, each on exchanges of its own, so the run takes about two minutes.

Figures, per mode and fleet size (`_polling_` is the baseline); ages, weight and CPU from SETTLE s
after first data for all to the end:
- first_data_all_s: start to the last account's first data.
- fleet_rest_age_max_s: the oldest REST data of any account (what a person sees in "updated N s
  ago"); warn_rest_age_max_s: the same for the accounts at WARN.
- fleet_staleness_max_s: how far behind the latest data any account is, counting an account
  whose stream is live as current up to its planned reconcile (the age pmtui judges staleness
  and "No fresh data" by: Monitor._late_age). Prices between refreshes come with the mark price
  stream (issue 25), not measured here.
- weight_per_min: REST weight sent per minute (the budget holds 3,000).
- cpu_pct: CPU of the fleet's process, % of one core; rss_mb: its resident memory at the end.
- check_all_profiles_50_s: `pmtui check --all-profiles` of 50 accounts, process start to exit,
  beside check_one_profile_s: one account's (the process start and imports alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, isolated_env, parse_args

SIZES = (20, 50)
#: Seconds after first data for all before ages are sampled: the start's burst of first refreshes
#: (50 accounts' full refreshes are ~2,750 weight, a minute of the budget) settles first.
SETTLE = 15.0
MODES = ("polling", "ranked")
WARN_EVERY = 25  # one account in 25 at WARN: 1 of 20, 2 of 50


# --- the exchanges (a process of their own) ---------------------------------------------------------

async def serve() -> None:
    from tests.support.papi_server import PM_ACCOUNT, PapiServer, pm_account_body
    from tests.support.ws_server import WsServer

    calm, warn = PapiServer().start(), PapiServer().start()
    body = pm_account_body(0)
    body["uniMMR"] = "1.35"
    warn.set_body(PM_ACCOUNT, body)
    ws = await WsServer().start()
    print(json.dumps({"calm": calm.base_url, "warn": warn.base_url, "ws": ws.url}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes it
    await ws.stop()
    calm.stop()
    warn.stop()


def start_exchanges(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def write_config(path: Path, n: int, urls: dict[str, str]) -> None:
    from tests.support.papi_server import API_KEY, API_SECRET

    lines = []
    for i in range(n):
        base = urls["warn"] if i % WARN_EVERY == 0 else urls["calm"]
        lines += [f"[profiles.a{i:02d}]", f'api_key = "{API_KEY}"', f'api_secret = "{API_SECRET}"',
                  f'base_url = "{base}"', f'stream_url = "{urls["ws"]}"', ""]
    path.write_text("\n".join(lines))
    path.chmod(0o600)


# --- one fleet (a process of its own) -------------------------------------------------------------

async def run_fleet(mode: str, config: Path, seconds: float) -> dict[str, float]:
    from pmtui.fleet import Fleet, FleetOptions
    from pmtui.health import Level

    fleet = Fleet.build(FleetOptions(all_profiles=True, config=config), stream=True)
    monitors = [a.monitor for a in fleet.watched if a.monitor is not None]
    if mode == "polling":
        for m in monitors:
            m.pacer = None  # today's cadence: every account at its interval, first come first served
    assert fleet.budget is not None
    started = time.perf_counter()
    tasks = [asyncio.create_task(m.run()) for m in monitors]
    first_all: float | None = None
    cpu0 = sent0 = 0.0
    window_start = 0.0
    ages: list[float] = []
    warn_ages: list[float] = []
    late: list[float] = []
    while time.perf_counter() - started < seconds:
        await asyncio.sleep(0.25)
        if first_all is None:
            if all(m.poller.data is not None for m in monitors):
                first_all = time.perf_counter() - started
            continue
        if not window_start:
            if time.perf_counter() - started < first_all + SETTLE:
                continue
            window_start, cpu0, sent0 = time.perf_counter(), time.process_time(), fleet.budget.sent
        for m in monitors:
            age, behind = m.poller.age(), m._late_age()
            if age is not None:
                ages.append(age)
                if (m.level() or Level.OK) >= Level.WARN:
                    warn_ages.append(age)
            if behind is not None:
                late.append(behind)
    window = time.perf_counter() - window_start
    cpu = time.process_time() - cpu0
    sent = fleet.budget.sent - sent0
    pushed = sum(m.pushed for m in monitors)
    for task in tasks:
        task.cancel()
    await fleet.aclose()
    return {
        "first_data_all_s": first_all if first_all is not None else float("nan"),
        "fleet_rest_age_max_s": max(ages, default=float("nan")),
        "warn_rest_age_max_s": max(warn_ages, default=float("nan")),
        "fleet_staleness_max_s": max(late, default=float("nan")),
        "weight_per_min": sent * 60 / window if window > 0 else float("nan"),
        "cpu_pct": 100 * cpu / window if window > 0 else float("nan"),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "streams_live": pushed,
    }


# --- the bench --------------------------------------------------------------------------------------

def check_seconds(env: dict[str, str], config: Path, *which: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pmtui", "--config", str(config), "check", *which],
                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def measure(quick: bool) -> dict[str, float]:
    seconds = 80.0 if quick else 110.0
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-fleet-") as home:
        env = isolated_env(Path(home))
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
        servers, runs = [], []
        try:
            for n in SIZES:
                for mode in MODES:
                    server, urls = start_exchanges(env)
                    servers.append(server)
                    config = Path(home) / f"{mode}-{n}.toml"
                    write_config(config, n, urls)
                    # 50 accounts' first full refreshes alone are ~2,750 weight: a minute of the budget.
                    runs.append((n, mode, subprocess.Popen(
                        [sys.executable, __file__, "--run", mode, str(config), str(seconds + (30 if n > 20 else 0))],
                        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE)))
            for n, mode, proc in runs:
                out, _ = proc.communicate()
                for name, value in json.loads(out.strip().splitlines()[-1]).items():
                    figures[f"{name}_{mode}_{n}"] = value
            # `check --all-profiles` of 50 accounts once the fleets are done, beside one account's.
            config = Path(home) / "ranked-50.toml"
            check_seconds(env, config, "--profile", "a00")  # warm the file cache and bytecode, untimed
            for which, name in ((("--all-profiles",), "check_all_profiles_50_s"),
                                (("--profile", "a00"), "check_one_profile_s")):
                figures[name] = min(check_seconds(env, config, *which) for _ in range(1 if quick else 3))
        finally:
            for server in servers:
                assert server.stdin is not None
                server.stdin.close()
                server.wait(10)
    return figures


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(serve())
    elif "--run" in sys.argv:
        i = sys.argv.index("--run")
        mode, config, seconds = sys.argv[i + 1], Path(sys.argv[i + 2]), float(sys.argv[i + 3])
        print(json.dumps(asyncio.run(run_fleet(mode, config, seconds))), flush=True)
    else:
        emit(measure(parse_args(__doc__).quick))
