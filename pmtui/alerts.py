"""Alert rules and the engine that decides when they fire: pure, no processes, no I/O.

The engine is plain Python: `Alerts.evaluate(state, now)` looks at one refresh (an `AccountView`
and the data's age) and returns events only when something *changes*:

- ``fired``: a rule starts to hold for a subject (the account, or one position ``SYMBOL:SIDE``);
- ``escalated``: while it holds, its level got worse (e.g. uniMMR went from the margin-call band
  into reduce-only) -- at most once per level, so never a stream;
- ``cleared``: the value recovered past the threshold plus hysteresis (or the position closed).
  Always produced, so the command hook can close what it opened; `on_clear` says whether a
  person is told too (toast, alert log, desktop): see `Alerts.for_people`.

Hysteresis: a "below" rule with threshold X fires when value < X and clears only once value >=
X + |X| * hysteresis (1.5 with 2% clears at 1.53); `stale_for` clears once the age <= X - X * h.
Cooldown: after firing, the same rule and subject does not fire again for `cooldown` seconds;
if it still holds when the cooldown ends, it fires then. Escalation is never held back: firing
again at a worse level than its last event, or with a value past the last event's (lower uniMMR,
nearer liquidation, a longer wait), fires at once. The cooldown runs on the monotonic clock (a
wall clock set back or forward must not silence or repeat alerts); events carry wall time.

`pmtui check` uses the same rules statelessly through `check_rules`.

Nothing here starts a process or does I/O: the outputs that do (the command hook, notify-send)
are `pmtui.notify.Notifier`'s. The bell, toasts and the alert log pane are the UI's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from pmtui import fmt
from pmtui.health import Level, ratio_level, worst
from pmtui.risk import liq_level, status_level, unimmr_band
from pmtui.settings import AlertSettings, Settings, Thresholds
from pmtui.views import AccountView, PositionRow

ACCOUNT = "account"
FIRED, ESCALATED, CLEARED = "fired", "escalated", "cleared"

#: Rule kinds, and which config key makes each.
KINDS = ("unimmr_below", "status_not_normal", "liq_distance_below", "upnl_below", "stale_for",
         "liq_move_below")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. `name` is its config key (it identifies the rule in events); `kind` is what it
    measures. `threshold` is Decimal for amounts and ratios, float seconds for `stale_for`, and
    None for `status_not_normal`."""

    name: str
    kind: str
    threshold: Decimal | float | None = None
    per_position: bool = False


def rules_from(alerts: AlertSettings) -> list[Rule]:
    """The rules an `[alerts]` table turns on."""
    rules = []
    if alerts.unimmr_below is not None:
        rules.append(Rule("unimmr_below", "unimmr_below", alerts.unimmr_below))
    if alerts.status_not_normal:
        rules.append(Rule("status_not_normal", "status_not_normal"))
    if alerts.liq_distance_below is not None:
        rules.append(Rule("liq_distance_below", "liq_distance_below", alerts.liq_distance_below, True))
    if alerts.liq_move_below is not None:
        rules.append(Rule("liq_move_below", "liq_move_below", alerts.liq_move_below))
    if alerts.upnl_below is not None:
        rules.append(Rule("upnl_below", "upnl_below", alerts.upnl_below))
    if alerts.position_upnl_below is not None:
        rules.append(Rule("position_upnl_below", "upnl_below", alerts.position_upnl_below, True))
    if alerts.stale_for is not None:
        rules.append(Rule("stale_for", "stale_for", alerts.stale_for))
    return rules


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the rules look at: the latest view (keep the last good one, with the last good
    PmAccount in it, through failed refreshes) and seconds since the last good refresh."""

    view: AccountView | None = None
    age: float | None = None
    #: The risk model (pmtui.model.RiskModel) for `liq_move_below`; None: not known.
    risk: Any = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    rule: str  # the rule's name, e.g. "unimmr_below" or "position_upnl_below"
    subject: str  # "account" or "SYMBOL:SIDE"
    value: Decimal | float | str | None
    threshold: Decimal | float | str | None
    message: str  # one sentence
    level: Level
    time: float  # epoch seconds
    state: str = FIRED  # fired, escalated or cleared

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as exact strings, the level as a word, time in ms and ISO UTC."""
        return {
            "rule": self.rule,
            "subject": self.subject,
            "state": self.state,
            "level": self.level.label,
            "value": _jsonable(self.value),
            "threshold": _jsonable(self.threshold),
            "message": self.message,
            "time_ms": int(self.time * 1000),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
        }

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**self.to_dict(), **extra}, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt.plain(value) if value.is_finite() else str(value)
    return value


