"""Fee bumping by CPFP in the settlement, on the devnet (chain, Lightning, oracle, signing
gateway) with the coordinator's lifecycle, wallet and store.

Fees spike after funding: the devnet's estimates and its miner's minimum fee rate go above
the rate the contract was signed at, so a settlement transaction can only be mined with a child
paying for it. The coordinator's fee bumper (run by the processor after each competition's
steps) builds that child from its wallet's coins, within the competition's budget.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from coordinator.adapters.sqlite.cpfp import SqliteCpfpStore
from coordinator.app.competitions.fee_bumping import CPFP_BUMPS, FeeBumper
from coordinator.config import CpfpSettings
from coordinator.domain.competitions.records import PayoutStatus, SettlementTx, TxKind
from coordinator.domain.competitions.states import State
from coordinator.domain.fee_bumping import Reason
from coordinator.domain.ports.cpfp import BumpChild, committed_fees
from devnet.chain.chain import DEFAULT_FEE_ESTIMATES
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import (
    Devnet,
    World,
    attest,
    confirmed_at,
    create,
    enter,
    make_world,
    picks,
    run_to,
    sell_back,
    state_of,
    stored_tx,
)
from ticketdlc.bitcoin.anchor import find_anchor
from ticketdlc.bitcoin.tx import Transaction

pytestmark = pytest.mark.slow

BUDGET = 20_000
ENTRY_FEE = 50_000  # a 150 000 sat contract: one child may pay up to 10 %, 15 000 sats
SPIKE = {1: 30.0, 2: 30.0, 6: 25.0, 144: 20.0}  # sat/vB; the contract was signed at 2
MINER_FLOOR = 20  # sat/vB: nothing below is mined
CPFP = CpfpSettings(
    check_interval_secs=0,
    after_blocks=3,
    conf_target=6,
    urgent_conf_target=1,
    urgent_within_blocks=36,
    urgent_within_secs=600,  # the event expires hours after the outcome: not urgent
    max_fee_percent=10,
    budget_sats=BUDGET,
)


@pytest.fixture
def calm_fees(devnet: Devnet) -> Iterator[None]:
    """Every test starts and ends with the devnet's usual fees (it is shared)."""
    devnet.chain.set_min_fee_rate(0)
    devnet.chain.set_fee_estimates(DEFAULT_FEE_ESTIMATES)
    yield
    devnet.chain.set_min_fee_rate(0)
    devnet.chain.set_fee_estimates(DEFAULT_FEE_ESTIMATES)


class Clock:
    """The bumper's monotonic clock, moved on by the test."""

    def __init__(self) -> None:
        self.secs = 0.0

    def __call__(self) -> float:
        return self.secs


@pytest.fixture
async def bumping(tmp_path: Path, devnet: Devnet, calm_fees: None) -> AsyncIterator[World]:
    world = await make_world(tmp_path, devnet, wallet_sats=500_000)
    world.lc.fee_bumper = FeeBumper(world.lc, SqliteCpfpStore(world.db), CPFP, monotonic=Clock())
    yield world
    world.chain.set_package_relay(True)
    await world.close()


def store(world: World) -> SqliteCpfpStore:
    bumper = world.lc.fee_bumper
    assert isinstance(bumper, FeeBumper) and isinstance(bumper.store, SqliteCpfpStore)
    return bumper.store


def spike(world: World, floor: int = MINER_FLOOR, estimates: dict[int, float] = SPIKE,
          mempool: bool = True) -> None:  # fmt: skip
    world.chain.set_fee_estimates(estimates)
    world.chain.set_min_fee_rate(floor, mempool=mempool)


def rate_vb(tx: SettlementTx | BumpChild, fee: int) -> float:
    return fee / Transaction.from_hex(tx.raw_hex).vsize()


def bumps(kind: str, result: str) -> int:
    return CPFP_BUMPS.value(tx=kind, result=result)


async def funded(world: World, entries: int, places: int, choices: list) -> tuple:  # type: ignore[type-arg]
    """A funded competition whose contract pays the devnet's usual 2 sat/vB."""
    terms = make_terms(entries, places, now=world.now(), start_in=dt.timedelta(minutes=30),
                       values=3, locations=("KORD",), entry_fee=ENTRY_FEE, delta=12)  # fmt: skip
    await create(world, terms)
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    return terms, seats


