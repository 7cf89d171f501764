"""Anchored competition contracts of 5 and 10 entries (3 places) on the devnet chain.

Every outcome, expiry and split transaction ends with the pay-to-anchor output, pays the
contract's fee rate for its size and passes the kernel's script checks. Then, with a fee spike
above the pre-signed rate (the mempool's and the miner's minimum raised), a ranked outcome and
its split, and the expiry transaction and its split, confirm only because a CPFP child pays
for them as a package; a split's child is replaced by one paying more, and a cheaper one is
refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator_core.script_check import first_invalid_input
from tests.conftest import free_port
from tests.dlc.conftest import Competition, make_competition
from tests.support.chain import ChainHandle, TaprootKey, Utxo, running_chain, sign_cpfp_child
from ticketdlc.bitcoin.anchor import anchor_output
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, predict_weight
from ticketdlc.bitcoin.tx import Transaction, TxIn
from ticketdlc.competition.attestation import attest
from ticketdlc.contract import (
    DEFAULT_ANCHOR,
    EXPIRY,
    CpfpFundingInput,
    Outcome,
    SignedContract,
    TicketedDLC,
    WinCondition,
    presigned_tx_fee,
    sign_contract_locally,
)
from ticketdlc.contract.build import fee_for_weight, funding_output

pytestmark = pytest.mark.slow

DELTA = 6  # the competition fixture's Δ
PRESIGNED_RATE = 2500  # sat/kwu: 10 sat/vB, the fixture's fee rate
SPIKE = 25  # sat/vB, the fee floor during the spike
SIZES = [(5, 3), (10, 3)]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


def fund(chain: ChainHandle, comp: Competition) -> SignedContract:
    """Fund the contract from a faucet coin, sign it (every key is local), confirm funding."""
    payer = TaprootKey(secrets.token_bytes(32))
    utxo = chain.faucet(payer.script_pubkey, comp.params.funding_value + 2_000)
    funding_tx = Transaction(2, [TxIn(utxo.outpoint)], [funding_output(comp.params)], 0)
    dlc = TicketedDLC.new(comp.params, funding_tx.outpoint(0))
    signed = sign_contract_locally(dlc, comp.party.all_secrets)
    assert chain.broadcast(payer.sign(funding_tx, [utxo.txout]).serialize()).accepted
    chain.mine(1)
    return signed


def settlement_tx(signed: SignedContract, comp: Competition, outcome: Outcome) -> Transaction:
    """The signed outcome transaction of ``outcome`` (the oracle attests it), or expiry's."""
    if outcome.is_expiry:
        tx = signed.expiry_tx()
        assert tx is not None
        return tx
    assert outcome.index is not None
    attestation = attest(comp.oracle_secret, comp.nonce_secret, comp.space.message(outcome.index))
    return signed.signed_outcome_tx(outcome.index, attestation)


def split_tx(signed: SignedContract, comp: Competition, outcome: Outcome) -> Transaction:
    """The split transaction of ``outcome``, published with its first winner's ticket."""
    winner = signed.params.winners(outcome)[0]
    return signed.signed_split_tx(WinCondition(outcome, winner), comp.party.tickets[winner])


def check_every_transaction(signed: SignedContract, comp: Competition) -> int:
    """Anchor last, fees by the contract's rules, kernel script checks pass."""
    dlc = signed.dlc
    funding = dlc.funding_output
    for outcome in dlc.outcome_txs:
        outcome_tx = settlement_tx(signed, comp, outcome)
        assert outcome_tx.outputs[-1] == anchor_output(240)
        assert outcome_tx.weight() == 496
        assert signed.presigned_tx_fee(outcome_tx) == fee_for_weight(PRESIGNED_RATE, 496)
        spent = [(funding.script_pubkey, funding.value)]
        assert first_invalid_input(outcome_tx.serialize(), spent) is None, outcome
        split = split_tx(signed, comp, outcome)
        assert split.outputs[-1] == anchor_output(240)
        winners = len(dlc.params.winners(outcome))
        assert len(split.outputs) == winners + 1
        # The fee is shared in whole sats per winner over the predicted (worst-case) weight.
        predicted = predict_weight(
            [dlc.outcome_infos[outcome].split_input_weight()], [34] * winners + [4]
        )
        assert split.weight() <= predicted
        fee = presigned_tx_fee(dlc, split)
        share = fee_for_weight(PRESIGNED_RATE, predicted) // winners
        assert fee is not None and fee >= share * winners
        prevout = outcome_tx.outputs[0]
        assert first_invalid_input(split.serialize(), [(prevout.script_pubkey, prevout.value)]) is (
            None
        ), outcome
    return len(dlc.outcome_txs)


