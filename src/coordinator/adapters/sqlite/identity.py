"""The coordinator's identity row: one key per database, fixed for the database's lifetime.

Contracts and oracle events in the database are bound to the key that created them; replacing
the row is only for migrating a data folder from the single-key layout.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from coordinator.adapters.sqlite.database import Database


async def recorded_identity(db: Database) -> str | None:
    """The hex x-only identity key this database was created with, if any."""

    def read(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT pubkey FROM coordinator_metadata").fetchone()
        return None if row is None else str(row["pubkey"])

    return await db.read(read)


async def record_identity(
    db: Database, pubkey_hex: str, name: str, *, replacing: str | None
) -> None:
    """Record the identity; with ``replacing``, swap it for that key (and no other) atomically."""

    def write(conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT pubkey FROM coordinator_metadata").fetchone()
        stored = None if row is None else str(row["pubkey"])
        now = datetime.now(UTC).isoformat()
        if stored is None:
            conn.execute(
                "INSERT INTO coordinator_metadata (pubkey, name, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (pubkey_hex, name, now, now),
            )
        elif stored == pubkey_hex:
            return
        elif replacing is not None and stored == replacing:
            conn.execute(
                "UPDATE coordinator_metadata SET pubkey = ?, updated_at = ?", (pubkey_hex, now)
            )
        else:
            raise sqlite3.IntegrityError(f"the database belongs to key {stored}")

    await db.write(write)


async def competition_count(db: Database) -> int:
    """How many competitions the database holds."""

    def count(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM competitions").fetchone()[0])

    return await db.read(count)
