"""In-memory series of this session's figures, for the history panel's charts. No I/O.

`SessionSeries.add(sample, liq)` takes the same `pmtui.history.Sample` a refresh records to SQLite
(and the nearest liquidation distance); each figure is a `Series`, a ring buffer of the last
`maxlen` values with gaps for unknowns, beside the times they were taken at.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pmtui.history import Sample
    from pmtui.views import AccountView

__all__ = ["Series", "SessionSeries"]


class Series:
    """The last `maxlen` values of one figure (a ring buffer), with min and max.

    None values (unknown) are kept as gaps in `values` but ignored by min, max and `floats()`.
    """

    def __init__(self, maxlen: int = 600) -> None:
        if maxlen < 1:
            raise ValueError("a series holds at least one value")
        self._values: deque[Decimal | None] = deque(maxlen=maxlen)

    @property
    def maxlen(self) -> int:
        return self._values.maxlen or 0

    def append(self, value: Decimal | None) -> None:
        self._values.append(value)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Decimal | None]:
        return iter(self._values)

    @property
    def values(self) -> list[Decimal | None]:
        return list(self._values)

    def _known(self) -> list[Decimal]:
        return [v for v in self._values if v is not None and v.is_finite()]

    @property
    def last(self) -> Decimal | None:
        return self._values[-1] if self._values else None

    @property
    def min(self) -> Decimal | None:
        known = self._known()
        return min(known) if known else None

    @property
    def max(self) -> Decimal | None:
        known = self._known()
        return max(known) if known else None

    def floats(self) -> list[float]:
        """Known values as floats, oldest first: what Textual's Sparkline takes."""
        return [float(v) for v in self._known() if math.isfinite(float(v))]


def nearest_liq(view: AccountView | None) -> Decimal | None:
    """The open position nearest its liquidation price: how far, as a fraction of its mark."""
    near = view.nearest_liquidation if view is not None else None
    return near.liq_distance if near is not None else None


class SessionSeries:
    """The history panel's figures over this session: uniMMR, account equity, total uPnL and the
    nearest liquidation distance, with the time (epoch seconds) of each. `version` counts the
    changes: a chart draws again only when it moved."""

    def __init__(self, maxlen: int = 600) -> None:
        self.times: deque[float] = deque(maxlen=maxlen)
        self.unimmr = Series(maxlen)
        self.equity = Series(maxlen)
        self.upnl = Series(maxlen)
        self.liq = Series(maxlen)
        self.version = 0

    def add(self, sample: Sample, liq: Decimal | None = None) -> None:
        self.times.append(sample.time_ms / 1000)
        self.unimmr.append(sample.unimmr)
        self.equity.append(sample.account_equity)
        self.upnl.append(sample.total_upnl)
        self.liq.append(liq)
        self.version += 1

    def clear(self) -> None:
        self.times.clear()
        for series in (self.unimmr, self.equity, self.upnl, self.liq):
            series.clear()
        self.version += 1
