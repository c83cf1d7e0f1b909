"""History: an optional SQLite record of each refresh and its export.

One row per refresh: time (ms), profile, uniMMR, account equity, maintenance margin, total uPnL
and the level as text. Decimals are stored as TEXT so they come back exactly as they went in. A
new file keys the rows by (time, profile), WITHOUT ROWID: of two refreshes of an account in the
same millisecond the later is kept.
The file lives in the platformdirs user data dir (``history.sqlite3``) unless a path is given; it
is created private to the user (0600, in a 0700 folder).

sqlite3 calls block: in the dashboard use the async wrappers (`arecord`, `aread`), which run them
in a worker thread. Each call opens its own short-lived connection, so any thread may call.
The dashboard's in-memory sparkline series are `pmtui.series`'.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import platformdirs

from pmtui import fmt
from pmtui.errors import PmtuiError
from pmtui.logs import make_private_dir
from pmtui.text import clean
from pmtui.views import AccountView

FILENAME = "history.sqlite3"
#: The demo's records: never mixed with a real account's.
DEMO_FILENAME = "history-demo.sqlite3"
COLUMNS = ("time_ms", "profile", "unimmr", "account_equity", "maint_margin", "total_upnl", "level")
_SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;  -- a new file only: retention can give pages back (pmtui.record)
CREATE TABLE IF NOT EXISTS samples (
    time_ms        INTEGER NOT NULL,
    profile        TEXT    NOT NULL,
    unimmr         TEXT,
    account_equity TEXT,
    maint_margin   TEXT,
    total_upnl     TEXT,
    level          TEXT    NOT NULL,
    PRIMARY KEY (time_ms, profile)
) WITHOUT ROWID;
"""
#: A new file's rows live in one B-tree ordered by (time_ms, profile), which every query reads by
#: (a range of time, one profile or all, retention's "older than"): no rowid and no second index
#: on time. A file from before keeps its rowid table and its index (samples_by_time); both read
#: and record on.


class HistoryError(PmtuiError):
    """The history file cannot be read or written."""

    retryable = False
    kind = "history"


def default_path() -> Path:
    """Where history is kept when no path is given: e.g. ~/.local/share/pmtui/history.sqlite3."""
    return platformdirs.user_data_path("pmtui") / FILENAME


def demo_path() -> Path:
    """Where `--demo --record` keeps its records when no path is given."""
    return default_path().with_name(DEMO_FILENAME)


@dataclass(frozen=True, slots=True)
class Sample:
    time_ms: int
    profile: str
    unimmr: Decimal | None
    account_equity: Decimal | None
    maint_margin: Decimal | None
    total_upnl: Decimal | None
    level: str

    def to_dict(self) -> dict[str, Any]:
        """Decimals as their exact strings (None stays null), plus an ISO UTC time."""
        data = asdict(self)
        for key in ("unimmr", "account_equity", "maint_margin", "total_upnl"):
            data[key] = _text(data[key])
        data["time"] = _iso(self.time_ms)
        return data


