"""The --debug log file: everything pmtui and httpx say, with secrets and signatures redacted."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import platformdirs

from pmtui.errors import ConfigError
from pmtui.text import clean

_SIGNATURE = re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE)
_APIKEY_HEADER = re.compile(r"(x-mbx-apikey['\"]?\s*[:=,]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE)


def _base64_runs(data: bytes) -> set[str]:
    """The characters base64 always spells `data` with, wherever it sits in a longer encoded run
    (an Authorization: Basic header of "key:secret"): one run per alignment, edges cut."""
    runs = set()
    for shift in range(3):
        bits = 8 * shift
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + data).decode()
            # Characters wholly made of `data`'s bits: after the prefix's, before the padding.
            run = encoded[(bits + 5) // 6: 8 * (shift + len(data)) // 6]
            if len(run) >= 8:
                runs.add(run)
    # Alone, the whole encoding, with and without its padding.
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        runs.update({encode(data).decode(), encode(data).decode().rstrip("=")})
    return runs


def secret_forms(secret: str) -> set[str]:
    """Every way `secret` may be written in a log line or a message: as is, escaped (repr,
    JSON, unicode-escape), URL-encoded, base64, and as `text.clean` leaves it (a newline in a
    secret becomes a space in an error message)."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1],
             secret.encode("unicode_escape").decode("ascii"),
             quote(secret, safe=""), quote_plus(secret), clean(secret, limit=len(secret) + 1)}
    forms.update(_base64_runs(secret.encode()))
    return {f for f in forms if len(f) >= 4}


class Redactor(logging.Filter):
    """Rewrites each record's final text: known secret values (in any of their escaped or
    encoded forms) and any signature become <redacted>."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        forms = {form for s in secrets if s and len(s) >= 4 for form in secret_forms(s)}
        # Longest first, so a secret that contains another is wholly replaced.
        self._secrets = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        text = _SIGNATURE.sub(r"\1<redacted>", text)
        return _APIKEY_HEADER.sub(r"\1<redacted>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(text)
        record.args = None
        return True


def log_path() -> Path:
    return platformdirs.user_log_path("pmtui") / "pmtui.log"


def make_private_dir(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 (as the XDG spec asks): logs and history
    are nobody else's business. Folders that already exist are left as they are."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            parent.mkdir(mode=0o700)
        except FileExistsError:
            if not parent.is_dir():
                raise NotADirectoryError(20, "a file of that name is in the way", str(parent)) from None


class _LogFile(logging.FileHandler):
    """The debug log's file. A write that fails (a full disk, the folder gone) turns the log off
    with one sentence on stderr, instead of logging's traceback for every record after."""

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        for name in ("pmtui", "httpx", "httpcore"):
            logging.getLogger(name).removeHandler(self)
        error = sys.exc_info()[1]
        reason = (getattr(error, "strerror", None) or type(error).__name__).lower()
        try:
            self.close()
        except OSError:  # the close flushes into the same full disk
            self.stream = None
        try:
            print(f"pmtui: warning: the debug log {self.baseFilename} cannot be written ({reason}): "
                  "debug logging is off.", file=sys.stderr)
        except OSError:
            pass


def setup_debug_log(secrets: list[str], path: Path | None = None) -> Path:
    """Send DEBUG logs of pmtui and httpx to a private file; return its path."""
    path = path or log_path()
    try:
        make_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if hasattr(os, "fchmod"):  # the mode above applies only to a new file: tighten an old one
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise ConfigError(f"Cannot write the debug log in {path.parent}: {reason}{where}.") from None
    handler = _LogFile(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    for name in ("pmtui", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    return path
