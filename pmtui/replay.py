"""`pmtui replay`: the dashboard on recorded states (pmtui.record), read-only, no requests at all.

Each recorded document (`watch --json`'s object for a state: the API's objects with their decimal
strings) becomes a MonitorState again: the objects parsed by pmtui.models' parsers, and the view
and balance rows rebuilt by the same pure functions the Monitor and the daemon's viewers
(pmtui.wire) use. What the document does not hold stays unknown: the exchange's tick sizes (prices
shown as sent), the risk model's inputs (no ladder), zero rows, and the status bar's
request-level facts (latency, weight).

A ReplayMonitor publishes the state at its cursor; the keys move the cursor (a step, an event:
an alert, a level change, a fault) or play the recording at 1x, 10x or 60x on an injected clock.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pmtui.alerts import CLEARED, AlertEvent
from pmtui.charts import liq_of_doc
from pmtui.errors import PmtuiError
from pmtui.fed import FedMonitor
from pmtui.health import LIQUIDATION, UNIMMR, Level, Verdict
from pmtui.history import Sample
from pmtui.models import (
    PmAccount,
    parse_balance,
    parse_cm_account,
    parse_cm_position_risk,
    parse_pm_account,
    parse_position_risk,
    parse_um_account,
)
from pmtui.record import ALERTS_FLAG, ERROR_FLAG, LazyStates
from pmtui.risk import Estimate
from pmtui.state import ALERTS, DATA, FAULT, MonitorState, Notice, StatusInfo
from pmtui.stream import PushStatus
from pmtui.text import clean
from pmtui.text import name as shown_name
from pmtui.views import AccountView, balance_rows, build_view
from pmtui.wire import _joined

if TYPE_CHECKING:
    from pmtui.record import Recorded
    from pmtui.settings import Settings

#: Play speeds `space` cycles through (then back to paused).
SPEEDS = (1, 10, 60)
#: Seconds of recorded time a play skips without waiting (a gap while nothing was recorded).
GAP = 30.0
#: Seconds between two moves of the cursor while playing.
TICK = 0.25
#: What `r`, `p`, `+` and `-` say: nothing is fetched or paced in a replay.
READ_ONLY = "replay: read-only (a recording: nothing is fetched)"


class ReplayError(PmtuiError):
    """A recorded state that does not read."""

    kind = "replay"


# --- a recorded document back to a state ------------------------------------------------------------

def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _alert_of(d: dict[str, Any]) -> AlertEvent:
    """An alert as AlertEvent.to_dict wrote it (its items keep their words, not their thresholds)."""
    def value(v: Any) -> Decimal | float | str | None:
        return Decimal(v) if isinstance(v, str) and _numeric(v) else v

    level = Level[str(d["level"]).upper()]
    items = tuple(AlertEvent(rule=str(d["rule"]), subject=str(i["subject"]), value=value(i.get("value")),
                             threshold=None, message=str(i["message"]), level=Level[str(i["level"]).upper()],
                             time=int(d["time_ms"]) / 1000, state=str(i["state"]))
                  for i in d.get("items", []) if len(d.get("items", [])) > 1)
    return AlertEvent(rule=str(d["rule"]), subject=str(d["subject"]), value=value(d.get("value")),
                      threshold=value(d.get("threshold")), message=str(d["message"]), level=level,
                      time=int(d["time_ms"]) / 1000, state=str(d["state"]), items=items)


def _numeric(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def state_of(doc: dict[str, Any], time_ms: int, settings: Settings, seq: int = 0) -> MonitorState:
    """The MonitorState a recorded document stands for, as it was at `time_ms`."""
    try:
        return _state_of(doc, time_ms, settings, seq)
    except PmtuiError:
        raise
    except Exception as err:  # any part malformed: the whole state is
        raise ReplayError(f"A recorded state does not read ({type(err).__name__}).") from None


def _state_of(doc: dict[str, Any], time_ms: int, settings: Settings, seq: int) -> MonitorState:
    now = time_ms / 1000
    has_account = "assets" in doc
    account = parse_um_account({"assets": doc["assets"], "positions": doc["positions"]}) if has_account else None
    pm = parse_pm_account(doc["account"]) if doc.get("account") is not None else None
    risks = parse_position_risk(doc["positionRisk"]) if doc.get("positionRisk") is not None else None
    cm_doc = doc.get("cm")
    cm = parse_cm_account(cm_doc["account"]) if cm_doc else None
    cm_risks = parse_cm_position_risk(cm_doc["positionRisk"]) if cm_doc and cm_doc.get("positionRisk") is not None \
        else None
    balances = parse_balance(doc["balance"]) if doc.get("balance") is not None else None
    view = None
    if account is not None:
        joined = _joined([[r.symbol, r.positionSide, r.raw] for r in risks]) if risks is not None else None
        view = build_view(account, settings.thresholds, risks=joined, pm=pm, markets={}, cm=cm, cm_risks=cm_risks)
    stale = bool(doc.get("stale"))
    fetched = doc.get("fetchedAt")
    last_ok = int(fetched) / 1000 if fetched else None
    error = PmtuiError(clean(str(doc["error"]))) if doc.get("error") else None
    push = doc.get("push")
    status = StatusInfo(
        paused=False, stopped=False, stale=stale, error=error, age=None if last_ok is None else max(0.0, now - last_ok),
        last_ok_wall=last_ok, interval=settings.interval, next_in=None, fetching=False, latency_ms=None,
        used_weight=None, offset_ms=None,
        push=None if push is None else PushStatus(up=bool(push.get("up")), reason=push.get("reason"), since=None,
                                                   events=0),
        replay="")
    account_doc = (doc.get("view") or {}).get("account") or {}
    estimate = None
    if account_doc.get("uniMMREstimate") is not None or account_doc.get("equityEstimate") is not None:
        estimate = Estimate(Decimal(account_doc["equityEstimate"]), Decimal(account_doc["maintMarginEstimate"]))
    return MonitorState(
        seq=seq, changed=frozenset(str(c) for c in doc.get("changed", ())) | {DATA}, view=view,
        verdict=_verdict_of(doc, view, pm, stale), status=status, account=account, pm=pm, risks=risks, cm=cm,
        cm_risks=cm_risks, unavailable={str(k): str(v) for k, v in (doc.get("unavailable") or {}).items()},
        account_note=None,
        # The record keeps when the whole account came, not when uniMMR alone did.
        unimmr_age=status.age if pm is not None else None, fallback=False, estimate=estimate,
        estimate_age=account_doc.get("estimateAge"),
        alerts=tuple(_alert_of(a) for a in doc.get("alerts", ())), notices=(), balances=balances,
        balance_rows=() if balances is None else balance_rows(balances, include_zero=True),
        balance_stale=stale and balances is not None, balance_note=None, risk=None)


def _verdict_of(doc: dict[str, Any], view: AccountView | None, pm: PmAccount | None, stale: bool) -> Verdict | None:
    """The recorded verdict: the view's own when it says the same words (its causes then point at
    what set it), else the recorded words as they were."""
    word, reason = doc.get("level"), doc.get("reason")
    if word is None:
        return None
    if view is not None:
        again = view.verdict(stale=stale, refused=pm is None)
        if again.word == word and again.reason == reason:
            return again
    unknown = word == "UNKNOWN"
    level = Level[word] if not unknown else view.level if view is not None else Level.OK
    cause = LIQUIDATION if reason and "liquidation" in str(reason) else UNIMMR
    words = str(reason or "")
    if unknown and words.startswith("uniMMR unknown"):
        words = words.removeprefix("uniMMR unknown").lstrip(", ")
    return Verdict(level=level, causes=((cause, clean(words)),) if words else (), stale=stale, unknown=unknown)


def sample_of(rec: Recorded) -> Sample:
    """The sparklines' figures of a recorded state, without rebuilding it."""
    top = _top(rec)
    account = top.get("account") or {}
    facts = top.get("~")
    if isinstance(facts, dict) and "upnl" in facts:  # recorded beside the view: it need not be derived
        return Sample(time_ms=rec.time_ms, profile=rec.profile, unimmr=_dec(account.get("uniMMR")),
                      account_equity=_dec(account.get("accountEquity")),
                      maint_margin=_dec(account.get("accountMaintMargin")), total_upnl=_dec(facts["upnl"]),
                      level=str(top.get("level") or ""))
    figures = (rec.doc.get("view") or {}).get("account") or {}
    return Sample(time_ms=rec.time_ms, profile=rec.profile, unimmr=_dec(figures.get("uniMMR")),
                  account_equity=_dec(account.get("accountEquity") or figures.get("marginBalance")),
                  maint_margin=_dec(account.get("accountMaintMargin") or figures.get("maintMargin")),
                  total_upnl=_dec(figures.get("totalUnrealizedProfit")), level=str(rec.doc.get("level") or ""))


