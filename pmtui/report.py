"""`pmtui report`: a post-mortem of a recorded period, as markdown or one self-contained HTML page.

Built from the recorded states (pmtui.record.read_states) alone, read the way a replay reads them
(pmtui.replay: `sample_of` for the figures of every state, `state_of` for the states around an
event), so a report and a replay of the same night never disagree. No network, no clock: the
same recording gives the same report.

What it holds: the uniMMR over the period with the settings' band lines; each level change with
the positions that moved most between the state before it and the state after it (maintenance
margin and loss); the alerts as they fired, escalated and cleared; the faults, stale stretches and
gaps in the recording. Figures stay Decimal to the text; only the chart's coordinates are floats.
Every word that came from the network (symbols, reasons, messages) is data: control characters
shown as escapes, markdown and HTML markup escaped.
"""

from __future__ import annotations

import html
import math
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from pmtui import fmt
from pmtui.errors import PmtuiError
from pmtui.replay import events, sample_of, state_of
from pmtui.text import clean
from pmtui.text import name as shown

if TYPE_CHECKING:
    from collections.abc import Callable

    from pmtui.record import Recorded
    from pmtui.settings import Settings
    from pmtui.state import MonitorState
    from pmtui.views import PositionRow

#: Positions listed for each figure (maintenance margin, loss) at a level change.
MOVERS = 3
#: A pause between two recorded states longer than this many refresh intervals is a gap.
GAP_INTERVALS = 5
#: Longest message kept from the network (an alert's sentence, a fault's).
TEXT_LEN = 300
#: Bars of the markdown sparkline.
SPARK_WIDTH = 60
SPARKS = "▁▂▃▄▅▆▇█"
FORMATS = ("md", "html")


class ReportError(PmtuiError):
    """A period with nothing to report."""

    kind = "report"


# --- what a report holds ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Point:
    time_ms: int
    unimmr: Decimal | None  # None: no maintenance margin (no ratio), or no data
    level: str


@dataclass(frozen=True, slots=True)
class Move:
    """One position's figures in the state before a level change and in the state after (None:
    the position was not open then)."""

    name: str
    maint_before: Decimal | None
    maint_after: Decimal | None
    share_before: Decimal | None
    share_after: Decimal | None
    upnl_before: Decimal | None
    upnl_after: Decimal | None

    @property
    def maint_change(self) -> Decimal:
        return (self.maint_after or Decimal(0)) - (self.maint_before or Decimal(0))

    @property
    def upnl_change(self) -> Decimal:
        return (self.upnl_after or Decimal(0)) - (self.upnl_before or Decimal(0))


@dataclass(frozen=True, slots=True)
class LevelChange:
    time_ms: int
    before: str
    after: str
    unimmr: Decimal | None
    reason: str
    by_maint: tuple[Move, ...]  # the positions whose maintenance margin moved most, most first
    by_loss: tuple[Move, ...]  # the positions whose uPnL moved most, most first

    @property
    def moves(self) -> tuple[Move, ...]:
        """Both lists as one, each position once (the maintenance margin's first)."""
        seen: dict[str, Move] = {}
        for m in (*self.by_maint, *self.by_loss):
            seen.setdefault(m.name, m)
        return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class AlertLine:
    time_ms: int
    state: str  # fired, escalated, cleared
    level: str
    rule: str
    subject: str
    message: str


@dataclass(frozen=True, slots=True)
class Outage:
    """A fault, a stretch of stale data, or a gap in the recording."""

    kind: str  # "fault", "stale" or "gap"
    start_ms: int
    end_ms: int | None  # None: still so at the end of the period
    words: str


@dataclass(frozen=True, slots=True)
class Report:
    profile: str
    since_ms: int | None  # what was asked (None: the whole recording read)
    points: tuple[Point, ...]
    bands: tuple[tuple[str, Decimal], ...]  # (name, uniMMR) from the settings, warn first
    changes: tuple[LevelChange, ...]
    alerts: tuple[AlertLine, ...]
    outages: tuple[Outage, ...]
    gap_ms: int  # what counts as a gap here

    @property
    def start_ms(self) -> int:
        return self.points[0].time_ms

    @property
    def end_ms(self) -> int:
        return self.points[-1].time_ms

    @property
    def lowest(self) -> Point | None:
        known = [p for p in self.points if p.unimmr is not None]
        return min(known, key=lambda p: p.unimmr or 0) if known else None


