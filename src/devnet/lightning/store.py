"""SQLite persistence of the devnet Lightning network: nodes, invoices and payments.

One connection, used from the event loop thread only; every state change runs inside one
``BEGIN IMMEDIATE`` transaction (see :meth:`LightningStore.transaction`) and is committed before
anyone is told about it, so a restart resumes exactly where the network was.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    alias TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    pubkey BLOB NOT NULL UNIQUE,
    macaroon BLOB NOT NULL,
    balance_msat INTEGER NOT NULL CHECK (balance_msat >= 0),
    online INTEGER NOT NULL,
    fail_next_reason TEXT,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS invoices (
    node TEXT NOT NULL REFERENCES nodes(alias),
    r_hash BLOB NOT NULL,
    r_preimage BLOB,
    is_hold INTEGER NOT NULL,
    payment_addr BLOB NOT NULL,
    memo TEXT NOT NULL,
    value_msat INTEGER NOT NULL,
    amt_paid_msat INTEGER NOT NULL,
    state TEXT NOT NULL,
    payment_request TEXT NOT NULL,
    creation_date INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    cltv_expiry INTEGER NOT NULL,
    add_index INTEGER NOT NULL,
    settle_index INTEGER NOT NULL,
    settle_date INTEGER NOT NULL,
    accept_time INTEGER NOT NULL,
    resolve_time INTEGER NOT NULL,
    PRIMARY KEY (node, r_hash)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS invoices_by_add_index ON invoices(node, add_index);
CREATE INDEX IF NOT EXISTS invoices_by_settle_index ON invoices(node, settle_index);
CREATE INDEX IF NOT EXISTS invoices_live_by_expiry ON invoices(expires_at)
    WHERE state IN ('OPEN', 'ACCEPTED');

CREATE TABLE IF NOT EXISTS payments (
    node TEXT NOT NULL REFERENCES nodes(alias),
    payment_hash BLOB NOT NULL,
    payment_index INTEGER NOT NULL,
    payment_request TEXT NOT NULL,
    dest TEXT,
    value_msat INTEGER NOT NULL,
    fee_msat INTEGER NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT NOT NULL,
    preimage BLOB,
    htlc_status TEXT,
    creation_time_ns INTEGER NOT NULL,
    resolve_time_ns INTEGER NOT NULL,
    PRIMARY KEY (node, payment_hash)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS payments_by_index ON payments(node, payment_index);
CREATE INDEX IF NOT EXISTS payments_in_flight ON payments(dest, payment_hash)
    WHERE status = 'IN_FLIGHT';
"""


