"""Alert rules and the engine that decides when they fire: pure, no processes, no I/O.

The engine is plain Python: `Alerts.evaluate(state, now)` looks at one refresh (an `AccountView`
and the data's age) and returns events only when something *changes*:

- ``fired``: a rule starts to hold for a subject (the account, or one position ``SYMBOL:SIDE``);
- ``escalated``: while it holds, its level got worse (e.g. uniMMR went from the margin-call band
  into reduce-only) -- at most once per level, so never a stream;
- ``cleared``: the value recovered past the threshold plus hysteresis (or the position closed).
  Always produced, so the command hook can close what it opened; `on_clear` (on by default)
  says whether a person is told too (toast, alert log, desktop): see `Alerts.for_people`.

Grouping: what one rule does in one evaluation is one event, however many positions it
concerns ("3 positions within 10% of liquidation: BTCUSDT long 0.1%, ..."), worst first, so a
bad minute is one toast, one bell, one log line and one command run per rule, not one per
position. The event's `items` are the per-position events it stands for. Hysteresis, cooldown
and escalation still run per subject.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

from pmtui import fmt
from pmtui.health import Level, ratio_level, worst
from pmtui.models import ADL_MAX
from pmtui.risk import liq_level, status_level, unimmr_band
from pmtui.settings import AlertSettings, Settings, Thresholds
from pmtui.views import AccountView, PositionRow

ACCOUNT = "account"
FIRED, ESCALATED, CLEARED = "fired", "escalated", "cleared"

#: Rule kinds, and which config key makes each.
KINDS = ("unimmr_below", "status_not_normal", "liq_distance_below", "upnl_below", "stale_for",
         "liq_move_below", "forced_fill")


#: What a rule says of a reading: the alert, its all-clear (or how to make it from the last
#: value), and the short form; and the function that words a reading (value, threshold, clear-at).
Said = tuple[str, str | Callable[[Any], str], str]
Words = Callable[[Decimal, Decimal, Decimal], Said]


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
    if alerts.adl_front:
        rules.append(Rule("adl_front", "adl_front", Decimal(ADL_MAX), True))
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
    if alerts.forced_fill:
        rules.append(Rule("forced_fill", "forced_fill"))
    return rules


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the rules look at: the latest view (keep the last good one, with the last good
    PmAccount in it, through failed refreshes) and seconds since the last good refresh."""

    view: AccountView | None = None
    age: float | None = None
    #: The risk model (pmtui.model.RiskModel) for `liq_move_below`; None: not known.
    risk: Any = None
    #: The ledger (pmtui.ledger.LedgerView) for `forced_fill`; None: not read.
    ledger: Any = None


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
    #: A group's per-subject events, worst first (empty for an event about one subject).
    items: tuple[AlertEvent, ...] = ()

    @property
    def parts(self) -> tuple[AlertEvent, ...]:
        """The per-subject events this one stands for (itself when it is about one subject)."""
        return self.items or (self,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as exact strings, the level as a word, time in ms and ISO UTC.
        `items` lists every subject with its own state, level, value and message."""
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
            "items": [{"subject": e.subject, "state": e.state, "level": e.level.label,
                       "value": _jsonable(e.value), "message": e.message} for e in self.parts],
        }

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**self.to_dict(), **extra}, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt.plain(value) if value.is_finite() else str(value)
    return value


# --- readings ------------------------------------------------------------------------------------


class _Once:
    """A reading's words, made the first time they are asked for (functools.cache costs more to
    set up than most readings ever use: one per position per rule, each refresh)."""

    __slots__ = ("_make", "_said")

    def __init__(self, make: Callable[[], Said]) -> None:
        self._make = make
        self._said: Said | None = None

    def __call__(self) -> Said:
        if self._said is None:
            self._said = self._make()
        return self._said


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__
class _Reading:
    """One subject's value under one rule this refresh."""

    subject: str
    value: Decimal | float | str | None
    start: bool  # the rule holds (it would fire)
    recovered: bool  # past threshold plus hysteresis (a fired rule clears)
    level: Level
    #: (the fire message, the clear message or a function of the rule's last event value giving
    #: it, label and value in a few words for a group's list: "BTCUSDT long 0.1%"). Worded only
    #: when an event is made: at 1,000 positions, formatting every reading each refresh was a
    #: tenth of the refresh, for messages nobody reads.
    said: Callable[[], Said]
    #: The position's name ("BTCUSDT long"), for "closed"; or what makes it, asked only when the
    #: reading fires (naming 1,000 positions each refresh cost more than judging them).
    label: str | Callable[[], str] = ""

    @property
    def message(self) -> str:
        return self.said()[0]

    @property
    def clear_message(self) -> Callable[[Any], str]:
        """The clear message, given the value of the rule's last event (to say what is over)."""
        clear = self.said()[1]
        return clear if callable(clear) else _says(clear)

    @property
    def brief(self) -> str:
        return self.said()[2]


