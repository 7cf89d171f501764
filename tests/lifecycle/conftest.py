"""Fixtures of the lifecycle tests: a migrated competitions.db and its store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.migrations import migrate
from coordinator.config import DbSettings


@pytest.fixture
def competitions_db(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "competitions.db"
    migrate("competitions", path)
    db = Database("competitions", path, DbSettings(read_connections=4))
    db.open()
    yield db
    db.close()


@pytest.fixture
def store(competitions_db: Database) -> SqliteCompetitionStore:
    return SqliteCompetitionStore(competitions_db)


# The devnet (module scope) and a fresh coordinator on it (per test): see tests/lifecycle/world.py.
from tests.lifecycle.world import devnet, world  # noqa: E402, F401