# --- readings ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reading:
    """One subject's value under one rule this refresh."""

    subject: str
    value: Decimal | float | str | None
    start: bool  # the rule holds (it would fire)
    recovered: bool  # past threshold plus hysteresis (a fired rule clears)
    level: Level
    message: str
    clear_message: str


def _show(value: Decimal, places: int, down: bool) -> str:
    """A ratio without rounding it across its threshold: floor when it is low, ceiling when high."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR if down else ROUND_CEILING)
    return fmt.amount(q)


def _pct(fraction: Decimal, down: bool = True) -> str:
    return _show(fraction * 100, 2, down) + "%"


def _direction(row: PositionRow) -> str:
    p = row.position
    return "long" if p.is_long else "short"


def _label(row: PositionRow) -> str:
    p = row.position
    if p.positionSide == "BOTH":
        return f"{p.symbol} {_direction(row)}"
    return f"{p.symbol} {p.positionSide}"


class Alerts:
    """The rule engine: remembers which rules hold, for hysteresis, cooldown and escalation."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        thresholds: Thresholds | None = None,
        cooldown: float = 300.0,
        hysteresis: Decimal = Decimal("0.02"),
        on_clear: bool = False,
    ) -> None:
        self.rules = list(rules)
        self.thresholds = thresholds or Thresholds()
        self.cooldown = cooldown
        self.hysteresis = Decimal(hysteresis)
        self.on_clear = on_clear
        self._tracks: dict[tuple[str, str], _Track] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Alerts:
        a = settings.alerts
        return cls(rules_from(a), thresholds=settings.thresholds, cooldown=a.cooldown,
                   hysteresis=a.hysteresis, on_clear=a.on_clear)

    def active(self) -> list[tuple[str, str, Level]]:
        """(rule, subject, level) of every rule that fired and has not cleared."""
        return [(rule, subject, t.level) for (rule, subject), t in self._tracks.items() if t.active]

    def for_people(self, events: Iterable[AlertEvent]) -> list[AlertEvent]:
        """The events a person is told about: cleared ones only with `on_clear`."""
        return [e for e in events if self.on_clear or e.state != CLEARED]

    def evaluate(self, state: AlertState, now: float | None = None, *,
                 mono: float | None = None) -> list[AlertEvent]:
        """Events for what changed since the last call. `now`: epoch seconds for the events
        (default: time.time()); `mono`: monotonic seconds for the cooldown (default: time.monotonic())."""
        now = time.time() if now is None else now
        mono = time.monotonic() if mono is None else mono
        events: list[AlertEvent] = []
        for rule in self.rules:
            readings, present = self._read(rule, state)
            for r in readings:
                events.extend(self._step(rule, r, now, mono))
            if present is not None:  # subjects that went away (a closed position)
                for (name, subject), track in self._tracks.items():
                    if name == rule.name and track.active and subject not in present:
                        track.active = False
                        events.append(AlertEvent(rule.name, subject, None, rule.threshold,
                                                 f"{subject} is no longer open.", Level.OK, now, CLEARED))
        return events

    def _step(self, rule: Rule, r: _Reading, now: float, mono: float) -> list[AlertEvent]:
        track = self._tracks.setdefault((rule.name, r.subject), _Track())
        threshold = rule.threshold
        if not track.active:
            if not r.start:
                return []
            cooling = track.last_fired is not None and mono - track.last_fired < self.cooldown
            if cooling and r.level <= track.level and not _past(rule, r.value, track.value):
                return []  # cooling down: fires once the cooldown ends, if it still holds
            track.active, track.level, track.value, track.last_fired = True, r.level, r.value, mono
            return [AlertEvent(rule.name, r.subject, r.value, threshold, r.message, r.level, now, FIRED)]
        if r.recovered:
            track.active = False
            return [AlertEvent(rule.name, r.subject, r.value, threshold, r.clear_message, Level.OK, now,
                               CLEARED)]
        if r.start and r.level > track.level:
            track.level, track.value = r.level, r.value
            return [AlertEvent(rule.name, r.subject, r.value, threshold, r.message, r.level, now, ESCALATED)]
        return []

    # -- what each rule measures: (readings, subjects present or None when not applicable) --

    def _read(self, rule: Rule, state: AlertState) -> tuple[list[_Reading], set[str] | None]:
        view = state.view
        if rule.kind == "stale_for":
            return self._stale(rule, state.age), None
        if rule.kind == "liq_move_below":
            return self._liq_move(rule, state.risk), None
        if view is None:
            return [], None
        if rule.kind == "unimmr_below":
            return self._unimmr(rule, view), None
        if rule.kind == "status_not_normal":
            return self._status(view), None
        if rule.kind == "upnl_below" and not rule.per_position:
            return [self._below(rule, ACCOUNT, view.upnl, _upnl_msg("Total uPnL"))], None
        rows = view.open_positions
        present = {row.key for row in rows}
        if rule.kind == "liq_distance_below":
            return [r for row in rows if (r := self._liq(rule, row)) is not None], present
        if rule.kind == "upnl_below":
            # A uPnL not given is unknown, not recovered: no reading, so an alert stays as it was.
            # In USD (a COIN-M row's coin uPnL at its mark): the threshold is a USD amount.
            return [self._below(rule, row.key, upnl, _upnl_msg(f"{_label(row)} uPnL")) for row in rows
                    if (upnl := row.upnl_usd) is not None], present
        raise ValueError(f"unknown alert rule kind {rule.kind!r}")

    def _clear_at(self, threshold: Decimal) -> Decimal:
        return threshold + abs(threshold) * self.hysteresis

    def _below(self, rule: Rule, subject: str, value: Decimal | None, words, level: Level = Level.WARN,
               ) -> _Reading:
        threshold = rule.threshold
        assert isinstance(threshold, Decimal)
        clear_at = self._clear_at(threshold)
        if value is None:  # nothing at risk (no maintenance margin, no liquidation price)
            return _Reading(subject, None, False, True, Level.OK, "", "")
        fire, clear = words(value, threshold, clear_at)
        return _Reading(subject, value, value < threshold, value >= clear_at, level, fire, clear)

    def _unimmr(self, rule: Rule, view: AccountView) -> list[_Reading]:
        value: Decimal | None
        if view.pm is not None:
            value, name = view.pm.uniMMR, "uniMMR"
        else:
            value, name = view.totals.ratio, "UM margin ratio"

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> tuple[str, str]:
            where = unimmr_band(v) + " band" if view.pm is not None else "uniMMR unavailable"
            return (f"{name} {_show(v, 4, True)} is below {fmt.amount(x)} ({where}).",
                    f"{name} {_show(v, 4, False)} is back above {fmt.amount(clear_at)}.")

        level = max(Level.WARN, ratio_level(value, self.thresholds)) if value is not None else Level.OK
        return [self._below(rule, ACCOUNT, value, words, level)]

    def _status(self, view: AccountView) -> list[_Reading]:
        if view.pm is None:
            return []  # unknown, not recovered
        status = view.pm.accountStatus
        if status is None:
            return []  # not given: unknown, not recovered
        normal = status == "NORMAL"
        level = Level.OK if normal else max(Level.WARN, status_level(status))
        return [_Reading(ACCOUNT, status, not normal, normal, level,
                         f"Account status is {status}, not NORMAL.", "Account status is NORMAL again.")]

    def _liq(self, rule: Rule, row: PositionRow) -> _Reading | None:
        if row.risk is None:
            return None  # not fetched or not listed: unknown, which is not recovered
        distance = row.liq_distance
        price = row.risk.liquidationPrice

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> tuple[str, str]:
            shown = fmt.price(price, row.tick_size) if price is not None else "unknown"
            return (f"{_label(row)} is {_pct(v)} from its liquidation price {shown}"
                    f" (alert below {_pct(x)}).",
                    f"{_label(row)} is {_pct(v, down=False)} from its liquidation price again,"
                    f" above {_pct(clear_at, down=False)}.")

        level = max(Level.WARN, liq_level(distance, self.thresholds)) if distance is not None else Level.OK
        return self._below(rule, row.key, distance, words, level)

    def _liq_move(self, rule: Rule, model: Any) -> list[_Reading]:
        """The move of every non-stablecoin (down or up, the nearer) that takes uniMMR to
        liquidation, in percent (the risk model's; unknown without one, which is not recovered)."""
        if model is None:
            return []
        c = model.liquidation_move()
        moves = [m for m in (c.down, c.up) if m is not None]
        nearest = min(moves, key=abs) if moves else None
        value = None if nearest is None else abs(nearest) * 100
        way = "fall" if nearest is None or nearest <= 0 else "rise"
        rough = " (the model is approximate)" if model.base.approximate else ""

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> tuple[str, str]:
            return (f"A {way} of {_show(v, 1, True)}% in every non-stablecoin would take uniMMR to "
                    f"liquidation (alert below {fmt.amount(x)}%){rough}.",
                    f"Liquidation is a {way} of {_show(v, 1, False)}% away again, above "
                    f"{fmt.amount(clear_at)}%.")

        return [self._below(rule, ACCOUNT, value, words)]

    def _stale(self, rule: Rule, age: float | None) -> list[_Reading]:
        if age is None or rule.threshold is None:
            return []
        limit = float(rule.threshold)
        clear_at = limit - limit * float(self.hysteresis)
        return [_Reading(ACCOUNT, round(age, 1), age >= limit, age <= clear_at, Level.WARN,
                         f"No fresh data for {fmt.age(age)} (alert after {limit:g} s).",
                         "Data is fresh again.")]


