"""The sanitising boundary: external text keeps its printable Unicode and loses every control."""

from hypothesis import given
from hypothesis import strategies as st

from pmtui.text import MAX_LEN, clean, is_clean


def test_osc52_clipboard_write_is_removed_whole():
    msg = "Illegal characters \x1b]52;c;SGVsbG8=\x07 found"
    assert clean(msg) == "Illegal characters found"


def test_csi_and_8bit_sequences_are_removed():
    assert clean("\x1b[31mRED\x1b[0m") == "RED"
    assert clean("a\x9b2Jb") == "ab"
    assert clean("x\x9d0;title\x9cy") == "xy"
    assert clean("cut \x1b]0;never ends") == "cut"


def test_printable_unicode_survives_and_bidi_overrides_do_not():
    assert clean("币安 BTCUSDT ✓") == "币安 BTCUSDT ✓"
    assert clean("12\u202e34") == "1234"


def test_newlines_fold_and_length_is_capped():
    assert clean("one\ntwo\r\nthree\tfour") == "one two three four"
    long = clean("x" * 1000)
    assert len(long) == MAX_LEN and long.endswith("…")


def test_markup_is_left_as_text_for_the_widgets_to_show_literally():
    assert clean("[/] [bold]x") == "[/] [bold]x"


@given(st.text())
def test_nothing_unprintable_survives(s):
    out = clean(s)
    assert out.isprintable()
    assert "\x1b" not in out and len(out) <= MAX_LEN
    assert is_clean(out)
