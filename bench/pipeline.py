"""1. Refresh pipeline: raw bytes -> decode_json -> parse_um_account -> build_view -> the cells
the positions table shows (open rows), against `json.loads` of the same bytes.

The payload: 1000 symbols in hedge mode (2000 position rows, 40 open), a new market step for each
refresh, as the app sees them. Timed one refresh at a time, the baseline and the pipeline side by
side on the same body; medians over all refreshes.
"""

from __future__ import annotations

import asyncio
import json
import time

from common import emit, median, parse_args
from payload import refresh_bodies
from tables import TablesApp, rows_of

from pmtui.models import decode_json, parse_um_account
from pmtui.settings import Thresholds
from pmtui.views import build_view

SYMBOLS, OPEN_ROWS = 1000, 40


async def measure(quick: bool) -> dict[str, float]:
    bodies = await refresh_bodies(8, OPEN_ROWS, symbols=SYMBOLS)
    reps = 40 if quick else 200
    thresholds = Thresholds()
    app = TablesApp()
    out: dict[str, list[float]] = {k: [] for k in ("json", "decode", "parse", "view", "cells", "total")}
    async with app.run_test(size=(100, 40)):
        table = app.query_one("#positions")
        clock = time.perf_counter
        for i in range(reps):
            body = bodies[i % len(bodies)]
            t0 = clock()
            json.loads(body)
            t1 = clock()
            data = decode_json(body)
            t2 = clock()
            account = parse_um_account(data)
            t3 = clock()
            view = build_view(account, thresholds)
            t4 = clock()
            rows = rows_of(table, view, everything=False)
            t5 = clock()
            for name, ms in zip(("json", "decode", "parse", "view", "cells", "total"),
                                (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t1), strict=True):
                out[name].append(ms * 1000)
    assert len(account.positions) == 2 * SYMBOLS and len(rows) == OPEN_ROWS, (len(account.positions), len(rows))
    m = {k: median(v) for k, v in out.items()}
    return {
        "pipeline_ratio": m["total"] / m["json"],
        "pipeline_ms": m["total"],
        "json_loads_ms": m["json"],
        "pipeline_decode_ms": m["decode"],
        "pipeline_parse_ms": m["parse"],
        "pipeline_view_ms": m["view"],
        "pipeline_cells_ms": m["cells"],
        "pipeline_body_kb": len(bodies[0]) / 1024,
        "pipeline_rows": len(account.positions),
        "pipeline_open_rows": len(rows),
        "pipeline_reps": reps,
    }


if __name__ == "__main__":
    emit(asyncio.run(measure(parse_args(__doc__).quick)))
