"""What the coordinator needs from its Lightning node (LND in practice).

Entry fees arrive as hold invoices whose payment hash is the player's ticket hash: the money is
held (``ACCEPTED``) until the coordinator settles with the ticket preimage or cancels. Winners
are paid with :meth:`LightningNode.send_payment`, whose result is only final when its status
says so: an ``IN_FLIGHT`` payment must be tracked, never assumed to have succeeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from coordinator_core.bolt11 import DecodedInvoice


class InvoiceState(StrEnum):
    """LND's invoice states."""

    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"  # a hold invoice's HTLC is held; settle or cancel decides
    SETTLED = "SETTLED"
    CANCELED = "CANCELED"

    @property
    def is_final(self) -> bool:
        return self in (InvoiceState.SETTLED, InvoiceState.CANCELED)


class PaymentStatus(StrEnum):
    """LND's payment statuses."""

    UNKNOWN = "UNKNOWN"
    INITIATED = "INITIATED"
    IN_FLIGHT = "IN_FLIGHT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


@dataclass(frozen=True)
class NodeInfo:
    """Identity and chain of the node."""

    pubkey: bytes
    alias: str
    network: str  # LND's name: mainnet, testnet, signet, regtest
    block_height: int
    synced_to_chain: bool
    version: str


@dataclass(frozen=True)
class ChannelBalance:
    """Spendable and held amounts over all channels, in millisatoshis."""

    local_msat: int
    remote_msat: int
    unsettled_local_msat: int  # outgoing HTLCs not yet resolved
    unsettled_remote_msat: int  # incoming HTLCs held (accepted hold invoices)


@dataclass(frozen=True)
class CreatedInvoice:
    """An invoice just added to the node."""

    payment_hash: bytes
    payment_request: str
    add_index: int


@dataclass(frozen=True)
class Invoice:
    """An invoice as the node knows it now."""

    payment_hash: bytes
    state: InvoiceState
    value_msat: int
    amt_paid_msat: int
    memo: str
    payment_request: str
    creation_date: int
    expiry_secs: int
    settle_date: int
    add_index: int
    settle_index: int
    preimage: bytes | None  # known once settled (or for plain invoices)

    @property
    def value_sat(self) -> int:
        return self.value_msat // 1000


@dataclass(frozen=True)
class Payment:
    """An outgoing payment as the node knows it now."""

    payment_hash: bytes
    status: PaymentStatus
    value_msat: int
    fee_msat: int
    preimage: bytes | None  # set, and checked against the hash, when SUCCEEDED
    failure_reason: str | None  # LND's FAILURE_REASON_* when FAILED
    payment_index: int
    payment_request: str
    creation_time_ns: int


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
        self, payment_hash: bytes, amount_sat: int, expiry_secs: int, memo: str = ""
    ) -> CreatedInvoice:
        """Add a hold invoice for ``payment_hash``; idempotent for the same hash and amount."""
        ...

    async def create_invoice(
        self, amount_sat: int, expiry_secs: int, memo: str = ""
    ) -> CreatedInvoice:
        """Add a plain invoice that settles on payment."""
        ...

    async def lookup_invoice(self, payment_hash: bytes) -> Invoice:
        """The invoice for ``payment_hash``; NotFoundError when the node has none."""
        ...

    async def settle_invoice(self, preimage: bytes) -> None:
        """Settle the accepted hold invoice of ``sha256(preimage)``; idempotent."""
        ...

    async def cancel_invoice(self, payment_hash: bytes) -> None:
        """Cancel an open or accepted hold invoice; idempotent; ConflictError once settled."""
        ...

    def decode_invoice(self, payment_request: str, amount_sat: int | None = None) -> DecodedInvoice:
        """Decode and check a payment request (network, expiry, amount); ValidationError."""
        ...

    async def send_payment(
        self,
        payment_request: str,
        *,
        amount_sat: int | None,
        fee_limit_sat: int,
        timeout_secs: int,
    ) -> Payment:
        """Pay ``payment_request`` after checking it; the result may still be IN_FLIGHT."""
        ...

    async def track_payment(self, payment_hash: bytes) -> Payment:
        """Current state of an outgoing payment; NotFoundError when never started."""
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
