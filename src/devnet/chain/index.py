"""SQLite index of the kernel's active chain: blocks, transactions, outputs and script history.

It is derived data: the kernel's block files are the truth, and :meth:`ChainIndex.add_block`
is only called for blocks the kernel accepted. One block is one SQLite transaction, so after a
crash the index is at most behind the kernel, never ahead; the chain catches it up at start.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.chain.blocks import block_hash
from devnet.chain.model import ChainTx, Coin
from ticketdlc.bitcoin.encoding import compact_size, compact_size_len, sha256
from ticketdlc.bitcoin.tx import OutPoint, Transaction

MEDIAN_TIME_SPAN = 11

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    header BLOB NOT NULL,
    time INTEGER NOT NULL,
    mediantime INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    size INTEGER NOT NULL,
    weight INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    txid BLOB PRIMARY KEY,
    height INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    raw BLOB NOT NULL,
    fee INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS txs_by_position ON txs (height, pos);
CREATE TABLE IF NOT EXISTS outputs (
    txid BLOB NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    script BLOB NOT NULL,
    scripthash BLOB NOT NULL,
    height INTEGER NOT NULL,
    coinbase INTEGER NOT NULL,
    spent_txid BLOB,
    spent_vin INTEGER,
    spent_height INTEGER,
    PRIMARY KEY (txid, vout)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outputs_by_scripthash ON outputs (scripthash, spent_txid);
CREATE TABLE IF NOT EXISTS history (
    scripthash BLOB NOT NULL,
    height INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    txid BLOB NOT NULL,
    PRIMARY KEY (scripthash, height, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class BlockInfo:
    """One block of the active chain as the index knows it."""

    height: int
    hash: bytes  # internal byte order
    header: bytes
    time: int
    mediantime: int
    tx_count: int
    size: int
    weight: int

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()

    @property
    def version(self) -> int:
        return int.from_bytes(self.header[0:4], "little", signed=True)

    @property
    def prev_hash(self) -> bytes:
        return self.header[4:36]

    @property
    def merkle_root(self) -> bytes:
        return self.header[36:68]

    @property
    def bits(self) -> int:
        return int.from_bytes(self.header[72:76], "little")

    @property
    def nonce(self) -> int:
        return int.from_bytes(self.header[76:80], "little")


@dataclass(frozen=True)
class IndexedTx:
    """A confirmed transaction and where it sits."""

    raw: bytes
    height: int
    pos: int
    fee: int


@dataclass(frozen=True)
class OutputRow:
    """A confirmed output and what (if anything) spent it."""

    txid: bytes
    vout: int
    value: int
    script: bytes
    height: int
    coinbase: bool
    spent_txid: bytes | None
    spent_vin: int | None
    spent_height: int | None


def scripthash(script_pubkey: bytes) -> bytes:
    """Esplora's script hash: SHA-256 of the scriptPubKey (shown as plain hex)."""
    return sha256(script_pubkey)


