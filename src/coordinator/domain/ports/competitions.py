"""What the lifecycle needs from its store (competitions.db in practice).

Every method is one atomic write or one consistent read. Writes that guard a rule of the
lifecycle check it inside their transaction (a ticket is reserved by one holder, one live payout
per entry, a competition is cancelled only while nothing is funded, a close and a split never
both exist), so two requests racing cannot both win. Refusals raise ``ConflictError``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from coordinator.domain.competitions.errors import ErrorState
from coordinator.domain.competitions.records import (
    Competition,
    Entry,
    Milestone,
    NewTicket,
    OwedWinner,
    Page,
    Payout,
    PayoutHold,
    Registration,
    SettlementTx,
    Ticket,
)
from coordinator.domain.competitions.states import State
from coordinator.domain.competitions.terms import CompetitionTerms

#: Called inside the reservation transaction for a ticket that was reserved before:
#: returns the fresh ``(hash, sealed preimage)`` that replace the old ones.
Rotate = Callable[[uuid.UUID], tuple[bytes, str]]


class CompetitionStore(Protocol):
    def version(self) -> int:
        """A number that grows whenever a write committed: a result read while it had one
        value is current for as long as it keeps that value (read it before reading), and
        includes every write committed before any smaller value was read."""
        ...

    # -- competitions ---------------------------------------------------------------------

    async def create(
        self, terms: CompetitionTerms, tickets: Sequence[NewTicket], at: dt.datetime
    ) -> None:
        """Insert a competition with its tickets (ConflictError if the id exists)."""
        ...

    async def load(self, competition_id: uuid.UUID, documents: bool = True) -> Competition | None:
        """One competition; ``documents=False`` skips the large JSON documents."""
        ...

    async def page(
        self,
        limit: int,
        cursor: uuid.UUID | None = None,
        states: Collection[State] | None = None,
        ids: Collection[uuid.UUID] | None = None,
    ) -> Page:
        """Competitions newest first (id descending), without large documents."""
        ...

    async def state_counts(self) -> Mapping[State, int]:
        """How many competitions are in each state (for metrics)."""
        ...

    async def payout_counts(self) -> Mapping[str, int]:
        """Lightning payouts by status: ``pending``, ``succeeded``, ``failed`` (for metrics)."""
        ...

    async def active_ids(self) -> list[uuid.UUID]:
        """Competitions the processor still has work for."""
        ...

    async def advance(self, competition_id: uuid.UUID, milestone: Milestone) -> bool:
        """Write a milestone (if not set yet) with its documents; resets the error counters.
        Returns False if the milestone was already set (nothing changed)."""
        ...

    async def set_documents(self, competition_id: uuid.UUID, documents: Mapping[str, Any]) -> None:
        """Write documents without a milestone (e.g. the signer session)."""
        ...

    async def record_errors(self, competition_id: uuid.UUID, errors: ErrorState) -> None: ...

    async def fail(self, competition_id: uuid.UUID, at: dt.datetime, errors: ErrorState) -> bool:
        """Mark failed unless funding was broadcast or is being broadcast."""
        ...

    async def cancel(self, competition_id: uuid.UUID, reason: str, at: dt.datetime) -> bool:
        """Mark cancelled unless funding was broadcast or is being broadcast (False then)."""
        ...

    # -- tickets --------------------------------------------------------------------------

    async def tickets_of(self, competition_id: uuid.UUID) -> list[Ticket]: ...

    async def ticket(self, ticket_id: uuid.UUID) -> Ticket | None: ...

    async def reserve(
        self, competition_id: uuid.UUID, holder: str, now: dt.datetime, rotate: Rotate
    ) -> Ticket | None:
        """The holder's live reservation, else a free ticket newly reserved for the holder
        (its hash rotated if it was reserved before), else ``None``."""
        ...

    async def set_invoice(
        self, ticket_id: uuid.UUID, holder: str, payment_request: str, expires_at: dt.datetime
    ) -> Ticket:
        """Attach the hold invoice to the holder's reservation."""
        ...

    async def release_reservation(self, ticket_id: uuid.UUID, holder: str) -> None:
        """Undo a reservation whose invoice could not be created."""
        ...

    async def mark_paid(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool: ...

    async def mark_invoice_cancelled(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool: ...

    async def mark_settled(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool: ...

    async def ticket_by_hash(self, payment_hash: bytes) -> Ticket | None: ...

    async def unpaid_reservations(self) -> list[Ticket]:
        """Reserved tickets whose invoice is neither paid nor cancelled (every competition)."""
        ...

    async def store_registration(self, ticket_id: uuid.UUID, registration: Registration) -> None:
        """Keep (or replace, while not forwarded) the ticket's registration."""
        ...

    async def mark_registration_forwarded(
        self, ticket_id: uuid.UUID, at: dt.datetime | None, error: str | None
    ) -> None: ...

    # -- entries --------------------------------------------------------------------------

    async def insert_entry(self, entry: Entry) -> None:
        """Store an entry on its paid ticket (ConflictError if the ticket has one)."""
        ...

    async def entries_of(self, competition_id: uuid.UUID) -> list[Entry]: ...

    async def entry(self, entry_id: uuid.UUID) -> Entry | None: ...

    async def entries_page(
        self,
        owner: str,
        limit: int,
        cursor: uuid.UUID | None = None,
        competition_id: uuid.UUID | None = None,
    ) -> Page: ...

    async def reveal_secrets(
        self, entry_id: uuid.UUID, sealed_private_key: str, sealed_payout_preimage: str
    ) -> None: ...

    async def mark_entry_settled(
        self, entry_id: uuid.UUID, at: dt.datetime, *, reclaimed: bool
    ) -> None:
        """The winner's share was closed by the coordinator (sellback) or reclaimed."""
        ...

    # -- payouts --------------------------------------------------------------------------

    async def insert_payout(self, payout: Payout) -> None:
        """ConflictError if the entry has a live payout or the hash pays another one."""
        ...

    async def payout(self, payout_id: uuid.UUID) -> Payout | None: ...

    async def payouts_of(self, competition_id: uuid.UUID) -> list[Payout]: ...

    async def payouts_of_entry(self, entry_id: uuid.UUID) -> list[Payout]: ...

    async def pending_payouts(self) -> list[Payout]: ...

    async def all_payment_hashes(self) -> set[bytes]: ...

    async def mark_payout_sent(
        self, payout_id: uuid.UUID, at: dt.datetime, cltv_limit: int
    ) -> None: ...

    async def mark_payout_succeeded(
        self, payout_id: uuid.UUID, at: dt.datetime, preimage: bytes, fee_msat: int
    ) -> bool:
        """Record success (also over an earlier failure: the node's record decides)."""
        ...

    async def mark_payout_failed(
        self, payout_id: uuid.UUID, at: dt.datetime, error: str
    ) -> bool: ...

    # -- settlement transactions -----------------------------------------------------------

    async def insert_tx(self, tx: SettlementTx) -> SettlementTx:
        """Persist a transaction before broadcasting it; returns the stored one if that kind
        already exists. ConflictError for a close next to a split (or vice versa), and for a
        funding transaction of a cancelled competition."""
        ...

    async def record_observed_tx(self, tx: SettlementTx) -> None:
        """Store a transaction found on chain in place of the one of its kind (if any): what
        the chain holds decides."""
        ...

    async def txs_of(self, competition_id: uuid.UUID) -> list[SettlementTx]: ...

    async def unconfirmed_txs(self) -> list[SettlementTx]: ...

    async def mark_tx_broadcast(self, txid: str, at: dt.datetime) -> None: ...

    async def mark_tx_confirmed(self, txid: str, height: int, at: dt.datetime) -> None: ...

    # -- owed winners ----------------------------------------------------------------------

    async def insert_owed(self, owed: OwedWinner) -> None:
        """Record an owed winner (no-op if already recorded)."""
        ...

    async def owed_of(self, competition_id: uuid.UUID) -> list[OwedWinner]: ...

    async def owed_all(self, unresolved_only: bool = False) -> list[OwedWinner]: ...

    async def owed(self, entry_id: uuid.UUID) -> OwedWinner | None: ...

    async def approve_sweep(self, entry_id: uuid.UUID, at: dt.datetime) -> bool: ...

    async def resolve_owed(
        self,
        entry_id: uuid.UUID,
        at: dt.datetime,
        *,
        claim_txid: str | None = None,
        swept: bool = False,
        uneconomic: bool = False,
    ) -> None: ...

    # -- payout holds ----------------------------------------------------------------------

    async def insert_hold(self, hold: PayoutHold) -> bool: ...

    async def holds(self, active_only: bool = True) -> list[PayoutHold]: ...

    async def release_hold(self, entry_id: uuid.UUID, at: dt.datetime) -> int: ...
