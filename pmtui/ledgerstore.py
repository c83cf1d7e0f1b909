"""The ledger in the history file (with --record): its rows in their own table, keyed by (profile,
endpoint, id) so a row read twice, in one session or two, is one row; and how far each endpoint
was read, so the next session starts there instead of a week back. Beside pmtui.record's tables,
in the same private SQLite file; rows older than KEEP_MS go (Binance keeps three months anyway).

Sync methods block: the Ledger calls them in a thread. A file that cannot be read or written is
one sentence (HistoryError) and the ledger goes on in memory.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pmtui.history import History, HistoryError, _reason

KEEP_MS = 100 * 86_400_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_rows (
    profile TEXT NOT NULL, endpoint TEXT NOT NULL, id TEXT NOT NULL, time_ms INTEGER NOT NULL,
    raw TEXT NOT NULL, PRIMARY KEY (profile, endpoint, id));
CREATE INDEX IF NOT EXISTS ledger_rows_time ON ledger_rows (profile, time_ms);
CREATE TABLE IF NOT EXISTS ledger_read (
    profile TEXT NOT NULL, endpoint TEXT NOT NULL, done_ms INTEGER NOT NULL, PRIMARY KEY (profile, endpoint));
"""


class LedgerStore:
    def __init__(self, path: Path | str, profile: str) -> None:
        self.history = History(path)
        self.profile = profile

    def _connect(self) -> sqlite3.Connection:
        conn = self.history._connect(create=True)  # private (0600) from the first byte
        try:
            conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise HistoryError(f"Cannot keep the ledger in {self.history.path}: {_reason(exc)}.") from None
        return conn

    def load(self, since_ms: int) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
        """(endpoint, raw row) from `since_ms` on, oldest first; and each endpoint's read-to mark."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT endpoint, raw FROM ledger_rows WHERE profile = ? AND time_ms >= ? "
                                "ORDER BY time_ms", (self.profile, since_ms)).fetchall()
            marks = dict(conn.execute("SELECT endpoint, done_ms FROM ledger_read WHERE profile = ?",
                                      (self.profile,)).fetchall())
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot read the ledger from {self.history.path}: {_reason(exc)}.") from None
        finally:
            conn.close()
        out = []
        for endpoint, raw in rows:
            try:
                out.append((str(endpoint), json.loads(raw)))
            except ValueError:
                continue  # a damaged row is read again from the exchange
        return out, {str(k): int(v) for k, v in marks.items()}

    def save(self, rows: list[tuple[str, str, int, dict[str, Any]]], marks: dict[str, int], now_ms: int) -> None:
        """New rows as (endpoint, id, time, raw) (a known key is left as it is) and the marks."""
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO ledger_rows (profile, endpoint, id, time_ms, raw) VALUES (?, ?, ?, ?, ?)",
                    [(self.profile, p, i, t, json.dumps(raw, default=str)) for p, i, t, raw in rows])
                conn.executemany("INSERT OR REPLACE INTO ledger_read (profile, endpoint, done_ms) VALUES (?, ?, ?)",
                                 [(self.profile, p, d) for p, d in marks.items()])
                conn.execute("DELETE FROM ledger_rows WHERE profile = ? AND time_ms < ?",
                             (self.profile, now_ms - KEEP_MS))
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot keep the ledger in {self.history.path}: {_reason(exc)}.") from None
        finally:
            conn.close()
