"""The --debug log file: everything pmtui and httpx say, with secrets and signatures redacted."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import platformdirs

_SIGNATURE = re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE)
_APIKEY_HEADER = re.compile(r"(x-mbx-apikey['\"]?\s*[:=,]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE)


class Redactor(logging.Filter):
    """Rewrites each record's final text: known secret values and any signature become <redacted>."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is wholly replaced.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

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


def setup_debug_log(secrets: list[str], path: Path | None = None) -> Path:
    """Send DEBUG logs of pmtui and httpx to a private file; return its path."""
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if hasattr(os, "fchmod"):  # the mode above applies only to a new file: tighten an old one
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    for name in ("pmtui", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    return path
