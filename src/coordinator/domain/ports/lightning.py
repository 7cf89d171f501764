"""What the coordinator needs from its Lightning node (LND in practice).

Entry fees arrive as hold invoices whose payment hash is the player's ticket hash: the money is
held (``HELD``) until the coordinator settles with the ticket preimage or cancels. Winners
are paid with :meth:`LightningNode.send_payment`, whose result is only final when its status
says so: an ``IN_FLIGHT`` payment must be tracked, never assumed to have succeeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from coordinator_core.bolt11 import BitcoinNetwork, DecodedInvoice


class InvoiceState(StrEnum):
    """Where an invoice the coordinator issued stands."""

    OPEN = "open"  # waiting for a payment
    HELD = "held"  # a hold invoice's payment is locked in; settling or canceling decides
    SETTLED = "settled"  # the money is the coordinator's
    CANCELED = "canceled"  # expired or canceled; any held payment went back

    @property
    def is_final(self) -> bool:
        return self in (InvoiceState.SETTLED, InvoiceState.CANCELED)


class PaymentStatus(StrEnum):
    """Where an outgoing payment stands; only SUCCEEDED and FAILED are final."""

    IN_FLIGHT = "in_flight"  # started (or not known to have ended): keep tracking it
    SUCCEEDED = "succeeded"  # the preimage is known: the payee was paid
    FAILED = "failed"  # no part of the amount left; safe to pay again

    @property
    def is_final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


class PaymentFailure(StrEnum):
    """Why a payment failed."""

    TIMEOUT = "timeout"  # no route found in time
    NO_ROUTE = "no_route"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    REJECTED_BY_PAYEE = "rejected_by_payee"  # unknown hash, wrong amount, expired invoice
    CANCELED = "canceled"
    ERROR = "error"  # any other failure the node reports


@dataclass(frozen=True)
class NodeInfo:
    """Identity and chain of the node."""

    pubkey: bytes  # compressed node key
    alias: str
    network: BitcoinNetwork | None  # None when the node reports a chain this product ignores
    block_height: int
    synced_to_chain: bool
    version: str


@dataclass(frozen=True)
class ChannelBalance:
    """Spendable and held amounts over all channels, in millisatoshis."""

    local_msat: int
    remote_msat: int
    unsettled_local_msat: int  # outgoing payments not yet resolved
    unsettled_remote_msat: int  # incoming payments held (held hold invoices)


@dataclass(frozen=True)
class CreatedInvoice:
    """An invoice just added to the node."""

    payment_hash: bytes
    payment_request: str


@dataclass(frozen=True)
class Invoice:
    """An invoice as the node knows it now."""

    payment_hash: bytes
    state: InvoiceState
    amount_msat: int
    amount_paid_msat: int  # held or settled so far
    memo: str
    payment_request: str
    created_at: int  # unix seconds
    expiry_secs: int
    settled_at: int | None  # unix seconds, once settled
    preimage: bytes | None  # known once settled (or for plain invoices)


@dataclass(frozen=True)
class Payment:
    """An outgoing payment as the node knows it now."""

    payment_hash: bytes
    status: PaymentStatus
    amount_msat: int  # paid to the payee, fees excluded
    fee_msat: int
    preimage: bytes | None  # set, and checked against the hash, when SUCCEEDED
    failure: PaymentFailure | None  # set when FAILED
    payment_request: str
    created_at_ns: int  # unix nanoseconds: tells one attempt from another


#: Supplies the payment hashes a subscription must re-check after (re)connecting, because
#: updates may have happened while it was disconnected (e.g. from the coordinator's database).
PendingHashes = Callable[[], Awaitable[Collection[bytes]]]


class LightningNode(Protocol):
    """A Lightning node the coordinator controls."""

    async def get_info(self) -> NodeInfo:
        """Identity, network and sync state; also serves as a connectivity check."""
        ...

    async def channel_balance(self) -> ChannelBalance:
        """Local, remote and held balances."""
        ...

    async def create_hold_invoice(
        self, payment_hash: bytes, amount_msat: int, expiry_secs: int, memo: str = ""
    ) -> CreatedInvoice:
        """Add a hold invoice for ``payment_hash``; idempotent for the same hash and amount."""
        ...

    async def create_invoice(
        self, amount_msat: int, expiry_secs: int, memo: str = "", cltv_expiry: int = 0
    ) -> CreatedInvoice:
        """Add a plain invoice that settles on payment; ``cltv_expiry`` is its final CLTV
        delta in blocks (0: the node's default)."""
        ...

    async def lookup_invoice(self, payment_hash: bytes) -> Invoice:
        """The invoice for ``payment_hash``; NotFoundError when the node has none."""
        ...

    async def settle_invoice(self, preimage: bytes) -> None:
        """Settle the accepted hold invoice of ``sha256(preimage)``; idempotent."""
        ...

    async def cancel_invoice(self, payment_hash: bytes) -> None:
        """Cancel an open or held hold invoice; idempotent; ConflictError once settled."""
        ...

    def decode_invoice(
        self, payment_request: str, amount_msat: int | None = None
    ) -> DecodedInvoice:
        """Decode and check a payment request (network, expiry, amount); ValidationError."""
        ...

    async def send_payment(
        self,
        payment_request: str,
        *,
        amount_msat: int | None,
        fee_limit_msat: int,
        timeout_secs: int,
        cltv_limit: int = 0,
    ) -> Payment:
        """Pay ``payment_request`` after checking it; the result may still be IN_FLIGHT.

        ``cltv_limit`` caps the route's total time lock in blocks (0: no cap), so no HTLC of
        the payment can stay unresolved beyond ``tip + cltv_limit``."""
        ...

    async def track_payment(self, payment_hash: bytes) -> Payment:
        """Current state of an outgoing payment; NotFoundError when never started."""
        ...

    async def list_payments(self, max_payments: int = 10_000) -> list[Payment]:
        """Every outgoing payment the node knows (in flight ones too), oldest first."""
        ...

    def subscribe_invoices(self, pending: PendingHashes | None = None) -> AsyncIterator[Invoice]:
        """Invoice updates forever, reconnecting and re-checking pending invoices as needed."""
        ...

    def subscribe_payments(self, pending: PendingHashes | None = None) -> AsyncIterator[Payment]:
        """Outgoing payment updates forever, reconnecting and re-tracking pending payments."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
