"""A coordinator restarted between keygen and signing, and in the middle of signing, completes
with the same identity, without spending signing-session quota again and without nonce reuse;
a gateway restarted mid-signing reruns the lost rounds with fresh nonces."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest

from coordinator.adapters.signer.keymeld import KeymeldSigner
from coordinator.adapters.signer.state import KeymeldState
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.keymeld.limits import GatewayLimits
from tests.signer.conftest import (
    CheckpointStore,
    make_signer,
    new_competition,
    register_players,
    wait_keygen,
)
from tests.support.signer import SignerHandle
from ticketdlc.contract import SignedContract

SMALL_BATCHES = GatewayLimits(max_batch_items=20)


def restarted(gateway: SignerHandle, keys: CoordinatorKeys, concurrency: int = 1) -> KeymeldSigner:
    """A new coordinator process: same seed, nothing in memory."""
    signer = make_signer(gateway, keys, SMALL_BATCHES)
    signer.config = dataclasses.replace(signer.config, max_concurrent_batches=concurrency)
    return signer


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_restarts_between_keygen_and_signing_and_mid_signing(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    initial = gateway.stats()
    competition = new_competition(keys, 5, 3)
    first = restarted(gateway, keys)
    session = await first.open_keygen(competition.keygen_request(), store.checkpoint)
    identity = first._state(session).coordinator_user_id
    session = await register_players(
        first, session, competition, store, gateway.trust(), slice(0, 2)
    )
    await first.aclose()

    # Restart while players register: the rest register through a new process.
    second = restarted(gateway, keys)
    session = store.load(competition.competition_id)
    assert second.user_id == identity
    session = await register_players(
        second, session, competition, store, gateway.trust(), slice(2, None)
    )
    await wait_keygen(second, session)
    await second.aclose()

    # Restart between keygen and signing, then again in the middle of signing.
    dlc = competition.dlc()
    batches = -(-len(dlc.signing_plan().entries) // SMALL_BATCHES.max_batch_items)
    third = restarted(gateway, keys)
    task = asyncio.create_task(
        third.sign_contract(store.load(competition.competition_id), dlc, store.checkpoint)
    )
    await wait_for(lambda: gateway.stats()["signing_sessions"] - initial["signing_sessions"] >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await third.aclose()
    started = gateway.stats()["signing_sessions"] - initial["signing_sessions"]
    assert 3 <= started < batches

    fourth = restarted(gateway, keys, concurrency=4)
    session = store.load(competition.competition_id)
    signatures = await fourth.sign_contract(session, dlc, store.checkpoint)
    SignedContract.verified(dlc, signatures)
    state = KeymeldState.unseal(store.load(competition.competition_id).state, fourth._at_rest)
    assert state.coordinator_user_id == identity == fourth.user_id
    # A batch persisted as sent but cut off before the gateway took it is replaced (counted
    # once more by the coordinator, never by the gateway): at most one, with one batch at a time.
    assert batches <= state.signing_sessions_used <= batches + 1
    stats = gateway.stats()
    assert stats["signing_sessions"] - initial["signing_sessions"] == batches  # none twice
    assert all(e["nonce_reuse"] == 0 for e in stats["enclaves"])
    finals = [sig[:32] for sig in signatures.split_tx_signatures.values()]
    finals += [sig[1:33] for sig in signatures.outcome_tx_signatures.values()]
    assert len(set(finals)) == len(finals)
    await fourth.aclose()


async def test_a_gateway_restart_mid_signing_reruns_rounds_with_fresh_nonces(
    own_gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    gateway = own_gateway
    competition = new_competition(keys, 4, 2)
    signer = restarted(gateway, keys, concurrency=2)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    dlc = competition.dlc()
    task = asyncio.create_task(signer.sign_contract(session, dlc, store.checkpoint))
    await wait_for(lambda: gateway.stats()["signing_sessions"] >= 1)
    before = {e["enclave_id"]: e["key_epoch"] for e in gateway.stats()["enclaves"]}
    gateway.process.restart()
    signatures = await task
    SignedContract.verified(dlc, signatures)
    stats = gateway.stats()
    assert all(e["key_epoch"] == before[e["enclave_id"]] + 1 for e in stats["enclaves"])
    assert all(e["nonce_reuse"] == 0 for e in stats["enclaves"])
    await signer.aclose()


async def test_batches_lost_at_the_gateway_are_replaced_and_counted(
    own_gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    """Batches created before a coordinator restart and gone from the gateway since (expired,
    cleaned up) are replaced by new sessions, counted against the quota as the gateway counts
    them, instead of being created again under their old ids."""
    gateway = own_gateway
    competition = new_competition(keys, 4, 2)
    first = restarted(gateway, keys)
    first.config = dataclasses.replace(first.config, signing_timeout_secs=3)
    session = await first.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(first, session, competition, store, gateway.trust())
    await wait_keygen(first, session)
    dlc = competition.dlc()
    batches = -(-len(dlc.signing_plan().entries) // SMALL_BATCHES.max_batch_items)
    task = asyncio.create_task(first.sign_contract(session, dlc, store.checkpoint))
    await wait_for(lambda: gateway.stats()["signing_sessions"] >= 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.aclose()
    created = KeymeldState.unseal(store.load(competition.competition_id).state, first._at_rest)
    assert created.signing is not None
    lost = sum(b.created for b in created.signing.batches)
    assert lost >= 1
    await asyncio.sleep(3.5)  # every created session expires; the restarted gateway drops them
    gateway.process.restart()

    second = restarted(gateway, keys, concurrency=4)
    signatures = await second.sign_contract(
        store.load(competition.competition_id), dlc, store.checkpoint
    )
    SignedContract.verified(dlc, signatures)
    state = KeymeldState.unseal(store.load(competition.competition_id).state, second._at_rest)
    # Every session of the first run expired and was dropped; each was replaced and counted.
    assert state.signing_sessions_used == batches + lost
    assert gateway.stats()["signing_sessions"] == batches
    await second.aclose()
