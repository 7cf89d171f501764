"""Public JSON API of competitions, tickets, entries, contracts and payouts (``/api/v1``).

Routes and shapes follow the upstream coordinator (§4.1, §4.3) so its clients work unchanged;
lists page as coordinator-v2 §6.1 (``limit``, ``cursor`` from ``X-Next-Cursor``, ``status``).
Every route that changes anything, or shows a player its own data, is NIP-98 authenticated.
Unknown ids are 404; refused requests change nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response

from coordinator.app.auth import NostrCaller, nostr_caller
from coordinator.app.competitions import entries as entry_service
from coordinator.app.competitions import registration as registration_service
from coordinator.app.competitions.payouts import PayoutRequest, request_payout
from coordinator.app.competitions.read_cache import Answer
from coordinator.app.competitions.schemas import (
    EntryBody,
    PayoutBody,
    RegistrationBody,
    TicketBody,
    competition_json,
    entry_json,
    payout_json,
    slot_json,
    ticket_json,
)
from coordinator.app.competitions.service import CompetitionServices
from coordinator.app.competitions.tickets import reserve_ticket, ticket_status
from coordinator.domain.competitions.states import State
from coordinator_core.errors import NotFoundError, TransientError, ValidationError
from ticketdlc.crypto.secp import Point

router = APIRouter(prefix="/api/v1", tags=["competitions"])

Caller = Annotated[NostrCaller, Depends(nostr_caller)]
NEXT_CURSOR: Final = "X-Next-Cursor"

OPEN: Final = frozenset({State.CREATED, State.COLLECTING_ENTRIES})
LIVE: Final = frozenset(
    {
        State.ENTRIES_COLLECTED,
        State.EVENT_CREATED,
        State.ENTRIES_SUBMITTED,
        State.CONTRACT_CREATED,
        State.AWAITING_SIGNATURES,
        State.SIGNING_COMPLETE,
        State.FUNDING_BROADCASTED,
        State.FUNDING_CONFIRMED,
        State.FUNDING_SETTLED,
    }
)
AWAITING: Final = frozenset(
    {
        State.AWAITING_ATTESTATION,
        State.ATTESTED,
        State.EXPIRY_BROADCASTED,
        State.OUTCOME_BROADCASTED,
        State.DELTA_BROADCASTED,
    }
)
#: ``status`` filter of the lists: a group name, or one state name.
STATUS_GROUPS: Final[dict[str, frozenset[State] | None]] = {
    "open": OPEN,
    "live": LIVE,
    "awaiting": AWAITING,
    "active": OPEN | LIVE | AWAITING,
    "finished": frozenset({State.COMPLETED}),
    "failed": frozenset({State.FAILED}),
    "cancelled": frozenset({State.CANCELLED}),
    "all": None,
    **{state.value: frozenset({state}) for state in State},
}
MAX_PAGE: Final = 100


def services(request: Request) -> CompetitionServices:
    found: CompetitionServices | None = getattr(request.app.state.runtime, "competitions", None)
    if found is None:
        raise TransientError("competitions are not available")
    return found


Services = Annotated[CompetitionServices, Depends(services)]


def status_filter(status: str | None) -> frozenset[State] | None:
    if status is None:
        return None
    if status not in STATUS_GROUPS:
        raise ValidationError(f"status must be one of {', '.join(sorted(STATUS_GROUPS))}")
    return STATUS_GROUPS[status]


def page_answer(items: list[dict[str, Any]], cursor: str | None) -> Answer:
    """A page of a list as JSON, with the cursor of the next page in its headers."""
    body = json.dumps(items, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Answer(body.encode(), {NEXT_CURSOR: cursor} if cursor else {})


def answered(answer: Answer) -> Response:
    return Response(answer.body, media_type="application/json", headers=answer.headers)


def paged(items: list[dict[str, Any]], cursor: str | None) -> Response:
    return answered(page_answer(items, cursor))


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/competitions")
async def list_competitions(
    svc: Services,
    limit: Limit = 50,
    cursor: uuid.UUID | None = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Newest first. Lists leave out the large documents (announcement, contract
    parameters, signed contract): ask for one competition for those."""
    states = status_filter(status)  # refuses an unknown status before anything is cached
    key = (limit, cursor, status)
    arrived = svc.lc.store.version()
    answer = svc.lists.get(key, arrived)
    if answer is None:
        async with svc.lists.building(key):
            answer = svc.lists.get(key, arrived)  # built meanwhile, by a build begun since
            if answer is None:
                version = svc.lc.store.version()  # read before the build
                page = await svc.lc.store.page(limit, cursor, states)
                answer = page_answer([competition_json(c) for c in page.items], page.next_cursor)
                svc.lists.put(key, version, answer)
    return answered(answer)