#: The rules read on each open position (upnl_below too, when per_position).
PER_POSITION = frozenset({"adl_front", "liq_distance_below"})


def _says(text: str) -> Callable[[Any], str]:
    return lambda _last: text


#: How many subjects a group's message names before "+N more".
GROUP_SHOWN = 3


def _show(value: Decimal, places: int, down: bool) -> str:
    """A ratio without rounding it across its threshold: floor when it is low, ceiling when high."""
    # Enough digits for the whole value: the default 28 raise InvalidOperation from 1e24 up (a
    # pushed uniMMR of 1e30 once ended the Monitor's loop).
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + places + 2)
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
        on_clear: bool = True,
    ) -> None:
        self.rules = list(rules)
        self.thresholds = thresholds or Thresholds()
        self.cooldown = cooldown
        self.hysteresis = Decimal(hysteresis)
        self.on_clear = on_clear
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._keyed: tuple[AccountView, list[str], set[str]] | None = None  # the last view's row keys
        self._fills_told: set[str] = set()  # forced fills already fired (endpoint:orderId)
        self._clear_cache: dict[tuple[Decimal, Decimal], Decimal] = {}

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
                 mono: float | None = None, hold_clears: bool = False, positions: bool = True) -> list[AlertEvent]:
        """Events for what changed since the last call. `now`: epoch seconds for the events
        (default: time.time()); `mono`: monotonic seconds for the cooldown (default: time.monotonic()).
        `hold_clears`: the view is an estimate (positions moved to the stream's marks): it may
        start or raise an alert, never clear one; the next REST figures do. `positions=False`:
        the rows are those of the last call (a pushed uniMMR), so the rules read on each
        position are not read again (at 1,000 positions, ~20 ms a push held back)."""
        now = time.time() if now is None else now
        mono = time.monotonic() if mono is None else mono
        events: list[AlertEvent] = []
        for rule in self.rules:
            if not positions and (rule.kind in PER_POSITION or rule.per_position):
                continue
            if rule.kind == "forced_fill":
                events.extend(self._forced(rule, state.ledger, now))
                continue
            readings, present = self._read(rule, state)
            happened = [e for r in readings if (e := self._step(rule, r, now, mono, hold_clears)) is not None]
            if present is not None:  # subjects that went away (a closed position)
                for (name, subject), track in self._tracks.items():
                    if name == rule.name and track.active and subject not in present:
                        track.active = False
                        happened.append(_Brief(
                            AlertEvent(rule.name, subject, None, rule.threshold,
                                       f"{track.label or subject} is no longer open.", Level.OK, now, CLEARED),
                            f"{track.label or subject} closed"))
            events.extend(_group(rule, happened))
        return events

    def _step(self, rule: Rule, r: _Reading, now: float, mono: float, hold_clears: bool = False) -> _Brief | None:
        key = (rule.name, r.subject)
        track = self._tracks.get(key)
        if track is None:
            if not r.start:
                return None  # nothing held and nothing starts: no track to keep (1,000 positions')
            track = self._tracks[key] = _Track()
        threshold = rule.threshold
        if not track.active:
            if not r.start:
                return None
            cooling = track.last_fired is not None and mono - track.last_fired < self.cooldown
            if cooling and r.level <= track.level and not _past(rule, r.value, track.value):
                return None  # cooling down: fires once the cooldown ends, if it still holds
            track.active, track.level, track.value, track.last_fired = True, r.level, r.value, mono
            track.label = (r.label() if callable(r.label) else r.label) or None
            return _Brief(AlertEvent(rule.name, r.subject, r.value, threshold, r.message, r.level, now, FIRED),
                          r.brief)
        if r.recovered and not hold_clears:
            track.active = False
            return _Brief(AlertEvent(rule.name, r.subject, r.value, threshold, r.clear_message(track.value),
                                     Level.OK, now, CLEARED), r.brief)
        if r.start and r.level > track.level:
            track.level, track.value = r.level, r.value
            return _Brief(AlertEvent(rule.name, r.subject, r.value, threshold, r.message, r.level, now,
                                     ESCALATED), r.brief)
        return None

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
        keys, present = self._keys(view)
        if rule.kind == "adl_front":
            return [self._adl(row) for row in rows if row.adl is not None], present
        # A row that is not under the threshold and has no track reads as nothing (_step): it is
        # skipped before its reading is built. At 1,000 positions building them all was most of
        # the rules' time, each refresh (issue 25).
        if rule.kind not in ("liq_distance_below", "upnl_below"):
            raise ValueError(f"unknown alert rule kind {rule.kind!r}")
        threshold, tracked = rule.threshold, self._tracked(rule.name)
        assert isinstance(threshold, Decimal), "the per-position rules' thresholds are amounts"
        if rule.kind == "liq_distance_below":
            return [r for row, key in zip(rows, keys, strict=True)
                    if (key in tracked or (row.liq_distance is not None and row.liq_distance < threshold))
                    and (r := self._liq(rule, row, key)) is not None], present
        # upnl_below, per position: a uPnL not given is unknown, not recovered: no reading, so an
        # alert stays as it was. In USD (a COIN-M row's coin uPnL at its mark): the threshold is a USD
        # amount. The label only for a reading built (naming every row cost more than judging it).
        return [self._below(rule, key, upnl, _upnl_msg(f"{_label(row)} uPnL"), label=_label(row))
                for row, key in zip(rows, keys, strict=True)
                if (upnl := row.upnl_usd) is not None and (key in tracked or upnl < threshold)], present

    def _clear_at(self, threshold: Decimal) -> Decimal:
        # Once per threshold, not once per position read against it.
        key = (threshold, self.hysteresis)
        known = self._clear_cache.get(key)
        if known is None:
            known = self._clear_cache[key] = threshold + abs(threshold) * self.hysteresis
        return known

    def _below(self, rule: Rule, subject: str, value: Decimal | None, words: Words, level: Level = Level.WARN,
               *, label: str | Callable[[], str] = "", gone: str = "") -> _Reading:
        """`words(value, threshold, clear_at)` gives (fire message, clear message or a function of
        the last event's value giving it, brief). `gone`: the clear message when there is no value
        (nothing at risk: no maintenance margin, no liquidation price)."""
        threshold = rule.threshold
        assert isinstance(threshold, Decimal)
        clear_at = self._clear_at(threshold)
        if value is None:
            return _Reading(subject, None, False, True, Level.OK, _Once(lambda: ("", gone, gone.rstrip("."))), label)
        return _Reading(subject, value, value < threshold, value >= clear_at, level,
                        _Once(lambda: words(value, threshold, clear_at)), label)

    def _unimmr(self, rule: Rule, view: AccountView) -> list[_Reading]:
        value: Decimal | None
        pm = view.pm
        if pm is not None:
            value, name = pm.uniMMR, "uniMMR"
        else:
            value, name = view.totals.ratio, "UM margin ratio"

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> Said:
            where = unimmr_band(v) + " band" if pm is not None else "uniMMR unavailable"

            def clear(last: Any) -> str:
                # Say which of Binance's bands is over ("margin call over"), when it is.
                was = unimmr_band(last) if pm is not None and isinstance(last, Decimal) else None
                over = f": {was} over" if was is not None and was != unimmr_band(v) else ""
                return f"{name} {_show(v, 4, False)} is back above {fmt.amount(clear_at)}{over}."

            return (f"{name} {_show(v, 4, True)} is below {fmt.amount(x)} ({where}).", clear,
                    f"{name} {_show(v, 4, True)}")

        level = max(Level.WARN, ratio_level(value, self.thresholds)) if value is not None else Level.OK
        return [self._below(rule, ACCOUNT, value, words, level,
                            gone=f"{name} has no limit: no maintenance margin left.")]

    def _status(self, view: AccountView) -> list[_Reading]:
        if view.pm is None:
            return []  # unknown, not recovered
        status = view.pm.accountStatus
        if status is None:
            return []  # not given: unknown, not recovered
        normal = status == "NORMAL"
        level = Level.OK if normal else max(Level.WARN, status_level(status))

        def clear(last: Any) -> str:
            was = f" ({last} is over)" if isinstance(last, str) and last != "NORMAL" else ""
            return f"Account status is NORMAL again{was}."

        return [_Reading(ACCOUNT, status, not normal, normal, level,
                         _Once(lambda: (f"Account status is {status}, not NORMAL.", clear, f"status {status}")))]

    def _adl(self, row: PositionRow) -> _Reading:
        """A position at the front of the ADL queue: should a counterparty be liquidated at a
        loss the insurance fund cannot cover, it is closed first, at that price, unasked."""
        label, q = _label(row), row.adl
        front = q is not None and q >= ADL_MAX
        return _Reading(row.key, None if q is None else Decimal(q), front, not front, Level.WARN if front else Level.OK,
                        _Once(lambda: (f"{label} is at the front of the ADL queue (quantile {q} of {ADL_MAX}): it "
                                       "would be auto-deleveraged first.",
                                       f"{label} has left the front of the ADL queue (quantile {q}).",
                                       f"{label} ADL {q}")), label)

    def _keys(self, view: AccountView) -> tuple[list[str], set[str]]:
        """The open rows' keys (a property that formats), once per view for all the rules."""
        if self._keyed is None or self._keyed[0] is not view:
            keys = [row.key for row in view.open_positions]
            self._keyed = (view, keys, set(keys))
        return self._keyed[1], self._keyed[2]

    def _tracked(self, rule_name: str) -> set[str]:
        """The subjects `rule_name` keeps a track for (it fired on them at least once)."""
        return {subject for (name, subject) in self._tracks if name == rule_name}

    def _liq(self, rule: Rule, row: PositionRow, key: str | None = None) -> _Reading | None:
        if row.risk is None:
            return None  # not fetched or not listed: unknown, which is not recovered
        distance = row.liq_distance
        price = row.risk.liquidationPrice

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> Said:
            label = _label(row)
            shown = fmt.price(price, row.tick_size) if price is not None else "unknown"
            return (f"{label} is {_pct(v)} from its liquidation price {shown} (alert below {_pct(x)}).",
                    f"{label} is {_pct(v, down=False)} from its liquidation price again,"
                    f" above {_pct(clear_at, down=False)}.",
                    f"{label} {_pct(v)}")

        if distance is None:
            label = _label(row)
            return self._below(rule, key or row.key, None, words, Level.OK, label=label,
                               gone=f"{label} has no liquidation price now.")
        level = max(Level.WARN, liq_level(distance, self.thresholds))
        return self._below(rule, key or row.key, distance, words, level, label=lambda: _label(row))

    def _liq_move(self, rule: Rule, model: Any) -> list[_Reading]:
        """The move of every non-stablecoin (down or up, the nearer) that takes uniMMR to
        liquidation, in percent (the risk model's; unknown without one, which is not recovered)."""
        from pmtui.riskview import off

        if model is None or off(model) is not None:
            return []  # unknown: a model that does not reconcile with Binance's uniMMR says nothing
        c = model.liquidation_move()
        moves = [m for m in (c.down, c.up) if m is not None]
        nearest = min(moves, key=abs) if moves else None
        value = None if nearest is None else abs(nearest) * 100
        way = "fall" if nearest is None or nearest <= 0 else "rise"
        rough = " (the model is approximate)" if model.base.approximate else ""

        def words(v: Decimal, x: Decimal, clear_at: Decimal) -> Said:
            return (f"A {way} of {_show(v, 1, True)}% in every non-stablecoin would take uniMMR to "
                    f"liquidation (alert below {fmt.amount(x)}%){rough}.",
                    f"Liquidation is a {way} of {_show(v, 1, False)}% away again, above "
                    f"{fmt.amount(clear_at)}%.",
                    f"liquidation at a {way} of {_show(v, 1, True)}%")

        return [self._below(rule, ACCOUNT, value, words)]

    def _forced(self, rule: Rule, ledger: Any, now: float) -> list[AlertEvent]:
        """A liquidation or ADL fill the ledger shows: CRITICAL, once per fill (it happened; it
        never holds or clears, so it is not an active alert and is not repeated)."""
        if ledger is None:
            return []
        new = [e for e in ledger.forced if f"{e.source}:{e.id}" not in self._fills_told]
        if not new:
            return []
        self._fills_told.update(f"{e.source}:{e.id}" for e in new)
        items = tuple(AlertEvent(rule.name, f"{e.source}:{e.id}", e.type, None, _fill_says(e), Level.CRITICAL, now)
                      for e in new)
        if len(items) == 1:
            return [items[0]]
        shown = "; ".join(_fill_says(e).rstrip(".") for e in new[:GROUP_SHOWN])
        more = f" +{len(new) - GROUP_SHOWN} more" if len(new) > GROUP_SHOWN else ""
        return [AlertEvent(rule.name, ",".join(i.subject for i in items), items[0].value, None,
                           f"{len(items)} forced fills: {shown}{more}.", Level.CRITICAL, now, FIRED, items)]

    def _stale(self, rule: Rule, age: float | None) -> list[_Reading]:
        if age is None or rule.threshold is None:
            return []
        limit = float(rule.threshold)
        clear_at = limit - limit * float(self.hysteresis)
        return [_Reading(ACCOUNT, round(age, 1), age >= limit, age <= clear_at, Level.WARN,
                         _Once(lambda: (f"No fresh data for {fmt.age(age)} (alert after {limit:g} s).",
                                        "Data is fresh again.", f"no fresh data for {fmt.age(age)}")))]


