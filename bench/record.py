"""9. Recording: bytes the history file grows by per account per day, every state recorded
(pmtui.record), at a 2 s interval with the demo's 13 positions (12 UM and one COIN-M).

A Monitor runs over the demo exchange (margin-call scenario, seeded) on a fake clock that moves
2 s per refresh, its states recorded by a Recorder as `--record` does; the file's size after the
run (WAL checkpointed), scaled from the simulated seconds to a day (record_bytes_per_day_scaled,
which scales the file's fixed pages too), and record_bytes_per_day: the size of a day's file made
of the run's own rows, copied and time-shifted until they hold a day of states and of samples.

Baseline, same run and states: the raw JSON of every recorded state (`watch --json`'s objects,
one per state, what a naive record would write), scaled the same way.
Prints record_bytes_per_day, raw_json_bytes_per_day, record_ratio (record / raw), record_bytes_per_state
(the file over the states it holds: those that differ from the one before), record_states (published),
record_rows and record_states_kept (a batch row holds up to pmtui.record.BATCH_SIZE states).

replay_open_s: seconds `pmtui replay` takes to open a day of states (43,200 at 2 s): the run's rows
copied, time-shifted, until they fill a day, then read and handed to a ReplayMonitor (as
pmtui.replay.load and the app do), its first moment shown.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import types
from pathlib import Path

from common import emit, parse_args

INTERVAL = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - 1_749_000_000.0

    def perf_counter(self) -> float:
        return self.monotonic()

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(0)  # the bench drives refresh() itself: nothing here waits on time

    def random(self) -> float:
        return 0.5


def install(clock: Clock) -> None:
    """Every loaded pmtui module reads the fake clock (as the tests' FrozenClock does)."""
    fake = types.SimpleNamespace(time=clock.time, monotonic=clock.monotonic, perf_counter=clock.time,
                                 localtime=time.gmtime, gmtime=time.gmtime, strftime=time.strftime,
                                 sleep=time.sleep)
    for name, module in list(sys.modules.items()):
        if name.startswith("pmtui") and getattr(module, "time", None) is time:
            module.time = fake  # type: ignore[attr-defined]


async def run(refreshes: int, path: Path) -> tuple[int, int, float]:
    import pmtui.client  # noqa: F401  (loaded before the clock is swapped in)
    import pmtui.poller  # noqa: F401
    import pmtui.riskfeed  # noqa: F401
    from pmtui.demo import DemoExchange
    from pmtui.fleet import FleetOptions, make_monitor
    from pmtui.record import Recorder, state_doc
    from pmtui.settings import Settings

    clock = Clock()
    install(clock)
    exchange = DemoExchange(seed=7, clock=clock.time, scenario="margin-call")
    # The Monitor, its client and budget read the injected clock (pmtui.clock): the fake one, and
    # a budget that never makes a refresh wait (a frozen clock would never refill it).
    from pmtui.budget import WeightBudget

    monitor = make_monitor(Settings(interval=INTERVAL), FleetOptions(demo=True), profile="demo",
                           transport=exchange, clock=clock,  # type: ignore[arg-type]
                           budget=WeightBudget(1.0, limit=10**9, clock=clock))  # type: ignore[arg-type]
    recorder = Recorder(path, clock=clock.time)
    recorder.attach(monitor)
    raw = 0
    states = 0
    before = None

    def measure(state) -> None:  # type: ignore[no-untyped-def]
        nonlocal raw, states, before
        raw += len(json_text(state_doc(state, before=before)))
        states += 1
        before = state

    monitor.subscribe(measure)
    start = clock.now
    for _ in range(refreshes):
        await monitor.refresh()
        if monitor._risk_task is not None:
            await monitor._risk_task
        clock.now += INTERVAL
    seconds = clock.now - start
    await monitor.aclose()
    recorder.close()
    return raw, states, seconds


def json_text(doc: object) -> str:
    import json

    return json.dumps(doc, separators=(",", ":"))


DAY_STATES = 43_200


def day_file(source: Path, path: Path, states: int = DAY_STATES, samples_n: int = DAY_STATES) -> int:
    """A day of states: `source`'s rows again and again (each copy starts at a keyframe), 2 s apart,
    until the file holds `states` of them, and `samples_n` of its five-number samples, time-shifted
    the same way: the file a day of recording leaves, its fixed pages (schema, indexes, the inputs)
    counted once."""
    src = sqlite3.connect(source)
    samples = src.execute("SELECT unimmr, account_equity, maint_margin, total_upnl, level, profile"
                          " FROM samples ORDER BY time_ms").fetchall()
    columns = {c[1] for c in src.execute("PRAGMA table_info(states)")}
    extra = [c for c in ("flags", "meta") if c in columns]
    rows = src.execute(f"SELECT profile, level, unimmr, kind, body{''.join(', ' + c for c in extra)}"
                       " FROM states ORDER BY id").fetchall()
    tables = [sql for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE type IN ('table', 'index')"
                                            " AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")]
    (vacuum,) = src.execute("PRAGMA auto_vacuum").fetchone()
    inputs = src.execute("SELECT * FROM inputs").fetchall() if any("inputs" in t for t in tables) else []
    src.close()
    dst = sqlite3.connect(path)
    dst.execute(f"PRAGMA auto_vacuum = {int(vacuum)}")  # as the recorder's file: its pointer-map pages too
    for sql in tables:
        dst.execute(sql)
    if inputs:
        dst.executemany("INSERT INTO inputs VALUES (?, ?, ?, ?)", inputs)
    t0 = 1_750_000_000_000
    n = 0
    with dst:
        while n < states:
            for row in rows:
                dst.execute(f"INSERT INTO states (time_ms, profile, level, unimmr, kind, body"
                            f"{''.join(', ' + c for c in extra)}) VALUES (?{', ?' * (5 + len(extra))})",
                            (t0 + 2000 * n, *row))
                n += states_in(row[-1] if "meta" in extra else None)
        for i in range(samples_n if samples else 0):
            dst.execute("INSERT INTO samples (unimmr, account_equity, maint_margin, total_upnl, level, profile,"
                        " time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)", (*samples[i % len(samples)], t0 + 2000 * i))
    dst.close()
    return n


