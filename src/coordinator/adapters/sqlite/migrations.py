"""Versioned schema migrations (yoyo) for the coordinator's SQLite databases.

Each database has a folder of ``NNNN_name.sql`` files with matching ``.rollback.sql`` files.
Migrations run at start-up and through ``coordinator db migrate|rollback|status``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_ROOT = Path(__file__).parent / "migrations"

# Database name -> file name under the data folder. Each name has a folder of migrations.
DATABASES: dict[str, str] = {
    "competitions": "competitions.db",
    "users": "users.db",
}

_YOYO_TABLES = ("_yoyo_log", "_yoyo_version", "_yoyo_migration", "yoyo_lock")


@dataclass(frozen=True)
class MigrationStatus:
    """One migration and whether it is applied to a database."""

    migration_id: str
    applied: bool


def database_path(data_folder: Path, name: str) -> Path:
    """Path of database ``name`` under ``data_folder``."""
    return data_folder / DATABASES[name]


def _migrations(name: str):  # type: ignore[no-untyped-def]
    return read_migrations(str(MIGRATIONS_ROOT / name))


def _backend(db_path: Path):  # type: ignore[no-untyped-def]
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return get_backend(f"sqlite:///{db_path}")


def migrate(name: str, db_path: Path) -> list[str]:
    """Apply every pending migration of database ``name``; returns the ids applied."""
    backend = _backend(db_path)
    try:
        migrations = _migrations(name)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def rollback(name: str, db_path: Path, count: int = 1) -> list[str]:
    """Roll back the ``count`` most recently applied migrations; returns the ids rolled back."""
    if count < 1:
        raise ValueError("count must be at least 1")
    backend = _backend(db_path)
    try:
        migrations = _migrations(name)
        with backend.lock():
            to_rollback = backend.to_rollback(migrations)[:count]
            backend.rollback_migrations(to_rollback)
        return [m.id for m in to_rollback]
    finally:
        backend.connection.close()


def status(name: str, db_path: Path) -> list[MigrationStatus]:
    """Every known migration of database ``name`` in order, with whether it is applied."""
    backend = _backend(db_path)
    try:
        migrations = _migrations(name)
        applied = backend.get_applied_migration_hashes()
        return [MigrationStatus(m.id, m.hash in applied) for m in migrations]
    finally:
        backend.connection.close()


def schema_of(db_path: Path) -> list[tuple[str, str, str]]:
    """The application schema (type, name, SQL) of a database, excluding yoyo's own tables."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return [
        (kind, obj, sql)
        for kind, obj, sql in rows
        if not any(obj == t or obj.startswith(f"sqlite_autoindex_{t}") for t in _YOYO_TABLES)
    ]