def _upnl_msg(what: str):
    def words(v: Decimal, x: Decimal, clear_at: Decimal) -> tuple[str, str]:
        return (f"{what} {fmt.money(v, sign=True)} is below {fmt.money(x, sign=True)}.",
                f"{what} {fmt.money(v, sign=True)} is back above {fmt.money(clear_at, sign=True)}.")
    return words


@dataclass(slots=True)
class _Track:
    active: bool = False
    level: Level = Level.OK  # of the last fired or escalated event (kept through a clear)
    value: Decimal | float | str | None = None  # and its value
    last_fired: float | None = None  # monotonic


def _past(rule: Rule, value: Decimal | float | str | None, last: Decimal | float | str | None) -> bool:
    """Whether `value` is worse than the last event's: lower for the "below" rules, a longer
    wait for `stale_for`. A status has no order (its level says it)."""
    if value is None or last is None or isinstance(value, str) or isinstance(last, str):
        return False
    return value > last if rule.kind == "stale_for" else value < last


# --- stateless: `pmtui check` --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every rule that holds right now, with the worst level among them (OK when none holds)."""

    level: Level
    events: tuple[AlertEvent, ...]

    @property
    def messages(self) -> list[str]:
        return [e.message for e in self.events]


def check_rules(
    view: AccountView,
    *,
    alerts: AlertSettings | None = None,
    thresholds: Thresholds | None = None,
    age: float | None = None,
    now: float | None = None,
    rules: Sequence[Rule] | None = None,
    risk: Any = None,
) -> CheckResult:
    """Evaluate the rules (`rules`, else those `alerts` turns on, else the defaults) once on a
    snapshot, with no memory: no hysteresis, no cooldown."""
    engine = Alerts(rules if rules is not None else rules_from(alerts or AlertSettings()),
                    thresholds=thresholds, cooldown=0, hysteresis=Decimal(0))
    events = tuple(e for e in engine.evaluate(AlertState(view, age, risk), now) if e.state == FIRED)
    ranked = tuple(sorted(events, key=lambda e: e.level, reverse=True))  # stable: rule order within a level
    return CheckResult(worst(e.level for e in ranked), ranked)
