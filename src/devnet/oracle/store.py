"""SQLite persistence of the devnet oracle: key fingerprint, events, entries, weather, auth."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator_core.errors import ConfigError
from coordinator_core.observations import Forecast, Metric, Observation, StationPicks

SCHEMA = """
CREATE TABLE IF NOT EXISTS oracle_metadata (
    pubkey BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    signing_date INTEGER NOT NULL,
    start_observation_date INTEGER NOT NULL,
    end_observation_date INTEGER NOT NULL,
    locations TEXT NOT NULL,
    number_of_values_per_entry INTEGER NOT NULL,
    total_allowed_entries INTEGER NOT NULL,
    number_of_places_win INTEGER NOT NULL,
    scoring_fields TEXT NOT NULL,
    coordinator_pubkey TEXT NOT NULL,
    nonce_secret BLOB NOT NULL,
    nonce_point BLOB NOT NULL,
    locking_points BLOB NOT NULL,
    expiry INTEGER NOT NULL,
    attestation BLOB,
    attested_outcome INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_unsigned ON events (attestation, signing_date);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    position INTEGER NOT NULL,
    expected_observations TEXT NOT NULL,
    score INTEGER,
    base_score INTEGER,
    UNIQUE (event_id, position)
);
CREATE TABLE IF NOT EXISTS event_weather (
    event_id TEXT NOT NULL REFERENCES events (id),
    station_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    weather TEXT NOT NULL,
    PRIMARY KEY (event_id, station_id)
);
CREATE TABLE IF NOT EXISTS forecasts (
    station_id TEXT NOT NULL,
    date TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (station_id, date)
);
CREATE TABLE IF NOT EXISTS observations (
    station_id TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (station_id, start_time, end_time)
);
CREATE TABLE IF NOT EXISTS auth_events (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS weather_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
"""

ORACLE_NAME = "devnet-oracle"


def to_unix(value: dt.datetime) -> int:
    return int(value.timestamp())


def from_unix(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)


@dataclass(frozen=True)
class EventRow:
    """A stored event."""

    id: uuid.UUID
    signing_date: dt.datetime
    start_observation_date: dt.datetime
    end_observation_date: dt.datetime
    locations: tuple[str, ...]
    number_of_values_per_entry: int
    total_allowed_entries: int
    number_of_places_win: int
    scoring_fields: tuple[Metric, ...]
    coordinator_pubkey: str
    nonce_secret: int
    nonce_point: bytes
    locking_points: tuple[bytes, ...]
    expiry: int
    attestation: int | None = None
    attested_outcome: int | None = None


@dataclass(frozen=True)
class EntryRow:
    """A stored entry; scores are None until the event is scored."""

    id: uuid.UUID
    event_id: uuid.UUID
    expected_observations: tuple[StationPicks, ...]
    score: int | None = None
    base_score: int | None = None


class OracleStore:
    """One SQLite file; every call is serialized by a lock and runs in its own transaction."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block in one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return list(cursor.fetchall())

    # -- key -----------------------------------------------------------------------------

    def check_pubkey(self, xonly: bytes) -> None:
        """Record the oracle key; refuse to run with a different key than the stored events."""
        with self.transaction() as conn:
            row = conn.execute("SELECT pubkey FROM oracle_metadata").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO oracle_metadata (pubkey, name) VALUES (?, ?)", (xonly, ORACLE_NAME)
                )
            elif bytes(row[0]) != xonly:
                raise ConfigError(
                    "the oracle key differs from the key this data directory was created with"
                )

    # -- events --------------------------------------------------------------------------

    def insert_event(self, event: EventRow, now: dt.datetime) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(event.id),
                    to_unix(event.signing_date),
                    to_unix(event.start_observation_date),
                    to_unix(event.end_observation_date),
                    json.dumps(list(event.locations)),
                    event.number_of_values_per_entry,
                    event.total_allowed_entries,
                    event.number_of_places_win,
                    json.dumps([m.value for m in event.scoring_fields]),
                    event.coordinator_pubkey,
                    event.nonce_secret.to_bytes(32, "big"),
                    event.nonce_point,
                    b"".join(event.locking_points),
                    event.expiry,
                    None,
                    None,
                    to_unix(now),
                ),
            )

    def get_event(self, event_id: uuid.UUID) -> EventRow | None:
        rows = self._query("SELECT * FROM events WHERE id = ?", (str(event_id),))
        return _event_row(rows[0]) if rows else None

    def list_events(self, limit: int | None = None) -> list[EventRow]:
        sql = "SELECT * FROM events ORDER BY id"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return [_event_row(row) for row in self._query(sql, params)]

    def unsigned_events(self) -> list[EventRow]:
        rows = self._query("SELECT * FROM events WHERE attestation IS NULL ORDER BY id")
        return [_event_row(row) for row in rows]

    def set_attestation(self, event_id: uuid.UUID, attestation: int, outcome: int) -> bool:
        """Store the attestation unless the event already has one; True if stored."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE events SET attestation = ?, attested_outcome = ? "
                "WHERE id = ? AND attestation IS NULL",
                (attestation.to_bytes(32, "big"), outcome, str(event_id)),
            )
            return cursor.rowcount == 1

    # -- entries -------------------------------------------------------------------------

    def insert_entries(self, event_id: uuid.UUID, entries: Sequence[EntryRow]) -> bool:
        """Insert the event's whole batch; False (and nothing written) if it already has one."""
        with self.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM entries WHERE event_id = ?", (str(event_id),)
            ).fetchone():
                return False
            conn.executemany(
                "INSERT INTO entries (id, event_id, position, expected_observations) "
                "VALUES (?, ?, ?, ?)",
                [
                    (str(entry.id), str(event_id), position, _picks_json(entry))
                    for position, entry in enumerate(entries)
                ],
            )
            return True

    def entries(self, event_id: uuid.UUID) -> list[EntryRow]:
        """The event's entries in submission order."""
        rows = self._query(
            "SELECT * FROM entries WHERE event_id = ? ORDER BY position", (str(event_id),)
        )
        return [_entry_row(row) for row in rows]

    def entry_counts(self) -> dict[str, int]:
        rows = self._query("SELECT event_id, COUNT(*) AS n FROM entries GROUP BY event_id")
        return {str(row["event_id"]): int(row["n"]) for row in rows}

    def entry_ids_in_use(self, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        wanted = [str(i) for i in ids]
        placeholders = ",".join("?" * len(wanted))
        rows = self._query(f"SELECT id FROM entries WHERE id IN ({placeholders})", wanted)  # noqa: S608
        return [uuid.UUID(str(row["id"])) for row in rows]

    def set_scores(self, scores: Iterable[tuple[uuid.UUID, int, int]]) -> None:
        """Store ``(entry_id, base_score, score)`` for each entry."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE entries SET base_score = ?, score = ? WHERE id = ?",
                [(base, score, str(entry_id)) for entry_id, base, score in scores],
            )

    # -- weather snapshots per event -----------------------------------------------------

    def replace_event_weather(self, event_id: uuid.UUID, weather: Sequence[dict[str, Any]]) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM event_weather WHERE event_id = ?", (str(event_id),))
            conn.executemany(
                "INSERT INTO event_weather VALUES (?, ?, ?, ?)",
                [
                    (str(event_id), item["station_id"], position, json.dumps(item))
                    for position, item in enumerate(weather)
                ],
            )

    def event_weather(self, event_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT weather FROM event_weather WHERE event_id = ? ORDER BY position",
            (str(event_id),),
        )
        return [json.loads(row["weather"]) for row in rows]

    # -- weather data --------------------------------------------------------------------

    def put_weather(
        self, forecasts: Sequence[Forecast], observations: Sequence[Observation]
    ) -> None:
        """Replace what is known for the given stations and times, in one transaction.

        A forecast replaces the station's forecast for the same UTC date; an observation
        replaces the station's observations whose windows overlap it.
        """
        with self.transaction() as conn:
            for forecast in forecasts:
                conn.execute(
                    "INSERT OR REPLACE INTO forecasts VALUES (?, ?, ?, ?, ?)",
                    (
                        forecast.station_id,
                        forecast.date.isoformat(),
                        to_unix(forecast.start_time),
                        to_unix(forecast.end_time),
                        forecast.model_dump_json(),
                    ),
                )
            for observation in observations:
                start, end = to_unix(observation.start_time), to_unix(observation.end_time)
                conn.execute(
                    "DELETE FROM observations WHERE station_id = ? "
                    "AND start_time <= ? AND end_time >= ?",
                    (observation.station_id, end, start),
                )
                conn.execute(
                    "INSERT INTO observations VALUES (?, ?, ?, ?)",
                    (observation.station_id, start, end, observation.model_dump_json()),
                )

    def forecasts(
        self, station_ids: Sequence[str], start: dt.datetime | None, end: dt.datetime | None
    ) -> list[Forecast]:
        """Forecasts of the stations whose period overlaps ``[start, end]``."""
        sql, params = _station_filter("forecasts", station_ids)
        if start is not None:
            sql += " AND end_time > ?"
            params.append(to_unix(start))
        if end is not None:
            sql += " AND start_time < ?"
            params.append(to_unix(end))
        rows = self._query(sql + " ORDER BY station_id, date", params)
        return [Forecast.model_validate_json(row["data"]) for row in rows]

    def observations(
        self, station_ids: Sequence[str], start: dt.datetime | None, end: dt.datetime | None
    ) -> list[Observation]:
        """Observation records of the stations lying inside ``[start, end]``."""
        sql, params = _station_filter("observations", station_ids)
        if start is not None:
            sql += " AND start_time >= ?"
            params.append(to_unix(start))
        if end is not None:
            sql += " AND end_time <= ?"
            params.append(to_unix(end))
        rows = self._query(sql + " ORDER BY station_id, start_time", params)
        return [Observation.model_validate_json(row["data"]) for row in rows]

    def weather_file_imported(self, sha256: str) -> bool:
        return bool(self._query("SELECT 1 FROM weather_files WHERE sha256 = ?", (sha256,)))

    def mark_weather_file(self, sha256: str, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO weather_files VALUES (?, ?)", (sha256, name))

    # -- NIP-98 replay protection ----------------------------------------------------------

    def first_use(self, event_id: str, created_at: int, now: int) -> bool:
        """Record an auth event id; False if it was seen before (the ``ReplayGuard`` protocol)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM auth_events WHERE created_at < ?", (now - 300,))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO auth_events VALUES (?, ?)", (event_id, created_at)
            )
            return cursor.rowcount == 1