@router.get("/competitions/{competition_id}")
async def get_competition(
    competition_id: uuid.UUID, svc: Services, include_signed_contract: bool = True
) -> dict[str, Any]:
    c = await svc.lc.store.load(competition_id, documents=True)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    return competition_json(c, signed_contract=include_signed_contract)


@router.get("/competitions/{competition_id}/leaderboard")
async def get_leaderboard(competition_id: uuid.UUID, svc: Services) -> dict[str, Any]:
    """Entries ranked by the oracle's scoring (picks public from kickoff on)."""
    return await svc.board.rows(competition_id)


@router.post("/competitions/{competition_id}/ticket")
async def reserve(
    competition_id: uuid.UUID, caller: Caller, svc: Services, body: TicketBody | None = None
) -> dict[str, Any]:
    """Reserve a ticket: a hold invoice for the ticket price, and the entry id to enter with."""
    ticket = await reserve_ticket(svc.lc, competition_id, caller.pubkey)
    c = await svc.lc.store.load(competition_id, documents=False)
    assert c is not None
    gateway = svc.lc.settings.keymeld.gateway_url if svc.lc.signer is not None else None
    return ticket_json(ticket, c.terms.ticket_price_sats, gateway)


@router.get("/competitions/{competition_id}/tickets/{ticket_id}/status")
async def get_ticket_status(
    competition_id: uuid.UUID, ticket_id: uuid.UUID, caller: Caller, svc: Services
) -> str:
    """``"Created" | "Reserved" | "Paid" | "Settled" | "Used" | "Expired" | "Cancelled"``."""
    return (await ticket_status(svc.lc, competition_id, ticket_id, caller.pubkey)).value


@router.get("/competitions/{competition_id}/tickets/{ticket_id}/registration")
async def get_registration_slot(
    competition_id: uuid.UUID,
    ticket_id: uuid.UUID,
    caller: Caller,
    svc: Services,
    nonce: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$")],
) -> dict[str, Any]:
    """The ticket's signing slot: registration context and a fresh enclave attestation."""
    slot = await registration_service.registration_slot(
        svc.lc, competition_id, ticket_id, caller.pubkey, bytes.fromhex(nonce)
    )
    return slot_json(slot)


@router.post("/competitions/{competition_id}/tickets/{ticket_id}/registration")
async def post_registration(
    competition_id: uuid.UUID,
    ticket_id: uuid.UUID,
    body: RegistrationBody,
    caller: Caller,
    svc: Services,
) -> dict[str, Any]:
    """Keep the sealed registration; it is forwarded to the signer once the ticket is paid."""
    if body.user_id is not None and body.user_id != ticket_id:
        raise ValidationError("user_id is not this ticket's id")
    registration = await registration_service.register(
        svc.lc,
        competition_id,
        ticket_id,
        caller.pubkey,
        registration_service.RegistrationRequest(
            bytes.fromhex(body.public_key),
            bytes.fromhex(body.auth_pubkey),
            bytes.fromhex(body.encrypted_envelope),
            body.enclave_key_epoch,
        ),
    )
    return {
        "user_id": str(ticket_id),
        "public_key": registration.public_key.hex(),
        "forwarded": registration.forwarded_at is not None,
    }


