"""A funded competition whose oracle is down: retried, never failed or cancelled.

- The oracle comes back and attests a refund-all outcome: every player is paid its equal share
  over Lightning, then one cooperative close.
- The oracle never attests: once the event's expiry passes (BIP-113 clock) the expiry
  transaction goes out, even while the oracle is unreachable, and the competition settles on
  the expiry outcome through to completed.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from coordinator.domain.competitions.errors import ErrorKind
from coordinator.domain.competitions.records import PayoutStatus, TxKind
from coordinator.domain.competitions.states import State
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator_core.ids import uuid7
from tests.lifecycle.factories import make_terms
from tests.lifecycle.world import (
    EXPIRY_DELAY_SECS,
    World,
    attest,
    confirmed_at,
    create,
    enter,
    picks,
    run_to,
    sell_back,
)

pytestmark = pytest.mark.slow


async def funded(world: World, terms: CompetitionTerms) -> list:  # type: ignore[type-arg]
    await create(world, terms)
    choices = [picks("KORD", "Over"), picks("KORD", "Under"), picks("KORD", "Under")]
    seats = [await enter(world, await world.player(), terms.id, c) for c in choices]
    await run_to(world, terms.id, State.AWAITING_ATTESTATION, mine=True)
    return seats


async def retry_while_down(world: World, competition_id, rounds: int) -> None:  # type: ignore[no-untyped-def]
    """Let the processor fail ``rounds`` times (skipping its backoff with the clock)."""
    for _ in range(rounds):
        await world.step()
        world.clock_offset += dt.timedelta(minutes=6)
    c = await world.lc.store.load(competition_id)
    assert c is not None and c.state is State.AWAITING_ATTESTATION
    assert c.progress.failed_at is None and c.progress.cancelled_at is None
    assert c.errors.errors and c.errors.errors[-1].kind is ErrorKind.TRANSIENT


async def pay_everyone_and_complete(world: World, terms: CompetitionTerms, seats: list) -> None:  # type: ignore[type-arg]
    await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
    await world.eventually(lambda: _confirmed(world, terms.id), mine=True)
    amounts = []
    for seat in seats:
        payout = await sell_back(world, seat)
        assert payout.status is PayoutStatus.SUCCEEDED
        amounts.append(payout.amount_sats)
    assert amounts == [terms.total_competition_pool // 3] * 3  # equal shares
    await run_to(world, terms.id, State.COMPLETED, mine=True)
    kinds = {t.kind for t in await world.lc.store.txs_of(terms.id)}
    assert kinds == {TxKind.FUNDING, TxKind.OUTCOME, TxKind.CLOSE}


async def test_oracle_down_then_refund_all(world: World) -> None:
    terms = make_terms(3, 1, now=world.now(), start_in=dt.timedelta(minutes=30), values=1,
                       locations=("KORD",))  # fmt: skip
    seats = await funded(world, terms)
    oracle = world.oracle.process
    assert oracle is not None
    oracle.stop()
    try:
        await retry_while_down(world, terms.id, rounds=8)
    finally:
        oracle.start()
    attest(world, terms, 70.0)  # at par: every Over/Under pick is wrong, nobody scores
    c = await world.lc.store.load(terms.id)
    assert c is not None
    await pay_everyone_and_complete(world, terms, seats)
    done = await world.lc.store.load(terms.id)
    assert done is not None and done.settled_outcome is not None
    assert done.settled_outcome != "exp"  # the refund-all attestation outcome


async def test_expiry_settles_as_the_expiry_outcome_even_with_the_oracle_down(
    world: World,
) -> None:
    now = world.now()
    start = now + dt.timedelta(seconds=120)
    terms = CompetitionTerms(
        id=uuid7(),
        signing_date=start + dt.timedelta(seconds=20),
        start_observation_date=start,
        end_observation_date=start + dt.timedelta(seconds=10),
        locations=("KORD",),
        number_of_values_per_entry=1,
        number_of_places_win=1,
        total_allowed_entries=3,
        entry_fee=10_000,
        coordinator_fee_percentage=10,
        total_competition_pool=30_000,
        relative_locktime_block_delta=20,
    )
    seats = await funded(world, terms)
    expiry = int(terms.signing_date.timestamp()) + EXPIRY_DELAY_SECS
    oracle = world.oracle.process
    assert oracle is not None
    oracle.stop()
    try:
        await retry_while_down(world, terms.id, rounds=3)
        # Blocks after the expiry move the median time past beyond it.
        await asyncio.to_thread(world.chain.set_time, expiry + 60)
        await world.mine(11)
        await run_to(world, terms.id, State.OUTCOME_BROADCASTED)
        c = await world.lc.store.load(terms.id)
        assert c is not None and c.settled_outcome == "exp"
        assert c.progress.expiry_broadcasted_at is not None
        await pay_everyone_and_complete(world, terms, seats)
    finally:
        oracle.start()


async def _confirmed(world: World, competition_id) -> bool:  # type: ignore[no-untyped-def]
    return await confirmed_at(world, competition_id, TxKind.OUTCOME) is not None