async def confirmed_children(world: World, competition_id: uuid.UUID) -> list[BumpChild]:
    children = await store(world).children_of_competition(competition_id)
    for child in children:
        status = await world.lc.chain.tx_status(child.txid)
        if status is not None and status.confirmed:
            assert status.block_height is not None
            await store(world).mark_child_confirmed(child.txid, status.block_height)
    return [c for c in await store(world).children_of_competition(competition_id)
            if c.confirmed_height is not None]  # fmt: skip


async def test_fee_spike_the_outcome_confirms_because_it_was_bumped_and_raised(
    bumping: World,
) -> None:
    world = bumping
    choices = [picks("KORD", "Over", "Under", "Par"), picks("KORD", "Under", "Over", "Over"),
               picks("KORD", "Under", "Over", "Over")]  # fmt: skip
    terms, seats = await funded(world, 3, 1, choices)
    signed_rate = 2
    spike(world, mempool=False)  # the mempool still takes it; no miner does
    attest(world, terms, 75.0)

    # Without fee bumping, the outcome transaction sits in the mempool.
    bumper, world.lc.fee_bumper = world.lc.fee_bumper, None
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    outcome = await stored_tx(world, terms.id, TxKind.OUTCOME)
    assert outcome is not None
    parent = Transaction.from_hex(outcome.raw_hex)
    parent_fee = 3 * ENTRY_FEE - sum(o.value for o in parent.outputs)
    assert round(parent_fee / parent.vsize()) == signed_rate
    await world.mine(3)
    assert await confirmed_at(world, terms.id, TxKind.OUTCOME) is None

    # The bumper pays for it: a child at the estimate for the target (25 sat/vB).
    world.lc.fee_bumper = bumper
    before = bumps("outcome", "broadcast")
    await world.step()
    (first,) = await store(world).children_of(outcome.txid)
    assert first.reason is Reason.BELOW_ESTIMATE and first.broadcast_at is not None
    assert first.package_rate == 25 * 250
    assert bumps("outcome", "broadcast") == before + 1
    anchor = find_anchor(parent)
    assert anchor is not None
    spend = await world.lc.chain.output_spend(outcome.txid, anchor[0].vout)
    assert spend is not None and spend.txid == first.txid
    await world.step()  # paying the target now: nothing more
    assert len(await store(world).children_of(outcome.txid)) == 1

    # A database restored from before the child was recorded finds it on chain: adopted.
    await world.db.write(lambda conn: conn.execute("DELETE FROM cpfp_children"))
    kept = bumps("outcome", "kept")
    await world.step()
    (adopted,) = await store(world).children_of(outcome.txid)
    assert adopted.txid == first.txid and adopted.reason is Reason.ADOPTED
    assert adopted.fee_sats == first.fee_sats and bumps("outcome", "kept") == kept + 1

    # Fees rise again, above what the child pays: it is replaced by one paying more.
    spike(world, floor=40, estimates={1: 50.0, 6: 45.0, 144: 40.0}, mempool=False)
    await world.mine(1)
    assert await confirmed_at(world, terms.id, TxKind.OUTCOME) is None
    replaced = bumps("outcome", "replaced")
    await world.step()
    children = await store(world).children_of(outcome.txid)
    assert len(children) == 2
    assert bumps("outcome", "replaced") == replaced + 1, CPFP_BUMPS.values
    second = children[-1]
    assert second.package_rate >= first.package_rate * 5 // 4 and second.coins == first.coins
    mempool = set(world.chain.mempool_txids())
    assert second.txid in mempool and first.txid not in mempool

    # Mined only with its child: the parent alone pays far below the miner's floor.
    await world.mine(1)
    height = await confirmed_at(world, terms.id, TxKind.OUTCOME)
    assert height is not None
    block = world.chain.get(f"/block-height/{height}")
    txids = world.chain.get(f"/block/{block}/txids")
    assert outcome.txid in txids and second.txid in txids and first.txid not in txids
    assert rate_vb(outcome, parent_fee) < MINER_FLOOR

    # The competition completes (the winner's payout, then the cooperative close).
    await world.step()
    paid = await sell_back(world, seats[0])
    assert paid.status is PayoutStatus.SUCCEEDED
    await run_to(world, terms.id, State.COMPLETED, mine=True)
    spent = await confirmed_children(world, terms.id)
    assert [c.txid for c in spent] == [second.txid]
    total = committed_fees(await store(world).children_of_competition(terms.id))
    assert total == second.fee_sats <= BUDGET
    print(
        f"\nfee spike: outcome at {signed_rate} sat/vB bumped to 25 then "
        f"{second.package_rate / 250:.1f} sat/vB; bumping cost {total} of {BUDGET} sats"
    )


