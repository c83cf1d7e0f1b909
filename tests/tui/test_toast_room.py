"""When toasts do not all fit between the account panel and the status bar, the newest is the one
read whole (issue 19): the oldest give way; the alert log keeps them all."""

from __future__ import annotations

import pytest
from textual.widgets._toast import Toast

from pmtui.state import Notice
from tests.support.harness import frozen_clock, make_app, settled, wait_until  # noqa: F401
from tests.tui.test_toasts import LONG, any_toast_drawn


def drawn_whole(app, toast: Toast) -> bool:
    region = toast.region
    return bool(region.height) and region.bottom <= app.size.height and all(
        app.screen.get_widget_at(region.x + 2, y)[0] is toast for y in range(region.y + 1, region.bottom - 1))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_newest_toast_is_read_whole_when_they_do_not_all_fit(make_app, frozen_clock, size):  # noqa: F811
    """At 80x24 in the margin-call demo three alerts came 2 s apart: the third hung below the
    first two, only its title in sight, its message hidden under the status bar."""
    app = make_app(clock=frozen_clock)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settled(pilot)
        for i in range(6):
            app._toast(Notice("Alert", f"{i}: {LONG}", "error", timeout=600))
            await wait_until(pilot, lambda: any_toast_drawn(app), what="a toast drawn")

            def newest(i: int = i) -> Toast | None:
                return next((t for t in app.screen.query(Toast) if f"{i}: " in str(t.render())), None)

            await wait_until(pilot, lambda: (t := newest()) is not None and drawn_whole(app, t),
                             what=f"toast {i} drawn whole")
            region = newest().region
            assert region.y >= app.query_one("#account").region.bottom  # still off the account panel
