"""A winner's on-chain claim with the player client, on the devnet chain (kernel-validated).

Each step runs :func:`claim_step` the way ``coordinator player claim`` does: it reads the chain,
takes the next possible step, and says what it waits for otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from coordinator.adapters.chain.esplora import EsploraClient
from coordinator.player.claim import Claimant, ClaimState, claim_step, win_transaction
from tests.conftest import free_port
from tests.player.contracts import LocalCompetition, build_competition
from tests.support.chain import ChainHandle, running_chain
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.contract import EXPIRY, Outcome, Spend, SpendError, WinCondition
from ticketdlc.crypto.secp import Point

DELTA = 3


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


@pytest.fixture
async def esplora(chain: ChainHandle) -> AsyncIterator[EsploraClient]:
    async with EsploraClient(chain.url) as client:
        yield client


def claimant(comp: LocalCompetition, index: int, fee_rate: int = 3) -> Claimant:
    destination = p2tr_script(Point.from_secret(10_000 + index).xonly())
    return Claimant(index, comp.keys[index].secret, comp.tickets[index], destination, fee_rate)


async def run_until(
    esplora: EsploraClient,
    chain: ChainHandle,
    comp: LocalCompetition,
    who: Claimant,
    attestation: int | None,
    max_blocks: int = 30,
) -> list[ClaimState]:
    """Step the claim, mining one block whenever it waits, until it is finished."""
    states = []
    for _ in range(max_blocks):
        progress = await claim_step(esplora, comp.signed, who, attestation)
        states.append(progress.state)
        if progress.finished:
            return states
        chain.mine(1)
    raise AssertionError(f"claim did not finish: {states}")


@pytest.mark.parametrize("anchor", [None, 240], ids=["no-anchor", "anchor"])
async def test_winner_claims_from_attestation_to_its_own_address(
    chain: ChainHandle, esplora: EsploraClient, anchor: int | None
) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA, anchor_sats=anchor)
    ranking = (2,)
    attestation = comp.attestation(ranking)
    who = claimant(comp, 2, fee_rate=4)

    first = await claim_step(esplora, comp.signed, who, attestation)
    assert first.state is ClaimState.BROADCAST and first.outcome == Outcome.attestation(
        comp.outcome_index(ranking)
    )
    assert first.txid == comp.signed.dlc.outcome_txs[first.outcome].txid_hex()
    # Unconfirmed: it waits, and does not broadcast the split early.
    waiting = await claim_step(esplora, comp.signed, who, attestation)
    assert waiting.state is ClaimState.WAITING
    chain.mine(1)
    early = await claim_step(esplora, comp.signed, who, attestation)
    assert early.state is ClaimState.WAITING and early.ready_at_height is not None
    states = await run_until(esplora, chain, comp, who, attestation)
    assert states.count(ClaimState.BROADCAST) == 2  # the split, then the win transaction
    assert states[-1] is ClaimState.CLAIMED

    # The money is at the player's address: its split output less the fee it chose.
    win = WinCondition(first.outcome, 2)
    split_txid = comp.signed.dlc.split_txs[first.outcome].txid_hex()
    spend = await esplora.output_spend(split_txid, comp.signed.dlc.split_output_index(win))
    assert spend is not None and spend.spent and spend.txid is not None
    raw = await esplora.raw_transaction(spend.txid)
    assert raw is not None
    win_tx = Transaction.parse(raw)
    _, prevout = comp.signed.spend_input(Spend.SPLIT_WIN, win)
    assert win_tx.outputs == (TxOut(win_tx.outputs[0].value, who.destination_script),)
    fee = prevout.value - win_tx.outputs[0].value
    assert fee == -(-4 * win_tx.weight() // 4)  # exactly the chosen 4 sat/vB on its vsize
    # Running it again changes nothing.
    again = await claim_step(esplora, comp.signed, who, attestation)
    assert again.state is ClaimState.CLAIMED and again.txid == spend.txid


async def test_claim_continues_from_an_outcome_someone_else_broadcast(
    chain: ChainHandle, esplora: EsploraClient
) -> None:
    comp = build_competition(chain, 3, 2, delta=DELTA)
    ranking = (1, 0)
    attestation = comp.attestation(ranking)
    outcome_tx = comp.signed.signed_outcome_tx(comp.outcome_index(ranking), attestation)
    assert chain.broadcast(outcome_tx.serialize()).accepted
    chain.mine(1)
    # The second-placed winner claims without knowing the attestation itself.
    states = await run_until(esplora, chain, comp, claimant(comp, 0), None)
    assert states[-1] is ClaimState.CLAIMED
    # The first-placed one claims from the split the other broadcast.
    states = await run_until(esplora, chain, comp, claimant(comp, 1), None)
    assert states[-2:] == [ClaimState.BROADCAST, ClaimState.CLAIMED]


async def test_win_in_the_mempool_is_waiting_not_broadcast_again(
    chain: ChainHandle, esplora: EsploraClient
) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA)
    attestation = comp.attestation((0,))
    who = claimant(comp, 0)
    progress = await claim_step(esplora, comp.signed, who, attestation)
    broadcasts = []
    for _ in range(30):  # mine until the win transaction has just been broadcast
        if progress.state is ClaimState.BROADCAST:
            broadcasts.append(progress.txid)
            if len(broadcasts) == 3:  # outcome, split, win
                break
        chain.mine(1)
        progress = await claim_step(esplora, comp.signed, who, attestation)
    assert len(broadcasts) == 3, broadcasts
    # Polled again before a block: it waits for the same transaction, and says so once.
    again = await claim_step(esplora, comp.signed, who, attestation)
    assert again.state is ClaimState.WAITING and again.txid == broadcasts[-1]
    assert again.detail == "the win transaction is in the mempool"
    chain.mine(1)
    done = await claim_step(esplora, comp.signed, who, attestation)
    assert done.state is ClaimState.CLAIMED and done.txid == broadcasts[-1]


async def test_loser_and_wrong_ticket(chain: ChainHandle, esplora: EsploraClient) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA)
    attestation = comp.attestation((0,))
    loser = await run_until(esplora, chain, comp, claimant(comp, 1), attestation)
    assert loser[-1] is ClaimState.NOTHING_TO_CLAIM
    bad = claimant(comp, 0)
    bad = Claimant(bad.player_index, bad.entry_secret, comp.tickets[1], bad.destination_script, 2)
    with pytest.raises(SpendError, match="ticket preimage"):
        await claim_step(esplora, comp.signed, bad, attestation)


async def test_expiry_claim_without_attestation(chain: ChainHandle, esplora: EsploraClient) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA, expiry_blocks=6)
    who = claimant(comp, 1)
    first = await claim_step(esplora, comp.signed, who, None)
    assert first.state is ClaimState.WAITING and first.ready_at_height == comp.expiry + 1
    states = await run_until(esplora, chain, comp, who, None)
    assert states[-1] is ClaimState.CLAIMED
    funding = comp.signed.dlc.funding_outpoint
    spend = await esplora.output_spend(funding.txid_hex, funding.vout)
    assert spend is not None and spend.txid == comp.signed.dlc.outcome_txs[EXPIRY].txid_hex()


async def test_output_sold_back_is_reported_taken(
    chain: ChainHandle, esplora: EsploraClient
) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA)
    ranking = (0,)
    attestation = comp.attestation(ranking)
    who = claimant(comp, 0)
    states = []
    while True:  # up to the split transaction, mined
        progress = await claim_step(esplora, comp.signed, who, attestation)
        states.append(progress)
        if progress.state is ClaimState.WAITING and progress.detail.startswith("the win"):
            break
        chain.mine(1)
    # The player sold its payout back over Lightning: the market maker sweeps with the preimage.
    win = WinCondition(Outcome.attestation(comp.outcome_index(ranking)), 0)
    txin, prevout = comp.signed.spend_input(Spend.SPLIT_SELLBACK, win)
    sink = p2tr_script(Point.from_secret(777).xonly())
    sweep = Transaction(2, [txin], [TxOut(prevout.value - 1000, sink)], 0)
    sweep = comp.signed.sign_spend(
        Spend.SPLIT_SELLBACK,
        win,
        sweep,
        0,
        [prevout],
        preimage=comp.keys[0].payout_preimage,
        mm_secret=comp.mm_secret,
    )
    assert chain.broadcast(sweep.serialize()).accepted
    taken = await claim_step(esplora, comp.signed, who, attestation)
    assert taken.state is ClaimState.TAKEN and taken.txid == sweep.txid_hex()


def test_fee_that_eats_the_output_is_refused(chain: ChainHandle) -> None:
    comp = build_competition(chain, 3, 1, delta=DELTA, funding_value=20_000)
    win = WinCondition(Outcome.attestation(0), comp.space.ranking(0)[0])
    who = claimant(comp, win.player_index, fee_rate=500)
    with pytest.raises(SpendError, match="lower fee rate"):
        win_transaction(comp.signed, win, who)
