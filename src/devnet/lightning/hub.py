"""Fan-out of invoice and payment changes to the open LND streams of each node."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Generic, TypeVar

from devnet.lightning.store import InvoiceRecord, PaymentRecord

R = TypeVar("R", InvoiceRecord, PaymentRecord)

#: Changes a stream may fall behind by before it is closed (its client reconnects and re-syncs).
MAX_BACKLOG = 10_000


class Subscriber(Generic[R]):
    """One open stream's inbox; closing it also removes it from its node's set."""

    def __init__(self, members: set[Subscriber[R]]) -> None:
        self._queue: asyncio.Queue[R | None] = asyncio.Queue(maxsize=MAX_BACKLOG)
        self._members: set[Subscriber[R]] = members
        self.closed = False
        members.add(self)

    async def next(self) -> R | None:
        """The next change, or None once the stream must end."""
        if self.closed:
            return None
        item = await self._queue.get()
        return None if self.closed else item

    def push(self, record: R) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        self._members.discard(self)
        if not self.closed:
            self.closed = True
            # Wake a reader waiting on an empty queue; a full queue is checked via `closed`.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)


class EventHub:
    """Per-node subscribers of invoice and payment changes."""

    def __init__(self) -> None:
        self._invoices: dict[str, set[Subscriber[InvoiceRecord]]] = defaultdict(set)
        self._payments: dict[str, set[Subscriber[PaymentRecord]]] = defaultdict(set)

    def subscribe_invoices(self, node: str) -> Subscriber[InvoiceRecord]:
        """A new inbox for ``node``'s invoice changes; close it when the stream ends."""
        return Subscriber(self._invoices[node])

    def subscribe_payments(self, node: str) -> Subscriber[PaymentRecord]:
        """A new inbox for ``node``'s payment changes; close it when the stream ends."""
        return Subscriber(self._payments[node])

    def invoice_changed(self, invoice: InvoiceRecord) -> None:
        _publish(self._invoices, invoice.node, invoice)

    def payment_changed(self, payment: PaymentRecord) -> None:
        _publish(self._payments, payment.node, payment)

    def open_streams(self, node: str | None = None) -> int:
        """How many streams are open, of ``node`` or of all nodes."""
        tables = (self._invoices, self._payments)
        if node is not None:
            return sum(len(table.get(node, ())) for table in tables)
        return sum(len(members) for table in tables for members in table.values())

    def close_node(self, node: str) -> None:
        """End every stream of ``node`` (it went offline)."""
        for subscriber in list(self._invoices.get(node, ())):
            subscriber.close()
        for other in list(self._payments.get(node, ())):
            other.close()

    def close_all(self) -> None:
        for node in {*self._invoices, *self._payments}:
            self.close_node(node)


def _publish(table: dict[str, set[Subscriber[R]]], node: str, record: R) -> None:
    subscribers = table.get(node)
    if not subscribers:
        return
    for subscriber in list(subscribers):
        subscriber.push(record)