class ChainIndex:
    """Reads and writes the index; not thread-safe (the chain serializes access)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def wipe(self) -> None:
        """Forget everything (used when the index no longer matches the kernel)."""
        with self._transaction():
            for table in ("blocks", "txs", "outputs", "history"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- blocks -------------------------------------------------------------------------------

    _BLOCK_COLUMNS = "height, hash, header, time, mediantime, tx_count, size, weight"

    def tip(self) -> BlockInfo | None:
        row = self._db.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks ORDER BY height DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return None if row is None else BlockInfo(*row)

    def block_at(self, height: int) -> BlockInfo | None:
        row = self._db.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE height = ?",  # noqa: S608
            (height,),
        ).fetchone()
        return None if row is None else BlockInfo(*row)

    def block_by_hash(self, block_hash: bytes) -> BlockInfo | None:
        row = self._db.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE hash = ?",  # noqa: S608
            (block_hash,),
        ).fetchone()
        return None if row is None else BlockInfo(*row)

    def blocks_descending(self, start_height: int, count: int) -> list[BlockInfo]:
        rows = self._db.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE height <= ? "  # noqa: S608
            "ORDER BY height DESC LIMIT ?",
            (start_height, count),
        ).fetchall()
        return [BlockInfo(*row) for row in rows]

    def median_time_past(self, height: int) -> int:
        """Median of the timestamps of the 11 blocks ending at ``height``."""
        row = self._db.execute("SELECT mediantime FROM blocks WHERE height = ?", (height,))
        found = row.fetchone()
        if found is None:
            raise KeyError(f"no block at height {height}")
        return int(found[0])

    def _median_of_last(self, height: int, time: int) -> int:
        rows = self._db.execute(
            "SELECT time FROM blocks WHERE height >= ? AND height < ?",
            (height - MEDIAN_TIME_SPAN + 1, height),
        ).fetchall()
        return int(statistics.median_high([time, *(int(r[0]) for r in rows)]))

    def add_block(
        self, height: int, header: bytes, transactions: Sequence[ChainTx], size: int
    ) -> None:
        """Record a block the kernel accepted at ``height`` (coinbase first)."""
        time = int.from_bytes(header[68:72], "little")
        weight = 4 * (80 + compact_size_len(len(transactions))) + sum(
            tx.weight for tx in transactions
        )
        with self._transaction():
            self._db.execute(
                "INSERT INTO blocks (height, hash, header, time, mediantime, tx_count, size, "
                "weight) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    height,
                    block_hash(header),
                    header,
                    time,
                    self._median_of_last(height, time),
                    len(transactions),
                    size,
                    weight,
                ),
            )
            for pos, ctx in enumerate(transactions):
                self._add_transaction(height, pos, ctx)

    def _add_transaction(self, height: int, pos: int, ctx: ChainTx) -> None:
        touched: set[bytes] = set()
        value_in = 0
        coinbase = pos == 0
        if not coinbase:
            for vin, txin in enumerate(ctx.tx.inputs):
                prev = txin.prevout
                row = self._db.execute(
                    "SELECT value, scripthash FROM outputs WHERE txid = ? AND vout = ?",
                    (prev.txid, prev.vout),
                ).fetchone()
                if row is None:
                    raise RuntimeError(f"index is missing the output {prev} spent by a block")
                value_in += int(row[0])
                touched.add(bytes(row[1]))
                self._db.execute(
                    "UPDATE outputs SET spent_txid = ?, spent_vin = ?, spent_height = ? "
                    "WHERE txid = ? AND vout = ?",
                    (ctx.txid, vin, height, prev.txid, prev.vout),
                )
        value_out = sum(out.value for out in ctx.tx.outputs)
        # The genesis coinbase is not spendable (Bitcoin Core never adds it to the UTXO set).
        if height > 0:
            rows = []
            for vout, out in enumerate(ctx.tx.outputs):
                digest = scripthash(out.script_pubkey)
                touched.add(digest)
                rows.append(
                    (ctx.txid, vout, out.value, out.script_pubkey, digest, height, int(coinbase))
                )
            self._db.executemany(
                "INSERT INTO outputs (txid, vout, value, script, scripthash, height, coinbase) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        self._db.execute(
            "INSERT INTO txs (txid, height, pos, raw, fee) VALUES (?, ?, ?, ?, ?)",
            (ctx.txid, height, pos, ctx.raw, 0 if coinbase else value_in - value_out),
        )
        self._db.executemany(
            "INSERT INTO history (scripthash, height, pos, txid) VALUES (?, ?, ?, ?)",
            [(digest, height, pos, ctx.txid) for digest in touched],
        )

    # -- transactions -------------------------------------------------------------------------

    def transaction(self, txid: bytes) -> IndexedTx | None:
        row = self._db.execute(
            "SELECT raw, height, pos, fee FROM txs WHERE txid = ?", (txid,)
        ).fetchone()
        return None if row is None else IndexedTx(bytes(row[0]), row[1], row[2], row[3])

    def raw_block(self, height: int) -> bytes:
        """The serialized block at ``height``, rebuilt from its header and transactions."""
        block = self.block_at(height)
        if block is None:
            raise KeyError(f"no block at height {height}")
        rows = self._db.execute("SELECT raw FROM txs WHERE height = ? ORDER BY pos", (height,))
        txs = [bytes(row[0]) for row in rows.fetchall()]
        return block.header + compact_size(len(txs)) + b"".join(txs)

    def block_txids(self, height: int) -> list[bytes]:
        rows = self._db.execute("SELECT txid FROM txs WHERE height = ? ORDER BY pos", (height,))
        return [bytes(row[0]) for row in rows.fetchall()]

    def block_transactions(self, height: int, start: int, count: int) -> list[IndexedTx]:
        rows = self._db.execute(
            "SELECT raw, height, pos, fee FROM txs WHERE height = ? AND pos >= ? "
            "ORDER BY pos LIMIT ?",
            (height, start, count),
        ).fetchall()
        return [IndexedTx(bytes(r[0]), r[1], r[2], r[3]) for r in rows]

    # -- outputs ------------------------------------------------------------------------------

    _OUTPUT_COLUMNS = (
        "txid, vout, value, script, height, coinbase, spent_txid, spent_vin, spent_height"
    )

    def _output_row(self, row: Any) -> OutputRow:
        return OutputRow(
            txid=bytes(row[0]),
            vout=int(row[1]),
            value=int(row[2]),
            script=bytes(row[3]),
            height=int(row[4]),
            coinbase=bool(row[5]),
            spent_txid=None if row[6] is None else bytes(row[6]),
            spent_vin=None if row[7] is None else int(row[7]),
            spent_height=None if row[8] is None else int(row[8]),
        )

    def output(self, outpoint: OutPoint) -> OutputRow | None:
        row = self._db.execute(
            f"SELECT {self._OUTPUT_COLUMNS} FROM outputs WHERE txid = ? AND vout = ?",  # noqa: S608
            (outpoint.txid, outpoint.vout),
        ).fetchone()
        return None if row is None else self._output_row(row)

    def outputs_of(self, txid: bytes) -> list[OutputRow]:
        rows = self._db.execute(
            f"SELECT {self._OUTPUT_COLUMNS} FROM outputs WHERE txid = ? ORDER BY vout",  # noqa: S608
            (txid,),
        ).fetchall()
        return [self._output_row(row) for row in rows]

    def coin(self, outpoint: OutPoint) -> Coin | None:
        """The unspent confirmed output at ``outpoint``, if any."""
        row = self.output(outpoint)
        if row is None or row.spent_txid is not None:
            return None
        return Coin(row.value, row.script, row.height, row.coinbase)

    def prevouts(self, tx: Transaction) -> list[tuple[bytes, int] | None]:
        """``(script, value)`` of each input's prevout (spent or not), ``None`` if unknown."""
        found: list[tuple[bytes, int] | None] = []
        for txin in tx.inputs:
            row = self._db.execute(
                "SELECT script, value FROM outputs WHERE txid = ? AND vout = ?",
                (txin.prevout.txid, txin.prevout.vout),
            ).fetchone()
            found.append(None if row is None else (bytes(row[0]), int(row[1])))
        return found

    def unspent_for_script(self, script_pubkey: bytes, limit: int) -> list[OutputRow]:
        """Unspent outputs paying ``script_pubkey``, oldest first."""
        rows = self._db.execute(
            f"SELECT {self._OUTPUT_COLUMNS} FROM outputs "  # noqa: S608
            "WHERE scripthash = ? AND spent_txid IS NULL ORDER BY height, txid, vout LIMIT ?",
            (scripthash(script_pubkey), limit),
        ).fetchall()
        return [self._output_row(row) for row in rows]

    def unspent_for_scripthash(self, digest: bytes, limit: int) -> list[OutputRow]:
        rows = self._db.execute(
            f"SELECT {self._OUTPUT_COLUMNS} FROM outputs "  # noqa: S608
            "WHERE scripthash = ? AND spent_txid IS NULL ORDER BY height DESC, txid LIMIT ?",
            (digest, limit),
        ).fetchall()
        return [self._output_row(row) for row in rows]

    def scripthash_stats(self, digest: bytes) -> dict[str, int]:
        """Esplora ``chain_stats`` for a script hash."""
        funded = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(value), 0) FROM outputs WHERE scripthash = ?",
            (digest,),
        ).fetchone()
        spent = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(value), 0) FROM outputs "
            "WHERE scripthash = ? AND spent_txid IS NOT NULL",
            (digest,),
        ).fetchone()
        txs = self._db.execute("SELECT COUNT(*) FROM history WHERE scripthash = ?", (digest,))
        return {
            "funded_txo_count": int(funded[0]),
            "funded_txo_sum": int(funded[1]),
            "spent_txo_count": int(spent[0]),
            "spent_txo_sum": int(spent[1]),
            "tx_count": int(txs.fetchone()[0]),
        }

    # -- history ------------------------------------------------------------------------------

    def history(
        self, digest: bytes, limit: int, after_txid: bytes | None = None
    ) -> list[IndexedTx] | None:
        """Confirmed transactions touching ``digest``, newest first, after ``after_txid``.

        Returns ``None`` if ``after_txid`` is given but is not a confirmed transaction.
        """
        if after_txid is None:
            bound = (2**62, 0)
        else:
            position = self._db.execute(
                "SELECT height, pos FROM txs WHERE txid = ?", (after_txid,)
            ).fetchone()
            if position is None:
                return None
            bound = (int(position[0]), int(position[1]))
        rows = self._db.execute(
            "SELECT t.raw, t.height, t.pos, t.fee FROM history h JOIN txs t ON t.txid = h.txid "
            "WHERE h.scripthash = ? AND (h.height < ? OR (h.height = ? AND h.pos < ?)) "
            "ORDER BY h.height DESC, h.pos DESC LIMIT ?",
            (digest, bound[0], bound[0], bound[1], limit),
        ).fetchall()
        return [IndexedTx(bytes(r[0]), r[1], r[2], r[3]) for r in rows]


class _Transaction:
    """``with`` block running as one SQLite transaction (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