# --- building it -----------------------------------------------------------------------------------

def build(profile: str, records: Sequence[Recorded], settings: Settings, *, since_ms: int | None = None) -> Report:
    """The report of `records` (one profile's, oldest first); ReportError when none holds data."""
    # Not the moments before the first data (connecting): they say nothing of the account.
    records = [r for r in records if "assets" in r.top or r.top.get("error")]
    if not records:
        raise ReportError(f"Nothing but connecting was recorded for profile {shown(profile)} in that period: "
                          "no state to report on.")
    samples = [sample_of(r) for r in records]
    points = tuple(Point(s.time_ms, s.unimmr, s.level) for s in samples)
    t = settings.thresholds
    bands = (("warn", t.unimmr_warn), ("danger", t.unimmr_danger), ("critical", t.unimmr_critical))
    cache: dict[int, MonitorState] = {}

    def state(i: int) -> MonitorState:
        if i not in cache:
            cache[i] = state_of(records[i].doc, records[i].time_ms, settings)
        return cache[i]

    changes, alerts = [], []
    for i in events(records):
        before = points[i - 1].level if i else ""
        if i and points[i].level and before and points[i].level != before:
            changes.append(_change(records, points, i, state))
        for event in state(i).alerts:
            alerts.append(AlertLine(int(event.time * 1000), event.state, event.level.label, event.rule,
                                    event.subject, event.message))
    gap_ms = _gap_ms(points, settings.interval)
    return Report(profile=profile, since_ms=since_ms, points=points, bands=bands, changes=tuple(changes),
                  alerts=tuple(alerts), outages=tuple(_outages(records, gap_ms)), gap_ms=gap_ms)


def _change(records: Sequence[Recorded], points: Sequence[Point], i: int,
            state: Callable[[int], MonitorState]) -> LevelChange:
    after = state(i)
    reason = after.verdict.reason if after.verdict is not None else ""
    # The nearest states on either side that have positions (a fault in between has none).
    j = next((k for k in range(i - 1, -1, -1) if "assets" in records[k].top), None)
    k = next((k for k in range(i, len(records)) if "assets" in records[k].top), None)
    by_maint: tuple[Move, ...] = ()
    by_loss: tuple[Move, ...] = ()
    if j is not None and k is not None:
        was, now = state(j).view, state(k).view
        if was is not None and now is not None:
            moves = _moves({r.key: r for r in was.open_positions}, {r.key: r for r in now.open_positions})
            by_maint = tuple(sorted((m for m in moves if m.maint_change), key=lambda m: -abs(m.maint_change)))[:MOVERS]
            by_loss = tuple(sorted((m for m in moves if m.upnl_change), key=lambda m: -abs(m.upnl_change)))[:MOVERS]
    return LevelChange(time_ms=points[i].time_ms, before=points[i - 1].level, after=points[i].level,
                       unimmr=points[i].unimmr, reason=clean(reason), by_maint=by_maint, by_loss=by_loss)


def _moves(was: dict[str, PositionRow], now: dict[str, PositionRow]) -> list[Move]:
    out = []
    for key in dict.fromkeys([*was, *now]):
        a, b = was.get(key), now.get(key)
        row = b or a
        assert row is not None
        out.append(Move(name=_position_name(row),
                        maint_before=a.maint_usd if a else None, maint_after=b.maint_usd if b else None,
                        share_before=a.share if a else None, share_after=b.share if b else None,
                        upnl_before=a.upnl_usd if a else None, upnl_after=b.upnl_usd if b else None))
    return out


def _position_name(row: PositionRow) -> str:
    side = row.position.positionSide
    words = row.position.symbol + ("" if side == "BOTH" else f" {side.lower()}")
    return words + " (COIN-M)" if row.is_cm else words