async def test_split_path_under_a_fee_spike_beats_the_reclaim_timelock(bumping: World) -> None:
    world = bumping
    choices = [picks("KORD", "Over", "Under", "Par"), picks("KORD", "Over", "Under", "Over"),
               picks("KORD", "Under", "Over", "Over")]  # fmt: skip
    terms, seats = await funded(world, 3, 2, choices)
    delta = terms.relative_locktime_block_delta
    spike(world)  # the mempool refuses the pre-signed transactions alone now
    attest(world, terms, 75.0)

    # An Esplora without package relay: the outcome transaction cannot go out, and says why.
    world.chain.set_package_relay(False)
    refused = bumps("outcome", "refused")
    await world.step(2)
    assert await state_of(world, terms.id) is State.ATTESTED
    outcome = await stored_tx(world, terms.id, TxKind.OUTCOME)
    assert outcome is not None and outcome.broadcast_at is None
    (no_relay,) = await store(world).children_of(outcome.txid)
    assert (no_relay.abandon_reason or "").startswith("no package relay: ")
    assert bumps("outcome", "refused") == refused + 1
    competition = await world.lc.store.load(terms.id, documents=False)
    assert competition is not None and competition.errors.errors
    assert "mempool min fee not met" in competition.errors.errors[-1].message

    # With package relay, the outcome transaction goes out with its child as a package.
    world.chain.set_package_relay(True)
    bumper = world.lc.fee_bumper
    assert isinstance(bumper, FeeBumper) and isinstance(bumper._monotonic, Clock)
    bumper._monotonic.secs += 601  # the chain source is asked for package relay again
    world.clock_offset += dt.timedelta(minutes=6)  # past the step's retry backoff
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    # (the same child, built again: its abandoned record is live once more)
    (outcome_child,) = await store(world).children_of(outcome.txid)
    assert outcome_child.txid == no_relay.txid and outcome_child.live
    assert outcome_child.reason is Reason.PARENT_REJECTED
    assert outcome_child.package_rate == 25 * 250  # not raised: that refusal was not its fee
    assert {outcome.txid, outcome_child.txid} <= set(world.chain.mempool_txids())
    await world.mine(1)
    outcome_height = await confirmed_at(world, terms.id, TxKind.OUTCOME)
    assert outcome_height is not None

    # The first winner is paid over Lightning; the second never asks: the split goes out once
    # the payout window is over, urgently (the outcome output's 2Δ reclaim is near).
    await world.step()
    paid = await sell_back(world, seats[0])
    assert paid.status is PayoutStatus.SUCCEEDED
    await run_to(world, terms.id, State.DELTA_BROADCASTED, mine=True)
    split = await stored_tx(world, terms.id, TxKind.SPLIT)
    assert split is not None
    (split_child,) = await store(world).children_of(split.txid)
    assert split_child.reason is Reason.PARENT_REJECTED
    assert split_child.package_rate == 30 * 250  # the urgent target: the next block
    tip = await world.lc.chain.tip_height()
    await world.mine(1)
    split_height = await confirmed_at(world, terms.id, TxKind.SPLIT)
    assert split_height == tip + 1
    assert split_height < outcome_height + 2 * delta  # the reclaim never became valid

    # The paid winner's split output is closed (at the spiking estimate) before its own 2Δ.
    for _ in range(6):
        await world.step()
        close = await stored_tx(world, terms.id, TxKind.SPLIT_CLOSE, 0)
        if close is not None and await world.lc.chain.confirmations(close.txid) > 0:
            break
        await world.mine(1)
    close = await stored_tx(world, terms.id, TxKind.SPLIT_CLOSE, 0)
    assert close is not None
    close_status = await world.lc.chain.tx_status(close.txid)
    assert close_status is not None and close_status.block_height is not None
    assert close_status.block_height < split_height + 2 * delta
    (owed,) = await world.lc.store.owed_of(terms.id)
    assert owed.player_index == 1

    spent = await confirmed_children(world, terms.id)
    assert {c.txid for c in spent} == {outcome_child.txid, split_child.txid}
    total = committed_fees(await store(world).children_of_competition(terms.id))
    assert total == outcome_child.fee_sats + split_child.fee_sats <= BUDGET
    print(
        f"\nsplit path: outcome child {outcome_child.fee_sats} + split child "
        f"{split_child.fee_sats} = {total} of {BUDGET} sats; split confirmed at "
        f"{split_height}, reclaim valid from {outcome_height + 2 * delta}"
    )
