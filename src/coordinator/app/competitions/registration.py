"""Registration of a player's key with the signing service, before the player pays.

The player fetches its ticket's slot (the registration context and a fresh attestation of the
enclave key, bound to the player's nonce), seals its ephemeral key to that enclave and posts the
sealed envelope back. The coordinator keeps it with the reservation and forwards it to the
signing service once the ticket is paid: a slot, once claimed at the service, can never be
given to someone else, while a reservation that lapses unpaid must be. An identical repeat is
accepted; a different registration of a forwarded slot is a 409.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import Final

from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.crash_points import crash_point
from coordinator.app.competitions.kickoff import session_of
from coordinator.domain.competitions.records import Registration, Ticket
from coordinator.domain.competitions.tickets import is_live_reservation
from coordinator.domain.ports.signer import (
    ParticipantRegistration,
    RegistrationConflictError,
    RegistrationSlot,
    SignerRejectedError,
)
from coordinator_core.errors import (
    ConflictError,
    CoordinatorError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from ticketdlc.crypto.secp import Point
from ticketdlc.typed_bytes import CompressedPubkey

log = logging.getLogger(__name__)

MAX_ENVELOPE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class RegistrationRequest:
    public_key: bytes
    auth_pubkey: bytes
    encrypted_envelope: bytes
    enclave_key_epoch: int | None  # None: the slot's current epoch

    def check(self) -> None:
        for name in ("public_key", "auth_pubkey"):
            value = getattr(self, name)
            if len(value) != 33:
                raise ValidationError(f"{name} must be 33 bytes (compressed)")
            try:
                Point.from_bytes(value)
            except ValueError:
                raise ValidationError(f"{name} is not a compressed secp256k1 key") from None
        if self.enclave_key_epoch is not None and not 0 <= self.enclave_key_epoch < 2**63:
            raise ValidationError("enclave_key_epoch out of range")
        if not 1 <= len(self.encrypted_envelope) <= MAX_ENVELOPE_BYTES:
            raise ValidationError(f"encrypted_envelope must be 1 to {MAX_ENVELOPE_BYTES} bytes")


async def _holders_ticket(
    lc: Lifecycle, competition_id: uuid.UUID, ticket_id: uuid.UUID, caller: str
) -> Ticket:
    c = await lc.store.load(competition_id, documents=False)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    ticket = await lc.store.ticket(ticket_id)
    if ticket is None or ticket.competition_id != competition_id:
        raise NotFoundError(f"ticket {ticket_id} not found in this competition")
    if not is_live_reservation(ticket.facts, caller, lc.clock()):
        raise ValidationError("the ticket is not reserved by you (or its reservation lapsed)")
    if c.signer_session is None:
        raise TransientError("the competition's signing session is not open yet")
    return ticket


async def registration_slot(
    lc: Lifecycle, competition_id: uuid.UUID, ticket_id: uuid.UUID, caller: str, nonce: bytes
) -> RegistrationSlot:
    if len(nonce) != 32:
        raise ValidationError("nonce must be 32 bytes (64 hex digits)")
    await _holders_ticket(lc, competition_id, ticket_id, caller)
    c = await lc.store.load(competition_id, documents=False)
    assert c is not None
    return await lc.required_signer.registration_slot(session_of(c), str(ticket_id), nonce)


async def register(
    lc: Lifecycle,
    competition_id: uuid.UUID,
    ticket_id: uuid.UUID,
    caller: str,
    request: RegistrationRequest,
) -> Registration:
    """Keep the player's sealed registration; forward it now if the ticket is paid."""
    request.check()
    ticket = await _holders_ticket(lc, competition_id, ticket_id, caller)
    epoch = request.enclave_key_epoch
    if epoch is None:
        c = await lc.store.load(competition_id, documents=False)
        assert c is not None
        slot = await lc.required_signer.registration_slot(
            session_of(c), str(ticket_id), os.urandom(32)
        )
        epoch = slot.enclave_key_epoch
    existing = ticket.registration
    same = existing is not None and (
        existing.holder == caller
        and existing.public_key == request.public_key
        and existing.auth_pubkey == request.auth_pubkey
        and existing.envelope == request.encrypted_envelope
        and existing.enclave_key_epoch == epoch
    )
    if existing is not None and existing.forwarded_at is not None and not same:
        raise ConflictError("the ticket's signing slot is already registered with another key")
    if not same:
        await lc.store.store_registration(
            ticket.id,
            Registration(
                holder=caller,
                public_key=request.public_key,
                auth_pubkey=request.auth_pubkey,
                envelope=request.encrypted_envelope,
                enclave_key_epoch=epoch,
                registered_at=lc.clock(),
            ),
        )
    reloaded = await lc.store.ticket(ticket.id)
    assert reloaded is not None and reloaded.registration is not None
    if reloaded.paid_at is not None and reloaded.registration.forwarded_at is None:
        await forward(lc, reloaded, raise_errors=True)
        reloaded = await lc.store.ticket(ticket.id)
    assert reloaded is not None and reloaded.registration is not None
    return reloaded.registration


async def forward(lc: Lifecycle, ticket: Ticket, *, raise_errors: bool = False) -> bool:
    """Send a paid ticket's registration to the signing service (idempotent there)."""
    registration = ticket.registration
    if registration is None or registration.forwarded_at is not None:
        return registration is not None
    c = await lc.store.load(ticket.competition_id, documents=False)
    if c is None or c.signer_session is None:
        return False
    participant = ParticipantRegistration(
        user_id=str(ticket.id),
        public_key=CompressedPubkey(registration.public_key),  # checked when it was stored
        auth_pubkey=CompressedPubkey(registration.auth_pubkey),
        encrypted_envelope=registration.envelope,
        enclave_key_epoch=registration.enclave_key_epoch,
    )

    async def checkpoint(session) -> None:  # type: ignore[no-untyped-def]
        await lc.store.set_documents(c.id, {"signer_session": dict(session.state)})

    try:
        await lc.required_signer.register_participant(session_of(c), participant, checkpoint)
    except TransientError:
        if raise_errors:
            raise
        return False
    except (RegistrationConflictError, SignerRejectedError, ValidationError) as exc:
        log.warning("registration of ticket %s refused: %s", ticket.id, exc)
        await lc.store.mark_registration_forwarded(ticket.id, None, str(exc))
        if raise_errors:
            if isinstance(exc, RegistrationConflictError):
                raise ConflictError(str(exc)) from None
            raise ValidationError(f"the signing service refused the registration: {exc}") from None
        return False
    except CoordinatorError:
        if raise_errors:
            raise
        return False
    crash_point("after_register:participant")
    await lc.store.mark_registration_forwarded(ticket.id, lc.clock(), None)
    log.info("ticket %s registered with the signing service", ticket.id)
    return True


async def forward_pending(lc: Lifecycle, competition_ids: list[uuid.UUID]) -> None:
    """Retry forwarding every paid ticket's registration not accepted yet (and not refused)."""
    for competition_id in competition_ids:
        for ticket in await lc.store.tickets_of(competition_id):
            registration = ticket.registration
            if (
                ticket.paid_at is not None
                and registration is not None
                and registration.forwarded_at is None
                and registration.error is None
            ):
                await forward(lc, ticket)