def _gap_ms(points: Sequence[Point], interval: float) -> int:
    """GAP_INTERVALS refresh intervals: the settings' or the recording's own, whichever is longer."""
    steps = [b.time_ms - a.time_ms for a, b in zip(points, points[1:], strict=False) if b.time_ms > a.time_ms]
    typical = statistics.median(steps) if steps else 0
    return int(GAP_INTERVALS * max(interval * 1000, typical))


def _outages(records: Sequence[Recorded], gap_ms: int) -> list[Outage]:
    """Faults and stale stretches (a run of states with an error or stale data, until the next
    fresh one), and gaps between two recorded states longer than `gap_ms`."""
    out: list[Outage] = []
    run: Outage | None = None
    for i, rec in enumerate(records):
        error, stale = rec.top.get("error"), bool(rec.top.get("stale"))
        if i and rec.time_ms - records[i - 1].time_ms > gap_ms:
            out.append(Outage("gap", records[i - 1].time_ms, rec.time_ms,
                              f"nothing recorded for {fmt.age((rec.time_ms - records[i - 1].time_ms) / 1000)}"))
        if error or stale:
            if run is None:
                words = clean(str(error), TEXT_LEN) if error else "data stale (the last good figures kept)"
                run = Outage("fault" if error else "stale", rec.time_ms, None, words)
        elif run is not None:
            out.append(Outage(run.kind, run.start_ms, rec.time_ms, run.words))
            run = None
    if run is not None:
        out.append(run)
    return sorted(out, key=lambda o: o.start_ms)


# --- shared wording --------------------------------------------------------------------------------

def when(ms: int) -> str:
    """A moment of the report: UTC, to the second (a post-mortem is read across time zones)."""
    return fmt.utc_time(ms)


def _hm(ms: int, days: bool) -> str:
    return time.strftime("%m-%d %H:%M" if days else "%H:%M:%S", time.gmtime(ms / 1000))


def _data(value: object, limit: int = TEXT_LEN) -> str:
    """Text from the network as one plain line: control characters shown as escapes (\\x1b)."""
    return shown(str(value), limit)


def _change_words(m: Move) -> tuple[str, str]:
    """What moved of a position: its maintenance margin and its uPnL, before → after (change)."""
    def figure(a: Decimal | None, b: Decimal | None, change: Decimal) -> str:
        return f"{fmt.money(a) if a is not None else 'not open'} → {fmt.money(b) if b is not None else 'closed'} " \
               f"({fmt.money(change, sign=True)})"

    share = f", {fmt.percent(m.share_before)} → {fmt.percent(m.share_after)} of MM" \
        if m.share_before is not None or m.share_after is not None else ""
    return (figure(m.maint_before, m.maint_after, m.maint_change) + share,
            figure(m.upnl_before, m.upnl_after, m.upnl_change))


def _drivers(c: LevelChange) -> list[tuple[str, str, str]]:
    """(what, position, its figures) of the position whose MM moved most and the one whose loss did."""
    out = []
    if c.by_maint:
        m = c.by_maint[0]
        out.append(("MM", m.name, f"MM {_change_words(m)[0]}"))
    if c.by_loss:
        m = c.by_loss[0]
        out.append(("loss", m.name, f"uPnL {_change_words(m)[1]}"))
    return out


def _summary(r: Report) -> list[str]:
    levels = [p.level for p in r.points if p.level]
    order = ("OK", "WARN", "DANGER", "CRITICAL")
    worst = max(levels, key=lambda w: order.index(w) if w in order else -1) if levels else "—"
    lowest = r.lowest
    lines = [f"Recorded states from {when(r.start_ms)} to {when(r.end_ms)}: {len(r.points)} states"
             + (f" (asked for everything since {when(r.since_ms)})." if r.since_ms is not None else ".")]
    if levels:
        lines.append(f"Level {levels[0]} at the start, {levels[-1]} at the end, the worst {worst}; "
                     f"{_count(len(r.changes), 'level change')}, {_count(len(r.alerts), 'alert')}, "
                     f"{_count(len(r.outages), 'fault or gap', 'faults or gaps')}.")
    if lowest is not None:
        lines.append(f"Lowest uniMMR {fmt.ratio(lowest.unimmr)} at {when(lowest.time_ms)}.")
    return lines


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _bands_words(r: Report) -> str:
    return ", ".join(f"{name} {fmt.plain(value)}" for name, value in r.bands)


