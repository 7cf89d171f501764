"""Keygen with n + 1 participants, delegated registration and whole-contract signing over HTTP."""

from __future__ import annotations

import dataclasses

from coordinator.domain.keys import CoordinatorKeys
from tests.signer.conftest import (
    CheckpointStore,
    make_signer,
    new_competition,
    register_players,
    wait_keygen,
)
from tests.support.signer import SignerHandle
from ticketdlc.contract import SignedContract


async def test_five_entries_three_places(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 5, 3)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    state = signer._state(session)
    # Two enclaves, each with its own key, hold the participants; the coordinator sorts lowest.
    recipients = state.recipient_authorization
    assert recipients is not None
    assert len(set(recipients.user_enclave_assignments.values())) == 2
    assert len(set(recipients.recipient_public_keys.values())) == 2
    assert state.coordinator_user_id < min(competition.ticket_ids)
    session = await register_players(signer, session, competition, store, gateway.trust())
    result = await wait_keygen(signer, session)
    assert len(result.participant_keys) == 5 + 1
    dlc = competition.dlc()
    assert result.aggregate_public_key == dlc.funding.keys.aggregate.to_bytes()
    before = gateway.stats()["signing_sessions"]
    signatures = await signer.sign_contract(session, dlc, store.checkpoint)
    signed = SignedContract.verified(dlc, signatures)
    assert len(signed.signatures.outcome_tx_signatures) == 61
    assert len(signed.signatures.split_tx_signatures) == 190
    assert signed.signatures.expiry_tx_signature is not None
    assert gateway.stats()["signing_sessions"] - before == 3  # 252 items, 100 per batch
    await signer.aclose()


async def test_each_signing_session_signs_under_its_own_adaptor_points(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    """Two contracts of one keygen with other oracle nonces: every adaptor signature of the
    second verifies under its own points (nothing the gateway derived or opened for the first
    session's items is used for the second's)."""
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 3, 2)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    first = competition.dlc()
    SignedContract.verified(first, await signer.sign_contract(session, first, store.checkpoint))
    session = store.load(competition.competition_id)
    other = dataclasses.replace(competition, nonce_secret=competition.nonce_secret + 1).dlc()
    first_points = {e.adaptor for e in first.signing_plan().entries if e.adaptor is not None}
    assert not first_points & {e.adaptor for e in other.signing_plan().entries}
    signatures = await signer.sign_contract(session, other, store.checkpoint)
    SignedContract.verified(other, signatures)
    await signer.aclose()
