from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.adapters.sqlite import migrations

NAMES = list(migrations.DATABASES)


@pytest.mark.parametrize("name", NAMES)
def test_up_down_up_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.db"
    applied = migrations.migrate(name, path)
    assert applied
    schema = migrations.schema_of(path)
    assert schema, "the initial migration creates tables"
    assert all(item.applied for item in migrations.status(name, path))

    assert migrations.migrate(name, path) == []  # idempotent

    undone = migrations.rollback(name, path, count=len(applied))
    assert undone == list(reversed(applied))
    assert migrations.schema_of(path) == []
    assert not any(item.applied for item in migrations.status(name, path))

    assert migrations.migrate(name, path) == applied
    assert migrations.schema_of(path) == schema


def test_competitions_schema_has_indexes_on_foreign_keys(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "competitions.db"
    migrations.migrate("competitions", path)
    conn = sqlite3.connect(path)
    try:
        for table in ("tickets", "entries", "payouts"):
            fks = {row[3] for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
            indexed = set()
            for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
                first = conn.execute(f"PRAGMA index_info({index[1]})").fetchone()
                indexed.add(first[2])
            assert fks <= indexed, (table, fks - indexed)
    finally:
        conn.close()


def test_payouts_allow_one_live_payout_per_entry(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "competitions.db"
    migrations.migrate("competitions", path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(
        """
        INSERT INTO competitions (id, created_at, event_submission) VALUES ('c', 't', '{}');
        INSERT INTO tickets (id, event_id, encrypted_preimage, hash) VALUES ('t', 'c', 'p', 'h');
        INSERT INTO entries (id, event_id, ticket_id, pubkey, ephemeral_pubkey,
            ephemeral_privatekey_encrypted, payout_hash, payout_preimage_encrypted,
            entry_submission, created_at)
            VALUES ('e', 'c', 't', 'pk', 'epk', 'x', 'ph', 'y', '{}', 't');
        INSERT INTO payouts (id, entry_id, payout_payment_request, payment_hash,
            payout_amount_sats, initiated_at, failed_at) VALUES ('p1', 'e', 'ln', 'h', 5, 't', 't');
        INSERT INTO payouts (id, entry_id, payout_payment_request, payment_hash,
            payout_amount_sats, initiated_at) VALUES ('p2', 'e', 'ln', 'h', 5, 't');
        """
    )
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO payouts (id, entry_id, payout_payment_request, payment_hash, "
            "payout_amount_sats, initiated_at) VALUES ('p3', 'e', 'ln', 'h', 5, 't')"
        )
    conn.close()


def test_cli_migrate_status_rollback(tmp_path: Path) -> None:
    env = {"COORDINATOR__DB__DATA_FOLDER": str(tmp_path)}

    def run(*args: str) -> str:
        import os

        result = subprocess.run(
            [sys.executable, "-m", "coordinator", "--config", "config/e2e.toml", "db", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, **env},
        )
        return result.stdout

    assert "competitions\t0001_initial\tpending" in run("status")
    out = run("migrate")
    assert "competitions: applied 0001_initial" in out and "users: applied 0001_initial" in out
    status = run("status")
    assert "competitions\t0001_initial\tapplied" in status
    assert "users\t0001_initial\tapplied" in status
    rolled = run("rollback", "--db", "users", "--count", "9")
    assert "rolled back 0003_nip98_consumption, 0002_accounts, 0001_initial" in rolled
    assert "users\t0001_initial\tpending" in run("status", "--db", "users")