def states_in(meta: bytes | None) -> int:
    """How many states a row holds: a batch row's meta lists them (pmtui.record), else one."""
    import json
    import zlib

    return len(json.loads(zlib.decompress(meta))["t"]) if meta else 1


def replay_open(path: Path) -> float:
    from pmtui import record
    from pmtui.replay import ReplayMonitor
    from pmtui.settings import Settings

    start = time.perf_counter()
    # As pmtui.replay.load reads (before open_states there was only read_states: every state decoded).
    opener = getattr(record, "open_states", None)
    records = opener(path, "demo") if opener is not None else record.read_states(path, profile="demo")
    monitor = ReplayMonitor("demo", Settings(), records, clock=lambda: 0.0)
    assert monitor.state is not None
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__)
    refreshes = 60 if args.quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        raw, states, seconds = asyncio.run(run(refreshes, path))
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (rows,) = conn.execute("SELECT count(*) FROM states").fetchone()
        meta = "meta" in {c[1] for c in conn.execute("PRAGMA table_info(states)")}
        kept = sum(states_in(m) for (m,) in conn.execute(f"SELECT {'meta' if meta else 'NULL'} FROM states"))
        (sampled,) = conn.execute("SELECT count(*) FROM samples").fetchone()
        conn.close()
        size = os.path.getsize(path)
        # The day file for the size: as many states and samples as a day at this run's pace keeps.
        sized = Path(tmp) / "sized.sqlite3"
        day_file(path, sized, round(kept * 86400 / seconds), round(sampled * 86400 / seconds))
        day_size = os.path.getsize(sized)
        day = Path(tmp) / "day.sqlite3"
        day_file(path, day)
        open_s = replay_open(day)
    day = 86400 / seconds
    emit({
        # The day file's size: a day's states and samples. Scaling the run's file up instead
        # (record_bytes_per_day_scaled) multiplies its fixed pages too, by 144 for 10 minutes.
        "record_bytes_per_day": day_size,
        "record_bytes_per_day_scaled": round(size * day),
        "raw_json_bytes_per_day": round(raw * day),
        "record_ratio": round(size / raw, 4),
        "record_bytes_per_state": round(size / max(kept, 1)),  # per state in the file (a row may hold many)
        "record_states": states,
        "record_rows": rows,
        "record_states_kept": kept,  # those not the same as the one before
        "replay_open_s": round(open_s, 2),
    })


if __name__ == "__main__":
    main()