def _fill_says(e: Any) -> str:
    """One sentence for a forced fill (a ledger entry; its text was cleaned when it was read)."""
    what = "Auto-deleveraged (ADL)" if e.kind == "adl" else "Liquidated"
    return f"{what}: {e.symbol} {e.info} at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(e.time / 1000))}."


def _upnl_msg(what: str) -> Words:
    def words(v: Decimal, x: Decimal, clear_at: Decimal) -> Said:
        return (f"{what} {fmt.money(v, sign=True)} is below {fmt.money(x, sign=True)}.",
                f"{what} {fmt.money(v, sign=True)} is back above {fmt.money(clear_at, sign=True)}.",
                f"{what.removesuffix(' uPnL')} {fmt.money(v, sign=True)}")
    return words


# --- grouping ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Brief:
    """A per-subject event and its few words for a group's list."""

    event: AlertEvent
    words: str


#: A group's message header per rule kind and state: (fired or escalated, cleared); {n} counts
#: positions, {x} is the threshold as the rule's messages show it.
_HEADS = {
    "liq_distance_below": ("{n} positions within {x} of liquidation",
                           "{n} positions no longer within {x} of liquidation"),
    "upnl_below": ("{n} positions with uPnL below {x}", "{n} positions with uPnL back above {x}"),
}


