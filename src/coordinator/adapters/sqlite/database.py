"""A SQLite database with one serialized writer and a pool of read connections.

Every write is a function ``fn(conn) -> T`` that the single writer thread runs inside one
``BEGIN IMMEDIATE`` transaction: it commits if ``fn`` returns and rolls back if it raises, so
multi-statement writes are atomic and writers never contend for the lock. Callers await the
result (or call the ``*_sync`` variants from threads). Reads run on separate connections, each
inside its own deferred transaction, so they see every write committed before they started.

Checkpoints: on its own, the writer checkpoints automatically (``wal_autocheckpoint``) and
truncates the WAL when it closes. A *replicated* database (Litestream) leaves checkpoints to
the replicator: autocheckpoint is off and nothing is truncated at close. Litestream keeps a
read transaction open so no checkpoint can pass frames it has not copied, checkpoints itself
(PASSIVE every minute and from 1000 pages; TRUNCATE only past ~500 MB), and a TRUNCATE by the
coordinator would only wait on that read lock and fail.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from coordinator.config import DbSettings

T = TypeVar("T")

log = logging.getLogger(__name__)

Operation = Callable[[sqlite3.Connection], T]


class DatabaseClosedError(RuntimeError):
    """The database was closed (or its writer stopped) before the operation could run."""


class TransactionEndedError(RuntimeError):
    """A write operation committed or rolled back on its own (e.g. ``executescript``), which
    breaks the one-operation-one-transaction guarantee."""


@dataclass
class _WriteJob:
    fn: Callable[[sqlite3.Connection], Any]
    future: Future[Any]


_STOP = object()


def connect(
    path: Path, settings: DbSettings, *, writer: bool, replicated: bool = False
) -> sqlite3.Connection:
    """Open a connection with the project's pragmas. Autocommit mode: transactions are explicit."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=settings.busy_timeout_ms / 1000,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
    if writer:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"{path}: could not enable WAL (journal_mode={mode})")
        autocheckpoint = 0 if replicated else int(settings.wal_autocheckpoint)
        conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
    else:
        conn.execute("PRAGMA query_only = ON")
    conn.execute(f"PRAGMA synchronous = {settings.synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = {int(settings.cache_size)}")
    conn.execute(f"PRAGMA mmap_size = {int(settings.mmap_size)}")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


class Database:
    """One SQLite file: a writer thread fed by a queue and a pool of reader connections."""

    def __init__(
        self, name: str, path: Path, settings: DbSettings, *, replicated: bool = False
    ) -> None:
        self.name = name
        self.path = path
        self._settings = settings
        self.replicated = replicated
        self._jobs: queue.SimpleQueue[_WriteJob | object] = queue.SimpleQueue()
        self._writer_thread: threading.Thread | None = None
        self._readers: queue.Queue[sqlite3.Connection] = queue.Queue()
        self._reader_conns: list[sqlite3.Connection] = []
        self._read_executor: ThreadPoolExecutor | None = None
        self._closed = threading.Event()
        #: Incremented after every committed write (caches of read results compare it).
        self.generation = 0

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the writer and reader connections and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_conn = connect(self.path, self._settings, writer=True, replicated=self.replicated)
        for _ in range(self._settings.read_connections):
            conn = connect(self.path, self._settings, writer=False)
            self._reader_conns.append(conn)
            self._readers.put(conn)
        self._read_executor = ThreadPoolExecutor(
            max_workers=self._settings.read_connections, thread_name_prefix=f"db-read-{self.name}"
        )
        self._writer_thread = threading.Thread(
            target=self._run_writer, args=(write_conn,), name=f"db-writer-{self.name}", daemon=True
        )
        self._writer_thread.start()

    def close(self) -> None:
        """Finish queued writes, close readers, checkpoint the WAL (TRUNCATE, unless the
        database is replicated) and close."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._read_executor is not None:
            self._read_executor.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()
        if self._writer_thread is not None:
            self._jobs.put(_STOP)
            self._writer_thread.join()

    @property
    def writer_alive(self) -> bool:
        """True while the writer thread is running."""
        return self._writer_thread is not None and self._writer_thread.is_alive()

    @property
    def queue_depth(self) -> int:
        """Writes queued and not yet started (approximate, for metrics)."""
        return self._jobs.qsize()

    # -- writes ----------------------------------------------------------------------------

    def submit_write(self, fn: Operation[T]) -> Future[T]:
        """Queue ``fn`` for the writer; the returned future holds its result or exception."""
        if self._closed.is_set() or not self.writer_alive:
            raise DatabaseClosedError(f"database {self.name} is closed")
        future: Future[T] = Future()
        self._jobs.put(_WriteJob(fn, future))
        return future

    async def write(self, fn: Operation[T]) -> T:
        """Run ``fn`` in one write transaction and return its result."""
        return await asyncio.wrap_future(self.submit_write(fn))

    def write_sync(self, fn: Operation[T]) -> T:
        """Blocking variant of :meth:`write` for threads and the CLI."""
        return self.submit_write(fn).result()

    def _run_writer(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                job = self._jobs.get()
                if job is _STOP:
                    break
                assert isinstance(job, _WriteJob)
                if not job.future.set_running_or_notify_cancel():
                    continue
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = job.fn(conn)
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                    if not conn.in_transaction:
                        raise TransactionEndedError(
                            f"a write on {self.name} ended its transaction itself"
                        )
                    conn.execute("COMMIT")
                    self.generation += 1
                except BaseException as exc:  # the writer must outlive any single operation
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
        finally:
            self._fail_pending()
            try:
                if not self.replicated:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint of %s failed", self.name)
            conn.close()

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, _WriteJob) and job.future.set_running_or_notify_cancel():
                job.future.set_exception(DatabaseClosedError(f"database {self.name} closed"))

    # -- reads -----------------------------------------------------------------------------

    def read_sync(self, fn: Operation[T]) -> T:
        """Run ``fn`` on a reader connection inside one read transaction (a consistent snapshot)."""
        if self._closed.is_set():
            raise DatabaseClosedError(f"database {self.name} is closed")
        conn = self._readers.get()
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    async def read(self, fn: Operation[T]) -> T:
        """Run ``fn`` on a reader connection in the read thread pool."""
        if self._read_executor is None or self._closed.is_set():
            raise DatabaseClosedError(f"database {self.name} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_executor, self.read_sync, fn)

    async def quick_check(self) -> bool:
        """``PRAGMA quick_check`` on a reader connection; True if the database is intact."""
        try:
            rows = await self.read(lambda conn: conn.execute("PRAGMA quick_check").fetchall())
        except (sqlite3.Error, DatabaseClosedError):
            log.exception("quick_check of %s failed", self.name)
            return False
        return [row[0] for row in rows] == ["ok"]
