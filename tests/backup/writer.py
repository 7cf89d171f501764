"""A load writer for replication tests: the coordinator's database writer and replicator.

``python -m tests.backup.writer SETTINGS_JSON`` opens competitions.db with the coordinator's
:class:`Database` (replicated: checkpoints left to Litestream), starts the coordinator's
supervised :class:`Replicator`, prints ``replicator <pid>`` once Litestream answers, then runs
transactions until killed. Transaction ``n`` inserts row ``n``, updates row ``n // 2`` and sets
the counter to ``n``; after each commit it prints ``<n> <unix time>``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time

from coordinator.adapters.sqlite.database import Database
from coordinator.app import composition
from coordinator.app.backup import Replicator
from coordinator.config import Settings

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS load_rows (id INTEGER PRIMARY KEY, value INTEGER NOT NULL, "
    "version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS load_meta (singleton INTEGER PRIMARY KEY, txn INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO load_meta VALUES (1, 0)",
)


def transaction(n: int):  # type: ignore[no-untyped-def]
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO load_rows VALUES (?, ?, 0)", (n, n * 3))
        conn.execute(
            "UPDATE load_rows SET value = value + ?, version = version + 1 WHERE id = ?",
            (n, n // 2),
        )
        conn.execute("UPDATE load_meta SET txn = ?", (n,))

    return run


async def main(settings: Settings) -> None:
    db = Database(
        "competitions",
        settings.db.data_folder / "competitions.db",
        settings.db,
        replicated=True,
    )
    db.open()
    for statement in SCHEMA:
        await db.write(lambda conn, s=statement: conn.execute(s))
    replicator = Replicator(
        settings,
        lambda: composition.replicator_command(settings),
        composition.replicator_metrics_url(settings),
    )
    replicator.start()
    while not replicator.alive:  # noqa: ASYNC110 - a poll of a flag the task sets
        await asyncio.sleep(0.05)
    print(f"replicator {replicator.pid}", flush=True)
    n = 0
    while True:
        n += 1
        await db.write(transaction(n))
        print(f"{n} {time.time():.6f}", flush=True)
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(Settings.model_validate_json(sys.argv[1])))
