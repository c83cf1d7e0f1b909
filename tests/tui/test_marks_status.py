"""The status bar says whether the public mark price stream prices the positions (pmtui.markstream):
`marks ✓`, or `marks: polling` and the one sentence why on the line below."""

from __future__ import annotations

import dataclasses

from pmtui.tui.widgets.status import StatusBar
from tests.support.harness import build_app, settled

SENTENCE = "The mark price stream is 5 s behind (last price of BTCUSDT). Prices come from polling."


async def test_the_status_bar_says_marks_live_or_why_polling():
    app = build_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settled(pilot)
        bar = app.query_one(StatusBar)
        info = app.monitor.status_info()
        assert "marks" not in bar.render_text(info, 160).plain  # no stream attached: nothing said
        live = bar.render_text(dataclasses.replace(info, marks_live=True), 160).plain
        assert "· marks ✓" in live and "\n" not in live
        down = bar.render_text(dataclasses.replace(info, marks_live=False, marks_note=SENTENCE), 160).plain
        assert "· marks: polling" in down and down.endswith("\n " + SENTENCE)
