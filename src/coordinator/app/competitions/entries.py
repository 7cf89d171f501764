"""Entries: a paid ticket's picks and the player's contract keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from coordinator.app.competitions.context import Lifecycle
from coordinator.domain.competitions.entries import check_picks
from coordinator.domain.competitions.records import Entry
from coordinator_core.errors import NotFoundError, ValidationError
from coordinator_core.observations import StationPicks
from ticketdlc.crypto.secp import Point

MAX_ENCRYPTED_CHARS: Final = 4096


@dataclass(frozen=True)
class EntryRequest:
    """``POST /api/v1/entries`` (upstream ``AddEntry``)."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    event_id: uuid.UUID
    ephemeral_pubkey: bytes
    ephemeral_privatekey_encrypted: str
    payout_hash: bytes
    payout_preimage_encrypted: str
    expected_observations: tuple[StationPicks, ...]


async def submit_entry(lc: Lifecycle, caller: str, request: EntryRequest) -> Entry:
    c = await lc.store.load(request.event_id, documents=False)
    if c is None:
        raise NotFoundError(f"competition {request.event_id} not found")
    ticket = await lc.store.ticket(request.ticket_id)
    if ticket is None:
        raise NotFoundError(f"ticket {request.ticket_id} not found")
    if ticket.competition_id != c.id:
        raise ValidationError("the ticket belongs to another competition")
    if ticket.has_entry:
        # A retry after a lost answer gets its entry back, even once entries have closed (the
        # entry may be what closed them); anything else is refused.
        existing = await lc.store.entry(request.id)
        if existing is not None and _same_entry(existing, caller, ticket.id, request):
            return existing
        raise ValidationError("the ticket already has an entry")
    if not c.state.accepts_entries or lc.clock() >= c.terms.start_observation_date:
        raise ValidationError("entries are closed for this competition")
    if ticket.reserved_by != caller or ticket.invoice_cancelled_at is not None:
        raise ValidationError("the ticket is not reserved by you")
    if request.id != ticket.entry_id:
        raise ValidationError(f"the entry id must be {ticket.entry_id}, issued with the ticket")
    if ticket.paid_at is None:
        raise ValidationError("Ticket has not been paid")
    check_picks(request.expected_observations, c.terms)
    if len(request.ephemeral_pubkey) != 33:
        raise ValidationError("ephemeral_pubkey must be a 33-byte compressed key")
    try:
        Point.from_bytes(request.ephemeral_pubkey)
    except ValueError:
        raise ValidationError("ephemeral_pubkey is not a valid secp256k1 key") from None
    if request.ephemeral_pubkey == Point.from_secret(lc.market_maker_secret(c.id)).to_bytes():
        raise ValidationError("ephemeral_pubkey is the coordinator's key")
    if len(request.payout_hash) != 32:
        raise ValidationError("payout_hash must be 32 bytes")
    for name in ("ephemeral_privatekey_encrypted", "payout_preimage_encrypted"):
        if len(getattr(request, name)) > MAX_ENCRYPTED_CHARS:
            raise ValidationError(f"{name} must be at most {MAX_ENCRYPTED_CHARS} characters")
    registration = ticket.registration
    if registration is None or registration.holder != caller:
        raise ValidationError(
            "register your entry key with the signing service first "
            "(POST …/tickets/{ticket_id}/registration)"
        )
    if registration.public_key != request.ephemeral_pubkey:
        raise ValidationError("ephemeral_pubkey is not the key registered with the signing service")
    if registration.error is not None:
        raise ValidationError(f"the signing service refused the registration: {registration.error}")
    entry = Entry(
        id=request.id,
        competition_id=c.id,
        ticket_id=ticket.id,
        owner=caller,
        ephemeral_pubkey=request.ephemeral_pubkey,
        ephemeral_privatekey_encrypted=request.ephemeral_privatekey_encrypted,
        payout_hash=request.payout_hash,
        payout_preimage_encrypted=request.payout_preimage_encrypted,
        picks=request.expected_observations,
        created_at=lc.clock(),
    )
    await lc.store.insert_entry(entry)
    found = await lc.store.entry(entry.id)
    assert found is not None
    return found


def _same_entry(entry: Entry, caller: str, ticket_id: uuid.UUID, request: EntryRequest) -> bool:
    """Whether ``request`` is the one that stored ``entry`` (sent again)."""
    return (
        entry.owner == caller
        and entry.ticket_id == ticket_id
        and entry.competition_id == request.event_id
        and entry.ephemeral_pubkey == request.ephemeral_pubkey
        and entry.ephemeral_privatekey_encrypted == request.ephemeral_privatekey_encrypted
        and entry.payout_hash == request.payout_hash
        and entry.payout_preimage_encrypted == request.payout_preimage_encrypted
        and tuple(entry.picks) == tuple(request.expected_observations)
    )