def _top(rec: Recorded) -> dict[str, Any]:
    """All of a recorded document but its view, without deriving the view (pmtui.record)."""
    top = getattr(rec, "top", None)
    return top if isinstance(top, dict) else rec.doc


def events(records: Sequence[Recorded]) -> list[int]:
    """The indexes of the states that are events: an alert, a level change, a fault or recovery."""
    levels, flags = getattr(records, "levels", None), getattr(records, "flags", None)
    if levels is not None and flags is not None and None not in flags:  # from the rows' columns, not decoded
        return [i for i, f in enumerate(flags) if f & ALERTS_FLAG or (i and (
            levels[i] != levels[i - 1] or bool(f & ERROR_FLAG) != bool(flags[i - 1] & ERROR_FLAG)))]
    found = []
    for i, rec in enumerate(records):
        doc = _top(rec)
        before = _top(records[i - 1]) if i else None
        if doc.get("alerts") or (before is not None and (
                doc.get("level") != before.get("level") or bool(doc.get("error")) != bool(before.get("error")))):
            found.append(i)
    return found


_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*([smhd])$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_moment(text: str, current_ms: int) -> int:
    """`t` in a replay: "2026-12-07 03:14" (local time), "03:14" (on the shown moment's day) or
    "-2h" / "+30m" (from the shown moment) -> epoch ms. ValueError with a sentence otherwise."""
    words = text.strip()
    try:
        if (match := _RELATIVE.match(words)) is not None:
            seconds = float(match.group(2)) * _UNIT[match.group(3).lower()]
            ms = current_ms + int((seconds if match.group(1) == "+" else -seconds) * 1000)
        elif (match := _CLOCK.match(words)) is not None:
            day = datetime.fromtimestamp(current_ms / 1000)
            ms = int(day.replace(hour=int(match.group(1)), minute=int(match.group(2)),
                                 second=int(match.group(3) or 0), microsecond=0).timestamp() * 1000)
        else:
            ms = int(datetime.fromisoformat(words).timestamp() * 1000)  # naive: local time, as shown
        datetime.fromtimestamp(ms / 1000)  # a time a clock can show (not the year 300000)
        return ms
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{clean(words)[:40]!r} is not a time: type a date and time like 2026-12-07 03:14, "
                         "a time like 03:14, or -2h.") from None


