"""The dashboard on a recording (`pmtui replay`): PmtuiApp as it is, fed by a ReplayMonitor
(pmtui.replay), with the keys that move through time. Read-only: `r` and `p` say so."""

from __future__ import annotations

from typing import cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from pmtui.replay import ReplayMonitor, parse_moment
from pmtui.settings import Settings
from pmtui.tui.app import MainScreen, PmtuiApp
from pmtui.tui.widgets.assets import AssetsTable
from pmtui.tui.widgets.balances import BalancesTable
from pmtui.tui.widgets.ladder import LadderPanel, LadderScreen
from pmtui.tui.widgets.positions import PositionsTable
from pmtui.tui.widgets.summary import SummaryBar

NO_LADDER = "No stress ladder at this moment: its risk model's inputs were not recorded."
#: The replay's own actions: not while a person types in the filter box (space is a character there).
_REPLAY_ACTIONS = frozenset({"replay_step", "replay_jump", "replay_play", "replay_time"})


class TimeScreen(ModalScreen[str | None]):
    """`t`: a small box to type the moment to go to; enter goes, esc leaves."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="time-box"):
            yield Static("Go to: 2026-12-07 03:14, 03:14 (that day), or -2h / +30m (from here)", markup=False)
            yield Input(placeholder="time", id="time-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class ReplayApp(PmtuiApp):
    """PmtuiApp on recorded states. Priority bindings: the positions table would otherwise take
    ← and → for scrolling sideways."""

    # Only space in the footer: it must keep the dashboard's keys at 80 columns, and the status
    # bar says ←/→ and [/] beside the recorded time.
    BINDINGS = [
        Binding("left", "replay_step(-1)", "Back", key_display="←", priority=True, show=False),
        Binding("right", "replay_step(1)", "Next", key_display="→", priority=True, show=False),
        Binding("left_square_bracket", "replay_jump(-1)", "Prev event", key_display="[", priority=True,
                show=False),
        Binding("right_square_bracket", "replay_jump(1)", "Next event", key_display="]", priority=True,
                show=False),
        Binding("space", "replay_play", "Play", priority=True),
        Binding("t", "replay_time", "Time", priority=True, show=False),
    ]

    def __init__(self, *, settings: Settings, monitor: ReplayMonitor, title: str, start: bool = True) -> None:
        super().__init__(settings=settings, monitor=monitor, title=f"REPLAY {title}",  # type: ignore[arg-type]
                         start=start)
        self.replay = monitor
        self.main = ReplayScreen()

    def _recorded_now(self) -> float:
        return self.replay.records[self.replay.cursor].time_ms / 1000

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _REPLAY_ACTIONS and (self.screen is not self.screen_stack[0]
                                          or isinstance(self.focused, Input)):
            return False
        return super().check_action(action, parameters)

    def action_replay_step(self, by: int) -> None:
        self.replay.step(by)

    def action_replay_jump(self, direction: int) -> None:
        self.replay.jump(direction)

    def action_replay_play(self) -> None:
        self.replay.toggle_play()

    def action_replay_time(self) -> None:
        self.push_screen(TimeScreen(), self._go_to)

    def _go_to(self, text: str | None) -> None:
        """The typed moment: the nearest recorded state; anything else is one sentence, and the
        replay stays where it was."""
        if text is None or not text.strip():
            return
        try:
            when = parse_moment(text, self.replay.records[self.replay.cursor].time_ms)
        except ValueError as err:
            self.notify(str(err), title="Replay", severity="warning", timeout=6, markup=False)
            return
        self.replay.seek_time(when)


class ReplayScreen(MainScreen):
    """The dashboard's screen on a recording: the clocks tell the recorded moment, and no ladder."""

    def on_mount(self) -> None:
        """Before MainScreen's (Textual calls the subclass's handler first): the header's clock and
        the tables' ages tell the recorded moment's time, not today's."""
        now = cast(ReplayApp, self.app)._recorded_now
        for widget in (self.query_one(SummaryBar), self.query_one(AssetsTable), self.query_one(PositionsTable),
                       self.query_one(BalancesTable)):
            widget.clock = now

    def _render_risk(self) -> None:
        """The recorded moment's model (rows recorded with the model's inputs); an older
        recording has none: said so rather than "waiting for its inputs"."""
        if self.state is not None and self.state.risk is not None:
            super()._render_risk()
            return
        self.query_one("#ladder-panel", LadderPanel).show(None, NO_LADDER)
        for screen in self.app.screen_stack:
            if isinstance(screen, LadderScreen):
                screen.show(None, NO_LADDER)

    def action_ladder(self) -> None:
        if self.state is not None and self.state.risk is not None:
            super().action_ladder()
        elif not isinstance(self.app.screen, LadderScreen):
            self.app.push_screen(LadderScreen(None, NO_LADDER))
