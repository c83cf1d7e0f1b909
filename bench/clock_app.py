"""Baseline for the idle benchmark: the least a Textual app can do once a second, a full-screen
app that shows the time in one Static and updates it every second."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult
from textual.widgets import Static


class ClockApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static(id="clock")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        self.query_one("#clock", Static).update(time.strftime("BTCUSDT %H:%M:%S"))


if __name__ == "__main__":
    ClockApp().run()
