"""Fifty accounts on one IP: freshness, REST weight, first data, CPU, RSS and `check --all-profiles`,
with the fleet's risk-ranked cadence (pmtui.cadence) beside today's polling measured in the same run.

Each fleet runs in a process of its own (`--run`), watching N profiles of a config file on local
test exchanges (tests/support/papi_server.py and ws_server.py, in a process of their own:
`--serve`, 127.0.0.1 only) as `pmtui watch --all-profiles` would: one weight budget, every
account's user data stream live. One account in 25 sits at WARN (uniMMR 1.35), the rest are
calm. "polling" is today's cadence (every account asks every `interval` s and the budget serves
whoever asks first; no mark price stream, no start-up loan); "ranked" is stream-first: the
fleet's plan, and the public mark price stream (`market_stream_url`) served by the same process
on 127.0.0.1, a `!markPrice@arr@1s` frame each second with every symbol the exchanges hold,
prices moving. The four fleets (20 and 50 accounts, each way) run at once, each on exchanges of
its own, started START_GAP s apart (one start at a time), so the run takes about two and a half
minutes, then `check --all-profiles`.

Figures, per mode and fleet size (`_polling_` is the baseline); ages, weight and CPU from SETTLE s
after first data for all to the end, sampled every 0.25 s:
- first_data_all_s: start to the last account's first data (its positions on screen).
- fleet_staleness_max_s: how old the prices of any account's shown positions (and so its uPnL and
  liquidation distances) are at most: the event time of the stream's mark it shows, else (REST's
  price) the age of the REST data, against the clock now.
- fleet_rest_age_max_s: the oldest REST data of any account (what a person sees in "updated N s
  ago"); warn_rest_age_max_s: the same for the accounts at WARN.
- fleet_late_max_s: how far behind any account's REST data is, counting an account whose streams
  are live as current up to its planned reconcile (the age pmtui judges staleness and "No fresh
  data" by: Monitor._late_age).
- weight_per_min: REST weight sent per minute (the budget holds 3,000).
- cpu_pct: CPU of the fleet's process, % of one core; rss_mb: its resident memory at the end.
- check_all_profiles_50_s: `pmtui check --all-profiles` of 50 accounts, process start to exit,
  beside check_one_profile_s: one account's (the process start and imports alone).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import ROOT, emit, isolated_env, parse_args
from websockets.exceptions import ConnectionClosed

SIZES = (20, 50)
#: Seconds after first data for all before ages are sampled: the start's burst of first refreshes
#: (50 accounts' full refreshes are ~2,750 weight, a minute of the budget) settles first.
SETTLE = 15.0
MODES = ("polling", "ranked")
#: Seconds between the starts of the four fleets.
START_GAP = 8.0
WARN_EVERY = 25  # one account in 25 at WARN: 1 of 20, 2 of 50


# --- the exchanges (a process of their own) ---------------------------------------------------------

#: The marks the local market stream moves, from the test exchanges' positionRisk marks.
MARKS = {"BTCUSDT": Decimal("86732.00"), "ETHUSDT": Decimal("2889.12"), "SOLUSDT": Decimal("131.41")}


def mark_frame(tick: int, now_ms: int) -> str:
    """One `!markPrice@arr@1s` frame (the shape of tests/fixtures/real/market_stream/): every symbol
    the exchanges hold, each price swinging ±0.5% and never the same twice (its last digits are
    the tick), so the bench can tell which frame an account's shown price came from."""
    swing = Decimal(str(round(math.sin(tick / 7) * 0.005, 6)))
    stamp = Decimal(tick % 10_000) / 10**8
    return json.dumps([{"e": "markPriceUpdate", "E": now_ms, "s": s, "p": str((base * (1 + swing)).quantize(
        Decimal("0.01")) + stamp), "i": str(base), "P": str(base), "r": "0.00010000", "T": now_ms + 3_600_000}
        for s, base in MARKS.items()])


async def serve_marks(ws: Any) -> None:
    """Binance's all-market mark price stream: a frame each second, on the second, until closed."""
    tick = 0
    while True:
        await asyncio.sleep(1 - time.time() % 1)
        tick += 1
        try:
            await ws.send(mark_frame(tick, int(time.time() * 1000)))
        except ConnectionClosed:
            return


