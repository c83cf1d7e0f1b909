"""Send the terminal only the cells that change.

Textual does not diff a frame against the last: a repainted line goes out whole, and every
segment carries its full SGR sequence and a reset (a 80-column table row is ~600 bytes, ~40 of
them text that changed). ScreenDiff sits in front of the terminal, keeps a copy of what the
screen shows, and rewrites each frame Textual writes into the cells that differ from it, with the
cursor moves between them and SGR sequences that change only what changes (a colour, not the
whole style).

It models only what Textual's full-screen frames are made of: cursor positioning (CUP), carriage
return, text, and SGR. Any other control sequence passes through unchanged; one that may change
the screen's contents (clears, scrolls, inserts, an unparseable SGR, a line feed followed by text)
makes the frame go out exactly as written and the copy unknown where it could differ, so the next
frame rewrites it. The output is correct by construction on those grounds; tests/tui/test_screendiff.py
replays both streams into a terminal emulator (pyte) and compares the screens.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rich.cells import get_character_cell_size

#: A style as the terminal holds it: (attributes, foreground, background); colours are SGR
#: parameter strings ("38;2;1;2;3", "31", ...) or None (default).
Sgr = tuple[frozenset, str | None, str | None]
DEFAULT: Sgr = (frozenset(), None, None)
UNKNOWN = None  # a cell whose contents the model does not know
WIDE_TAIL = "\0"  # the second cell of a double-width character
BRIDGE = 4  # unchanged cells rewritten rather than moving the cursor past them

_TOKEN = re.compile(
    r"\x1b\[([0-9;:?<=>!]*)([ -/]*)([@-~])"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1bP.*?\x1b\\"  # DCS
    r"|\x1b[^\[\]P]?"  # other escapes
    r"|\r|\n"
    r"|[\x00-\x09\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]"  # other C0 controls
    r"|[^\x00-\x1f\x7f]+",  # text
    re.S,
)
_ATTRS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 21, 51, 52, 53}
_OFF = {22: {1, 2}, 23: {3}, 24: {4, 21}, 25: {5, 6}, 27: {7}, 28: {8}, 29: {9}, 54: {51, 52}, 55: {53}}
_OFF_CODE = {1: 22, 2: 22, 3: 23, 4: 24, 21: 24, 5: 25, 6: 25, 7: 27, 8: 28, 9: 29, 51: 54, 52: 54, 53: 55}


class Unmodelled(Exception):
    pass


@lru_cache(maxsize=4096)
def apply_sgr(state: Sgr, params: str) -> Sgr:
    """The style after an SGR sequence with these parameters."""
    if ":" in params:
        raise Unmodelled(params)
    held, fg, bg = state
    attrs: set[int] = set(held)
    codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            attrs, fg, bg = set(), None, None
        elif c in _ATTRS:
            attrs.add(c)
        elif c in _OFF:
            attrs -= _OFF[c]
        elif 30 <= c <= 37 or 90 <= c <= 97:
            fg = str(c)
        elif 40 <= c <= 47 or 100 <= c <= 107:
            bg = str(c)
        elif c == 39:
            fg = None
        elif c == 49:
            bg = None
        elif c in (38, 48):
            if i + 1 < len(codes) and codes[i + 1] == 5 and i + 2 < len(codes):
                value, i = f"{c};5;{codes[i + 2]}", i + 2
            elif i + 1 < len(codes) and codes[i + 1] == 2 and i + 4 < len(codes):
                value, i = f"{c};2;{codes[i + 2]};{codes[i + 3]};{codes[i + 4]}", i + 4
            else:
                raise Unmodelled(params)
            if c == 38:
                fg = value
            else:
                bg = value
        else:
            raise Unmodelled(params)
        i += 1
    return (frozenset(attrs), fg, bg)


def _full(state: Sgr) -> list[str]:
    attrs, fg, bg = state
    params = [str(a) for a in sorted(attrs)]
    if fg:
        params.append(fg)
    if bg:
        params.append(bg)
    return params


def transition(current: Sgr | None, target: Sgr) -> str:
    """The shortest SGR sequence (of two candidates) that takes `current` to `target`."""
    if current == target:
        return ""
    reset = "\x1b[" + ";".join(["0"] + _full(target)) + "m"
    if current is None:
        return reset
    attrs, fg, bg = target
    params: list[str] = []
    removed = current[0] - attrs
    readd: set[int] = set()
    for a in sorted(removed):
        off = _OFF_CODE[a]
        if str(off) not in params:
            params.append(str(off))
            readd |= _OFF[off] & attrs  # 22 turns off bold and faint alike
    for a in sorted((attrs - current[0]) | readd):
        params.append(str(a))
    if fg != current[1]:
        params.append(fg or "39")
    if bg != current[2]:
        params.append(bg or "49")
    step = "\x1b[" + ";".join(params) + "m"
    return step if len(step) < len(reset) else reset


class ScreenDiff:
    """Rewrites frames written for a `width` x `height` screen into what changes on it."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        # What the terminal shows: per line, its characters and their styles (None: unknown).
        self.chars: list[list[str | None]] = [[UNKNOWN] * width for _ in range(height)]
        self.styles: list[list[Sgr | None]] = [[UNKNOWN] * width for _ in range(height)]
        self.sgr: Sgr | None = None  # the terminal's SGR state; None: unknown
        self.frames = self.passed_through = 0

    def resize(self, width: int, height: int) -> None:
        if (width, height) != (self.width, self.height):
            self.__init__(width, height)  # type: ignore[misc]

    def _forget(self) -> None:
        for row in self.chars:
            row[:] = [UNKNOWN] * self.width

    def __call__(self, data: str) -> str:
        self.frames += 1
        try:
            return self._diff(data)
        except Unmodelled:
            self.passed_through += 1
            self._replay(data)
            return data

    # --- modelling a frame ------------------------------------------------------------------

    def _simulate(self, data: str, strict: bool):
        """Yield ("text", y, x, chars, sgr) (chars: one per cell, WIDE_TAIL after a double-width
        one), ("pass", sequence), ("cup",), ("sgr", state) and last ("end", sgr, y, x); raise
        Unmodelled (strict) or forget the screen (not strict) at what the model cannot follow."""
        y: int | None = None
        x: int | None = None
        sgr = self.sgr
        width, height = self.width, self.height
        for m in _TOKEN.finditer(data):
            token = m.group(0)
            first = token[0]
            if first != "\x1b" and first not in "\r\n" and first >= " ":
                if token.isascii():
                    chars = list(token)
                else:
                    chars = []
                    for ch in token:
                        size = get_character_cell_size(ch)
                        if size == 0:
                            chars = None
                            break
                        chars.append(ch)
                        if size == 2:
                            chars.append(WIDE_TAIL)
                if y is None or x is None or chars is None or x + len(chars) > width or sgr is None:
                    if strict:
                        raise Unmodelled(token)
                    self._forget()
                    y = x = None
                    continue
                yield ("text", y, x, chars, sgr)
                x += len(chars)
                continue
            if token == "\r":
                if x is not None:
                    x = 0
                continue
            if token == "\n":
                y = x = None  # Textual positions the cursor again before any more text
                if not strict:
                    yield ("pass", token)
                continue
            final = m.group(3)
            if final is not None:
                params = m.group(1)
                if final == "m" and not m.group(2):
                    try:
                        if sgr is not None:
                            sgr = apply_sgr(sgr, params)
                        elif not params or params.split(";")[0] in ("", "0"):
                            sgr = apply_sgr(DEFAULT, params)  # a reset: known from here
                    except Unmodelled:
                        if strict:
                            raise
                        sgr = None
                    continue
                if final in "Hf" and not params.startswith("?"):
                    parts = params.split(";") if params else []
                    try:
                        row = int(parts[0]) if parts and parts[0] else 1
                        col = int(parts[1]) if len(parts) > 1 and parts[1] else 1
                    except ValueError:
                        row = col = 0
                    if 1 <= row <= height and 1 <= col <= width:
                        y, x = row - 1, col - 1
                    else:
                        y = x = None
                    yield ("cup",) if strict else ("pass", token)
                    continue
                if params.startswith("?") and final in "hl":
                    if any(p in ("47", "1047", "1049") for p in params[1:].split(";")):
                        if strict:
                            raise Unmodelled(token)
                        self._forget()
                    yield ("pass", token)  # modes: cursor, mouse, paste, sync...
                    continue
                if final in "nctq" or (final == "p" and "$" in m.group(2)):
                    yield ("pass", token)  # reports and queries: the screen stays
                    continue
            elif token in ("\x1b7", "\x1b8", "\x1b=", "\x1b>", "\x07") or token.startswith(("\x1b]", "\x1bP")):
                if token == "\x1b8":  # restore cursor: where, the model does not know
                    y = x = None
                yield ("pass", token)
                continue
            if strict:
                raise Unmodelled(token)
            self._forget()
            y = x = None
            yield ("pass", token)
        yield ("end", sgr, y, x)

    def _replay(self, data: str) -> None:
        """Follow a frame that goes out as written, as far as the model can."""
        touched: set[int] = set()
        for op in self._simulate(data, strict=False):
            if op[0] == "text":
                _, y, x, chars, sgr = op
                self._fix_wide_edges(y, x, x + len(chars))
                self.chars[y][x:x + len(chars)] = chars
                self.styles[y][x:x + len(chars)] = [sgr] * len(chars)
                touched.add(y)
            elif op[0] == "end":
                self.sgr = op[1]
        for y in touched:
            self._check_wide(self.chars[y])

    def _fix_wide_edges(self, y: int, start: int, stop: int) -> None:
        """A write that covers half of a double-width character: the terminal blanks the other
        half (or not: terminals differ), so the model forgets it."""
        chars = self.chars[y]
        if start > 0 and chars[start] == WIDE_TAIL:
            chars[start - 1] = UNKNOWN
        if stop < self.width and chars[stop] == WIDE_TAIL:
            chars[stop] = UNKNOWN

    @staticmethod
    def _check_wide(chars: list) -> None:
        """A tail without its head is unknown."""
        if WIDE_TAIL not in chars:
            return
        for x, ch in enumerate(chars):
            if ch == WIDE_TAIL and (x == 0 or chars[x - 1] is UNKNOWN or chars[x - 1] == WIDE_TAIL):
                chars[x] = UNKNOWN

    # --- writing the difference -------------------------------------------------------------

    def _diff(self, data: str) -> str:
        before: list[str] = []  # pass-through sequences before the first cell written
        after: list[str] = []  # ... and after the last one
        new_chars: dict[int, list] = {}
        new_styles: dict[int, list] = {}
        spans: dict[int, list[tuple[int, int]]] = {}
        wrote = cursor_moved = False
        end_sgr: Sgr | None = None
        end_y = end_x = None
        for op in self._simulate(data, strict=True):
            kind = op[0]
            if kind == "text":
                _, y, x, chars, sgr = op
                if after:
                    before.extend(after)
                    after.clear()
                wrote = True
                if y not in new_chars:
                    new_chars[y] = list(self.chars[y])
                    new_styles[y] = list(self.styles[y])
                    spans[y] = []
                n = len(chars)
                row = new_chars[y]
                if x > 0 and row[x] == WIDE_TAIL:
                    row[x - 1] = UNKNOWN
                if x + n < self.width and row[x + n] == WIDE_TAIL:
                    row[x + n] = UNKNOWN
                row[x:x + n] = chars
                new_styles[y][x:x + n] = [sgr] * n
                spans[y].append((x, x + n))
            elif kind == "pass":
                (after if wrote else before).append(op[1])
            elif kind == "cup":
                cursor_moved = True
            else:  # end
                _, end_sgr, end_y, end_x = op
        out: list[str] = list(before)
        sgr = self.sgr
        cursor: tuple[int, int] | None = None
        width = self.width
        for y in sorted(new_chars):
            chars, styles = new_chars[y], new_styles[y]
            self._check_wide(chars)
            old_chars, old_styles = self.chars[y], self.styles[y]
            diffs: list[int] = []
            for start, stop in sorted(set(spans[y])):
                # Compare in blocks (list slices compare in C); look closer only where they differ.
                for b in range(start, stop, 16):
                    e = min(b + 16, stop)
                    if chars[b:e] == old_chars[b:e] and styles[b:e] == old_styles[b:e]:
                        continue
                    diffs.extend(i for i in range(b, e)
                                 if (chars[i] != old_chars[i] or styles[i] != old_styles[i])
                                 and chars[i] is not UNKNOWN)
            self.chars[y], self.styles[y] = chars, styles
            if not diffs:
                continue
            runs: list[list[int]] = []
            for x in sorted(set(diffs)):
                if chars[x] == WIDE_TAIL:
                    x -= 1  # write the whole character
                if runs and x - runs[-1][1] <= BRIDGE + 1 and UNKNOWN not in chars[runs[-1][1] + 1:x]:
                    runs[-1][1] = max(runs[-1][1], x)
                else:
                    runs.append([x, x])
            for start, stop in runs:
                if cursor != (y, start):
                    out.append(f"\x1b[{y + 1};{start + 1}H" if start else f"\x1b[{y + 1}H")
                x = start
                while x <= stop:
                    ch = chars[x]
                    if ch == WIDE_TAIL or ch is UNKNOWN:
                        x += 1
                        continue
                    style = styles[x]
                    if style is not sgr:
                        step = transition(sgr, style)
                        if step:
                            out.append(step)
                        sgr = style
                    out.append(ch)
                    x += 2 if x + 1 < width and chars[x + 1] == WIDE_TAIL else 1
                cursor = (y, x)
        if end_sgr is not None and end_sgr != sgr:
            out.append(transition(sgr, end_sgr))  # the style the frame left (Textual: the default)
            sgr = end_sgr
        self.sgr = sgr
        if cursor_moved and end_y is not None and end_x is not None and cursor != (end_y, end_x):
            out.append(f"\x1b[{end_y + 1};{end_x + 1}H")  # where the frame left the cursor
        out.extend(after)
        return "".join(out)
