"""The fault soak (tests/support/soak.py): the real dashboard through a seeded schedule of every fault.

The default run is short: each of the 16 faults once (about 130 refreshes). The long one:

    PMTUI_SOAK=long .venv/bin/pytest tests/hostile/test_soak.py -s      # ~5000 refreshes, progress shown
    .venv/bin/python -m tests.support.soak --refreshes 5000 [--seed N]

PMTUI_SOAK_SEED picks another schedule; a failure names its seed and step.

The last tests break pmtui on purpose and check the soak notices: a soak that cannot fail proves
nothing.
"""

from __future__ import annotations

import os

import pytest

from pmtui.client import PapiClient
from pmtui.errors import AuthError, MalformedResponse
from pmtui.tui.widgets.status import StatusBar
from tests.support.soak import BANS, EXPECTED, SoakFailure, Step, make_schedule, soak

LONG = os.environ.get("PMTUI_SOAK") == "long"
SEED = int(os.environ.get("PMTUI_SOAK_SEED") or 20260601)
# 120: the shortest schedule, every fault kind once (make_schedule adds no more steps after them).
REFRESHES = int(os.environ.get("PMTUI_SOAK_REFRESHES") or (5000 if LONG else 120))


def test_schedule_is_seeded_and_covers_every_fault() -> None:
    first = make_schedule(SEED, 200)
    assert first == make_schedule(SEED, 200)
    assert first != make_schedule(SEED + 1, 200)
    assert {s.fault for s in first} == set(EXPECTED)
    assert sum(s.gap + s.count + 1 for s in first) >= 200
    assert {s.fault for s in make_schedule(SEED, 0)} == set(EXPECTED)  # even the shortest run


async def test_fault_soak() -> None:
    report = await soak(REFRESHES, SEED, progress=print if LONG else None)
    print(report.summary())
    assert set(report.faults) == set(EXPECTED), "every kind of fault was served"
    assert report.recoveries == report.steps == sum(report.faults.values())
    assert report.refreshes >= 0.8 * REFRESHES
    # Each fault step failed at least one refresh, except clock jumps (resynced inside the client).
    clock_steps = report.faults["clock"] + report.faults["clock-time-down"]
    assert report.failed_refreshes >= report.steps - clock_steps
    assert report.ban_windows >= sum(report.faults[k] for k in BANS)
    assert report.refresh_presses_in_bans >= sum(report.faults[k] for k in BANS)
    assert report.screens >= report.steps - clock_steps
    assert len(report.rss_mb) >= 2
    assert report.rss_growth_mb < (8.0 if LONG else 5.0), report.summary()


# --- the soak's own checks can fail ------------------------------------------------------------


async def test_soak_notices_a_request_during_a_ban(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that forgets its ban sends the impatient `r` press straight to the server."""
    monkeypatch.setattr(PapiClient, "_block", lambda self, err: err)
    with pytest.raises(SoakFailure, match=r"reached the server .* Retry-After wait"):
        await soak(schedule=[Step("429", gap=2, opts=(("retry_after", 2),))], seed=SEED)


async def test_soak_notices_python_noise_on_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    import pmtui.client

    real = pmtui.client.decode_json

    def leaky(body: bytes):
        try:
            return real(body)
        except MalformedResponse as err:
            raise MalformedResponse(f"Could not parse {err!r}.") from None

    monkeypatch.setattr(pmtui.client, "decode_json", leaky)
    with pytest.raises(SoakFailure, match="noise .*MalformedResponse"):
        await soak(schedule=[Step("html", gap=2)], seed=SEED)


async def test_soak_notices_a_revoked_key_that_keeps_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuthError, "retryable", True)
    with pytest.raises(SoakFailure, match="revoked key must show ERROR"):
        await soak(schedule=[Step("revoked", gap=2)], seed=SEED)


async def test_soak_notices_a_message_cut_off_on_screen() -> None:
    def short_status_bar(app) -> None:
        app.query_one(StatusBar).styles.max_height = 2

    with pytest.raises(SoakFailure, match="cut off on an 80x24 screen"):
        await soak(schedule=[Step("revoked", gap=2)], seed=SEED, setup=short_status_bar)


async def test_three_accounts_stream_through_absurd_figures() -> None:
    """Issue 20, short: three accounts on one weight budget (one chatty at 5 order events a second,
    one with uniMMR 1e30 and 59-digit margins over REST and absurd, stale, future-dated and
    flooding pushes, one ordinary) end live and current, push up, with no listen key deleted and
    the chatty one costing no more requests than its interval. `python -m tests.support.soak --accounts
    600` is the ten-minute run."""
    from tests.support.soak import accounts_soak

    report = await accounts_soak(float(os.environ.get("PMTUI_SOAK_ACCOUNTS_S") or 20), SEED)
    print(report.summary())
    assert not report.problems, report.summary()
    assert report.deletes == 0 and report.requests_in_bans == 0
    assert all(report.events[name] > 0 for name in ("chatty", "absurd", "quiet")), report.summary()
    # One refresh every 2 s is 30 a minute: pushed events add at most one follow-up per interval.
    assert report.requests_per_min["chatty"] <= 45, report.summary()  # (start-up included; main: ~240)
