"""The one boundary for text that came from outside (the network, files, commands).

Such text is data: it must never reach a terminal as control sequences, nor Rich/Textual as
markup. `clean` is the only place that decides what survives: printable Unicode, with every C0/C1
control character and whole ESC/CSI/OSC/DCS sequences removed, whitespace runs folded to one
space, and a length cap so a hostile server cannot fill a screen or a log line. Markup is a
separate concern: the widgets show external text through `rich.text.Text` (never parsed), and
`notify(..., markup=False)`.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest external string kept (an error msg, a symbol): enough for any real Binance text.
MAX_LEN = 200

# ESC-introduced sequences in their 7-bit (ESC [, ESC ], ESC P …) and 8-bit (CSI 0x9b, OSC 0x9d,
# DCS 0x90 …) forms. OSC/DCS/APC/PM/SOS run to BEL or ST (ESC \ or 0x9c), or to the end if cut off.
_SEQUENCES = re.compile(
    r"""
      (?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?        # CSI … final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC … BEL/ST
    | \x1b[\x20-\x2f]*[\x30-\x7e]?                              # other ESC sequences (ESC 7, ESC ( B)
    """,
    re.VERBOSE | re.DOTALL,
)
_SPACE = re.compile(r"\s+")


def _printable(ch: str) -> bool:
    # Cc: C0/C1 controls and DEL; Cf: format characters (bidi overrides can reorder what a person
    # reads); Cs/Co/Cn: surrogates, private use, unassigned. Zero-width joiners are Cf too, a small
    # price for never letting U+202E flip a number.
    return unicodedata.category(ch)[0] != "C"


def clean(value: object, limit: int = MAX_LEN) -> str:
    """External text made safe to show: no control characters or sequences, one line, capped.

    Not for secrets (redact those first) and not for markup escaping (render it as Text)."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        # The common case (every real symbol, asset and status, on every parse): nothing to strip.
        if len(text) <= limit and "  " not in text and text == text.strip():
            return text
        out = text
    else:
        text = _SEQUENCES.sub("", text)
        out = "".join(ch if _printable(ch) else (" " if ch in "\t\n\r\x0b\x0c" else "") for ch in text)
    out = _SPACE.sub(" ", out).strip()
    if len(out) > limit:
        out = out[: max(0, limit - 1)].rstrip() + "…"
    return out


def is_clean(value: str) -> bool:
    """True when `clean` would leave the text as it is (apart from the length cap)."""
    return value == clean(value, limit=max(len(value), 1))


#: Longest name (a profile) shown in a table cell, a title or a status line.
NAME_LEN = 40


def name(value: str, limit: int = NAME_LEN) -> str:
    """A name a person chose (a config profile) as one line of plain text: every control or
    format character (ESC, C1, a bidi override) shown as its escape (`\\x1b`, `\\u202e`) rather
    than removed, so two names never look alike and the table in the file can still be found;
    capped with an ellipsis. The name itself (a config key, a JSON key) stays as it is."""
    # U+2028/U+2029 (Zl, Zp) are line breaks to splitlines() and some terminals: escaped too.
    out = "".join(ch if _printable(ch) and ch not in "\u2028\u2029" else _escape(ch) for ch in value)
    if not out or out != out.strip():  # "" or "  " must still read as a name: quoted
        out = f'"{out}"'
    if len(out) > limit:
        out = out[: max(0, limit - 1)] + "…"
    return out


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