@router.post("/entries")
async def submit_entry(body: EntryBody, caller: Caller, svc: Services) -> dict[str, Any]:
    entry = await entry_service.submit_entry(
        svc.lc,
        caller.pubkey,
        entry_service.EntryRequest(
            id=body.id,
            ticket_id=body.ticket_id,
            event_id=body.event_id,
            ephemeral_pubkey=bytes.fromhex(body.ephemeral_pubkey),
            ephemeral_privatekey_encrypted=body.ephemeral_privatekey_encrypted or "",
            payout_hash=bytes.fromhex(body.payout_hash),
            payout_preimage_encrypted=body.payout_preimage_encrypted or "",
            expected_observations=tuple(body.expected_observations),
        ),
    )
    svc.processor.wake()
    return entry_json(entry, [])


@router.get("/entries")
async def list_entries(
    caller: Caller,
    svc: Services,
    limit: Limit = 50,
    cursor: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> Response:
    """The caller's entries, newest first."""
    page = await svc.lc.store.entries_page(caller.pubkey, limit, cursor, event_id)
    items = [entry_json(e, await svc.lc.store.payouts_of_entry(e.id)) for e in page.items]
    return paged(items, page.next_cursor)


@router.get("/competitions/{competition_id}/contract")
async def get_contract(competition_id: uuid.UUID, caller: Caller, svc: Services) -> dict[str, Any]:
    """The contract of a competition the caller entered (upstream ``FundedContract``), plus
    the caller's player index, the signatures its claims need, and its ticket preimage once
    its entry fee was settled."""
    lc = svc.lc
    c = await lc.store.load(competition_id)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    mine = [e for e in await lc.store.entries_of(c.id) if e.owner == caller.pubkey]
    if not mine:
        raise NotFoundError("you have no entry in this competition")
    if c.contract_parameters is None:
        raise NotFoundError("the contract is not yet available")
    ordered = sorted(await lc.store.entries_of(c.id), key=lambda e: e.id.int)
    players = []
    signed = svc.processor.cache
    for entry in mine:
        index = ordered.index(entry)
        signatures = None
        if c.signed_contract is not None:
            contract = await signed.signed(c)
            pruned = contract.pruned_signatures(Point.from_bytes(entry.ephemeral_pubkey))
            signatures = pruned.to_json()
        ticket = await lc.store.ticket(entry.ticket_id)
        preimage = None
        if ticket is not None and ticket.settled_at is not None:
            preimage = lc.ticket_preimage(ticket.id, ticket.sealed_preimage).hex()
        players.append(
            {
                "entry_id": str(entry.id),
                "player_index": index,
                "signatures": signatures,
                "ticket_preimage": preimage,
            }
        )
    return {
        "contract_params": c.contract_parameters,
        "funding_outpoint": c.funding_outpoint,
        "funding_psbt_base64": c.funding_psbt,
        "keymeld": None,
        "players": players,
    }


@router.post("/competitions/{competition_id}/entries/{entry_id}/payout")
async def payout(
    competition_id: uuid.UUID,
    entry_id: uuid.UUID,
    body: PayoutBody,
    caller: Caller,
    svc: Services,
    response: Response,
) -> dict[str, Any]:
    """Sell the entry's on-chain claim back for a Lightning payment of its share."""
    result = await request_payout(
        svc.lc,
        svc.sender,
        caller.pubkey,
        competition_id,
        entry_id,
        PayoutRequest(
            body.ticket_id,
            bytes.fromhex(body.payout_preimage),
            bytes.fromhex(body.ephemeral_private_key),
            body.ln_invoice,
        ),
    )
    svc.processor.wake()
    return payout_json(result)
