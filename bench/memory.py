"""5. Memory: resident set size of the real dashboard (PmtuiApp under `run_test`, 120x40,
demo exchange in hedge mode) after 100 and after 5000 refreshes.

The refresh path runs as in production (the poll worker, the poller, the client, parsing, the view
and the widgets), only faster: `Poller.delay` is capped at 1 ms, so the next poll is armed
almost at once instead of a second later. RSS is read from /proc/self/status after a full
garbage collection; this runs in a process of its own. The growth is the figure; RSS after 100
refreshes is its baseline.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path

from common import emit, isolated_env, parse_args, rss_mb

FAST_DELAY = 0.001
TIME_LIMIT_S = 900


async def run(refreshes: int, checkpoints: tuple[int, ...]) -> dict[str, float]:
    from pmtui import poller
    from pmtui.budget import WeightBudget
    from pmtui.fleet import FleetOptions, load_settings, make_client
    from pmtui.tui.app import PmtuiApp

    normal_delay = poller.Poller.delay
    poller.Poller.delay = lambda self: None if (d := normal_delay(self)) is None else min(d, FAST_DELAY)

    options = FleetOptions(demo=True, hedge=True)
    settings = load_settings(options, None)
    client = make_client(settings, options)
    # Thousands of refreshes at an accelerated pace: the weight budget would (rightly) hold them
    # to a real exchange's pace, which measures waiting, not memory.
    client.budget = WeightBudget(1.0, limit=10**9)
    app = PmtuiApp(settings=settings, client=client, title="DEMO hedge")
    rss: dict[int, float] = {}
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        for mark in checkpoints:
            while app.monitor.poller.polls < mark:
                await pilot.pause(0.02)
                if app.monitor.poller.stopped or time.perf_counter() - started > TIME_LIMIT_S:
                    raise RuntimeError(f"refreshing stopped at {app.monitor.poller.polls}: {app.monitor.poller.error}")
            gc.collect()
            rss[mark] = rss_mb()
        elapsed = time.perf_counter() - started
        polls = app.monitor.poller.polls
        ok = app.monitor.poller.error is None and app.view is not None
    if not ok:
        raise RuntimeError(f"the demo refresh failed: {app.monitor.poller.error}")
    first, last = checkpoints[0], checkpoints[-1]
    return {
        "rss_growth_mb": rss[last] - rss[first],
        f"rss_after_{first}_mb": rss[first],
        f"rss_after_{last}_mb": rss[last],
        "rss_ratio": rss[last] / rss[first],
        "memory_refreshes": polls,
        "memory_refreshes_per_s": polls / elapsed,
    }


def measure(quick: bool) -> dict[str, float]:
    last = 400 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="pmtui-bench-") as home:
        os.environ.update(isolated_env(Path(home)))  # no developer config or PMTUI_* variables
        for var in [v for v in os.environ if v.startswith("PMTUI_")]:
            del os.environ[var]
        return asyncio.run(run(last, (100, last)))


if __name__ == "__main__":
    emit(measure(parse_args(__doc__).quick))