@dataclass(frozen=True)
class NodeRecord:
    """One simulated LND node."""

    alias: str
    secret: bytes  # node identity key (signs its invoices)
    pubkey: bytes
    macaroon: bytes  # the admin macaroon this node accepts
    balance_msat: int  # spendable local balance
    online: bool
    fail_next_reason: str | None  # injected failure for the node's next payment
    created_at: int


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice of one node (LND's ``lnrpc.Invoice``)."""

    node: str
    r_hash: bytes
    r_preimage: bytes | None  # unknown for a hold invoice until it is settled
    is_hold: bool
    payment_addr: bytes
    memo: str
    value_msat: int
    amt_paid_msat: int
    state: str  # OPEN, ACCEPTED, SETTLED, CANCELED
    payment_request: str
    creation_date: int
    expiry: int
    expires_at: int
    cltv_expiry: int
    add_index: int
    settle_index: int = 0
    settle_date: int = 0
    accept_time: int = 0
    resolve_time: int = 0


@dataclass(frozen=True)
class PaymentRecord:
    """An outgoing payment of one node (LND's ``lnrpc.Payment``)."""

    node: str
    payment_hash: bytes
    payment_index: int
    payment_request: str
    dest: str | None  # alias of the receiving node, when it was found
    value_msat: int
    fee_msat: int
    status: str  # INITIATED, IN_FLIGHT, SUCCEEDED, FAILED
    failure_reason: str
    preimage: bytes | None
    htlc_status: str | None  # IN_FLIGHT, SUCCEEDED, FAILED; None when no HTLC was sent
    creation_time_ns: int
    resolve_time_ns: int = 0


R = TypeVar("R", NodeRecord, InvoiceRecord, PaymentRecord)


class LightningStore:
    """Typed access to the devnet's SQLite database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block as one write transaction (committed on success, else rolled back)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- nodes ------------------------------------------------------------------------------

    def node(self, alias: str) -> NodeRecord | None:
        return self._one(NodeRecord, "SELECT * FROM nodes WHERE alias = ?", (alias,))

    def node_by_pubkey(self, pubkey: bytes) -> NodeRecord | None:
        return self._one(NodeRecord, "SELECT * FROM nodes WHERE pubkey = ?", (pubkey,))

    def nodes(self) -> list[NodeRecord]:
        return self._all(NodeRecord, "SELECT * FROM nodes ORDER BY created_at, alias", ())

    def save_node(self, node: NodeRecord) -> None:
        self._save("nodes", node)

    # -- invoices ---------------------------------------------------------------------------

    def invoice(self, node: str, r_hash: bytes) -> InvoiceRecord | None:
        return self._one(
            InvoiceRecord, "SELECT * FROM invoices WHERE node = ? AND r_hash = ?", (node, r_hash)
        )

    def save_invoice(self, invoice: InvoiceRecord) -> None:
        self._save("invoices", invoice)

    def next_add_index(self, node: str) -> int:
        return self._next("SELECT MAX(add_index) FROM invoices WHERE node = ?", node)

    def next_settle_index(self, node: str) -> int:
        return self._next("SELECT MAX(settle_index) FROM invoices WHERE node = ?", node)

    def invoices_added_after(self, node: str, add_index: int) -> list[InvoiceRecord]:
        return self._all(
            InvoiceRecord,
            "SELECT * FROM invoices WHERE node = ? AND add_index > ? ORDER BY add_index",
            (node, add_index),
        )

    def invoices_settled_after(self, node: str, settle_index: int) -> list[InvoiceRecord]:
        return self._all(
            InvoiceRecord,
            "SELECT * FROM invoices WHERE node = ? AND settle_index > ? ORDER BY settle_index",
            (node, settle_index),
        )

    def live_invoices_expired_by(self, now: int) -> list[InvoiceRecord]:
        """Open or accepted invoices whose expiry has passed."""
        return self._all(
            InvoiceRecord,
            "SELECT * FROM invoices WHERE state IN ('OPEN', 'ACCEPTED') AND expires_at <= ?",
            (now,),
        )

    def held_incoming_msat(self, node: str) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(amt_paid_msat), 0) FROM invoices "
            "WHERE node = ? AND state = 'ACCEPTED'",
            (node,),
        ).fetchone()
        return int(row[0])

    # -- payments ---------------------------------------------------------------------------

    def payment(self, node: str, payment_hash: bytes) -> PaymentRecord | None:
        return self._one(
            PaymentRecord,
            "SELECT * FROM payments WHERE node = ? AND payment_hash = ?",
            (node, payment_hash),
        )

    def in_flight_payments_to(self, dest: str, payment_hash: bytes) -> list[PaymentRecord]:
        return self._all(
            PaymentRecord,
            "SELECT * FROM payments WHERE dest = ? AND payment_hash = ? AND status = 'IN_FLIGHT'",
            (dest, payment_hash),
        )

    def payments_after(self, node: str, index_offset: int, limit: int) -> list[PaymentRecord]:
        return self._all(
            PaymentRecord,
            "SELECT * FROM payments WHERE node = ? AND payment_index > ? "
            "ORDER BY payment_index LIMIT ?",
            (node, index_offset, limit),
        )

    def save_payment(self, payment: PaymentRecord) -> None:
        self._save("payments", payment)

    def next_payment_index(self, node: str) -> int:
        return self._next("SELECT MAX(payment_index) FROM payments WHERE node = ?", node)

    def held_outgoing_msat(self, node: str) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(value_msat + fee_msat), 0) FROM payments "
            "WHERE node = ? AND status = 'IN_FLIGHT'",
            (node,),
        ).fetchone()
        return int(row[0])

    # -- helpers ----------------------------------------------------------------------------

    def _one(self, kind: type[R], sql: str, args: tuple[Any, ...]) -> R | None:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else _record(kind, row)

    def _all(self, kind: type[R], sql: str, args: tuple[Any, ...]) -> list[R]:
        return [_record(kind, row) for row in self._db.execute(sql, args)]

    def _next(self, sql: str, node: str) -> int:
        row = self._db.execute(sql, (node,)).fetchone()
        return int(row[0] or 0) + 1

    def _save(self, table: str, record: NodeRecord | InvoiceRecord | PaymentRecord) -> None:
        values = dataclasses.asdict(record)
        keys = _PRIMARY_KEYS[table]
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name not in keys)
        self._db.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            tuple(int(v) if isinstance(v, bool) else v for v in values.values()),
        )


_PRIMARY_KEYS = {
    "nodes": ("alias",),
    "invoices": ("node", "r_hash"),
    "payments": ("node", "payment_hash"),
}


def _record(kind: type[R], row: sqlite3.Row) -> R:
    values = dict(row)
    for field in dataclasses.fields(kind):
        if field.type == "bool":
            values[field.name] = bool(values[field.name])
    return kind(**values)