def _station_filter(table: str, station_ids: Sequence[str]) -> tuple[str, list[Any]]:
    placeholders = ",".join("?" * len(station_ids))
    sql = f"SELECT data FROM {table} WHERE station_id IN ({placeholders})"  # noqa: S608
    return sql, list(station_ids)


def _picks_json(entry: EntryRow) -> str:
    return json.dumps([p.model_dump(mode="json") for p in entry.expected_observations])


def _event_row(row: sqlite3.Row) -> EventRow:
    points = bytes(row["locking_points"])
    return EventRow(
        id=uuid.UUID(row["id"]),
        signing_date=from_unix(row["signing_date"]),
        start_observation_date=from_unix(row["start_observation_date"]),
        end_observation_date=from_unix(row["end_observation_date"]),
        locations=tuple(json.loads(row["locations"])),
        number_of_values_per_entry=row["number_of_values_per_entry"],
        total_allowed_entries=row["total_allowed_entries"],
        number_of_places_win=row["number_of_places_win"],
        scoring_fields=tuple(Metric(m) for m in json.loads(row["scoring_fields"])),
        coordinator_pubkey=row["coordinator_pubkey"],
        nonce_secret=int.from_bytes(row["nonce_secret"], "big"),
        nonce_point=bytes(row["nonce_point"]),
        locking_points=tuple(points[i : i + 33] for i in range(0, len(points), 33)),
        expiry=row["expiry"],
        attestation=(
            int.from_bytes(row["attestation"], "big") if row["attestation"] is not None else None
        ),
        attested_outcome=row["attested_outcome"],
    )


def _entry_row(row: sqlite3.Row) -> EntryRow:
    return EntryRow(
        id=uuid.UUID(row["id"]),
        event_id=uuid.UUID(row["event_id"]),
        expected_observations=tuple(
            StationPicks.model_validate(p) for p in json.loads(row["expected_observations"])
        ),
        score=row["score"],
        base_score=row["base_score"],
    )
