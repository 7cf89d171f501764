"""Port: continuous replicas of the coordinator's databases (restore, replica positions).

A replica holds every committed transaction of a database up to its last sync, and can be
restored as of any instant inside its retention window. The coordinator reads replica
positions to report backup lag; it never writes to a replica itself (the replicator does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ReplicaLevel:
    """The files of one compaction level of a replica (0: every sync; higher: compactions)."""

    level: int
    files: int
    min_txid: int
    max_txid: int
    oldest_at: datetime
    newest_at: datetime


@dataclass(frozen=True)
class ReplicaStatus:
    """Where a database's replica stands relative to the local database."""

    name: str
    path: Path
    exists: bool  # the local database file exists
    local_txid: int | None  # last transaction the replicator captured locally
    replica_txid: int | None  # last transaction in the replica (None: no replica yet)
    levels: Sequence[ReplicaLevel]
    # When the oldest local change not yet in the replica was captured (None: nothing pending).
    pending_since: datetime | None

    @property
    def restorable_from(self) -> datetime | None:
        """The earliest instant a point-in-time restore can reach."""
        return min((lvl.oldest_at for lvl in self.levels), default=None)

    @property
    def newest_at(self) -> datetime | None:
        return max((lvl.newest_at for lvl in self.levels), default=None)

    def lag_secs(self, now: datetime) -> float:
        """Age of the oldest change not yet replicated (0 when the replica is current)."""
        if self.pending_since is None:
            return 0.0
        return max(0.0, (now - self.pending_since).total_seconds())


class BackupError(Exception):
    """A replica could not be read or restored."""


class BackupReplicas(Protocol):
    """The replicas of every database the coordinator keeps."""

    @property
    def databases(self) -> Mapping[str, Path]:
        """Database name -> local file, for every replicated database."""
        ...

    def replica_exists(self, name: str) -> bool:
        """True when database ``name`` has a replica to restore from."""
        ...

    def restore(self, name: str, *, timestamp: datetime | None = None, output: Path) -> bool:
        """Restore ``name`` into ``output`` (latest, or as of ``timestamp``); False when there
        is no replica (nothing written)."""
        ...

    def status(self, name: str) -> ReplicaStatus:
        """Local and replica positions of ``name``."""
        ...
