from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from coordinator.adapters.sqlite.database import (
    Database,
    DatabaseClosedError,
    TransactionEndedError,
)
from coordinator.config import DbSettings


@pytest.fixture
def db(tmp_path: Path, db_settings: DbSettings) -> Database:
    database = Database("test", tmp_path / "test.db", db_settings)
    database.open()

    def create(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, task INT NOT NULL, n INT NOT NULL)"
        )
        conn.execute("CREATE TABLE audit (item INTEGER NOT NULL REFERENCES items (id))")

    database.write_sync(create)
    yield database
    database.close()


def count(conn: sqlite3.Connection, table: str = "items") -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_concurrent_writers_lose_nothing(db: Database) -> None:
    """50 tasks x 100 writes, single and multi-statement, with failures in the middle."""
    failures = 0

    def insert_pair(task: int, n: int) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("INSERT INTO items (task, n) VALUES (?, ?)", (task, n))
            conn.execute("INSERT INTO audit (item) VALUES (?)", (cursor.lastrowid,))
            return int(cursor.lastrowid or 0)

        return op  # type: ignore[return-value]

    def insert_one(task: int, n: int):  # type: ignore[no-untyped-def]
        return lambda conn: (
            conn.execute("INSERT INTO items (task, n) VALUES (?, ?)", (task, n)).lastrowid
        )

    def failing(task: int, n: int):  # type: ignore[no-untyped-def]
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO items (task, n) VALUES (?, ?)", (task, -n))
            conn.execute("INSERT INTO audit (item) VALUES (?)", (10**9,))  # FK violation

        return op

    async def worker(task: int) -> None:
        nonlocal failures
        for n in range(100):
            if n == 50:
                with pytest.raises(sqlite3.IntegrityError):
                    await db.write(failing(task, n))
                failures += 1
            elif n % 2:
                await db.write(insert_pair(task, n))  # type: ignore[arg-type]
            else:
                await db.write(insert_one(task, n))

    await asyncio.gather(*(worker(task) for task in range(50)))

    assert failures == 50
    assert db.writer_alive
    assert await db.read(count) == 50 * 99
    # No partial transaction survived: no negative rows, and every pair wrote both rows.
    assert (
        await db.read(lambda c: c.execute("SELECT count(*) FROM items WHERE n < 0").fetchone()[0])
        == 0
    )
    assert await db.read(lambda c: count(c, "audit")) == 50 * 50
    per_task = await db.read(
        lambda c: c.execute("SELECT task, count(*) FROM items GROUP BY task").fetchall()
    )
    assert {row[1] for row in per_task} == {99} and len(per_task) == 50


async def test_failing_write_rolls_back_and_writer_survives(db: Database) -> None:
    def partial(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (task, n) VALUES (1, 1)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.write(partial)
    assert db.writer_alive
    assert await db.read(count) == 0
    await db.write(lambda conn: conn.execute("INSERT INTO items (task, n) VALUES (2, 2)"))
    assert await db.read(count) == 1


async def test_read_after_write_on_every_reader(db: Database, db_settings: DbSettings) -> None:
    barrier = threading.Barrier(db_settings.read_connections)

    def read_all_at_once(conn: sqlite3.Connection) -> tuple[int, int]:
        # Hold every reader at once so each read below runs on a different connection.
        barrier.wait(timeout=10)
        return id(conn), count(conn)

    for expected in range(1, 6):
        await db.write(lambda conn: conn.execute("INSERT INTO items (task, n) VALUES (0, 0)"))
        results = await asyncio.gather(
            *(db.read(read_all_at_once) for _ in range(db_settings.read_connections))
        )
        assert len({conn_id for conn_id, _ in results}) == db_settings.read_connections
        assert all(seen == expected for _, seen in results)


async def test_write_that_commits_by_itself_is_reported(db: Database) -> None:
    with pytest.raises(TransactionEndedError):
        await db.write(
            lambda conn: conn.executescript("INSERT INTO items (task, n) VALUES (1, 1);")
        )
    assert db.writer_alive


def test_readers_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        db.read_sync(lambda conn: conn.execute("INSERT INTO items (task, n) VALUES (1, 1)"))


def test_pragmas(db: Database) -> None:
    def pragmas(conn: sqlite3.Connection) -> tuple[str, int, int]:
        return (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA foreign_keys").fetchone()[0],
            conn.execute("PRAGMA busy_timeout").fetchone()[0],
        )

    assert db.read_sync(pragmas) == ("wal", 1, 5000)
    assert db.write_sync(pragmas) == ("wal", 1, 5000)
    assert db.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1  # NORMAL


async def test_close_checkpoints_and_refuses_more_work(db: Database) -> None:
    for _ in range(20):
        await db.write(lambda conn: conn.execute("INSERT INTO items (task, n) VALUES (1, 1)"))
    wal = db.path.with_name(db.path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    db.close()
    assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(DatabaseClosedError):
        await db.write(lambda conn: None)
    with pytest.raises(DatabaseClosedError):
        await db.read(count)
    conn = sqlite3.connect(db.path)
    assert count(conn) == 20
    conn.close()


async def test_quick_check(db: Database) -> None:
    assert await db.quick_check()
