"""Contracts that cannot fit the gateway's limits are refused before any session is opened;
subsets are one per distinct winner set and always hold the coordinator."""

from __future__ import annotations

import dataclasses
import math

import pytest

from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import SignerCapacityError
from coordinator_core.keymeld.limits import GatewayLimits
from tests.signer.conftest import (
    FUNDING,
    CheckpointStore,
    make_signer,
    new_competition,
    register_players,
    wait_keygen,
)
from tests.support.signer import SignerHandle
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.contract import SignedContract


def test_plans_count_subsets_by_participant_set(
    gateway: SignerHandle, keys: CoordinatorKeys
) -> None:
    signer = make_signer(gateway, keys)
    plan = signer.plan(20, 2)
    assert (plan.participants, plan.subsets, plan.items, plan.signing_sessions) == (
        21,
        math.comb(20, 2),
        (380 + 2) + (2 * 380 + 2 * 20),
        12,
    )
    # Upstream declares P(7,3) + 1 = 211 subsets and is refused at K1; C(7,3) = 35 fits.
    assert signer.plan(7, 3).subsets == 35
    with pytest.raises(SignerCapacityError, match=r"subsets: 2300 > 200 \(max_subsets\)"):
        signer.plan(25, 3)
    with pytest.raises(SignerCapacityError, match=r"signing sessions: 553 > 100"):
        make_signer(gateway, keys, GatewayLimits(max_subsets=5000)).plan(25, 3)


async def test_a_contract_too_large_is_refused_before_any_session_is_opened(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 21, 2)  # C(21,2) = 210 subsets
    before = gateway.stats()["keygen_sessions"]
    with pytest.raises(SignerCapacityError, match=r"subsets: 210 > 200 \(max_subsets\)"):
        await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    assert gateway.stats()["keygen_sessions"] == before and store.writes == 0
    await signer.aclose()


async def test_the_signing_quota_is_counted_before_signing(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    limits = GatewayLimits(max_signing_sessions=3)  # (5,3): 252 items, 3 batches of 100
    signer = make_signer(gateway, keys, limits)
    competition = new_competition(keys, 5, 3)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    state = signer._state(session)
    assert state.manifest.manifest.max_signing_sessions == 3
    subsets = state.manifest.manifest.subset_definitions
    assert len(subsets) == math.comb(5, 3)
    assert all(s.participants[0] == state.coordinator_user_id for s in subsets)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    dlc = competition.dlc()
    before = gateway.stats()["signing_sessions"]
    SignedContract.verified(dlc, await signer.sign_contract(session, dlc, store.checkpoint))
    assert gateway.stats()["signing_sessions"] == before + 3
    session = store.load(competition.competition_id)
    other = competition.dlc(OutPoint(FUNDING.txid, 7))
    with pytest.raises(SignerCapacityError, match=r"3 needed, 0 left of the keygen quota 3"):
        await signer.sign_contract(session, other, store.checkpoint)
    assert gateway.stats()["signing_sessions"] == before + 3
    await signer.aclose()


async def test_a_contract_of_other_players_is_refused(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    signer = make_signer(gateway, keys)
    competition = new_competition(keys, 3, 1)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    stranger = new_competition(keys, 3, 1)
    stranger.mm_secret = competition.mm_secret
    with pytest.raises(Exception, match="players are not the keygen's participants"):
        await signer.sign_contract(session, stranger.dlc(), store.checkpoint)
    await signer.aclose()


async def test_each_winner_set_once_still_reserves_the_quota_the_contract_needs(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    """The lifecycle declares each distinct winner set once (C(n,k) + 1 sets, not one per
    outcome): the keygen still reserves the configured quota, and the contract's batches fit."""
    limits = GatewayLimits(max_batch_items=40, max_signing_sessions=12)  # 252 items: 7 batches
    signer = make_signer(gateway, keys, limits)
    competition = new_competition(keys, 5, 3)
    distinct = list(dict.fromkeys(competition.winner_sets()))
    assert len(distinct) == math.comb(5, 3) + 1
    request = competition.keygen_request()
    request = dataclasses.replace(request, winner_sets=distinct)
    session = await signer.open_keygen(request, store.checkpoint)
    assert signer._state(session).manifest.manifest.max_signing_sessions == 12
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    dlc = competition.dlc()
    assert signer.plan(5, 3).signing_sessions == 7
    before = gateway.stats()["signing_sessions"]
    SignedContract.verified(dlc, await signer.sign_contract(session, dlc, store.checkpoint))
    assert gateway.stats()["signing_sessions"] - before == 7
    state = signer._state(store.load(competition.competition_id))
    assert state.signing is not None
    assert sorted(b.count for b in state.signing.batches) == [36] * 7  # evenly filled
    await signer.aclose()
