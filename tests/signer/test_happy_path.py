"""Keygen with n + 1 participants, delegated registration and whole-contract signing over HTTP."""

from __future__ import annotations

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
    session = await register_players(signer, session, competition, store, gateway.trust())
    result = await wait_keygen(signer, session)
    dlc = competition.dlc()
    assert result.aggregate_public_key == dlc.funding.keys.aggregate.to_bytes()
    signatures = await signer.sign_contract(session, dlc, store.checkpoint)
    signed = SignedContract.verified(dlc, signatures)
    assert len(signed.signatures.split_tx_signatures) == 190
    await signer.aclose()
