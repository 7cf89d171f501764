"""The monitor's own SQLite: every run and the duration of every step."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS test_runs (
    id INTEGER PRIMARY KEY,
    scenario TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',   -- running, passed, failed
    competition_id TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS test_steps (
    run_id INTEGER NOT NULL REFERENCES test_runs (id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    started_at REAL NOT NULL,
    seconds REAL NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT,
    PRIMARY KEY (run_id, position)
);
"""

_RUN_KEYS = ("id", "scenario", "started_at", "finished_at", "status", "competition_id", "error")
_RUN_SELECT = (
    "SELECT id, scenario, started_at, finished_at, status, competition_id, error FROM test_runs "
)


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str | None


class SynthStore:
    """Runs and steps in ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def start_run(self, scenario: str) -> int:
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO test_runs (scenario, started_at) VALUES (?, ?)",
                (scenario, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def add_step(self, run_id: int, name: str, started_at: float, seconds: float,
                 ok: bool, detail: str | None = None) -> None:  # fmt: skip
        with self._lock:
            position = self._conn.execute(
                "SELECT COUNT(*) FROM test_steps WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            self._conn.execute(
                "INSERT INTO test_steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, position, name, started_at, seconds, int(ok), detail),
            )

    def finish_run(self, run_id: int, passed: bool, competition_id: str | None,
                   error: str | None) -> None:  # fmt: skip
        with self._lock:
            self._conn.execute(
                "UPDATE test_runs SET finished_at = ?, status = ?, competition_id = ?, error = ? "
                "WHERE id = ?",
                (time.time(), "passed" if passed else "failed", competition_id, error, run_id),
            )

    def close_interrupted(self) -> int:
        """Runs left running by a monitor that stopped are failed; returns how many."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE test_runs SET status = 'failed', finished_at = ?, "
                "error = 'interrupted: the monitor stopped during the run' "
                "WHERE status = 'running'",
                (time.time(),),
            )
            return cursor.rowcount

    def counts(self) -> list[tuple[str, str, int]]:
        """(scenario, status, runs) for every scenario and status seen."""
        rows = self._conn.execute(
            "SELECT scenario, status, COUNT(*) FROM test_runs GROUP BY scenario, status "
            "ORDER BY scenario, status"
        ).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def last_run(self, finished: bool = False, status: str | None = None) -> dict[str, Any] | None:
        """The newest run (finished ones only, of ``status`` only, when asked)."""
        rows = self._conn.execute(
            _RUN_SELECT + "WHERE (? = 0 OR finished_at IS NOT NULL) AND (? IS NULL OR status = ?) "
            "ORDER BY id DESC LIMIT 1",
            (int(finished), status, status),
        ).fetchall()
        return dict(zip(_RUN_KEYS, rows[0], strict=True)) if rows else None

    def steps(self, run_id: int) -> list[Step]:
        rows = self._conn.execute(
            "SELECT name, seconds, ok, detail FROM test_steps WHERE run_id = ? ORDER BY position",
            (run_id,),
        ).fetchall()
        return [Step(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._conn.execute(_RUN_SELECT + "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(zip(_RUN_KEYS, row, strict=True)) for row in rows]
