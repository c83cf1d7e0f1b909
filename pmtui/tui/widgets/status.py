"""The status bar: is what I see current, and if not, why not — in one sentence."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from pmtui import fmt
from pmtui.budget import WEIGHT_LIMIT
from pmtui.state import StatusInfo
from pmtui.tui.widgets.styles import StyledStatic

# Show the clock offset once it is large enough to matter to a person.
OFFSET_SHOWN_MS = 1000


_WORD_STYLES = {"ERROR": "state--error", "PAUSED": "state--paused", "NO DATA": "state--stale",
                "STALE": "state--stale", "CONNECTING": "state--paused", "LIVE": "state--live",
                "REPLAY": "state--paused"}


def state_word(info: StatusInfo) -> tuple[str, str]:
    """LIVE, STALE, PAUSED... (StatusInfo.word) and its style class."""
    return info.word, _WORD_STYLES[info.word]


class StatusBar(StyledStatic):
    _info: StatusInfo | None = None

    def show(self, info: StatusInfo) -> None:
        self._info = info
        self.show_text(self.render_text(info, self.content_size.width))

    def on_resize(self) -> None:
        if self._info is not None:  # what fits on the first line depends on the width
            self.show(self._info)

    def state_word(self, info: StatusInfo) -> tuple[str, str]:
        return state_word(info)

    def render_text(self, info: StatusInfo, width: int = 0) -> Text:
        """`width` (when known): the first line is kept to it, so the bar never grows a line for
        its facts (PAUSED at 80 columns did): the latency, then the weight, go first."""
        word, style = self.state_word(info)
        text = Text(no_wrap=False, overflow="fold")
        optional: list[tuple[str, str]] = []  # shown after the essentials if they fit, last dropped first
        text.append(f" {word} ", style=self.style(style))
        if info.replay is not None:  # a recorded moment: no countdown, weight or push of today
            parts = info.replay.split(" · ")  # the last parts (key hints) go first where room is short
            while len(parts) > 1 and width > 0 and text.cell_len + 1 + cell_len(" · ".join(parts)) > width:
                parts.pop()
            text.append(f" {' · '.join(parts)}")
            if info.error is not None:
                text.append("\n ")
                text.append(info.error.message, style=self.style("state--stale"))
            return text
        if info.last_ok_wall is not None:
            text.append(f" {fmt.clock_time(info.last_ok_wall)} ({fmt.age(info.age)} ago)")
        if info.stopped:
            text.append(" · polling stopped")  # nothing more is fetched until r: no countdown
        elif info.paused:
            since = f" since {fmt.clock_time(info.paused_since)}" if info.paused_since is not None else ""
            text.append(f" · paused{since} · p resumes")
        elif info.fetching:
            text.append(" · fetching…")
        elif info.next_in is not None and info.error is not None:
            text.append(f" · retry in {max(0, round(info.next_in))}s")  # backoff, not the interval
        elif info.next_in is not None:
            text.append(f" · next {max(0, round(info.next_in))}s of {info.interval:g}s")
        else:
            text.append(f" · every {info.interval:g}s")
        if info.used_weight is not None:
            # The IP's weight this minute as the exchange counts it (other programs included).
            optional.append((f" · weight {info.used_weight}/{WEIGHT_LIMIT}", ""))
        if info.latency_ms is not None:
            optional.append((f" · {info.latency_ms:.0f} ms", ""))
        if info.budget_wait >= 0.5:
            text.append(f" · weight budget: waiting {info.budget_wait:.0f}s", style=self.style("level--warn"))
        if info.offset_ms is not None and abs(info.offset_ms) >= OFFSET_SHOWN_MS:
            text.append(f" · clock {info.offset_ms / 1000:+.1f}s", style=self.style("level--warn"))
        push = info.push
        if push is not None:
            if push.up:
                text.append(" · push ✓", style=self.style("state--live"))
            else:
                text.append(" · push down · polling", style=self.style("level--warn"))
        if info.marks_live:  # the public mark price stream prices the positions (pmtui.markstream)
            text.append(" · marks ✓", style=self.style("state--live"))
        elif info.marks_note is not None:
            text.append(" · marks: polling", style=self.style("level--warn"))
        # Latency and weight last, as many as still fit: the latency is dropped first.
        while optional and width > 0 and text.cell_len + sum(cell_len(p) for p, _ in optional) > width:
            optional.pop()
        for part, part_style in reversed(optional):
            text.append(part, style=part_style)
        if info.error is not None:
            text.append("\n ")
            if info.stopped:
                text.append(f"Polling stopped: {info.error.message}", style=self.style("state--error"))
                text.append(" Fix it, then press r.")
            else:
                text.append(info.error.message, style=self.style("state--stale"))
        elif push is not None and not push.up and push.reason:
            text.append("\n ")
            text.append(f"Push: {push.reason}", style=self.style("muted"))
        elif not info.marks_live and info.marks_note is not None:
            text.append("\n ")
            text.append(info.marks_note, style=self.style("muted"))
        return text
