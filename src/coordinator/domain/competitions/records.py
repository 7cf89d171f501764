"""What the lifecycle reads from and writes to its store, as plain records."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from coordinator.domain.competitions.errors import ErrorState
from coordinator.domain.competitions.states import Progress, Roster, State, derive_state
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator.domain.competitions.tickets import TicketFacts, TicketStatus, ticket_status
from coordinator_core.observations import StationPicks
from ticketdlc.typed_bytes import Txid


@dataclass(frozen=True)
class Competition:
    """A competition as stored. Large documents are loaded only when asked for."""

    id: uuid.UUID
    terms: CompetitionTerms
    progress: Progress
    roster: Roster
    errors: ErrorState
    paid_out_entries: int = 0
    event_announcement: Mapping[str, Any] | None = None  # {locking_points, expiry, nonce_point}
    contract_parameters: Mapping[str, Any] | None = None  # dlctix JSON
    funding_psbt: str | None = None
    funding_outpoint: str | None = None
    funding_transaction: str | None = None  # raw hex
    outcome_transaction: str | None = None  # raw hex
    signed_contract: Mapping[str, Any] | None = None  # {"signatures", "dlc"}
    attestation: str | None = None  # hex scalar
    settled_outcome: str | None = None  # "att<i>" or "exp"
    signer_session: Mapping[str, Any] | None = None
    cancel_reason: str | None = None

    @property
    def state(self) -> State:
        return derive_state(self.progress, self.roster)


@dataclass(frozen=True)
class NewTicket:
    """A ticket generated at creation."""

    id: uuid.UUID
    entry_id: uuid.UUID
    hash: bytes
    sealed_preimage: str


@dataclass(frozen=True)
class Registration:
    """A player's sealed registration for its ticket's signing slot."""

    holder: str  # nostr pubkey (hex) of the reservation holder who made it
    public_key: bytes
    auth_pubkey: bytes
    envelope: bytes
    enclave_key_epoch: int
    registered_at: dt.datetime
    forwarded_at: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Ticket:
    id: uuid.UUID
    competition_id: uuid.UUID
    entry_id: uuid.UUID
    hash: bytes
    sealed_preimage: str
    payment_request: str | None
    invoice_expires_at: dt.datetime | None
    reserved_at: dt.datetime | None
    reserved_by: str | None
    paid_at: dt.datetime | None
    settled_at: dt.datetime | None
    invoice_cancelled_at: dt.datetime | None
    has_entry: bool
    registration: Registration | None = None

    @property
    def facts(self) -> TicketFacts:
        return TicketFacts(
            reserved_by=self.reserved_by,
            invoice_expires_at=self.invoice_expires_at,
            paid_at=self.paid_at,
            settled_at=self.settled_at,
            invoice_cancelled_at=self.invoice_cancelled_at,
            has_entry=self.has_entry,
        )

    def status(self, now: dt.datetime) -> TicketStatus:
        return ticket_status(self.facts, now)


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    competition_id: uuid.UUID
    ticket_id: uuid.UUID
    owner: str  # nostr pubkey (hex)
    ephemeral_pubkey: bytes  # compressed
    ephemeral_privatekey_encrypted: str  # the player's own NIP-44 backup
    payout_hash: bytes
    payout_preimage_encrypted: str
    picks: tuple[StationPicks, ...]
    created_at: dt.datetime
    sealed_ephemeral_privatekey: str | None = None  # revealed at payout, sealed at rest
    sealed_payout_preimage: str | None = None
    sellback_broadcasted_at: dt.datetime | None = None
    reclaimed_broadcasted_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None  # the ticket's hold invoice was accepted


class PayoutStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Payout:
    id: uuid.UUID
    entry_id: uuid.UUID
    competition_id: uuid.UUID
    payment_request: str
    payment_hash: bytes
    amount_sats: int
    initiated_at: dt.datetime
    cltv_limit: int
    fee_limit_sats: int
    invoice_expires_at: dt.datetime
    min_final_cltv_expiry: int
    succeed_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    error: str | None = None
    fee_msat: int | None = None
    payment_preimage: bytes | None = None
    send_attempts: int = 0
    last_sent_at: dt.datetime | None = None

    @property
    def status(self) -> PayoutStatus:
        if self.succeed_at is not None:
            return PayoutStatus.SUCCEEDED
        if self.failed_at is not None:
            return PayoutStatus.FAILED
        return PayoutStatus.PENDING


class TxKind(StrEnum):
    """Every transaction the coordinator puts on chain for a competition."""

    FUNDING = "funding"
    OUTCOME = "outcome"  # the attested outcome's transaction, or the expiry transaction
    CLOSE = "close"  # every winner paid: cooperative close of the outcome output
    SPLIT = "split"
    SPLIT_CLOSE = "split_close"  # a paid winner's split output, closed with its key
    SWEEP = "sweep"  # an owed winner's split output, reclaimed after operator approval


NO_PLAYER = -1


@dataclass(frozen=True)
class SettlementTx:
    competition_id: uuid.UUID
    kind: TxKind
    txid: Txid
    raw_hex: str
    created_at: dt.datetime
    player_index: int = NO_PLAYER
    fee_sats: int | None = None
    broadcast_at: dt.datetime | None = None
    confirmed_height: int | None = None
    confirmed_at: dt.datetime | None = None
    observed: bool = False  # found on chain, built by someone else


@dataclass(frozen=True)
class OwedWinner:
    entry_id: uuid.UUID
    competition_id: uuid.UUID
    player_index: int
    amount_sats: int
    output_value_sats: int
    owed_since: dt.datetime
    sweepable_at_height: int
    sweep_approved_at: dt.datetime | None = None
    claimed_on_chain_at: dt.datetime | None = None
    claim_txid: str | None = None
    swept_at: dt.datetime | None = None
    uneconomic_at: dt.datetime | None = None

    @property
    def resolved(self) -> bool:
        return (
            self.claimed_on_chain_at is not None
            or self.swept_at is not None
            or self.uneconomic_at is not None
        )


@dataclass(frozen=True)
class PayoutHold:
    entry_id: uuid.UUID
    payment_hash: bytes
    amount_sats: int
    reason: str
    held_at: dt.datetime
    released_at: dt.datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of a list, and the cursor of the next (``None`` on the last page)."""

    items: Sequence[Any]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Milestone:
    """A step's result: the milestone time and the documents written with it."""

    name: str  # a :class:`~.states.Progress` field
    at: dt.datetime
    documents: Mapping[str, Any] = field(default_factory=dict)