# --- markdown --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def _md(value: object, limit: int = TEXT_LEN) -> str:
    """Network text in markdown: plain data (no table breaks, no HTML, no emphasis or links)."""
    return _MD_SPECIAL.sub(r"\\\1", _data(value, limit))


def sparkline(points: Sequence[Point], width: int = SPARK_WIDTH) -> str:
    """uniMMR as a line of block characters, lowest ▁ to highest █ (each the lowest of its slice:
    never safer than it was); a space where nothing was known."""
    values = [p.unimmr for p in points]
    if not any(v is not None for v in values):
        return ""
    n = min(width, len(values))
    slices = [values[len(values) * i // n:len(values) * (i + 1) // n] for i in range(n)]
    lows = [min((v for v in s if v is not None), default=None) for s in slices]
    known = [v for v in lows if v is not None]
    lo, hi = min(known), max(known)
    span = hi - lo
    return "".join(" " if v is None else SPARKS[0] if not span else
                   SPARKS[int((v - lo) / span * (len(SPARKS) - 1))] for v in lows)


def markdown(r: Report) -> str:
    out = [f"# pmtui report: {_md(r.profile, 80)}", "", *(f"{line}  " for line in _summary(r)), ""]
    out += ["## uniMMR", ""]
    spark = sparkline(r.points)
    if spark:
        known = [p.unimmr for p in r.points if p.unimmr is not None]
        out += [f"`{spark}`", "",
                f"From {fmt.ratio(known[0])} to {fmt.ratio(known[-1])}, lowest {fmt.ratio(min(known))} "
                f"(each bar the lowest of its slice of time). Bands: {_bands_words(r)}. "
                "The HTML report (--format html) draws it with the band lines.", ""]
    else:
        out += ["No uniMMR was recorded in this period (no maintenance margin, or no data).", ""]

    out += ["## Level changes", ""]
    if not r.changes:
        out += ["None: the level stayed the same through the period.", ""]
    else:
        out += ["| Time | From → to | uniMMR | Reason | What moved most |", "|---|---|---|---|---|"]
        for c in r.changes:
            drove = "; ".join(f"{_md(name)}: {words}" for _, name, words in _drivers(c)) or "no position moved"
            out.append(f"| {when(c.time_ms)} | {c.before} → {c.after} | {fmt.ratio(c.unimmr)} | {_md(c.reason)} "
                       f"| {drove} |")
        out.append("")
        for c in r.changes:
            if not c.moves:
                continue
            out += [f"### {when(c.time_ms)}: {c.before} → {c.after}", "",
                    "Positions whose maintenance margin (MM) or loss moved most, the state before against the "
                    "state after (USD):", "",
                    "| Position | MM before → after (change), share of MM | uPnL before → after (change) |",
                    "|---|---|---|"]
            for m in c.moves:
                maint, upnl = _change_words(m)
                out.append(f"| {_md(m.name)} | {maint} | {upnl} |")
            out.append("")

    out += ["## Alerts", ""]
    if not r.alerts:
        out += ["None fired in this period.", ""]
    else:
        out += ["| Time | Alert | Level | Rule | Subject | Message |", "|---|---|---|---|---|---|"]
        out += [f"| {when(a.time_ms)} | {_md(a.state)} | {_md(a.level)} | {_md(a.rule)} | {_md(a.subject)} "
                f"| {_md(a.message)} |" for a in r.alerts]
        out.append("")

    out += ["## Faults and data gaps", ""]
    if not r.outages:
        out += [f"None: every state was fresh, and no pause between two was longer than {fmt.age(r.gap_ms / 1000)}.",
                ""]
    else:
        out += ["| From | To | What |", "|---|---|---|"]
        out += [f"| {when(o.start_ms)} | {when(o.end_ms) if o.end_ms else 'the end of the period'} "
                f"| {o.kind}: {_md(o.words)} |" for o in r.outages]
        out.append("")
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------------

LEVEL_COLOURS = {"OK": "#1b7f3b", "WARN": "#a86400", "DANGER": "#c2410c", "CRITICAL": "#b91c1c",
                 "UNKNOWN": "#555555"}
BAND_COLOURS = {"warn": "#a86400", "danger": "#c2410c", "critical": "#b91c1c"}

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #111; background: #fff; margin: 2em auto; max-width: 1000px;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; width: 100%; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f1f1f1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.level { font-weight: 600; }
svg { display: block; max-width: 100%; height: auto; margin: .5em 0; background: #fafafa; border: 1px solid #ddd; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
.note { color: #444; }
"""


def _h(value: object, limit: int = TEXT_LEN) -> str:
    """Network text in HTML: escaped data (a `<script>` is shown, never run)."""
    return html.escape(_data(value, limit))


def _level(word: str) -> str:
    colour = LEVEL_COLOURS.get(word, "#333333")
    return f'<span class="level" style="color:{colour}">{html.escape(word)}</span>'


def chart_svg(r: Report, width: int = 960, height: int = 300) -> str:
    """uniMMR over the period as an inline SVG: the line (on a log scale, so the bands near 1 stay
    apart however high the ratio was), the band lines, level changes as vertical lines, faults and
    gaps shaded."""
    left, right, top, bottom = 60, 90, 16, 42
    w, h = width - left - right, height - top - bottom
    t0, t1 = r.start_ms, max(r.end_ms, r.start_ms + 1)
    known = [float(p.unimmr) for p in r.points if p.unimmr is not None and p.unimmr > 0 and p.unimmr.is_finite()]
    bands = [float(v) for _, v in r.bands]
    lo = min([*known, *bands]) * 0.95
    hi = max([*known, *bands]) * 1.05

    def x(ms: int) -> float:
        return left + (ms - t0) / (t1 - t0) * w

    def y(v: float) -> float:
        return top + (math.log(hi) - math.log(max(v, lo))) / (math.log(hi) - math.log(lo)) * h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="unimmr-chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="uniMMR over the period">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#ffffff" stroke="#bbb"/>']
    for o in r.outages:
        a, b = x(o.start_ms), x(o.end_ms if o.end_ms is not None else t1)
        parts.append(f'<rect x="{a:.1f}" y="{top}" width="{max(b - a, 2):.1f}" height="{h}" fill="#d4d4d8" '
                     f'opacity="0.7"><title>{o.kind}</title></rect>')
    for c in r.changes:
        cx = x(c.time_ms)
        parts.append(f'<line x1="{cx:.1f}" y1="{top}" x2="{cx:.1f}" y2="{top + h}" '
                     f'stroke="{LEVEL_COLOURS.get(c.after, "#333")}" stroke-width="1" stroke-dasharray="2 3"/>')
    for (name, value), v in zip(r.bands, bands, strict=True):
        by = y(v)
        colour = BAND_COLOURS[name]
        parts.append(f'<line x1="{left}" y1="{by:.1f}" x2="{left + w}" y2="{by:.1f}" stroke="{colour}" '
                     'stroke-width="1.2" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{left + w + 6}" y="{by + 4:.1f}" style="fill:{colour}">{name} {fmt.plain(value)}'
                     '</text>')
    # The line, broken where nothing was known (no ratio, a fault).
    runs: list[list[str]] = [[]]
    for p in r.points:
        if p.unimmr is None or not p.unimmr.is_finite() or p.unimmr <= 0:
            runs.append([])
        else:
            runs[-1].append(f"{x(p.time_ms):.1f},{y(float(p.unimmr)):.1f}")
    for run in runs:
        if len(run) == 1:
            px, py = run[0].split(",")
            parts.append(f'<circle cx="{px}" cy="{py}" r="2" fill="#1d4ed8"/>')
        elif run:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
    # The y axis: round ratios in range (the bands are labelled on the right), faint grid lines.
    ticks = [v for v in (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200, 500, 1000) if lo <= v <= hi]
    for v in ticks:
        parts.insert(2, f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + w}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    # The alerts: a mark under the chart (not over a low line), in the alert's colour.
    for alert in r.alerts:
        ax, colour = x(alert.time_ms), LEVEL_COLOURS.get(alert.level.upper(), "#333")
        parts.append(f'<path d="M{ax:.1f},{top + h + 2} l-4,8 h8 z" fill="{colour}"><title>alert {_h(alert.state)}'
                     '</title></path>')
    days = t1 - t0 > 86_400_000
    for i in range(5):
        ms = t0 + (t1 - t0) * i // 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(ms):.1f}" y="{top + h + 28}" text-anchor="{anchor}">{_hm(ms, days)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def html_page(r: Report) -> str:
    profile = _h(r.profile, 80)
    # The policy: no script runs and nothing is fetched, even if some text slipped through as markup.
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>pmtui report: {profile}</title>", f"<style>{STYLE}</style></head><body>",
           f"<h1>pmtui report: {profile}</h1>", *(f"<p>{html.escape(line)}</p>" for line in _summary(r)),
           "<h2>uniMMR</h2>"]
    if any(p.unimmr is not None for p in r.points):
        out += [chart_svg(r),
                f'<p class="note">Log scale, times UTC. Dashed lines: the bands ({html.escape(_bands_words(r))}); '
                "dotted: level changes; triangles: alerts; grey: faults, stale data and gaps in the recording.</p>"]
    else:
        out.append("<p>No uniMMR was recorded in this period (no maintenance margin, or no data).</p>")

    out.append("<h2>Level changes</h2>")
    if not r.changes:
        out.append("<p>None: the level stayed the same through the period.</p>")
    else:
        out.append("<table><tr><th>Time</th><th>From → to</th><th>uniMMR</th><th>Reason</th>"
                   "<th>What moved most</th></tr>")
        for c in r.changes:
            drove = "<br>".join(f"<b>{_h(name)}</b>: {html.escape(words)}" for _, name, words in _drivers(c)) \
                or "no position moved"
            out.append(f"<tr><td>{when(c.time_ms)}</td><td>{_level(c.before)} → {_level(c.after)}</td>"
                       f'<td class="num">{fmt.ratio(c.unimmr)}</td><td>{_h(c.reason)}</td><td>{drove}</td></tr>')
        out.append("</table>")
        for c in r.changes:
            if not c.moves:
                continue
            out += [f"<h3>{when(c.time_ms)}: {_level(c.before)} → {_level(c.after)}</h3>",
                    "<table><tr><th>Position</th><th>MM before → after (change), share of MM</th>"
                    "<th>uPnL before → after (change)</th></tr>"]
            for m in c.moves:
                maint, upnl = _change_words(m)
                out.append(f'<tr><td>{_h(m.name)}</td><td class="num">{html.escape(maint)}</td>'
                           f'<td class="num">{html.escape(upnl)}</td></tr>')
            out.append("</table>")

    out.append("<h2>Alerts</h2>")
    if not r.alerts:
        out.append("<p>None fired in this period.</p>")
    else:
        out.append("<table><tr><th>Time</th><th>Alert</th><th>Level</th><th>Rule</th><th>Subject</th>"
                   "<th>Message</th></tr>")
        out += [f"<tr><td>{when(a.time_ms)}</td><td>{_h(a.state)}</td><td>{_level(_data(a.level).upper())}</td>"
                f"<td>{_h(a.rule)}</td><td>{_h(a.subject)}</td><td>{_h(a.message)}</td></tr>" for a in r.alerts]
        out.append("</table>")

    out.append("<h2>Faults and data gaps</h2>")
    if not r.outages:
        out.append(f"<p>None: every state was fresh, and no pause between two was longer than "
                   f"{fmt.age(r.gap_ms / 1000)}.</p>")
    else:
        out.append("<table><tr><th>From</th><th>To</th><th>What</th></tr>")
        out += [f"<tr><td>{when(o.start_ms)}</td><td>{when(o.end_ms) if o.end_ms else 'the end of the period'}</td>"
                f"<td>{o.kind}: {_h(o.words)}</td></tr>" for o in r.outages]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(r: Report, format: str) -> str:
    return html_page(r) if format == "html" else markdown(r) + "\n"