def nearest(records: Sequence[Recorded], time_ms: int) -> int:
    """The index of the state recorded nearest `time_ms`."""
    times = getattr(records, "times", None) or [r.time_ms for r in records]
    i = bisect.bisect_left(times, time_ms)
    if i == len(times) or (i and time_ms - times[i - 1] <= times[i] - time_ms):
        return max(0, i - 1)
    return i


# --- the monitor ----------------------------------------------------------------------------------

class ReplayMonitor(FedMonitor):
    """A recording as a Monitor: it publishes the state at its cursor. `clock` (wall seconds)
    and `sleep` drive playing; tests give their own and call `tick`."""

    remote = True  # its alerts were delivered when they fired: a replay must not send them again

    def __init__(self, profile: str, settings: Settings, records: Sequence[Recorded], *, start: int = 0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(profile, settings)
        assert records, "a replay needs at least one recorded state"
        # Not the moments before the first data (connecting): they show nothing.
        if isinstance(records, LazyStates):  # opened lazily: it leaves out the moments before data itself
            self.records: Sequence[Recorded] = records
        else:
            self.records = [r for r in records if "assets" in _top(r) or _top(r).get("error")] or list(records)
        self.events = events(self.records)
        self.cursor = -1
        self.speed = 0  # 0: paused; else one of SPEEDS
        self._sleep = sleep
        self._clock = clock
        self._play_ms = 0.0  # the recorded time playing has reached
        self._last_tick: float | None = None
        self._cache: dict[int, MonitorState] = {}
        self.seek(start)

    # --- what the dashboard asks of a Monitor ----------------------------------------------

    async def run(self) -> None:
        """Plays while a speed is chosen; otherwise waits (nothing is fetched, ever)."""
        while True:
            await self._sleep(TICK)
            if self.speed:
                self.tick()
            else:
                self._last_tick = None

    def refresh_now(self) -> None:
        self._say(READ_ONLY)

    def set_paused(self, paused: bool) -> None:
        self._say(READ_ONLY)

    def step_interval(self, direction: int) -> float:
        self._say(READ_ONLY)
        return self._state.status.interval

    async def fetch_once(self, **_: Any) -> MonitorState:
        return self._state

    # --- moving ----------------------------------------------------------------------------

    def seek(self, index: int, *, notices: tuple[Notice, ...] = ()) -> None:
        """Show the state at `index` (kept within the recording)."""
        index = max(0, min(len(self.records) - 1, index))
        self.cursor = index
        self._play_ms = self.records[index].time_ms
        self._rebuild_series()
        self._show(notices)

    def seek_time(self, time_ms: int) -> None:
        """`t`: the state recorded nearest `time_ms` (playing stops); a time outside the
        recording is said, beside the first or last state shown."""
        self.speed = 0
        index = nearest(self.records, time_ms)
        first, last = self.records[0].time_ms, self.records[-1].time_ms
        note = ("before the recording starts: its first state" if time_ms < first - GAP * 1000 else
                "after the recording ends: its last state" if time_ms > last + GAP * 1000 else None)
        self.seek(index, notices=(Notice("Replay", f"{_local(time_ms)} is {note}.", timeout=4),) if note else ())

    def step(self, by: int) -> None:
        """`←`/`→`: the previous or next state (playing stops)."""
        self.speed = 0
        self.seek(self.cursor + by)

    def jump(self, direction: int) -> None:
        """`[`/`]`: the previous or next event; none that way is said, the cursor stays."""
        self.speed = 0
        if direction > 0:
            later = [i for i in self.events if i > self.cursor]
            target = later[0] if later else None
        else:
            earlier = [i for i in self.events if i < self.cursor]
            target = earlier[-1] if earlier else None
        if target is None:
            self._say(f"No {'later' if direction > 0 else 'earlier'} event in this recording.")
            return
        self.seek(target)

    def toggle_play(self) -> None:
        """`space`: paused, 1x, 10x, 60x, paused..."""
        self.speed = SPEEDS[SPEEDS.index(self.speed) + 1] if self.speed in SPEEDS[:-1] else \
            0 if self.speed else SPEEDS[0]
        self._last_tick = self._clock() if self.speed else None
        if self.speed and self.cursor == len(self.records) - 1:
            self.seek(0)  # played to the end: again from the start
        self._show()

    def tick(self) -> None:
        """Playing: move the cursor to where the recorded time has come since the last tick
        (gaps longer than GAP are skipped)."""
        now = self._clock()
        if self._last_tick is None or not self.speed:
            self._last_tick = now
            return
        self._play_ms += (now - self._last_tick) * self.speed * 1000
        self._last_tick = now
        index = self.cursor
        while index + 1 < len(self.records) and self.records[index + 1].time_ms <= self._play_ms:
            index += 1
        if index == self.cursor and index + 1 < len(self.records):
            gap_end = self.records[index + 1].time_ms
            if gap_end - self.records[index].time_ms > GAP * 1000 and \
                    self._play_ms - self.records[index].time_ms > GAP * 1000:
                index += 1
                self._play_ms = gap_end
        if index == self.cursor:
            return
        end = index == len(self.records) - 1
        if end:
            self.speed = 0
        play_ms = self._play_ms
        self.cursor = index
        self._rebuild_series()
        self._show((Notice("Replay", "End of the recording.", timeout=4),) if end else ())
        self._play_ms = play_ms

    # --- publishing ------------------------------------------------------------------------

    def _say(self, sentence: str) -> None:
        self._publish(dataclasses.replace(self._state, changed=frozenset(), alerts=(),
                                          notices=(Notice("Replay", sentence, "warning", timeout=4),)))

    def state_at(self, index: int) -> MonitorState:
        state = self._cache.get(index)
        if state is None:
            rec = self.records[index]
            state = state_of(rec.doc, rec.time_ms, self.settings, seq=index + 1)
            model = rec.risk_model() if hasattr(rec, "risk_model") else None
            if model is not None:  # recorded with its inputs: the ladder and what-if of that moment
                state = dataclasses.replace(state, risk=model)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[index] = state
        return state

    def where(self) -> str:
        """The words after REPLAY: the recorded time, where in the recording, playing or not."""
        rec = self.records[self.cursor]
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec.time_ms / 1000))
        playing = f"▶ {self.speed}×" if self.speed else "❚❚ space plays"
        return (f"{moment} · state {self.cursor + 1} of {len(self.records)} · {playing} · "
                "←/→ step · [/] event")

    def _show(self, notices: tuple[Notice, ...] = ()) -> None:
        state = self.state_at(self.cursor)
        # The alerts of that moment as toasts, as they were shown then (never sent again: remote).
        notices = tuple(Notice(f"Alert at {time.strftime('%H:%M:%S', time.localtime(e.time))}", e.message,
                               "error" if e.level >= Level.DANGER else "warning", timeout=6)
                        for e in state.alerts if e.state != CLEARED) + notices
        # Its alerts go to the log and its fault shows, whatever kinds of change the row carries.
        changed = frozenset({DATA}) | (state.changed & {FAULT}) | ({ALERTS} if state.alerts else set())
        self._publish(dataclasses.replace(
            state, changed=changed, notices=notices,
            status=dataclasses.replace(state.status, replay=self.where())))

    def _rebuild_series(self) -> None:
        """The sparklines: the recorded figures up to the cursor (as many as they hold)."""
        series = self.series
        series.clear()
        for rec in self.records[max(0, self.cursor + 1 - series.unimmr.maxlen):self.cursor + 1]:
            series.add(sample_of(rec), liq_of_doc(rec))


