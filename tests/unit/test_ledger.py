"""The ledger's reader (pmtui.ledger): incremental windows by time, pages, deduplication by id,
refusals and faults as sentences, totals in USD. A fake client answers from handlers of the
request's parameters, so every request the ledger makes is seen and nothing touches a network."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from pmtui.clock import ManualClock
from pmtui.endpoints import LEDGER_ENDPOINTS
from pmtui.errors import AuthError, ServerError
from pmtui.ledger import (
    DAY_MS,
    LOOKBACK_MS,
    MAX_REQUESTS,
    OVERLAP_MS,
    SOURCES,
    WEIGHT_PER_MINUTE,
    Ledger,
    fetcher,
    totals,
    windows,
)
from pmtui.models import LedgerEntry

NOW_MS = 1_765_000_000_000  # 2025-12-06
UM = "/papi/v1/um/income"
MARGIN = "/papi/v1/margin/marginInterestHistory"
EMPTY = {e.path: (lambda p, rows=({"rows": [], "total": 0} if "margin/" in e.path or "negative" in e.path else []):
                  rows) for e in LEDGER_ENDPOINTS}


class FakeClient:
    """Answers each ledger method from `handlers[path](params)` (data, or an exception to raise)."""

    def __init__(self, handlers: dict[str, Any] | None = None, now_ms: int = NOW_MS) -> None:
        self.handlers = {**EMPTY, **(handlers or {})}
        self.now_ms = now_ms
        self.calls: list[tuple[str, dict[str, str]]] = []
        for source in SOURCES:
            name = fetcher_name(source)
            setattr(self, name, self._method(source.endpoint))

    def _method(self, endpoint: Any):
        async def call(params: dict[str, str]):
            self.calls.append((endpoint.path, dict(params)))
            data = self.handlers[endpoint.path](params)
            if isinstance(data, Exception):
                raise data
            return endpoint.parse(data)
        return call

    def server_now_ms(self) -> int:
        return self.now_ms

    def windows_of(self, path: str) -> list[tuple[int, int]]:
        return [(int(p["startTime"]), int(p["endTime"])) for q, p in self.calls if q == path]


def fetcher_name(source: Any) -> str:
    class Probe:
        def __getattr__(self, name: str):
            return lambda params: name
    return fetcher(source)(Probe(), {})


def income(t: int, tran: int | str, amount: str = "-1.5", kind: str = "FUNDING_FEE", asset: str = "USDT",
           info: str = "FUNDING_FEE") -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "incomeType": kind, "income": amount, "asset": asset, "info": info,
            "time": t, "tranId": str(tran), "tradeId": ""}


def stream(rows: list[dict[str, Any]], limit_name: str = "limit", newest_first: bool = False):
    """A handler serving `rows` (each with "time" or "interestAccuredTime") as Binance would:
    those in [startTime, endTime], oldest (or newest) first, cut at the limit."""
    def handle(params: dict[str, str]):
        start, end = int(params["startTime"]), int(params["endTime"])
        key = "time" if "time" in rows[0] else "interestAccuredTime"
        chosen = sorted((r for r in rows if start <= r[key] <= end), key=lambda r: r[key], reverse=newest_first)
        return chosen[: int(params[limit_name])]
    return handle


async def test_a_fresh_ledger_reads_a_week_then_only_from_where_it_ended_less_the_overlap():
    clock = ManualClock(NOW_MS / 1000)
    client = FakeClient({UM: stream([income(NOW_MS - DAY_MS, 1)])})
    ledger = Ledger(clock=clock)
    assert await ledger.update(client)
    assert client.windows_of(UM) == [(NOW_MS - LOOKBACK_MS, NOW_MS)]
    assert {p for p, _ in client.calls} == {e.path for e in LEDGER_ENDPOINTS}  # each source once
    client.calls.clear()
    await ledger.update(client)
    assert client.calls == []  # nothing due: the ledger is polled minutes apart, not every refresh
    clock.advance(300)
    client.now_ms = NOW_MS + 300_000
    await ledger.update(client)
    assert client.windows_of(UM) == [(NOW_MS - OVERLAP_MS, NOW_MS + 300_000)]
    assert MARGIN not in [p for p, _ in client.calls]  # its cadence is 10 minutes
    assert len(ledger.view().entries) == 1  # the overlap's repeat is one row


def test_the_added_weight_a_minute_is_what_the_readme_says():
    assert round(WEIGHT_PER_MINUTE) == 35


async def test_a_repeated_id_is_one_row_and_other_figures_under_it_are_said():
    rows = [income(NOW_MS - 1000, 7), income(NOW_MS - 1000, 7), income(NOW_MS - 500, 7, amount="-99"),
            income(NOW_MS - 400, 7, kind="COMMISSION")]  # tranId is unique per incomeType only
    ledger = Ledger(clock=ManualClock(NOW_MS / 1000))
    await ledger.update(FakeClient({UM: lambda p: rows}))
    view = ledger.view()
    assert [(e.type, e.amount) for e in view.entries] == [("FUNDING_FEE", D("-1.5")), ("COMMISSION", D("-1.5"))]
    assert any("repeating an id with other figures; the first one read is kept" in n for n in view.notes)


async def test_a_three_month_gap_is_read_in_windows_and_pages_over_several_updates():
    start = NOW_MS - 100 * DAY_MS
    rows = [income(t, i) for i, t in enumerate(range(NOW_MS - 89 * DAY_MS, NOW_MS, 1_200_000))]  # each 20 min
    clock = ManualClock(NOW_MS / 1000)
    client = FakeClient({UM: stream(rows)})
    ledger = Ledger(clock=clock, lookback_ms=NOW_MS - start)
    await ledger.update(client)
    assert len(client.windows_of(UM)) == MAX_REQUESTS and ledger.behind
    view = ledger.view()
    assert any("Binance keeps /papi/v1/um/income for three months" in n for n in view.notes)
    assert any(n.startswith("The ledger is still reading /papi/v1/um/income") for n in view.notes)
    await ledger.update(client)
    assert len(client.windows_of(UM)) == MAX_REQUESTS  # not before CATCH_UP seconds
    view = await ledger.read_all(client)
    got = client.windows_of(UM)
    assert got[0][0] == NOW_MS - 90 * DAY_MS  # from what Binance keeps, not from 100 days
    assert all(e - s < 30 * DAY_MS for s, e in got)  # each request within its window
    assert len(got) > 2 * MAX_REQUESTS  # 6408 rows at 1000 a page, in three windows
    assert len([e for e in view.entries if e.source == UM]) == len(rows)
    assert not any("still reading" in n for n in view.notes) and not ledger.behind


async def test_newest_first_pages_are_narrowed_from_the_end():
    rows = [{"txId": i, "interestAccuredTime": NOW_MS - i * 3_600_000, "asset": "USDT", "principal": "1000",
             "interest": "0.01", "interestRate": "0.00001", "type": "PERIODIC"} for i in range(1, 150)]

    def handle(params: dict[str, str]):
        return {"rows": stream(rows, "size", newest_first=True)(params), "total": len(rows)}

    ledger = Ledger(clock=ManualClock(NOW_MS / 1000))
    view = await ledger.read_all(FakeClient({MARGIN: handle}))
    assert len([e for e in view.entries if e.source == MARGIN]) == len(rows)
    assert all(e.amount == D("-0.01") and e.kind == "interest" for e in view.entries)


async def test_a_refused_source_is_one_sentence_and_the_rest_is_read_a_fault_is_retried():
    clock = ManualClock(NOW_MS / 1000)
    client = FakeClient({UM: lambda p: AuthError("no", status=401, code=-2015),
                         "/papi/v1/cm/income": lambda p: ServerError("busy", status=503)})
    client.handlers["/papi/v1/um/forceOrders"] = lambda p: [
        {"orderId": 1, "symbol": "BTCUSDT", "status": "FILLED", "clientOrderId": "autoclose-1",
         "avgPrice": "100", "executedQty": "0.5", "side": "SELL", "time": NOW_MS - 5, "updateTime": NOW_MS - 4}]
    ledger = Ledger(clock=clock)
    await ledger.update(client)
    view = ledger.view()
    assert view.unavailable == {UM: "the exchange refused /papi/v1/um/income (code -2015); the API key may lack "
                                    "access to it"}
    assert ("The ledger could not read /papi/v1/cm/income: busy; retrying in a minute." in view.notes)
    assert [e.kind for e in view.forced] == ["liquidation"]  # the rest came in
    client.handlers["/papi/v1/cm/income"] = lambda p: [income(NOW_MS - 10, 3, asset="BTC")]
    client.calls.clear()
    clock.advance(61)
    await ledger.update(client)
    assert [p for p, _ in client.calls] == ["/papi/v1/cm/income"]  # the refused one waits for `r`
    assert not any("could not read" in n for n in ledger.view().notes)
    ledger.retry()
    client.calls.clear()
    await ledger.update(client)
    assert [p for p, _ in client.calls] == [UM]  # `r` asks the refused one again, nothing else


def _entry(kind: str, amount: str, asset: str, t: int = NOW_MS - 1000) -> LedgerEntry:
    return LedgerEntry("/x", f"{kind}{amount}{asset}{t}", t, kind, kind.upper(), asset, D(amount))


def test_totals_are_usd_at_index_prices_stablecoins_at_one_and_unpriced_coins_apart():
    entries = [_entry("funding", "-10.5", "USDT"), _entry("funding", "-0.001", "BTC"),
               _entry("funding", "2", "ETH"), _entry("interest", "-0.25", "USDC"),
               _entry("transfer", "1000", "USDT"), _entry("other", "3", "USDT"),
               _entry("funding", "-1e20", "USDT")]  # implausible: shown, never counted
    got = totals(entries, {"BTC": D("90000")})
    assert got["funding"].usd == D("-10.5") + D("-90.000") and got["funding"].unpriced == {"ETH": D("2")}
    assert got["interest"].usd == D("-0.25") and got["commission"].usd is None
    assert got["other"].usd == D("3")  # transfers are not counted at all
    assert got["funding"].rows == 3


def test_windows_are_today_utc_a_day_and_a_week():
    now = 1_765_000_000_000  # 2025-12-06 05:46:40 UTC
    assert windows(now) == {"today": 1_764_979_200_000, "24h": now - DAY_MS, "7d": now - 7 * DAY_MS}