def _group(rule: Rule, happened: list[_Brief]) -> list[AlertEvent]:
    """One event per rule and evaluation: the fired and escalated subjects together, the cleared
    ones together. One subject keeps its own event (and its fuller message)."""
    out = []
    for cleared in (False, True):
        these = [b for b in happened if (b.event.state == CLEARED) == cleared]
        if len(these) == 1:
            out.append(these[0].event)
        elif these:
            out.append(_merge(rule, these, cleared))
    return out


def _merge(rule: Rule, these: list[_Brief], cleared: bool) -> AlertEvent:
    if cleared:
        ranked = sorted(these, key=lambda b: b.words)
    else:  # worst first: the higher level, then the lower value (every grouped rule is "below")
        ranked = sorted(these, key=lambda b: (-b.event.level, _order(b.event.value), b.words))
    first = ranked[0].event
    x = rule.threshold
    if not isinstance(x, Decimal):
        shown_x = str(x)
    else:
        shown_x = _pct(x) if rule.kind == "liq_distance_below" else fmt.money(x, sign=True)
    heads = _HEADS.get(rule.kind, ("{n} alerts", "{n} alerts cleared"))
    head = heads[cleared].format(n=len(ranked), x=shown_x)
    names = [b.words for b in ranked[:GROUP_SHOWN]]
    more = f" +{len(ranked) - GROUP_SHOWN} more" if len(ranked) > GROUP_SHOWN else ""
    state = CLEARED if cleared else FIRED if any(b.event.state == FIRED for b in ranked) else ESCALATED
    return AlertEvent(rule.name, ",".join(b.event.subject for b in ranked), first.value, first.threshold,
                      f"{head}: {', '.join(names)}{more}.", max(b.event.level for b in ranked),
                      first.time, state, tuple(b.event for b in ranked))


