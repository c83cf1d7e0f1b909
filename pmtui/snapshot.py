"""One fetch of everything the headless commands show: the UM account, and when the key may read
them, `/papi/v1/account` (uniMMR) and `/papi/v1/um/positionRisk`.

The UM account is required (its failure is the caller's error). The two others are optional, and
only one kind of failure lets a snapshot go without them: an access refusal (AuthError: HTTP 401,
Binance -2015, -2014, -2008, -1002), which says this key may not read that endpoint. Then the part
is None and `unavailable[part]` holds one sentence, and the rest works (so `check` may fall back
to the UM margin ratio). Every other failure propagates, unchanged: transient ones (network,
timeout, HTTP 5xx, -1000/-1001/-1006/-1007, rate limits, bans), a refused request (-11xx, a bug)
and a changed response. Those say nothing about the key, and the data would be incomplete for a
reason that may pass, so the caller must report it (`check`: UNKNOWN), never show it as absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmtui.errors import AuthError, PmtuiError
from pmtui.models import PmAccount, PositionRisk, UmAccount
from pmtui.settings import Thresholds
from pmtui.views import AccountView, build_view


@dataclass(frozen=True, slots=True)
class Snapshot:
    account: UmAccount
    pm: PmAccount | None = None
    risks: tuple[PositionRisk, ...] | None = None
    #: Why an optional part is missing, by part ("account", "positionRisk"): one sentence each.
    unavailable: dict[str, str] = field(default_factory=dict)

    def view(self, t: Thresholds) -> AccountView:
        return build_view(self.account, t, risks=self.risks, pm=self.pm)


def refused(path: str, err: PmtuiError) -> str:
    """A short sentence for an endpoint the key may not read (for AuthError only)."""
    how = f"code {err.code}" if err.code is not None else f"HTTP {err.status}" if err.status else err.kind
    return f"the exchange refused {path} ({how}); the API key may lack access to it"


async def fetch_snapshot(client, *, account: bool = True, position_risk: bool = True) -> Snapshot:
    """UM account first (it also syncs the clock), then the optional endpoints, in one step of the
    demo exchange so all three agree."""
    um = await client.um_account()
    unavailable: dict[str, str] = {}
    pm = risks = None
    if account:
        try:
            pm = await client.pm_account()
        except AuthError as err:
            unavailable["account"] = refused("/papi/v1/account", err)
    if position_risk:
        try:
            risks = await client.position_risk()
        except AuthError as err:
            unavailable["positionRisk"] = refused("/papi/v1/um/positionRisk", err)
    return Snapshot(um, pm, risks, unavailable)
