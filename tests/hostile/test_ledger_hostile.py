"""Hostile ledger rows: absurd amounts, unknown income types, escape sequences in `info`, repeated
ids, a server that ignores the window asked for, a body of the wrong shape. Each ends as data
shown plainly or as one sentence, never a traceback, a loop or a terminal control sequence."""

from __future__ import annotations

import json
from decimal import Decimal as D

from pmtui import output
from pmtui.clock import ManualClock
from pmtui.ledger import MAX_REQUESTS, Ledger, totals
from pmtui.models import parse_um_income
from tests.support.sentences import assert_sentence
from tests.unit.test_ledger import NOW_MS, UM, FakeClient, income

ESC = "\x1b"


async def _read(rows_or_handler) -> tuple[Ledger, FakeClient]:
    handler = rows_or_handler if callable(rows_or_handler) else (lambda p: rows_or_handler)
    client = FakeClient({UM: handler})
    ledger = Ledger(clock=ManualClock(NOW_MS / 1000))
    await ledger.update(client)
    return ledger, client


async def test_an_absurd_amount_is_shown_as_sent_and_left_out_of_the_totals_in_a_sentence():
    ledger, _ = await _read([income(NOW_MS - 9, 1, amount="-1e30"), income(NOW_MS - 8, 2, amount="-2.5")])
    view = ledger.view()
    assert [e.amount for e in view.entries] == [D("-1e30"), D("-2.5")]
    assert totals(view.entries, {})["funding"].usd == D("-2.5")
    note = next(n for n in view.notes if "implausible" in n)
    assert note == "1 ledger row with an implausible amount (-1E+30 USDT) shown as sent but left out of the totals."
    assert_sentence(note)


async def test_an_amount_that_is_no_number_drops_that_row_alone_with_a_sentence():
    ledger, _ = await _read([income(NOW_MS - 9, 1, amount="1e999"), income(NOW_MS - 8, 2, amount="NaN"),
                             income(NOW_MS - 7, 3)])
    view = ledger.view()
    assert [e.id for e in view.entries] == ["FUNDING_FEE:3"]  # the good row beside them stays
    note = next(n for n in view.notes if "could not be read" in n)
    assert note == ("2 rows of /papi/v1/um/income could not be read and are left out "
                    "(row 0: income: number out of range).")
    assert_sentence(note)


async def test_an_unknown_income_type_is_shown_under_its_own_name_and_counted_as_other():
    ledger, _ = await _read([income(NOW_MS - 9, 1, kind="MOON_BONUS", amount="5")])
    (e,) = ledger.view().entries
    assert (e.kind, e.type) == ("other", "MOON_BONUS")
    assert totals([e], {})["other"].usd == D("5")
    assert "MOON_BONUS" in output.ledger_csv([e])


async def test_escape_sequences_in_info_and_symbol_never_reach_a_terminal_or_a_spreadsheet():
    evil = income(NOW_MS - 9, 1, info=f"{ESC}]0;pwned{chr(7)}{ESC}[2J=HYPERLINK(\"x\")")
    evil["symbol"] = f"BTC{ESC}[31mUSDT"
    ledger, _ = await _read([evil])
    view = ledger.view()
    (e,) = view.entries
    assert ESC not in e.info and ESC not in (e.symbol or "") and e.symbol == "BTCUSDT\ufffd"
    assert e.raw["info"] == evil["info"]  # the JSON keeps what was sent...
    text = json.dumps(output.ledger_json(view), default=output.json_default)
    assert ESC not in text and "\\u001b]0;pwned" in text  # ...escaped, never a raw ESC byte
    table = output.ledger_table(view, NOW_MS, since_ms=NOW_MS - 86_400_000)
    assert ESC not in table and "pwned" not in table and '=HYPERLINK("x")' in table  # the OSC went whole
    csv = output.ledger_csv(view.entries)
    assert ESC not in csv and "'=HYPERLINK" in csv and ",=HYPERLINK" not in csv  # no formula for a spreadsheet
    assert ",BTCUSDT\ufffd," in csv


async def test_a_page_of_one_row_repeated_is_one_row_and_the_reading_ends():
    ledger, client = await _read([income(NOW_MS - 9, 1)] * 1000)  # a full page, one id
    assert len(ledger.view().entries) == 1
    view = await ledger.read_all(client)
    assert len(view.entries) == 1 and len([c for c in client.calls if c[0] == UM]) <= 3


async def test_a_server_that_ignores_the_window_is_not_paged_a_millisecond_at_a_time():
    old = [income(NOW_MS - 200 * 86_400_000, i) for i in range(1000)]  # the same full page, whatever is asked
    ledger, client = await _read(old)
    assert len([c for c in client.calls if c[0] == UM]) == 1 and not ledger.behind
    assert len(ledger.view().entries) == 1000
    note = next(n for n in ledger.view().notes if "outside the time" in n)
    assert_sentence(note)


async def test_a_body_of_the_wrong_shape_is_the_sources_sentence_and_the_rest_goes_on():
    ledger, client = await _read({"unexpected": "object"})
    view = ledger.view()
    note = next(n for n in view.notes if "/papi/v1/um/income" in n)
    assert note == ("The ledger could not read /papi/v1/um/income: The UM income response has no list of rows; "
                    "retrying in a minute.")
    assert_sentence(note)
    assert len({p for p, _ in client.calls}) == 7  # every other source was read


def test_rows_that_are_not_objects_are_counted_not_fatal():
    got = parse_um_income([None, 3, "x", income(NOW_MS, 1)])
    assert (got.dropped, len(got.entries), got.why) == (3, 1, "row 0: not an object")


async def test_many_requests_are_bounded_per_update():
    # A full page each time, every row new and inside the window: paging goes on, 4 requests at most.
    counter = iter(range(10**6))

    def handle(params):
        start = int(params["startTime"])
        return [income(start + 1 + i, next(counter)) for i in range(1000)]

    ledger, client = await _read(handle)
    assert len([c for c in client.calls if c[0] == UM]) == MAX_REQUESTS and ledger.behind


async def test_a_bug_while_reading_one_source_is_a_sentence_and_waits_a_minute():
    def boom(params):
        raise ZeroDivisionError  # not an exchange fault: a bug pmtui must survive

    clock = ManualClock(NOW_MS / 1000)
    client = FakeClient({UM: boom})
    ledger = Ledger(clock=clock)
    await ledger.update(client)
    note = next(n for n in ledger.view().notes if "/papi/v1/um/income" in n)
    assert note == ("Unexpected internal error while reading /papi/v1/um/income; retrying in a minute "
                    "(run with --debug for details).")
    client.calls.clear()
    await ledger.update(client)
    assert client.calls == []  # not again at once, every refresh