def _order(value: Decimal | float | str | None) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal("Infinity")


@dataclass(slots=True)
class _Track:
    active: bool = False
    level: Level = Level.OK  # of the last fired or escalated event (kept through a clear)
    value: Decimal | float | str | None = None  # and its value
    last_fired: float | None = None  # monotonic
    label: str | None = None  # the position's name when it fired, for "closed"


def _past(rule: Rule, value: Decimal | float | str | None, last: Decimal | float | str | None) -> bool:
    """Whether `value` is worse than the last event's: lower for the "below" rules, a longer
    wait for `stale_for`. A status has no order (its level says it)."""
    if value is None or last is None or isinstance(value, str) or isinstance(last, str):
        return False
    return value > last if rule.kind == "stale_for" else value < last


# --- stateless: `pmtui check` --------------------------------------------------------------------


#: Seconds back `check` counts a liquidation or ADL fill as CRITICAL.
CHECK_FORCED_FOR = 86_400.0


@dataclass(frozen=True, slots=True)
class _Fills:
    forced: tuple[Any, ...]


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
    ledger: Any = None,
) -> CheckResult:
    """Evaluate the rules (`rules`, else those `alerts` turns on, else the defaults) once on a
    snapshot, with no memory: no hysteresis, no cooldown."""
    engine = Alerts(rules if rules is not None else rules_from(alerts or AlertSettings()),
                    thresholds=thresholds, cooldown=0, hysteresis=Decimal(0))
    if ledger is not None:  # check: the last day's forced fills, whether read here or by a daemon (7 days)
        since_ms = ((time.time() if now is None else now) - CHECK_FORCED_FOR) * 1000
        ledger = _Fills(tuple(e for e in ledger.forced if e.time >= since_ms))
    events = tuple(e for e in engine.evaluate(AlertState(view, age, risk, ledger), now) if e.state == FIRED)
    ranked = tuple(sorted(events, key=lambda e: e.level, reverse=True))  # stable: rule order within a level
    return CheckResult(worst(e.level for e in ranked), ranked)
