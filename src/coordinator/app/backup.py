"""Continuous backups at run time: restore before start, the replicator, its lag.

* :func:`restore_databases` puts a replica in place of a database (at start-up only for the
  missing ones, before migrations; from ``coordinator backup restore`` for any, server
  stopped). A restored file never meets a stale WAL, shared-memory file or replicator state.
  Whatever the backup misses (its last sync interval, or everything after a point-in-time
  restore) is repaired by the lifecycle's start-up reconciliation, which always runs before
  payouts and broadcasts resume: a payout the Lightning node already made is recorded, never
  sent again.
* :class:`Replicator` runs ``litestream replicate`` as a child of the coordinator (``[backup]
  supervise``), restarts it when it dies, and watches it through Litestream's own metrics
  endpoint (which is also how a sidecar's replicator is watched).
* :class:`BackupMonitor` reads every replica's position on a timer; readiness and the metrics
  read its cached verdict, never the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from coordinator.app import composition
from coordinator.config import Settings
from coordinator.domain.ports.backup import BackupError, BackupReplicas, ReplicaStatus

log = logging.getLogger(__name__)

_SIDE_FILES = ("-wal", "-shm", "-journal")
STOP_GRACE_SECS = 30.0  # Litestream syncs the last changes when it stops
PROBE_INTERVAL_SECS = 1.0
MAX_RESTART_DELAY_SECS = 30.0


class DatabaseInUseError(BackupError):
    """The coordinator is running on this data folder."""


@dataclass(frozen=True)
class Restored:
    """One restored database."""

    name: str
    path: Path
    set_aside: Path | None  # where the database it replaced was moved


def _meta_dir(db_file: Path) -> Path:
    return db_file.with_name(f".{db_file.name}-litestream")


def _remove_side_files(db_file: Path) -> None:
    for suffix in _SIDE_FILES:
        db_file.with_name(db_file.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(_meta_dir(db_file), ignore_errors=True)


def _set_aside(db_file: Path, stamp: str) -> Path:
    aside = db_file.with_name(f"{db_file.name}.pre-restore-{stamp}")
    db_file.rename(aside)
    for suffix in _SIDE_FILES:
        side = db_file.with_name(db_file.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


@contextlib.contextmanager
def data_folder_lock(settings: Settings) -> Iterator[None]:
    """Hold the wallet's lock file, which a running coordinator holds (refuse if busy)."""
    lock_path = settings.bitcoin.storage_file.with_name(
        settings.bitcoin.storage_file.name + ".lock"
    )
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("wb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUseError(
                "the coordinator is running on this data folder: stop it before a restore"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def restore_databases(
    replicas: BackupReplicas,
    names: Iterable[str],
    *,
    timestamp: datetime | None = None,
    only_missing: bool = False,
) -> list[Restored]:
    """Restore ``names`` from their replicas (latest, or as of ``timestamp``).

    With ``only_missing`` an existing database is left alone. A database without a replica is
    skipped. An existing database is moved to ``<file>.pre-restore-<time>`` (with its WAL),
    never deleted. Returns what was restored.
    """
    files = replicas.databases
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    restored = []
    for name in names:
        db_file = files[name]
        if only_missing and db_file.exists():
            continue
        tmp = db_file.with_name(db_file.name + ".restoring")
        _remove_side_files(tmp)
        tmp.unlink(missing_ok=True)
        if not replicas.restore(name, timestamp=timestamp, output=tmp):
            log.info("%s: no replica to restore from", name)
            continue
        aside = _set_aside(db_file, stamp) if db_file.exists() else None
        _remove_side_files(db_file)
        _remove_side_files(tmp)
        os.replace(tmp, db_file)
        log.warning(
            "%s restored from its replica%s%s",
            name,
            f" as of {timestamp.isoformat()}" if timestamp else "",
            f" (the previous file is {aside})" if aside else "",
        )
        restored.append(Restored(name, db_file, aside))
    return restored


def restore_missing_at_start(settings: Settings) -> list[Restored]:
    """Start-up: restore every missing database that has a replica (before migrations)."""
    backup = settings.backup
    if not (backup.enabled and backup.restore_on_start):
        return []
    replicas = composition.backup_replicas(settings)
    missing = [name for name, path in replicas.databases.items() if not path.exists()]
    if not missing:
        return []

    # One bucket listing per database, side by side (each is a Litestream process).
    def restore_one(name: str) -> list[Restored]:
        return restore_databases(replicas, [name], only_missing=True)

    with ThreadPoolExecutor(len(missing)) as pool:
        return [item for items in pool.map(restore_one, missing) for item in items]


# -- the replicator -----------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the coordinator dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Replicator:
    """The Litestream replicate process: started, watched, restarted; or only watched."""

    def __init__(
        self,
        settings: Settings,
        command: Callable[[], tuple[list[str], dict[str, str]]] | None,
        metrics_url: str,
    ) -> None:
        self._settings = settings
        self._command = command  # None: a sidecar runs it, only watch
        self._metrics_url = metrics_url
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self.answering = False
        self.restarts = 0
        self.last_exit: int | None = None
        self._stopping = False

    @property
    def supervised(self) -> bool:
        return self._command is not None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def alive(self) -> bool:
        """The replicator runs and answers."""
        if self.supervised and self.pid is None:
            return False
        return self.answering

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backup_replicator")

    async def _spawn(self) -> asyncio.subprocess.Process:
        assert self._command is not None
        argv, env = await asyncio.to_thread(self._command)
        return await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )

    async def _run(self) -> None:
        delay = 1.0
        async with httpx.AsyncClient(timeout=2.0) as http:
            while not self._stopping:
                if self.supervised and self.pid is None:
                    if self._process is not None:
                        self.last_exit = self._process.returncode
                        log.error(
                            "backup replicator exited (code %s); restarting in %.0fs",
                            self.last_exit,
                            delay,
                        )
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_RESTART_DELAY_SECS)
                        self.restarts += 1
                    try:
                        self._process = await self._spawn()
                        log.info("backup replicator started (pid %d)", self._process.pid)
                    except (OSError, BackupError) as exc:
                        log.error("backup replicator cannot start: %s", exc)
                        self._process = None
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_RESTART_DELAY_SECS)
                        continue
                was = self.answering
                self.answering = await self._probe(http)
                if self.answering and not was:
                    delay = 1.0
                    log.info("backup replicator is replicating")
                elif was and not self.answering:
                    log.error("backup replicator stopped answering")
                await asyncio.sleep(PROBE_INTERVAL_SECS)

    async def _probe(self, http: httpx.AsyncClient) -> bool:
        try:
            answer = await http.get(self._metrics_url)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def stop(self) -> None:
        """Stop watching; a supervised replicator is stopped (it syncs what is left first)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECS)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.answering = False


# -- replica positions --------------------------------------------------------------------


class BackupMonitor:
    """The last replica position of every database, read every ``status_interval_secs``."""

    def __init__(
        self,
        settings: Settings,
        replicas: BackupReplicas,
        replicator: Replicator,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self.replicas = replicas
        self.replicator = replicator
        self._clock = clock
        self.statuses: dict[str, ReplicaStatus] = {}
        self.error: str | None = None
        self._checked_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read every replica's position (in a thread: it runs Litestream)."""
        try:
            statuses = {
                name: await asyncio.to_thread(self.replicas.status, name)
                for name in self.replicas.databases
            }
        except BackupError as exc:
            self.error = str(exc)
            log.warning("backup status unavailable: %s", exc)
        else:
            self.statuses = statuses
            self.error = None
        self._checked_at = self._clock()

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self._settings.backup.status_interval_secs)
                await self.refresh()

        self._task = asyncio.create_task(loop(), name="backup_status")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def lag_secs(self, now: datetime | None = None) -> Mapping[str, float]:
        """Seconds each database's oldest unreplicated change has waited."""
        at = now or datetime.now(UTC)
        return {name: status.lag_secs(at) for name, status in self.statuses.items()}

    def problems(self) -> list[str]:
        """Why replication is not healthy (empty when it is)."""
        problems = []
        if not self.replicator.alive:
            problems.append("backup replicator is not running")
        if self.error is not None:
            problems.append(f"backup status unavailable: {self.error}")
        max_lag = self._settings.backup.max_lag_secs
        for name, lag in self.lag_secs().items():
            if lag > max_lag:
                problems.append(f"backup of {name} is {lag:.0f}s behind")
        interval = self._settings.backup.status_interval_secs
        if self._checked_at is not None and self._clock() - self._checked_at > 3 * interval + 60:
            problems.append("backup status is overdue")
        return problems


@dataclass
class Backups:
    """Replication at run time: the replicator and the monitor of replica positions."""

    replicator: Replicator
    monitor: BackupMonitor

    @classmethod
    def start(cls, settings: Settings) -> Backups:
        supervised = settings.backup.supervise
        replicator = Replicator(
            settings,
            (lambda: composition.replicator_command(settings)) if supervised else None,
            composition.replicator_metrics_url(settings),
        )
        monitor = BackupMonitor(settings, composition.backup_replicas(settings), replicator)
        replicator.start()
        monitor.start()
        return cls(replicator, monitor)

    def problems(self) -> list[str]:
        return self.monitor.problems()

    async def stop(self) -> None:
        """After the databases are closed: the replicator syncs their last changes."""
        await self.monitor.stop()
        await self.replicator.stop()