#: Hours of recording read around --at, and back from now without --at or --since.
WINDOW_HOURS = 24


def load(options: Any, *, at_ms: int | None = None, since_ms: int | None = None,
         now: float | None = None) -> tuple[str, Settings, Sequence[Recorded], int]:
    """The profile, its settings, its recorded states and the index to open at, for `pmtui
    replay`; ConfigError with one sentence when nothing is recorded there."""
    from pmtui.errors import ConfigError
    from pmtui.fleet import select
    from pmtui.record import open_states

    account = select(options)[0]
    assert account.settings is not None
    history = options.history(reading=True)
    now_ms = int((time.time() if now is None else now) * 1000)
    window = WINDOW_HOURS * 3600 * 1000
    if at_ms is not None:
        since, until, when = at_ms - window // 2, at_ms + window // 2, f" around {_local(at_ms)}"
    elif since_ms is not None:
        since, until, when = since_ms, None, f" since {_local(since_ms)}"
    else:
        since, until, when = now_ms - window, None, f" in the last {WINDOW_HOURS} hours"
    exists = history.path.exists()
    records: Sequence[Recorded] = open_states(history.path, account.profile, since_ms=since, until_ms=until) \
        if exists else []
    if not records:
        raise ConfigError(f"Nothing recorded for profile {shown_name(account.profile)}{when} in the history file "
                          f"{history.path}: record with --record or run the daemon.")
    start = nearest(records, at_ms) if at_ms is not None else 0
    return account.profile, account.settings, records, start


def _local(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))
