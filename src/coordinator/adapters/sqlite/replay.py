"""The NIP-98 replay guard on users.db (implements ``ReplayGuard``).

An accepted event id is a row of ``nip98_consumption`` (primary key: the id), inserted in one
``BEGIN IMMEDIATE`` write of users.db. Every coordinator process on the data folder writes the
same table, so of two requests carrying one event (in one process, or in two processes during
a blue/green switch) only one inserts the row, and a restarted process still knows the events
accepted before it stopped. With ``synchronous = NORMAL`` a commit survives a process crash;
only a power loss can drop the last commits.

Rows whose ``created_at`` is more than the freshness window behind ``now`` are pruned on the
insert path: at most once every ``prune_every_secs`` per process (one indexed range delete),
and always before an insert is refused as over capacity, so ``capacity`` counts fresh ids
only. A trigger-kept counter (``nip98_consumption_count``) makes the capacity check one row
read. Over capacity, the request is refused with 503 ``replay_guard_full`` and its
transaction rolls back: nothing is recorded.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from coordinator.adapters.sqlite.database import Database
from coordinator.domain.ports.replay import ReplayGuard
from coordinator_core.nip98 import MAX_SKEW_SECS, ReplayGuardFullError

PRUNE_EVERY_SECS: Final = 5

_INSERT: Final = (
    "INSERT INTO nip98_consumption (event_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
_PRUNE: Final = "DELETE FROM nip98_consumption WHERE created_at < ?"
_HELD: Final = "SELECT held FROM nip98_consumption_count WHERE id = 1"


class SqliteReplayGuard(ReplayGuard):
    """At most ``capacity`` fresh event ids, shared through the users database ``db``."""

    def __init__(
        self,
        db: Database,
        capacity: int,
        *,
        window_secs: int = MAX_SKEW_SECS,
        prune_every_secs: int = PRUNE_EVERY_SECS,
    ) -> None:
        if capacity < 1:
            raise ValueError("replay guard capacity must be positive")
        self._db = db
        self._capacity = capacity
        self._window = window_secs
        self._prune_every = prune_every_secs
        self._next_prune = 0  # touched only by the database's writer thread

    async def consume(self, event_id: str, created_at: int, now: int) -> bool:
        return await self._db.write(lambda conn: self._consume(conn, event_id, created_at, now))

    def _consume(self, conn: sqlite3.Connection, event_id: str, created_at: int, now: int) -> bool:
        pruned = now >= self._next_prune
        if pruned:
            self._prune(conn, now)
        if conn.execute(_INSERT, (event_id, created_at)).rowcount == 0:
            return False
        if _held(conn) > self._capacity:
            if not pruned:
                self._prune(conn, now)
            if _held(conn) > self._capacity:
                raise ReplayGuardFullError()  # the write rolls back: the insert is undone
        return True

    def _prune(self, conn: sqlite3.Connection, now: int) -> None:
        conn.execute(_PRUNE, (now - self._window,))
        self._next_prune = now + self._prune_every


def _held(conn: sqlite3.Connection) -> int:
    row = conn.execute(_HELD).fetchone()
    return int(row[0])
