"""The dashboard's footer is composed once for a burst of binding changes (issue 25: start-up
to first data): Textual's recomposed all its keys once per change, six times before first data."""

from __future__ import annotations

from pmtui.tui.widgets.footer import KeysFooter
from tests.support.harness import settled


async def test_a_burst_of_binding_changes_recomposes_the_footer_once(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        footer = app.screen.query_one(KeysFooter)
        recomposes = []
        original = KeysFooter.recompose

        async def counted(self):
            recomposes.append(self)
            await original(self)

        monkeypatch.setattr(KeysFooter, "recompose", counted)
        for _ in range(3):  # as focus, a screen and the app's mount each say it
            app.screen.bindings_updated_signal.publish(app.screen)
        await pilot.pause()
        await pilot.pause()
        assert recomposes == [footer]
        # The keys are the screen's, as Textual's own footer shows them.
        assert "What-if" in " ".join(str(key.description) for key in footer.query("FooterKey"))
