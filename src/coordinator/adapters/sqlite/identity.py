"""The coordinator's identity row: one key per database, fixed for the database's lifetime."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from coordinator.adapters.sqlite.database import Database
from coordinator_core.errors import ConfigError


async def ensure_coordinator_identity(db: Database, pubkey_hex: str, name: str) -> None:
    """Record the coordinator key on first start; refuse to start with a different key later.

    Contracts and oracle events in the database are bound to the key that created them.
    """

    def check(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT pubkey FROM coordinator_metadata").fetchone()
        if row is None:
            now = datetime.now(UTC).isoformat()
            conn.execute(
                "INSERT INTO coordinator_metadata (pubkey, name, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (pubkey_hex, name, now, now),
            )
            return None
        return str(row["pubkey"])

    stored = await db.write(check)
    if stored is not None and stored != pubkey_hex:
        raise ConfigError(
            f"coordinator key {pubkey_hex} does not match the key {stored} this database was "
            "created with"
        )
