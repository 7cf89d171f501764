"""Litestream replication of the coordinator's databases: loss window, restore, point in time."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from coordinator.adapters.backup.litestream import LitestreamReplicas
from coordinator.adapters.sqlite.database import Database
from coordinator.app import composition
from coordinator.app.backup import Replicator, restore_databases
from coordinator.config import Settings
from tests.backup.conftest import S3, backup_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def expected_rows(n: int) -> dict[int, tuple[int, int]]:
    """``id -> (value, version)`` after transactions 1..n of the load writer."""
    rows = {i: (3 * i, 0) for i in range(1, n + 1)}
    for k in range(2, n + 1):
        value, version = rows[k // 2]
        rows[k // 2] = (value + k, version + 1)
    return rows


def read_state(path: Path) -> tuple[str, int, dict[int, tuple[int, int]]]:
    conn = sqlite3.connect(path)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        txn = conn.execute("SELECT txn FROM load_meta").fetchone()[0]
        rows = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT * FROM load_rows")}
    finally:
        conn.close()
    return integrity, txn, rows


def test_sigkill_under_load_loses_at_most_one_sync_interval(s3: S3, tmp_path: Path) -> None:
    """A writer commits continuously while Litestream replicates (1 s sync); the writer and
    Litestream are both SIGKILLed (a lost machine); the database is deleted and restored.
    Every transaction committed more than one sync interval before the kill is back, the
    restored database is exactly the state after some transaction, and it is intact."""
    settings = backup_settings(s3, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.backup.writer", settings.model_dump_json()],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    commits: list[tuple[int, float]] = []
    replicator_pid: list[int] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            first, _, second = line.strip().partition(" ")
            if first == "replicator":
                replicator_pid.append(int(second))
                ready.set()
            elif first.isdigit():
                commits.append((int(first), float(second)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "the replicator did not start"
        time.sleep(8)  # several sync intervals of continuous writes
        killed_at = time.time()
        os.kill(replicator_pid[0], signal.SIGKILL)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5)
    assert len(commits) > 100, f"only {len(commits)} transactions under load"

    db_file = settings.db.data_folder / "competitions.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    restored = restore_databases(LitestreamReplicas(settings), ["competitions"])
    assert [r.name for r in restored] == ["competitions"]

    integrity, txn, rows = read_state(db_file)
    assert integrity == "ok"
    must_have = max(n for n, at in commits if at <= killed_at - settings.backup.sync_interval_secs)
    assert txn >= must_have, f"restored up to {txn}, lost {must_have - txn} older transactions"
    assert txn <= commits[-1][0]
    assert rows == expected_rows(txn)


async def test_point_in_time_restore_returns_exactly_the_first_write(
    s3: S3, tmp_path: Path
) -> None:
    """Restoring to an instant between two known writes gives the first and not the second."""
    settings = backup_settings(s3, tmp_path)
    replicas = LitestreamReplicas(settings)
    db = Database(
        "competitions", settings.db.data_folder / "competitions.db", settings.db, replicated=True
    )
    db.open()
    replicator = Replicator(
        settings,
        lambda: composition.replicator_command(settings),
        composition.replicator_metrics_url(settings),
    )
    try:
        await db.write(lambda c: c.execute("CREATE TABLE notes (body TEXT NOT NULL)"))
        await db.write(lambda c: c.execute("INSERT INTO notes VALUES ('first')"))
        replicator.start()
        await wait_replicated(replicas, settings)
        await asyncio.sleep(1.5)
        between = dt.datetime.now(dt.UTC)
        await asyncio.sleep(1.5)
        await db.write(lambda c: c.execute("INSERT INTO notes VALUES ('second')"))
        await wait_replicated(replicas, settings)
    finally:
        await asyncio.to_thread(db.close)
        await replicator.stop()

    def notes(path: Path) -> list[str]:
        conn = sqlite3.connect(path)
        try:
            return [r[0] for r in conn.execute("SELECT body FROM notes ORDER BY rowid")]
        finally:
            conn.close()

    at_between = tmp_path / "between.db"
    latest = tmp_path / "latest.db"
    assert replicas.restore("competitions", timestamp=between, output=at_between)
    assert replicas.restore("competitions", output=latest)
    assert notes(at_between) == ["first"]
    assert notes(latest) == ["first", "second"]


async def wait_replicated(replicas: LitestreamReplicas, settings: Settings) -> None:
    """Until the replica holds every transaction Litestream captured locally."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(replicas.status, "competitions")
        if status.local_txid is not None and status.replica_txid == status.local_txid:
            return
        await asyncio.sleep(settings.backup.sync_interval_secs / 2)
    raise AssertionError("the replica did not catch up")
