"""What the history panel (`h`) charts: uniMMR, account equity and the nearest liquidation
distance over a span (1 h, 24 h, 7 d), from the recording when there is one, else this session.

No Textual, no drawing: points (epoch seconds, Decimal). `from_recording` blocks on SQLite: the
dashboard calls it in a worker thread, never on the event loop. A recording is thinned to at most
BUCKETS points per figure, keeping what matters to risk: the lowest uniMMR and the nearest
liquidation of each stretch (a dip is never averaged away), the last equity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pmtui.series import SessionSeries

#: (seconds, label) the span key cycles through.
SPANS: tuple[tuple[int, str], ...] = ((3600, "1 h"), (86400, "24 h"), (7 * 86400, "7 d"))
#: Points per figure at most: more than a chart has braille dots across on any terminal.
BUCKETS = 240
#: Recorded samples the states are read around for the liquidation distance in a long record (each
#: read decodes from a keyframe, so their number, not the span's length, bounds the work).
PROBES = 40
#: Samples up to which the record's states are all read once instead (an hour at a 2 s interval).
READ_ALL = 2000
#: Seconds of recorded states one probe reads (around its sample) at most.
PROBE_SECONDS = 30.0

Point = tuple[float, Decimal]


@dataclass(frozen=True, slots=True)
class ChartData:
    """The three figures' points, oldest first; `source` says where they come from."""

    unimmr: tuple[Point, ...] = ()
    equity: tuple[Point, ...] = ()
    liq: tuple[Point, ...] = ()
    source: str = "session"
    #: A sentence when the recording could not be read (the session's points stand in).
    problem: str | None = field(default=None)

    @property
    def end(self) -> float | None:
        """The newest point's time: the right edge of the chart (the data's, not the wall clock's)."""
        last = [points[-1][0] for points in (self.unimmr, self.equity, self.liq) if points]
        return max(last) if last else None

    def window(self, seconds: float) -> ChartData:
        """Only the last `seconds` before the newest point."""
        end = self.end
        if end is None:
            return self
        start = end - seconds

        def cut(points: tuple[Point, ...]) -> tuple[Point, ...]:
            return tuple(p for p in points if p[0] >= start)

        return ChartData(cut(self.unimmr), cut(self.equity), cut(self.liq), self.source, self.problem)


def liq_of_doc(doc: Any) -> Decimal | None:
    """The nearest liquidation distance of a recorded state (`watch --json`'s view.positions; given
    a pmtui.record.Recorded, read without deriving its view where the row keeps them)."""
    from pmtui.record import Recorded, liq_distances

    nearest: Decimal | None = None
    rows = liq_distances(doc) if isinstance(doc, Recorded) else (doc.get("view") or {}).get("positions") or ()
    for row in rows:
        value = _decimal(row.get("liqDistance") if isinstance(row, dict) else None)
        if value is not None and (nearest is None or value < nearest):
            nearest = value
    return nearest


def _decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def from_session(series: SessionSeries) -> ChartData:
    """This session's figures (the Monitor's ring buffers)."""
    times = list(series.times)

    def points(values: Iterable[Decimal | None]) -> tuple[Point, ...]:
        return tuple((t, v) for t, v in zip(times, values, strict=False) if v is not None and v.is_finite())

    return ChartData(points(series.unimmr), points(series.equity), points(series.liq))


def thin(points: Sequence[Point], start: float, end: float, pick: Callable[[Point, Point], Point],
         buckets: int = BUCKETS) -> tuple[Point, ...]:
    """At most one point per `buckets`-th of [start, end]: the one `pick` keeps of each stretch."""
    width = max((end - start) / buckets, 1e-9)
    kept: dict[int, Point] = {}
    for point in points:
        i = min(buckets - 1, max(0, int((point[0] - start) / width)))
        kept[i] = point if i not in kept else pick(kept[i], point)
    return tuple(kept[i] for i in sorted(kept))


def lowest(a: Point, b: Point) -> Point:
    return b if b[1] < a[1] else a


def latest(_a: Point, b: Point) -> Point:
    return b


def from_recording(path: Path | str, profile: str, since_ms: int, until_ms: int) -> ChartData:
    """The recorded figures of `profile` in [since_ms, until_ms) (blocking: a worker thread).
    uniMMR and equity from every recorded sample, the liquidation distance from the recorded
    states at PROBES moments. HistoryError with a sentence when the file does not read."""
    from pmtui.history import History
    from pmtui.record import read_states

    samples = History(path).read(since_ms, until_ms, profile)
    if not samples:
        return ChartData(source="recorded")
    # Thinned over the time recorded, not the whole span: an hour of record in a 24 h span keeps
    # its detail (the chart's axis is the data's).
    start, end = samples[0].time_ms / 1000, until_ms / 1000
    unimmr = [(s.time_ms / 1000, s.unimmr) for s in samples if s.unimmr is not None and s.unimmr.is_finite()]
    equity = [(s.time_ms / 1000, s.account_equity) for s in samples
              if s.account_equity is not None and s.account_equity.is_finite()]
    liq: list[Point] = []
    if len(samples) <= READ_ALL:  # a short record: every state once (fewer decodes than probing it)
        liq = [(r.time_ms / 1000, d) for r in read_states(path, profile=profile, since_ms=since_ms, until_ms=until_ms)
               if (d := liq_of_doc(r)) is not None]
        liq = list(thin(liq, start, end, lowest))
    else:
        # The states around PROBES samples spread over the record (where something was recorded,
        # never between two runs), each read from its keyframe.
        picks = sorted({samples[i * (len(samples) - 1) // (PROBES - 1)].time_ms for i in range(PROBES)})
        window = int(PROBE_SECONDS * 1000) // 2
        for at in picks:
            nearest = [(r.time_ms / 1000, d) for r in read_states(path, profile=profile, since_ms=at - window,
                                                                   until_ms=at + window)
                       if (d := liq_of_doc(r)) is not None]
            if nearest:
                liq.append(min(nearest, key=lambda p: p[1]))
    return ChartData(thin(unimmr, start, end, lowest), thin(equity, start, end, latest), tuple(sorted(set(liq))),
                     source="recorded")


def combine(recorded: ChartData, session: ChartData) -> ChartData:
    """The recording, then the session's points newer than it (a recording this session writes
    holds its older points already)."""
    def join(old: tuple[Point, ...], new: tuple[Point, ...]) -> tuple[Point, ...]:
        after = old[-1][0] if old else float("-inf")
        return old + tuple(p for p in new if p[0] > after)

    return ChartData(join(recorded.unimmr, session.unimmr), join(recorded.equity, session.equity),
                     join(recorded.liq, session.liq), recorded.source, recorded.problem)


def segments(points: Sequence[Point], gap: float) -> list[list[Point]]:
    """The points cut where nothing was recorded for longer than `gap` seconds: a chart draws no
    line across a time it knows nothing about."""
    runs: list[list[Point]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs
