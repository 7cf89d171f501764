"""SQLite persistence of the devnet gateway: enclave keys, sessions, used proof nonces.

Enclave secrets stand in for the KMS-sealed blobs of the real gateway: they survive a restart,
so sessions do too. Sessions are JSON documents (whatever the gateway stores in its ``status``
column and tables); proof nonces are claimed atomically so a replay fails even after a restart.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS enclaves (
    enclave_id INTEGER PRIMARY KEY,
    secret BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    key_generation_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keygen_sessions (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keygen_participants (
    keygen_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    request TEXT NOT NULL,
    PRIMARY KEY (keygen_id, user_id)
);
CREATE TABLE IF NOT EXISTS signing_sessions (
    id TEXT PRIMARY KEY,
    keygen_id TEXT NOT NULL,
    request TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_auth_nonces (
    nonce_key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_auth_nonces_expiry ON request_auth_nonces (expires_at);
"""


class GatewayStore:
    """The gateway's database (one connection, serialized by a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(path, 0o600)  # enclave secrets
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- enclaves ---------------------------------------------------------------------------

    def enclaves(self) -> list[tuple[int, bytes, int, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT enclave_id, secret, epoch, key_generation_time FROM enclaves"
                " ORDER BY enclave_id"
            ).fetchall()
        return [(int(a), bytes(b), int(c), int(d)) for a, b, c, d in rows]

    def save_enclave(self, enclave_id: int, secret: bytes, epoch: int, generated: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO enclaves VALUES (?, ?, ?, ?)",
                (enclave_id, secret, epoch, generated),
            )

    # -- sessions ---------------------------------------------------------------------------
    # A session's request is written once; its changing part (``doc``) on every change.

    def save_keygen(self, session_id: str, request: Any | None, doc: dict[str, Any]) -> None:
        with self._lock:
            if request is not None:
                self._db.execute(
                    "INSERT INTO keygen_sessions VALUES (?, ?, ?)",
                    (session_id, _dump(request), _dump(doc)),
                )
            else:
                self._db.execute(
                    "UPDATE keygen_sessions SET doc = ? WHERE id = ?", (_dump(doc), session_id)
                )

    def save_participant(self, session_id: str, user_id: str, request: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO keygen_participants VALUES (?, ?, ?)",
                (session_id, user_id, _dump(request)),
            )

    def save_signing(
        self, session_id: str, keygen_id: str, request: Any | None, doc: dict[str, Any]
    ) -> None:
        with self._lock:
            if request is not None:
                self._db.execute(
                    "INSERT INTO signing_sessions VALUES (?, ?, ?, ?)",
                    (session_id, keygen_id, _dump(request), _dump(doc)),
                )
            else:
                self._db.execute(
                    "UPDATE signing_sessions SET doc = ? WHERE id = ?", (_dump(doc), session_id)
                )

    def keygens(self) -> Iterator[tuple[Any, dict[str, Any], dict[str, Any]]]:
        """``(request, doc, {user id: registration request})`` of every keygen session."""
        with self._lock:
            rows = self._db.execute("SELECT id, request, doc FROM keygen_sessions").fetchall()
            participants = self._db.execute(
                "SELECT keygen_id, user_id, request FROM keygen_participants"
            ).fetchall()
        registrations: dict[str, dict[str, Any]] = {}
        for keygen_id, user_id, request in participants:
            registrations.setdefault(keygen_id, {})[user_id] = json.loads(request)
        for session_id, request, doc in rows:
            yield json.loads(request), json.loads(doc), registrations.get(session_id, {})

    def signings(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT request, doc FROM signing_sessions").fetchall()
        for request, doc in rows:
            yield json.loads(request), json.loads(doc)

    def delete_sessions(self, keygen_ids: list[str], signing_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM signing_sessions WHERE id = ?", [(s,) for s in signing_ids]
            )
            self._db.executemany(
                "DELETE FROM keygen_participants WHERE keygen_id = ?", [(k,) for k in keygen_ids]
            )
            self._db.executemany(
                "DELETE FROM keygen_sessions WHERE id = ?", [(k,) for k in keygen_ids]
            )

    # -- proof nonces -----------------------------------------------------------------------

    def claim_nonce(self, key: str, expires_at: int) -> bool:
        """Record a proof's replay key; False if it was recorded before."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO request_auth_nonces VALUES (?, ?)", (key, expires_at)
            )
            return cursor.rowcount == 1

    def prune_nonces(self, now: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM request_auth_nonces WHERE expires_at < ?", (now,))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
