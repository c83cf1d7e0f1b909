"""pmtui.tui.screendiff: the cells it sends make the same screen as the frames Textual wrote.

Each check replays the original stream and the rewritten one into a terminal emulator (pyte, the
`bench` extra; these tests skip without it) and compares every cell, character and style, after
every write.
"""

from __future__ import annotations

import os
import random
import re
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from pmtui.tui.screendiff import DEFAULT, ScreenDiff, apply_sgr, transition

pyte = pytest.importorskip("pyte")

ROOT = Path(__file__).resolve().parents[2]
CUP = re.compile(rb"\x1b\[\d+;\d+H")


def cells(screen) -> list[list[tuple]]:
    return [[(c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse, c.strikethrough)
             for c in (screen.buffer[y][x] for x in range(screen.columns))] for y in range(screen.lines)]


def assert_same_screens(writes: list[str], width: int, height: int) -> tuple[int, int]:
    """Feed `writes` as written and as ScreenDiff rewrites them; the screens match after each.
    Returns (bytes written, bytes sent)."""
    diff = ScreenDiff(width, height)
    plain, diffed = pyte.Screen(width, height), pyte.Screen(width, height)
    a, b = pyte.Stream(plain), pyte.Stream(diffed)
    sent = 0
    for n, data in enumerate(writes):
        out = diff(data)
        sent += len(out.encode())
        a.feed(data)
        b.feed(out)
        assert cells(plain) == cells(diffed), f"write {n}: {data[:200]!r} -> {out[:200]!r}"
    return sum(len(w.encode()) for w in writes), sent


def test_transitions_reach_the_target_style():
    rng = random.Random(7)
    colours = [None, "31", "97", "38;5;200", "38;2;1;2;3", "38;2;224;224;224"]
    backs = [None, "41", "107", "48;5;17", "48;2;30;30;30"]
    attrs = [1, 2, 3, 4, 7, 9]
    states = [(frozenset(rng.sample(attrs, rng.randrange(4))), rng.choice(colours), rng.choice(backs))
              for _ in range(200)]
    for current, target in pairwise(states):
        step = transition(current, target)
        params = step[2:-1] if step else None
        assert (apply_sgr(current, params) if step else current) == target, (current, target, step)
        reset_and_set = "\x1b[0;" + ";".join([*map(str, sorted(target[0])), *(c for c in target[1:] if c)]) + "m"
        assert len(step) <= len(reset_and_set)
    assert transition(None, DEFAULT) == "\x1b[0m"


def test_only_changed_cells_go_out_and_the_screen_is_the_same():
    row = "\x1b[38;2;224;224;224;48;2;23;23;23m{}\x1b[0m\x1b[1;38;2;78;191;113;48;2;23;23;23m{}\x1b[0m"
    frames = ["\x1b[?1049h\x1b[2J"]
    for tick in range(5):
        frames.append("".join(f"\x1b[{y + 1};1H" + row.format(f" SYM{y:02d} ", f"{1000 + y * tick:>10}") + "\n"
                              for y in range(10)))
    written, sent = assert_same_screens(frames, 40, 12)
    assert sent < written / 3
    # An unchanged frame sends (almost) nothing.
    diff = ScreenDiff(40, 12)
    for frame in frames:
        diff(frame)
    assert len(diff(frames[-1])) <= 12


def test_double_width_characters_and_halves_overwritten():
    frames = [
        "\x1b[2J\x1b[1;1H\x1b[0m漢字ab\x1b[2;1Hxyz",
        "\x1b[1;1H\x1b[0m漢字ab",  # unchanged
        "\x1b[1;2H\x1b[0mQ",  # the tail of 漢: the terminal blanks its head
        "\x1b[1;1H\x1b[31m字\x1b[0m-",
        "\x1b[1;1H\x1b[0mab\x1b[1;4H漢",
    ]
    assert_same_screens(frames, 10, 3)


def test_what_it_does_not_model_goes_out_as_written():
    diff = ScreenDiff(20, 5)
    diff("\x1b[2J\x1b[1;1H\x1b[0mhello")
    for frame in ("\x1b[1;1H\x1b[2Kbye", "\x1b[3;1H\x1b[Lmore", "abc", "\x1b[1;1H\x1b[4:3mx\x1b[0m"):
        assert diff(frame) == frame
    frames = ["\x1b[2J\x1b[1;1H\x1b[0mhello", "\x1b[1;1H\x1b[2Kbye", "\x1b[2;1Hnext\nline", "\x1b[1;1Hhello",
              "\x1b[?25h\x1b[3;4H", "\x1b]0;title\x07\x1b[1;1Hhullo"]
    assert_same_screens(frames, 20, 5)


@pytest.mark.skipif(sys.platform != "linux", reason="a Linux pty")
def test_a_real_dashboard_session_replays_to_the_same_screens(tmp_path):
    """pmtui --demo in an 80x24 pty, with frames sent as Textual writes them (PMTUI_SCREEN_DIFF=0):
    keys that sort, show all rows, filter (a visible cursor), open help and scroll sideways. The
    captured stream, cut at each cursor positioning, is then rewritten and compared write by write."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from term import Terminal
    finally:
        sys.path.pop(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMTUI_", "TEXTUAL"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"),
               XDG_DATA_HOME=str(tmp_path / "d"), XDG_CACHE_HOME=str(tmp_path / "k"), TERM="xterm-256color",
               COLORTERM="truecolor", PMTUI_SCREEN_DIFF="0", PYTHONPATH=str(ROOT))
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    with Terminal([sys.executable, "-m", "pmtui", "--demo", "--interval", "1"], env=env, cwd=ROOT) as term:
        assert term.wait_for(b"BTCUSDT", timeout=30) is not None
        for keys in ("j", "a", "s", "/", "btc", "\r", "S", "?", "\x1b", "\x1b", "a", "\x1b[C", "\t", "j"):
            os.write(term.master, keys.encode())
            term.drain(0.4)
        term.drain(1.2)  # a refresh or two
    stream = bytes(term.output)
    cuts = [0] + [m.start() for m in CUP.finditer(stream)] + [len(stream)]
    writes = [stream[a:b].decode("utf-8", "replace") for a, b in pairwise(cuts) if b > a]
    assert len(writes) > 100
    written, sent = assert_same_screens(writes, 80, 24)
    assert sent < written
