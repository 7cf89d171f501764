"""The users.db NIP-98 replay guard on real SQLite: once per event id, shared by every
connection on the file, pruned after the freshness window, bounded (503, nothing recorded)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from coordinator.adapters.sqlite import migrations
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.replay import SqliteReplayGuard
from coordinator.config import DbSettings
from coordinator_core.nip98 import MAX_SKEW_SECS, ReplayGuardFullError

NOW = 1_800_000_000


def event_id(n: int) -> str:
    return f"{n:064x}"


def held(path: Path) -> tuple[set[str], int]:
    """The ids in the table, and the trigger-kept count (read on a connection of its own)."""
    conn = sqlite3.connect(path)
    try:
        ids = {row[0] for row in conn.execute("SELECT event_id FROM nip98_consumption")}
        (count,) = conn.execute("SELECT held FROM nip98_consumption_count").fetchone()
    finally:
        conn.close()
    return ids, count


@pytest.fixture
def users_db(tmp_path: Path) -> Path:
    path = tmp_path / "users.db"
    migrations.migrate("users", path)
    return path


@pytest.fixture
async def open_db(users_db: Path) -> AsyncIterator[Callable[[], Database]]:
    """Opens databases on ``users_db``: each one has its own writer connection, as another
    coordinator process on the same data folder would."""
    opened: list[Database] = []

    def open_one() -> Database:
        db = Database("users", users_db, DbSettings(read_connections=1))
        db.open()
        opened.append(db)
        return db

    yield open_one
    for db in opened:
        db.close()


async def test_an_event_is_consumed_once(open_db: Callable[[], Database], users_db: Path) -> None:
    guard = SqliteReplayGuard(open_db(), capacity=100)
    assert await guard.consume(event_id(1), NOW, NOW)
    assert not await guard.consume(event_id(1), NOW, NOW + 1)
    assert await guard.consume(event_id(2), NOW, NOW + 1)
    assert held(users_db) == ({event_id(1), event_id(2)}, 2)


async def test_a_reopened_database_remembers_consumed_events(
    open_db: Callable[[], Database],
) -> None:
    first = open_db()
    assert await SqliteReplayGuard(first, capacity=100).consume(event_id(7), NOW, NOW)
    first.close()
    again = SqliteReplayGuard(open_db(), capacity=100)
    assert not await again.consume(event_id(7), NOW, NOW + 30)


async def test_two_writers_on_one_file_accept_each_event_once(
    open_db: Callable[[], Database], users_db: Path
) -> None:
    """Two databases (two writer threads and connections, contending for the SQLite lock)
    are raced with four copies each of 50 events: every event passes exactly once."""
    guards = [SqliteReplayGuard(open_db(), capacity=1000) for _ in range(2)]
    ids = [event_id(n) for n in range(50)]
    results = await asyncio.gather(
        *(guard.consume(i, NOW, NOW) for i in ids for guard in guards for _ in range(4))
    )
    per_event = [results[k * 8 : (k + 1) * 8] for k in range(len(ids))]
    assert all(sum(outcomes) == 1 for outcomes in per_event)
    assert held(users_db) == (set(ids), len(ids))


async def test_expired_ids_are_pruned_on_the_insert_path(
    open_db: Callable[[], Database], users_db: Path
) -> None:
    guard = SqliteReplayGuard(open_db(), capacity=100, prune_every_secs=5)
    assert await guard.consume(event_id(1), NOW, NOW)
    assert await guard.consume(event_id(2), NOW + 10, NOW + 10)
    # At the edge of the window event 1 could still pass the timestamp check: it stays.
    assert await guard.consume(event_id(3), NOW + 20, NOW + MAX_SKEW_SECS)
    assert held(users_db)[0] == {event_id(1), event_id(2), event_id(3)}
    # One second later it has expired, but the next prune is due only 5 s after the last.
    assert await guard.consume(event_id(4), NOW + 61, NOW + MAX_SKEW_SECS + 1)
    assert event_id(1) in held(users_db)[0]
    assert await guard.consume(event_id(5), NOW + 65, NOW + MAX_SKEW_SECS + 5)
    assert held(users_db) == ({event_id(n) for n in (2, 3, 4, 5)}, 4)
    assert await guard.consume(event_id(6), NOW + 80, NOW + 80)
    assert held(users_db) == ({event_id(n) for n in (3, 4, 5, 6)}, 4)


async def test_a_full_guard_answers_503_and_records_nothing(
    open_db: Callable[[], Database], users_db: Path
) -> None:
    guard = SqliteReplayGuard(open_db(), capacity=3, prune_every_secs=3600)
    for n in range(3):
        assert await guard.consume(event_id(n), NOW, NOW)
    before = held(users_db)
    with pytest.raises(ReplayGuardFullError) as refused:
        await guard.consume(event_id(3), NOW, NOW + 1)
    assert (refused.value.status, refused.value.code) == (503, "replay_guard_full")
    assert held(users_db) == before == ({event_id(n) for n in range(3)}, 3)
    # A replay is still a replay when the guard is full.
    assert not await guard.consume(event_id(0), NOW, NOW + 1)
    # Before refusing, the guard prunes even when no prune is due: expired ids make room.
    assert await guard.consume(event_id(3), NOW + 61, NOW + 61)
    assert held(users_db) == ({event_id(3)}, 1)


async def test_the_counter_follows_every_delete(
    open_db: Callable[[], Database], users_db: Path
) -> None:
    """The count the capacity check reads is kept by triggers, whoever deletes rows."""
    guard = SqliteReplayGuard(open_db(), capacity=100)
    for n in range(5):
        assert await guard.consume(event_id(n), NOW, NOW)
    conn = sqlite3.connect(users_db)
    conn.execute(
        "DELETE FROM nip98_consumption WHERE event_id IN (?, ?)", (event_id(0), event_id(1))
    )
    conn.commit()
    conn.close()
    assert held(users_db) == ({event_id(n) for n in range(2, 5)}, 3)
