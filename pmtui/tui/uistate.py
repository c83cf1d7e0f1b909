"""What the dashboard remembers between runs of its own look: the theme picked in the command
palette. A small JSON file in the platformdirs user state dir; nothing in it is a secret, and a
missing, unreadable or odd file just means the default theme."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

FILENAME = "ui.json"


def state_path() -> Path:
    return platformdirs.user_state_path("pmtui") / FILENAME


def load_theme(path: Path | None = None) -> str | None:
    """The theme last picked, or None (never raises)."""
    path = path or state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("ignoring %s: %s", path, exc)
        return None
    theme = data.get("theme") if isinstance(data, dict) else None
    return theme if isinstance(theme, str) and 0 < len(theme) <= 100 else None


def save_theme(theme: str, path: Path | None = None) -> None:
    """Remember `theme` (written whole, then renamed, so a crash never leaves half a file)."""
    path = path or state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            pass
        data["theme"] = theme
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        temp.replace(path)
    except OSError as exc:
        log.debug("could not save the theme to %s: %s", path, exc)