class FeePayer:
    """Confirmed coins of the party that bumps (funded before the spike)."""

    def __init__(self, chain: ChainHandle, coins: int) -> None:
        self.chain = chain
        self.key = TaprootKey(secrets.token_bytes(32))
        self.coins = [chain.faucet(self.key.script_pubkey, 60_000) for _ in range(coins)]
        chain.mine(1)

    def child(
        self, signed: SignedContract, parent: Transaction, coin: Utxo, sat_per_vb: int
    ) -> Transaction:
        funding = CpfpFundingInput(coin.outpoint, coin.txout, P2TR_KEY_SPEND)
        child = signed.cpfp_child_template(
            parent, [funding], self.key.script_pubkey, sat_per_vb * 250
        )
        assert child.package_fee * 1000 >= sat_per_vb * 1000 * child.package_vsize
        return sign_cpfp_child(self.key, child)


def bump_and_confirm(
    chain: ChainHandle, signed: SignedContract, parent: Transaction, child: Transaction
) -> None:
    """The parent is refused alone below the floor; with its child it enters and confirms."""
    refused = chain.broadcast(parent.serialize()).reason
    assert refused is not None and refused.startswith("mempool min fee not met"), refused
    answer = chain.submit_package([parent.serialize(), child.serialize()])
    assert answer.message == "success", answer
    chain.mine(1)
    for tx in (parent, child):
        assert chain.tx_status(tx.txid_hex())["confirmed"], tx.txid_hex()


@pytest.mark.parametrize(("entries", "places"), SIZES, ids=["5x3", "10x3"])
def test_anchored_competition_settles_through_a_fee_spike(
    chain: ChainHandle, entries: int, places: int
) -> None:
    ranked = make_competition(entries, places, anchor=DEFAULT_ANCHOR)
    ranked_contract = fund(chain, ranked)
    assert check_every_transaction(ranked_contract, ranked) == ranked.space.count + 1
    expiry = chain.tip_height() + 4
    expiring = make_competition(entries, places, anchor=DEFAULT_ANCHOR, expiry=expiry)
    expiring_contract = fund(chain, expiring)
    payer = FeePayer(chain, 6)
    chain.set_min_fee_rate(SPIKE)
    try:
        # A ranked outcome, then its split Δ blocks later; the split's child is replaced.
        outcome = Outcome.attestation(0)
        assert len(ranked_contract.params.winners(outcome)) == places
        parent = settlement_tx(ranked_contract, ranked, outcome)
        coins = iter(payer.coins)
        bump_and_confirm(
            chain, ranked_contract, parent, payer.child(ranked_contract, parent, next(coins), 30)
        )
        chain.mine(DELTA - 1)
        split = split_tx(ranked_contract, ranked, outcome)
        coin = next(coins)
        first = payer.child(ranked_contract, split, coin, 30)
        refused = chain.broadcast(split.serialize()).reason
        assert refused is not None and refused.startswith("mempool min fee not met")
        assert chain.submit_package([split.serialize(), first.serialize()]).message == "success"
        higher = payer.child(ranked_contract, split, coin, 45)
        assert chain.broadcast(higher.serialize()).accepted  # replaces the first child
        assert first.txid_hex() not in chain.mempool_txids()
        lower = payer.child(ranked_contract, split, coin, 35)
        reason = chain.broadcast(lower.serialize()).reason
        assert reason is not None and reason.startswith("insufficient fee, rejecting replacement")
        chain.mine(1)
        for tx in (split, higher):
            assert chain.tx_status(tx.txid_hex())["confirmed"]

        # The expiry transaction once its locktime passes, then its split.
        while chain.tip_height() < expiry:
            chain.mine(1)
        expiry_tx = settlement_tx(expiring_contract, expiring, EXPIRY)
        bump_and_confirm(
            chain,
            expiring_contract,
            expiry_tx,
            payer.child(expiring_contract, expiry_tx, next(coins), 30),
        )
        chain.mine(DELTA - 1)
        expiry_split = split_tx(expiring_contract, expiring, EXPIRY)
        assert len(expiry_split.outputs) == entries + 1
        bump_and_confirm(
            chain,
            expiring_contract,
            expiry_split,
            payer.child(expiring_contract, expiry_split, next(coins), 30),
        )
    finally:
        chain.set_min_fee_rate(0)
