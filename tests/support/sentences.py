"""What a message for a person must look like, shared by the soak, fuzz and secret tests.

pmtui promises one clear sentence per failure: no traceback, no Python repr noise (class names,
object addresses, pydantic's error dumps), no newlines or control characters.
"""

from __future__ import annotations

import re

# Text that only appears when Python internals leak to a person.
NOISE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|File \"[^\"]*\", line \d+"
    r"|\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b"  # exception class names (ValueError, ...)
    r"|\b[A-Z][a-z]+[A-Z][A-Za-z]*\("  # a repr like MalformedResponse('...') or PapiClient(
    r"|\bobject at 0x[0-9a-fA-F]+"
    r"|<class '|<[a-z_.]+\.[A-Za-z_]+ object"
    r"|\bDecimal\('|\bdatetime\.|\bPosixPath\("
    r"|errors\.pydantic\.dev|input_value=|input_type=|For further information visit"
    r"|\bNone\b|\bNoneType\b|\bself\b|\\n"
)
# A quoted value (a repr of what the wire sent) may hold anything; sentence checks skip it.
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_BOUNDARY = re.compile(r"[.!?]\s+[A-Z]")
MAX_LEN = 400


def noise(text: str) -> str | None:
    """The first piece of traceback or repr noise in `text`, or None."""
    match = NOISE.search(text)
    return match.group(0) if match else None


def sentence_problem(message: str, *, needs_period: bool = True) -> str | None:
    """Why `message` is not one plain sentence for a person, or None if it is."""
    if not message or not message.strip():
        return "empty message"
    if message != message.strip():
        return "leading or trailing whitespace"
    if not message.isprintable():
        return "newline or control character"
    if len(message) > MAX_LEN:
        return f"longer than {MAX_LEN} characters"
    if needs_period and not message.endswith("."):
        return "does not end with '.'"
    # A repr'd value from the wire ('\n', 'Traceback') is the wire's text, shown safely escaped.
    unquoted = _QUOTED.sub("''", message)
    if found := noise(unquoted):
        return f"Python noise {found!r}"
    if _BOUNDARY.search(unquoted[:-1]):
        return "more than one sentence"
    return None


def assert_sentence(message: str, *, needs_period: bool = True, context: str = "") -> None:
    problem = sentence_problem(message, needs_period=needs_period)
    assert problem is None, f"{problem}: {message!r}{' (' + context + ')' if context else ''}"
