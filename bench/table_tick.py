"""2. Table update: one refresh applied to a mounted positions table of 2000 rows in which 5% of
the cells changed (KeyedTable.set_rows), against clearing and re-adding the same rows
(`clear()` + `add_rows`) on a Textual DataTable with the same columns in the same app (the
widget PositionsTable was built on before issue 12).

Both are timed in three parts, none of which includes the test harness (a `pilot.pause()`
costs ~20 ms by itself, so the pauses between repetitions are never timed):
  call    the update itself (set_rows, or clear + add_rows);
  settle  the work DataTable defers to its next idle: column widths, virtual size;
  paint   rendering the table's visible area from scratch.
table_tick_ms (the update) and table_rebuild_ms are call + settle; the paint is the same work
for both (the visible rows, whatever the table's length) and is reported on its own, with
table_frame_ms (also printed as table_frame_ms_2000) = update + paint, the time from "refresh
arrived" to "frame ready".

Which cells change: those a price move touches (notional, uPnL, liquidation distance, MM%,
maintenance margin, mark price, initial margin: the ones PositionsTable has), in the 40 open rows
and as many others as make 5% of all cells (1500 of 30,000 with 15 columns). Maintenance margin
is the default sort column, so every update also re-sorts, as a live refresh does.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from common import emit, median, parse_args, time_ms
from payload import refresh_bodies
from tables import TablesApp, paint, rows_of, settle

from pmtui import fmt
from pmtui.models import decode_json, parse_um_account
from pmtui.settings import Thresholds
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.table import Cell
from pmtui.views import build_view

CHANGED_SHARE = 0.05
MOVING_COLUMNS = ("notional", "upnl", "liq", "share", "mm", "mark", "im")


def moved(rows: dict[str, list[Cell]], keys: list[str], tick: int) -> dict[str, list[Cell]]:
    """`rows` with the price-driven cells of `keys` changed, as one refresh changes them."""
    index = [i for i, c in enumerate(PositionsTable.COLUMNS) if c.key in MOVING_COLUMNS]
    rng = random.Random(tick)
    out = dict(rows)
    for key in keys:
        cells = list(rows[key])
        for i in index:
            old = cells[i]
            # A Decimal, as PositionsTable's cells sort by (until 2026-12-08 a float: each
            # comparison with the other rows' Decimals converted it, ~10x a Decimal's).
            value = Decimal(1000 + rng.randrange(1, 10**7)) / 100
            cells[i] = Cell(fmt.money(value), sort_key=value, style=old.style)
        out[key] = cells
    return out


async def measure(quick: bool) -> dict[str, float]:
    reps = 8 if quick else 30
    (body,) = await refresh_bodies(1)
    view = build_view(parse_um_account(decode_json(body)), Thresholds())
    app = TablesApp()
    update: dict[str, list[float]] = {"call": [], "settle": [], "paint": [], "total": [], "frame": []}
    rebuild: dict[str, list[float]] = {"call": [], "settle": [], "paint": [], "total": [], "frame": []}
    async with app.run_test(size=(120, 40)) as pilot:
        table: PositionsTable = app.query_one("#positions")
        rebuilt = app.query_one("#rebuilt")
        base = rows_of(table, view, everything=True)
        open_keys = [r.key for r in view.open_positions]
        others = [k for k in base if k not in set(open_keys)]
        moving = sum(c.key in MOVING_COLUMNS for c in PositionsTable.COLUMNS)
        rows_changed = round(CHANGED_SHARE * len(base) * len(PositionsTable.COLUMNS) / moving)
        keys = open_keys + random.Random(1).sample(others, rows_changed - len(open_keys))
        ticks = [moved(base, keys, t) for t in range(2)]  # alternate: each update changes 5% of cells
        changed = sum(a.signature() != b.signature()
                      for k in base for a, b in zip(ticks[0][k], ticks[1][k], strict=True))
        # Fill both tables once, untimed, and let them paint.
        table.set_rows(ticks[1])
        rebuilt.add_rows(list(ticks[1].values()))
        await pilot.pause()
        for rep in range(reps):
            rows = ticks[rep % 2]
            u_call = time_ms(lambda rows=rows: table.set_rows(rows))
            u_settle = await settle(table)
            u_paint, painted = paint(table)

            def rebuild_table(rows=rows) -> None:
                rebuilt.clear()
                rebuilt.add_rows(list(rows.values()))

            r_call = time_ms(rebuild_table)
            r_settle = await settle(rebuilt)
            r_paint, _ = paint(rebuilt)
            for parts, values in ((update, (u_call, u_settle, u_paint)), (rebuild, (r_call, r_settle, r_paint))):
                for name, ms in zip(("call", "settle", "paint"), values, strict=True):
                    parts[name].append(ms)
                parts["total"].append(values[0] + values[1])
                parts["frame"].append(sum(values))
            await pilot.pause()  # let the app catch up (untimed)
        assert table.row_count == rebuilt.row_count == len(base) == 2000
    u = {k: median(v) for k, v in update.items()}
    r = {k: median(v) for k, v in rebuild.items()}
    return {
        "table_tick_ratio": u["total"] / r["total"],
        "table_tick_ms": u["total"],
        "table_rebuild_ms": r["total"],
        "table_tick_call_ms": u["call"],
        "table_tick_settle_ms": u["settle"],
        "table_rebuild_call_ms": r["call"],
        "table_rebuild_settle_ms": r["settle"],
        "table_paint_ms": u["paint"],
        "table_rebuild_paint_ms": r["paint"],
        "table_frame_ms": u["frame"],
        "table_frame_ms_2000": u["frame"],
        "table_rebuild_frame_ms": r["frame"],
        "table_tick_max_ms": max(update["total"]),
        "table_rows": len(base),
        "table_cells_changed": changed,
        "table_cells": len(base) * len(PositionsTable.COLUMNS),
        "table_visible_cells": painted,
        "table_reps": reps,
    }


if __name__ == "__main__":
    emit(asyncio.run(measure(parse_args(__doc__).quick)))
