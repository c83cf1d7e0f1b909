"""`check` of many accounts within a Nagios timeout (issue 25): it reads what the verdict needs,
at once, within the one-shot's burst, and an account not read by --timeout is UNKNOWN."""

from __future__ import annotations

from pmtui.budget import WEIGHTS
from pmtui.commands import CHECK_WEIGHT, RISK_FEED_WEIGHT, check_reads_model
from pmtui.endpoints import CM_ADL
from tests.cli.test_cli import no_traceback, run, write_config
from tests.support.papi_server import API_KEY, API_SECRET, BALANCE, PM_ACCOUNT, UM_ACCOUNT

COLLATERAL_RATE = "/sapi/v1/portfolio/collateralRate"


def _profiles(server, n: int, share: float = 0.5) -> None:
    write_config(f'base_url = "{server.base_url}"\nweight_share = {share}\n' + "".join(
        f'[profiles.p{i}]\napi_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n' for i in range(n)), 0o600)


def test_the_model_is_read_only_when_it_fits_the_burst_beside_every_verdict():
    assert CHECK_WEIGHT == 61 and RISK_FEED_WEIGHT == 152
    assert check_reads_model(1, 3000) and check_reads_model(3, 3000) and check_reads_model(35, 3000)
    assert not check_reads_model(36, 3000) and not check_reads_model(50, 3000)
    # 50 accounts' verdicts without COIN-M positions (no COIN-M ADL queue): within the burst.
    assert 50 * (CHECK_WEIGHT - CM_ADL.weight) + 1 == 2801 <= 3000


def test_a_fleet_check_sends_no_more_than_its_burst_and_never_waits(capsys, papi_server):
    # weight_share 0.05: a one-shot may send 300 at once. Three accounts' verdicts are 169 of it; with
    # the risk model's inputs (each account's balances, the shared inputs) 381, which waited ~16 s.
    _profiles(papi_server, 3, share=0.05)
    code, out, err = run(capsys, "check", "--all-profiles", "--timeout", "5")
    assert (code, err) == (0, "") and "3 accounts checked (p0 OK, p1 OK, p2 OK)" in out
    assert papi_server.count(PM_ACCOUNT) == papi_server.count(UM_ACCOUNT) == 3  # each verdict's uniMMR
    assert papi_server.count(BALANCE) == papi_server.count(COLLATERAL_RATE) == 0
    assert sum(WEIGHTS.get(r.path, 1) for r in papi_server.requests) <= 300
    no_traceback(out, err)


async def test_an_account_not_read_within_the_timeout_is_unknown_and_the_others_answer(capsys, papi_server):
    from pmtui.commands import check
    from pmtui.fleet import Fleet, FleetOptions

    _profiles(papi_server, 3)
    papi_server.inject("slow", delay=10.0, path=PM_ACCOUNT)  # one account's uniMMR takes 10 s
    fleet = Fleet.build(FleetOptions(all_profiles=True, one_shot=True))
    code = await check(fleet, timeout=1.5)
    out, err = capsys.readouterr()
    # (the server says on stderr that the client hung up on its slow answer)
    assert code == 3 and not [line for line in err.splitlines() if line.startswith("pmtui")]
    assert "could not check: not read within 1.5 s (--timeout): the exchange or the weight budget was too slow;" in out
    assert "3 accounts checked (" in out and out.count(" OK") == 2 and out.count(" UNKNOWN") == 2  # word + count
    no_traceback(out)


def test_one_account_not_read_within_the_timeout_is_unknown(capsys, papi_server):
    _profiles(papi_server, 1)
    papi_server.inject("slow", delay=5.0, path=UM_ACCOUNT)
    code, out, err = run(capsys, "check", "--profile", "p0", "--timeout", "0.5")
    assert code == 3 and out == ("PMTUI UNKNOWN - not read within 0.5 s (--timeout): the exchange or the weight"
                                 " budget was too slow.\n")
    assert err.startswith("pmtui: error: not read within 0.5 s")


def test_timeout_must_be_seconds(capsys):
    code, out, _ = run(capsys, "check", "--timeout", "soon")
    assert code == 3 and out.startswith("PMTUI UNKNOWN - invalid command-line arguments")


async def test_a_one_shot_asks_for_an_accounts_parts_at_once():
    """After the UM account, uniMMR, positionRisk, balances and COIN-M are in flight together, and so
    are the locks: asked one after another, the first of each group would wait here in vain."""
    import asyncio

    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
    from pmtui.monitor import Monitor
    from pmtui.settings import Settings
    from pmtui.signing import HmacSigner

    m = Monitor(settings=Settings(), client=PapiClient(
        api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=DemoExchange(),
        budget=WeightBudget(1.0, limit=10**9)))
    in_flight: set[str] = set()

    def together(group: set[str]) -> None:
        met = asyncio.Event()
        for name in group:
            fetch = getattr(m.client, name)

            async def wrapped(*args, name=name, fetch=fetch):
                in_flight.add(name)
                if group <= in_flight:
                    met.set()
                await asyncio.wait_for(met.wait(), 2)  # the others of its group are asked meanwhile
                return await fetch(*args)

            setattr(m.client, name, wrapped)

    together({"pm_account", "position_risk", "balance", "cm_account"})
    together({"um_account_config", "um_trading_status"})
    state = await asyncio.wait_for(m.fetch_once(), 10)
    assert state.pm is not None and state.risks is not None and m.trading_status is not None
    await m.aclose()


async def test_the_timeout_counts_the_time_the_process_took_to_start(capsys, papi_server):
    """A Nagios timeout runs from the process's start: what starting took is not waited again."""
    from pmtui.commands import check
    from pmtui.fleet import Fleet, FleetOptions

    _profiles(papi_server, 2)
    fleet = Fleet.build(FleetOptions(all_profiles=True, one_shot=True))
    assert await check(fleet, timeout=8.0, spent=8.0) == 3
    out = capsys.readouterr().out
    assert "could not check: not read within 8 s (--timeout)" in out and "p0 UNKNOWN, p1 UNKNOWN" in out