async def serve() -> None:
    from websockets.asyncio.server import serve as ws_serve

    from tests.support.papi_server import PM_ACCOUNT, PapiServer, pm_account_body
    from tests.support.ws_server import WsServer

    calm, warn = PapiServer().start(), PapiServer().start()
    body = pm_account_body(0)
    body["uniMMR"] = "1.35"
    warn.set_body(PM_ACCOUNT, body)
    ws = await WsServer().start()
    market = await ws_serve(serve_marks, "127.0.0.1", 0, compression=None)
    host, port = next(iter(market.sockets)).getsockname()[:2]
    print(json.dumps({"calm": calm.base_url, "warn": warn.base_url, "ws": ws.url, "market": f"ws://{host}:{port}"}),
          flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes it
    market.close()
    await ws.stop()
    calm.stop()
    warn.stop()


def start_exchanges(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def write_config(path: Path, n: int, urls: dict[str, str], *, marks: bool) -> None:
    """N profiles; `marks`: with the local mark price stream (today's polling has none)."""
    from tests.support.papi_server import API_KEY, API_SECRET

    lines = []
    for i in range(n):
        base = urls["warn"] if i % WARN_EVERY == 0 else urls["calm"]
        lines += [f"[profiles.a{i:02d}]", f'api_key = "{API_KEY}"', f'api_secret = "{API_SECRET}"',
                  f'base_url = "{base}"', f'stream_url = "{urls["ws"]}"']
        lines += [f'market_stream_url = "{urls["market"]}"'] if marks else []
        lines += [""]
    path.write_text("\n".join(lines))
    path.chmod(0o600)


# --- one fleet (a process of its own) -------------------------------------------------------------

async def run_fleet(mode: str, config: Path, seconds: float) -> dict[str, float]:
    from pmtui.fleet import Fleet, FleetOptions
    from pmtui.health import Level

    fleet = Fleet.build(FleetOptions(all_profiles=True, config=config), stream=True)
    monitors = [a.monitor for a in fleet.watched if a.monitor is not None]
    assert fleet.budget is not None
    if mode == "polling":
        for m in monitors:
            m.pacer = None  # today's cadence: every account at its interval, first come first served
        fleet.budget._tokens, fleet.budget.debt = fleet.budget.capacity, 0.0  # and no start-up loan
    # When each mark the stream sent was computed (its event time), by symbol and price: a shown
    # price is found here (the stream's) or is REST's (as old as the positions fetched with it).
    sent_at: dict[tuple[str, Decimal], int] = {}
    if fleet.marks is not None:
        feed = fleet.marks
        fleet.marks.subscribe(lambda: sent_at.update(((s, m.price), m.event_ms) for s, m in feed.marks.items()))
    started = time.perf_counter()
    tasks = [asyncio.create_task(m.run()) for m in monitors]
    first_all: float | None = None
    cpu0 = sent0 = 0.0
    window_start = 0.0
    ages: list[float] = []
    warn_ages: list[float] = []
    late: list[float] = []
    behind_marks: list[float] = []
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
            if (shown := prices_age(m, sent_at)) is not None:
                behind_marks.append(shown)
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
        "fleet_staleness_max_s": max(behind_marks, default=float("nan")),
        "fleet_late_max_s": max(late, default=float("nan")),
        "weight_per_min": sent * 60 / window if window > 0 else float("nan"),
        "cpu_pct": 100 * cpu / window if window > 0 else float("nan"),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "streams_live": pushed,
    }


def prices_age(monitor: Any, sent_at: dict[tuple[str, Decimal], int]) -> float | None:
    """Seconds the prices of the account's shown positions (and so their uPnL and liquidation
    distances) are behind the market now: a stream mark's event time, else REST's fetch."""
    view = monitor.state.view
    if view is None:
        return None
    now_ms, rest = time.time() * 1000, monitor.poller.age()
    ages = [0.0]
    for row in view.open_positions:
        price = getattr(row.risk, "markPrice", None)
        when = sent_at.get((row.position.symbol, price)) if price is not None else None
        ages.append(max(0.0, (now_ms - when) / 1000) if when is not None else rest or 0.0)
    return max(ages)


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
                    if runs:
                        # One fleet's start at a time (each measures its first data for all), the
                        # others running meanwhile: four 20-50 account starts at the same instant
                        # on a 2-core machine measure the machine, not a start.
                        time.sleep(START_GAP)
                    server, urls = start_exchanges(env)
                    servers.append(server)
                    config = Path(home) / f"{mode}-{n}.toml"
                    write_config(config, n, urls, marks=mode == "ranked")
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
