"""The accounts store on users.db (implements ``UserStore``)."""

from __future__ import annotations

import sqlite3
from typing import Final

from coordinator.adapters.sqlite.database import Database
from coordinator.domain.ports.users import UserRecord, UserStore

_COLUMNS: Final = (
    "nostr_pubkey, encrypted_bitcoin_private_key, network, username, password_hash, "
    "encrypted_nsec, created_at, updated_at"
)


def _record(row: sqlite3.Row | None) -> UserRecord | None:
    return None if row is None else UserRecord(*tuple(row))


class SqliteUserStore(UserStore):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_npub(self, npub: str) -> UserRecord | None:
        sql = f"SELECT {_COLUMNS} FROM user WHERE nostr_pubkey = ?"  # noqa: S608
        return await self._db.read(lambda c: _record(c.execute(sql, (npub,)).fetchone()))

    async def by_username(self, username: str) -> UserRecord | None:
        sql = f"SELECT {_COLUMNS} FROM user WHERE username = ? COLLATE NOCASE"  # noqa: S608
        return await self._db.read(lambda c: _record(c.execute(sql, (username,)).fetchone()))

    async def insert(self, user: UserRecord) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO user ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    user.nostr_pubkey,
                    user.encrypted_bitcoin_private_key,
                    user.network,
                    user.username,
                    user.password_hash,
                    user.encrypted_nsec,
                    user.created_at,
                    user.updated_at,
                ),
            )
            return cursor.rowcount == 1

        return await self._db.write(insert)

    async def update_password(
        self, npub: str, password_hash: str, encrypted_nsec: str, updated_at: str
    ) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE user SET password_hash = ?, encrypted_nsec = ?, updated_at = ? "
                "WHERE nostr_pubkey = ? AND username IS NOT NULL",
                (password_hash, encrypted_nsec, updated_at, npub),
            )
            return cursor.rowcount == 1

        return await self._db.write(update)

    async def add_reset_challenge(
        self, challenge: str, username: str, expires_at: int, now: int
    ) -> None:
        def add(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM password_reset_challenge WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT INTO password_reset_challenge VALUES (?, ?, ?)",
                (challenge, username, expires_at),
            )

        await self._db.write(add)

    async def reset_password(
        self,
        challenge: str,
        username: str,
        now: int,
        password_hash: str,
        encrypted_nsec: str,
        updated_at: str,
    ) -> bool:
        def reset(conn: sqlite3.Connection) -> bool:
            taken = conn.execute(
                "DELETE FROM password_reset_challenge WHERE challenge = ? AND username = ? "
                "AND expires_at >= ?",
                (challenge, username, now),
            )
            if taken.rowcount != 1:
                return False
            cursor = conn.execute(
                "UPDATE user SET password_hash = ?, encrypted_nsec = ?, updated_at = ? "
                "WHERE username = ? COLLATE NOCASE",
                (password_hash, encrypted_nsec, updated_at, username),
            )
            if cursor.rowcount != 1:
                raise sqlite3.IntegrityError("reset challenge for a missing account")
            return True

        return await self._db.write(reset)

    async def signups_since(self, created_at: str) -> int:
        sql = "SELECT count(*) FROM user WHERE created_at >= ?"
        return int(await self._db.read(lambda c: c.execute(sql, (created_at,)).fetchone()[0]))
