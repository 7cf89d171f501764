"""Contracts signed through the devnet gateway settle on the devnet chain (kernel-validated)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.domain.keys import CoordinatorKeys
from tests.conftest import free_port
from tests.dlc.onchain import FEE, accept, reject
from tests.signer.conftest import (
    CheckpointStore,
    Competition,
    make_signer,
    new_competition,
    register_players,
    wait_keygen,
)
from tests.support.chain import ChainHandle, TaprootKey, running_chain
from tests.support.signer import SignerHandle
from ticketdlc.bitcoin.tx import Transaction, TxIn
from ticketdlc.competition.attestation import attest
from ticketdlc.contract import EXPIRY, Outcome, SignedContract, WinCondition
from ticketdlc.contract.build import funding_output

pytestmark = pytest.mark.slow

DELTA = 6
NON_FINAL = ("non-final", "bad-txns-nonfinal, non-final transaction")
NON_BIP68_FINAL = ("non-BIP68-final", "bad-txns-nonfinal, contains a non-BIP68-final transaction")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


async def fund_and_sign_through_gateway(
    chain: ChainHandle,
    gateway: SignerHandle,
    keys: CoordinatorKeys,
    store: CheckpointStore,
    competition: Competition,
    expiry: int,
) -> SignedContract:
    """Keygen, registration, funding outpoint, signing through the gateway, then funding."""
    signer = make_signer(gateway, keys)
    session = await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    session = await register_players(signer, session, competition, store, gateway.trust())
    await wait_keygen(signer, session)
    params = competition.params(expiry=expiry, delta=DELTA)
    wallet = TaprootKey(secrets.token_bytes(32))
    utxo = chain.faucet(wallet.script_pubkey, params.funding_value + FEE)
    funding_tx = Transaction(2, [TxIn(utxo.outpoint)], [funding_output(params)], 0)
    dlc = competition.dlc(funding_tx.outpoint(0), expiry=expiry, delta=DELTA)
    signatures = await signer.sign_contract(session, dlc, store.checkpoint)
    await signer.aclose()
    signed = SignedContract.verified(dlc, signatures)
    accept(chain, wallet.sign(funding_tx, [utxo.txout]))
    return signed


async def test_ten_entries_outcome_and_split_on_chain(
    chain: ChainHandle, gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    competition = new_competition(keys, 10, 3)
    signed = await fund_and_sign_through_gateway(
        chain, gateway, keys, store, competition, chain.tip_height() + 500
    )
    space = competition.space
    index = space.index_of((7, 2, 4))
    attestation = attest(competition.oracle_secret, competition.nonce_secret, space.message(index))
    assert signed.outcome_of_attestation(attestation) == Outcome.attestation(index)
    accept(chain, signed.signed_outcome_tx(index, attestation))
    win = WinCondition(Outcome.attestation(index), 2)
    split = signed.signed_split_tx(win, competition.ticket_preimage(2))
    reject(chain, split, *NON_BIP68_FINAL)
    chain.mine(DELTA - 1)
    accept(chain, split)


async def test_five_entries_expiry_and_expiry_split_on_chain(
    chain: ChainHandle, gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    competition = new_competition(keys, 5, 3)
    expiry = chain.tip_height() + 8
    signed = await fund_and_sign_through_gateway(chain, gateway, keys, store, competition, expiry)
    expiry_tx = signed.expiry_tx()
    assert expiry_tx is not None
    reject(chain, expiry_tx, *NON_FINAL)
    chain.mine(expiry - 1 - chain.tip_height())
    reject(chain, expiry_tx, *NON_FINAL)
    chain.mine(1)
    accept(chain, expiry_tx)
    split = signed.signed_split_tx(WinCondition(EXPIRY, 4), competition.ticket_preimage(4))
    reject(chain, split, *NON_BIP68_FINAL)
    chain.mine(DELTA - 1)
    accept(chain, split)