def sample_from_view(view: AccountView, profile: str, time_ms: int | None = None) -> Sample:
    """A row for this refresh: uniMMR and account figures from /papi/v1/account when the view has
    it, else the UM account's USD-like totals (and no uniMMR)."""
    if time_ms is None:
        time_ms = int(time.time() * 1000)
    pm = view.pm
    return Sample(
        time_ms=time_ms,
        profile=profile,
        unimmr=pm.uniMMR if pm is not None else None,
        account_equity=pm.accountEquity if pm is not None else view.totals.margin_balance,
        maint_margin=pm.accountMaintMargin if pm is not None else view.totals.maint_margin,
        total_upnl=view.upnl,  # the whole account's: COIN-M at its mark too
        level=view.level.label,
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else fmt.plain(value)


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):  # not a number pmtui wrote (a blob, a float)
        return None


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class History:
    """The SQLite file. Sync methods block; `arecord`/`aread` run them in a thread."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            try:
                make_private_dir(self.path.parent)
                if not self.path.exists():
                    # Private from the first byte: equity figures are nobody else's business.
                    os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise HistoryError(f"Cannot create the history file {self.path}: {exc.strerror}.") from None
        elif not self.path.exists():
            raise HistoryError(
                f"There is no history file at {self.path} yet; record some with --record."
            )
        try:
            conn = sqlite3.connect(self.path, timeout=5.0)
            if create:
                conn.executescript(_SCHEMA)
            return conn
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot open the history file {self.path}: {_reason(exc)}.") from None

    def record(self, sample: Sample) -> None:
        conn = self._connect(create=True)
        try:
            with conn:
                insert(conn, sample)
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot write to the history file {self.path}: {_reason(exc)}.") from None
        finally:
            conn.close()

    def read(self, since_ms: int | None = None, until_ms: int | None = None,
             profile: str | None = None) -> list[Sample]:
        """Rows with since_ms <= time_ms < until_ms (either end open), oldest first."""
        where: list[str] = []
        args: list[int | str] = []
        if since_ms is not None:
            where.append("time_ms >= ?")
            args.append(since_ms)
        if until_ms is not None:
            where.append("time_ms < ?")
            args.append(until_ms)
        if profile is not None:
            where.append("profile = ?")
            args.append(profile)
        sql = f"SELECT {', '.join(COLUMNS)} FROM samples"
        if where:
            sql += " WHERE " + " AND ".join(where)
        conn = self._connect(create=False)
        try:
            rows = conn.execute(sql + _order(conn), args).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot read the history file {self.path}: {_reason(exc)}.") from None
        finally:
            conn.close()
        # The file is data from outside (another version, another program, a copy from elsewhere):
        # its text is cleaned before it reaches a terminal or an export.
        try:
            return [
                Sample(int(t), clean(p), _decimal(u), _decimal(e), _decimal(m), _decimal(x), clean(lv))
                for t, p, u, e, m, x, lv in rows
            ]
        except (TypeError, ValueError):
            raise HistoryError(f"The history file {self.path} has rows pmtui did not write (a time"
                               " that is not a number).") from None

    async def arecord(self, sample: Sample) -> None:
        await asyncio.to_thread(self.record, sample)

    async def aread(self, since_ms: int | None = None, until_ms: int | None = None,
                    profile: str | None = None) -> list[Sample]:
        return await asyncio.to_thread(self.read, since_ms, until_ms, profile)


def insert(conn: sqlite3.Connection, sample: Sample) -> None:
    """One row. Two samples of a profile in the same millisecond: the later one is kept (the key is
    unique in a new file; an old file keeps both)."""
    conn.execute(f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (sample.time_ms, sample.profile, _text(sample.unimmr), _text(sample.account_equity),
                  _text(sample.maint_margin), _text(sample.total_upnl), sample.level))


def _order(conn: sqlite3.Connection) -> str:
    """Oldest first: the key's order in a new file; in an old (rowid) file, rows of the same time
    as they were written."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'samples'").fetchone()
    old = row is not None and "WITHOUT ROWID" not in (row[0] or "").upper()
    return " ORDER BY time_ms, rowid" if old else " ORDER BY time_ms, profile"


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[:1].lower() + text[1:]


# --- export --------------------------------------------------------------------------------------

EXPORT_FIELDS = ("time", *COLUMNS)


def export_csv(rows: Iterable[Sample], file: IO[str]) -> None:
    """CSV with a header; decimals as their exact strings, empty when unknown."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        d = row.to_dict()
        writer.writerow(["" if d[k] is None else d[k] for k in EXPORT_FIELDS])


def export_json(rows: Iterable[Sample], file: IO[str]) -> None:
    """A JSON array of objects; decimals as exact strings (never floats), null when unknown."""
    json.dump([{k: row.to_dict()[k] for k in EXPORT_FIELDS} for row in rows], file, indent=2)
    file.write("\n")


# --- --since / --until ---------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float | None = None) -> int:
    """'12h', '30m', '2d', '1w' (that long ago) or an ISO date/time (local time unless it has an
    offset) -> epoch ms. ValueError with a sentence for anything else."""
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        return int((now - seconds) * 1000)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use a duration like 12h, 30m or 2d, or a date like 2025-06-01T08:00."
        ) from None
    return int(when.timestamp() * 1000)  # naive: local time
