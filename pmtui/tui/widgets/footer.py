"""The dashboard's footer: Textual's compact Footer, composed once for a burst of binding changes,
its keys born compact.

Textual's Footer recomposes all its keys after the next refresh each time the screen's bindings
change, once per change: at start-up (the app's mount, the screen's, the focus on the positions,
the first states) six times before first data, each a dozen keys built, mounted and styled. The
keys a recompose shows are the screen's bindings when it runs, so one recompose after a burst
shows what all of them would have."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    _recompose_pending = False

    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self) -> ComposeResult:
        # Textual's FooterKey adds its "-compact" class when its bound `compact` first reaches it,
        # after it is mounted: a restyle of the key and its subtree, for each of the ~15 keys, on
        # every recompose (about 7% of a dashboard test's CPU). A key born with it skips that.
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.add_class("-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        await self.recompose()
