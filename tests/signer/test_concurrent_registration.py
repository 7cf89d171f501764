"""Players registering at once into one keygen session: every registration survives in the
checkpointed state, the roster verifies and the contract signs, also from a restarted process."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from coordinator.adapters.signer.state import KeymeldState
from coordinator.app.competitions.kickoff import session_of
from coordinator.app.competitions.registration import (
    RegistrationRequest,
    register,
    registration_slot,
)
from coordinator.app.competitions.tickets import reserve_ticket
from coordinator.domain.competitions.records import Ticket
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import RegistrationConflictError, SignerSession
from coordinator_core.keymeld.attestation import new_challenge
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import Player, World, create
from tests.signer.conftest import (
    CheckpointStore,
    make_signer,
    new_competition,
    registration_of,
    seal_for,
    wait_keygen,
)
from tests.support.signer import SignerHandle
from ticketdlc.contract import SignedContract

PLAYERS = 12


async def test_concurrent_registrations_into_one_keygen(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, PLAYERS, 1)
    await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    # Each request loads the competition before any of the others checkpointed (as the
    # coordinator's registration route does), and the checkpoints of all of them interleave.
    loaded = store.load(competition.competition_id)
    trust = gateway.trust()

    async def slow_checkpoint(session: SignerSession) -> None:
        await asyncio.sleep(0.01)
        await store.checkpoint(session)

    async def register(ticket_id: str, secret: bytes) -> None:
        slot = await signer.registration_slot(loaded, ticket_id, new_challenge())
        sealed = seal_for(slot.to_json(), secret, trust)
        await signer.register_participant(loaded, registration_of(sealed), slow_checkpoint)

    players = list(zip(competition.ticket_ids, competition.player_secrets, strict=True))
    await asyncio.gather(*(register(t, s) for t, s in players))

    stored = store.load(competition.competition_id)
    state = KeymeldState.unseal(stored.state, signer._at_rest)
    assert state.accepted == {state.coordinator_user_id, *competition.ticket_ids}
    assert set(state.registrations) == {state.coordinator_user_id, *competition.ticket_ids}
    result = await wait_keygen(signer, stored)
    assert len(result.participant_keys) == PLAYERS + 1
    await signer.aclose()

    # A new process has nothing in memory: the stored state alone verifies the roster.
    restarted = make_signer(gateway, keys)
    session = store.load(competition.competition_id)
    result = await wait_keygen(restarted, session)
    dlc = competition.dlc()
    assert result.aggregate_public_key == dlc.funding.keys.aggregate.to_bytes()
    SignedContract.verified(dlc, await restarted.sign_contract(session, dlc, store.checkpoint))
    await restarted.aclose()


async def test_concurrent_identical_retries_and_a_conflict(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    """Two identical requests at once both succeed; a different key for the slot is a 409."""
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 3, 1)
    await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    loaded = store.load(competition.competition_id)
    ticket_id, secret = competition.ticket_ids[0], competition.player_secrets[0]
    slot = await signer.registration_slot(loaded, ticket_id, new_challenge())
    registration = registration_of(seal_for(slot.to_json(), secret, gateway.trust()))
    await asyncio.gather(
        *(signer.register_participant(loaded, registration, store.checkpoint) for _ in range(4))
    )
    other = registration_of(
        seal_for(slot.to_json(), competition.player_secrets[1], gateway.trust())
    )
    with pytest.raises(RegistrationConflictError):
        await signer.register_participant(loaded, other, store.checkpoint)
    state = KeymeldState.unseal(store.load(competition.competition_id).state, signer._at_rest)
    assert state.accepted == {state.coordinator_user_id, ticket_id}
    await signer.aclose()


async def test_paid_players_registering_at_once_through_the_lifecycle(world: World) -> None:
    """Ten players who paid register at the same moment: each request forwards its
    registration at once (having loaded the competition before the others' checkpoints into
    competitions.db), and the keygen completes with every one of them."""
    lc = world.lc
    terms = make_terms(10, 1, now=world.now())
    await create(world, terms)
    players = await asyncio.gather(*(world.player() for _ in range(10)))
    tickets = [await reserve_ticket(lc, terms.id, p.pubkey) for p in players]
    for player, ticket in zip(players, tickets, strict=True):
        assert ticket.payment_request is not None
        await player.lightning.send_payment(
            ticket.payment_request, amount_msat=None, fee_limit_msat=100_000, timeout_secs=1
        )
    await world.services.invoices.poll()
    trust = world.devnet.signer.trust()

    async def register_key(player: Player, ticket: Ticket) -> None:
        slot = await registration_slot(lc, terms.id, ticket.id, player.pubkey, new_challenge())
        sealed = seal_for(slot.to_json(), secrets.token_bytes(32), trust)
        request = RegistrationRequest(
            sealed.public_key, sealed.auth_pubkey, sealed.encrypted_envelope, None
        )
        registration = await register(lc, terms.id, ticket.id, player.pubkey, request)
        assert registration.forwarded_at is not None and registration.error is None

    await asyncio.gather(*(register_key(p, t) for p, t in zip(players, tickets, strict=True)))
    competition = await lc.store.load(terms.id)
    assert competition is not None
    result = await wait_keygen(lc.required_signer, session_of(competition))  # type: ignore[arg-type]
    assert set(result.participant_keys) >= {str(t.id) for t in tickets}
    assert len(result.participant_keys) == 10 + 1
